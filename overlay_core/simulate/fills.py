"""One day forward: a book, the day's orders and the fill day's closes -> the next day's `Book` (pure).

`apply_fills(book, orders, fill_prices=..., next_as_of=...)` executes, on the book's trade date:

1. **the book's pending orders**, first, in the upload's order. The contract treats them as filled on
   the trade date at today's close for the *estimate*; rolling forward they become executed trades like
   the day's orders, at the trade date's close (`fill_prices`). A pending sell naming a lot relieves it;
   one without a lot relieves the account's lots FIFO by purchase date (the IRS default, as the tax
   engine does). The next book has no pending orders;
2. **the day's orders** (the trade file's lines: account_id, symbol, side SELL/BUY, shares, lot_id),
   at `fill_prices` (the trade date's close). A SELL relieves its named lot: the exact remainder closes
   it, a partial sale reduces shares and basis pro rata. A BUY opens a new lot ``YYYYMMDD-SYMBOL-n``
   (trade date, symbol, n-th buy of that symbol in the account that day; unique within the account,
   stable across reruns) with basis ``shares x price + cost`` and ``acquired = purchase_date = trade date``.

Lots, bases, terms and the wash-sale rule come from the tax engine's `Ledger` (never re-derived
here): the traded households' lots open a ledger (`Ledger.from_lots`), the day's fills are applied
(`Ledger.apply`, one sale per account/symbol run of sell rows), and its open lots -- replacement lots
already carrying the disallowed loss in their basis and the sold shares' holding period, as a
custodian reports them -- become the next upload's authoritative lots. Losses realized on *earlier*
days are not known to a fresh ledger; a buy the contract's rule (b) would forbid (a replacement within
30 days after an earlier loss of the household) is therefore reported in `Fills.forward_wash_risk`
and not adjusted (the review never proposes one: its trade files obey rule (b)).

Money:

- **Trading cost**: ``cost_bps`` of the security (the policy default where empty), one way, on the fill
  value when ``trading_costs`` (default on): a buy pays ``shares x price x (1 + bps)`` (the cost is
  in the lot's basis), a sale receives ``shares x price x (1 - bps)`` (the cost reduces the proceeds,
  hence the realized gain). Dividends are folded into prices (total-return closes), no cash interest.
- **Cash guard**: prices move between the estimate (today's close) and the fill, and costs are paid;
  an account whose cash would end below what the review meant to keep -- its minimum cash
  (``max(min_cash_weight, cash_floor) x value`` at the fill prices), or the cash the orders left at
  their estimates if that is less (never below zero) -- has its buys trimmed pro rata, rounded down to
  the security's increment (whole shares for equity/etf, 0.001 for mutual funds and cash equivalents,
  ``trade_increment`` for bonds), as an OMS would refuse an over-spend; `Fills.trimmed` lists them.
  Without the guard the next day's review would sell to restore the cash floor (churn).
- **Flows** (account_id, amount): contributions (> 0) and withdrawals (< 0) on the trade date, after
  the fills. **Cash needs** are paid out after the fills (``pay_cash_needs``): up to the cash
  available, the rest stays as the account's ``cash_need``. A withdrawal beyond the cash is an error.
- ``transactions`` gets the day's executed trades (``price`` = the fill price; ``realized_gain`` on
  taxable sells = proceeds net of cost - the relieved lots' basis, before any wash-sale disallowance,
  as the contract's history carries it); rows older than ``transactions_days`` calendar days before
  the next trade date are trimmed (>= 45).
- ``ytd_realized_st``/``ytd_realized_lt`` (taxable accounts) add the *recognized* gains (gain + the
  disallowed part of a washed loss), by the ledger's term; they restart at 0 when the year of the next
  `as_of` differs from the book's.
- ``as_of`` = `next_as_of`; ``trade_date`` = the next NYSE business day after it; ``price_history`` gets
  the fill day's closes (every symbol of the book's prices must have one), dated the fill day, and any
  `price_history_append` rows (closes of the days after it, up to `next_as_of`); ``prices`` = each
  symbol's latest of those closes, with its own date -- the fill day's closes when `next_as_of` is the
  fill day or nothing later is appended (a close is never stamped with a later day's date).

Money stays float64 at full precision; it is rounded to cents only when written (the upload writer).
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field, replace
from typing import Mapping

import polars as pl

from overlay_core.book import Book
from overlay_core.calendar import next_business_day
from overlay_core.contract import LOTS, PENDING_ORDERS, PRICE_HISTORY, PRICES, TRANSACTIONS, empty_frame, schema
from overlay_core.errors import DataError, OverlayError, Problem
from overlay_core.tax.ledger import Ledger

#: the wash-sale look-back plus margin: transactions kept at least this many calendar days
MIN_TRANSACTION_DAYS = 45
DEFAULT_TRANSACTION_DAYS = 60
_EPS = 1e-9
_UNKNOWN_DATE = dt.date(1900, 1, 1)

FLOW_SCHEMA = {"account_id": pl.String(), "amount": pl.Float64()}
TRIM_SCHEMA = {"account_id": pl.String(), "symbol": pl.String(), "ordered": pl.Float64(), "filled": pl.Float64()}
FILL_SCHEMA = {
    "account_id": pl.String(),
    "symbol": pl.String(),
    "side": pl.String(),
    "shares": pl.Float64(),
    "price": pl.Float64(),
    "cost": pl.Float64(),
    "lot_id": pl.String(),
    "source": pl.String(),  # pending | order
}


class FillError(OverlayError):
    """Fills that cannot be applied (an unknown account or lot, a sale beyond a lot, a missing close, an
    over-withdrawal). The message names the account, symbol and lot."""

    exit_code = 2


@dataclass(frozen=True)
class Fills:
    """What `fill_day` did: the next book and the evidence of the day's execution.

    Attributes
    ----------
    book : the next day's `Book`.
    fills : the executed trades (FILL_SCHEMA): pending orders then orders, after the cash guard.
    realized : the tax engine's realized rows of the day (`tax.ledger.REALIZED_COLUMNS`), full precision.
    trimmed : buys cut by the cash guard (TRIM_SCHEMA).
    cash_paid : account_id, paid -- cash needs paid out after the fills (USD).
    forward_wash_risk : account_id, symbol -- buys that may replace a loss of an earlier day (not adjusted).
    """

    book: Book
    fills: pl.DataFrame
    realized: pl.DataFrame
    trimmed: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=TRIM_SCHEMA))
    cash_paid: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema={"account_id": pl.String(), "paid": pl.Float64()}))
    forward_wash_risk: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema={"account_id": pl.String(), "symbol": pl.String()}))

    @property
    def realized_gain(self) -> float:
        """Net realized gain of taxable accounts' sales (USD, before wash-sale disallowance)."""
        return float(self.realized["gain_loss"].sum()) if self.realized.height else 0.0

    @property
    def losses_harvested(self) -> float:
        """Realized losses of taxable accounts' sales, as a positive number (USD)."""
        if not self.realized.height:
            return 0.0
        return float(-self.realized.filter(pl.col("gain_loss") < 0)["gain_loss"].sum())


