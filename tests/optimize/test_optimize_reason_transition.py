"""The reason ``transition`` (`optimize.explain.in_transition`): only a proposal that uses up the account's
turnover limit or gain budget is a step of a transition; a firm-wide cap the trades stay well inside does
not turn a harvest or a rebalance into one.

The account (tests/optimize/conftest.py, `small_problem`): 50 A2 at 100 (basis 101: a loss, or 90: a
gain of 10/share) and 49 B at 100, cash 100 -- about 10,000 USD.
"""

from __future__ import annotations

import numpy as np

from overlay_core.optimize.explain import TRANSITION_USE, in_transition, line_reasons


def _account(make_problem, *, basis: float = 101.0, **over):
    kw = dict(
        lot_ids=("LS", "LB"),
        lot_sec=np.array([1, 2]),
        lot_shares=np.array([50.0, 49.0]),
        lot_basis=np.array([basis, 100.0]),
        lot_long_term=np.array([False, True]),
        lot_days_to_lt=np.array([330, 0]),
    )
    kw.update(over)
    return make_problem(**kw)


def _reasons(p, sell, buy):
    s, b = line_reasons(p, np.asarray(sell, float), np.asarray(buy, float))
    return list(s), list(b)


def test_a_turnover_cap_makes_a_transition_only_when_the_proposal_uses_it(make_problem):
    p = _account(make_problem, transition=True, max_turnover=0.25)
    V = p.scale_value
    # 50 A2 sold and 50 A bought: one-sided turnover 5,000 / ~10,000 = 0.5 >= 0.9 x 0.25
    assert in_transition(p, np.array([50.0, 0.0]), np.array([50.0, 0.0, 0.0]))
    assert _reasons(p, [50, 0], [50, 0, 0]) == (["transition", ""], ["transition", "", ""])
    # 5 A2 / 5 A: 0.05 of the value, well inside the cap: a harvest and its replacement
    assert not in_transition(p, np.array([5.0, 0.0]), np.array([5.0, 0.0, 0.0]))
    assert _reasons(p, [5, 0], [5, 0, 0]) == (["tax_loss_harvest", ""], ["tax_loss_harvest", "", ""])
    # the edge: exactly TRANSITION_USE of the cap (shares chosen so turnover = 0.9 x 0.25 x V)
    q = TRANSITION_USE * 0.25 * V / 100.0
    assert in_transition(p, np.array([q, 0.0]), np.array([q, 0.0, 0.0]))
    assert not in_transition(p, np.array([q * 0.99, 0.0]), np.array([q * 0.99, 0.0, 0.0]))


def test_a_gain_budget_used_up_is_a_transition(make_problem):
    # a gain of 10/share: selling 50 A2 realizes 500 USD
    used = _account(make_problem, basis=90.0, transition=True, gain_allowance=500.0)
    assert _reasons(used, [50, 0], [50, 0, 0]) == (["transition", ""], ["transition", "", ""])
    roomy = _account(make_problem, basis=90.0, transition=True, gain_allowance=5000.0)
    assert _reasons(roomy, [50, 0], [50, 0, 0]) == (["rebalance", ""], ["rebalance", "", ""])
    # a loss never uses a budget up
    loss = _account(make_problem, basis=101.0, transition=True, gain_allowance=0.0)
    assert _reasons(loss, [50, 0], [50, 0, 0]) == (["tax_loss_harvest", ""], ["tax_loss_harvest", "", ""])


def test_no_transition_flag_no_transition(make_problem):
    p = _account(make_problem, transition=False, max_turnover=0.25, basis=90.0, gain_allowance=500.0)
    assert not in_transition(p, np.array([50.0, 0.0]), np.array([50.0, 0.0, 0.0]))
