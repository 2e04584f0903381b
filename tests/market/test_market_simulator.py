from __future__ import annotations

import datetime as dt
import math

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from overlay_core.calendar import business_days, is_business_day
from overlay_core.errors import ConfigError, DataError
from overlay_core.market import MarketModel, simulate_prices, simulate_returns, simulation_dates, simulation_start

UNIVERSE = pl.DataFrame(
    {
        "symbol": ["SPY", "IVV", "VTI", "AAPL", "XOM", "AGG", "BND", "TLT", "EFA", "VMFXX", "MUB"],
        "asset_class": ["us_large_cap", "us_large_cap", "us_large_cap", "us_large_cap", "us_large_cap", "us_aggregate_bond", "us_aggregate_bond", "treasury_long", "intl_developed", "cash", "municipal"],
        "type": ["etf", "etf", "etf", "equity", "equity", "etf", "etf", "etf", "etf", "cash_equivalent", "etf"],
        "sector": [None, None, None, "Information Technology", "Energy", None, None, None, None, None, None],
        "wash_group": ["sp500", "sp500", "crsp_total", None, None, "bbg_us_agg", "bbg_us_agg_float_adj", None, None, "vmfxx", None],
    }
)
START = dt.date(2019, 1, 2)


def _wide(prices: pl.DataFrame) -> tuple[list[str], np.ndarray]:
    w = prices.pivot(on="symbol", index="date", values="close").sort("date")
    syms = w.columns[1:]
    return syms, np.diff(np.log(w.select(syms).to_numpy()), axis=0)


def test_deterministic_for_a_seed_and_different_across_seeds():
    a = simulate_prices(UNIVERSE, start=START, days=300, seed=11)
    b = simulate_prices(UNIVERSE, start=START, days=300, seed=11)
    c = simulate_prices(UNIVERSE, start=START, days=300, seed=12)
    assert_frame_equal(a, b)
    assert not a["close"].equals(c["close"])


def test_shape_order_and_calendar_dates():
    days = 260
    p = simulate_prices(UNIVERSE, start=dt.date(2021, 1, 1), days=days, seed=3)  # a holiday: rolls forward
    assert p.columns == ["date", "symbol", "close"]
    assert p.schema == pl.Schema({"date": pl.Date, "symbol": pl.String, "close": pl.Float64})
    assert p.height == days * UNIVERSE.height
    dates = p["date"].unique(maintain_order=True).to_list()
    assert dates == business_days(dt.date(2021, 1, 1), dt.date(2022, 12, 31))[:days]
    assert dates[0] == dt.date(2021, 1, 4)
    assert p["symbol"].head(UNIVERSE.height).to_list() == UNIVERSE["symbol"].to_list()
    assert all(is_business_day(d) for d in dates[:20])


def test_prices_are_positive_and_finite_even_over_40_years():
    p = simulate_prices(UNIVERSE, start=dt.date(2000, 1, 3), days=10_000, seed=5)
    close = p["close"].to_numpy()
    assert np.isfinite(close).all() and (close > 0).all()
    dates = p["date"].unique(maintain_order=True).to_list()
    assert len(dates) == 10_000 and dates[-1].year >= 2039  # beyond overlay_core.calendar's range
    assert all(d.weekday() < 5 for d in dates)
    assert dt.date(2035, 12, 25) not in dates and dt.date(2036, 7, 4) not in dates


def test_start_prices_are_the_first_close():
    p = simulate_prices(UNIVERSE, start=START, days=5, seed=1, start_prices={"SPY": 250.0, "AAPL": 39.5})
    first = p.filter(pl.col("date") == p["date"].min())
    got = dict(zip(first["symbol"], first["close"]))
    assert got["SPY"] == 250.0 and got["AAPL"] == 39.5
    assert got["VMFXX"] == 1.0
    with pytest.raises(DataError, match="bad start prices"):
        simulate_prices(UNIVERSE, start=START, days=5, seed=1, start_prices={"SPY": -1.0})


def test_adding_a_security_leaves_the_others_unchanged():
    small = UNIVERSE.head(4)
    a = simulate_prices(small, start=START, days=200, seed=9)
    b = simulate_prices(UNIVERSE, start=START, days=200, seed=9).filter(pl.col("symbol").is_in(small["symbol"].to_list()))
    assert_frame_equal(a, b)


def test_same_index_funds_move_together_and_substitutes_are_close():
    syms, r = _wide(simulate_prices(UNIVERSE, start=START, days=1500, seed=21))
    c = np.corrcoef(r.T)
    i = {s: k for k, s in enumerate(syms)}
    assert c[i["SPY"], i["IVV"]] > 0.999  # one wash group: one underlying index
    assert 0.97 < c[i["SPY"], i["VTI"]] < 0.9995  # legal substitutes: very close, not identical
    assert 0.97 < c[i["AGG"], i["BND"]] < 0.9995
    assert c[i["SPY"], i["AAPL"]] < 0.85  # a single stock is not a fund
    assert 0.5 < c[i["SPY"], i["EFA"]] < 0.95


