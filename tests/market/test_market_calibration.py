"""The simulator stays in the documented ranges (docs/market.md, "Ranges the tests hold"), measured on a
small sample: the median of 3 simulated 10-year markets (20 stocks + the index)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from overlay_core.errors import ConfigError
from overlay_core.market.calibration import STATISTICS, market_statistics, real_statistics, simulated_statistics

#: statistic -> (low, high) for the median of 3 paths of 2,520 days (docs/market.md).
RANGES = {
    "index_vol": (0.12, 0.30),
    "index_max_drawdown": (0.15, 0.80),
    "index_kurtosis": (2.0, 25.0),
    "index_vol_clustering": (0.12, 0.50),
    "index_autocorr": (-0.15, -0.02),
    "stock_vol_median": (0.20, 0.45),
    "stock_vol_dispersion": (0.04, 0.25),
    "avg_pairwise_corr": (0.20, 0.50),
    "median_corr_to_index": (0.40, 0.75),
    "annual_return_dispersion": (0.18, 0.50),
    "stock_max_drawdown_median": (0.35, 0.90),
    "stock_kurtosis_median": (4.0, 25.0),
}


@pytest.fixture(scope="module")
def sim() -> dict[str, float]:
    paths = [simulated_statistics(seed=s, days=2520) for s in range(3)]
    return {k: float(np.median([p[k] for p in paths])) for k in STATISTICS}


@pytest.mark.parametrize("stat", sorted(RANGES))
def test_simulated_statistics_stay_in_documented_ranges(sim, stat):
    low, high = RANGES[stat]
    assert low <= sim[stat] <= high, f"{stat} = {sim[stat]:.4f}, documented range {low}..{high}"


def test_real_statistics_are_the_documented_ones():
    real = real_statistics()
    assert real["index_vol"] == pytest.approx(0.1832, abs=5e-4)
    assert real["stock_vol_median"] == pytest.approx(0.2932, abs=5e-4)
    assert real["avg_pairwise_corr"] == pytest.approx(0.3010, abs=5e-4)
    assert real["index_max_drawdown"] == pytest.approx(0.5678, abs=5e-4)
    assert real["index_kurtosis"] == pytest.approx(10.62, abs=0.01)


def test_statistics_of_a_known_market():
    rng = np.random.default_rng(0)
    t = 2520
    dates = [dt.date(2000, 1, 3) + dt.timedelta(days=int(i * 365.25 / 252)) for i in range(t)]
    common = rng.normal(0, 0.01, t)
    r = common[:, None] + rng.normal(0, 0.01, (t, 5))  # pairwise correlation 0.5, Gaussian
    stocks = 100 * np.exp(np.vstack([np.zeros(5), np.cumsum(r[1:], axis=0)]))
    index = 100 * np.exp(np.concatenate([[0.0], np.cumsum(common[1:])]))
    s = market_statistics(stocks, index, dates)
    assert s["avg_pairwise_corr"] == pytest.approx(0.5, abs=0.05)
    assert s["stock_vol_median"] == pytest.approx(0.01414 * np.sqrt(252), rel=0.05)
    assert abs(s["stock_kurtosis_median"]) < 0.5 and abs(s["index_kurtosis"]) < 0.5
    assert abs(s["index_vol_clustering"]) < 0.05
    closes = np.tile([100.0, 120.0, 60.0, 90.0, 150.0, 140.0], 6)  # 36 days; worst fall 120 -> 60
    days36 = [dt.date(2020, 1, 1) + dt.timedelta(days=i) for i in range(36)]
    s = market_statistics(np.column_stack([closes, 2 * closes]), closes, days36)
    assert s["index_max_drawdown"] == pytest.approx(0.6)
    assert s["stock_max_drawdown_median"] == pytest.approx(0.6)
    with pytest.raises(ConfigError, match="expected the same T >= 30"):
        market_statistics(np.column_stack([closes, closes])[:6], closes[:6], days36[:6])
    with pytest.raises(ConfigError, match="at least 2 stocks"):
        market_statistics(closes[:, None], closes, days36)
