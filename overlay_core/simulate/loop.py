"""The day loop: review a day, fill its orders at the next business day's closes, roll the book, repeat.

`simulate(upload_dir_or_book, days=N, ...)`, for day k = 1..N:

1. writes the day's upload to ``DIR/day_<as_of>/`` in the contract's CSV format (`upload.write_upload`)
   and reads it back with `upload.read_upload` (so every day's review sees exactly the files written,
   validated as any upload is);
2. reviews it with `review_fn` (default: the daily review of the whole book, `review.daily.review_book`,
   with the previous simulated day as its previous day, stored as a run of kind ``simulation`` in
   `store` when one is given, else a dry run), and writes ``trades_<as_of>.csv`` (+ ``.ok``) and
   ``review_<as_of>.csv`` beside the upload (`export.write_trade_file` / `write_review_file`);
3. fills the pending orders and the day's orders at the trade date's closes (`fills.fill_day`) and rolls
   the book to the trade date (the next NYSE business day), with that day's flows.

Closes come from `prices` (any `market.PriceSource`: a user's price file, the real history, ...;
a date it lacks for a symbol is forward-filled from its last close on or before) or, by default, from
the market simulator seeded with `seed`, started at the book's `as_of` on the book's own closes
(`market.SimulatedSource(securities, start=as_of, days=N + 1, start_prices=closes)`; an asset class
the market model does not know is simulated as a generic one, `market_universe`): the path continues
from the upload's last closes, and the same seed gives the same path, orders and files.

The orders of the last reviewed day are filled too, so `SimulationResult.book` is the book after N days
of trading (as of the (N+1)-th business day).
"""

from __future__ import annotations

import datetime as dt
import math
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import polars as pl

from overlay_core.book import Book
from overlay_core.errors import ConfigError, DataError
from overlay_core.export import write_review_file, write_trade_file
from overlay_core.market.model import MarketModel
from overlay_core.market.prices import PriceSource, SimulatedSource
from overlay_core.simulate.fills import Fills, fill_day
from overlay_core.simulate.review import ReviewFn, ReviewOutput, default_review_fn
from overlay_core.upload import read_upload, write_upload

DAY_SCHEMA: dict[str, pl.DataType] = {
    "day": pl.Int64(),
    "as_of": pl.Date(),
    "trade_date": pl.Date(),
    "run_id": pl.String(),
    "accounts": pl.Int64(),
    "traded": pl.Int64(),
    "errors": pl.Int64(),
    "orders": pl.Int64(),
    "traded_value": pl.Float64(),
    "book_value": pl.Float64(),
    "turnover": pl.Float64(),
    "realized_gain": pl.Float64(),
    "losses_harvested": pl.Float64(),
    "est_tax": pl.Float64(),
    "median_te_before": pl.Float64(),
    "median_te_after": pl.Float64(),
    "trimmed_buys": pl.Int64(),
    "forward_wash_risk": pl.Int64(),
    "review_seconds": pl.Float64(),
    "day_seconds": pl.Float64(),
}


@dataclass(frozen=True)
class SimulationResult:
    """What a simulation did.

    Attributes
    ----------
    days : one row per reviewed day (DAY_SCHEMA): orders, traded value (USD, at the fill prices),
        book value (USD, at the day's closes), turnover (traded value / book value), realized gain and
        losses harvested at the fills (taxable accounts, USD), the review's estimated tax, the median
        ex-ante tracking error before/after over the accounts reviewed, buys trimmed by the cash guard,
        buys that may replace an earlier day's loss (`fills.Fills.forward_wash_risk`; 0 when the review
        obeys rule (b)).
    book : the book after the last day's fills (as of the business day after the last reviewed day).
    day_dirs : ``DIR/day_<as_of>/`` of every reviewed day, in order.
    run_ids : the review run of every day.
    fills : the fill record of every day (`fills.Fills`, without its book).
    """

    days: pl.DataFrame
    book: Book
    day_dirs: tuple[Path, ...]
    run_ids: tuple[str, ...]
    fills: tuple[Fills, ...] = ()

    def totals(self) -> dict[str, float]:
        d = self.days
        if not d.height:
            return {}
        return {
            "days": float(d.height),
            "orders": float(d["orders"].sum()),
            "traded_value": float(d["traded_value"].sum()),
            "mean_turnover": float(d["turnover"].mean()),
            "realized_gain": float(d["realized_gain"].sum()),
            "losses_harvested": float(d["losses_harvested"].sum()),
            "est_tax": float(d["est_tax"].sum()),
            "review_seconds": float(d["review_seconds"].sum()),
            "day_seconds": float(d["day_seconds"].sum()),
        }