def test_tracks_column_takes_precedence_over_wash_group():
    u = UNIVERSE.with_columns(tracks=pl.when(pl.col("symbol").is_in(["SPY", "VTI"])).then(pl.lit("sp500_index")).otherwise(None))
    syms, r = _wide(simulate_prices(u, start=START, days=800, seed=2))
    c = np.corrcoef(r.T)
    i = {s: k for k, s in enumerate(syms)}
    assert c[i["SPY"], i["VTI"]] > 0.999


def test_money_market_accrues_the_risk_free_rate_or_stays_at_one():
    p = simulate_prices(UNIVERSE, start=START, days=253, seed=4).filter(pl.col("symbol") == "VMFXX")["close"].to_numpy()
    assert p[0] == 1.0
    assert np.allclose(np.diff(np.log(p)), 0.03 / 252)
    flat = simulate_prices(UNIVERSE, start=START, days=50, seed=4, model=MarketModel(stable_nav_money_market=True))
    assert (flat.filter(pl.col("symbol") == "VMFXX")["close"] == 1.0).all()


def test_asset_class_volatilities_are_ordered_sensibly():
    syms, r = _wide(simulate_prices(UNIVERSE, start=START, days=2520, seed=8))
    vol = dict(zip(syms, r.std(axis=0) * math.sqrt(252)))
    assert vol["VMFXX"] < 1e-9
    assert vol["MUB"] < vol["AGG"] < vol["TLT"]
    assert 0.02 < vol["AGG"] < 0.08 and 0.08 < vol["TLT"] < 0.22
    assert 0.10 < vol["SPY"] < 0.35 and vol["SPY"] < vol["AAPL"]  # 10-year vols: 0.12-0.32 over 40 seeds


def test_aliases_are_accepted_and_unknown_classes_refused():
    u = pl.DataFrame({"symbol": ["A", "B"], "asset_class": ["Intl Equity", "money-market"], "type": ["etf", "cash_equivalent"]})
    assert simulate_prices(u, start=START, days=3, seed=0).height == 6
    bad = pl.DataFrame({"symbol": ["A", "A", "C"], "asset_class": ["us_large_cap", "us_large_cap", "crypto"], "type": ["etf", "etf", "coin"]})
    with pytest.raises(DataError, match="the universe has 3 problem") as err:
        simulate_prices(bad, start=START, days=3, seed=0)
    text = str(err.value)
    assert "row 2, column 'symbol': found 'A' again (first at row 1)" in text
    assert "row 3, column 'asset_class': found 'crypto'; expected one of cash, commodities" in text
    assert "row 3, column 'type': found 'coin'" in text
    with pytest.raises(DataError, match="the universe lacks required columns"):
        simulate_prices(pl.DataFrame({"symbol": ["A"]}), start=START, days=3, seed=0)


def test_bad_arguments_are_config_errors():
    with pytest.raises(ConfigError, match="days: found 0; expected at least 1"):
        simulate_prices(UNIVERSE, start=START, days=0, seed=0)
    with pytest.raises(ConfigError, match="seed: found -1"):
        simulate_returns(UNIVERSE, days=3, seed=-1)
    with pytest.raises(ConfigError, match="persistence"):
        simulate_returns(UNIVERSE, days=3, seed=0, model=MarketModel(garch_beta=0.99))


def test_simulation_start_ends_on_the_given_day():
    end = dt.date(2024, 6, 28)
    start = simulation_start(end, days=1260)
    dates = simulation_dates(start, 1260)
    assert dates[-1] == end and len(dates) == 1260
    far = simulation_start(dt.date(2040, 6, 29), days=300)
    assert simulation_dates(far, 300)[-1] == dt.date(2040, 6, 29)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**32), days=st.integers(1, 40))
def test_any_seed_gives_positive_prices_of_the_right_shape(seed, days):
    p = simulate_prices(UNIVERSE, start=START, days=days, seed=seed)
    assert p.height == days * UNIVERSE.height
    assert (p["close"] > 0).all() and p["close"].is_finite().all()
    assert p["date"].n_unique() == days


def test_other_calendars_and_unknown_ones():
    dates = simulation_dates(dt.date(2024, 12, 20), 5, calendar="XLON")
    assert dt.date(2024, 12, 25) not in dates and dt.date(2024, 12, 26) not in dates  # Christmas, Boxing Day
    with pytest.raises(ConfigError, match="calendar 'NOPE'"):
        simulation_dates(dt.date(2024, 1, 2), 5, calendar="NOPE")


def test_market_model_is_frozen_and_replaceable():
    import dataclasses

    m = MarketModel()
    with pytest.raises(dataclasses.FrozenInstanceError):
        m.market_vol = 0.3  # type: ignore[misc]
    with pytest.raises(TypeError):
        m.asset_classes["cash"] = m.asset_classes["reit"]  # type: ignore[index]
    calm = dataclasses.replace(m, market_vol=0.10, regime_vol=0.0)
    assert m.market_vol == 0.20 and calm.market_vol == 0.10
    _, r_calm = simulate_returns(UNIVERSE.head(1), days=2000, seed=1, model=calm)
    _, r = simulate_returns(UNIVERSE.head(1), days=2000, seed=1, model=m)
    assert r_calm.std() < r.std()
