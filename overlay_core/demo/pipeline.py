"""The embedded demo with its history: `build_demo(...)` makes the upload everyone reviews as "today"
and the store export of the firm's 20 daily reviews before it.

1. the market is simulated once through the demo's as_of (`generate.simulate_market`, the same path as
   a book generated at the as_of);
2. the book is generated at the start day S, `history_days` NYSE business days before the as_of, on that
   path's closes up to S (`generate.generate_book(..., as_of=S, market_end=as_of)`);
3. the day loop (`simulate.loop.simulate`) reviews it for `history_days` days with the real daily review
   (`review.daily.review_book`, stored as runs of kind ``review``: the firm's past daily reviews), filling
   each day's orders at the next day's closes of the same path (`market.prices.FramePriceSource`); on
   each fill day about 2% of the active accounts receive a contribution (`history_flows`), which the
   next review invests;
4. the book after the last day's fills is as of the demo's as_of: new cash needs and a few pending
   orders are drawn on it (`finish_book`: what arrived since the last review, as `generate_book` draws
   it) and it is written as the upload (`generate.write_book`); the runs and their uploads are exported with
   `store.export_runs` (Parquet + manifest.json).

`overlay generate --history-days 20 --history-out data/demo_history --out data/demo` runs it.
Deterministic for a seed (whatever the workers). See docs/demo_book.md.
"""

from __future__ import annotations

import datetime as dt
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable

import numpy as np
import polars as pl

from overlay_core import calendar
from overlay_core.book import Book
from overlay_core.errors import ConfigError
from overlay_core.demo.generate import (
    DEMO_ACCOUNTS,
    DEMO_AS_OF,
    DEMO_SEED,
    HISTORY_YEARS,
    P_CASH_NEED,
    _pending_orders,
    generate_book,
    simulate_market,
    write_book,
)

#: business days of daily reviews shipped with the embedded demo (data/demo_history)
HISTORY_DAYS = 20
#: share of the active accounts that receive a contribution on each history day (1-5% of their value)
CONTRIBUTION_RATE = 0.02


def history_start(as_of: dt.date, days: int = HISTORY_DAYS) -> dt.date:
    """The first reviewed day of a history of `days` NYSE business days ending the day before `as_of`."""
    if days < 1:
        raise ConfigError(f"history days: found {days}; expected at least 1")
    day = as_of
    for _ in range(days):
        day = calendar.previous_business_day(day)
    return day


def history_dates(as_of: dt.date, days: int = HISTORY_DAYS) -> list[dt.date]:
    """The `days` NYSE business days before `as_of`, ascending (the history's review days)."""
    start = history_start(as_of, days)
    return [d for d in calendar.business_days(start, as_of) if d < as_of]


def start_book(
    *,
    n_accounts: int = DEMO_ACCOUNTS,
    seed: int = DEMO_SEED,
    as_of: dt.date = DEMO_AS_OF,
    history_days: int = HISTORY_DAYS,
    history_years: int = HISTORY_YEARS,
    workers: int = 1,
) -> Book:
    """The book on the history's first day (`history_start`), on the market path through `as_of`."""
    return generate_book(
        n_accounts=n_accounts, seed=seed, as_of=history_start(as_of, history_days), history_years=history_years,
        workers=workers, market_end=as_of,
    )


def history_flows(book: Book, dates: list[dt.date], *, seed: int, rate: float = CONTRIBUTION_RATE) -> pl.DataFrame:
    """Contributions of the history days: on each date, each active account of `book` with probability
    `rate` deposits 1-5% of its value (at the book's closes), rounded to USD 100 (at least 100).

    Returns date (the fill day it lands on), account_id, amount (USD > 0), as `simulate.loop.simulate` takes.
    """
    rng = np.random.default_rng([seed, 3])
    px = book.prices.select("symbol", "close")
    value = (
        book.lots.join(px, on="symbol", how="left")
        .group_by("account_id")
        .agg((pl.col("shares") * pl.col("close")).sum().alias("v"))
    )
    acc = book.accounts.join(value, on="account_id", how="left").filter(pl.col("status") == "active")
    ids = acc["account_id"].to_list()
    total = (acc["v"].fill_null(0.0) + acc["cash"]).to_numpy()
    rows: list[tuple[dt.date, str, float]] = []
    for d in dates:
        pick = rng.random(len(ids)) < rate
        share = rng.uniform(0.01, 0.05, len(ids))
        for i in np.flatnonzero(pick):
            rows.append((d, ids[i], float(max(100.0, round(total[i] * share[i], -2)))))
    return pl.DataFrame(rows, schema={"date": pl.Date, "account_id": pl.String, "amount": pl.Float64}, orient="row")