def _price_map(fill_prices: Mapping[str, float] | pl.DataFrame) -> dict[str, float]:
    if isinstance(fill_prices, pl.DataFrame):
        if "symbol" not in fill_prices.columns or "close" not in fill_prices.columns:
            raise FillError(f"fill_prices: columns {fill_prices.columns}; expected symbol and close")
        return dict(zip(fill_prices["symbol"].to_list(), fill_prices["close"].to_list()))
    return dict(fill_prices)


def _increment(sec_type: str, trade_increment: float | None) -> float:
    """The share grid of a BUY (data contract, "The trade file": shares)."""
    if sec_type in ("equity", "etf"):
        return 1.0
    if sec_type in ("mutual_fund", "cash_equivalent"):
        return 0.001
    if trade_increment is not None and math.isfinite(trade_increment) and trade_increment > 0:
        return float(trade_increment)
    return 1.0


def _orders_frame(orders: pl.DataFrame | None) -> pl.DataFrame:
    cols = {"account_id": pl.String(), "symbol": pl.String(), "side": pl.String(), "shares": pl.Float64(), "lot_id": pl.String()}
    if orders is None or orders.height == 0:
        return pl.DataFrame(schema=cols)
    missing = [c for c in ("account_id", "symbol", "side", "shares") if c not in orders.columns]
    if missing:
        raise FillError(f"orders: missing column(s) {', '.join(missing)}; expected the trade file's columns")
    lot = pl.col("lot_id").cast(pl.String) if "lot_id" in orders.columns else pl.lit(None, dtype=pl.String)
    out = orders.select(
        pl.col("account_id").cast(pl.String),
        pl.col("symbol").cast(pl.String),
        pl.col("side").cast(pl.String).str.to_lowercase(),
        pl.col("shares").cast(pl.Float64),
        pl.when(lot == "").then(None).otherwise(lot).alias("lot_id"),
    )
    bad = out.filter(~pl.col("side").is_in(["buy", "sell"]) | ~(pl.col("shares") > 0))
    if bad.height:
        r = bad.row(0, named=True)
        raise FillError(f"orders: account {r['account_id']} {r['symbol']}: side {r['side']!r}, shares {r['shares']}; expected SELL/BUY and shares > 0 ({bad.height} such line(s))")
    return out


