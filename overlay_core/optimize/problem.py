"""`AccountProblem`: one account on one day, as plain numpy arrays the optimizer reads.

Everything the optimizer needs and nothing it must look up: securities (the account's universe: held,
targeted and legal substitutes), lots, cash, the account's limits, the risk model's factor form and the
policy's weights. `optimize.build.build_problem` makes one from a `Book`; tests build them by hand.

Units: shares, USD per share, USD, weights as fractions of the account value `value` (cash included),
rates and costs as fractions (``cost_bps`` stays in bps as in the upload).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

import numpy as np

from overlay_core.errors import OptimizationError

#: the soft constraint families, in the order the data contract relaxes them (first relaxed first)
RELAXATION_ORDER: tuple[str, ...] = (
    "drift_band",
    "sector_cap",
    "turnover_limit",
    "min_cash",
    "gain_budget",
    "lt_wait",  # not in the contract's list: a short-term gain near long-term is taken only to meet a cash need
    "cash_need",
)

TRADING_STATUSES = ("active", "hold", "liquidate")


def _ro(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a


def _arr(x: Any, dtype: Any) -> np.ndarray:
    a = np.asarray(x, dtype=dtype)
    a.setflags(write=False)
    return a


@dataclass(frozen=True, eq=False)
class AccountProblem:
    """One account's rebalancing problem.

    Securities (``n``), lots (``m``), risk factors (``k``); every array is read-only.

    Parameters
    ----------
    account_id : the account.
    symbols : tuple of ``n`` symbols (no ``$CASH``).
    prices : array of shape (n,), USD per share, > 0.
    target : array of shape (n,), the target weight of each security (fraction of account value).
    target_cash : the target cash weight.
    asset_class : int array (n,), index into ``asset_classes``.
    sector : int array (n,), index into ``sectors``; -1 = none.
    wash_group : int array (n,), securities with one value are substantially identical.
    cost_bps : array (n,), one-way trading cost in bps of traded value.
    sec_type : tuple of ``n`` security types (contract.SECURITY_TYPES).
    increment : array (n,), the share increment an order is rounded to (1 for equity/etf, 0.001 for
        mutual funds and cash equivalents, ``trade_increment`` for bonds).
    buy_allowed : bool array (n,); ``buy_reason[i]`` says why a buy is blocked ("" when allowed):
        never_buy, screen, substituted_away, firm_restricted, wash_sale, liquidate.
    exit_required : bool array (n,): a restriction requires selling every lot (screen, substitution,
        firm list); ``exit_reason[i]`` names it. Never forces the sale of a never-sell position.
    substitution : bool array (n,): the security is held in place of another (an advisor's substitute).
    model_change : bool array (n,): the security's target moved since the last review (for the reason).
    switch_back : bool array (n,): the security belongs to a wash group the daily review offers the
        account to switch back to after a harvest (`review.daily.switch_back_candidates`; for the reason
        ``switch_back`` of its buys).
    lot_ids, lot_sec : lot id and security index (m,).
    lot_shares : array (m,) > 0.
    lot_basis : array (m,), USD per share (0 where the account has no basis: tax-deferred/exempt).
    lot_long_term : bool (m,), held more than one year at the trade date.
    lot_days_to_lt : int (m,), days until the lot turns long-term (0 when it is).
    lot_tax_per_share : array (m,), tax if one share is sold today, USD (gain x rate; < 0 a benefit;
        0 for accounts that pay no tax).
    lot_sell_allowed : bool (m,), False for never-sell positions; ``lot_sell_reason`` names it.
    lot_loss_sale_blocked : bool (m,), wash-sale rule (a): the lot may not be sold at a loss today.
    switch_back_lots : lot ids (a subset of ``lot_ids``) of the harvest substitutes held for a
        switch-back group (the review's signal, `review.daily.switch_back_substitutes`; for the reason
        ``switch_back`` of their sale). Ids, not a mask, so a problem whose lots change keeps them.
    cash, min_cash, cash_need : USD; cash after trades must be >= min_cash + cash_need.
    gain_allowance : USD of net realized gain allowed today (None = no budget).
    max_turnover : largest one-sided turnover (fraction of value); >= 1 means none.
    B, F, d : the risk model's factor form for ``symbols``: Sigma = B F B' + diag(d), annualized.
    risk_aversion : weight of tracking error squared (annual variance) in the objective.
    turnover_penalty_bps, no_churn_threshold_bps : policy weights, bps of traded value / account value.
    min_trade_value : USD, the smallest net order of a symbol.
    lt_wait_days : no short-term gain on a lot turning long-term within this many days.
    class_target, class_band : arrays (len(asset_classes),): asset-class target weight and drift band
        (|weight - target| <= band; inf = no band).
    sector_cap : array (len(sectors),): the largest weight of a sector (inf = no cap).
    tax_status : taxable, tax_deferred or tax_exempt. status : active, hold or liquidate.
    st_rate, lt_rate : the account's rates (for reports; taxes are already in ``lot_tax_per_share``).
    transition : the account may be moving to its target gradually: it has a turnover limit below 1 or a
        gain budget; its lines are ``transition`` when the proposal uses that limit or budget up
        (`explain.in_transition`).
    """

    account_id: str
    symbols: tuple[str, ...]
    prices: np.ndarray
    target: np.ndarray
    asset_class: np.ndarray
    asset_classes: tuple[str, ...]
    lot_ids: tuple[str, ...]
    lot_sec: np.ndarray
    lot_shares: np.ndarray
    lot_basis: np.ndarray
    lot_tax_per_share: np.ndarray
    cash: float
    B: np.ndarray
    F: np.ndarray
    d: np.ndarray
    target_cash: float = 0.0
    sector: np.ndarray | None = None
    sectors: tuple[str, ...] = ()
    wash_group: np.ndarray | None = None
    cost_bps: np.ndarray | None = None
    sec_type: tuple[str, ...] | None = None
    increment: np.ndarray | None = None
    buy_allowed: np.ndarray | None = None
    buy_reason: tuple[str, ...] | None = None
    exit_required: np.ndarray | None = None
    exit_reason: tuple[str, ...] | None = None
    substitution: np.ndarray | None = None
    model_change: np.ndarray | None = None
    switch_back: np.ndarray | None = None
    lot_long_term: np.ndarray | None = None
    lot_days_to_lt: np.ndarray | None = None
    lot_sell_allowed: np.ndarray | None = None
    lot_sell_reason: tuple[str, ...] | None = None
    lot_loss_sale_blocked: np.ndarray | None = None
    min_cash: float = 0.0
    cash_need: float = 0.0
    gain_allowance: float | None = None
    max_turnover: float = 1.0
    risk_aversion: float = 1.0
    turnover_penalty_bps: float = 1.0
    no_churn_threshold_bps: float = 2.0
    min_trade_value: float = 100.0
    lt_wait_days: int = 30
    class_target: np.ndarray | None = None
    class_band: np.ndarray | None = None
    sector_cap: np.ndarray | None = None
    tax_status: str = "taxable"
    status: str = "active"
    st_rate: float = 0.37
    lt_rate: float = 0.20
    transition: bool = False
    switch_back_lots: frozenset[str] = field(default=frozenset())
    #: free-form notes carried to the explanation (e.g. what the builder had to assume)
    notes: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        n, m = len(self.symbols), len(self.lot_ids)
        set_ = object.__setattr__
        set_(self, "prices", _arr(self.prices, float))
        set_(self, "target", _arr(self.target, float))
        set_(self, "asset_class", _arr(self.asset_class, np.int64))
        set_(self, "lot_sec", _arr(self.lot_sec, np.int64))
        set_(self, "lot_shares", _arr(self.lot_shares, float))
        set_(self, "lot_basis", _arr(self.lot_basis, float))
        set_(self, "lot_tax_per_share", _arr(self.lot_tax_per_share, float))
        B = np.asarray(self.B, float).reshape(n, -1) if n else np.zeros((0, np.asarray(self.B).shape[-1] if np.asarray(self.B).ndim == 2 else 0))
        set_(self, "B", _arr(B, float))
        k = B.shape[1]
        set_(self, "F", _arr(np.asarray(self.F, float).reshape(k, k), float))
        set_(self, "d", _arr(self.d, float))
        defaults: dict[str, tuple[Any, Any]] = {
            "sector": (np.full(n, -1), np.int64),
            "wash_group": (np.arange(n), np.int64),
            "cost_bps": (np.zeros(n), float),
            "increment": (np.ones(n), float),
            "buy_allowed": (np.ones(n, bool), bool),
            "exit_required": (np.zeros(n, bool), bool),
            "substitution": (np.zeros(n, bool), bool),
            "model_change": (np.zeros(n, bool), bool),
            "switch_back": (np.zeros(n, bool), bool),
            "lot_long_term": (np.ones(m, bool), bool),
            "lot_days_to_lt": (np.zeros(m), np.int64),
            "lot_sell_allowed": (np.ones(m, bool), bool),
            "lot_loss_sale_blocked": (np.zeros(m, bool), bool),
            "class_target": (np.zeros(len(self.asset_classes)), float),
            "class_band": (np.full(len(self.asset_classes), np.inf), float),
            "sector_cap": (np.full(len(self.sectors), np.inf), float),
        }
        for name, (default, dtype) in defaults.items():
            value = getattr(self, name)
            set_(self, name, _arr(default if value is None else value, dtype))
        set_(self, "switch_back_lots", frozenset(str(x) for x in self.switch_back_lots))
        if self.sec_type is None:
            set_(self, "sec_type", ("equity",) * n)
        for name, size in (("buy_reason", n), ("exit_reason", n), ("lot_sell_reason", m)):
            if getattr(self, name) is None:
                set_(self, name, ("",) * size)
        self._check(n, m, k)

    def _check(self, n: int, m: int, k: int) -> None:
        where = f"account {self.account_id}"
        shapes = {
            "prices": n, "target": n, "asset_class": n, "sector": n, "wash_group": n, "cost_bps": n,
            "increment": n, "buy_allowed": n, "exit_required": n, "substitution": n, "model_change": n, "switch_back": n, "d": n,
            "lot_sec": m, "lot_shares": m, "lot_basis": m, "lot_tax_per_share": m, "lot_long_term": m,
            "lot_days_to_lt": m, "lot_sell_allowed": m, "lot_loss_sale_blocked": m,
            "class_target": len(self.asset_classes), "class_band": len(self.asset_classes),
            "sector_cap": len(self.sectors),
        }
        for name, size in shapes.items():
            shape = getattr(self, name).shape
            if shape != (size,):
                raise OptimizationError(f"{where}: problem array {name!r} has shape {shape}; expected ({size},)")
        for name, size in (("sec_type", n), ("buy_reason", n), ("exit_reason", n), ("lot_sell_reason", m)):
            if len(getattr(self, name)) != size:
                raise OptimizationError(f"{where}: {name!r} has {len(getattr(self, name))} entries; expected {size}")
        if n and not np.all(self.prices > 0):
            raise OptimizationError(f"{where}: a price is not > 0 (found {self.prices.min()})")
        if m and (np.any(self.lot_sec < 0) or np.any(self.lot_sec >= n)):
            raise OptimizationError(f"{where}: a lot points outside the {n} securities")
        if m and not np.all(self.lot_shares > 0):
            raise OptimizationError(f"{where}: a lot has shares <= 0")
        if n and (np.any(self.asset_class < 0) or np.any(self.asset_class >= len(self.asset_classes))):
            raise OptimizationError(f"{where}: an asset-class index is outside {len(self.asset_classes)} classes")
        if n and (np.any(self.sector < -1) or np.any(self.sector >= len(self.sectors))):
            raise OptimizationError(f"{where}: a sector index is outside {len(self.sectors)} sectors")
        if not np.all(np.isfinite(self.lot_tax_per_share)):
            raise OptimizationError(f"{where}: lot_tax_per_share has a non-finite value")
        if self.status not in TRADING_STATUSES:
            raise OptimizationError(f"{where}: status {self.status!r}; expected one of {', '.join(TRADING_STATUSES)}")
        if self.value <= 0:
            raise OptimizationError(f"{where}: account value {self.value:.2f} is not > 0; nothing to optimize")
        if not np.all(self.increment > 0):
            raise OptimizationError(f"{where}: a trade increment is not > 0")

    # ---- derived -------------------------------------------------------------------------------
    @property
    def n(self) -> int:
        return len(self.symbols)

    @property
    def m(self) -> int:
        return len(self.lot_ids)

    @property
    def k(self) -> int:
        return int(self.B.shape[1])

    @property
    def taxable(self) -> bool:
        return self.tax_status == "taxable"

    @cached_property
    def shares_held(self) -> np.ndarray:
        """Shares held per security, shape (n,)."""
        return _ro(np.bincount(self.lot_sec, weights=self.lot_shares, minlength=self.n))

    @cached_property
    def holdings_value(self) -> np.ndarray:
        return _ro(self.shares_held * self.prices)

    @cached_property
    def value(self) -> float:
        """Account value, USD: cash plus every lot at today's close."""
        return float(self.cash + np.dot(self.lot_shares, self.prices[self.lot_sec]))

    @cached_property
    def scale_value(self) -> float:
        """The value weights are measured against after trading: the account value less the cash need
        (the withdrawal leaves the account), at least 5% of the value. USD."""
        return float(max(self.value - max(self.cash_need, 0.0), 0.05 * self.value))

    @cached_property
    def weights(self) -> np.ndarray:
        return _ro(self.holdings_value / self.value)

    @cached_property
    def lot_price(self) -> np.ndarray:
        return _ro(self.prices[self.lot_sec])

    @cached_property
    def lot_gain_per_share(self) -> np.ndarray:
        """Realized gain if one share of the lot is sold at today's close, USD (m,)."""
        return _ro(self.lot_price - self.lot_basis)

    @cached_property
    def lot_is_loss(self) -> np.ndarray:
        return _ro(self.lot_gain_per_share < 0)

    @cached_property
    def lot_lt_wait(self) -> np.ndarray:
        """Lots whose short-term gain would turn long-term within ``lt_wait_days`` (taxable accounts)."""
        if not self.taxable:
            return _ro(np.zeros(self.m, bool))
        return _ro((~self.lot_long_term) & (self.lot_days_to_lt <= self.lt_wait_days) & (self.lot_gain_per_share > 0))

    def covariance(self) -> np.ndarray:
        """Sigma = B F B' + diag(d), shape (n, n) (for tests and reports; the solver keeps the factor form)."""
        return self.B @ self.F @ self.B.T + np.diag(self.d)

    def tracking_error(self, weights: np.ndarray) -> float:
        """Ex-ante tracking error of security weights (n,) against the target, annualized fraction."""
        a = np.asarray(weights, float) - self.target
        y = self.B.T @ a
        return float(np.sqrt(max(float(y @ self.F @ y + np.dot(self.d, a * a)), 0.0)))

    def with_(self, **changes: Any) -> AccountProblem:
        """A new problem with some fields changed (this one is never modified)."""
        return replace(self, **changes)
