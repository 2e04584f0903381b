from __future__ import annotations

from types import MappingProxyType

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from overlay_core.contract import CASH
from overlay_core.policy import Policy, RebalancePolicy
from overlay_core.targets import account_targets, asset_allocation, blend_targets

from targetkit import RANGES, make_book

T1 = {CASH: 0.03, "AAA": 0.12, "AAB": 0.08, "AAC": 0.08, "AAD": 0.08, "AAE": 0.04, "VTI": 0.30, "VXUS": 0.12, "BND": 0.15}


def one(restrictions=(), *, target="T1", policy=None, lots=(), **acc) -> tuple[dict[str, float], object]:
    book = make_book(
        accounts=[dict(account_id="A1", target_id=target, cash=acc.pop("cash", 100_000.0), **acc)],
        restrictions=[("A1", *r) if len(r) == 3 else r for r in restrictions],
        lots=list(lots),
        policy=policy,
    )
    res = account_targets(book)
    return res.of("A1"), res


def classes(w: dict[str, float]) -> dict[str, float]:
    book = make_book(accounts=[])
    frame = pl.DataFrame({"account_id": ["A"] * len(w), "symbol": list(w), "weight": list(w.values())})
    return dict(asset_allocation(frame, book.securities, key="account_id").select("asset_class", "weight").iter_rows())


def test_no_restrictions_is_the_blend() -> None:
    w, res = one()
    assert w == pytest.approx(T1, abs=1e-15)
    assert res.adjustments.height == 0


def test_screen_moves_weight_to_same_class_and_sector_and_keeps_allocation() -> None:
    w, res = one([("screen", "fossil", None)])
    assert w.get("AAD", 0.0) == 0.0
    assert w["AAC"] == pytest.approx(0.16, abs=1e-15)  # the other energy stock
    assert classes(w) == pytest.approx(classes(T1), abs=1e-15)
    assert res.blocked.filter(pl.col("symbol") == "AAD")["reason"].to_list() == ["screen"]
    assert "same asset class and sector" in res.adjustments["detail"][0]


def test_never_buy_without_sector_peer_goes_to_a_legal_substitute() -> None:
    w, res = one([("never_buy", "AAE", None)])
    assert w.get("AAE", 0.0) == 0.0
    assert w["AAF"] == pytest.approx(0.04, abs=1e-15)  # same class, same sector, another wash group
    assert classes(w) == pytest.approx(classes(T1), abs=1e-15)


def test_screened_fund_without_legal_substitute_goes_pro_rata_in_its_class() -> None:
    # VTI: the only legal substitute SCHB is screened too; ITOT is the same wash group
    w, _ = one([("never_buy", "VTI", None), ("never_buy", "SCHB", None), ("never_buy", "ITOT", None)])
    assert w.get("VTI", 0.0) == 0.0
    assert classes(w) == pytest.approx(classes(T1), abs=1e-15)
    # the stocks of us_equity took VTI's 0.30 pro rata to their weights (0.40 in all)
    assert w["AAA"] == pytest.approx(0.12 + 0.30 * 0.12 / 0.40, abs=1e-15)


def test_whole_class_excluded_changes_allocation_and_says_so() -> None:
    w, res = one([("never_buy", "VXUS", None), ("never_buy", "IXUS", None)])
    assert w.get("VXUS", 0.0) == 0.0
    assert classes(w).get("intl_equity", 0.0) == 0.0
    assert sum(w.values()) == pytest.approx(1.0, abs=1e-14)
    assert "allocation_changed" in res.adjustments["kind"].to_list()


def test_substitution_takes_the_weight() -> None:
    w, res = one([("substitute", "VTI>SCHB", None)])
    assert w.get("VTI", 0.0) == 0.0
    assert w["SCHB"] == pytest.approx(0.30, abs=1e-15)
    assert classes(w) == pytest.approx(classes(T1), abs=1e-15)
    assert res.blocked.filter(pl.col("symbol") == "VTI")["reason"].to_list() == ["substituted_away"]
    assert res.substitutes.rows() == [("A1", "VTI", "SCHB")]


