"""The optimization model of one account: objective terms and named constraints, solver-neutral.

Variables (normalized, fractions of the account value ``V`` so that every problem is well scaled):

- ``s[l] = shares sold of lot l x price / V``, ``0 <= s[l] <= lot value / V`` (m,)
- ``b[i] = shares bought of security i x price / V``, ``b[i] >= 0`` (n,)

Post-trade weights ``w = h - A s + b`` with ``h`` the current weights and ``A`` (n x m) the lot -> security
incidence; active weights ``a = w - t``; cash after trades ``c = c0 + sum(s) - sum(b)``.

Objective (USD per USD of account value), each a named term:

- `TrackingError`: ``risk_aversion x a' Sigma a``, Sigma = B F B' + diag(d) (annual variance);
- `TaxCost`: ``sum_l tax_per_share[l] / price[l] x s[l]``: realized gains at the account's short/long-term
  rates, losses a benefit (< 0); zero for tax-deferred and tax-exempt accounts;
- `TradingCost`: ``cost_bps x 1e-4`` per unit traded, both sides;
- `TurnoverPenalty`: ``turnover_penalty_bps x 1e-4`` per unit traded (ties go to fewer trades);
- `LiquidationReward`: ``-1`` per unit sold, for ``liquidate`` accounts only (larger than any tax rate,
  so everything is sold that the gain budget allows, losses first).

Constraints are `Bound` (on one variable) or `Rows` (linear rows ``G x <= h``), each with a family name.
Hard families are never relaxed; soft ones (``RELAXATION_ORDER``) get, in relaxed mode, a slack per row
with a penalty that grows along the contract's order, so the earliest families give way first.

Both solver paths (`optimize.fast` builds Clarabel's matrices, `optimize.reference` writes cvxpy) read the
same `Formulation`; the reference re-expresses every piece in cvxpy's algebra, so their agreement checks the
matrix assembly of the fast path.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from overlay_core.optimize.problem import RELAXATION_ORDER, AccountProblem

#: slack penalty of each soft family in relaxed mode (USD per USD of account value of violation)
SLACK_PENALTY: dict[str, float] = {fam: 10.0 * 2.0**i for i, fam in enumerate(RELAXATION_ORDER)}


@dataclass(frozen=True, eq=False)
class Rows:
    """Named linear rows ``G x <= h`` (or ``== h``) over ``x = [s, b]``; ``G`` in COO triplets.

    Parameters
    ----------
    family : constraint family (e.g. ``sector_cap``); ``soft`` says whether it may be relaxed.
    labels : one label per row (e.g. ``sector_cap[Technology]``), used in diagnoses.
    rows, cols, vals : COO triplets of G, rows in ``range(len(labels))``.
    h : right-hand side, shape (r,).
    """

    family: str
    labels: tuple[str, ...]
    rows: np.ndarray
    cols: np.ndarray
    vals: np.ndarray
    h: np.ndarray
    soft: bool = False
    #: per row, how much tighter than ``h`` the solver is asked to stay (room for rounding to whole
    #: shares); a rounded order set violates the row only beyond it. None = zeros.
    margin: np.ndarray | None = None

    @property
    def r(self) -> int:
        return len(self.labels)

    @property
    def h_solver(self) -> np.ndarray:
        return self.h if self.margin is None else self.h - self.margin

    @property
    def tol(self) -> np.ndarray:
        return np.zeros(self.r) if self.margin is None else self.margin

    def dense(self, nvar: int) -> np.ndarray:
        G = np.zeros((self.r, nvar))
        np.add.at(G, (self.rows, self.cols), self.vals)
        return G


@dataclass(frozen=True, eq=False)
class Formulation:
    """Everything a solver path needs: bounds, linear cost, the tracking-error data and named rows.

    ``x = [s (m), b (n)]`` in fractions of ``V``. ``lb``/``ub`` (m+n,) are the hard bounds, with
    ``bound_kind`` (int codes into `BOUND_KINDS`) saying which constraint set each; `bound_label(j)` names
    it (``never_sell[XYZ:never_sell]``...).
    """

    problem: AccountProblem
    V: float
    lb: np.ndarray
    ub: np.ndarray
    bound_kind: np.ndarray
    q: np.ndarray
    a0: np.ndarray  # active weights before trading, h - t (n,)
    risk_aversion: float
    rows: tuple[Rows, ...]
    relaxed: bool
    terms: tuple[str, ...] = field(default=())
    liquidate: bool = False

    def bound_label(self, j: int) -> str:
        """The name of the hard bound on variable ``j`` (a lot's sale for j < m, a buy otherwise)."""
        p = self.problem
        k = BOUND_KINDS[int(self.bound_kind[j])]
        if j < p.m:
            sym = p.symbols[p.lot_sec[j]]
            if k == "never_sell":
                return f"never_sell[{sym}:{p.lot_sell_reason[j] or 'never_sell'}]"
            if k == "wash_sale_loss_sale":
                return f"wash_sale_loss_sale[{sym}:{p.lot_ids[j]}]"
            if k == "required_exit":
                return f"required_exit[{sym}:{p.exit_reason[p.lot_sec[j]] or 'restriction'}]"
            if k == "lt_wait":
                return f"lt_wait[{p.lot_ids[j]}]"
            return k
        i = j - p.m
        if k == "no_buy":
            why = p.buy_reason[i] or ("liquidate" if self.liquidate else "wash_same_day")
            return f"no_buy[{p.symbols[i]}:{why}]"
        return k

    @property
    def m(self) -> int:
        return self.problem.m

    @property
    def n(self) -> int:
        return self.problem.n

    @property
    def nvar(self) -> int:
        return self.problem.m + self.problem.n

    def to_shares(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Normalized ``x`` -> (shares sold per lot (m,), shares bought per security (n,))."""
        p = self.problem
        return x[: p.m] * self.V / p.lot_price, x[p.m : p.m + p.n] * self.V / p.prices

    def from_shares(self, sell: np.ndarray, buy: np.ndarray) -> np.ndarray:
        p = self.problem
        return np.concatenate([sell * p.lot_price / self.V, buy * p.prices / self.V])

    def objective(self, x: np.ndarray, slack: np.ndarray | None = None) -> float:
        """The objective at ``x`` (fractions of V), tracking error's constant included."""
        p = self.problem
        a = self.a0 - np.bincount(p.lot_sec, weights=x[: p.m], minlength=p.n) + x[p.m :]
        y = p.B.T @ a
        val = self.risk_aversion * float(y @ p.F @ y + np.dot(p.d, a * a)) + float(self.q @ x)
        if slack is not None and self.relaxed:
            val += float(self.slack_penalties() @ slack)
        return val

    def slack_penalties(self) -> np.ndarray:
        out = [np.full(r.r, SLACK_PENALTY[r.family]) for r in self.rows if r.soft]
        return np.concatenate(out) if out else np.zeros(0)

    def row_values(self, x: np.ndarray) -> list[tuple[Rows, np.ndarray]]:
        """``G x - h`` of every named row family (> 0 is a violation)."""
        out = []
        for r in self.rows:
            gx = np.bincount(r.rows, weights=r.vals * x[r.cols], minlength=r.r)
            out.append((r, gx - r.h))
        return out


# ---- objective terms ------------------------------------------------------------------------------
def tax_cost(p: AccountProblem) -> np.ndarray:
    """Linear tax cost per unit of normalized sale, (m,): tax per share / price (0 if not taxable)."""
    if not p.taxable:
        return np.zeros(p.m)
    return p.lot_tax_per_share / p.lot_price


def trading_cost(p: AccountProblem) -> tuple[np.ndarray, np.ndarray]:
    c = p.cost_bps * 1e-4
    return c[p.lot_sec], c.copy()


def turnover_penalty(p: AccountProblem) -> float:
    return p.turnover_penalty_bps * 1e-4


# ---- constraints ----------------------------------------------------------------------------------
def _row(family: str, labels: list[str], trip: list[tuple[np.ndarray, np.ndarray, np.ndarray]], h: list[float], soft: bool) -> Rows:
    if trip:
        rows = np.concatenate([t[0] for t in trip]).astype(np.int64)
        cols = np.concatenate([t[1] for t in trip]).astype(np.int64)
        vals = np.concatenate([t[2] for t in trip]).astype(float)
    else:
        rows = cols = np.zeros(0, np.int64)
        vals = np.zeros(0)
    return Rows(family, tuple(labels), rows, cols, vals, np.asarray(h, float), soft)


def cash_rows(p: AccountProblem, V: float) -> list[Rows]:
    """Cash after trades: >= 0 (hard), >= min cash + cash need (soft: min_cash), >= cash need (soft: cash_need).

    Each row reads ``sum(b) - sum(s) <= c0 - floor``.
    """
    m, n = p.m, p.n
    c0 = p.cash / V
    cols = np.arange(m + n)
    vals = np.concatenate([-np.ones(m), np.ones(n)])
    zero = np.zeros(m + n, np.int64)
    out = [Rows("cash_nonnegative", ("cash_nonnegative",), zero, cols, vals, np.array([c0]))]
    need, minc = max(p.cash_need, 0.0) / V, max(p.min_cash, 0.0) / V
    if minc > 0:
        out.append(Rows("min_cash", ("min_cash",), zero, cols, vals, np.array([c0 - minc - need]), soft=True))
    if need > 0:
        out.append(Rows("cash_need", ("cash_need",), zero, cols, vals, np.array([c0 - need]), soft=True))
    return out


def gain_budget_rows(p: AccountProblem, V: float) -> list[Rows]:
    """Net realized gain <= today's allowance: ``sum_l gain_per_share[l] / price[l] x s[l] <= allowance / V``."""
    if not p.taxable or p.gain_allowance is None or p.m == 0:
        return []
    g = p.lot_gain_per_share / p.lot_price
    return [
        Rows(
            "gain_budget",
            ("gain_budget",),
            np.zeros(p.m, np.int64),
            np.arange(p.m),
            g,
            np.array([p.gain_allowance / V]),
            soft=True,
        )
    ]


def turnover_rows(p: AccountProblem) -> list[Rows]:
    """One-sided turnover ``(sum(s) + sum(b)) / 2 <= max_turnover`` (only when max_turnover < 1)."""
    if p.max_turnover >= 1.0:
        return []
    nv = p.m + p.n
    return [Rows("turnover_limit", ("turnover_limit",), np.zeros(nv, np.int64), np.arange(nv), np.full(nv, 0.5), np.array([p.max_turnover]), soft=True)]


def _group_rows(
    p: AccountProblem, family: str, names: tuple[str, ...], sec_group: np.ndarray, bound: np.ndarray, sign: float, base: np.ndarray, h: np.ndarray
) -> Rows:
    """``sign x (weight of group g after trades) <= bound[g]`` for every group with a finite bound."""
    groups = np.flatnonzero(np.isfinite(bound))
    remap = np.full(len(names), -1)
    remap[groups] = np.arange(len(groups))
    trip = []
    lot_g = remap[sec_group[p.lot_sec]] if p.m else np.zeros(0, np.int64)
    sel = np.flatnonzero(lot_g >= 0)
    trip.append((lot_g[sel], sel, np.full(len(sel), -sign)))
    sec_g = remap[sec_group] if p.n else np.zeros(0, np.int64)
    selb = np.flatnonzero(sec_g >= 0)
    trip.append((sec_g[selb], p.m + selb, np.full(len(selb), sign)))
    label = "drift_band_" + ("high" if sign > 0 else "low") if family == "drift_band" else family
    rows = _row(family, [f"{label}[{names[g]}]" for g in groups], trip, list(bound[groups] - sign * base[groups]), soft=True)
    # rounding room: one increment of the group's dearest security, at most a quarter of the bound
    step = p.increment * p.prices / p.scale_value
    dear = np.zeros(len(names))
    ok = (sec_group >= 0) & (sec_group < len(names))
    np.maximum.at(dear, sec_group[ok], step[ok])
    margin = np.minimum(dear[groups], 0.25 * np.abs(bound[groups]))
    return Rows(rows.family, rows.labels, rows.rows, rows.cols, rows.vals, rows.h, True, margin)


def sector_rows(p: AccountProblem) -> list[Rows]:
    """Sector caps: weight of each capped sector after trades <= cap."""
    if not len(p.sectors) or not np.any(np.isfinite(p.sector_cap)):
        return []
    w = p.holdings_value / p.scale_value
    has = p.sector >= 0
    base = np.bincount(p.sector[has], weights=w[has], minlength=len(p.sectors))
    sec = np.where(has, p.sector, len(p.sectors))  # an unsectored security maps past the end (no row)
    names = p.sectors + ("",)
    cap = np.append(p.sector_cap, np.inf)
    base = np.append(base, 0.0)
    return [_group_rows(p, "sector_cap", names, sec, cap, 1.0, base, cap)]


def drift_rows(p: AccountProblem) -> list[Rows]:
    """Asset-class drift bands: ``|weight of class - class target| <= band`` (two rows per banded class)."""
    if not np.any(np.isfinite(p.class_band)):
        return []
    base = np.bincount(p.asset_class, weights=p.holdings_value / p.scale_value, minlength=len(p.asset_classes))
    hi = p.class_target + p.class_band
    lo = p.class_band - p.class_target  # -(weight) <= band - target
    return [
        _group_rows(p, "drift_band", p.asset_classes, p.asset_class, hi, 1.0, base, hi),
        _group_rows(p, "drift_band", p.asset_classes, p.asset_class, lo, -1.0, base, lo),
    ]


def lt_wait_rows(p: AccountProblem, exit_lots: np.ndarray) -> list[Rows]:
    """No short-term gain on a lot turning long-term within ``lt_wait_days`` (soft, for a cash need)."""
    lots = np.flatnonzero(p.lot_lt_wait & ~exit_lots)
    if not len(lots):
        return []
    return [
        _row(
            "lt_wait",
            [f"lt_wait[{p.lot_ids[l]}]" for l in lots],
            [(np.arange(len(lots)), lots, np.ones(len(lots)))],
            [0.0] * len(lots),
            soft=True,
        )
    ]


#: kinds of the hard bound on each variable (`Formulation.bound_kind`), named by `Formulation.bound_label`
BOUND_KINDS = ("lot_size", "long_only", "no_buy", "never_sell", "wash_sale_loss_sale", "required_exit", "lt_wait")
_LOT_SIZE, _LONG_ONLY, _NO_BUY, _NEVER_SELL, _WASH_LOSS, _EXIT, _LT_WAIT = range(len(BOUND_KINDS))


def _static_rows(p: AccountProblem) -> tuple[Rows, ...]:
    """The named rows that do not depend on the wash-sale pass (cached on the problem)."""
    cached = p.__dict__.get("_static_rows")
    if cached is None:
        V = p.scale_value
        rows = cash_rows(p, V) + gain_budget_rows(p, V) + turnover_rows(p) + sector_rows(p) + drift_rows(p)
        cached = tuple(r for r in rows if r.r)
        p.__dict__["_static_rows"] = cached
    return cached


def formulate(
    p: AccountProblem,
    *,
    relaxed: bool = False,
    forbid_buy: np.ndarray | None = None,
    forbid_sell: np.ndarray | None = None,
    liquidate: bool | None = None,
) -> Formulation:
    """Build the named terms and constraints of problem ``p``.

    Parameters
    ----------
    relaxed : give every soft row a penalized slack (used when the strict problem is infeasible).
    forbid_buy : bool (n,), extra buys set to 0 (the wash-sale two-pass method).
    forbid_sell : bool (m,), extra lot sales set to 0 (idem).
    liquidate : add the liquidation reward (default: ``p.status == "liquidate"``).
    """
    m, n = p.m, p.n
    V = p.scale_value
    liquidate = p.status == "liquidate" if liquidate is None else liquidate
    lb = np.zeros(m + n)
    ub = np.concatenate([p.lot_shares * p.lot_price / V, np.full(n, np.inf)])
    kind = np.concatenate([np.full(m, _LOT_SIZE, np.int8), np.full(n, _LONG_ONLY, np.int8)])

    # hard: buys blocked (never-buy, screen, substituted away, firm list, wash-sale rule (b), liquidate)
    blocked_b = np.ones(n, bool) if liquidate else ~p.buy_allowed
    if forbid_buy is not None:
        blocked_b = blocked_b | forbid_buy
    ub[m:][blocked_b] = 0.0
    kind[m:][blocked_b] = _NO_BUY
    # hard: sells blocked (never-sell; wash-sale rule (a) for a lot that would sell at a loss; two-pass)
    blocked_s = ~p.lot_sell_allowed
    loss_blocked = p.lot_loss_sale_blocked & p.lot_is_loss
    if forbid_sell is not None:
        loss_blocked = loss_blocked | forbid_sell
    ub[:m][blocked_s | loss_blocked] = 0.0
    kind[:m][loss_blocked] = _WASH_LOSS
    kind[:m][blocked_s] = _NEVER_SELL
    # hard: a restriction requires the exit (never a never-sell; a wash-blocked loss lot waits)
    exit_lots = p.exit_required[p.lot_sec] & p.lot_sell_allowed & ~loss_blocked
    lb[:m][exit_lots] = ub[:m][exit_lots]
    kind[:m][exit_lots] = _EXIT

    cs, cb = trading_cost(p)
    kappa = turnover_penalty(p)
    q = np.concatenate([tax_cost(p) + cs + kappa, cb + kappa])
    terms = ["tracking_error", "tax_cost", "trading_cost", "turnover_penalty"]
    if liquidate:
        q[:m] -= 1.0
        terms.append("liquidation_reward")

    rows = list(_static_rows(p))
    lt_lots = np.flatnonzero(p.lot_lt_wait & ~exit_lots)
    if len(lt_lots):
        if relaxed:
            rows += lt_wait_rows(p, exit_lots)
        else:  # a plain bound in strict mode
            free = lt_lots[kind[lt_lots] == _LOT_SIZE]
            ub[free] = 0.0
            kind[free] = _LT_WAIT

    a0 = p.holdings_value / V - p.target
    ra = 0.0 if liquidate else p.risk_aversion
    return Formulation(
        problem=p,
        V=V,
        lb=lb,
        ub=ub,
        bound_kind=kind,
        q=q,
        a0=a0,
        risk_aversion=ra,
        rows=tuple(rows),
        relaxed=relaxed,
        terms=tuple(terms),
        liquidate=liquidate,
    )