def fill_day(
    book: Book,
    orders: pl.DataFrame | None,
    *,
    fill_prices: Mapping[str, float] | pl.DataFrame,
    next_as_of: dt.date,
    price_history_append: pl.DataFrame | None = None,
    flows: pl.DataFrame | None = None,
    trading_costs: bool = True,
    pay_cash_needs: bool = True,
    transactions_days: int = DEFAULT_TRANSACTION_DAYS,
) -> Fills:
    """Execute the book's pending orders and `orders` on its trade date; the next book and the evidence.

    Parameters
    ----------
    book : the day's book (its ``trade_date`` is the fill date).
    orders : the day's order lines (trade file columns; at least account_id, symbol, side, shares, and
        lot_id for sells). ``None`` or empty: only the pending orders fill.
    fill_prices : symbol -> the trade date's close (or a frame symbol, close), for every symbol of
        ``book.prices`` (and every symbol traded).
    next_as_of : the next book's ``as_of``, on or after ``book.trade_date`` (`fill_prices` are the
        trade date's closes, whatever `next_as_of`).
    price_history_append : extra (date, symbol, close) rows for the history, dated up to `next_as_of`
        (e.g. the closes of the days after the trade date up to `next_as_of`; the latest close of a
        symbol becomes its price in the next book); the fill day's closes are appended anyway.
    flows : account_id, amount (USD; > 0 contribution, < 0 withdrawal), applied after the fills.
    trading_costs : charge ``cost_bps`` one way on each fill (module docstring).
    pay_cash_needs : pay each account's ``cash_need`` out of its cash after the fills.
    transactions_days : transactions kept, calendar days before the next trade date (>= 45).

    Raises
    ------
    FillError : a bad date, an unknown account, a missing close, a sale of an unknown lot or beyond a
        lot (from the tax engine, as `DataError`), a withdrawal beyond the account's cash.
    """
    fill_date = book.trade_date
    if next_as_of < fill_date:
        raise FillError(f"next_as_of {next_as_of} is before the book's trade date {fill_date}; expected the fill day's date or later")
    if transactions_days < MIN_TRANSACTION_DAYS:
        raise FillError(f"transactions_days {transactions_days}; expected >= {MIN_TRANSACTION_DAYS} (the wash-sale look-back needs 30)")
    px = _price_map(fill_prices)
    bad_px = [s for s, v in px.items() if v is None or not math.isfinite(float(v)) or float(v) <= 0]
    if bad_px:
        raise FillError(f"fill_prices: bad close for {', '.join(sorted(bad_px)[:10])}; expected finite closes > 0")
    sec = book.securities
    meta = {r["symbol"]: r for r in sec.select("symbol", "type", "trade_increment", "cost_bps").iter_rows(named=True)}
    default_bps = book.policy.rebalance.cost_bps
    accounts = book.accounts
    acc_ids = set(accounts["account_id"].to_list())
    household = dict(zip(accounts["account_id"].to_list(), accounts["household_id"].to_list()))
    taxable = set(accounts.filter(pl.col("tax_status") == "taxable")["account_id"].to_list())

    # ---- the trades: pending first, then orders ---------------------------------------------------
    pend = book.pending_orders.select("account_id", "symbol", "side", "shares", "lot_id").with_columns(source=pl.lit("pending"))
    ords = _orders_frame(orders).with_columns(source=pl.lit("order"))
    trades = pl.concat([pend, ords], how="vertical_relaxed").with_row_index("_k")
    unknown = sorted(set(trades["account_id"].to_list()) - acc_ids)
    if unknown:
        raise FillError(f"orders name account(s) not in the book: {', '.join(unknown[:10])}")
    needed = sorted(set(book.prices["symbol"].to_list()) | set(trades["symbol"].to_list()))
    missing = [s for s in needed if s not in px]
    if missing:
        raise FillError(
            f"fill_prices: no close on {fill_date} for {len(missing)} symbol(s): {', '.join(missing[:10])}"
            + (" ..." if len(missing) > 10 else "")
        )
    unknown_sec = sorted({s for s in trades["symbol"].to_list() if s not in meta})
    if unknown_sec:
        raise FillError(f"orders name symbol(s) not in securities: {', '.join(unknown_sec[:10])}")

    rows = list(trades.iter_rows(named=True))
    for r in rows:
        r["price"] = float(px[r["symbol"]])
        m = meta[r["symbol"]]
        bps = m["cost_bps"] if m["cost_bps"] is not None else default_bps
        r["bps"] = float(bps) * 1e-4 if trading_costs else 0.0

    # ---- cash guard: trim buys an account cannot pay -----------------------------------------------
    cash = dict(zip(accounts["account_id"].to_list(), accounts["cash"].to_list()))
    floor_w = {
        a: max(float(w or 0.0), book.policy.rebalance.cash_floor)
        for a, w in accounts.select("account_id", "min_cash_weight").iter_rows()
    }
    value = _values(book, px)
    est = _orders_frame(orders).join(
        orders.select("account_id", "symbol", "est_price").unique(["account_id", "symbol"]) if orders is not None and "est_price" in orders.columns else pl.DataFrame(schema={"account_id": pl.String, "symbol": pl.String, "est_price": pl.Float64}),
        on=["account_id", "symbol"],
        how="left",
    ) if orders is not None and orders.height else None
    planned: dict[str, float] = {}
    if est is not None:
        for a, side, q, p in est.select("account_id", "side", "shares", "est_price").iter_rows():
            if p is not None:
                planned[a] = planned.get(a, 0.0) + (q * p if side == "sell" else -q * p)
    by_acc: dict[str, list[dict]] = {}
    for r in rows:
        by_acc.setdefault(r["account_id"], []).append(r)
    trimmed: list[tuple[str, str, float, float]] = []
    for a, rs in by_acc.items():
        sells = sum(r["shares"] * r["price"] * (1 - r["bps"]) for r in rs if r["side"] == "sell")
        buys = [r for r in rs if r["side"] == "buy" and r["source"] == "order"]
        pend_buys = sum(r["shares"] * r["price"] * (1 + r["bps"]) for r in rs if r["side"] == "buy" and r["source"] == "pending")
        gross = sum(r["shares"] * r["price"] * (1 + r["bps"]) for r in buys)
        room = float(cash[a]) + sells - pend_buys
        # keep the cash the review meant to keep: its minimum cash, or what it planned if less
        keep = 0.0
        if a in planned:
            keep = max(0.0, min(float(cash[a]) + planned[a], floor_w[a] * value.get(a, 0.0)))
        if gross > room - keep + 1e-9 and buys:
            f = max(room - keep, 0.0) / gross
            for r in buys:
                m = meta[r["symbol"]]
                inc = _increment(m["type"], m["trade_increment"])
                new = math.floor(r["shares"] * f / inc + 1e-9) * inc
                trimmed.append((a, r["symbol"], r["shares"], new))
                r["shares"] = new
    rows = [r for r in rows if r["shares"] > _EPS]

    # ---- lot ids of the buys ------------------------------------------------------------------------
    used: dict[str, set[str]] = {}
    for a, lid in book.lots.select("account_id", "lot_id").iter_rows():
        used.setdefault(a, set()).add(lid)
    count: dict[tuple[str, str], int] = {}
    for r in rows:
        if r["side"] != "buy":
            continue
        key = (r["account_id"], r["symbol"])
        ids = used.setdefault(r["account_id"], set())
        n = count.get(key, 0)
        while True:
            n += 1
            lid = f"{fill_date:%Y%m%d}-{r['symbol']}-{n}"
            if lid not in ids:
                break
        count[key] = n
        ids.add(lid)
        r["lot_id"] = lid

    # ---- the tax engine: the traded households' lots through one ledger -----------------------------
    traded_hh = {household[r["account_id"]] for r in rows}
    in_hh = pl.col("account_id").is_in([a for a, h in household.items() if h in traded_hh])
    lots_in = book.lots.filter(in_hh)
    lots_out = book.lots.filter(~in_hh)
    # a lot with neither acquired nor purchase_date (tax-deferred/exempt) is ordered as an old lot
    led = Ledger.from_lots(
        lots_in.with_columns(pl.coalesce(pl.col("purchase_date"), pl.col("acquired"), pl.lit(_UNKNOWN_DATE)).alias("purchase_date")),
        accounts=accounts.filter(in_hh),
        wash_groups=sec,
    )
    led.file = "fills"
    fill_frame = pl.DataFrame(
        {
            "account_id": [r["account_id"] for r in rows],
            "symbol": [r["symbol"] for r in rows],
            "side": [r["side"] for r in rows],
            "shares": [r["shares"] for r in rows],
            "price": [r["price"] for r in rows],
            "cost": [r["shares"] * r["price"] * r["bps"] for r in rows],
            "lot_id": [r["lot_id"] for r in rows],
            "source": [r["source"] for r in rows],
        },
        schema=FILL_SCHEMA,
    )
    if rows:
        try:
            led.apply(fill_frame.rename({"cost": "commission"}).drop("source"), date=fill_date)
        except DataError as exc:
            raise FillError(f"the fills of {fill_date} cannot be applied to the lots: {exc}") from exc
    realized = led.realized()
    new_lots = _restore_empty(led.lots(), lots_in) if rows else lots_in
    lots = pl.concat([lots_out.select(list(schema(LOTS))), new_lots.select(list(schema(LOTS))).cast(schema(LOTS))])
    lots = lots.sort("account_id", "symbol", "purchase_date", "lot_id", nulls_last=True)

    # losses of earlier days that today's buys might replace (not known to a fresh ledger)
    forward = _forward_wash_risk(book, fill_frame, household, taxable, sec)

    # ---- realized gains per trade row, transactions --------------------------------------------------
    realized = realized.filter(pl.col("account_id").is_in(list(taxable))) if realized.height else realized
    by_row: dict[int, float] = {}
    for row_i, g in realized.select("row", "gain_loss").iter_rows():
        by_row[row_i] = by_row.get(row_i, 0.0) + g
    new_tx = pl.DataFrame(
        {
            "account_id": fill_frame["account_id"],
            "date": pl.Series([fill_date] * fill_frame.height, dtype=pl.Date),
            "symbol": fill_frame["symbol"],
            "side": fill_frame["side"],
            "shares": fill_frame["shares"],
            "price": fill_frame["price"],
            "lot_id": fill_frame["lot_id"],
            "realized_gain": pl.Series(
                [by_row.get(i + 1, 0.0) if (s == "sell" and a in taxable) else None for i, (a, s) in enumerate(zip(fill_frame["account_id"], fill_frame["side"]))],
                dtype=pl.Float64,
            ),
        },
        schema=schema(TRANSACTIONS),
    )
    next_trade = next_business_day(next_as_of)
    keep_from = next_trade - dt.timedelta(days=transactions_days)
    transactions = pl.concat([book.transactions.select(list(schema(TRANSACTIONS))), new_tx]).filter(pl.col("date") >= keep_from)

    # ---- cash, flows, cash needs, year-to-date -------------------------------------------------------
    delta: dict[str, float] = {}
    for r in fill_frame.iter_rows(named=True):
        v = r["shares"] * r["price"]
        delta[r["account_id"]] = delta.get(r["account_id"], 0.0) + (v - r["cost"] if r["side"] == "sell" else -(v + r["cost"]))
    flow_map: dict[str, float] = {}
    if flows is not None and flows.height:
        for a, amt in flows.select(pl.col("account_id").cast(pl.String), pl.col("amount").cast(pl.Float64)).iter_rows():
            if a not in acc_ids:
                raise FillError(f"flows: account {a} is not in the book")
            if amt is None or not math.isfinite(amt):
                raise FillError(f"flows: account {a}: amount {amt!r}; expected a finite number (USD)")
            flow_map[a] = flow_map.get(a, 0.0) + amt
    new_cash: dict[str, float] = {}
    paid: dict[str, float] = {}
    need_left: dict[str, float] = {}
    for a, c0, need in accounts.select("account_id", "cash", "cash_need").iter_rows():
        c = float(c0) + delta.get(a, 0.0) + flow_map.get(a, 0.0)
        if c < -1e-6:
            if flow_map.get(a, 0.0) < 0:
                raise FillError(f"flows: account {a}: a withdrawal of {-flow_map[a]:,.2f} USD leaves cash {c:,.2f}; expected cash >= 0 (raise it first with cash_need)")
            raise FillError(f"account {a}: cash {c:,.2f} USD after the pending orders' fills; expected >= 0")
        c = max(c, 0.0)
        need = float(need or 0.0)
        if pay_cash_needs and need > 0:
            p = min(need, c)
            c -= p
            paid[a] = p
            need_left[a] = need - p
        new_cash[a] = c

    rec = realized.with_columns((pl.col("gain_loss") + pl.col("disallowed_loss")).alias("_g")) if realized.height else None
    st: dict[str, float] = {}
    lt: dict[str, float] = {}
    if rec is not None:
        for a, term, g in rec.select("account_id", "term", "_g").iter_rows():
            (lt if term == "long" else st)[a] = (lt if term == "long" else st).get(a, 0.0) + g
    same_year = next_as_of.year == book.as_of.year
    count_today = fill_date.year == next_as_of.year

    def _ytd(col: str, add: dict[str, float]) -> pl.Expr:
        base = pl.col(col).fill_null(0.0) if same_year else pl.lit(0.0)
        extra = pl.col("account_id").replace_strict(add, default=0.0, return_dtype=pl.Float64) if (add and count_today) else pl.lit(0.0)
        return pl.when(pl.col("tax_status") == "taxable").then(base + extra).otherwise(pl.col(col)).alias(col)

    acc_new = accounts.with_columns(
        pl.col("account_id").replace_strict(new_cash, return_dtype=pl.Float64).alias("cash"),
        _ytd("ytd_realized_st", st),
        _ytd("ytd_realized_lt", lt),
        (
            pl.col("account_id").replace_strict(need_left, default=None, return_dtype=pl.Float64).fill_null(pl.col("cash_need"))
            if need_left
            else pl.col("cash_need")
        ).alias("cash_need"),
    )

    # ---- prices and history: the fill day's closes dated the fill day ------------------------------
    syms = book.prices["symbol"].to_list()
    prices = pl.DataFrame(
        {"symbol": syms, "close": [float(px[s]) for s in syms], "date": [fill_date] * len(syms)}, schema=schema(PRICES)
    )
    add = [prices.select("date", "symbol", "close")]
    if price_history_append is not None and price_history_append.height:
        extra = price_history_append.select(pl.col("date").cast(pl.Date), pl.col("symbol").cast(pl.String), pl.col("close").cast(pl.Float64))
        late = extra.filter(pl.col("date") > next_as_of)
        if late.height:
            raise FillError(
                f"price_history_append: {late.height} row(s) after next_as_of {next_as_of} (first: {late['symbol'][0]} on {late['date'][0]}); "
                "expected closes dated up to next_as_of (a later close would be look-ahead)"
            )
        add.insert(0, extra)
        # each symbol's latest close up to next_as_of (the fill day's close where nothing later is given)
        latest = pl.concat([extra, add[1]]).sort("date", maintain_order=True).group_by("symbol", maintain_order=True).last()
        upd = {s: (d, c) for s, d, c in latest.select("symbol", "date", "close").iter_rows() if d > fill_date}
        if upd:
            prices = pl.DataFrame(
                {
                    "symbol": syms,
                    "close": [float(upd[s][1]) if s in upd else float(px[s]) for s in syms],
                    "date": [upd[s][0] if s in upd else fill_date for s in syms],
                },
                schema=schema(PRICES),
            )
    old_hist = book.price_history.select(list(schema(PRICE_HISTORY)))
    new_rows = pl.concat(add)
    if old_hist.height and new_rows["date"].min() > old_hist["date"].max() and not new_rows.select(pl.struct("date", "symbol").is_duplicated().any()).item():
        hist = pl.concat([old_hist, new_rows])  # only later days, none twice: nothing to replace
    else:
        hist = pl.concat([old_hist, new_rows]).unique(["date", "symbol"], keep="last", maintain_order=True)

    nb = replace(
        book,
        as_of=next_as_of,
        trade_date=next_trade,
        prices=prices,
        price_history=hist,
        accounts=acc_new,
        lots=lots,
        transactions=transactions,
        pending_orders=empty_frame(PENDING_ORDERS),
        input_hash="",
        warnings=(),
        source=None,
    )
    return Fills(
        book=nb,
        fills=fill_frame,
        realized=realized,
        trimmed=pl.DataFrame(trimmed, schema=TRIM_SCHEMA, orient="row"),
        cash_paid=pl.DataFrame(list(paid.items()), schema={"account_id": pl.String(), "paid": pl.Float64()}, orient="row"),
        forward_wash_risk=forward,
    )


