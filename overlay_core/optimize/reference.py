"""The readable reference: the same model written in cvxpy's algebra (slow to build, easy to read).

`optimize.fast` must agree with this on every problem (tests/optimize/test_optimize_agreement.py). It is
also the path used when a solver is asked for through cvxpy (``solve_reference(f, solver="ECOS")``).
"""

from __future__ import annotations

import time

import cvxpy as cp
import numpy as np
import scipy.sparse as sp

from overlay_core.optimize.fast import RawSolution
from overlay_core.optimize.model import SLACK_PENALTY, Formulation


def build_reference(f: Formulation) -> tuple[cp.Problem, cp.Variable, cp.Variable, list[tuple[object, cp.Constraint]], cp.Variable | None]:
    """The cvxpy problem of a formulation: (problem, s, b, named row constraints, slack)."""
    p = f.problem
    m, n = p.m, p.n
    s = cp.Variable(m, name="sell")  # lot sales, fraction of account value
    b = cp.Variable(n, name="buy")  # security buys, fraction of account value
    x = cp.hstack([s, b]) if m and n else (s if m else b)
    A = sp.csr_matrix((np.ones(m), (p.lot_sec, np.arange(m))), shape=(n, m))  # lot -> security

    active = f.a0 - A @ s + b  # post-trade active weights
    # tracking error squared = a' (B F B' + diag(d)) a = ||R B' a||^2 + sum(d a^2), with R'R = F
    te2 = cp.sum(cp.multiply(p.d, cp.square(active)))
    if p.k:
        w, U = np.linalg.eigh(p.F)
        R = (U * np.sqrt(np.maximum(w, 0.0))).T
        te2 = te2 + cp.sum_squares(R @ (p.B.T @ active))
    objective = f.risk_aversion * te2 + f.q @ x

    cons: list[cp.Constraint] = []
    lb, ub = f.lb, f.ub
    cons.append(x >= lb)
    fin = np.isfinite(ub)
    if fin.any():
        cons.append(x[np.flatnonzero(fin)] <= ub[fin])

    named: list[tuple[object, cp.Constraint]] = []
    slack_vars: list[cp.Variable] = []
    for r in f.rows:
        G = sp.csr_matrix((r.vals, (r.rows, r.cols)), shape=(r.r, f.nvar))
        lhs = G @ x
        if r.soft and f.relaxed:
            sl = cp.Variable(r.r, nonneg=True, name=f"slack_{r.family}")
            slack_vars.append(sl)
            objective = objective + SLACK_PENALTY[r.family] * cp.sum(sl)
            c = lhs - sl <= r.h_solver
        else:
            c = lhs <= r.h_solver
        named.append((r, c))
        cons.append(c)
    slack = cp.hstack(slack_vars) if len(slack_vars) > 1 else (slack_vars[0] if slack_vars else None)
    return cp.Problem(cp.Minimize(objective), cons), s, b, named, slack


def solve_reference(f: Formulation, *, solver: str = "CLARABEL") -> RawSolution:
    """Solve with cvxpy (``solver`` a cvxpy solver name: CLARABEL, ECOS, SCS)."""
    t0 = time.perf_counter()
    prob, s, b, named, slack = build_reference(f)
    try:
        prob.solve(solver=solver.upper())
    except cp.error.SolverError as exc:
        return RawSolution("failed", str(exc), None, None, float("nan"), 0.0, time.perf_counter() - t0, None, None, solver)
    total = time.perf_counter() - t0
    took = float(prob.solver_stats.solve_time or 0.0) if prob.solver_stats else 0.0
    if prob.status in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE):
        x = np.concatenate([np.atleast_1d(s.value) if f.m else np.zeros(0), np.atleast_1d(b.value) if f.n else np.zeros(0)])
        sl = np.atleast_1d(slack.value) if slack is not None else np.zeros(0)
        duals = [np.atleast_1d(c.dual_value) for _, c in named]
        row_dual = np.concatenate(duals) if duals else np.zeros(0)
        return RawSolution("optimal", prob.status, x, sl, f.objective(x, sl), took, total, row_dual, None, solver)
    status = "infeasible" if prob.status in (cp.INFEASIBLE, cp.INFEASIBLE_INACCURATE) else "failed"
    return RawSolution(status, prob.status, None, None, float("nan"), took, total, None, None, solver)