@pytest.mark.parametrize(
    "restrictions, match",
    [
        ([("substitute", "VTI>ITOT", None)], "ITOT is not an approved legal substitute for VTI \\(the same wash group\\)"),
        ([("substitute", "AAC>AAD", None), ("screen", "fossil", None)], "AAD is screen for this account"),
        ([("substitute", "AAA>AAB", None), ("never_buy", "AAB", None)], "AAB is never buy"),
        ([("substitute", "AAA>AAC", None)], "another sector"),
        ([("substitute", "VTI>VXUS", None)], "another asset class"),
        ([("substitute", "VTI>SCHB", None), ("substitute", "SCHB>AAA", None)], "a chain of substitutions \\(VTI>SCHB>AAA\\)"),
        ([("substitute", "AAA>AAB", None), ("substitute", "AAB>AAA", None)], "a cycle of substitutions"),
        ([("substitute", "VTI>SCHB", None), ("substitute", "VTI>ITOT", None)], "VTI has more than one substitute"),
        ([("substitute", "VTI>NOPE", None)], "NOPE is not a security of the upload"),
        ([("substitute", "VTI", None)], "expected FROM>TO"),
    ],
)
def test_refused_substitutions(restrictions, match) -> None:
    w, res = one(restrictions)
    assert w == {}
    assert res.refused.height >= 1
    assert any(__import__("re").search(match, r) for r in res.refused["reason"].to_list()), res.refused["reason"].to_list()


def test_substitute_not_on_approved_list_is_refused() -> None:
    pol = Policy(
        ranges=MappingProxyType({k: MappingProxyType(v) for k, v in RANGES.items()}),
        approved=MappingProxyType({"us_equity": ("SCHB",)}),
    )
    w, res = one([("substitute", "AAA>AAB", None)], policy=pol)
    assert w == {}
    assert "not on the policy's approved list for 'us_equity'" in res.refused["reason"][0]
    w, _ = one([("substitute", "VTI>SCHB", None)], policy=pol)
    assert w["SCHB"] == pytest.approx(0.30)


def test_firm_wide_substitution_chain_refuses_the_account() -> None:
    book = make_book(
        accounts=[dict(account_id="A1", target_id="T1", cash=1e5), dict(account_id="A2", target_id="T1", cash=1e5)],
        restrictions=[("*", "substitute", "VTI>SCHB", None), ("A2", "substitute", "SCHB>ITOT", None)],
    )
    res = account_targets(book)
    assert res.of("A1")["SCHB"] == pytest.approx(0.30)
    assert res.refused["account_id"].to_list() == ["A2"]


def test_custom_asset_class_weight_rescales_and_others_absorb_pro_rata() -> None:
    w, res = one([("asset_class_weight", "us_equity", 0.5)])
    c = classes(w)
    assert c["us_equity"] == pytest.approx(0.5, abs=1e-15)
    # others (0.30 of the blend) scaled to 0.50
    assert c["bond"] == pytest.approx(0.15 * 0.5 / 0.3, abs=1e-15)
    assert c["intl_equity"] == pytest.approx(0.12 * 0.5 / 0.3, abs=1e-15)
    assert w["AAA"] / w["VTI"] == pytest.approx(0.12 / 0.30)
    assert res.adjustments["kind"].to_list() == ["asset_class_weight"]


def test_custom_weight_outside_the_ipc_range_is_refused_for_that_account_only() -> None:
    book = make_book(
        accounts=[dict(account_id="A1", target_id="T1", cash=1e5), dict(account_id="A2", target_id="T1", cash=1e5)],
        restrictions=[("A1", "asset_class_weight", "us_equity", 0.9)],
    )
    res = account_targets(book)
    assert res.refused.rows() == [("A1", "T1", "asset_class_weight us_equity=0.9000 is outside the IPC's range [0.3000, 0.8000] for target 'T1'")]
    assert res.weights["account_id"].unique().to_list() == ["A2"]


def test_custom_weight_without_a_range_is_refused() -> None:
    _, res = one([("asset_class_weight", "bond", 0.3)], target="T3")
    assert "the IPC sets no range for 'bond' in target 'T3'" in res.refused["reason"][0]