def finish_book(book: Book, *, seed: int) -> Book:
    """The history's last book as the upload of the as_of: what arrived since the last review, drawn as
    `generate_book` draws it -- new cash needs (accounts without one, rate `generate.P_CASH_NEED`, 1-8% of
    the value rounded to USD 100; the reviews met the earlier ones) and a few pending orders (~1% of the
    active accounts)."""
    rng = np.random.default_rng([seed, 2])
    pending = _pending_orders(
        book.accounts, book.lots.with_columns(pl.col("cost_basis").fill_null(0.0)), dict(book.price_map), book.restrictions, rng
    )
    px = book.prices.select("symbol", "close")
    value = book.lots.join(px, on="symbol", how="left").group_by("account_id").agg((pl.col("shares") * pl.col("close")).sum().alias("_v"))
    acc = book.accounts.join(value, on="account_id", how="left")
    n = acc.height
    total = (acc["_v"].fill_null(0.0) + acc["cash"]).to_numpy()
    draw = np.where(rng.random(n) < P_CASH_NEED, np.round(total * rng.uniform(0.01, 0.08, n), -2), np.nan)
    new_need = pl.Series("_need", draw).fill_nan(None)
    acc = acc.with_columns(new_need).with_columns(
        pl.when(pl.col("cash_need").fill_null(0.0).le(0.0) & (pl.col("_need") > 0)).then(pl.col("_need")).otherwise(pl.col("cash_need")).alias("cash_need")
    ).drop("_v", "_need")
    return replace(book, accounts=acc, pending_orders=pending, source=None, input_hash="")


@dataclass(frozen=True)
class DemoBuild:
    """What `build_demo` made.

    Attributes
    ----------
    book : the upload of the demo's as_of (after the history's fills, with new pending orders).
    days : the day loop's record (`simulate.loop.DAY_SCHEMA`), one row per history day.
    run_ids : the history's review runs, in day order.
    upload_dir, history_dir : where they were written (None when not written).
    timings : wall seconds of each stage: market, start_book, history, export, write.
    """

    book: Book
    days: pl.DataFrame
    run_ids: tuple[str, ...]
    upload_dir: Path | None
    history_dir: Path | None
    timings: dict[str, float]


