"""The fast path: a `Formulation` -> the solver's matrices, built directly with numpy/scipy.sparse.

Clarabel solves ``min 1/2 x'Px + q'x  s.t.  Ax + s = b, s in K``. The variable is
``[s (m), b (n), z (n), y (k), slack (r_soft, relaxed mode only)]`` where ``z = a0 - A s + b`` are the
active weights and ``y = B' z`` the factor exposures, so that ``P`` is block diagonal
(``2 risk_aversion diag(d)`` and ``2 risk_aversion F``) and every row stays sparse:

- zero cone: ``z + A s - b = a0`` (n rows), ``y - B' z = 0`` (k rows), fixed variables (``lb == ub``);
- nonnegative cone: finite lower/upper bounds of ``x``, the named rows ``G x - slack <= h``, ``slack >= 0``.

SCS takes the same matrices (zero cone first, then the nonnegative cone). ECOS needs no quadratic
objective, so for ECOS the quadratic part is moved into a rotated second-order cone
(``||L u||^2 <= t``) and the problem solved as an SOCP.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from overlay_core.optimize.model import Formulation

SOLVERS = ("clarabel", "ecos", "scs")


@dataclass(frozen=True, eq=False)
class Matrices:
    P: sp.csc_matrix
    q: np.ndarray
    A: sp.csc_matrix
    b: np.ndarray
    n_zero: int
    n_nonneg: int
    nvar: int
    #: row labels of the nonnegative cone (for the duals): index -> label
    labels: tuple[str, ...]
    #: where each block starts in the variable
    off_z: int
    off_y: int
    off_slack: int
    n_slack: int
    #: where the named rows start in the nonnegative cone, and their families
    row_start: int


@dataclass(frozen=True, eq=False)
class RawSolution:
    """What a solver path returns: status in our words, x = [s, b] normalized, slack, duals of the named rows."""

    status: str  # optimal | infeasible | failed
    solver_status: str
    x: np.ndarray | None
    slack: np.ndarray | None
    objective: float
    solve_time: float  # the solver's own time, seconds
    total_time: float  # matrices + solve, seconds
    row_dual: np.ndarray | None  # duals of the named rows (>= 0), same order as Formulation.rows
    bound_dual: np.ndarray | None  # duals of the upper bounds of x (m+n,), 0 where no bound row
    solver: str
    solve_cpu: float = 0.0  # CPU seconds of the solver call (setup + solve): robust on a shared machine
    total_cpu: float = 0.0  # CPU seconds of matrices + solver


def _csc(rows: np.ndarray, cols: np.ndarray, vals: np.ndarray, shape: tuple[int, int]) -> sp.csc_matrix:
    """A CSC matrix from COO triplets without duplicates, assembled with numpy (no COO round trip)."""
    order = np.lexsort((rows, cols))
    indptr = np.zeros(shape[1] + 1, np.int64)
    np.cumsum(np.bincount(cols, minlength=shape[1]), out=indptr[1:])
    return sp.csc_matrix((vals[order], rows[order].astype(np.int64), indptr), shape=shape)


def build_matrices(f: Formulation) -> Matrices:
    p = f.problem
    m, n, k = p.m, p.n, p.k
    nx = m + n
    off_z, off_y = nx, nx + n
    soft = [r for r in f.rows if r.soft] if f.relaxed else []
    n_slack = sum(r.r for r in soft)
    off_slack = off_y + k
    nvar = off_slack + n_slack

    # P (upper triangle)
    lam2 = 2.0 * f.risk_aversion
    tri = p.__dict__.get("_F_upper")
    if tri is None:
        iu, ju = np.triu_indices(k)
        tri = (iu, ju, p.F[iu, ju])
        p.__dict__["_F_upper"] = tri
    iu, ju, Fu = tri
    Fv = Fu * lam2
    keepF = Fv != 0
    Pr = np.concatenate([off_z + np.arange(n), off_y + iu[keepF]])
    Pc = np.concatenate([off_z + np.arange(n), off_y + ju[keepF]])
    Pv = np.concatenate([lam2 * p.d, Fv[keepF]])
    P = _csc(Pr, Pc, Pv, (nvar, nvar))

    q = np.zeros(nvar)
    q[:nx] = f.q
    if n_slack:
        q[off_slack:] = f.slack_penalties()

    R: list[np.ndarray] = []
    C: list[np.ndarray] = []
    Vv: list[np.ndarray] = []
    bvec: list[np.ndarray] = []
    row = 0
    # z + A s - b = a0
    R += [np.arange(n), p.lot_sec, np.arange(n)]
    C += [off_z + np.arange(n), np.arange(m), m + np.arange(n)]
    Vv += [np.ones(n), np.ones(m), -np.ones(n)]
    bvec.append(f.a0)
    row += n
    # y - B'z = 0
    Bi, Bj = np.nonzero(p.B)
    R += [row + np.arange(k), row + Bj]
    C += [off_y + np.arange(k), off_z + Bi]
    Vv += [np.ones(k), -p.B[Bi, Bj]]
    bvec.append(np.zeros(k))
    row += k
    # fixed variables
    fixed = np.flatnonzero(f.lb == f.ub)
    R.append(row + np.arange(len(fixed)))
    C.append(fixed)
    Vv.append(np.ones(len(fixed)))
    bvec.append(f.lb[fixed])
    row += len(fixed)
    n_zero = row
    labels: list[str] = []
    # bounds: -x <= -lb, x <= ub (not fixed, finite)
    free = f.lb != f.ub
    lo = np.flatnonzero(free & np.isfinite(f.lb))
    R.append(row + np.arange(len(lo)))
    C.append(lo)
    Vv.append(-np.ones(len(lo)))
    bvec.append(-f.lb[lo])
    row += len(lo)
    up = np.flatnonzero(free & np.isfinite(f.ub))
    up_start = row
    R.append(row + np.arange(len(up)))
    C.append(up)
    Vv.append(np.ones(len(up)))
    bvec.append(f.ub[up])
    row += len(up)
    row_start = row
    # named rows, each soft row with its own slack
    si = off_slack
    for r in f.rows:
        R.append(row + r.rows)
        C.append(r.cols)
        Vv.append(r.vals)
        if r.soft and f.relaxed:
            R.append(row + np.arange(r.r))
            C.append(si + np.arange(r.r))
            Vv.append(-np.ones(r.r))
            si += r.r
        bvec.append(r.h_solver)
        row += r.r
    # slack >= 0
    R.append(row + np.arange(n_slack))
    C.append(off_slack + np.arange(n_slack))
    Vv.append(-np.ones(n_slack))
    bvec.append(np.zeros(n_slack))
    row += n_slack
    A = _csc(np.concatenate(R).astype(np.int64), np.concatenate(C).astype(np.int64), np.concatenate(Vv).astype(float), (row, nvar))
    b = np.concatenate(bvec)
    mat = Matrices(P, q, A, b, n_zero, row - n_zero, nvar, tuple(labels), off_z, off_y, off_slack, n_slack, row_start)
    object.__setattr__(mat, "_up", (up_start, up))
    return mat


def _clarabel(mat: Matrices, *, tol: float | None = None) -> tuple[str, str, np.ndarray | None, np.ndarray | None, float, float]:
    import clarabel

    settings = clarabel.DefaultSettings()
    settings.verbose = False
    settings.max_threads = 1
    if tol is not None:
        settings.tol_gap_abs = settings.tol_gap_rel = settings.tol_feas = tol
    cones = [clarabel.ZeroConeT(mat.n_zero), clarabel.NonnegativeConeT(mat.n_nonneg)]
    solver = clarabel.DefaultSolver(mat.P, mat.q, mat.A, mat.b, cones, settings)
    sol = solver.solve()
    st = str(sol.status)
    name = st.split(".")[-1]
    if name in ("Solved", "AlmostSolved"):
        status = "optimal"
    elif name in ("PrimalInfeasible", "AlmostPrimalInfeasible"):
        status = "infeasible"
    else:
        status = "failed"
    x = np.asarray(sol.x) if status == "optimal" else None
    z = np.asarray(sol.z) if status == "optimal" else None
    return status, name, x, z, float(sol.obj_val), float(sol.solve_time)


def _scs(mat: Matrices) -> tuple[str, str, np.ndarray | None, np.ndarray | None, float, float]:
    import scs

    data = {"P": mat.P, "A": mat.A, "b": mat.b, "c": mat.q}
    cone = {"z": mat.n_zero, "l": mat.n_nonneg}
    solver = scs.SCS(data, cone, verbose=False, eps_abs=1e-7, eps_rel=1e-7, max_iters=200_000)
    t0 = time.perf_counter()
    sol = solver.solve()
    took = time.perf_counter() - t0
    st = sol["info"]["status"]
    if st in ("solved", "solved_inaccurate"):
        status = "optimal"
    elif "infeasible" in st:
        status = "infeasible"
    else:
        status = "failed"
    x = np.asarray(sol["x"]) if status == "optimal" else None
    z = np.asarray(sol["y"]) if status == "optimal" else None
    return status, st, x, z, float(sol["info"]["pobj"]), took


def _ecos(mat: Matrices, f: Formulation) -> tuple[str, str, np.ndarray | None, np.ndarray | None, float, float]:
    """ECOS has no quadratic objective: min q'x + t with ||L u||^2 <= t as a rotated cone.

    ``1/2 x'Px = risk_aversion (sum d z^2 + y'F y) = ||L x||^2`` with L = sqrt(lam) [diag(sqrt d) z; chol(F)' y].
    Rotated cone ``||L x||^2 <= t``  <=>  ``||(2 L x, 1 - t)|| <= 1 + t``.
    """
    import ecos

    p = f.problem
    n, k = p.n, p.k
    lam = f.risk_aversion
    nv = mat.nvar + 1  # + t
    it = mat.nvar
    # L rows over z and y
    Lr: list[np.ndarray] = []
    Lc: list[np.ndarray] = []
    Lv: list[np.ndarray] = []
    sd = np.sqrt(np.maximum(p.d, 0.0) * lam)
    Lr.append(np.arange(n))
    Lc.append(mat.off_z + np.arange(n))
    Lv.append(sd)
    if k:
        w, U = np.linalg.eigh(p.F)
        root = (U * np.sqrt(np.maximum(w, 0.0))).T * np.sqrt(lam)  # root' root = lam F
        ri, rj = np.nonzero(root)
        Lr.append(n + ri)
        Lc.append(mat.off_y + rj)
        Lv.append(root[ri, rj])
    L = sp.csc_matrix((np.concatenate(Lv), (np.concatenate(Lr), np.concatenate(Lc))), shape=(n + k, nv))
    A_all = sp.hstack([mat.A, sp.csc_matrix((mat.A.shape[0], 1))]).tocsc()
    Aeq = A_all[: mat.n_zero]
    beq = mat.b[: mat.n_zero]
    Gl = A_all[mat.n_zero :]
    hl = mat.b[mat.n_zero :]
    et = sp.csc_matrix(([1.0], ([0], [it])), shape=(1, nv))
    # SOC: s = h - G x with s0 = 1 + t, s1 = 1 - t, s2.. = 2 L x
    Gsoc = sp.vstack([-et, et, -2.0 * L]).tocsc()
    hsoc = np.concatenate([[1.0, 1.0], np.zeros(n + k)])
    G = sp.vstack([Gl, Gsoc]).tocsc()
    h = np.concatenate([hl, hsoc])
    c = np.append(mat.q, 1.0)
    dims = {"l": int(Gl.shape[0]), "q": [int(n + k + 2)], "e": 0}
    t0 = time.perf_counter()
    sol = ecos.solve(c, G, h, dims, Aeq, beq, verbose=False, abstol=1e-9, reltol=1e-9, feastol=1e-9)
    took = time.perf_counter() - t0
    code = sol["info"]["exitFlag"]
    text = sol["info"]["infostring"]
    if code in (0, 10):
        status = "optimal"
    elif code in (1, 11):
        status = "infeasible"
    else:
        status = "failed"
    x = np.asarray(sol["x"])[: mat.nvar] if status == "optimal" else None
    if status == "optimal":
        z = np.concatenate([np.asarray(sol["y"]), np.asarray(sol["z"])[: Gl.shape[0]]])
    else:
        z = None
    return status, text, x, z, float(sol["info"]["pcost"]), took


def solve_fast(f: Formulation, *, solver: str = "clarabel") -> RawSolution:
    """Solve a `Formulation` with matrices built directly. ``solver``: clarabel (default), ecos or scs."""
    t0 = time.perf_counter()
    c0 = time.process_time()
    mat = build_matrices(f)
    c1 = time.process_time()
    if solver == "clarabel":
        status, name, x, z, obj, took = _clarabel(mat)
    elif solver == "scs":
        status, name, x, z, obj, took = _scs(mat)
    elif solver == "ecos":
        status, name, x, z, obj, took = _ecos(mat, f)
    else:
        raise ValueError(f"solver {solver!r}; expected one of {', '.join(SOLVERS)}")
    c2 = time.process_time()
    total = time.perf_counter() - t0
    if x is None or z is None:
        return RawSolution(status, name, None, None, float("nan"), took, total, None, None, solver, c2 - c1, c2 - c0)
    nx = f.nvar
    xs = x[:nx].copy()
    slack = x[mat.off_slack : mat.off_slack + mat.n_slack].copy()
    zn = z[mat.n_zero :]
    nr = sum(r.r for r in f.rows)
    row_dual = zn[mat.row_start - mat.n_zero : mat.row_start - mat.n_zero + nr].copy()
    up_start, up = object.__getattribute__(mat, "_up")
    bound_dual = np.zeros(nx)
    bound_dual[up] = zn[up_start - mat.n_zero : up_start - mat.n_zero + len(up)]
    # fixed variables at 0 (blocked) have their dual in the zero cone: keep its magnitude
    fixed = np.flatnonzero(f.lb == f.ub)
    fz = z[f.n + f.problem.k : f.n + f.problem.k + len(fixed)]
    bound_dual[fixed] = np.abs(fz)
    objective = f.objective(xs, slack)
    return RawSolution(status, name, xs, slack, objective, took, total, row_dual, bound_dual, solver, c2 - c1, time.process_time() - c0)