def test_custom_cash_weight() -> None:
    w, _ = one([("asset_class_weight", "cash", 0.1)])
    assert w[CASH] == pytest.approx(0.1, abs=1e-15)
    assert classes(w)["us_equity"] == pytest.approx(0.7 * 0.9 / 0.97, abs=1e-15)


def test_sector_cap_moves_excess_to_other_sectors_of_the_class() -> None:
    w, res = one([("sector_max", "tech", 0.1)])
    assert w["AAA"] + w["AAB"] == pytest.approx(0.1, abs=1e-15)
    assert classes(w) == pytest.approx(classes(T1), abs=1e-15)
    assert w["AAC"] > 0.08 and w["AAE"] > 0.04
    assert w["VTI"] == pytest.approx(0.30)  # sector-less funds only when no sector is left
    assert "sector_max" in res.adjustments["kind"].to_list()


def test_two_sector_caps_hold_together() -> None:
    w, _ = one([("sector_max", "tech", 0.1), ("sector_max", "energy", 0.12)])
    assert w["AAA"] + w["AAB"] <= 0.1 + 1e-12
    assert w["AAC"] + w["AAD"] <= 0.12 + 1e-12
    assert classes(w) == pytest.approx(classes(T1), abs=1e-14)


def test_never_sell_position_stays_and_counts_toward_its_class() -> None:
    # A1 holds AAA worth 20% of the account (price 50 x 400 = 20,000 of 100,000)
    w, res = one([("never_sell", "AAA", None)], lots=[("A1", "AAA", 400)], cash=80_000.0)
    assert w["AAA"] == pytest.approx(0.20, abs=1e-12)
    assert classes(w)["us_equity"] == pytest.approx(0.70, abs=1e-12)
    assert w.get("AAB", 0.0) == 0.0  # the same-sector peer gives way first (0.08 taken)
    assert "never_sell" in res.adjustments["kind"].to_list()
    assert res.never_sell.rows() == [("A1", "AAA")]


def test_never_sell_beats_screen_held_not_bought() -> None:
    w, res = one([("never_sell", "AAD", None), ("screen", "fossil", None)], lots=[("A1", "AAD", 100)], cash=90_000.0)
    held = 100 * 80.0 / (90_000 + 8_000)  # AAD's price is 80 in the test book
    assert w["AAD"] == pytest.approx(held, abs=1e-12)
    assert classes(w)["us_equity"] == pytest.approx(0.70, abs=1e-12)
    assert res.blocked.filter(pl.col("symbol") == "AAD")["reason"].to_list() == ["screen"]


def test_cash_target_is_the_largest_then_cash_need_on_top() -> None:
    pol = Policy(rebalance=RebalancePolicy(cash_floor=0.04))
    w, _ = one(target="T1", policy=pol)
    assert w[CASH] == pytest.approx(0.04, abs=1e-15)
    w, _ = one(target="T1", min_cash_weight=0.1)
    assert w[CASH] == pytest.approx(0.1, abs=1e-15)
    w, res = one(target="T1", min_cash_weight=0.1, cash_need=5_000.0, cash=100_000.0)
    assert w[CASH] == pytest.approx(0.15, abs=1e-15)
    assert res.cash_weight["cash_weight"].to_list() == [pytest.approx(0.15)]
    # the rest keeps its mix
    assert w["AAA"] / w["BND"] == pytest.approx(0.12 / 0.15)


def test_firm_wide_restrictions_apply_to_every_account() -> None:
    book = make_book(
        accounts=[dict(account_id=f"A{i}", target_id=t, cash=1e5) for i, t in enumerate(["T1", "T2", "T3"])],
        restrictions=[("*", "never_buy", "VTI", None)],
    )
    res = account_targets(book)
    assert res.weights.filter(pl.col("symbol") == "VTI").height == 0
    assert set(res.blocked.filter(pl.col("symbol") == "VTI")["reason"].to_list()) == {"firm_restricted"}
    assert res.weights.group_by("account_id").agg(pl.col("weight").sum())["weight"].to_list() == pytest.approx([1, 1, 1])