def build_demo(
    *,
    upload_out: str | Path | None,
    history_out: str | Path | None,
    n_accounts: int = DEMO_ACCOUNTS,
    seed: int = DEMO_SEED,
    as_of: dt.date = DEMO_AS_OF,
    history_days: int = HISTORY_DAYS,
    history_years: int = HISTORY_YEARS,
    workers: int = 1,
    contribution_rate: float = CONTRIBUTION_RATE,
    on_day: Callable[[dict[str, Any]], None] | None = None,
) -> DemoBuild:
    """Generate the demo book with `history_days` days of stored daily reviews before `as_of` (module docstring).

    Parameters
    ----------
    upload_out : folder of the upload of `as_of` (written with `write_book`, CSV), or None.
    history_out : folder of the history's export (`store.export_runs`), or None.
    n_accounts, seed, history_years : as `generate.generate_book`.
    as_of : the demo's as_of (a NYSE business day): the upload's date; the history ends the day before.
    history_days : reviewed days (>= 1).
    workers : processes of the book's generation and of each day's review.
    contribution_rate : share of active accounts with a contribution each day (`history_flows`).
    on_day : called after each history day with its row of the day loop's record.
    """
    from overlay_core.demo.universe import build_universe
    from overlay_core.market.prices import FramePriceSource
    from overlay_core.simulate.loop import simulate
    from overlay_core.simulate.review import default_review_fn
    from overlay_core.store import Store, export_runs

    if not calendar.is_business_day(as_of):
        raise ConfigError(f"as_of: found {as_of}, not a NYSE business day; expected a business day")
    timings: dict[str, float] = {}
    t = time.perf_counter()
    px = simulate_market(build_universe(), as_of=as_of, seed=seed, years=history_years)
    timings["market"] = time.perf_counter() - t
    t = time.perf_counter()
    book0 = start_book(n_accounts=n_accounts, seed=seed, as_of=as_of, history_days=history_days, history_years=history_years, workers=workers)
    timings["start_book"] = time.perf_counter() - t
    fill_days = [*history_dates(as_of, history_days)[1:], as_of]
    flows = history_flows(book0, fill_days, seed=seed, rate=contribution_rate)
    with tempfile.TemporaryDirectory(prefix="overlay-demo-") as tmp:
        with Store.open(Path(tmp) / "history.duckdb", publish=False) as st:
            t = time.perf_counter()
            res = simulate(
                book0,
                days=history_days,
                out_dir=Path(tmp) / "days",
                prices=FramePriceSource(px, name="the demo's simulated market"),
                store=st,
                review_fn=default_review_fn(store=st, workers=workers, kind="review"),
                workers=workers,
                flows=flows,
                on_day=on_day,
            )
            timings["history"] = time.perf_counter() - t
            t = time.perf_counter()
            hist_dir = None
            if history_out is not None:
                hist_dir = export_runs(st, history_out, run_ids=list(res.run_ids)).folder
            timings["export"] = time.perf_counter() - t
    book = res.book
    if book.as_of != as_of:  # a bug of the loop or the calendar, not a user's mistake
        raise RuntimeError(f"the history ended at {book.as_of}, not at the as_of {as_of}")
    book = finish_book(book, seed=seed)
    t = time.perf_counter()
    up_dir = write_book(book, upload_out) if upload_out is not None else None
    timings["write"] = time.perf_counter() - t
    return DemoBuild(book=book, days=res.days, run_ids=res.run_ids, upload_dir=up_dir, history_dir=hist_dir, timings=timings)


# --------------------------------------------------------------------------------------------------
# the shipped history


def demo_history_dir() -> Path | None:
    """The embedded demo's history export, `data/demo_history/` of the repository (`market.history.data_dir`),
    or None when it is missing (a package installed without the repository's data)."""
    from overlay_core.market.history import data_dir
    from overlay_core.store._transfer import MANIFEST

    folder = data_dir() / "demo_history"
    return folder if (folder / MANIFEST).is_file() else None


def history_fits(manifest: dict[str, Any], book: Book) -> bool:
    """Whether a history export ends right before `book`: its last review's trade date is the book's as_of."""
    runs = manifest.get("runs") or []
    return bool(runs) and max(dt.date.fromisoformat(r["trade_date"]) for r in runs) == book.as_of


def import_history(store: Any, book: Book, folder: str | Path | None = None) -> tuple[str, Any]:
    """Import the demo's history (default `demo_history_dir()`) into `store` when it ends right before `book`.

    Returns (status, summary): ``("imported", TransferSummary)``, ``("present", TransferSummary)`` (the
    store held every run already), ``("missing", None)`` (no history folder) or ``("other", None)`` (the
    history does not end before this book, e.g. another upload or as_of).

    Raises
    ------
    StoreError : the store holds other runs on the history's days, or the export is damaged.
    """
    from overlay_core.store import import_runs, read_manifest

    src = Path(folder) if folder is not None else demo_history_dir()
    if src is None or not src.is_dir():
        return "missing", None
    if not history_fits(read_manifest(src), book):
        return "other", None
    summary = import_runs(store, src)
    return ("imported" if summary.runs else "present"), summary
