"""The strategies a backtest compares: each a function ``Book -> orders`` in the trade file's columns.

Every strategy sees only the day's `Book` (no future price, no hidden state): the backtest's day loop
applies its orders identically whatever the strategy (fills at the next business day's close, the tax
engine's lots, the wash-sale rule). Orders are frames of `optimize.explain.ORDER_SCHEMA` (the trade
file without ``run_id``).

- `optimizer(risk_aversion=None)`: the real per-account tax-aware rebalance (`optimize.build.rebalance_account`
  with the book's targets, risk model and tax state) — the daily review's own decision.
- `naive`: trade to the account's target weights (`targets.account_targets`), ignoring taxes: sells relieve
  lots first in, first out.
- `buy_and_hold`: invest the cash in the target once, then never trade (except to raise a cash need).
- `heuristic(threshold=0.10, wait_days=31, sweep=0.01)`: harvest every lot whose loss exceeds `threshold` of its
  basis (unless the wash-sale rule forbids the loss sale), buy the substitute with the proceeds, and
  switch back to the original once `wait_days` calendar days have passed since the harvest.

Harvest substitutes (`substitute_for`): the stock with the highest correlation of daily log returns
(over the book's price history, at most one year) with the harvested one among the priced securities of
the same sector, then of the same asset class, that sit in another wash group and that the wash-sale rule
(b) lets the account buy today. On a universe of single stocks (the real history) this is the most
correlated other stock of the sector: legal, since it is not substantially identical.

A ``cash_need`` on the account (the backtest sets it to pay a year's tax and for each withdrawal: the
contract's withdrawal mechanism) is raised by every strategy, each by its own rule:

- the optimizer through its own cash-need constraint (the target rescaled to the value left after the
  need; the lots chosen by the tax-aware problem);
- `naive`: trades to the target weights of (value − need), relieving lots FIFO, topped up from the
  largest holdings if whole shares leave the need short — pro rata to the target;
- `buy_and_hold`: `raise_pro_rata`, every holding in proportion to its value, highest basis per share
  first within a symbol (its weights, the drifted index, do not change);
- `heuristic`: `raise_cash`, the lots with the highest basis per share over the price first, across
  symbols (the least tax; losses first) — its own tax-aware rule, which lets the weights drift.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Callable

import numpy as np
import polars as pl

from overlay_core.book import Book
from overlay_core.contract import CASH
from overlay_core.optimize.explain import ORDER_SCHEMA
from overlay_core.targets import AccountTargets, account_targets, risk_model
from overlay_core.tax import tax_state
from overlay_core.tax.blocks import TaxState
from overlay_core.tax.holding import term_at

Strategy = Callable[[Book], pl.DataFrame]
STRATEGIES: tuple[str, ...] = ("optimizer", "naive", "buy_and_hold", "heuristic")


# --------------------------------------------------------------------------------------------------
# order lines
# --------------------------------------------------------------------------------------------------


def _lines(book: Book, account_id: str, rows: list[tuple[str, str, float, str | None, str]], *, taxable: bool, lots: pl.DataFrame) -> pl.DataFrame:
    """Order lines (symbol, side, shares, lot_id, reason) -> ORDER_SCHEMA frame, trade-file order."""
    if not rows:
        return pl.DataFrame(schema=ORDER_SCHEMA)
    px = book.price_map
    basis = {r["lot_id"]: (r["cost_basis"] or 0.0) / r["shares"] for r in lots.iter_rows(named=True)}
    acquired = dict(zip(lots["lot_id"].to_list(), lots["acquired"].to_list()))
    out = []
    for sym, side, sh, lot, reason in rows:
        p = float(px[sym])
        gain = term = None
        if side == "SELL" and taxable and lot is not None:
            gain = sh * p - sh * basis[lot]
            term = term_at(acquired[lot], book.trade_date) if acquired.get(lot) else None
        out.append({
            "as_of": book.as_of, "trade_date": book.trade_date, "account_id": account_id, "symbol": sym, "side": side,
            "shares": float(sh), "est_price": p, "est_value": float(sh) * p, "lot_id": lot, "est_realized_gain": gain,
            "term": term, "reason": reason,
        })
    df = pl.DataFrame(out, schema=ORDER_SCHEMA)
    return df.with_columns(pl.when(pl.col("side") == "SELL").then(0).otherwise(1).alias("_o")).sort(
        "_o", "symbol", "lot_id", nulls_last=True
    ).drop("_o")


def _account(book: Book, account_id: str) -> dict:
    return book.accounts.filter(pl.col("account_id") == account_id).row(0, named=True)


def _min_cash(book: Book, a: dict, value: float) -> float:
    return max(float(a.get("min_cash_weight") or 0.0), book.policy.rebalance.cash_floor) * value


def account_value(book: Book, account_id: str) -> float:
    """Cash + market value of the account's lots at the book's closes (USD)."""
    a = _account(book, account_id)
    lots = book.lots.filter(pl.col("account_id") == account_id)
    px = book.price_map
    return float(a["cash"]) + float(sum(s * px[y] for y, s in zip(lots["symbol"].to_list(), lots["shares"].to_list())))


def _fifo(lots: pl.DataFrame) -> pl.DataFrame:
    return lots.sort("purchase_date", "lot_id")


def raise_cash(
    book: Book, account_id: str, amount: float, *, exclude: frozenset[str] = frozenset(), exclude_lots: frozenset[str] | set[str] = frozenset()
) -> list[tuple[str, str, float, str | None, str]]:
    """SELL lines raising at least `amount` USD (whole shares), highest basis per share first (least tax).

    `exclude`: symbols not to sell; `exclude_lots`: lot_ids already sold by other lines of the day."""
    if amount <= 0:
        return []
    px = book.price_map
    lots = book.lots.filter((pl.col("account_id") == account_id) & ~pl.col("symbol").is_in(list(exclude)) & ~pl.col("lot_id").is_in(list(exclude_lots)))
    lots = lots.with_columns((pl.col("cost_basis").fill_null(0.0) / pl.col("shares") / pl.col("symbol").replace_strict(dict(px), return_dtype=pl.Float64)).alias("_r"))
    rows = []
    left = amount
    for r in lots.sort("_r", descending=True).iter_rows(named=True):
        if left <= 0:
            break
        p = float(px[r["symbol"]])
        sh = min(float(r["shares"]), math.ceil(left / p))
        rows.append((r["symbol"], "SELL", sh, r["lot_id"], "cash_raise"))
        left -= sh * p
    return rows


LOT_ORDERS: tuple[str, ...] = ("hifo", "fifo")


def raise_pro_rata(book: Book, account_id: str, amount: float, *, lot_order: str = "hifo") -> list[tuple[str, str, float, str | None, str]]:
    """SELL lines raising at least `amount` USD (whole shares) from every held symbol in proportion to its
    market value, so the weights of the holdings do not change (what an index fund's redemption does).

    Each symbol sells ``ceil(amount x its share of the holdings / price)`` shares (capped at what is held);
    within a symbol the lots are relieved ``hifo`` (highest basis per share first: the least tax) or
    ``fifo`` (first purchased first: the IRS default). Whole-share rounding raises a little more than
    `amount` (at most one share per symbol).
    """
    if amount <= 0:
        return []
    if lot_order not in LOT_ORDERS:
        raise ValueError(f"lot_order: found {lot_order!r}; expected one of {', '.join(LOT_ORDERS)}")
    px = book.price_map
    lots = book.lots.filter(pl.col("account_id") == account_id)
    held = _held(lots)
    mv = {s: q * float(px[s]) for s, q in held.items() if q > 0}
    total = sum(mv.values())
    if total <= 0:
        return []
    share = min(amount / total, 1.0)
    rows = []
    for s in sorted(mv):
        p = float(px[s])
        left = min(float(math.ceil(share * mv[s] / p - 1e-9)), held[s]) if share < 1.0 else held[s]
        sl = lots.filter(pl.col("symbol") == s)
        sl = _fifo(sl) if lot_order == "fifo" else sl.with_columns((pl.col("cost_basis").fill_null(0.0) / pl.col("shares")).alias("_b")).sort(["_b", "lot_id"], descending=[True, False])
        for r in sl.iter_rows(named=True):
            if left <= 1e-9:
                break
            q = min(float(r["shares"]), left)
            rows.append((s, "SELL", q, r["lot_id"], "cash_raise"))
            left -= q
    return rows


def buy_to_target(book: Book, account_id: str, targets: AccountTargets, cash: float, *, held: dict[str, float], value: float, reason: str = "rebalance") -> list[tuple[str, str, float, str | None, str]]:
    """BUY lines (whole shares) toward the account's target weights with at most `cash` USD."""
    px = book.price_map
    tw = {s: w for s, w in targets.of(account_id).items() if s != CASH and w > 0}
    want = {s: max(w * value / px[s] - held.get(s, 0.0), 0.0) for s, w in tw.items()}
    cost = sum(want[s] * px[s] for s in want)
    scale = min(1.0, cash / cost) if cost > 0 else 0.0
    cost_bps = book.policy.rebalance.cost_bps / 1e4
    scale /= 1.0 + cost_bps
    rows = []
    for s in sorted(want):
        sh = math.floor(want[s] * scale)
        if sh >= 1:
            rows.append((s, "BUY", float(sh), None, reason))
    return rows


# --------------------------------------------------------------------------------------------------
# the strategies
# --------------------------------------------------------------------------------------------------


def optimizer(*, risk_aversion: float | None = None, solver: str | None = None) -> Strategy:
    """The daily review's per-account tax-aware rebalance (`rebalance_account`), every account of the book.

    `risk_aversion` overrides the policy's ``[rebalance] risk_aversion`` (the frontier varies it).
    """
    from dataclasses import replace

    from overlay_core.optimize.build import rebalance_account

    def run(book: Book) -> pl.DataFrame:
        policy = book.policy if risk_aversion is None else replace(book.policy, rebalance=replace(book.policy.rebalance, risk_aversion=float(risk_aversion)))
        risk = risk_model(book)
        targets = account_targets(book, risk=risk)
        tax = tax_state(book)
        frames = []
        for a in book.account_ids():
            prop = rebalance_account(book, a, targets=targets, risk=risk, tax_state=tax, policy=policy, solver=solver)
            if prop.explanation.decision == "error":
                from overlay_core.errors import OptimizationError

                raise OptimizationError(f"account {a} on {book.as_of}: {prop.explanation.diagnosis}")
            frames.append(prop.orders)
        return pl.concat(frames) if frames else pl.DataFrame(schema=ORDER_SCHEMA)

    run.__name__ = "optimizer"
    return run


def _held(lots: pl.DataFrame) -> dict[str, float]:
    return {s: float(v) for s, v in lots.group_by("symbol").agg(pl.col("shares").sum()).iter_rows()}


def _merge_sells(rows: list[tuple[str, str, float, str | None, str]]) -> list[tuple[str, str, float, str | None, str]]:
    """One SELL line per lot (shares added, the first line's reason kept); other lines unchanged."""
    out: list[tuple[str, str, float, str | None, str]] = []
    at: dict[str, int] = {}
    for r in rows:
        if r[1] == "SELL" and r[3] is not None and r[3] in at:
            k = at[r[3]]
            s, side, q, lot, reason = out[k]
            out[k] = (s, side, q + r[2], lot, reason)
            continue
        if r[1] == "SELL" and r[3] is not None:
            at[r[3]] = len(out)
        out.append(r)
    return out


def naive(book: Book) -> pl.DataFrame:
    """Trade every account to its target weights whatever the tax (FIFO lot relief), cash need included."""
    targets = account_targets(book)
    px = book.price_map
    frames = []
    cost_bps = book.policy.rebalance.cost_bps / 1e4
    for aid in book.account_ids():
        a = _account(book, aid)
        lots = book.lots.filter(pl.col("account_id") == aid)
        held = _held(lots)
        value = account_value(book, aid)
        need = float(a.get("cash_need") or 0.0)
        # the account's target weights already leave the cash need (and the cash floor) in cash
        tw = {s: w for s, w in targets.of(aid).items() if s != CASH}
        min_trade = float(a.get("min_trade_value") or book.policy.rebalance.min_trade_value)
        rows: list[tuple[str, str, float, str | None, str]] = []
        cash = float(a["cash"])
        for s in sorted(set(held) | set(tw)):
            want = tw.get(s, 0.0) * max(value, 0.0) / px[s]
            d = held.get(s, 0.0) - want
            if d * px[s] < min_trade or d < 1:
                continue
            left = math.floor(d) if tw.get(s, 0.0) > 0 else held[s]
            for r in _fifo(lots.filter(pl.col("symbol") == s)).iter_rows(named=True):
                if left <= 1e-9:
                    break
                q = min(float(r["shares"]), left)
                rows.append((s, "SELL", q, r["lot_id"], "rebalance" if need <= 0 else "cash_raise"))
                left -= q
                cash += q * px[s] * (1 - cost_bps)
        held_after = dict(held)
        for s, side, q, _, _ in rows:
            held_after[s] -= q
        if need > cash:
            # whole shares and skipped small trades left the need short: sell more of the largest
            # holdings, continuing each symbol's FIFO relief
            for s in sorted(held_after, key=lambda x: (-held_after[x] * px[x], x)):
                if cash >= need:
                    break
                extra = min(float(math.ceil((need - cash) / (px[s] * (1 - cost_bps)))), held_after[s])
                if extra <= 0:
                    continue
                skip = held[s] - held_after[s]
                for r in _fifo(lots.filter(pl.col("symbol") == s)).iter_rows(named=True):
                    q = float(r["shares"])
                    if skip >= q - 1e-9:
                        skip -= q
                        continue
                    take = min(q - skip, extra)
                    skip = 0.0
                    rows.append((s, "SELL", take, r["lot_id"], "cash_raise"))
                    extra -= take
                    held_after[s] -= take
                    cash += take * px[s] * (1 - cost_bps)
                    if extra <= 1e-9:
                        break
        rows = _merge_sells(rows)
        budget = cash - need - _min_cash(book, a, value)
        buys = [r for r in buy_to_target(book, aid, targets, max(budget, 0.0), held=held_after, value=max(value, 0.0)) if r[2] * px[r[0]] >= min_trade]
        frames.append(_lines(book, aid, rows + buys, taxable=a["tax_status"] == "taxable", lots=lots))
    return pl.concat(frames) if frames else pl.DataFrame(schema=ORDER_SCHEMA)


def buy_and_hold(book: Book) -> pl.DataFrame:
    """Invest idle cash in the target (above the cash floor) when the account holds nothing; else hold.

    A cash need (a withdrawal, the tax of the sales it caused) beyond the cash is raised pro rata to the
    holdings (`raise_pro_rata`, highest basis first within a symbol): the weights stay those of the
    target index, as an index fund's redemption leaves them.
    """
    targets = None
    frames = []
    for aid in book.account_ids():
        a = _account(book, aid)
        lots = book.lots.filter(pl.col("account_id") == aid)
        rows: list[tuple[str, str, float, str | None, str]] = []
        need = float(a.get("cash_need") or 0.0)
        if lots.height == 0:
            targets = targets or account_targets(book)
            value = float(a["cash"])
            rows = buy_to_target(book, aid, targets, value - need - _min_cash(book, a, value), held={}, value=value)
        elif need > float(a["cash"]):
            rows = raise_pro_rata(book, aid, need - float(a["cash"]), lot_order="hifo")
        frames.append(_lines(book, aid, rows, taxable=a["tax_status"] == "taxable", lots=lots))
    return pl.concat(frames) if frames else pl.DataFrame(schema=ORDER_SCHEMA)


def _returns_corr(book: Book, *, days: int = 252) -> tuple[list[str], np.ndarray]:
    ph = book.price_history.filter(pl.col("date") <= book.as_of)
    wide = ph.pivot(on="symbol", index="date", values="close").sort("date").tail(days + 1)
    syms = [c for c in wide.columns if c != "date"]
    x = np.log(wide.select(syms).to_numpy())
    r = np.diff(x, axis=0)
    ok = ~np.isnan(r).any(axis=1)
    r = r[ok]
    if r.shape[0] < 20:
        return syms, np.eye(len(syms))
    with np.errstate(invalid="ignore", divide="ignore"):
        c = np.corrcoef(r, rowvar=False)
    return syms, np.nan_to_num(c, nan=0.0)


def substitute_for(book: Book, symbol: str, *, blocked: frozenset[str] | set[str] = frozenset(), corr: tuple[list[str], np.ndarray] | None = None) -> str | None:
    """The harvest replacement of `symbol` (module docstring), or None if no legal one can be bought."""
    sec = book.securities
    meta = {r["symbol"]: r for r in sec.iter_rows(named=True)}
    m = meta.get(symbol)
    if m is None:
        return None
    px = book.price_map
    group = m["wash_group"] or symbol
    syms, c = corr if corr is not None else _returns_corr(book)
    idx = {s: i for i, s in enumerate(syms)}

    def score(s: str) -> float:
        if symbol in idx and s in idx:
            return float(c[idx[symbol], idx[s]])
        return -2.0

    cands = [s for s, r in meta.items() if s != symbol and s in px and (r["wash_group"] or s) != group and s not in blocked and r["asset_class"] == m["asset_class"]]
    same = [s for s in cands if m["sector"] and meta[s]["sector"] == m["sector"]]
    pool = same or cands
    if not pool:
        return None
    return max(sorted(pool), key=score)


def heuristic(*, threshold: float = 0.10, wait_days: int = 31, sweep: float = 0.01) -> Strategy:
    """Threshold tax-loss harvesting with substitutes (module docstring); invests initial cash like buy and hold.

    The strategy keeps a note of its own harvests (which substitute lots replaced which original, by
    value), as a manager's blotter would: the switch back after `wait_days` sells exactly those lots and
    buys the originals back in proportion. A substitute lot harvested in turn passes its original on to
    its own substitute (chains end at the original). The note is written only from the strategy's own
    orders, never from future prices. Idle cash above the floor by more than `sweep` of the account
    (tax refunds, contributions) is invested in the target's underweights (never in a symbol harvested
    today or blocked by the wash-sale rule).
    """
    # (account_id, purchase date, substitute symbol) -> {original symbol: value weight}
    pairs: dict[tuple[str, dt.date, str], dict[str, float]] = {}

    def roots(aid: str, sym: str, lot_rows: list[dict]) -> dict[str, float]:
        """The originals behind lots of `sym` (value weights); the symbol itself for a lot not a substitute."""
        out: dict[str, float] = {}
        for r in lot_rows:
            origin = pairs.get((aid, r["purchase_date"], sym))
            v = float(r["shares"])
            for o, w in (origin or {sym: 1.0}).items():
                out[o] = out.get(o, 0.0) + v * w
        tot = sum(out.values())
        return {o: w / tot for o, w in out.items()} if tot > 0 else {sym: 1.0}

    def run(book: Book) -> pl.DataFrame:
        ts: TaxState | None = None
        corr = None
        targets = None
        frames = []
        px = book.price_map
        cost = book.policy.rebalance.cost_bps / 1e4
        for aid in book.account_ids():
            a = _account(book, aid)
            lots = book.lots.filter(pl.col("account_id") == aid)
            taxable = a["tax_status"] == "taxable"
            need = float(a.get("cash_need") or 0.0)
            cash = float(a["cash"])
            if lots.height == 0:
                targets = targets or account_targets(book)
                rows = buy_to_target(book, aid, targets, cash - need - _min_cash(book, a, cash), held={}, value=cash)
                frames.append(_lines(book, aid, rows, taxable=taxable, lots=lots))
                continue
            if not taxable:
                frames.append(_lines(book, aid, raise_cash(book, aid, need - cash), taxable=taxable, lots=lots))
                continue
            ts = ts or tax_state(book)
            at = ts.account(aid)
            blocked_buy = set(at.buy_blocked_symbols)
            rows: list[tuple[str, str, float, str | None, str]] = []
            sold_lots: set[str] = set()
            buys: dict[str, float] = {}  # symbol -> USD to spend
            buy_reason: dict[str, str] = {}
            buy_roots: dict[str, dict[str, float]] = {}
            lot_rows = {r["lot_id"]: r for r in lots.iter_rows(named=True)}
            # 1. switch back: substitute lots bought at least wait_days ago
            for (acc, day, sym), origin in sorted(pairs.items(), key=lambda kv: (kv[0][1], kv[0][2])):
                if acc != aid or (book.trade_date - day).days < wait_days:
                    continue
                held = [r for r in lot_rows.values() if r["symbol"] == sym and r["purchase_date"] == day and r["lot_id"] not in sold_lots]
                if not held or any(o in blocked_buy for o in origin):
                    continue
                proceeds = 0.0
                for r in held:
                    rows.append((sym, "SELL", float(r["shares"]), r["lot_id"], "substitution"))
                    sold_lots.add(r["lot_id"])
                    proceeds += float(r["shares"]) * px[sym] * (1 - cost)
                for o, w in origin.items():
                    buys[o] = buys.get(o, 0.0) + proceeds * w
                    buy_reason.setdefault(o, "substitution")
            # 2. harvest: lots whose loss exceeds the threshold, unless rule (a) blocks the loss sale
            harvest: dict[str, list[int]] = {}
            for i in range(len(at.lot_id)):
                lid = str(at.lot_id[i])
                if lid in sold_lots or at.loss_sale_blocked[i] or not np.isfinite(at.gain_per_share[i]) or str(at.symbol[i]) in buys:
                    continue
                if at.gain_per_share[i] < -threshold * at.basis_per_share[i] and at.available_shares[i] > 0:
                    harvest.setdefault(str(at.symbol[i]), []).append(i)
            for sym in sorted(harvest):
                proceeds = 0.0
                sold_rows = []
                for i in harvest[sym]:
                    sh = float(at.available_shares[i])
                    lid = str(at.lot_id[i])
                    rows.append((sym, "SELL", sh, lid, "tax_loss_harvest"))
                    sold_lots.add(lid)
                    sold_rows.append({"purchase_date": lot_rows[lid]["purchase_date"], "shares": sh})
                    proceeds += sh * px[sym] * (1 - cost)
                corr = corr or _returns_corr(book)
                sub = substitute_for(book, sym, blocked=blocked_buy | set(harvest) | set(buys), corr=corr)
                if sub is None:
                    continue  # no legal substitute: the proceeds stay in cash
                buys[sub] = buys.get(sub, 0.0) + proceeds
                buy_reason[sub] = "tax_loss_harvest"
                acc_roots = buy_roots.setdefault(sub, {})
                for o, w in roots(aid, sym, sold_rows).items():
                    acc_roots[o] = acc_roots.get(o, 0.0) + proceeds * w
            # 3. the buys (whole shares), and the note of what each substitute replaces
            for sym in sorted(buys):
                sh = math.floor(buys[sym] / (px[sym] * (1 + cost)))
                if sh < 1:
                    continue
                rows.append((sym, "BUY", float(sh), None, buy_reason[sym]))
                cash -= sh * px[sym] * (1 + cost) - buys[sym]
                origin = {o: v for o, v in buy_roots.get(sym, {}).items() if o != sym}
                if origin:
                    tot = sum(origin.values())
                    pairs[(aid, book.trade_date, sym)] = {o: v / tot for o, v in origin.items()}
            # 4. a cash need beyond the cash: highest basis first, among lots not already sold;
            #    else sweep idle cash (tax refunds, contributions) into the target's underweights
            value = account_value(book, aid)
            if need > cash:
                rows += raise_cash(book, aid, need - cash, exclude_lots=sold_lots)
            elif cash - need - _min_cash(book, a, value) > sweep * value:
                targets = targets or account_targets(book)
                held = _held(lots)
                for sym, side, q, _, _ in rows:
                    held[sym] = held.get(sym, 0.0) + (q if side == "BUY" else -q)
                budget = cash - need - _min_cash(book, a, value)
                rows += [r for r in buy_to_target(book, aid, targets, budget, held=held, value=value, reason="rebalance") if r[0] not in harvest and r[0] not in blocked_buy and r[0] not in buys]
            frames.append(_lines(book, aid, rows, taxable=taxable, lots=lots))
        return pl.concat(frames) if frames else pl.DataFrame(schema=ORDER_SCHEMA)

    run.__name__ = "heuristic"
    return run


def by_name(name: str, *, risk_aversion: float | None = None, threshold: float = 0.10) -> Strategy:
    """The strategy called `name` (one of `STRATEGIES`)."""
    from overlay_core.errors import ConfigError

    if name == "optimizer":
        return optimizer(risk_aversion=risk_aversion)
    if name == "naive":
        return naive
    if name == "buy_and_hold":
        return buy_and_hold
    if name == "heuristic":
        return heuristic(threshold=threshold)
    raise ConfigError(f"strategy: found {name!r}; expected one of {', '.join(STRATEGIES)}")
