"""The daily-review dashboard's data: one review run of the store, as frames ready to filter and chart.

`load_review(store, run_id=None)` reads, from a (read-only) `Store`, a run's per-account evidence and
orders, joined with each account's target, advisor, tax status and value from the upload the run
reviewed (`Store.load_upload`), plus the accounts the upload quarantined (decision ``error``). The other
functions shape a `Review` (or its filtered results) for the notebook `notebooks/daily_review.py`.

Every function is pure over frames: no store access but `load_review`/`list_runs`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Iterable

import polars as pl

from overlay_core.errors import StoreError
from overlay_core.store import Store

#: the reason an order line gives, in words (the data contract's reasons)
REASON_TEXT = {
    "restriction": "a restriction requires the exit (screen, firm list) or forbids holding more",
    "cash_raise": "the account must raise cash (a cash need, or cash below its minimum)",
    "substitution": "the advisor's substitution: sell the replaced security / buy its substitute",
    "model_change": "the security's target weight moved with a model change",
    "transition": "the account moves gradually to its target (turnover limit per day)",
    "switch_back": "the way back from a harvest's substitute to the target's security once the wash-sale window has ended",
    "tax_loss_harvest": "a lot sold at a loss, or the replacement of a harvested security",
    "rebalance": "brings the account back to its target",
}

RESULT_VIEW_COLUMNS = (
    "account_id", "advisor", "target_id", "tax_status", "value", "decision", "reasons", "drift_before",
    "te_before", "te_after", "n_orders", "turnover", "est_tax", "losses_harvested", "error",
)


@dataclass(frozen=True)
class Review:
    """One run of the store, ready to show.

    Attributes
    ----------
    run : the run's row of `Store.runs()` as a dict (run_id, as_of, trade_date, status, counts, ...).
    results : one row per account reviewed or quarantined, `RESULT_VIEW_COLUMNS` then ``explanation``
        (JSON text); value USD, te_* annualized fractions, turnover one side fraction of value.
    orders : the run's order lines (the trade file's columns) with the account's advisor and target.
    """

    run: dict[str, Any]
    results: pl.DataFrame
    orders: pl.DataFrame


def list_runs(store: Store, *, kind: str | None = "review") -> pl.DataFrame:
    """The store's runs (newest first): run_id, as_of, trade_date, status, accounts, traded, errors, orders."""
    runs = store.runs()
    if kind is not None and "kind" in runs.columns:
        runs = runs.filter(pl.col("kind") == kind)
    keep = [c for c in ("run_id", "kind", "as_of", "trade_date", "status", "accounts", "traded", "errors", "orders") if c in runs.columns]
    return runs.select(keep).sort("as_of", "run_id", descending=True)


def load_review(store: Store, run_id: str | None = None) -> Review:
    """A run's evidence (the newest review run when `run_id` is None).

    Raises
    ------
    StoreError : no review run stored, or `run_id` unknown.
    """
    runs = list_runs(store)
    if runs.height == 0:
        raise StoreError("the store holds no review run yet: run the daily review first")
    if run_id is None:
        run_id = runs["run_id"][0]
    info = store.run_info(run_id)
    res = store.run_results(run_id)
    orders = store.run_orders(run_id)
    book = store.load_upload(upload_id=info["upload_id"]) if info.get("upload_id") else store.load_upload(as_of=info["as_of"])
    from overlay_core.holdings import holdings

    acc = book.accounts.select("account_id", "advisor", "target_id", "tax_status")
    values = holdings(book).totals.select("account_id", "value")
    quarantined = book.quarantined.select(
        "account_id", pl.lit("error").alias("decision"), pl.lit("quarantined").alias("reasons"), pl.col("reason").alias("error")
    ).join(res.select("account_id"), on="account_id", how="anti")
    res = pl.concat([res, quarantined], how="diagonal_relaxed")
    results = (
        res.join(acc, on="account_id", how="left")
        .join(values, on="account_id", how="left")
        .with_columns(pl.col("n_orders").fill_null(0))
        .select(*RESULT_VIEW_COLUMNS, "explanation")
        .sort("account_id")
    )
    orders = orders.join(acc.select("account_id", "advisor", "target_id"), on="account_id", how="left")
    return Review(run={**info, "run_id": run_id}, results=results, orders=orders)


def filter_results(
    results: pl.DataFrame,
    *,
    advisors: Iterable[str] = (),
    targets: Iterable[str] = (),
    account: str | None = None,
) -> pl.DataFrame:
    """Rows of the given advisors and targets (empty = all) whose account id contains `account`."""
    out = results
    advisors, targets = list(advisors), list(targets)
    if advisors:
        out = out.filter(pl.col("advisor").is_in(advisors))
    if targets:
        out = out.filter(pl.col("target_id").is_in(targets))
    if account:
        out = out.filter(pl.col("account_id").str.contains(account.strip(), literal=True))
    return out


