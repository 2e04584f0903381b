"""One account, end to end: problem -> optimum -> orders -> reasons and explanation (`propose`)."""

from __future__ import annotations

import datetime as dt
import time

import numpy as np

from overlay_core.errors import OptimizationError
from overlay_core.optimize.explain import Proposal, explain, order_frame
from overlay_core.optimize.problem import AccountProblem
from overlay_core.optimize.rounding import Orders, check_orders, merit, round_orders
from overlay_core.optimize.model import formulate
from overlay_core.optimize.solve import optimize_account


def propose(
    p: AccountProblem,
    *,
    solver: str = "clarabel",
    path: str = "fast",
    as_of: dt.date | None = None,
    trade_date: dt.date | None = None,
) -> Proposal:
    """The account's proposal: order lines and explanation. Never raises for an infeasible account.

    A ``hold`` account is reviewed (tracking error etc.) and gets no orders. When even the hard
    constraints cannot hold (cash < 0 whatever is sold) the proposal has no orders and decision ``error``
    with the diagnosis. Orders that would break a hard constraint are never returned: `check_orders`
    runs on every proposal and a violation raises `OptimizationError` (a defect, not a user mistake).
    """
    t0 = time.perf_counter()
    zero_s, zero_b = np.zeros(p.m), np.zeros(p.n)
    if p.status == "hold":
        m0 = merit(formulate(p), zero_s, zero_b)
        r = Orders(p, zero_s, zero_b, False, False, 0.0, m0, m0, ("account on hold: reviewed, never traded",))
        return Proposal(p.account_id, order_frame(p, zero_s, zero_b, as_of=as_of, trade_date=trade_date), explain(None, r), p)
    try:
        o = optimize_account(p, solver=solver, path=path)
    except OptimizationError as exc:
        m0 = merit(formulate(p), zero_s, zero_b)
        r = Orders(p, zero_s, zero_b, False, False, 0.0, m0, m0, (str(exc),))
        ex = explain(None, r, decision_override="error")
        ex = type(ex)(**{**ex.__dict__, "why": "no feasible proposal", "diagnosis": str(exc)})
        return Proposal(p.account_id, order_frame(p, zero_s, zero_b, as_of=as_of, trade_date=trade_date), ex, p)
    r = round_orders(o)
    bad = check_orders(p, r.sell, r.buy)
    if bad:
        raise OptimizationError(f"account {p.account_id}: rounded orders break hard constraints: {'; '.join(bad)}")
    ex = explain(o, r)
    ex = type(ex)(**{**ex.__dict__, "total_ms": (time.perf_counter() - t0) * 1e3})
    return Proposal(p.account_id, order_frame(p, r.sell, r.buy, as_of=as_of, trade_date=trade_date), ex, p)
