"""The order lines' reason ``switch_back`` (`optimize.explain.line_reasons`) on a hand-made account.

The account (tests/optimize/conftest.py, `small_problem`) holds A2 -- a harvest's substitute for A (same
asset class and sector, another wash group) -- in place of its target A; B is a bond fund. The daily review
offers the switch back to A's wash group (problem field ``switch_back``) and names the A2 lot as the
substitute held for it (``switch_back_lots``).
"""

from __future__ import annotations

import numpy as np
import pytest

from overlay_core.contract import REASONS
from overlay_core.optimize.explain import explain, line_reasons, order_frame
from overlay_core.optimize.propose import propose

BACK = dict(switch_back=np.array([True, False, False]), switch_back_lots=frozenset({"LS"}))


def _holding_substitute(make_problem, **over):
    """50 A2 (lot LS) bought at `basis` (price 100) in place of A, 49 B (lot LB, basis 100), cash 100."""
    kw = dict(
        lot_ids=("LS", "LB"),
        lot_sec=np.array([1, 2]),
        lot_shares=np.array([50.0, 49.0]),
        lot_basis=np.array([over.pop("basis", 101.0), 100.0]),
        lot_long_term=np.array([False, True]),
        lot_days_to_lt=np.array([330, 0]),
    )
    kw.update(over)
    return make_problem(**kw)


def _reasons(p, sell, buy):
    s, b = line_reasons(p, np.asarray(sell, float), np.asarray(buy, float))
    return list(s), list(b)


def test_the_switch_back_pair_is_named_switch_back_before_tax_loss_harvest(make_problem):
    # sell the substitute A2 at a loss and buy A back
    without = _holding_substitute(make_problem)
    assert _reasons(without, [50, 0], [50, 0, 0]) == (["tax_loss_harvest", ""], ["tax_loss_harvest", "", ""])
    p = _holding_substitute(make_problem, **BACK)
    assert _reasons(p, [50, 0], [50, 0, 0]) == (["switch_back", ""], ["switch_back", "", ""])
    # at a gain, and in an IRA, the pair is the same switch back (without it: rebalance)
    gain = _holding_substitute(make_problem, basis=90.0, **BACK)
    assert _reasons(gain, [50, 0], [50, 0, 0]) == (["switch_back", ""], ["switch_back", "", ""])
    ira = _holding_substitute(make_problem, tax_status="tax_deferred", **BACK)
    assert _reasons(ira, [50, 0], [50, 0, 0]) == (["switch_back", ""], ["switch_back", "", ""])
    assert _reasons(_holding_substitute(make_problem, tax_status="tax_deferred"), [50, 0], [50, 0, 0]) == (["rebalance", ""], ["rebalance", "", ""])
    assert "switch_back" in REASONS and REASONS.index("switch_back") == REASONS.index("tax_loss_harvest") - 1


def test_only_the_pair_is_named(make_problem):
    p = _holding_substitute(make_problem, **BACK)
    # a sale of the substitute without buying A back is not a switch back: its ordinary reason
    assert _reasons(p, [50, 0], [0, 0, 49]) == (["tax_loss_harvest", ""], ["", "", "rebalance"])
    # buying A back from cash (the substitute kept) is; a sale of another lot is not
    assert _reasons(p, [0, 0], [1, 0, 0]) == (["", ""], ["switch_back", "", ""])
    assert _reasons(p, [0, 10], [10, 0, 0]) == (["", "rebalance"], ["switch_back", "", ""])
    # a lot the review did not name (no switch_back_lots) keeps its reason even when A is bought
    only_groups = _holding_substitute(make_problem, switch_back=np.array([True, False, False]))
    assert _reasons(only_groups, [50, 0], [50, 0, 0]) == (["tax_loss_harvest", ""], ["switch_back", "", ""])
    # a substitute lot's sale needs a switch-back buy of its own asset class (a bond buy is not one)
    other_class = _holding_substitute(make_problem, switch_back=np.array([False, False, True]), switch_back_lots=frozenset({"LS"}))
    assert _reasons(other_class, [50, 0], [0, 0, 49]) == (["tax_loss_harvest", ""], ["", "", "switch_back"])


@pytest.mark.parametrize(
    ("over", "want"),
    [
        (dict(cash_need=3000.0), (["cash_raise", ""], ["switch_back", "", ""])),
        (dict(model_change=np.array([True, True, False])), (["model_change", ""], ["model_change", "", ""])),
        (dict(transition=True, max_turnover=0.001), (["transition", ""], ["transition", "", ""])),
        (dict(substitution=np.array([True, False, False])), (["switch_back", ""], ["substitution", "", ""])),
    ],
)
def test_the_reasons_before_it_win(make_problem, over, want):
    p = _holding_substitute(make_problem, **BACK, **over)
    assert _reasons(p, [50, 0], [50, 0, 0]) == want


def test_the_lines_and_the_explanation_of_a_proposal(make_problem):
    """The optimizer's own proposal: it sells the substitute and buys A; the lines and the text say why."""
    p = _holding_substitute(make_problem, basis=100.5, **BACK)
    pr = propose(p)
    got = {(s, side): r for s, side, r in pr.orders.select("symbol", "side", "reason").iter_rows()}
    assert got.get(("A2", "SELL")) == "switch_back" and got.get(("A", "BUY")) == "switch_back", got
    assert pr.explanation.reasons.get("switch_back", 0) >= 2
    assert "switches back to A after the wash-sale window" in pr.explanation.why
    # the same proposal without the review's information: the ordinary reasons, nothing else changes
    plain = propose(p.with_(switch_back=np.zeros(3, bool), switch_back_lots=frozenset()))
    assert plain.orders.drop("reason").equals(pr.orders.drop("reason"))
    assert "switch_back" not in set(plain.orders["reason"])
    # ids, not a mask: a problem whose lots change keeps the names (an unknown id is ignored)
    q = p.with_(lot_ids=("LB2", "LS"), lot_sec=np.array([2, 1]), lot_shares=np.array([49.0, 50.0]),
                lot_basis=np.array([100.0, 100.5]), lot_tax_per_share=np.array([0.0, -0.185]),
                lot_long_term=np.array([True, False]), lot_days_to_lt=np.array([0, 330]))
    f = order_frame(q, np.array([0.0, 50.0]), np.array([50.0, 0.0, 0.0]))
    assert f["reason"].to_list() == ["switch_back", "switch_back"]
