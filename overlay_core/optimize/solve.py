"""Solve one account: elastic first, relaxed in the contract's order if infeasible, the wash-sale two-pass.

`optimize_account(problem)` returns an `Optimum`: continuous shares to sell per lot and to buy per
security, what was relaxed and why, which constraints bind, and the solver's time.

Relaxation. Every solve is "elastic": the soft families (drift bands -> sector caps -> turnover limit ->
minimum cash -> gain budget -> lt_wait -> cash need) get one slack per row with a penalty that doubles
along that order (`model.SLACK_PENALTY`), hard constraints stay hard. When every slack is 0 the solution
is the strict optimum (one solve, the common case). When a slack is used, the strict problem is solved
too: if it is feasible its optimum is kept (the penalty was too small to be exact); if it is infeasible
the elastic solution stands -- the earliest families gave way first and a later one only by what the
earlier ones cannot absorb; a cash need is then "partly met" by the most cash the hard constraints allow.
A family whose slack is > 0 is flagged, and the diagnosis names the hard constraints that bind against
it (from the duals). Only the hard constraints can make the problem infeasible (`OptimizationError`).

The wash-sale two-pass method. "Never a buy and a loss sale of one wash group on one day" is not convex
(it is an either/or). Pass 1 solves without it. For the wash groups where the optimum both buys and sells
a lot at a loss, pass 2 solves (A) with the buys of those groups forbidden (harvest and replace); a group
that then harvests nothing gives up its loss sales instead and keeps its buys (B), a mixed branch solved
once more -- never worse than (A), since (A)'s solution stays feasible: the cheaper side to give up, group
by group. ((B) for every group is solved only if (A) has no solution.)
Then a group whose kept side turned out idle is flipped once (the solution stays feasible, so the
objective can only fall): tomorrow's review, where that group is free, then finds nothing better (no
churn). New conflicts repeat the step (at most 10 rounds). Trades too small to survive rounding do not
count as conflicts; `rounding` checks the rule again on the final orders.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from overlay_core.errors import OptimizationError
from overlay_core.optimize.fast import SOLVERS, RawSolution, solve_fast
from overlay_core.optimize.model import Formulation, formulate
from overlay_core.optimize.problem import RELAXATION_ORDER, AccountProblem

#: a trade smaller than this (fraction of account value) is treated as none when checking conflicts
EPS = 1e-7
#: a slack above this (fraction of account value) means a soft constraint gave way
SLACK_TOL = 1e-8


@dataclass(frozen=True, eq=False)
class Optimum:
    """The continuous optimum of one account.

    sell : shares sold per lot (m,). buy : shares bought per security (n,).
    relaxed : soft families relaxed, in the contract's order. diagnosis : why (names the conflicts).
    binding : labels of the constraints that bind at the optimum.
    solve_time : the solver's own time, summed over every solve (s). total_time : build + solves (s).
    """

    problem: AccountProblem
    formulation: Formulation
    x: np.ndarray
    sell: np.ndarray
    buy: np.ndarray
    objective: float
    objective_no_trade: float
    relaxed: tuple[str, ...]
    relaxed_amount: dict[str, float]
    diagnosis: str
    binding: tuple[str, ...]
    wash_pass: tuple[str, ...]
    solver: str
    solver_status: str
    solve_time: float
    total_time: float
    n_solves: int
    solve_cpu: float = 0.0
    forbid_buy: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0, bool))
    forbid_sell: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0, bool))
    #: each solve's stage and objective, in order (base, strict, wash A, mixed, flip, release)
    trace: tuple[tuple[str, float], ...] = ()
    #: the strict formulation with the final wash-sale blocks (what rounding checks against)
    strict: Formulation | None = None


def _solve(f: Formulation, solver: str, path: str, log: list[RawSolution]) -> RawSolution:
    """Solve with ``solver``; on failure (not infeasibility) fall back to the others in turn."""
    order = [solver] + [s for s in SOLVERS if s != solver]
    for name in order:
        if path == "reference":
            from overlay_core.optimize.reference import solve_reference

            raw = solve_reference(f, solver=name)
        else:
            raw = solve_fast(f, solver=name)
        log.append(raw)
        if raw.status != "failed":
            return raw
    return log[-1]


def wash_sides(p: AccountProblem, sell: np.ndarray, buy: np.ndarray, *, tol_value: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """(wash groups bought, wash groups sold at a loss), sorted ids, for shares ``sell`` (m,) and ``buy`` (n,).

    With ``tol_value`` > 0 (USD) a trade counts only if worth more than it and at least half an increment
    (smaller ones do not survive rounding); with 0 every positive trade counts.
    """
    if tol_value > 0:
        b_on = (buy * p.prices > tol_value) & (buy >= 0.5 * p.increment)
        s_on = (sell * p.lot_price > tol_value) & (sell >= 0.5 * p.increment[p.lot_sec])
    else:
        b_on, s_on = buy > 0, sell > 0
    return np.unique(p.wash_group[b_on]), np.unique(p.wash_group[p.lot_sec[s_on & p.lot_is_loss]])


def wash_conflicts(p: AccountProblem, sell: np.ndarray, buy: np.ndarray, *, tol_value: float = 0.0) -> np.ndarray:
    """Wash groups (sorted ids) where ``buy`` (n,) buys and ``sell`` (m,) sells a lot at a loss (see `wash_sides`)."""
    bought, loss_sold = wash_sides(p, sell, buy, tol_value=tol_value)
    return np.intersect1d(bought, loss_sold)


def _binding(f: Formulation, raw: RawSolution, tol: float = 1e-7) -> tuple[str, ...]:
    out: list[str] = []
    if raw.row_dual is not None:
        i = 0
        for r in f.rows:
            d = raw.row_dual[i : i + r.r]
            out += [lab for lab, v in zip(r.labels, d) if abs(v) > tol]
            i += r.r
    if raw.bound_dual is not None:
        sel = np.flatnonzero((np.abs(raw.bound_dual) > tol) & (f.bound_kind > 1))  # not lot_size / long_only
        out += [f.bound_label(int(j)) for j in sel]
    return tuple(dict.fromkeys(out))


def _relaxed_families(f: Formulation, raw: RawSolution, tol: float = SLACK_TOL) -> dict[str, float]:
    """Soft family -> total slack (fraction of account value), only where > tol."""
    out: dict[str, float] = {}
    if not f.relaxed or raw.slack is None:
        return out
    i = 0
    for r in f.rows:
        if not r.soft:
            continue
        v = float(raw.slack[i : i + r.r].sum())
        i += r.r
        if v > tol:
            out[r.family] = out.get(r.family, 0.0) + v
    return {fam: out[fam] for fam in RELAXATION_ORDER if fam in out}


def _hard_infeasibility(p: AccountProblem, f: Formulation) -> OptimizationError:
    """Explain why even the relaxed problem has no solution (only hard constraints can cause it)."""
    V = f.V
    most_cash = p.cash + float(f.ub[: p.m].sum()) * V
    blocked = sorted({f.bound_label(int(j)) for j in np.flatnonzero(np.isin(f.bound_kind[: p.m], (3, 4)))})
    conflicts = ["cash_nonnegative"] + blocked
    return OptimizationError(
        f"account {p.account_id}: no order set keeps cash >= 0: cash {p.cash:,.2f} USD, at most "
        f"{most_cash:,.2f} USD after selling every sellable lot; conflicting: {', '.join(conflicts)}",
        conflicts=conflicts,
        retry_can_help=False,
    )


def _diagnosis(p: AccountProblem, f: Formulation, relaxed: dict[str, float], binding: tuple[str, ...]) -> str:
    if not relaxed:
        return ""
    V = f.V
    hard = [b for b in binding if not b.startswith(tuple(RELAXATION_ORDER))] or ["lot_size"]
    parts = []
    for fam, amount in relaxed.items():
        usd = amount * V
        if fam == "cash_need":
            parts.append(f"cash need partly met: {max(p.cash_need - usd, 0.0):,.2f} of {p.cash_need:,.2f} USD")
        elif fam == "gain_budget":
            parts.append(f"gain budget exceeded by {usd:,.2f} USD (allowance {p.gain_allowance or 0.0:,.2f})")
        elif fam == "min_cash":
            parts.append(f"minimum cash short by {usd:,.2f} USD")
        elif fam == "lt_wait":
            parts.append(f"short-term gains taken on lots near long-term ({usd:,.2f} USD sold)")
        else:
            parts.append(f"{fam.replace('_', ' ')} relaxed by {amount:.4%} of value")
    return "infeasible as given; relaxed " + "; ".join(parts) + "; conflicting with: " + ", ".join(hard[:12])


def optimize_account(
    p: AccountProblem,
    *,
    solver: str = "clarabel",
    path: str = "fast",
    forbid_buy: np.ndarray | None = None,
    forbid_sell: np.ndarray | None = None,
) -> Optimum:
    """The continuous optimum of account problem ``p``.

    Parameters
    ----------
    solver : clarabel (default), ecos or scs; another is tried if it fails (not if infeasible).
    path : ``fast`` (matrices built directly) or ``reference`` (cvxpy).
    forbid_buy, forbid_sell : extra bool masks (n,) / (m,) of buys / lot sales set to 0.

    Raises
    ------
    OptimizationError : only when the hard constraints alone cannot hold (cash < 0 whatever is sold),
        or every solver failed (``retry_can_help``).
    """
    if solver not in SOLVERS:
        raise OptimizationError(f"solver {solver!r}; expected one of {', '.join(SOLVERS)}")
    fb = np.zeros(p.n, bool) if forbid_buy is None else forbid_buy.copy()
    fs = np.zeros(p.m, bool) if forbid_sell is None else forbid_sell.copy()
    log: list[RawSolution] = []
    def elastic(fb_: np.ndarray, fs_: np.ndarray) -> tuple[Formulation, RawSolution]:
        """Solve with penalized slacks on the soft rows; if a slack is used, check the strict problem:
        feasible -> its optimum (the penalty was too small to be exact), infeasible -> the relaxed one."""
        f2 = formulate(p, relaxed=True, forbid_buy=fb_, forbid_sell=fs_)
        r2 = _solve(f2, solver, path, log)
        if r2.status == "optimal" and r2.slack is not None and r2.slack.size and float(r2.slack.max()) > SLACK_TOL:
            f3 = formulate(p, relaxed=False, forbid_buy=fb_, forbid_sell=fs_)
            r3 = _solve(f3, solver, path, log)
            if r3.status == "optimal":
                return f3, r3
        return f2, r2

    f, raw = elastic(fb, fs)
    trace: list[tuple[str, float]] = [("base", raw.objective)]
    if raw.status == "infeasible":
        raise _hard_infeasibility(p, f)
    if raw.status != "optimal" or raw.x is None:
        raise OptimizationError(
            f"account {p.account_id}: every solver failed ({', '.join(f'{r.solver}: {r.solver_status}' for r in log)})",
            retry_can_help=True,
        )

    # the wash-sale two-pass method
    notes: list[str] = []
    user_fb, user_fs = fb.copy(), fs.copy()
    side_of: dict[int, str] = {}  # wash group -> the side given up
    flipped: set[int] = set()
    released: set[int] = set()

    def masks(sides: dict[int, str]) -> tuple[np.ndarray, np.ndarray]:
        gb = np.array([g for g, sd in sides.items() if sd == "buys"], dtype=np.int64)
        gs = np.array([g for g, sd in sides.items() if sd == "loss sales"], dtype=np.int64)
        return user_fb | np.isin(p.wash_group, gb), user_fs | (np.isin(p.wash_group[p.lot_sec], gs) & p.lot_is_loss)

    def resolve(fb_: np.ndarray, fs_: np.ndarray, stage: str = "") -> tuple[Formulation, RawSolution] | None:
        f2, r2 = elastic(fb_, fs_)
        trace.append((stage, r2.objective))
        return (f2, r2) if r2.status == "optimal" and r2.x is not None else None

    for _ in range(12):
        sell, buy = f.to_shares(raw.x)
        tol = max(EPS * f.V, 0.5 * p.min_trade_value)  # smaller trades are dropped by rounding anyway
        groups = wash_conflicts(p, sell, buy, tol_value=tol)
        if len(groups):
            # (A) the buys of the conflicting groups forbidden: harvest and replace
            trial_a = dict(side_of)
            trial_a.update({int(g): "buys" for g in groups})
            cand = []
            got = resolve(*masks(trial_a), stage="wash A")
            if got is not None:
                cand.append((got[1].objective, "buys", got, trial_a))
                # a group that harvested nothing under (A) keeps its buys and forbids its loss sales instead:
                # (A)'s solution stays feasible, so this mixed branch is never worse
                sa, ba = got[0].to_shares(got[1].x)
                a_loss = set(wash_sides(p, sa, ba, tol_value=tol)[1].tolist())
                mixed = dict(trial_a)
                for g in groups.tolist():
                    if g not in a_loss:
                        mixed[int(g)] = "loss sales"
                if mixed != trial_a:
                    got_m = resolve(*masks(mixed), stage="wash mixed")
                    if got_m is not None:
                        every = "loss sales" if all(mixed[int(g)] == "loss sales" for g in groups) else "buys or loss sales, group by group"
                        cand.append((got_m[1].objective, every, got_m, mixed))
            else:  # (B) the loss sales forbidden
                trial_b = dict(side_of)
                trial_b.update({int(g): "loss sales" for g in groups})
                got = resolve(*masks(trial_b), stage="wash B")
                if got is not None:
                    cand.append((got[1].objective, "loss sales", got, trial_b))
            if not cand:
                raise OptimizationError(f"account {p.account_id}: the wash-sale second pass found no solution", retry_can_help=True)
            cand.sort(key=lambda c: c[0])
            _, side, (f, raw), chosen = cand[0]
            side_of.clear()
            side_of.update(chosen)
            fb, fs = masks(side_of)
            names = sorted({p.symbols[i] for i in np.flatnonzero(np.isin(p.wash_group, groups))})
            notes.append(f"wash groups of {', '.join(names)}: gave up the {side} (both on one day would wash the loss)")
            continue
        # no conflict left. A group whose kept side is idle (its buys forbidden but nothing of it sold at a
        # loss, or the reverse) is flipped to the other side once: the current solution stays feasible, so
        # the objective can only fall, and tomorrow's review (where that group is free) finds nothing better.
        bought_g, loss_g = wash_sides(p, sell, buy, tol_value=tol)
        bought, loss_sold = set(bought_g.tolist()), set(loss_g.tolist())
        idle = [g for g, sd in side_of.items() if g not in flipped and (g not in (loss_sold if sd == "buys" else bought))]
        if not idle:
            # groups idle on both sides: try them free; kept only if no conflict comes back and it is better
            both = [g for g in side_of if g not in released and g not in bought and g not in loss_sold]
            if not both:
                break
            released.update(both)
            trial = {g: sd for g, sd in side_of.items() if g not in both}
            got = resolve(*masks(trial), stage="wash release")
            if got is not None and got[1].objective < raw.objective - 1e-9:
                s2, b2 = got[0].to_shares(got[1].x)
                if not len(wash_conflicts(p, s2, b2, tol_value=tol)):
                    side_of = trial
                    f, raw = got
                    fb, fs = masks(side_of)
            continue
        trial = dict(side_of)
        for g in idle:
            trial[g] = "loss sales" if trial[g] == "buys" else "buys"
            flipped.add(g)
        got = resolve(*masks(trial), stage="wash flip")
        # the current solution may hold trades too small to count (below the rounding's minimum) on the
        # side now forbidden: a change smaller than half the no-churn threshold is accepted
        if got is None or got[1].objective > raw.objective + 0.5e-4 * p.no_churn_threshold_bps:
            continue
        side_of = trial
        f, raw = got
        fb, fs = masks(side_of)

    sell, buy = f.to_shares(raw.x)
    sell = np.clip(sell, 0.0, p.lot_shares)
    buy = np.maximum(buy, 0.0)
    binding = _binding(f, raw)
    relaxed = _relaxed_families(f, raw)
    strict = formulate(p, relaxed=False, forbid_buy=fb, forbid_sell=fs)
    return Optimum(
        problem=p,
        formulation=f,
        x=raw.x,
        sell=sell,
        buy=buy,
        objective=strict.objective(raw.x),
        objective_no_trade=strict.objective(np.zeros(f.nvar)),
        relaxed=tuple(relaxed),
        relaxed_amount={k: v * f.V for k, v in relaxed.items()},
        diagnosis=_diagnosis(p, f, relaxed, binding),
        binding=binding,
        wash_pass=tuple(notes),
        solver=raw.solver,
        solver_status=raw.solver_status,
        solve_time=sum(r.solve_time for r in log),
        total_time=sum(r.total_time for r in log),
        n_solves=len(log),
        solve_cpu=sum(r.solve_cpu for r in log),
        forbid_buy=fb,
        forbid_sell=fs,
        trace=tuple(trace),
        strict=strict,
    )
