"""The review of a whole book as the day loop and the cascade call it: `ReviewOutput = review_fn(book)`.

The default (`default_review_fn`) is the daily review of issue 7, `review.daily.review_book`: data
checks, every account screened, the accounts that need trades optimized, evidence stored.

`optimizer_review` is the first version of the day loop's review, kept so that `audit.rerun_orders`
can reproduce runs stored with its `CODE_VERSION`; the loop and the cascade no longer use it. It is
the optimizer's `rebalance_account` over **every** account (no screen), run through the review
driver (`review.review_accounts`: whole households per batch, the local pool or in-process, per-account
failure isolation, each batch stored with the run's evidence), with **household wash-sale
coordination**: the accounts of a household are optimized one after the other, and the orders already
decided for its earlier accounts are shown to the later ones as *pending orders* (which the tax engine
treats as trades of the trade date: a pending buy blocks a loss sale of its wash group in the household,
rule (a); a pending loss sale blocks buys of the group, rule (b)). The trade file of the whole book
therefore obeys the contract's household-wide wash-sale rule.

What the per-account review adds on top of the optimizer is the `AccountReview` mapping
(`account_review`). Quarantined accounts get decision ``error`` with their reason.
"""

from __future__ import annotations

import datetime as dt
import time

from types import MappingProxyType
from typing import Any, Callable, Mapping

import polars as pl

from overlay_core.book import Book
from overlay_core.contract import TRADE_FILE_COLUMNS
from overlay_core.review.driver import RESULT_SCHEMA, batch_frames, review_accounts
from overlay_core.review.runner import BatchResult, RunStats

CODE_VERSION = "simulate-optimizer-review-1"

# The household function, ReviewOutput and ORDERS_SCHEMA live in overlay_core.review.optimizer (shared
# with the daily review, review.daily.review_book); re-exported here for the day loop and the cascade.
from overlay_core.review.optimizer import (  # noqa: E402,F401
    ORDERS_SCHEMA,
    HouseholdReview,
    ReviewOutput,
    _as_pending,
    _context,
    _Context,
    _household_book,
    _touches,
    account_review,
    review_household,
)

#: what the day loop and the cascade call: the whole book's review
ReviewFn = Callable[[Book], ReviewOutput]


def optimizer_review(
    book: Book,
    *,
    store: Any = None,
    kind: str = "review",
    settings: Mapping[str, Any] | None = None,
    workers: int | None = 0,
    progress: bool = False,
    fresh: bool = False,
) -> ReviewOutput:
    """Review every account of `book` with the optimizer (module docstring); store the run if `store`.

    Parameters
    ----------
    book : the day's book.
    store : an open writable `Store`: the upload is saved, a run of `kind` begun, each batch's results and
        orders saved as it completes (a killed run resumes), and the run finished with a summary.
        ``None``: nothing stored (a dry run).
    settings : recorded with the run (they enter its deterministic id).
    workers : local worker processes (``0``: in this process; ``None``: one per core).
    fresh : start a new attempt of an already stored run instead of resuming it.

    Returns
    -------
    ReviewOutput with every account's result (quarantined accounts: ``error`` with the reason).
    """
    t0 = time.perf_counter()
    run_id = ""
    upload_id = None
    if store is not None:
        upload_id = store.save_upload(book)
        run_id = store.begin_run(
            upload_id=upload_id,
            as_of=book.as_of,
            trade_date=book.trade_date,
            input_hash=book.input_hash,
            code_version=CODE_VERSION,
            settings=dict(settings or {}),
            kind=kind,
            fresh=fresh,
        )
    else:
        run_id = f"dry-{book.as_of:%Y%m%d}-{(book.input_hash or 'book')[:12]}"
    batches: list[BatchResult] = []
    stats = RunStats()
    review_accounts(
        book,
        review_household,
        store=store,
        run_id=run_id if store is not None else None,
        workers=workers,
        progress=progress,
        stats=stats,
        on_batch=batches.append,
    )
    res_parts: list[pl.DataFrame] = []
    ord_parts: list[pl.DataFrame] = []
    for b in batches:
        r, o = batch_frames(b, run_id=run_id, as_of=book.as_of, trade_date=book.trade_date)
        res_parts.append(r)
        if o is not None:
            ord_parts.append(o)
    if store is not None:
        # accounts stored by an earlier, killed attempt of this run
        done = store.run_results(run_id)
        have = {a for r in res_parts for a in r["account_id"].to_list()}
        prev = done.filter(~pl.col("account_id").is_in(list(have)))
        if prev.height:
            res_parts.append(prev.select([c for c in RESULT_SCHEMA if c in prev.columns]))
            po = store.run_orders(run_id).filter(pl.col("account_id").is_in(prev["account_id"].to_list()))
            if po.height:
                ord_parts.append(po.select([c for c in TRADE_FILE_COLUMNS if c in po.columns]))
    q = book.quarantined
    if q.height:
        res_parts.append(
            pl.DataFrame(
                {"account_id": q["account_id"], "decision": ["error"] * q.height, "reasons": ["quarantined"] * q.height, "error": q["reason"]}
            )
        )
    results = pl.concat(res_parts, how="diagonal_relaxed") if res_parts else pl.DataFrame(schema=RESULT_SCHEMA)
    results = results.sort("account_id")
    orders = (
        pl.concat([o.select([pl.col(c).cast(t) if c in o.columns else pl.lit(None, dtype=t).alias(c) for c, t in ORDERS_SCHEMA.items()]) for o in ord_parts])
        if ord_parts
        else pl.DataFrame(schema=ORDERS_SCHEMA)
    )
    seconds = time.perf_counter() - t0
    if store is not None:
        store.finish_run(run_id, _summary(results, orders, seconds))
    return ReviewOutput(orders=orders, results=results, run_id=run_id, seconds=seconds, stats=MappingProxyType({"batches": stats.batches, "errors": stats.errors}))


def _summary(results: pl.DataFrame, orders: pl.DataFrame, seconds: float) -> dict[str, Any]:
    dec = dict(results.group_by("decision").len().iter_rows()) if results.height else {}
    return {
        "accounts": results.height,
        "decisions": {k: int(v) for k, v in dec.items()},
        "orders": orders.height,
        "est_tax": float(results["est_tax"].fill_null(0.0).sum()) if "est_tax" in results.columns else 0.0,
        "losses_harvested": float(results["losses_harvested"].fill_null(0.0).sum()) if "losses_harvested" in results.columns else 0.0,
        "wall_seconds": seconds,
    }


def default_review_fn(*, store: Any = None, workers: int | None = 0, kind: str = "simulation") -> ReviewFn:
    """The day loop's default `ReviewFn`: the daily review of the whole book, `review.daily.review_book`,
    bound to a store and workers and remembering the book it reviewed last.

    Each call runs ``review_book(book, store=store, out_dir=None, workers=workers, kind=kind,
    previous=<the book of the previous call>, dry_run=store is None)``: the data checks and model
    changes compare with the previous simulated day (on the first call, with the store's previous
    upload, if any); without a store it is a dry run (nothing stored; run id ``dry-<YYYYMMDD>-...``).
    The loop writes the day's trade and review files itself.
    """
    from overlay_core.review.daily import review_book

    last: list[Book | None] = [None]

    def fn(book: Book) -> ReviewOutput:
        out = review_book(
            book, store=store, out_dir=None, workers=workers, kind=kind, progress=False, previous=last[0], dry_run=store is None
        )
        last[0] = book
        return out

    return fn


def review_day_stamp(book: Book) -> dt.date:
    return book.as_of
