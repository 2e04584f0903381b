"""Hand-computed cases on 2-3 securities (issue 6, "Done when")."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from overlay_core.errors import OptimizationError
from overlay_core.optimize.problem import AccountProblem
from overlay_core.optimize.propose import propose
from overlay_core.optimize.rounding import check_orders
from overlay_core.optimize.solve import optimize_account


def _lines(pr, side: str | None = None, symbol: str | None = None) -> pl.DataFrame:
    df = pr.orders
    if side:
        df = df.filter(pl.col("side") == side)
    if symbol:
        df = df.filter(pl.col("symbol") == symbol)
    return df


def _ok(pr) -> None:
    p = pr.problem
    sell = np.zeros(p.m)
    buy = np.zeros(p.n)
    for row in pr.orders.iter_rows(named=True):
        if row["side"] == "SELL":
            sell[p.lot_ids.index(row["lot_id"])] += row["shares"]
        else:
            buy[p.symbols.index(row["symbol"])] += row["shares"]
    assert check_orders(p, sell, buy) == []


def test_loss_lot_harvested_and_replaced_by_its_substitute(make_problem):
    # A bought at 150, now 100: a 2,500 USD long-term loss = 500 USD of tax saved (5% of the account).
    # Swapping A for A2 costs a tracking error of sqrt(0.5^2 * (0.02^2 + 0.02^2)) = 1.41%: TE^2 = 0.0002
    # (2 USD per 10,000) plus 2 x 5 bps of cost: far less than the 500 USD saved -> harvest, buy A2.
    p = make_problem(lot_basis=np.array([150.0, 100.0]))
    pr = propose(p)
    sells = _lines(pr, "SELL", "A")
    assert sells["shares"].to_list() == [50.0]
    assert sells["reason"].to_list() == ["tax_loss_harvest"]
    assert sells["est_realized_gain"].to_list() == pytest.approx([-2500.0])
    buys = _lines(pr, "BUY")
    assert buys["symbol"].to_list() == ["A2"]  # never A itself: that would wash the loss
    assert 48 <= buys["shares"][0] <= 50
    assert buys["reason"].to_list() == ["tax_loss_harvest"]
    assert pr.explanation.losses_harvested == pytest.approx(2500.0)
    assert pr.explanation.est_tax == pytest.approx(-500.0)
    assert pr.explanation.te_after < 0.02
    _ok(pr)


def test_never_sell_blocks_the_harvest(make_problem):
    p = make_problem(lot_basis=np.array([150.0, 100.0]), lot_sell_allowed=np.array([False, True]), lot_sell_reason=("never_sell", ""))
    pr = propose(p)
    assert _lines(pr, "SELL", "A").height == 0
    assert pr.orders.height == 0
    assert pr.explanation.decision == "no_trade"


def test_gain_budget_binds(make_problem):
    # A: 70 shares bought at 20 (gain 80/share, long-term); target A 50%. With a high risk aversion the
    # account wants to sell ~20 shares (1,600 USD of gain) but today's allowance is 500 USD: it sells
    # floor(500 / 80) = 6 shares (480 USD of gain), never more.
    p = make_problem(
        lot_shares=np.array([70.0, 29.0]),
        lot_basis=np.array([20.0, 100.0]),
        risk_aversion=100.0,
        gain_allowance=500.0,
    )
    o = optimize_account(p)
    assert "gain_budget" in o.binding
    assert float(np.dot(o.sell, p.lot_gain_per_share)) == pytest.approx(500.0, abs=1e-3)
    pr = propose(p)
    sold = _lines(pr, "SELL", "A")
    assert sold["shares"].sum() == 6.0
    assert pr.explanation.net_realized_gain == pytest.approx(480.0)
    # without the budget the same account sells far more
    free = propose(p.with_(gain_allowance=None))
    assert _lines(free, "SELL", "A")["shares"].sum() >= 15


def test_cash_need_raised_from_losses_first_then_long_term_gains(make_problem):
    # One security A in three lots of 30 shares: a loss (basis 120), a long-term gain and a short-term gain
    # (both basis 80). A cash need of 4,000 USD: the loss lot gives 3,000, the rest (10 shares) comes from
    # the long-term lot (tax 20% x 20 = 4 USD/share) -- never the short-term one (37% x 20 = 7.4 USD/share).
    p = make_problem(
        symbols=("A",),
        prices=np.array([100.0]),
        target=np.array([0.99]),
        asset_class=np.array([0]),
        asset_classes=("equity",),
        sector=np.array([0]),
        wash_group=np.array([0]),
        cost_bps=np.array([5.0]),
        B=np.array([[1.0, 1.0]]),
        d=np.array([0.02**2]),
        lot_ids=("LOSS", "LT", "ST"),
        lot_sec=np.array([0, 0, 0]),
        lot_shares=np.array([30.0, 30.0, 30.0]),
        lot_basis=np.array([120.0, 80.0, 80.0]),
        lot_long_term=np.array([True, True, False]),
        lot_days_to_lt=np.array([0, 0, 200]),
        cash=100.0,
        cash_need=4000.0,
    )
    pr = propose(p)
    sold = {r["lot_id"]: r["shares"] for r in _lines(pr, "SELL").iter_rows(named=True)}
    assert sold["LOSS"] == 30.0
    assert sold["LT"] == pytest.approx(10.0, abs=1.0)
    assert "ST" not in sold
    assert set(_lines(pr, "SELL")["reason"]) == {"cash_raise"}
    assert pr.explanation.cash_after >= 4000.0


def test_wash_sale_block_prevents_a_repurchase(make_problem):
    # A is underweight (30% vs 50%) but a household loss in A within 30 days blocks its purchase:
    # the optimizer buys the substitute A2 instead, never A.
    p = make_problem(
        lot_shares=np.array([30.0, 49.0]),
        cash=2100.0,
        buy_allowed=np.array([False, True, True]),
        buy_reason=("wash_sale", "", ""),
        risk_aversion=10.0,
    )
    pr = propose(p)
    assert _lines(pr, "BUY", "A").height == 0
    assert _lines(pr, "BUY", "A2")["shares"].sum() >= 15
    assert "no_buy[A:wash_sale]" in pr.explanation.binding
    _ok(pr)


def test_drift_smaller_than_its_cost_trades_nothing(make_problem):
    # A is 0.3% overweight: TE^2 of the drift is ~1e-6 (0.01 bps), less than the cost of any trade.
    p = make_problem(lot_shares=np.array([50.3, 48.7]), cost_bps=np.array([10.0, 10.0, 10.0]))
    pr = propose(p)
    assert pr.orders.height == 0
    assert pr.explanation.decision == "no_trade"


def test_hold_account_gets_no_orders(make_problem):
    p = make_problem(lot_basis=np.array([150.0, 100.0]), status="hold")
    pr = propose(p)
    assert pr.orders.height == 0
    assert pr.explanation.decision == "held"


def test_liquidate_sells_losses_first_within_the_gain_budget(make_problem):
    # A at a 2,500 USD loss, B at a 100 USD/share gain (basis 0): allowance 1,000 USD of net gain ->
    # all of A (-2,500) and 35 shares of B (+3,500): net gain exactly 1,000; never a buy.
    p = make_problem(lot_basis=np.array([150.0, 0.0]), status="liquidate", gain_allowance=1000.0)
    pr = propose(p)
    sold = {r["symbol"]: r["shares"] for r in _lines(pr, "SELL").iter_rows(named=True)}
    assert sold["A"] == 50.0
    assert sold["B"] == 35.0
    assert _lines(pr, "BUY").height == 0
    assert pr.explanation.net_realized_gain == pytest.approx(1000.0)


def test_required_exit_is_sold_even_below_min_trade_value(make_problem):
    # a screened position of 50 USD (below the 100 USD minimum trade) is still sold: the exit is required
    p = make_problem(
        symbols=("A", "A2", "B", "S"),
        prices=np.array([100.0, 100.0, 100.0, 50.0]),
        target=np.array([0.5, 0.0, 0.49, 0.0]),
        asset_class=np.array([0, 0, 1, 0]),
        sector=np.array([0, 0, -1, 0]),
        wash_group=np.array([0, 1, 2, 3]),
        cost_bps=np.full(4, 5.0),
        B=np.array([[1.0, 1.0], [1.0, 1.0], [0.1, 0.0], [1.0, 1.0]]),
        d=np.full(4, 0.02**2),
        lot_ids=("LA", "LB", "LS"),
        lot_sec=np.array([0, 2, 3]),
        lot_shares=np.array([50.0, 49.0, 1.0]),
        lot_basis=np.array([100.0, 100.0, 10.0]),
        lot_long_term=np.array([True, True, True]),
        lot_days_to_lt=np.array([0, 0, 0]),
        buy_allowed=np.array([True, True, True, False]),
        buy_reason=("", "", "", "screen"),
        exit_required=np.array([False, False, False, True]),
        exit_reason=("", "", "", "screen"),
    )
    pr = propose(p)
    s = _lines(pr, "SELL", "S")
    assert s["shares"].to_list() == [1.0]
    assert s["reason"].to_list() == ["restriction"]


def test_infeasible_cash_need_is_partly_met_and_diagnosed(make_problem):
    # a 9,000 USD cash need, but A is never-sell: only B (4,900) and cash (100) are available
    p = make_problem(cash_need=9000.0, lot_sell_allowed=np.array([False, True]), lot_sell_reason=("never_sell", ""))
    o = optimize_account(p)
    assert "cash_need" in o.relaxed
    assert "never_sell[A:never_sell]" in o.diagnosis
    assert "cash need partly met" in o.diagnosis
    pr = propose(p)
    assert _lines(pr, "SELL", "B")["shares"].sum() == 49.0
    assert pr.explanation.relaxed == ("cash_need",)
    _ok(pr)


def test_hard_infeasibility_is_an_error_proposal_not_a_crash(make_problem):
    # negative cash (a pending buy) and nothing sellable: no order set keeps cash >= 0
    p = make_problem(cash=-500.0, lot_sell_allowed=np.array([False, False]), lot_sell_reason=("never_sell", "never_sell"))
    with pytest.raises(OptimizationError, match="no order set keeps cash >= 0"):
        optimize_account(p)
    pr = propose(p)
    assert pr.explanation.decision == "error"
    assert "never_sell[A:never_sell]" in pr.explanation.diagnosis
    assert pr.orders.height == 0


def test_problem_refuses_bad_shapes(make_problem):
    with pytest.raises(OptimizationError, match="'target' has shape"):
        make_problem(target=np.array([0.5, 0.5]))
    with pytest.raises(OptimizationError, match="a price is not > 0"):
        make_problem(prices=np.array([100.0, 0.0, 100.0]))


def test_problem_is_immutable(make_problem):
    p = make_problem()
    with pytest.raises(ValueError):
        p.prices[0] = 1.0
    q = p.with_(cash=200.0)
    assert q is not p and p.cash == 100.0 and isinstance(q, AccountProblem)


def test_short_term_gain_near_long_term_waits_unless_cash_is_needed(make_problem):
    # A is 20% overweight (70 shares vs a 50% target) in one short-term lot at a gain that turns long-term
    # in 10 days (within the 30-day window): a rebalance does not sell it ...
    kw = dict(
        lot_shares=np.array([70.0, 29.0]),
        lot_basis=np.array([50.0, 100.0]),
        lot_long_term=np.array([False, True]),
        lot_days_to_lt=np.array([10, 0]),
        risk_aversion=100.0,
    )
    p = make_problem(**kw)
    assert p.lot_lt_wait.tolist() == [True, False]
    pr = propose(p)
    assert _lines(pr, "SELL", "A").height == 0
    # ... but a cash need larger than everything else can raise forces it (B and cash give 3,000)
    q = make_problem(cash_need=5000.0, **kw)
    pr = propose(q)
    assert _lines(pr, "SELL", "A")["shares"].sum() >= 20
    assert set(_lines(pr, "SELL")["reason"]) == {"cash_raise"}
    assert "lt_wait" in pr.explanation.relaxed
