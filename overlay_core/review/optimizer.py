"""The optimizer as the review's household function, with household wash-sale coordination.

Moved here from `overlay_core.simulate.review` (which re-exports it) so the daily review
(`review.daily.review_book`) and the day loop (`simulate.review.optimizer_review`) share one function.

`review_household(book, account_ids) -> {account_id: AccountReview}` runs in a worker: the accounts of
one household are optimized one after the other (`optimize.build.rebalance_account`), and the orders
already decided for its earlier accounts are shown to the later ones as *pending orders* (which the tax
engine treats as trades of the trade date: a pending buy blocks a loss sale of its wash group in the
household, rule (a); a pending loss sale blocks buys of the group, rule (b)). The trade file of the
whole book therefore obeys the contract's household-wide wash-sale rule.

`HouseholdReview(model_change=..., reasons=..., context=...)` is the same function carrying the driver's
per-account facts: the symbols whose target moved since the last run (the optimizer's ``model_change``
reason), the wash groups and substitute lots of a switch back (its ``switch_back`` reason), the review's own reasons for optimizing the account (prepended to the optimizer's), and
optionally the day's precomputed targets, risk model and tax state (sent once per worker with the
function instead of being recomputed in every worker).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any, Mapping

import numpy as np
import polars as pl

from overlay_core.book import Book
from overlay_core.contract import FIRM_WIDE, PENDING_ORDERS, TRADE_FILE_SCHEMA, schema
from overlay_core.optimize.explain import Proposal
from overlay_core.review.driver import AccountReview

#: the review's own orders frame (the trade file's lines, floats unrounded)
ORDERS_SCHEMA: dict[str, pl.DataType] = dict(TRADE_FILE_SCHEMA)


@dataclass(frozen=True)
class ReviewOutput:
    """The review of one day's book.

    Attributes
    ----------
    orders : the trade file's lines (`ORDERS_SCHEMA`, floats unrounded), every account.
    results : one row per account of the book and per quarantined account (`review.driver.RESULT_SCHEMA`
        plus extra evidence columns): decision, reasons, drift/te before and after, est_tax,
        losses_harvested, n_orders, turnover, error, seconds.
    run_id : the stored run; a dry run (nothing stored) gets ``dry-<YYYYMMDD>-<input hash prefix>``.
    seconds : wall time of the review.
    stats : counters (batches, errors, ...; the daily review adds its summary).
    """

    orders: pl.DataFrame
    results: pl.DataFrame
    run_id: str = ""
    seconds: float = 0.0
    stats: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))


def _drifts(p: Any, orders: pl.DataFrame) -> tuple[float | None, float | None]:
    """Largest |weight - target| over the account's securities and cash, before and after its orders
    (the optimizer's own view: holdings after pending orders, valued at today's close)."""
    if p is None:
        return None, None
    try:
        Vs = float(p.scale_value)
        if not Vs > 0:
            return None, None
        hv = np.asarray(p.holdings_value, float)
        target = np.asarray(p.target, float)
        before = max(float(np.max(np.abs(hv / Vs - target))) if hv.size else 0.0, abs(p.cash / Vs - p.target_cash))
        after_v = hv.copy()
        cash = float(p.cash)
        if orders.height:
            idx = {s: i for i, s in enumerate(p.symbols)}
            for sym, side, val in orders.select("symbol", "side", "est_value").iter_rows():
                i = idx.get(sym)
                sign = 1.0 if side == "BUY" else -1.0
                if i is not None:
                    after_v[i] += sign * val
                cash -= sign * val
        after = max(float(np.max(np.abs(after_v / Vs - target))) if after_v.size else 0.0, abs(cash / Vs - p.target_cash))
        return before, after
    except (AttributeError, TypeError, ValueError):  # a problem without arrays (error paths)
        return None, None


def _not_traded_reason(why: str) -> str:
    return "below_no_churn_threshold" if "no-churn" in why else "at_optimum"


def account_review(p: Proposal, *, reasons: tuple[str, ...] = ()) -> AccountReview:
    """The review's record of one account from the optimizer's `Proposal`.

    `reasons` (the review's triggers, e.g. ``drift``) come first, then the optimizer's order reasons
    (trade) or why it does not trade (``below_no_churn_threshold`` / ``at_optimum``).
    """
    ex = p.explanation
    decision = ex.decision if ex.decision in ("trade", "no_trade", "held", "error") else "error"
    if decision == "trade":
        own = tuple(k for k in ex.reasons) or ((ex.why,) if ex.why else ())
    elif decision == "no_trade":
        own = (_not_traded_reason(ex.why),)
    else:
        own = (ex.why,) if ex.why else ()
    d0, d1 = _drifts(p.problem, p.orders)
    return AccountReview(
        decision,
        reasons=tuple(dict.fromkeys(reasons + own)),
        drift_before=d0,
        drift_after=d1,
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

    def __init__(self, book: Book, pre: "DayInputs | None" = None) -> None:
        self.book = book
        if pre is not None:
            self.risk, self.targets, self.tax = pre.risk, pre.targets, pre.tax
        else:
            from overlay_core.targets import account_targets, risk_model
            from overlay_core.tax import tax_state

            self.risk = risk_model(book)
            self.targets = account_targets(book, risk=self.risk)
            self.tax = tax_state(book)
        self.group = dict(zip(book.securities["symbol"].to_list(), book.securities["wash_group"].to_list()))


@dataclass(frozen=True)
class DayInputs:
    """The optimizer's day-wide inputs of one book: risk model, account targets, tax state."""

    risk: Any
    targets: Any
    tax: Any


_CACHE: list[Any] = [None, None]  # [book, _Context] of the last book seen in this process


def _context(book: Book, pre: DayInputs | None = None) -> _Context:
    if _CACHE[0] is not book:
        _CACHE[1] = _Context(book, pre)
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
    # every account of the households, not only those being optimized: an account that is not optimized
    # today (refused, held, within bands) still realized its losses and bought its lots (wash-sale rule)
    hh = book.accounts.filter(pl.col("account_id").is_in(list(ids)))["household_id"].unique().to_list()
    members = book.accounts.filter(pl.col("household_id").is_in(hh))["account_id"].to_list()
    f = pl.col("account_id").is_in(sorted(set(members) | set(ids)))
    return replace(
        book,
        accounts=book.accounts.filter(f),
        lots=book.lots.filter(f),
        transactions=book.transactions.filter(f),
        restrictions=book.restrictions.filter(f | (pl.col("account_id") == FIRM_WIDE)),
        pending_orders=pl.concat([book.pending_orders.filter(f), _as_pending(decided)]),
    )


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


@dataclass(frozen=True)
class HouseholdReview:
    """The household function of the review driver: every account of one household, coordinated.

    Accounts are optimized in the given order; each later account sees the earlier ones' orders as
    pending orders of the trade date (module docstring). One account's failure is its own ``error``.

    Attributes
    ----------
    model_change : account_id -> symbols whose target weight moved since the last run.
    reasons : account_id -> the review's reasons for optimizing the account (first in its reasons).
    inputs : the day's `DayInputs` if already computed by the driver (else computed once per worker).
    switch_back : account_id -> wash groups the screen offers it to switch back to after a harvest
        (`review.daily.Screen.switch_back`); switch_back_lots : account_id -> lot ids of the substitutes
        held for them. Both only name the order lines' reason ``switch_back`` (`optimize.explain`).
    """

    model_change: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    reasons: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    inputs: DayInputs | None = None
    switch_back: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    switch_back_lots: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def __call__(self, book: Book, account_ids: tuple[str, ...]) -> dict[str, AccountReview]:
        from overlay_core.optimize.build import rebalance_account
        from overlay_core.tax import tax_state

        ctx = _context(book, self.inputs)
        out: dict[str, AccountReview] = {}
        decided: list[pl.DataFrame] = []
        for a in account_ids:
            t0 = time.perf_counter()
            mc = self.model_change.get(a, ())
            why = {"model_change": mc, "switch_back": self.switch_back.get(a, ()), "switch_back_lots": self.switch_back_lots.get(a, ())}
            try:
                if decided and _touches(ctx, a, decided):
                    hb = _household_book(book, account_ids, pl.concat(decided))
                    p = rebalance_account(hb, a, targets=ctx.targets, risk=ctx.risk, tax_state=tax_state(hb), **why)
                else:
                    p = rebalance_account(book, a, targets=ctx.targets, risk=ctx.risk, tax_state=ctx.tax, **why)
                rev = account_review(p, reasons=tuple(self.reasons.get(a, ())))
            except Exception as exc:  # one account never stops its household
                out[a] = AccountReview("error", error=f"{type(exc).__name__}: {exc}", extra={"seconds": time.perf_counter() - t0})
                continue
            if p.orders.height:
                decided.append(p.orders.with_columns(account_id=pl.lit(a)))
            out[a] = rev
        return out


#: the plain household function (no per-account facts from the driver)
review_household = HouseholdReview()
