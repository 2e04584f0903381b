"""The fast path (matrices built directly) agrees with the cvxpy reference, and the solvers agree."""

from __future__ import annotations

import numpy as np
import pytest

from overlay_core.optimize.fast import build_matrices, solve_fast
from overlay_core.optimize.model import formulate
from overlay_core.optimize.reference import solve_reference
from overlay_core.optimize.synthetic import random_problem


def _strictly_convex(p):
    # a specific variance on every security and a tiny risk on the trades makes the optimum unique
    return p.with_(risk_aversion=max(p.risk_aversion, 10.0))


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("relaxed", [False, True])
def test_fast_matches_reference(seed, relaxed):
    rng = np.random.default_rng(seed)
    p = _strictly_convex(random_problem(rng, 12, 30, restrictions=seed % 3 != 0))
    f = formulate(p, relaxed=relaxed)
    fast = solve_fast(f)
    ref = solve_reference(f)
    assert fast.status == ref.status
    if fast.status != "optimal":
        return
    # objectives (fractions of the account value) within 1e-7, i.e. 0.001 bps
    assert fast.objective == pytest.approx(ref.objective, abs=1e-7)
    # the trades themselves: within 1e-4 of the account value per variable
    assert np.max(np.abs(fast.x - ref.x)) < 1e-4
    if relaxed and fast.slack.size:
        assert np.max(np.abs(fast.slack - ref.slack)) < 1e-5


@pytest.mark.parametrize("solver", ["ecos", "scs"])
def test_other_solvers_agree_with_clarabel(solver):
    rng = np.random.default_rng(7)
    p = _strictly_convex(random_problem(rng, 10, 25, restrictions=False))
    f = formulate(p)
    a = solve_fast(f)
    b = solve_fast(f, solver=solver)
    assert a.status == b.status == "optimal"
    assert b.objective == pytest.approx(a.objective, abs=1e-5 if solver == "scs" else 1e-7)


def test_objective_evaluation_matches_the_solver():
    rng = np.random.default_rng(3)
    p = random_problem(rng, 15, 40, restrictions=False)
    f = formulate(p)
    mat = build_matrices(f)
    raw = solve_fast(f)
    # the solver's own objective 1/2 x'Px + q'x plus the constant a0' Sigma a0 equals f.objective(x)
    full = np.zeros(mat.nvar)
    full[: f.nvar] = raw.x
    a = f.a0 - np.bincount(p.lot_sec, weights=raw.x[: p.m], minlength=p.n) + raw.x[p.m :]
    full[mat.off_z : mat.off_z + p.n] = a
    full[mat.off_y : mat.off_y + p.k] = p.B.T @ a
    solver_obj = 0.5 * full @ (mat.P @ full + mat.P.T @ full - mat.P.diagonal() * full) + mat.q @ full
    assert solver_obj == pytest.approx(raw.objective, abs=1e-9)
    # and both equal risk_aversion * TE^2 + linear terms at the solution
    te2 = p.tracking_error((p.holdings_value / p.scale_value) - np.bincount(p.lot_sec, weights=raw.x[: p.m], minlength=p.n) + raw.x[p.m :]) ** 2
    assert raw.objective == pytest.approx(f.risk_aversion * te2 + f.q @ raw.x, abs=1e-9)
