"""Whole random books for the reliability tests and the soak benchmark.

A random book is described by a small `BookSpec` (a seed, the number of securities, and one *scenario*
per account) and built by `make_book(spec)` into a contract-conformant `Book`; `upload_book(spec, dir)`
writes it with `overlay_core.upload.write_upload` and reads it back with `read_upload` (so every random
book also passes through the real reader and its validation). `book_specs()` is the hypothesis strategy:
hypothesis chooses the seed, the universe size and every account's scenario (so it can shrink a failing
book to fewer, plainer accounts); numpy, seeded by the spec, draws the numbers.

What the books contain, on purpose (each is a "hard situation" the engine must survive):

- prices from $0.01 to $100,000 (log-uniform, and always one at each end), every security type
  (equity, etf, mutual_fund, bond with a trade increment, cash_equivalent), wash groups of 2-3 symbols;
- lots with gains and losses of both terms, lots bought in the last 30 days, lots of exactly 1 share,
  fractional lots of mutual funds, tax-deferred lots with no basis or date;
- tiny accounts ($5-$500), huge accounts (up to $2 billion), zero-cash accounts;
- households of 1-4 accounts mixing taxable and IRA accounts, with a taxable member's recent realized
  loss in a wash group the household's targets hold (household wash sales, IRA repurchases), recent buys
  (rule (a)), pending buys and pending (loss) sales;
- gain budgets that nearly bind (small allowance left, large embedded gains, large drift);
- cash needs larger than the account (infeasible), or behind never-sell positions;
- contradictory customizations: never-sell + screened, substitute into a never-buy, a sector cap of 0
  on a never-sell sector, asset-class weights outside the policy's range (refused: quarantined);
- accounts on hold and accounts to liquidate; a firm-wide restricted symbol.

Every draw is a pure function of the spec: the same spec always gives the same book.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from pathlib import Path
from types import MappingProxyType

import numpy as np
import polars as pl
from hypothesis import strategies as st

from overlay_core.book import Book
from overlay_core.contract import TABLES, schema
from overlay_core.policy import DEFAULT_POLICY, Policy
from overlay_core.upload import read_upload, write_upload

AS_OF = dt.date(2026, 11, 20)  # a Friday; the trade date is Monday 2026-11-23
TRADE_DATE = dt.date(2026, 11, 23)
HISTORY_DAYS = 200

#: every account scenario the books draw from (hypothesis picks one per account)
SCENARIOS: tuple[str, ...] = (
    "plain",
    "tiny",
    "huge",
    "zero_cash",
    "one_share",
    "gain_budget",
    "cash_need_infeasible",
    "conflict",
    "pending",
    "recent_buys",
    "liquidate",
    "hold",
)
#: the customization conflicts a "conflict" account draws from
CONFLICTS: tuple[str, ...] = (
    "never_sell_and_screened",
    "substitute_into_never_buy",
    "zero_sector_cap_on_never_sell",
    "class_weight_out_of_range",
    "cash_need_behind_never_sell",
    "never_buy_whole_model",
    "substitute_within_wash_group",
)


@dataclass(frozen=True)
class BookSpec:
    """A random book's description: `make_book` turns it into a `Book`, the same one every time.

    seed : drives every number. n_securities : besides the fixed special securities (>= 6).
    scenarios : one entry of `SCENARIOS` per account (the book has ``len(scenarios)`` accounts).
    """

    seed: int
    n_securities: int
    scenarios: tuple[str, ...]

    @property
    def n_accounts(self) -> int:
        return len(self.scenarios)


def book_specs(*, n_accounts: int = 100, min_accounts: int | None = None) -> st.SearchStrategy[BookSpec]:
    """Hypothesis strategy of `BookSpec`s with `n_accounts` accounts (or between `min_accounts` and it).

    About a third of the accounts are "plain"; the rest are drawn uniformly from the hard scenarios.
    """
    lo = n_accounts if min_accounts is None else min_accounts
    scenario = st.one_of(st.just("plain"), st.sampled_from(SCENARIOS))
    return st.builds(
        BookSpec,
        seed=st.integers(0, 2**32 - 1),
        n_securities=st.integers(6, 24),
        scenarios=st.lists(scenario, min_size=lo, max_size=n_accounts).map(tuple),
    )


def random_spec(rng: np.random.Generator, n_accounts: int) -> BookSpec:
    """A `BookSpec` drawn with numpy (the soak benchmark's batches), same distribution as `book_specs`."""
    plain = rng.random(n_accounts) < 0.5
    picks = rng.integers(0, len(SCENARIOS), n_accounts)
    return BookSpec(
        seed=int(rng.integers(0, 2**32 - 1)),
        n_securities=int(rng.integers(6, 25)),
        scenarios=tuple("plain" if p else SCENARIOS[int(i)] for p, i in zip(plain, picks)),
    )


# --------------------------------------------------------------------------------------------------
# the universe


def _weekdays_back(end: dt.date, n: int) -> list[dt.date]:
    out: list[dt.date] = []
    d = end
    while len(out) < n:
        if d.weekday() < 5:
            out.append(d)
        d -= dt.timedelta(days=1)
    return out[::-1]


def _log_uniform(rng: np.random.Generator, lo: float, hi: float, size: int | None = None) -> np.ndarray:
    return np.exp(rng.uniform(np.log(lo), np.log(hi), size))


def _price(x: float) -> float:
    """A close as a firm would upload it: cents, or 4 decimals under a dollar."""
    return round(float(x), 4 if x < 1 else 2)


@dataclass(frozen=True)
class _Universe:
    securities: pl.DataFrame
    prices: dict[str, float]
    types: dict[str, str]
    sector: dict[str, str]
    klass: dict[str, str]
    tags: dict[str, str]
    group: dict[str, str]
    models: pl.DataFrame
    targets: pl.DataFrame
    target_weights: dict[str, dict[str, float]]  # target -> symbol -> weight (cash excluded)
    price_history: pl.DataFrame


SECTORS = ("tech", "energy", "health", "finance", "staples")
FIRM_RESTRICTED = "FRX"


def _universe(rng: np.random.Generator, n_securities: int) -> _Universe:
    rows: list[dict[str, object]] = []

    def add(symbol: str, asset_class: str, type_: str, close: float, *, sector: str | None = None, tags: str | None = None,
            wash_group: str | None = None, trade_increment: float | None = None) -> None:
        rows.append({"symbol": symbol, "asset_class": asset_class, "type": type_, "name": f"Security {symbol}", "sector": sector,
                     "tags": tags, "wash_group": wash_group, "cost_bps": float(rng.choice([1.0, 2.0, 5.0, 10.0])),
                     "trade_increment": trade_increment, "close": close})

    # the special securities, always present
    add("PENNY", "us_equity", "equity", 0.01, sector="tech")
    add("BIGCO", "us_equity", "equity", 100000.0, sector="finance")
    add("WA", "us_equity", "etf", _price(_log_uniform(rng, 20, 600)), wash_group="WG1")
    add("WB", "us_equity", "etf", _price(_log_uniform(rng, 20, 600)), wash_group="WG1")
    add("WC", "us_equity", "etf", _price(_log_uniform(rng, 20, 600)), wash_group="WG1")
    add("XA", "intl_equity", "etf", _price(_log_uniform(rng, 10, 200)), wash_group="WG2")
    add("XB", "intl_equity", "etf", _price(_log_uniform(rng, 10, 200)), wash_group="WG2")
    add("FUND", "us_equity", "mutual_fund", _price(_log_uniform(rng, 10, 500)))
    add("BOND", "bonds", "bond", _price(rng.uniform(85, 110)), trade_increment=float(rng.choice([1.0, 5.0])))
    add("MMF", "cash_like", "cash_equivalent", 1.0)
    add("TOBA", "us_equity", "equity", _price(_log_uniform(rng, 5, 300)), sector="staples", tags="tobacco;sin")
    add("OILX", "us_equity", "equity", _price(_log_uniform(rng, 5, 300)), sector="energy", tags="fossil")
    add(FIRM_RESTRICTED, "us_equity", "equity", _price(_log_uniform(rng, 5, 300)), sector="finance")
    for i in range(n_securities):
        cls = str(rng.choice(["us_equity", "us_equity", "intl_equity", "bonds"]))
        typ = "etf" if cls != "us_equity" or rng.random() < 0.3 else "equity"
        add(f"S{i:02d}", cls, typ, _price(_log_uniform(rng, 0.01, 100000)), sector=str(rng.choice(SECTORS)) if typ == "equity" else None,
            tags="fossil" if rng.random() < 0.1 else None)
    sec = pl.DataFrame(rows, schema={**schema(TABLES["securities"]), "close": pl.Float64()})
    syms = sec["symbol"].to_list()
    prices = dict(zip(syms, sec["close"].to_list()))
    types = dict(zip(syms, sec["type"].to_list()))
    group = {s: (g or s) for s, g in zip(syms, sec["wash_group"].to_list())}

    # models: an equity model leaning on the wash groups, a bond/intl model, a stock model
    eq = [s for s in syms if s.startswith("S") and sec.filter(pl.col("symbol") == s)["asset_class"].item() == "us_equity"][:8]
    stock_pool = ["PENNY", "BIGCO", "TOBA", "OILX", *eq]
    model_defs: dict[str, dict[str, float]] = {
        "CORE": {"WA": 0.30, "XA": 0.20, "FUND": 0.15, "BOND": 0.20, "MMF": 0.10, "$CASH": 0.05},
        "INCOME": {"BOND": 0.55, "XB": 0.15, "WB": 0.25, "$CASH": 0.05},
        "STOCKS": {},
    }
    w = rng.dirichlet(np.ones(len(stock_pool))) * 0.98
    model_defs["STOCKS"] = {s: float(x) for s, x in zip(stock_pool, w)} | {"$CASH": 0.0}
    model_defs["STOCKS"]["$CASH"] = 1.0 - sum(v for k, v in model_defs["STOCKS"].items() if k != "$CASH")
    models = pl.DataFrame(
        [{"model_id": m, "symbol": s, "weight": float(x), "provider": "firm"} for m, d in model_defs.items() for s, x in d.items()],
        schema=schema(TABLES["models"]),
    )
    target_defs = {"BAL": {"CORE": 0.7, "INCOME": 0.3}, "GROW": {"CORE": 0.5, "STOCKS": 0.5}, "SAFE": {"INCOME": 1.0}, "DIRECT": {"STOCKS": 1.0}}
    targets = pl.DataFrame(
        [{"target_id": t, "model_id": m, "weight": x} for t, d in target_defs.items() for m, x in d.items()], schema=schema(TABLES["targets"])
    )
    tw: dict[str, dict[str, float]] = {}
    for t, d in target_defs.items():
        acc: dict[str, float] = {}
        for m, x in d.items():
            for s, y in model_defs[m].items():
                if s != "$CASH":
                    acc[s] = acc.get(s, 0.0) + x * y
        tw[t] = acc

    # price history: a random walk ending at today's close
    days = _weekdays_back(AS_OF, HISTORY_DAYS)
    n = len(days)
    hist = []
    market = rng.normal(0.0003, 0.01, n)
    for s in syms:
        beta = rng.uniform(0.2, 1.4) if types[s] != "cash_equivalent" else 0.0
        vol = 0.0 if types[s] == "cash_equivalent" else rng.uniform(0.005, 0.025)
        r = beta * market + rng.normal(0, vol, n) if vol else np.zeros(n)
        path = np.exp(np.cumsum(r[::-1]))[::-1]  # path[-1] = exp(r[-1]) -> rescale so the last is the close
        closes = prices[s] * path / path[-1]
        hist.append(pl.DataFrame({"date": days, "symbol": [s] * n, "close": np.maximum(np.round(closes, 4), 0.0001)}))
    price_history = pl.concat(hist).select(list(schema(TABLES["price_history"])))
    return _Universe(
        securities=sec.drop("close"),
        prices=prices,
        types=types,
        sector=dict(zip(syms, sec["sector"].to_list())),
        klass=dict(zip(syms, sec["asset_class"].to_list())),
        tags={s: t for s, t in zip(syms, sec["tags"].to_list()) if t},
        group=group,
        models=models,
        targets=targets,
        target_weights=tw,
        price_history=price_history,
    )


# --------------------------------------------------------------------------------------------------
# accounts


class _Rows:
    def __init__(self) -> None:
        self.accounts: list[dict[str, object]] = []
        self.lots: list[dict[str, object]] = []
        self.restrictions: list[dict[str, object]] = []
        self.transactions: list[dict[str, object]] = []
        self.pending: list[dict[str, object]] = []


def _shares_for(u: _Universe, sym: str, value: float, rng: np.random.Generator) -> float:
    p = u.prices[sym]
    t = u.types[sym]
    raw = value / p
    if t in ("equity", "etf"):
        return float(max(1, round(raw)))
    if t == "bond":
        return float(max(1, round(raw)))
    return float(max(0.001, round(raw, 3)))


def _day_before(days: int) -> dt.date:
    """The trade date minus `days` (>= 3: on or before as_of, which is the Friday before)."""
    return TRADE_DATE - dt.timedelta(days=max(int(days), 3))


def _lot_date(rng: np.random.Generator, *, recent: bool = False) -> dt.date:
    """A holding-period date: within the last 30 days (recent), short-term, near the 1-year line, or long-term."""
    if recent:
        return _day_before(rng.integers(3, 29))
    kind = rng.integers(0, 4)
    if kind == 0:
        return _day_before(rng.integers(35, 300))
    if kind == 1:
        return _day_before(rng.integers(340, 372))  # just short of / just past long-term
    return _day_before(rng.integers(400, 4000))


def _add_lot(rows: _Rows, u: _Universe, rng: np.random.Generator, acct: str, taxable: bool, n: int, sym: str, value: float,
             *, recent: bool = False, shares: float | None = None) -> str:
    lot_id = f"{acct}-L{n}"
    sh = shares if shares is not None else _shares_for(u, sym, value, rng)
    # basis from 0.2x to 3x today's value: gains and losses
    basis = round(sh * u.prices[sym] * float(_log_uniform(rng, 0.2, 3.0)), 2)
    acquired = _lot_date(rng, recent=recent)
    untaxed_blank = (not taxable) and rng.random() < 0.5
    rows.lots.append({
        "account_id": acct, "lot_id": lot_id, "symbol": sym, "shares": sh,
        "cost_basis": None if untaxed_blank else max(basis, 0.0),
        "acquired": None if untaxed_blank else acquired,
        "purchase_date": None if untaxed_blank else acquired,
    })
    if recent and not untaxed_blank:
        rows.transactions.append({"account_id": acct, "date": acquired, "symbol": sym, "side": "buy", "shares": sh,
                                  "price": u.prices[sym], "lot_id": lot_id, "realized_gain": None})
    return lot_id


def _account(rows: _Rows, u: _Universe, rng: np.random.Generator, acct: str, household: str, scenario: str, tax_status: str) -> None:
    taxable = tax_status == "taxable"
    target = str(rng.choice(["BAL", "GROW", "SAFE", "DIRECT"]))
    value = float(_log_uniform(rng, 2e4, 3e6))
    if scenario == "tiny":
        value = float(_log_uniform(rng, 5, 500))
    elif scenario == "huge":
        value = float(_log_uniform(rng, 1e8, 2e9))
    rec: dict[str, object] = {
        "account_id": acct, "target_id": target, "tax_status": tax_status, "cash": 0.0, "household_id": household,
        "status": "active", "st_rate": None, "lt_rate": None, "min_cash_weight": None, "min_trade_value": None,
        "cash_need": None, "gain_budget": None, "ytd_realized_st": None, "ytd_realized_lt": None, "advisor": f"ADV{rng.integers(1, 6)}",
    }
    if taxable and rng.random() < 0.6:
        rec["st_rate"] = round(float(rng.uniform(0.1, 0.5)), 3)
        rec["lt_rate"] = round(float(rng.uniform(0.0, 0.3)), 3)
    cash_w = 0.0 if scenario == "zero_cash" else float(rng.choice([0.0, 0.01, 0.05, 0.3]))
    rec["cash"] = round(value * cash_w, 2)
    syms = list(u.prices)
    held: list[str] = []
    n_lots = int(rng.integers(1, 4)) if scenario == "tiny" else int(rng.integers(2, 14))
    # holdings: partly the target's symbols, partly anything (drift, legacy positions)
    tw = u.target_weights[target]
    for k in range(n_lots):
        sym = str(rng.choice(list(tw))) if rng.random() < 0.6 else str(rng.choice(syms))
        lot_value = value * (1 - cash_w) / n_lots * float(rng.uniform(0.3, 1.7))
        recent = scenario == "recent_buys" and k < 2
        shares = 1.0 if (scenario == "one_share" and k == 0) else None
        _add_lot(rows, u, rng, acct, taxable, k, sym, lot_value, recent=recent, shares=shares)
        held.append(sym)
    if scenario == "gain_budget" and taxable:
        # big embedded gains off the target, a small allowance left
        sym = str(rng.choice([s for s in syms if s not in tw] or syms))
        sh = _shares_for(u, sym, value * 0.5, rng)
        rows.lots.append({"account_id": acct, "lot_id": f"{acct}-G", "symbol": sym, "shares": sh,
                          "cost_basis": round(sh * u.prices[sym] * 0.1, 2), "acquired": _day_before(900), "purchase_date": _day_before(900)})
        budget = round(float(rng.uniform(0, 20000)), 2)
        rec["gain_budget"] = budget
        rec["ytd_realized_lt"] = round(budget * float(rng.uniform(0.5, 1.0)), 2)
        rec["ytd_realized_st"] = round(float(rng.uniform(-500, 500)), 2)
    elif scenario == "gain_budget":
        rec["gain_budget"] = 0.0  # ignored for an untaxed account
    if scenario == "cash_need_infeasible":
        rec["cash_need"] = round(value * float(rng.uniform(1.1, 3.0)), 2)
    if scenario == "liquidate":
        rec["status"] = "liquidate"
    if scenario == "hold":
        rec["status"] = "hold"
    if scenario == "pending" and held:
        own = [lt for lt in rows.lots if lt["account_id"] == acct]
        lot = own[int(rng.integers(0, len(own)))]
        part = float(lot["shares"]) if rng.random() < 0.5 else max(1.0, float(np.floor(float(lot["shares"]) / 2)))
        if u.types[str(lot["symbol"])] in ("mutual_fund", "cash_equivalent"):
            part = min(part, float(lot["shares"]))
        if part <= float(lot["shares"]):
            gain = None
            if taxable and lot["cost_basis"] is not None:
                gain = round(part * u.prices[str(lot["symbol"])] - float(lot["cost_basis"]) * part / float(lot["shares"]), 2)
            rows.pending.append({"account_id": acct, "symbol": lot["symbol"], "side": "sell", "shares": part,
                                 "lot_id": lot["lot_id"] if rng.random() < 0.8 else None, "est_realized_gain": gain})
        bsym = str(rng.choice([s for s in tw if s != FIRM_RESTRICTED] or ["MMF"]))
        bsh = _shares_for(u, bsym, min(value * 0.02, max(float(rec["cash"]), 0.0) * 0.5), rng)
        if bsh * u.prices[bsym] <= float(rec["cash"]) * 0.5:
            rows.pending.append({"account_id": acct, "symbol": bsym, "side": "buy", "shares": bsh, "lot_id": None, "est_realized_gain": None})
    if scenario == "conflict":
        _conflict(rows, u, rng, acct, rec, held, target)
    elif rng.random() < 0.25:
        # ordinary customizations
        kind = int(rng.integers(0, 4))
        if kind == 0:
            rows.restrictions.append({"account_id": acct, "kind": "never_buy", "value": str(rng.choice(syms)), "limit": None})
        elif kind == 1 and held:
            rows.restrictions.append({"account_id": acct, "kind": "never_sell", "value": held[0], "limit": None})
        elif kind == 2:
            rows.restrictions.append({"account_id": acct, "kind": "screen", "value": str(rng.choice(["tobacco", "fossil"])), "limit": None})
        else:
            rows.restrictions.append({"account_id": acct, "kind": "substitute", "value": "WA>FUND", "limit": None})
    rows.accounts.append(rec)


def _conflict(rows: _Rows, u: _Universe, rng: np.random.Generator, acct: str, rec: dict[str, object], held: list[str], target: str) -> None:
    kind = CONFLICTS[int(rng.integers(0, len(CONFLICTS)))]
    r = rows.restrictions
    if kind == "never_sell_and_screened":
        rows.lots.append({"account_id": acct, "lot_id": f"{acct}-T", "symbol": "TOBA", "shares": 10.0, "cost_basis": 100.0,
                          "acquired": _day_before(800), "purchase_date": _day_before(800)})
        r += [{"account_id": acct, "kind": "never_sell", "value": "TOBA", "limit": None},
              {"account_id": acct, "kind": "screen", "value": "tobacco", "limit": None}]
    elif kind == "substitute_into_never_buy":
        r += [{"account_id": acct, "kind": "substitute", "value": "WA>WB", "limit": None},
              {"account_id": acct, "kind": "never_buy", "value": "WB", "limit": None}]
    elif kind == "zero_sector_cap_on_never_sell":
        rows.lots.append({"account_id": acct, "lot_id": f"{acct}-E", "symbol": "OILX", "shares": 50.0, "cost_basis": 2000.0,
                          "acquired": _day_before(500), "purchase_date": _day_before(500)})
        r += [{"account_id": acct, "kind": "never_sell", "value": "OILX", "limit": None},
              {"account_id": acct, "kind": "sector_max", "value": "energy", "limit": 0.0}]
    elif kind == "class_weight_out_of_range":
        # the policy allows BAL us_equity in [0.30, 0.80]; 0.95 is refused (the account is quarantined)
        rec["target_id"] = "BAL"
        r.append({"account_id": acct, "kind": "asset_class_weight", "value": "us_equity", "limit": 0.95})
    elif kind == "cash_need_behind_never_sell":
        for s in set(held):
            r.append({"account_id": acct, "kind": "never_sell", "value": s, "limit": None})
        rec["cash"] = 0.0
        rec["cash_need"] = 5000.0
    elif kind == "substitute_within_wash_group":
        # not a legal substitute (substantially identical): refused, the account gets `error`
        r.append({"account_id": acct, "kind": "substitute", "value": "WA>WB" if rng.random() < 0.5 else "XA>XB", "limit": None})
    else:  # never_buy every symbol of the target
        for s in u.target_weights[target]:
            r.append({"account_id": acct, "kind": "never_buy", "value": s, "limit": None})


def _household_washes(rows: _Rows, u: _Universe, rng: np.random.Generator, members: list[tuple[str, str]]) -> None:
    """A taxable member realized a loss in WG1 or WG2 within 30 days (the others' targets hold that group)."""
    taxable = [a for a, t in members if t == "taxable"]
    if not taxable or len(members) < 2 or rng.random() < 0.3:
        return
    seller = taxable[int(rng.integers(0, len(taxable)))]
    sym = str(rng.choice(["WA", "WB", "WC", "XA", "XB"]))
    sh = float(rng.integers(5, 200))
    if rng.random() < 0.75:
        rows.transactions.append({"account_id": seller, "date": _day_before(rng.integers(3, 29)), "symbol": sym, "side": "sell", "shares": sh,
                                  "price": u.prices[sym], "lot_id": None, "realized_gain": -round(float(rng.uniform(10, 5000)), 2)})
    else:
        # a pending loss sale of a lot the seller holds (a pending order counts as a trade of the trade date)
        lot_id = f"{seller}-W"
        rows.lots.append({"account_id": seller, "lot_id": lot_id, "symbol": sym, "shares": sh,
                          "cost_basis": round(sh * u.prices[sym] * 1.5, 2), "acquired": _day_before(200), "purchase_date": _day_before(200)})
        rows.pending.append({"account_id": seller, "symbol": sym, "side": "sell", "shares": sh, "lot_id": lot_id,
                             "est_realized_gain": round(sh * u.prices[sym] - sh * u.prices[sym] * 1.5, 2)})
    # older transactions outside the window too (must not block anything)
    rows.transactions.append({"account_id": seller, "date": _day_before(rng.integers(45, 90)), "symbol": sym, "side": "sell", "shares": 1.0,
                              "price": u.prices[sym], "lot_id": None, "realized_gain": -1.0})


POLICY = replace(DEFAULT_POLICY, ranges=MappingProxyType({"BAL": MappingProxyType({"us_equity": (0.30, 0.80)})}))


def make_book(spec: BookSpec) -> Book:
    """The `Book` of `spec` (not validated: write it with `upload_book` to read it through the reader)."""
    rng = np.random.default_rng(spec.seed)
    u = _universe(rng, spec.n_securities)
    rows = _Rows()
    i = 0
    h = 0
    while i < spec.n_accounts:
        size = min(int(rng.choice([1, 1, 2, 2, 3, 4])), spec.n_accounts - i)
        hh = f"H{h:05d}"
        members: list[tuple[str, str]] = []
        for k in range(size):
            acct = f"A{i:06d}"
            status = "taxable" if k == 0 or rng.random() < 0.5 else str(rng.choice(["tax_deferred", "tax_exempt"]))
            _account(rows, u, rng, acct, hh, spec.scenarios[i], status)
            members.append((acct, status))
            i += 1
        _household_washes(rows, u, rng, members)
        h += 1
    rows.restrictions.append({"account_id": "*", "kind": "never_buy", "value": FIRM_RESTRICTED, "limit": None})

    def frame(name: str, data: list[dict[str, object]]) -> pl.DataFrame:
        sch = schema(TABLES[name])
        return pl.DataFrame(data, schema=sch) if data else pl.DataFrame(schema=sch)

    prices = pl.DataFrame({"symbol": list(u.prices), "close": list(u.prices.values()), "date": [AS_OF] * len(u.prices)}, schema=schema(TABLES["prices"]))
    return Book(
        as_of=AS_OF,
        trade_date=TRADE_DATE,
        policy=POLICY,
        securities=u.securities,
        prices=prices,
        price_history=u.price_history,
        models=u.models,
        targets=u.targets,
        accounts=frame("accounts", rows.accounts),
        lots=frame("lots", rows.lots),
        restrictions=frame("restrictions", rows.restrictions),
        transactions=frame("transactions", rows.transactions),
        pending_orders=frame("pending_orders", rows.pending),
    )


def upload_book(spec: BookSpec, folder: str | Path) -> Book:
    """Write `make_book(spec)` as an upload in `folder` (`write_upload`) and read it back (`read_upload`)."""
    write_upload(make_book(spec), folder)
    return read_upload(folder, as_of=AS_OF, trade_date=TRADE_DATE)
