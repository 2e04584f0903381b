from __future__ import annotations

import numpy as np
import polars as pl
from hypothesis import given, settings, strategies as st
from polars.testing import assert_frame_equal

from overlay_core.contract import CASH
from overlay_core.targets import asset_allocation, blend, blend_targets

from targetkit import make_book


def test_blend_is_the_convex_combination() -> None:
    book = make_book(accounts=[])
    t = blend_targets(book)
    t1 = dict(t.filter(pl.col("target_id") == "T1").select("symbol", "weight").iter_rows())
    # T1 = 0.4 M_STK + 0.6 M_ETF
    assert t1["AAA"] == pytest_approx(0.4 * 0.30)
    assert t1["VTI"] == pytest_approx(0.6 * 0.50)
    assert t1[CASH] == pytest_approx(0.6 * 0.05)
    t3 = dict(t.filter(pl.col("target_id") == "T3").select("symbol", "weight").iter_rows())
    assert t3["BND"] == pytest_approx(0.5 * 0.60 + 0.5 * 0.25)  # a symbol of two models gets both parts


def pytest_approx(x: float) -> object:
    import pytest

    return pytest.approx(x, abs=1e-15)


def test_every_target_has_a_cash_row_and_sums_to_one() -> None:
    book = make_book(accounts=[], targets=[("T3", "M_BND", 1.0)])
    t = blend_targets(book)
    assert t.filter(pl.col("symbol") == CASH)["weight"].to_list() == [0.0]
    assert t["weight"].sum() == pytest_approx(1.0)


def test_asset_allocation() -> None:
    book = make_book(accounts=[])
    aa = asset_allocation(blend_targets(book), book.securities).filter(pl.col("target_id") == "T1")
    got = dict(aa.select("asset_class", "weight").iter_rows())
    assert got["us_equity"] == pytest_approx(0.4 + 0.3)
    assert got["intl_equity"] == pytest_approx(0.12)
    assert got["bond"] == pytest_approx(0.15)
    assert got["cash"] == pytest_approx(0.03)


@st.composite
def models_and_blend(draw: st.DrawFn) -> tuple[pl.DataFrame, pl.DataFrame, dict[str, np.ndarray], np.ndarray, list[str]]:
    symbols = ["A", "B", "C", "D", CASH]
    n_models = draw(st.integers(1, 4))
    rows, vectors = [], {}
    for m in range(n_models):
        raw = np.array(draw(st.lists(st.floats(0, 1), min_size=5, max_size=5)))
        if raw.sum() <= 1e-6:
            raw[0] = 1.0
        w = raw / raw.sum()
        vectors[f"M{m}"] = w
        rows += [(f"M{m}", s, float(x)) for s, x in zip(symbols, w) if x > 0]
    b = np.array(draw(st.lists(st.floats(0.01, 1), min_size=n_models, max_size=n_models)))
    b = b / b.sum()
    models = pl.DataFrame(rows, schema={"model_id": pl.String, "symbol": pl.String, "weight": pl.Float64}, orient="row")
    targets = pl.DataFrame({"target_id": ["T"] * n_models, "model_id": list(vectors), "weight": b})
    return models, targets, vectors, b, symbols


@settings(max_examples=60, deadline=None)
@given(models_and_blend())
def test_blend_convex_combination_property(data: tuple) -> None:
    models, targets, vectors, b, symbols = data
    out = blend(models, targets)
    expected = sum(bi * vectors[m] for bi, m in zip(b, vectors))
    got = dict(out.select("symbol", "weight").iter_rows())
    for s, e in zip(symbols, expected):
        assert abs(got.get(s, 0.0) - e) < 1e-12
    assert (out["weight"] >= 0).all()
    assert abs(out["weight"].sum() - 1.0) < 1e-12


def test_blend_does_not_mutate_inputs() -> None:
    book = make_book(accounts=[])
    m0, t0 = book.models.clone(), book.targets.clone()
    blend_targets(book)
    assert_frame_equal(book.models, m0)
    assert_frame_equal(book.targets, t0)
