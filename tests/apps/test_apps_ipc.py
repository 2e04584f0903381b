"""overlay_core.apps.ipc: edits -> a validated change, CHANGE.csv round trip, allocation, cascade trades."""

from __future__ import annotations

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from overlay_core.apps import ipc
from overlay_core.errors import ConfigError, DataError
from overlay_core.targets.cascade import cascade, read_change


@pytest.fixture(scope="module")
def risk(demo_book):
    from overlay_core.targets import risk_model

    return risk_model(demo_book)


def test_editable_weights_of_a_model_and_a_blend(demo_book):
    w = ipc.editable_weights(demo_book, "models", "strategic_moderate")
    assert w.columns == ["symbol", "name", "asset_class", "weight"]
    assert w["weight"].sum() == pytest.approx(1.0)
    assert w["weight"].is_sorted(descending=True)
    b = ipc.editable_weights(demo_book, "targets", "balanced")
    assert b.columns == ["model_id", "weight"]
    assert set(b["model_id"]) == {"strategic_moderate", "northbridge_multi_asset"}
    with pytest.raises(ConfigError, match="model 'nope' is not in the book's models"):
        ipc.editable_weights(demo_book, "models", "nope")


def test_product_swap_moves_the_whole_weight():
    w = pl.DataFrame({"symbol": ["VOO", "AGG", "IVV"], "weight": [0.5, 0.3, 0.2]})
    out = ipc.product_swap(w, "VOO", "IVV")
    assert dict(out.iter_rows()) == {"AGG": 0.3, "IVV": 0.7}
    out = ipc.product_swap(w, "VOO", "SCHB")
    assert dict(out.iter_rows()) == {"AGG": 0.3, "IVV": 0.2, "SCHB": 0.5}
    assert ipc.product_swap(w, "(none)", "SCHB") is w  # an id not in the weights: unchanged
    assert ipc.product_swap(w, "VOO", None) is w
    assert ipc.product_swap(w, "VOO", "VOO") is w


def test_change_from_edit_renormalizes_and_validates(demo_book):
    w = ipc.editable_weights(demo_book, "models", "strategic_moderate")
    edited = w.with_columns(pl.when(pl.col("symbol") == "AGG").then(pl.col("weight") * 2).otherwise(pl.col("weight")).alias("weight"))
    ch = ipc.change_from_edit(demo_book, "models", "strategic_moderate", edited)
    assert ch.kind == "models" and ch.ids == ["strategic_moderate"]
    assert ch.rows["weight"].sum() == pytest.approx(1.0)
    with pytest.raises(DataError, match="summing to"):
        ipc.change_from_edit(demo_book, "models", "strategic_moderate", edited, renormalize=False)
    bad = pl.DataFrame({"symbol": ["AGG", "NOPE1"], "weight": [0.5, 0.5]})
    with pytest.raises(DataError, match="a security of the upload's securities table"):
        ipc.change_from_edit(demo_book, "models", "strategic_moderate", bad)
    neg = pl.DataFrame({"symbol": ["AGG", "SHY"], "weight": [1.5, -0.5]})
    with pytest.raises(DataError, match="a finite number >= 0"):
        ipc.change_from_edit(demo_book, "models", "strategic_moderate", neg)
    with pytest.raises(DataError, match="no weight > 0"):
        ipc.change_from_edit(demo_book, "models", "strategic_moderate", neg.with_columns(pl.lit(0.0).alias("weight")))


def test_change_csv_round_trips_through_the_cascade_reader(demo_book, tmp_path):
    for kind, ident, edit in (
        ("models", "strategic_moderate", lambda w: ipc.product_swap(w, "VOO", "IVV")),
        ("targets", "balanced", lambda w: w.with_columns(pl.Series("weight", [0.55, 0.45]))),
    ):
        ch = ipc.change_from_edit(demo_book, kind, ident, edit(ipc.editable_weights(demo_book, kind, ident)))
        path = tmp_path / f"{kind}.csv"
        path.write_bytes(ipc.change_csv(ch))
        back = read_change(path, demo_book)
        assert back.kind == ch.kind
        assert_frame_equal(back.rows, ch.rows)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=st.lists(st.floats(min_value=1e-6, max_value=1.0, allow_nan=False), min_size=3, max_size=3))
def test_change_csv_round_trip_any_weights(demo_book, tmp_path_factory, raw):
    """Any positive weights survive CHANGE.csv exactly (full float precision)."""
    edited = pl.DataFrame({"symbol": ["AGG", "SHY", "VOO"], "weight": raw})
    ch = ipc.change_from_edit(demo_book, "models", "strategic_moderate", edited)
    path = tmp_path_factory.mktemp("ch") / "CHANGE.csv"
    path.write_bytes(ipc.change_csv(ch))
    assert_frame_equal(read_change(path, demo_book).rows, ch.rows)


