"""The cascade with orders: what a model or blend change would trade, per account, as a dry run.

`cascade_with_orders(book, change)` applies the change to a copy of the book
(`targets.cascade.apply_change`), takes every household with an account that follows a changed model
or target (whole households: the review coordinates their wash sales), and runs the whole review on
that slice of the changed book (`review_fn`, default the daily review `review.daily.review_book` as a
dry run, with today's unchanged slice as its previous day so the change is a model change: **nothing
is stored as a run, no file written**). Per affected account: decision, orders, traded value, turnover,
realized gain (the orders' estimated realized gains), estimated tax, tracking error before and after
the trades (against the new target), plus the target-level figures of `targets.cascade.cascade` (drift
and tracking error of today's holdings against the old and new targets). The summary aggregates by
target and advisor.

The target-level answer is cheap (vectorized) and comes first; the orders phase costs one review of
the affected households.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Any

import polars as pl

from overlay_core.book import Book
from overlay_core.simulate.review import ReviewFn, ReviewOutput
from overlay_core.targets.cascade import CascadeResult, Change, apply_change

ACCOUNT_COLUMNS = (
    "account_id",
    "target_id",
    "advisor",
    "value",
    "decision",
    "n_orders",
    "traded_value",
    "turnover",
    "realized_gain",
    "est_tax",
    "losses_harvested",
    "te_before",
    "te_after",
    "target_te_before",
    "target_te_after",
    "target_change",
    "error",
)
SUMMARY_COLUMNS = (
    "target_id",
    "advisor",
    "accounts",
    "trading",
    "n_orders",
    "value",
    "traded_value",
    "turnover",
    "realized_gain",
    "est_tax",
    "losses_harvested",
    "te_after_mean",
    "errors",
)


@dataclass(frozen=True)
class CascadeOrders:
    """The orders phase of a cascade.

    Attributes
    ----------
    accounts : one row per affected account (ACCOUNT_COLUMNS): decision, orders, traded value (USD at
        today's close), turnover (traded value / value), realized gain and estimated tax of the orders
        (USD), losses harvested, te_before/te_after (ex-ante tracking error before/after the trades,
        new target), target_te_before/after (today's holdings against the old/new target), target_change.
    summary : by target and advisor (SUMMARY_COLUMNS); turnover = traded value / value.
    orders : the dry run's order lines (the trade file's columns; run_id ``dry-...``), affected accounts only.
    review : the review of the slice (its results include the households' other accounts).
    seconds : wall time of the orders phase.
    """

    accounts: pl.DataFrame
    summary: pl.DataFrame
    orders: pl.DataFrame
    review: ReviewOutput
    seconds: float


def household_slice(book: Book, account_ids: list[str]) -> Book:
    """The book restricted to the households of `account_ids` (every account of them)."""
    hh = book.accounts.filter(pl.col("account_id").is_in(account_ids))["household_id"].unique().to_list()
    keep = book.accounts.filter(pl.col("household_id").is_in(hh))["account_id"].to_list()
    f = pl.col("account_id").is_in(keep)
    return replace(
        book,
        accounts=book.accounts.filter(f),
        lots=book.lots.filter(f),
        transactions=book.transactions.filter(f),
        pending_orders=book.pending_orders.filter(f),
        restrictions=book.restrictions.filter(f | (pl.col("account_id") == "*")),
        quarantined=book.quarantined.filter(pl.col("household_id").is_in(hh)),
    )


def cascade_with_orders(
    book: Book,
    change: Change,
    *,
    target_level: CascadeResult | None = None,
    review_fn: ReviewFn | None = None,
    workers: int | None | str = "auto",
) -> CascadeOrders:
    """Dry-run the review on the changed book for every household the change reaches (module docstring).

    Parameters
    ----------
    book : the day's book (not modified). change : from `targets.cascade.read_change`.
    target_level : the target-level `cascade(book, change)` result, joined into the per-account rows.
    review_fn : the whole book's review on the changed slice; default `optimizer_review` without a store.
    workers : local processes of the default review: ``"auto"`` = in this process for fewer than 200
        accounts, else one per core.
    """
    t0 = time.perf_counter()
    new_book = apply_change(book, change)
    if target_level is not None:
        tids = list(target_level.targets)
    else:
        from overlay_core.targets.cascade import affected_targets

        tids = affected_targets(book, change)
    followers = book.accounts.filter(pl.col("target_id").is_in(tids))
    ids = followers["account_id"].to_list()
    part = household_slice(new_book, ids)
    if review_fn is None:
        from overlay_core.review.daily import review_book

        n = part.accounts.height
        w: Any = (0 if n < 200 else None) if workers == "auto" else workers
        today = household_slice(book, ids)

        def review_fn(b: Book) -> ReviewOutput:
            # the unchanged book is the "previous day": the change shows as a model change
            return review_book(b, store=None, out_dir=None, dry_run=True, workers=w, progress=False, previous=today)

    rev = review_fn(part)
    orders = rev.orders.filter(pl.col("account_id").is_in(ids))
    per = (
        orders.group_by("account_id")
        .agg(
            pl.len().cast(pl.Int64).alias("n_orders"),
            (pl.col("shares") * pl.col("est_price")).sum().alias("traded_value"),
            pl.col("est_realized_gain").fill_null(0.0).sum().alias("realized_gain"),
        )
    )
    values = _values(book).filter(pl.col("account_id").is_in(ids))
    res = rev.results
    pick = [c for c in ("account_id", "decision", "est_tax", "losses_harvested", "te_before", "te_after", "error") if c in res.columns]
    acc = (
        followers.select("account_id", "target_id", (pl.col("advisor") if "advisor" in followers.columns else pl.lit(None, pl.String)).alias("advisor"))
        .join(values, on="account_id", how="left")
        .join(res.select(pick), on="account_id", how="left")
        .join(per, on="account_id", how="left")
        .with_columns(
            pl.col("n_orders").fill_null(0),
            pl.col("traded_value").fill_null(0.0),
            pl.col("realized_gain").fill_null(0.0),
        )
        .with_columns(pl.when(pl.col("value") > 0).then(pl.col("traded_value") / pl.col("value")).otherwise(0.0).alias("turnover"))
    )
    if target_level is not None:
        tl = target_level.accounts.select(
            "account_id", pl.col("te_before").alias("target_te_before"), pl.col("te_after").alias("target_te_after"), "target_change"
        )
        acc = acc.join(tl, on="account_id", how="left")
    for c in ACCOUNT_COLUMNS:
        if c not in acc.columns:
            acc = acc.with_columns(pl.lit(None, dtype=pl.Float64 if c not in ("error", "decision") else pl.String).alias(c))
    acc = acc.select(ACCOUNT_COLUMNS).sort("account_id")
    summary = (
        acc.group_by("target_id", "advisor")
        .agg(
            pl.len().cast(pl.Int64).alias("accounts"),
            (pl.col("decision") == "trade").sum().cast(pl.Int64).alias("trading"),
            pl.col("n_orders").sum().cast(pl.Int64),
            pl.col("value").sum(),
            pl.col("traded_value").sum(),
            pl.col("realized_gain").sum(),
            pl.col("est_tax").fill_null(0.0).sum(),
            pl.col("losses_harvested").fill_null(0.0).sum(),
            pl.col("te_after").mean().alias("te_after_mean"),
            (pl.col("decision") == "error").sum().cast(pl.Int64).alias("errors"),
        )
        .with_columns(pl.when(pl.col("value") > 0).then(pl.col("traded_value") / pl.col("value")).otherwise(0.0).alias("turnover"))
        .select(SUMMARY_COLUMNS)
        .sort("target_id", "advisor", nulls_last=True)
    )
    return CascadeOrders(accounts=acc, summary=summary, orders=orders, review=rev, seconds=time.perf_counter() - t0)


def _values(book: Book) -> pl.DataFrame:
    held = (
        book.lots.join(book.prices.select("symbol", "close"), on="symbol", how="left")
        .group_by("account_id")
        .agg((pl.col("shares") * pl.col("close")).sum().alias("held"))
    )
    return book.accounts.select("account_id", "cash").join(held, on="account_id", how="left").select(
        "account_id", (pl.col("cash") + pl.col("held").fill_null(0.0)).alias("value")
    )
