"""Fixtures of the optimizer's tests: a small hand-made account (securities A, A2, B)."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pytest

from overlay_core.optimize.problem import AccountProblem


def small_problem(**over: Any) -> AccountProblem:
    """Securities A (equity), A2 (A's legal substitute: same class and sector, another wash group, nearly
    identical risk), B (a low-risk bond fund). Prices 100. Risk: a market factor (16%/yr) and an equity
    factor; A and A2 load identically and have 2% specific volatility each.

    Default holdings: one lot of 50 A (basis 100, long-term), one lot of 49 B (basis 100), cash 100 ->
    account value 10,000 USD; target A 50%, B 49%, cash 1%.
    """
    base: dict[str, Any] = dict(
        account_id="H1",
        symbols=("A", "A2", "B"),
        prices=np.array([100.0, 100.0, 100.0]),
        target=np.array([0.50, 0.0, 0.49]),
        target_cash=0.01,
        asset_class=np.array([0, 0, 1]),
        asset_classes=("equity", "bond"),
        sector=np.array([0, 0, -1]),
        sectors=("tech",),
        wash_group=np.array([0, 1, 2]),
        cost_bps=np.array([5.0, 5.0, 5.0]),
        lot_ids=("LA", "LB"),
        lot_sec=np.array([0, 2]),
        lot_shares=np.array([50.0, 49.0]),
        lot_basis=np.array([100.0, 100.0]),
        lot_long_term=np.array([True, True]),
        lot_days_to_lt=np.array([0, 0]),
        cash=100.0,
        B=np.array([[1.0, 1.0], [1.0, 1.0], [0.1, 0.0]]),
        F=np.diag([0.16**2, 0.10**2]),
        d=np.array([0.02**2, 0.02**2, 0.03**2]),
        risk_aversion=1.0,
        min_trade_value=100.0,
        st_rate=0.37,
        lt_rate=0.20,
    )
    base.update(over)
    if "lot_tax_per_share" not in over:
        p = base["prices"][base["lot_sec"]]
        rate = np.where(base.get("lot_long_term", np.ones(len(base["lot_ids"]), bool)), base["lt_rate"], base["st_rate"])
        taxable = base.get("tax_status", "taxable") == "taxable"
        base["lot_tax_per_share"] = (p - base["lot_basis"]) * rate if taxable else np.zeros(len(base["lot_ids"]))
    return AccountProblem(**base)


@pytest.fixture
def make_problem() -> Callable[..., AccountProblem]:
    return small_problem