def apply_fills(
    book: Book,
    orders: pl.DataFrame | None,
    *,
    fill_prices: Mapping[str, float] | pl.DataFrame,
    next_as_of: dt.date,
    price_history_append: pl.DataFrame | None = None,
    flows: pl.DataFrame | None = None,
    trading_costs: bool = True,
    pay_cash_needs: bool = True,
    transactions_days: int = DEFAULT_TRANSACTION_DAYS,
) -> Book:
    """The next day's `Book` after the pending orders and `orders` fill (see `fill_day` and the module
    docstring). Pure: `book` is not changed."""
    return fill_day(
        book,
        orders,
        fill_prices=fill_prices,
        next_as_of=next_as_of,
        price_history_append=price_history_append,
        flows=flows,
        trading_costs=trading_costs,
        pay_cash_needs=pay_cash_needs,
        transactions_days=transactions_days,
    ).book


def _values(book: Book, px: Mapping[str, float]) -> dict[str, float]:
    """Account values at the fill prices (lots + cash), USD."""
    lots = book.lots.select("account_id", "symbol", "shares")
    v = lots.with_columns(pl.col("symbol").replace_strict(px, default=0.0, return_dtype=pl.Float64).alias("p")).group_by("account_id").agg(
        (pl.col("shares") * pl.col("p")).sum().alias("v")
    )
    out = dict(zip(book.accounts["account_id"].to_list(), book.accounts["cash"].to_list()))
    for a, x in v.iter_rows():
        if a in out:
            out[a] += x
    return out