def market_universe(securities: pl.DataFrame, model: MarketModel | None = None) -> pl.DataFrame:
    """The securities as the simulator's universe: an asset class the market model does not know (by
    any accepted spelling) is simulated as the nearest generic class -- ``us_aggregate_bond`` for a
    bond type or a class named ``*bond*``/``*fixed*``, ``cash`` for cash equivalents, ``intl_developed``
    for a class named ``intl*``, else ``us_large_cap``."""
    model = model or MarketModel()

    def fix(ac: str, typ: str) -> str:
        if model.canonical_asset_class(ac) is not None:
            return ac
        low = ac.lower()
        if typ == "cash_equivalent":
            return "cash"
        if typ == "bond" or "bond" in low or "fixed" in low:
            return "us_aggregate_bond"
        if low.startswith("intl") or "international" in low:
            return "intl_developed"
        return "us_large_cap"

    fixed = [fix(a, t) for a, t in zip(securities["asset_class"].to_list(), securities["type"].to_list())]
    return securities.with_columns(pl.Series("asset_class", fixed, dtype=pl.String))


def _book_value(book: Book) -> float:
    px = book.prices.select("symbol", "close")
    held = book.lots.join(px, on="symbol", how="left").select((pl.col("shares") * pl.col("close")).sum()).item() or 0.0
    return float(held) + float(book.accounts["cash"].sum())


def _median(values: list[float]) -> float | None:
    v = [x for x in values if x is not None and math.isfinite(x)]
    return statistics.median(v) if v else None


def _closes(source: PriceSource, symbols: list[str], day: dt.date) -> dict[str, float]:
    got = source.closes(symbols, [day], missing="ffill")
    return dict(zip(got["symbol"].to_list(), got["close"].to_list()))


def _flows_of(flows: pl.DataFrame | None, day: dt.date) -> pl.DataFrame | None:
    if flows is None or not flows.height:
        return None
    if "date" in flows.columns:
        f = flows.filter(pl.col("date").cast(pl.Date) == day)
        return f.select("account_id", "amount") if f.height else None
    return None