def test_unknown_symbols_and_tags_are_harmless() -> None:
    w, res = one([("never_buy", "ZZZ", None), ("screen", "no_such_tag", None)])
    assert w == pytest.approx(T1, abs=1e-15)
    assert res.refused.height == 0


def test_inputs_are_not_mutated() -> None:
    book = make_book(accounts=[dict(account_id="A1", target_id="T1", cash=1e5)], restrictions=[("A1", "screen", "fossil", None)])
    before = blend_targets(book)
    account_targets(book)
    assert blend_targets(book).equals(before)


# ---- random customizations ------------------------------------------------------------------------

SYMS = ["AAA", "AAB", "AAC", "AAD", "AAE", "AAF", "VTI", "ITOT", "SCHB", "VXUS", "IXUS", "BND", "AGG", "MMF"]
restriction = st.one_of(
    st.tuples(st.just("never_buy"), st.sampled_from(SYMS), st.none()),
    st.tuples(st.just("screen"), st.sampled_from(["fossil", "tobacco", "esg_low"]), st.none()),
    st.tuples(st.just("never_sell"), st.sampled_from(SYMS), st.none()),
    st.tuples(st.just("substitute"), st.builds(lambda a, b: f"{a}>{b}", st.sampled_from(SYMS), st.sampled_from(SYMS)), st.none()),
    st.tuples(st.just("sector_max"), st.sampled_from(["tech", "energy", "health"]), st.floats(0.0, 0.3)),
    st.tuples(st.just("asset_class_weight"), st.sampled_from(["us_equity", "bond", "cash"]), st.floats(0.0, 1.0)),
)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    accounts=st.lists(
        st.tuples(
            st.sampled_from(["T1", "T2", "T3"]),
            st.lists(restriction, max_size=5),
            st.lists(st.tuples(st.sampled_from(SYMS), st.floats(1, 500)), max_size=4),
            st.floats(0, 0.3),
            st.floats(0, 50_000),
        ),
        min_size=1,
        max_size=4,
    )
)
def test_random_customizations_always_give_valid_weights(accounts) -> None:
    accs, rs, lots = [], [], []
    for i, (t, restr, held, mcw, need) in enumerate(accounts):
        a = f"A{i}"
        accs.append(dict(account_id=a, target_id=t, cash=20_000.0, min_cash_weight=mcw, cash_need=need))
        rs += [(a, *r) for r in restr]
        lots += [(a, s, sh) for s, sh in held]
    book = make_book(accounts=accs, restrictions=rs, lots=lots)
    res = account_targets(book)
    # the vectorized cash step agrees with the account-by-account one
    slow = account_targets(book, _vectorized=False)
    assert res.weights.select("account_id", "symbol").equals(slow.weights.select("account_id", "symbol"))
    assert np.allclose(res.weights["weight"].to_numpy(), slow.weights["weight"].to_numpy(), rtol=0, atol=1e-15)
    for name in ("adjustments", "refused", "blocked", "never_sell", "substitutes"):
        assert getattr(res, name).equals(getattr(slow, name)), name
    w = res.weights
    assert w.equals(w.sort("account_id", "symbol"))
    # every account is either targeted or refused, never both
    done = set(w["account_id"].to_list())
    refused = set(res.refused["account_id"].to_list())
    assert done | refused == {a["account_id"] for a in accs}
    assert not done & refused
    assert (w["weight"] >= 0).all()
    assert w["weight"].is_finite().all()
    sums = w.group_by("account_id").agg(pl.col("weight").sum(), (pl.col("symbol") == CASH).sum().alias("cash_rows"))
    assert np.allclose(sums["weight"].to_numpy(), 1.0, atol=1e-12)
    assert (sums["cash_rows"] == 1).all()
    # no excluded symbol carries weight, except a never-sell position that is held (held, not bought)
    never_sell = set(res.never_sell.rows())
    bad = w.join(res.blocked, on=["account_id", "symbol"], how="inner").filter(pl.col("weight") > 0)
    for a, s, *_ in bad.rows():
        assert (a, s) in never_sell, (a, s)
    # sector caps hold unless the account says which one was relaxed
    caps = [(a, v, lim) for a, k, v, lim in rs if k == "sector_max"]
    relaxed = set(res.adjustments.filter(pl.col("kind") == "relaxed")["account_id"].to_list())
    sec = dict(book.securities.select("symbol", "sector").iter_rows())
    for a, sector, lim in caps:
        if a in done and a not in relaxed:
            tot = sum(wt for acc, s, wt in w.rows() if acc == a and sec.get(s) == sector)
            assert tot <= lim + 1e-9, (a, sector, tot, lim)
    # substituted-away never carries weight unless held never-sell
    for a, f, _ in res.substitutes.rows():
        got = w.filter((pl.col("account_id") == a) & (pl.col("symbol") == f))
        assert got.height == 0 or (a, f) in never_sell


