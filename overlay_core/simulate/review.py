"""The review of a whole book as the day loop and the cascade call it: `ReviewOutput = review_fn(book)`.

Until `overlay_core.review` has a function that reviews a whole `Book` (issue 7), the default is
`optimizer_review`: the optimizer's `rebalance_account` over **every** account, run through the review
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
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any, Callable, Mapping

import polars as pl

from overlay_core.book import Book
from overlay_core.contract import FIRM_WIDE, PENDING_ORDERS, TRADE_FILE_COLUMNS, schema
from overlay_core.optimize.explain import Proposal
from overlay_core.review.driver import RESULT_SCHEMA, AccountReview, batch_frames, review_accounts
from overlay_core.review.runner import BatchResult, RunStats

CODE_VERSION = "simulate-optimizer-review-1"
ORDERS_SCHEMA: dict[str, pl.DataType] = {
    "run_id": pl.String(),
    "as_of": pl.Date(),
    "trade_date": pl.Date(),
    "account_id": pl.String(),
    "symbol": pl.String(),
    "side": pl.String(),
    "shares": pl.Float64(),
    "est_price": pl.Float64(),
    "est_value": pl.Float64(),
    "lot_id": pl.String(),
    "est_realized_gain": pl.Float64(),
    "term": pl.String(),
    "reason": pl.String(),
}


@dataclass(frozen=True)
class ReviewOutput:
    """The review of one day's book.

    Attributes
    ----------
    orders : the trade file's lines (`contract.TRADE_FILE_COLUMNS`, floats unrounded), every account.
    results : one row per account of the book and per quarantined account (`review.driver.RESULT_SCHEMA`
        plus extra evidence columns): decision, reasons, te_before/after, est_tax, losses_harvested,
        n_orders, turnover, error, seconds.
    run_id : the stored run; a dry run (nothing stored) gets ``dry-<YYYYMMDD>-<input hash prefix>``.
    seconds : wall time of the review.
    """

    orders: pl.DataFrame
    results: pl.DataFrame
    run_id: str = ""
    seconds: float = 0.0
    stats: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))


#: what the day loop and the cascade call: the whole book's review
ReviewFn = Callable[[Book], ReviewOutput]


def account_review(p: Proposal) -> AccountReview:
    """The review's record of one account from the optimizer's `Proposal`."""
    ex = p.explanation
    decision = ex.decision if ex.decision in ("trade", "no_trade", "held", "error") else "error"
    reasons = tuple(ex.reasons) if ex.reasons else ((ex.why,) if ex.why else ())
    return AccountReview(
        decision,
        reasons=reasons,
        te_before=ex.te_before,
        te_after=ex.te_after,
        est_tax=ex.est_tax,
        losses_harvested=ex.losses_harvested,
        turnover=ex.turnover,
        error=(ex.diagnosis or ex.why) if decision == "error" else None,
        orders=p.orders.drop([c for c in ("as_of", "trade_date", "account_id") if c in p.orders.columns]) if p.orders.height else None,
        extra={
            "solver": ex.solver,
            "solve_seconds": ex.solve_ms / 1e3,
            "net_realized_gain": ex.net_realized_gain,
            "relaxed": ";".join(ex.relaxed),
            "explanation": ex.text(),
        },
    )


class _Context:
    """The book's day-wide inputs of the optimizer, computed once per process and book."""

    __slots__ = ("book", "targets", "risk", "tax", "group")

    def __init__(self, book: Book) -> None:
        from overlay_core.targets import account_targets, risk_model
        from overlay_core.tax import tax_state

        self.book = book
        self.risk = risk_model(book)
        self.targets = account_targets(book, risk=self.risk)
        self.tax = tax_state(book)
        self.group = dict(zip(book.securities["symbol"].to_list(), book.securities["wash_group"].to_list()))


_CACHE: list[Any] = [None, None]  # [book, _Context] of the last book seen in this process


def _context(book: Book) -> _Context:
    if _CACHE[0] is not book:
        _CACHE[1] = _Context(book)
        _CACHE[0] = book
    return _CACHE[1]


def _as_pending(orders: pl.DataFrame) -> pl.DataFrame:
    return orders.select(
        pl.col("account_id"),
        pl.col("symbol"),
        pl.col("side").str.to_lowercase(),
        pl.col("shares"),
        pl.col("lot_id"),
        pl.col("est_realized_gain"),
    ).cast(schema(PENDING_ORDERS))