def simulate(
    upload: str | Path | Book,
    *,
    days: int,
    out_dir: str | Path,
    prices: PriceSource | None = None,
    seed: int = 0,
    store: Any = None,
    review_fn: ReviewFn | None = None,
    workers: int | None = 0,
    flows: pl.DataFrame | None = None,
    trading_costs: bool = True,
    on_day: Callable[[dict[str, Any]], None] | None = None,
) -> SimulationResult:
    """Run the day loop for `days` business days (module docstring).

    Parameters
    ----------
    upload : an upload folder (read with `read_upload`) or a `Book`.
    days : reviewed days, >= 1.
    out_dir : where ``day_<as_of>/`` folders are written (created if missing).
    prices : a `PriceSource` for the fill days' closes (forward-filled); default the seeded simulator.
    seed : the simulator's seed (ignored when `prices` is given).
    store : an open writable `Store`: every day's upload and review run are stored (default review).
    review_fn : the whole book's review, ``fn(book) -> ReviewOutput``; default
        `simulate.review.default_review_fn(store=store, workers=workers)` (`review.daily.review_book`).
    workers : local worker processes of the default review (0: in this process; None: one per core).
    flows : contributions/withdrawals: date (the fill day), account_id, amount (USD, < 0 a withdrawal).
    trading_costs : charge ``cost_bps`` on fills (see `fills`).
    on_day : called after each day with that day's row of `SimulationResult.days` (a dict).

    Raises
    ------
    ConfigError : ``days < 1``. DataError / UploadRefused : a refused upload (day 1 or a rolled day).
    """
    if days < 1:
        raise ConfigError(f"--days {days}; expected at least 1")
    book = upload if isinstance(upload, Book) else read_upload(upload)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    review = review_fn or default_review_fn(store=store, workers=workers, kind="simulation")
    if prices is None:
        prices = SimulatedSource(market_universe(book.securities), start=book.as_of, days=days + 1, seed=seed, start_prices=dict(book.price_map))
    sec = book.securities
    types = dict(zip(sec["symbol"].to_list(), sec["type"].to_list()))
    incs = {s: v for s, v in zip(sec["symbol"].to_list(), sec["trade_increment"].to_list()) if v is not None}
    if flows is not None and flows.height and "date" not in flows.columns:
        raise ConfigError("flows: a date column is needed (the fill day of each contribution or withdrawal)")

    rows: list[dict[str, Any]] = []
    dirs: list[Path] = []
    run_ids: list[str] = []
    fill_log: list[Fills] = []
    for k in range(1, days + 1):
        t_day = time.perf_counter()
        day_dir = out / f"day_{book.as_of.isoformat()}"
        write_upload(book, day_dir)
        book = read_upload(day_dir, trade_date=book.trade_date)
        t0 = time.perf_counter()
        rev: ReviewOutput = review(book)
        review_s = time.perf_counter() - t0
        write_trade_file(rev.orders, day_dir, as_of=book.as_of, run_id=rev.run_id or None, trade_date=book.trade_date, security_types=types, trade_increments=incs)
        write_review_file(rev.results, day_dir, as_of=book.as_of)
        value = _book_value(book)
        fill_date = book.trade_date
        try:
            px = _closes(prices, book.prices["symbol"].to_list(), fill_date)
        except DataError as exc:
            raise DataError(f"day {k}: no closes for the fill day {fill_date} in {prices.name}", exc.problems) from exc
        f = fill_day(book, rev.orders, fill_prices=px, next_as_of=fill_date, flows=_flows_of(flows, fill_date), trading_costs=trading_costs)
        res = rev.results
        traded_value = float((f.fills["shares"] * f.fills["price"]).sum()) if f.fills.height else 0.0
        row = {
            "day": k,
            "as_of": book.as_of,
            "trade_date": fill_date,
            "run_id": rev.run_id,
            "accounts": res.height,
            "traded": int((res["decision"] == "trade").sum()) if res.height else 0,
            "errors": int((res["decision"] == "error").sum()) if res.height else 0,
            "orders": rev.orders.height,
            "traded_value": traded_value,
            "book_value": value,
            "turnover": traded_value / value if value > 0 else 0.0,
            "realized_gain": f.realized_gain,
            "losses_harvested": f.losses_harvested,
            "est_tax": float(res["est_tax"].fill_null(0.0).sum()) if "est_tax" in res.columns else 0.0,
            "median_te_before": _median(res["te_before"].to_list()) if "te_before" in res.columns else None,
            "median_te_after": _median(res["te_after"].to_list()) if "te_after" in res.columns else None,
            "trimmed_buys": f.trimmed.height,
            "forward_wash_risk": f.forward_wash_risk.height,
            "review_seconds": review_s,
            "day_seconds": time.perf_counter() - t_day,
        }
        rows.append(row)
        dirs.append(day_dir)
        run_ids.append(rev.run_id)
        fill_log.append(Fills(book=f.book, fills=f.fills, realized=f.realized, trimmed=f.trimmed, cash_paid=f.cash_paid, forward_wash_risk=f.forward_wash_risk))
        book = f.book
        if on_day is not None:
            on_day(row)
    # keep only the last book alive in the fill log (memory): earlier books are on disk
    log = tuple(Fills(book=book, fills=x.fills, realized=x.realized, trimmed=x.trimmed, cash_paid=x.cash_paid, forward_wash_risk=x.forward_wash_risk) for x in fill_log)
    return SimulationResult(days=pl.DataFrame(rows, schema=DAY_SCHEMA), book=book, day_dirs=tuple(dirs), run_ids=tuple(run_ids), fills=log)