def headline(results: pl.DataFrame) -> dict[str, float | int]:
    """Counts and sums for the page's headline: accounts, traded, not traded, held, errors, orders,
    losses harvested (USD), estimated tax (USD), value reviewed (USD)."""
    def n(decision: str) -> int:
        return int((results["decision"] == decision).sum())

    return {
        "accounts": results.height,
        "traded": n("trade"),
        "not_traded": n("no_trade"),
        "held": n("held"),
        "errors": n("error"),
        "orders": int(results["n_orders"].fill_null(0).sum()),
        "losses_harvested": float(results["losses_harvested"].fill_null(0.0).sum()),
        "est_tax": float(results["est_tax"].fill_null(0.0).sum()),
        "value": float(results["value"].fill_null(0.0).sum()),
    }


def decision_reasons(results: pl.DataFrame) -> pl.DataFrame:
    """Why accounts traded or not: [decision, reason, accounts] (an account with several reasons counts
    once per reason), largest first."""
    return (
        results.select("decision", pl.col("reasons").fill_null("").str.split(";").alias("reason"))
        .explode("reason")
        .with_columns(pl.when(pl.col("reason") == "").then(pl.lit("(none)")).otherwise(pl.col("reason")).alias("reason"))
        .group_by("decision", "reason")
        .agg(pl.len().cast(pl.Int64).alias("accounts"))
        .sort("accounts", "decision", "reason", descending=[True, False, False])
    )


def errors(results: pl.DataFrame) -> pl.DataFrame:
    """Accounts in error (quarantined, refused targets, infeasible): [account_id, advisor, target_id, reasons, error]."""
    return results.filter(pl.col("decision") == "error").select("account_id", "advisor", "target_id", "reasons", "error")


def orders_by_reason(orders: pl.DataFrame) -> pl.DataFrame:
    """Order lines by reason and side: [reason, side, lines, value] (value USD), largest value first."""
    return (
        orders.group_by("reason", "side")
        .agg(pl.len().cast(pl.Int64).alias("lines"), pl.col("est_value").sum().alias("value"))
        .sort("value", "reason", descending=[True, False])
    )


def drift_distribution(results: pl.DataFrame) -> pl.DataFrame:
    """Per account, the largest absolute drift before the review and the tracking error before/after
    (fractions), for histograms: [account_id, decision, drift_before, te_before, te_after]."""
    return results.filter(pl.col("drift_before").is_not_null() | pl.col("te_before").is_not_null()).select(
        "account_id", "decision", "drift_before", "te_before", "te_after"
    )


def dispersion_by_target(results: pl.DataFrame) -> pl.DataFrame:
    """How far the accounts of one target are from each other: per target, the 10th/50th/90th
    percentile of the accounts' tracking error to their own target after the review, and the spread
    (p90 - p10). [target_id, accounts, te_p10, te_p50, te_p90, spread]."""
    return (
        results.filter(pl.col("te_after").is_not_null())
        .group_by("target_id")
        .agg(
            pl.len().cast(pl.Int64).alias("accounts"),
            pl.col("te_after").quantile(0.1, "linear").alias("te_p10"),
            pl.col("te_after").quantile(0.5, "linear").alias("te_p50"),
            pl.col("te_after").quantile(0.9, "linear").alias("te_p90"),
        )
        .with_columns((pl.col("te_p90") - pl.col("te_p10")).alias("spread"))
        .sort("target_id")
    )


def account_detail(review: Review, account_id: str) -> tuple[dict[str, Any], pl.DataFrame]:
    """One account's evidence and its order lines, each with its explanation in words.

    Returns
    -------
    (result, orders): the result row as a dict (with ``explanation`` parsed from JSON, ``{}`` when
    absent), and the orders [side, symbol, shares, est_value, lot_id, est_realized_gain, term, reason,
    explanation].

    Raises
    ------
    StoreError : the account is not in the run.
    """
    rows = review.results.filter(pl.col("account_id") == account_id)
    if rows.height == 0:
        raise StoreError(f"account {account_id!r} is not in run {review.run.get('run_id')}")
    row = rows.row(0, named=True)
    text = row.get("explanation")
    try:
        row["explanation"] = json.loads(text) if text else {}
    except (TypeError, ValueError):
        row["explanation"] = {"text": str(text)}
    o = review.orders.filter(pl.col("account_id") == account_id)
    own = o["explanation"] if "explanation" in o.columns else pl.Series([None] * o.height, dtype=pl.String)
    words = o["reason"].replace_strict(REASON_TEXT, default=o["reason"], return_dtype=pl.String)
    o = o.with_columns(pl.coalesce(own, words).alias("explanation"))
    return row, o.select("side", "symbol", "shares", "est_value", "lot_id", "est_realized_gain", "term", "reason", "explanation")