def test_allocation_comparison_moves_exactly_the_swapped_weight(demo_book):
    w = ipc.editable_weights(demo_book, "models", "strategic_moderate")
    agg = w.filter(pl.col("symbol") == "AGG")["weight"][0]
    ch = ipc.change_from_edit(demo_book, "models", "strategic_moderate", ipc.product_swap(w, "AGG", "VOO"))
    a = ipc.allocation_comparison(demo_book, ch)
    # strategic_moderate is 60% of target balanced: AGG's bond weight moves to US large cap
    bal = a.filter(pl.col("target_id") == "balanced")
    moved = dict(zip(bal["asset_class"], bal["delta"]))
    assert moved["us_aggregate_bond"] == pytest.approx(-0.6 * agg)
    assert moved["us_large_cap"] == pytest.approx(0.6 * agg)
    assert bal["before"].sum() == pytest.approx(1.0) and bal["after"].sum() == pytest.approx(1.0)
    assert set(a["target_id"]) == set(demo_book.targets.filter(pl.col("model_id") == "strategic_moderate")["target_id"])
    assert ipc.changed_symbols(demo_book, ch) == ["AGG", "VOO"]


def test_unchanged_edit_moves_nothing(demo_book, risk):
    w = ipc.editable_weights(demo_book, "models", "income")
    ch = ipc.change_from_edit(demo_book, "models", "income", w)
    assert ipc.allocation_comparison(demo_book, ch)["delta"].abs().max() < 1e-12
    assert ipc.changed_symbols(demo_book, ch) == []
    res = cascade(demo_book, ch, risk=risk)
    assert res.accounts["target_change"].max() < 1e-12


def test_sample_accounts_is_even_and_bounded():
    ids = [f"A{i:03d}" for i in range(100)]
    s = ipc.sample_accounts(ids, 10)
    assert len(s) == 10 and s[0] == "A000" and s[-1] == "A099" and s == sorted(s)
    assert ipc.sample_accounts(ids, None) == ids
    assert ipc.sample_accounts(ids[:3], 10) == ids[:3]
    assert ipc.sample_accounts(ids, 0) == []


def test_cascade_trades_runs_the_optimizer_on_followers(demo_book, risk):
    w = ipc.editable_weights(demo_book, "models", "strategic_moderate")
    ch = ipc.change_from_edit(demo_book, "models", "strategic_moderate", ipc.product_swap(w, "AGG", "BND"))
    trades = ipc.cascade_trades(demo_book, ch, risk=risk, limit=6)
    assert trades.columns == list(ipc.TRADE_COLUMNS)
    assert trades.height == 6
    followers = set(demo_book.accounts.filter(pl.col("target_id").is_in(["balanced", "balanced_dividend"]))["account_id"])
    assert set(trades["account_id"]) <= followers
    assert set(trades["decision"]) <= {"trade", "no_trade", "held", "error"}
    traded = trades.filter(pl.col("decision") == "trade")
    assert traded.height >= 1 and (traded["n_orders"] > 0).all() and (traded["turnover"] > 0).all()
    s = ipc.trade_summary(trades)
    assert s["accounts"].sum() == 6 and s["orders"].sum() == trades["n_orders"].sum()
    assert s["est_tax"].sum() == pytest.approx(trades["est_tax"].sum())
    long = ipc.te_long(trades)
    assert set(long["when"]) == {"before", "after"}


def test_cascade_trades_match_a_direct_optimizer_run(demo_book, risk):
    """The sampled household sub-book gives the same proposal as the whole changed book."""
    from overlay_core.optimize.build import rebalance_account
    from overlay_core.targets.cascade import apply_change
    from overlay_core.targets.customize import account_targets
    from overlay_core.tax.blocks import tax_state

    w = ipc.editable_weights(demo_book, "models", "income")
    ch = ipc.change_from_edit(demo_book, "models", "income", ipc.product_swap(w, w["symbol"][0], "BND"))
    trades = ipc.cascade_trades(demo_book, ch, risk=risk, limit=2)
    a = trades["account_id"][0]
    new = apply_change(demo_book, ch)
    p = rebalance_account(new, a, targets=account_targets(new, risk=risk, account_ids=[a]), risk=risk, tax_state=tax_state(new),
                          model_change=ipc.changed_symbols(demo_book, ch))
    row = trades.row(0, named=True)
    assert row["n_orders"] == p.explanation.n_orders
    assert row["est_tax"] == pytest.approx(p.explanation.est_tax, abs=1e-6)