@settings(max_examples=80, deadline=None)
@given(
    restr=st.lists(
        st.one_of(
            st.tuples(st.just("never_buy"), st.sampled_from(SYMS), st.none()),
            st.tuples(st.just("screen"), st.sampled_from(["fossil", "tobacco", "esg_low"]), st.none()),
            st.tuples(st.just("substitute"), st.sampled_from(["VTI>SCHB", "AAE>AAF", "VXUS>IXUS", "BND>AGG", "AAC>AAD"]), st.none()),
        ),
        max_size=6,
    ),
    target=st.sampled_from(["T1", "T2", "T3"]),
)
def test_screens_and_substitutions_preserve_asset_allocation(restr, target) -> None:
    book = make_book(accounts=[dict(account_id="A1", target_id=target, cash=1e5)], restrictions=[("A1", *r) for r in restr])
    res = account_targets(book)
    if res.refused.height:
        return
    base = asset_allocation(blend_targets(book).filter(pl.col("target_id") == target), book.securities)
    got = asset_allocation(res.weights, book.securities, key="account_id")
    b = dict(base.select("asset_class", "weight").iter_rows())
    g = dict(got.select("asset_class", "weight").iter_rows())
    if "allocation_changed" in res.adjustments["kind"].to_list():
        return
    for cls in set(b) | set(g):
        assert abs(b.get(cls, 0.0) - g.get(cls, 0.0)) < 1e-12, (cls, b, g)


def test_custom_weight_of_the_only_class_puts_the_rest_in_cash() -> None:
    pol = Policy(ranges=MappingProxyType({"T9": MappingProxyType({"us_equity": (0.5, 1.0)})}))
    book = make_book(
        accounts=[dict(account_id="A1", target_id="T9", cash=1e5)],
        targets=[("T9", "M_STK", 1.0)],
        restrictions=[("A1", "asset_class_weight", "us_equity", 0.8)],
        policy=pol,
    )
    res = account_targets(book)
    w = res.of("A1")
    assert w[CASH] == pytest.approx(0.2, abs=1e-15)
    assert classes(w)["us_equity"] == pytest.approx(0.8, abs=1e-15)
    assert "to cash" in res.adjustments["detail"][-1]


def test_liquidating_account_targets_cash_but_keeps_never_sells() -> None:
    w, res = one([("never_sell", "AAA", None)], lots=[("A1", "AAA", 400), ("A1", "VTI", 100)], cash=69_000.0, status="liquidate")
    assert set(w) == {"AAA", CASH}
    assert w["AAA"] == pytest.approx(20_000 / 100_000, abs=1e-12)
    assert w[CASH] == pytest.approx(0.8, abs=1e-12)
    assert res.adjustments["kind"][0] == "liquidate"


def test_never_sell_larger_than_its_class_takes_from_other_classes() -> None:
    # AAA held at 90% of the account: us_equity (0.70 target) cannot absorb it
    w, res = one([("never_sell", "AAA", None)], lots=[("A1", "AAA", 1800)], cash=10_000.0)
    assert w["AAA"] == pytest.approx(0.9, abs=1e-12)
    assert sum(w.values()) == pytest.approx(1.0, abs=1e-14)
    assert all(v >= 0 for v in w.values())
    assert classes(w)["us_equity"] == pytest.approx(0.9, abs=1e-12)


