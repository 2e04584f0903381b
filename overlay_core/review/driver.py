"""The driver side of the daily review: partition, run, store each completed batch, resume.

The per-account work is ONE pluggable function, a household function
``review_household(shared, account_ids) -> {account_id: AccountReview}`` (or an account function
wrapped with `per_account`). Everything else — batching whole households, the local pool or Dask,
failure isolation, crash retry, storing each batch in one transaction, skipping accounts a killed run
already stored — is here and in `runner.py`, and is the same whatever the function does.

The optimizer plugs in as::

    def review_household(book, account_ids):          # runs in a worker
        return {a: to_account_review(rebalance_account(book, a, ...)) for a in account_ids}

    results = review_accounts(book, review_household, store=store, run_id=run_id)
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Callable, Iterable, Mapping

import polars as pl

from overlay_core.errors import OverlayError
from overlay_core.review.partition import DEFAULT_MIN_ACCOUNTS, partition_book
from overlay_core.review.runner import BatchResult, HouseholdFn, RunStats, run_batches

DECISIONS = ("trade", "no_trade", "held", "error")


@dataclass(frozen=True)
class AccountReview:
    """What the review decided for one account (what the plugged-in function returns per account).

    Attributes
    ----------
    decision : trade | no_trade | held | error.
    reasons : why (e.g. ``drift``, ``tax_loss_harvest``, ``data_check``); joined with ``;`` in files.
    drift_before, drift_after : the account's drift measure (fraction of value).
    te_before, te_after : ex-ante tracking error (annualized fraction).
    est_tax : estimated tax of the orders (USD; negative = a tax saving).
    losses_harvested : realized losses of the orders (USD, >= 0).
    turnover : traded value / account value, one side (fraction).
    error : the message when decision is error.
    orders : the account's order lines (the trade file's columns but run_id/as_of/trade_date, which the
        driver fills), or None.
    extra : other evidence (solver, status, seconds, iterations, objective, explanation, ...): stored
        as columns of the store when it knows them, else in its JSON ``detail``.
    """

    decision: str
    reasons: tuple[str, ...] = ()
    drift_before: float | None = None
    drift_after: float | None = None
    te_before: float | None = None
    te_after: float | None = None
    est_tax: float | None = None
    losses_harvested: float | None = None
    turnover: float | None = None
    error: str | None = None
    orders: pl.DataFrame | None = None
    extra: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    def __post_init__(self) -> None:
        if self.decision not in DECISIONS:
            raise OverlayError(f"AccountReview decision {self.decision!r}; expected one of {', '.join(DECISIONS)}")


RESULT_SCHEMA: dict[str, pl.DataType] = {
    "account_id": pl.String(),
    "decision": pl.String(),
    "reasons": pl.String(),
    "drift_before": pl.Float64(),
    "drift_after": pl.Float64(),
    "te_before": pl.Float64(),
    "te_after": pl.Float64(),
    "est_tax": pl.Float64(),
    "losses_harvested": pl.Float64(),
    "n_orders": pl.Int64(),
    "turnover": pl.Float64(),
    "error": pl.String(),
    "seconds": pl.Float64(),
}


def batch_frames(
    res: BatchResult, *, run_id: str, as_of: dt.date, trade_date: dt.date
) -> tuple[pl.DataFrame, pl.DataFrame | None]:
    """One batch as the store's frames: results [RESULT_SCHEMA + extra columns] and orders (or None).

    An account whose function raised gets decision ``error`` and the message; a value that is not an
    `AccountReview` is an error too (the plugged-in function broke its contract).
    """
    rows: list[dict[str, Any]] = []
    orders: list[pl.DataFrame] = []
    for o in res.outcomes:
        v = o.value
        if o.ok and not isinstance(v, AccountReview):
            v = AccountReview("error", error=f"the review function returned {type(v).__name__}, not AccountReview")
        elif not o.ok:
            v = AccountReview("error", error=o.error)
        n_orders = 0 if v.orders is None else v.orders.height
        rows.append(
            {
                "account_id": o.account_id,
                "decision": v.decision,
                "reasons": ";".join(v.reasons),
                "drift_before": v.drift_before,
                "drift_after": v.drift_after,
                "te_before": v.te_before,
                "te_after": v.te_after,
                "est_tax": v.est_tax,
                "losses_harvested": v.losses_harvested,
                "n_orders": n_orders,
                "turnover": v.turnover,
                "error": v.error,
                "seconds": o.seconds,
                **dict(v.extra),
            }
        )
        if v.orders is not None and n_orders:
            orders.append(
                v.orders.with_columns(
                    run_id=pl.lit(run_id), as_of=pl.lit(as_of), trade_date=pl.lit(trade_date), account_id=pl.lit(o.account_id)
                )
            )
    results = pl.DataFrame(rows, schema_overrides=RESULT_SCHEMA, infer_schema_length=None) if rows else pl.DataFrame(schema=RESULT_SCHEMA)
    return results, (pl.concat(orders, how="diagonal_relaxed") if orders else None)


def review_accounts(
    book: Any,
    fn: HouseholdFn,
    *,
    store: Any = None,
    run_id: str | None = None,
    skip: Iterable[str] = (),
    scheduler: str | None = None,
    workers: int | None = None,
    min_accounts: int = DEFAULT_MIN_ACCOUNTS,
    max_batches: int | None = None,
    progress: bool = True,
    context: str = "spawn",
    stats: RunStats | None = None,
    on_batch: Callable[[BatchResult], None] | None = None,
) -> list[BatchResult]:
    """Review the book's accounts with `fn`, storing each completed batch; resume a killed run.

    Parameters
    ----------
    book : the day's `Book` (sent once to each worker as `fn`'s ``shared`` argument).
    fn : the household function ``fn(book, account_ids) -> {account_id: AccountReview}`` (see `per_account`).
    store, run_id : an open writable `overlay_core.store.Store` and the run from `Store.begin_run`; each
        completed batch is saved with `Store.save_accounts` (results and orders in one transaction, so an
        account is never half-stored), and accounts already in `Store.done_accounts(run_id)` are skipped.
        Without a store nothing is saved (the caller gets the results).
    skip : accounts not to run (e.g. held by the data check; the caller records them itself).
    scheduler : ``tcp://HOST:PORT`` of a Dask scheduler; else a local pool of `workers` processes
        (``workers=0``: in this process).
    min_accounts, max_batches : see `partition.partition_accounts`.
    on_batch : also called in the driver with each completed batch, after it is stored.

    Returns
    -------
    the results of the batches run now (not those already stored by an earlier attempt).
    """
    skip = set(skip)
    if store is not None:
        if run_id is None:
            raise OverlayError("review_accounts: a store needs the run_id from Store.begin_run")
        skip |= store.done_accounts(run_id)
    batches = partition_book(book, min_accounts=min_accounts, max_batches=max_batches, skip=skip)

    def _store(res: BatchResult) -> None:
        if store is not None:
            results, orders = batch_frames(res, run_id=run_id or "", as_of=book.as_of, trade_date=book.trade_date)
            store.save_accounts(run_id, results, orders)
        if on_batch is not None:
            on_batch(res)

    return run_batches(
        batches, fn, book, scheduler=scheduler, workers=workers, on_batch=_store, progress=progress, context=context, stats=stats
    )
