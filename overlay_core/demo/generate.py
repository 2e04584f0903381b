"""Generate a whole demo book: `generate_book(...) -> Book`, `write_book(...)`, `demo_upload_dir()`.

Steps (one seed drives everything, through one `numpy.random.Generator` and the simulator's seed):

1. the universe, models, targets and policy (`universe.py`, `models.py`);
2. the market: `overlay_core.market.simulator.simulate_prices` once for the universe over the whole
   history (`HISTORY_YEARS` years of NYSE business days ending at `as_of`);
3. the account plans (`accounts.py`) and each account's own target weights (customizations applied the
   simple way a manager would: excluded weight to the same asset class and sector);
4. every account's trades (`history.simulate_trades`), replayed through the tax engine's ledger in one
   batch: the lots, bases, acquired dates and wash-sale adjustments, and the realized gains;
5. the customizations that depend on holdings (never-sells, cash needs, gain budgets from the
   year-to-date realized gains, custom asset-class weights inside the IPC's ranges, sector caps), the
   firm-wide restricted list, a few pending orders, and the transactions of the last
   `TRANSACTION_DAYS` calendar days.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import polars as pl

from overlay_core import calendar
from overlay_core.book import Book
from overlay_core.contract import CASH, FIRM_WIDE, TABLES
from overlay_core.errors import ConfigError
from overlay_core.demo.accounts import AccountPlan, build_accounts
from overlay_core.demo.history import REVIEW_EVERY, AccountInputs, Market, market_from_prices, simulate_trades, subset_inputs
from overlay_core.demo.models import (
    APPROVED,
    build_models,
    build_targets,
    policy_ranges,
    policy_toml,
    target_allocations,
    target_security_weights,
)
from overlay_core.demo.universe import Universe, build_universe

DEMO_AS_OF = dt.date(2026, 11, 25)
#: the embedded demo's seed, chosen among seeds 1-30 for a realistic market path over the five years:
#: US large caps +39% (about 6.8% a year) with a 20% drawdown on the way and a 7.5% dip in the last month
#: (so recent loss harvests meet the wash-sale rule); the aggregate bond fund -5%.
DEMO_SEED = 12
DEMO_ACCOUNTS = 1000
HISTORY_YEARS = 5
#: the transactions table holds the trades of this many calendar days before the as_of (the year's
#: realized gains are in `ytd_realized_st/lt`)
TRANSACTION_DAYS = 45
#: the most accounts replayed in one shard (bounds the ledger's memory)
SHARD_ACCOUNTS = 4000

# customization rates drawn after the history (share of accounts, or of taxable accounts for budgets)
P_NEVER_SELL = 0.035
P_SECTOR_MAX = 0.03
P_ASSET_CLASS_WEIGHT = 0.05
P_CASH_NEED = 0.05
P_GAIN_BUDGET = 0.20  # of taxable accounts
P_PENDING = 0.01
FIRM_RESTRICTED = ("BA", "WYNN")  # the compliance desk's restricted list (never buy, firm-wide)


def _substitute_lists(securities: pl.DataFrame) -> dict[str, list[str]]:
    """Per fund: its legal substitutes a harvest may switch to, approved ones first (IPC's order)."""
    funds = securities.filter(pl.col("type") != "equity")
    out: dict[str, list[str]] = {}
    rows = list(funds.select("symbol", "asset_class", "wash_group").iter_rows())
    for sym, ac, grp in rows:
        same = [s for s, a, g in rows if a == ac and g != grp]
        approved = APPROVED.get(ac)
        if approved is not None:
            same = [s for s in approved if s in same]
        out[sym] = same
    return out


def _account_weights(
    plan: AccountPlan, universe: Universe, target_weights: pl.DataFrame
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(n, m) target weights per account, (n,) cash weight, (n, m) buyable — customizations applied.

    Excluded symbols (never-buy, screened, substituted-away, the legacy stock) get weight 0; their weight
    goes pro rata to the allowed symbols of the same asset class and sector (stocks) or asset class
    (funds), else to every allowed symbol. A substitution gives FROM's weight to TO.
    """
    sec = universe.securities
    symbols = sec["symbol"].to_list()
    idx = {s: i for i, s in enumerate(symbols)}
    m = len(symbols)
    acc = plan.accounts
    n = acc.height
    aidx = {a: i for i, a in enumerate(acc["account_id"].to_list())}
    targets = sorted(set(acc["target_id"].to_list()))
    tmat = {t: np.zeros(m) for t in targets}
    tcash = {t: 0.0 for t in targets}
    for t, s, w in target_weights.iter_rows():
        if t not in tmat:
            continue
        if s == CASH:
            tcash[t] = w
        else:
            tmat[t][idx[s]] = w
    tid = acc["target_id"].to_list()
    weights = np.stack([tmat[t] for t in tid]) if n else np.zeros((0, m))
    cash_w = np.array([tcash[t] for t in tid])
    mcw = acc["min_cash_weight"].fill_null(0.0).to_numpy()
    cash_w = np.maximum(cash_w, mcw)
    buyable = np.ones((n, m), bool)
    tags = [frozenset((t or "").split(";")) - {""} for t in sec["tags"].to_list()]
    tag_mask = {tag: np.array([tag in tg for tg in tags]) for tag in set(plan.screens["tag"].to_list())}
    for a, tag in plan.screens.iter_rows():
        buyable[aidx[a]] &= ~tag_mask[tag]
    for a, s in plan.never_buy.iter_rows():
        if s in idx:
            buyable[aidx[a], idx[s]] = False
    for a, frm, to in plan.substitutes.iter_rows():
        r, f, t = aidx[a], idx[frm], idx[to]
        weights[r, t] += weights[r, f]
        weights[r, f] = 0.0
        buyable[r, f] = False
    for r, s in enumerate(acc["legacy_symbol"].to_list()):
        if s is not None:
            buyable[r, idx[s]] = False
    # move excluded weight to similar allowed symbols
    cls = sec["asset_class"].to_list()
    sect = [x or "" for x in sec["sector"].to_list()]
    group_key = np.array([f"{c}|{x}" for c, x in zip(cls, sect)], dtype=object)
    cls_arr = np.array(cls, dtype=object)
    for r in np.flatnonzero((weights * ~buyable).sum(axis=1) > 0):
        w = weights[r]
        for j in np.flatnonzero((w > 0) & ~buyable[r]):
            x = w[j]
            w[j] = 0.0
            for mask in (group_key == group_key[j], cls_arr == cls_arr[j], np.ones(m, bool)):
                cand = mask & buyable[r] & (w > 0)
                if cand.any():
                    w[cand] += x * w[cand] / w[cand].sum()
                    break
            else:
                cash_w[r] += x
    # the account's invested weights sum to 1 - cash
    s = weights.sum(axis=1)
    weights = weights * ((1.0 - cash_w) / np.where(s > 0, s, 1.0))[:, None]
    return weights, cash_w, buyable


def account_inputs(plan: AccountPlan, universe: Universe, target_weights: pl.DataFrame, market: Market, rng: np.random.Generator) -> AccountInputs:
    """The simulation's per-account arrays (draws review days, rebalance months, legacy lots' dates and bases)."""
    acc = plan.accounts
    n = acc.height
    weights, cash_w, buyable = _account_weights(plan, universe, target_weights)
    idx = {s: i for i, s in enumerate(market.symbols)}
    legacy = acc["legacy_symbol"].to_list()
    first_day = market.days[0]
    # legacy lots were acquired 4-15 years before the history began, at 15-50% of today's price
    years_before = rng.uniform(4, 15, n)
    legacy_acq = first_day - (years_before * 365.25).astype("timedelta64[D]")
    return AccountInputs(
        account_ids=acc["account_id"].to_list(),
        weights=weights,
        cash_weight=cash_w,
        buyable=buyable,
        taxable=(acc["tax_status"] == "taxable").to_numpy(),
        open_day=acc["open_day"].to_numpy(),
        deposit=acc["deposit"].to_numpy(),
        flow=acc["flow"].to_numpy(),
        review_offset=rng.integers(0, REVIEW_EVERY, n),
        rebalance_cycle=rng.integers(0, 12, n),
        legacy_sym=np.array([idx[s] if s is not None else -1 for s in legacy], np.int64),
        legacy_share=acc["legacy_share"].to_numpy(),
        legacy_acquired=legacy_acq,
        legacy_basis_ratio=rng.uniform(0.15, 0.5, n),
    )


# --------------------------------------------------------------------------------------------------
# the market


def simulate_market(universe: Universe, *, as_of: dt.date, seed: int, years: int = HISTORY_YEARS) -> pl.DataFrame:
    """The universe's simulated closes (date, symbol, close), `years` x 252 + 1 business days to `as_of`.

    Closes are rounded to cents (as a custodian reports them), so trades, lots and prices agree to the cent;
    money-market funds keep a stable $1.00.
    """
    from overlay_core.market.model import MarketModel
    from overlay_core.market.simulator import simulate_prices, simulation_start

    days = 252 * years + 1
    start = simulation_start(as_of, days=days)
    uni = universe.securities.select("symbol", "asset_class", "type", "sector", "wash_group")
    start_prices = dict(zip(universe.meta["symbol"].to_list(), universe.meta["start_price"].to_list()))
    px = simulate_prices(uni, start=start, days=days, seed=seed, start_prices=start_prices, model=MarketModel(stable_nav_money_market=True))
    return px.with_columns(pl.col("close").round(2).clip(lower_bound=0.01))


# --------------------------------------------------------------------------------------------------
# history + ledger, per shard of households (a process each when workers > 1)


def _replay(tx: pl.DataFrame, accounts: pl.DataFrame, wash_groups: dict[str, str]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Replay the simulated trades through the tax engine's ledger: (open lots, realized rows).

    Transactions are applied in their (chronological) order; consecutive sells of one account, symbol and
    date form one sale. `realized.row` is the 0-based index of the transaction row that relieved it.
    """
    from overlay_core.tax.ledger import Ledger, SalePart

    led = Ledger(method="fifo", wash_groups=wash_groups)
    for a, h, ts in accounts.select("account_id", "household_id", "tax_status").iter_rows():
        led.register_account(a, household_id=h, tax_status=ts)
    A = tx["account_id"].to_list()
    D = tx["date"].to_list()
    S = tx["symbol"].to_list()
    SD = tx["side"].to_list()
    SH = tx["shares"].to_list()
    P = tx["price"].to_list()
    L = tx["lot_id"].to_list()
    n = len(A)
    i = 0
    while i < n:
        if SD[i] == "buy":
            led.buy(D[i], A[i], S[i], SH[i], SH[i] * P[i], lot_id=L[i], row=i)
            i += 1
            continue
        j = i + 1
        while j < n and SD[j] == "sell" and D[j] == D[i] and A[j] == A[i] and S[j] == S[i]:
            j += 1
        led.sell(D[i], A[i], S[i], [SalePart(SH[k], SH[k] * P[k], L[k], 0.0, k) for k in range(i, j)])
        i = j
    return led.lots(), led.realized()


def _run_shard(
    args: tuple[AccountInputs, Market, pl.DataFrame, dict[str, str], dt.date, dt.date],
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, pl.DataFrame, int]:
    """One shard (whole households): simulate its trades and replay them.

    Returns the transactions since `since` (with the ledger's realized gain per row), the final cash, the
    open lots, the realized rows since `year_start`, and the number of trades replayed. Only what the book
    needs leaves the worker.
    """
    acct, market, accounts, groups, since, year_start = args
    hist = simulate_trades(acct, market)
    lots, realized = _replay(hist.transactions, accounts, groups)
    tx = hist.transactions.with_row_index("row").with_columns(pl.col("row").cast(pl.Int64)).filter(pl.col("date") >= since)
    realized_by_row = realized.filter(pl.col("sale_date") >= since).group_by("row").agg(pl.col("gain_loss").sum().alias("realized_gain"))
    tx = tx.join(realized_by_row, on="row", how="left").sort("row").drop("row")
    return tx, hist.cash, lots, realized.filter(pl.col("sale_date") >= year_start), hist.transactions.height


def _histories(
    acct: AccountInputs,
    market: Market,
    accounts: pl.DataFrame,
    groups: dict[str, str],
    *,
    since: dt.date,
    year_start: dt.date,
    workers: int,
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, pl.DataFrame, int]:
    """Every shard's `_run_shard`, concatenated (shards of whole households; a process each if workers > 1)."""
    hh = accounts["household_id"].to_numpy()
    # several shards per worker (balance), and at most SHARD_ACCOUNTS accounts per shard (memory: the
    # ledger keeps every lot and realized row of its shard as Python objects, ~0.25 MB per account)
    n_shards = max(workers * 4 if workers > 1 else 1, -(-accounts.height // SHARD_ACCOUNTS))
    _, hh_code = np.unique(hh, return_inverse=True)
    shard_of = hh_code % n_shards
    jobs = []
    for k in range(n_shards):
        idx = np.flatnonzero(shard_of == k)
        if len(idx):
            jobs.append((subset_inputs(acct, idx), market, accounts[idx], groups, since, year_start))
    if workers > 1 and len(jobs) > 1:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        # spawn, not fork: forking a process that runs polars' thread pool can deadlock
        with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn")) as pool:
            results = list(pool.map(_run_shard, jobs))
    else:
        results = [_run_shard(j) for j in jobs]
    frames = tuple(pl.concat([r[i] for r in results]) for i in range(4))
    return frames[0], frames[1], frames[2], frames[3], sum(r[4] for r in results)


# --------------------------------------------------------------------------------------------------
# customizations drawn from what the accounts hold


def _restrictions(
    plan: AccountPlan,
    accounts: pl.DataFrame,
    positions: pl.DataFrame,
    universe: Universe,
    allocations: pl.DataFrame,
    ranges: dict[str, dict[str, tuple[float, float]]],
    rng: np.random.Generator,
) -> pl.DataFrame:
    """The `restrictions` table: plan's screens/never-buys/substitutions, plus never-sells, sector caps,
    custom asset-class weights (inside the IPC's ranges) and the firm-wide restricted list."""
    rows: list[tuple[str, str, str, float | None]] = []
    rows += [(a, "screen", t, None) for a, t in plan.screens.iter_rows()]
    rows += [(a, "never_buy", s, None) for a, s in plan.never_buy.iter_rows()]
    rows += [(a, "substitute", f"{f}>{t}", None) for a, f, t in plan.substitutes.iter_rows()]
    rows += [(FIRM_WIDE, "never_buy", s, None) for s in FIRM_RESTRICTED]
    ids = accounts["account_id"].to_list()
    n = len(ids)
    held: dict[str, list[str]] = {}
    for a, s in positions.select("account_id", "symbol").iter_rows():
        held.setdefault(a, []).append(s)
    legacy = dict(zip(ids, accounts["legacy_symbol"].to_list()))
    # never-sell: the legacy stock for most legacy accounts, else a random held symbol
    never_sell: set[tuple[str, str]] = set()
    for i in np.flatnonzero(rng.random(n) < P_NEVER_SELL):
        a = ids[i]
        if not held.get(a):
            continue
        s = legacy[a] if legacy[a] is not None and rng.random() < 0.8 else held[a][int(rng.integers(len(held[a])))]
        rows.append((a, "never_sell", s, None))
        never_sell.add((a, s))
    for a, s in zip(ids, legacy.values()):
        if s is not None and rng.random() < 0.5 and (a, s) not in never_sell:
            rows.append((a, "never_sell", s, None))
    # sector caps: for accounts holding stocks
    sector_of = dict(zip(universe.securities["symbol"].to_list(), universe.securities["sector"].to_list()))
    caps = {"Information Technology": (0.12, 0.22), "Energy": (0.0, 0.02), "Financials": (0.06, 0.10), "Health Care": (0.05, 0.08)}
    cap_names = list(caps)
    for i in np.flatnonzero(rng.random(n) < P_SECTOR_MAX * 3):
        a = ids[i]
        if not any(sector_of.get(s) for s in held.get(a, [])):
            continue
        sec = cap_names[int(rng.choice(len(cap_names), p=[0.55, 0.2, 0.1, 0.15]))]
        lo, hi = caps[sec]
        rows.append((a, "sector_max", sec, round(float(rng.uniform(lo, hi)), 2)))
    # custom asset-class weights inside the IPC's range (an equity or bond tilt)
    alloc = {(t, ac): w for t, ac, w in allocations.iter_rows()}
    tid = accounts["target_id"].to_list()
    for i in np.flatnonzero(rng.random(n) < P_ASSET_CLASS_WEIGHT):
        t = tid[i]
        classes = [ac for ac in ranges.get(t, {}) if alloc.get((t, ac), 0) >= 0.05]
        if not classes:
            continue
        ac = classes[int(rng.integers(len(classes)))]
        lo, hi = ranges[t][ac]
        w = alloc[(t, ac)]
        new = round(float(np.clip(w + rng.choice([-1, 1]) * rng.uniform(0.02, 0.08), lo, hi)), 2)
        if abs(new - w) >= 0.01:
            rows.append((ids[i], "asset_class_weight", ac, new))
    # cap sector_max at the documented rate (drawn on 3x the rate among stock holders)
    df = pl.DataFrame(rows, schema={"account_id": pl.String, "kind": pl.String, "value": pl.String, "limit": pl.Float64}, orient="row")
    sm = df.filter(pl.col("kind") == "sector_max")
    keep = max(1, round(P_SECTOR_MAX * n)) if n >= 20 else sm.height
    if sm.height > keep:
        drop = set(sm["account_id"].to_list()[keep:])
        df = df.filter(~((pl.col("kind") == "sector_max") & pl.col("account_id").is_in(list(drop))))
    return df.unique(maintain_order=True)


def _pending_orders(
    accounts: pl.DataFrame, lots: pl.DataFrame, prices: dict[str, float], restrictions: pl.DataFrame, rng: np.random.Generator
) -> pl.DataFrame:
    """A few orders sent at the as_of and not yet filled: a lot sale or a buy of a held symbol (~1% of accounts)."""
    active = accounts.filter(pl.col("status") == "active")
    ids = active["account_id"].to_list()
    status = dict(zip(active["account_id"], active["tax_status"]))
    chosen = [ids[i] for i in np.flatnonzero(rng.random(len(ids)) < P_PENDING)]
    if not chosen:
        chosen = ids[:1]
    blocked = {(a, v) for a, k, v in restrictions.select("account_id", "kind", "value").iter_rows() if k in ("never_sell", "never_buy")}
    firm_blocked = {v for a, k, v in restrictions.select("account_id", "kind", "value").iter_rows() if a == FIRM_WIDE}
    by_acct = lots.filter(pl.col("account_id").is_in(chosen)).partition_by("account_id", as_dict=True)
    rows = []
    for a in chosen:
        al = by_acct.get((a,))
        if al is None or al.height == 0:
            continue
        r = al.row(int(rng.integers(al.height)), named=True)
        s = r["symbol"]
        if (a, s) in blocked:
            continue
        if rng.random() < 0.5:
            sh = r["shares"]
            gain = round(sh * prices[s] - r["cost_basis"], 2) if status[a] == "taxable" else None
            rows.append((a, s, "sell", sh, r["lot_id"], gain))
        elif s not in firm_blocked:
            sh = float(max(1, int(2500 / prices[s]))) if prices[s] > 2 else 2500.0
            rows.append((a, s, "buy", sh, None, None))
    return pl.DataFrame(
        rows,
        schema={"account_id": pl.String, "symbol": pl.String, "side": pl.String, "shares": pl.Float64, "lot_id": pl.String, "est_realized_gain": pl.Float64},
        orient="row",
    )


# --------------------------------------------------------------------------------------------------
# the book


def generate_book(
    *,
    n_accounts: int = DEMO_ACCOUNTS,
    seed: int = DEMO_SEED,
    as_of: dt.date = DEMO_AS_OF,
    history_years: int = HISTORY_YEARS,
    price_history_days: int | None = None,
    workers: int = 1,
    timings: dict[str, float] | None = None,
    market_end: dt.date | None = None,
) -> Book:
    """Generate a whole demo book (deterministic for `seed`, whatever `workers`).

    Parameters
    ----------
    n_accounts : number of accounts (whole households of 1-4 accounts; the last household is trimmed).
    seed : drives the simulated market and every draw.
    as_of : the prices' date (a NYSE business day); the trade date is the next business day.
    history_years : length of the simulated history (252 business days a year) replayed per account.
    price_history_days : business days of `price_history` to keep (None: the whole simulated history).
    workers : processes for the trade simulation and the ledger replay (shards of households).
    timings : if given, filled with the seconds (wall) of each stage: market, plan, histories, book.
    market_end : simulate the market through this later business day (``history_years`` x 252 + 1 days
        ending there, `simulate_market`) and build the book on its closes up to `as_of` only. The demo
        uses it to start its shipped history 20 business days before its as_of on the same price path
        (`demo.pipeline`); None: the market ends at `as_of`.

    Returns
    -------
    Book with every table of the contract; `policy` parsed from the demo's `policy.toml`
    (`models.policy_toml`). `Book.source` is None (write it with `write_book`).
    """
    from overlay_core.policy import parse_policy

    if not calendar.is_business_day(as_of):
        raise ConfigError(f"as_of: found {as_of}, not a NYSE business day; expected a business day")
    if n_accounts < 1:
        raise ConfigError(f"accounts: found {n_accounts}; expected at least 1")
    if market_end is not None and market_end < as_of:
        raise ConfigError(f"market_end: found {market_end}, before the as_of {as_of}; expected on or after it")
    import time

    clock = [time.perf_counter()]

    def lap(name: str) -> None:
        now = time.perf_counter()
        if timings is not None:
            timings[name] = now - clock[0]
        clock[0] = now

    rng = np.random.default_rng([seed, 1])
    universe = build_universe()
    sec = universe.securities
    models = build_models(universe)
    targets = build_targets()
    tw = target_security_weights(models, targets)
    allocations = target_allocations(tw, sec)
    ranges = policy_ranges(allocations)
    policy, problems = parse_policy(policy_toml(ranges))
    if problems:  # a bug in the generator, not a user's mistake
        raise RuntimeError(f"the demo policy.toml does not parse: {problems[0]}")

    px = simulate_market(universe, as_of=market_end or as_of, seed=seed, years=history_years)
    if market_end is not None:
        px = px.filter(pl.col("date") <= as_of)
    market = market_from_prices(
        px, sec, substitutes=_substitute_lists(sec), size=dict(zip(universe.meta["symbol"].to_list(), universe.meta["market_cap"].fill_null(0.0).to_list()))
    )
    lap("market")
    plan = build_accounts(universe, tw, n_accounts=n_accounts, n_days=len(market.days), rng=rng)
    acct = account_inputs(plan, universe, tw, market, rng)
    groups = {s: (g or s) for s, g in zip(sec["symbol"].to_list(), sec["wash_group"].to_list())}
    lap("plan")
    trade_date = calendar.next_business_day(as_of)
    since = trade_date - dt.timedelta(days=TRANSACTION_DAYS)
    year_start = dt.date(as_of.year, 1, 1)
    tx, cash, ledger_lots, realized, n_trades = _histories(
        acct, market, plan.accounts, groups, since=since, year_start=year_start, workers=workers
    )
    lap("histories")
    if timings is not None:
        timings["trades_replayed"] = float(n_trades)
    order = {a: i for i, a in enumerate(plan.accounts["account_id"].to_list())}
    acct_order = pl.col("account_id").replace_strict(order, return_dtype=pl.Int64)
    ledger_lots = ledger_lots.sort(acct_order, "symbol", "purchase_date", "lot_id")
    # the same rows whatever the sharding: by account, then in each account's own (chronological) order
    tx = tx.sort(acct_order, "date", maintain_order=True)
    realized = realized.sort(acct_order, "sale_date", maintain_order=True)

    accounts = plan.accounts
    status = dict(zip(accounts["account_id"], accounts["tax_status"]))
    taxable_ids = [a for a, s in status.items() if s == "taxable"]
    close = dict(zip(market.symbols, market.close[-1].tolist()))

    # lots: basis and acquired kept for taxable accounts; empty for tax-deferred/exempt (allowed)
    lots = ledger_lots.with_columns(
        pl.col("shares").round(3),
        pl.when(pl.col("account_id").is_in(taxable_ids)).then(pl.col("cost_basis").round(2)).otherwise(None).alias("cost_basis"),
        pl.when(pl.col("account_id").is_in(taxable_ids)).then(pl.col("acquired")).otherwise(None).alias("acquired"),
    ).select("account_id", "lot_id", "symbol", "shares", "cost_basis", "acquired", "purchase_date")

    # year-to-date realized gains (recognized: the disallowed part of a washed loss is not)
    ytd = (
        realized.filter((pl.col("sale_date") >= year_start) & pl.col("account_id").is_in(taxable_ids))
        .with_columns((pl.col("gain_loss") + pl.col("disallowed_loss")).alias("g"))
        .group_by("account_id")
        .agg(
            pl.col("g").filter(pl.col("term") == "short").sum().alias("ytd_realized_st"),
            pl.col("g").filter(pl.col("term") == "long").sum().alias("ytd_realized_lt"),
        )
    )
    value = (
        ledger_lots.with_columns((pl.col("shares") * pl.col("symbol").replace_strict(close, return_dtype=pl.Float64)).alias("v"))
        .group_by("account_id")
        .agg(pl.col("v").sum())
    )
    acc = accounts.join(cash, on="account_id", how="left").join(value, on="account_id", how="left").join(ytd, on="account_id", how="left")
    acc = acc.with_columns(pl.col("v").fill_null(0.0), pl.col("cash").fill_null(0.0))
    n = acc.height
    total = (acc["v"] + acc["cash"]).to_numpy()
    taxable = (acc["tax_status"] == "taxable").to_numpy()
    cash_need = np.where(rng.random(n) < P_CASH_NEED, np.round(total * rng.uniform(0.01, 0.08, n), -2), np.nan)
    budget_levels = np.array([0.0, 5_000, 10_000, 25_000, 50_000, 100_000])
    gain_budget = np.where(taxable & (rng.random(n) < P_GAIN_BUDGET), budget_levels[rng.integers(0, len(budget_levels), n)], np.nan)
    acc = acc.with_columns(
        pl.Series("cash_need", cash_need).fill_nan(None),
        pl.Series("gain_budget", gain_budget).fill_nan(None),
        pl.when(pl.col("tax_status") == "taxable").then(pl.col("ytd_realized_st").fill_null(0.0).round(2)).otherwise(None).alias("ytd_realized_st"),
        pl.when(pl.col("tax_status") == "taxable").then(pl.col("ytd_realized_lt").fill_null(0.0).round(2)).otherwise(None).alias("ytd_realized_lt"),
        pl.col("cash").round(2),
    )

    positions = ledger_lots.select("account_id", "symbol").unique(maintain_order=True)
    restrictions = _restrictions(plan, acc, positions, universe, allocations, ranges, rng)
    pending = _pending_orders(acc, lots.with_columns(pl.col("cost_basis").fill_null(0.0)), close, restrictions, rng)

    # transactions of the last TRANSACTION_DAYS calendar days (realized_gain on taxable sells)
    transactions = tx.filter(pl.col("date") >= since).with_columns(
        pl.when((pl.col("side") == "sell") & pl.col("account_id").is_in(taxable_ids)).then(pl.col("realized_gain").round(2)).otherwise(None).alias("realized_gain")
    ).select("account_id", "date", "symbol", "side", "shares", "price", "lot_id", "realized_gain")

    keep_days = market.days if price_history_days is None else market.days[-price_history_days:]
    # sorted by date then symbol (prices by symbol): the store keeps such a history deduplicated across
    # uploads, and the day loop's appended closes keep the order
    price_history = px.filter(pl.col("date") >= keep_days[0].item()).select("date", "symbol", "close").sort("date", "symbol")
    prices = px.filter(pl.col("date") == as_of).select("symbol", "close", "date").sort("symbol")

    account_cols = [c.name for c in TABLES["accounts"].columns]
    book = Book(
        as_of=as_of,
        trade_date=trade_date,
        policy=policy,
        securities=sec,
        prices=prices,
        price_history=price_history,
        models=models,
        targets=targets,
        accounts=acc.select(account_cols),
        lots=lots,
        restrictions=restrictions,
        transactions=transactions,
        pending_orders=pending,
    )
    lap("book")
    return book


def write_book(book: Book, out: str | Path, *, fmt: str = "csv") -> Path:
    """Write `book` as an upload folder (`upload.write_upload`) with the demo's annotated `policy.toml`.

    Returns the folder.
    """
    from overlay_core.upload import write_upload

    out = Path(out)
    write_upload(book, out, fmt=fmt)
    ranges = {t: dict(r) for t, r in book.policy.ranges.items()}
    (out / "policy.toml").write_text(policy_toml(ranges), encoding="utf-8")
    return out


def demo_upload_dir() -> Path:
    """The embedded demo upload (1,000 accounts, as of 2026-11-25): `data/demo/` of the repository.

    If that folder is missing (an installed package without the repository's data), the demo book is
    generated once into `$OVERLAY_CACHE_DIR/demo` (default `~/.cache/overlay/demo`) and that folder is
    returned.
    """
    import os

    from overlay_core.market.history import data_dir

    folder = data_dir() / "demo"
    if (folder / "accounts.csv").is_file():
        return folder
    cache = Path(os.environ.get("OVERLAY_CACHE_DIR", Path.home() / ".cache" / "overlay")).expanduser() / "demo"
    if not (cache / "accounts.csv").is_file():
        write_book(generate_book(), cache)
    return cache