def test_excluded_fund_goes_to_the_most_correlated_legal_substitute_with_a_risk_model() -> None:
    from overlay_core.targets import risk_model

    book = make_book(accounts=[dict(account_id="A1", target_id="T2", cash=1e5)], restrictions=[("A1", "never_buy", "BND", None)])
    r = risk_model(book)
    res = account_targets(book, risk=r)
    w = res.of("A1")
    # the only bond fund outside BND's wash group is AGG
    assert w["AGG"] == pytest.approx(0.25, abs=1e-15)
    assert "legal substitute AGG" in res.adjustments["detail"][0]


def test_most_correlated_substitute_wins_over_alphabetical_order() -> None:
    import datetime as dt

    from targetkit import AS_OF, SECURITIES_ROWS
    from overlay_core.contract import PRICE_HISTORY, schema
    from overlay_core.targets import risk_model

    secs = [r for r in SECURITIES_ROWS] + [("ZZB", "bond", "etf", None, None, None)]
    book = make_book(accounts=[dict(account_id="A1", target_id="T2", cash=1e5)], restrictions=[("A1", "never_buy", "BND", None)], securities=secs)
    rng = np.random.default_rng(3)
    days = 300
    base = rng.normal(0, 0.01, days)
    rets = {s: rng.normal(0, 0.01, days) for s, *_ in secs}
    rets["ZZB"] = base + rng.normal(0, 0.001, days)  # ZZB moves with BND
    rets["BND"] = base
    dates = [AS_OF - dt.timedelta(days=days - 1 - i) for i in range(days)]
    ph = pl.DataFrame(
        {
            "date": [d for d in dates for _ in secs],
            "symbol": [s for _ in dates for s, *_ in secs],
            "close": np.exp(np.cumsum(np.array([rets[s] for s, *_ in secs]).T, axis=0)).reshape(-1) * 100,
        },
        schema=schema(PRICE_HISTORY),
    )
    book = book.__class__(**{**book.__dict__, "price_history": ph})
    assert account_targets(book).of("A1")["AGG"] == pytest.approx(0.25)  # without a risk model: by symbol
    w = account_targets(book, risk=risk_model(book)).of("A1")
    assert w.get("AGG", 0.0) == 0.0 and w["ZZB"] == pytest.approx(0.25)


def test_per_account_accessors_match_the_frames() -> None:
    book = make_book(
        accounts=[dict(account_id="A1", target_id="T1", cash=1e5), dict(account_id="A2", target_id="T2", cash=1e5)],
        restrictions=[("A1", "screen", "fossil", None), ("A1", "never_sell", "AAA", None), ("A2", "never_buy", "VTI", None)],
    )
    res = account_targets(book)
    for a in ("A1", "A2"):
        sub = res.weights.filter(pl.col("account_id") == a)
        assert res.of(a) == dict(sub.select("symbol", "weight").iter_rows())
        assert res.blocked_of(a) == dict(res.blocked.filter(pl.col("account_id") == a).select("symbol", "reason").iter_rows())
    assert res.never_sell_of("A1") == {"AAA"} and res.never_sell_of("A2") == frozenset()
    assert res.of("nobody") == {} and res.blocked_of("nobody") == {}


def test_never_sell_above_a_sector_cap_is_kept_and_the_cap_relaxed() -> None:
    # tech capped at 10%, but AAA (tech) is held at 20% and may not be sold
    w, res = one([("never_sell", "AAA", None), ("sector_max", "tech", 0.1)], lots=[("A1", "AAA", 400)], cash=80_000.0)
    assert w["AAA"] == pytest.approx(0.2, abs=1e-12)
    assert w.get("AAB", 0.0) == 0.0
    assert any("exceeded by never-sell positions" in d for d in res.adjustments["detail"].to_list())
    assert classes(w)["us_equity"] == pytest.approx(0.7, abs=1e-12)