def _restore_empty(new_lots: pl.DataFrame, old_lots: pl.DataFrame) -> pl.DataFrame:
    """Keep an empty basis / acquired (tax-deferred, tax-exempt lots) empty: the ledger opens them at 0."""
    if not old_lots.select(pl.any_horizontal(pl.col("cost_basis", "acquired", "purchase_date").is_null()).any()).item():
        return new_lots.select(list(schema(LOTS)))  # nothing empty to keep (the join would change nothing)
    old = old_lots.select(
        "account_id",
        pl.col("lot_id").alias("parent_lot_id"),
        pl.col("cost_basis").is_null().alias("_nb"),
        pl.col("acquired").is_null().alias("_na"),
        pl.col("purchase_date").is_null().alias("_np"),
    )
    out = new_lots.join(old, on=["account_id", "parent_lot_id"], how="left")
    return out.with_columns(
        pl.when(pl.col("_nb").fill_null(False)).then(None).otherwise(pl.col("cost_basis")).alias("cost_basis"),
        pl.when(pl.col("_na").fill_null(False)).then(None).otherwise(pl.col("acquired")).alias("acquired"),
        pl.when(pl.col("_np").fill_null(False)).then(None).otherwise(pl.col("purchase_date")).alias("purchase_date"),
    ).select(list(schema(LOTS)))


def _forward_wash_risk(
    book: Book, fills: pl.DataFrame, household: Mapping[str, str], taxable: set[str], sec: pl.DataFrame
) -> pl.DataFrame:
    empty = pl.DataFrame(schema={"account_id": pl.String(), "symbol": pl.String()})
    buys = fills.filter(pl.col("side") == "buy")
    tx = book.transactions
    if not buys.height or not tx.height:
        return empty
    group = dict(zip(sec["symbol"].to_list(), sec["wash_group"].to_list()))
    since = book.trade_date - dt.timedelta(days=30)
    losses = {
        (household.get(a, a), group.get(s, s))
        for a, s, g, d in tx.filter(pl.col("side") == "sell").select("account_id", "symbol", "realized_gain", "date").iter_rows()
        if a in taxable and g is not None and g < 0 and d >= since
    }
    rows = [(a, s) for a, s in buys.select("account_id", "symbol").iter_rows() if (household.get(a, a), group.get(s, s)) in losses]
    return pl.DataFrame(rows, schema={"account_id": pl.String(), "symbol": pl.String()}, orient="row") if rows else empty