def _household_book(book: Book, ids: tuple[str, ...], decided: pl.DataFrame) -> Book:
    """The household's slice of the book with the orders already decided shown as pending orders."""
    f = pl.col("account_id").is_in(list(ids))
    return replace(
        book,
        accounts=book.accounts.filter(f),
        lots=book.lots.filter(f),
        transactions=book.transactions.filter(f),
        restrictions=book.restrictions.filter(f | (pl.col("account_id") == FIRM_WIDE)),
        pending_orders=pl.concat([book.pending_orders.filter(f), _as_pending(decided)]),
    )


_OLD = dt.date(1900, 1, 1)


def _tax_state(book: Book) -> Any:
    """`tax.tax_state(book)`; on a household slice whose first lot has no `acquired` (a tax-deferred or
    tax-exempt account) polars 2.1 cannot build the term column from an object array that starts with
    None, so those accounts' empty dates are then given as 1900-01-01 (outside any window; terms of
    such accounts are never used: their sales are not taxed and their order lines carry no term)."""
    from overlay_core.tax import tax_state

    try:
        return tax_state(book)
    except pl.exceptions.ComputeError:
        untaxed = pl.col("account_id").is_in(book.accounts.filter(pl.col("tax_status") != "taxable")["account_id"].to_list())
        lots = book.lots.with_columns(
            pl.when(untaxed).then(pl.col(c).fill_null(_OLD)).otherwise(pl.col(c)).alias(c) for c in ("acquired", "purchase_date")
        )
        return tax_state(replace(book, lots=lots))


def _touches(ctx: _Context, account_id: str, decided: list[pl.DataFrame]) -> bool:
    """Whether the orders already decided in the household can change this account's wash-sale view:
    a loss sale (rule (b) may block its buys) or a buy of a wash group it holds lots of (rule (a) may
    block their sale at a loss). Otherwise the day's tax state is the household's exact view (a pending
    sale that empties a recent lot could only *lift* a rule (a) block: keeping it is conservative)."""
    lost = False
    bought: set[str] = set()
    for o in decided:
        if o.filter((pl.col("side") == "SELL") & (pl.col("est_realized_gain") < 0)).height:
            lost = True
            break
        bought |= {ctx.group.get(s) or s for s in o.filter(pl.col("side") == "BUY")["symbol"].to_list()}
    if lost:
        return True
    held = {str(g) for g in ctx.tax.account(account_id).wash_group}
    return bool(held & bought)


def review_household(book: Book, account_ids: tuple[str, ...]) -> dict[str, AccountReview]:
    """The household function of the review driver: every account of one household, coordinated.

    Accounts are optimized in the given order; each later account sees the earlier ones' orders as
    pending orders of the trade date (module docstring). One account's failure is its own ``error``.
    """
    from overlay_core.optimize.build import rebalance_account

    ctx = _context(book)
    out: dict[str, AccountReview] = {}
    decided: list[pl.DataFrame] = []
    for a in account_ids:
        t0 = time.perf_counter()
        try:
            if decided and _touches(ctx, a, decided):
                hb = _household_book(book, account_ids, pl.concat(decided))
                p = rebalance_account(hb, a, targets=ctx.targets, risk=ctx.risk, tax_state=_tax_state(hb))
            else:
                p = rebalance_account(book, a, targets=ctx.targets, risk=ctx.risk, tax_state=ctx.tax)
        except Exception as exc:  # one account never stops its household
            out[a] = AccountReview("error", error=f"{type(exc).__name__}: {exc}", extra={"seconds": time.perf_counter() - t0})
            continue
        if p.orders.height:
            decided.append(p.orders.with_columns(account_id=pl.lit(a)))
        out[a] = account_review(p)
    return out


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


def default_review_fn(*, store: Any = None, workers: int | None = 0, kind: str = "review", settings: Mapping[str, Any] | None = None) -> ReviewFn:
    """A `ReviewFn` bound to a store and workers (the day loop's default)."""

    def fn(book: Book) -> ReviewOutput:
        return optimizer_review(book, store=store, workers=workers, kind=kind, settings=settings)

    return fn


def review_day_stamp(book: Book) -> dt.date:
    return book.as_of
