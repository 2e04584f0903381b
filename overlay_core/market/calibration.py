"""Calibration of the simulator against the real history: the same statistics on both sides.

`market_statistics` measures a panel of stock closes and an index; `calibration_table` measures the real
20 stocks + S&P 500 (1990-2022) and `paths` simulated markets of the same 20 stocks (same sectors, same
dates) + an S&P 500 fund, and lays them side by side (docs/market.md shows the table).
"""

from __future__ import annotations

import datetime as dt
from typing import Sequence

import numpy as np
import polars as pl

from overlay_core.errors import ConfigError
from overlay_core.market.history import INDEX_SYMBOL, REAL_SECTORS, REAL_SYMBOLS, load_real_history
from overlay_core.market.model import TRADING_DAYS, MarketModel
from overlay_core.market.simulator import simulate_prices, universe_frame

#: statistic -> what it measures (the table's order).
STATISTICS: dict[str, str] = {
    "index_vol": "S&P 500: annualized volatility of daily log returns",
    "index_return": "S&P 500: annualized log return (real: price index, no dividends)",
    "index_vol_monthly": "S&P 500: annualized volatility of 21-day log returns",
    "index_autocorr": "S&P 500: lag-1 autocorrelation of daily log returns",
    "index_max_drawdown": "S&P 500: maximum drawdown (fraction lost, peak to trough)",
    "index_kurtosis": "S&P 500: excess kurtosis of daily log returns",
    "index_vol_clustering": "S&P 500: mean autocorrelation of |daily return|, lags 1-5",
    "stock_vol_median": "stocks: median annualized volatility",
    "stock_vol_dispersion": "stocks: cross-sectional std of annualized volatility",
    "stock_vol_min": "stocks: lowest annualized volatility",
    "stock_vol_max": "stocks: highest annualized volatility",
    "avg_pairwise_corr": "stocks: average pairwise correlation of daily returns",
    "avg_pairwise_corr_monthly": "stocks: average pairwise correlation of 21-day returns",
    "median_corr_to_index": "stocks: median correlation of daily returns with the index",
    "annual_return_dispersion": "stocks: mean over years of the cross-sectional std of calendar-year returns",
    "annual_log_return_dispersion": "stocks: the same for calendar-year log returns",
    "stock_max_drawdown_median": "stocks: median maximum drawdown",
    "stock_kurtosis_median": "stocks: median excess kurtosis of daily log returns",
}


def _max_drawdown(close: np.ndarray) -> np.ndarray:
    """Maximum drawdown per column of closes (T, n), as a positive fraction."""
    peak = np.maximum.accumulate(close, axis=0)
    return (1.0 - close / peak).max(axis=0)


def _excess_kurtosis(r: np.ndarray) -> np.ndarray:
    d = r - r.mean(axis=0)
    return (d**4).mean(axis=0) / (d**2).mean(axis=0) ** 2 - 3.0


def _avg_offdiag(c: np.ndarray) -> float:
    n = c.shape[0]
    return float(c[np.triu_indices(n, 1)].mean())


def market_statistics(stocks: np.ndarray, index: np.ndarray, dates: Sequence[dt.date]) -> dict[str, float]:
    """The calibration statistics of a market.

    Parameters
    ----------
    stocks : closes, shape (T, n_stocks), > 0.
    index : closes of the index, shape (T,).
    dates : the T dates (calendar-year returns use the last close of each year; only years with a
        close in both their first and last weeks count).

    Returns
    -------
    dict statistic -> value (keys of `STATISTICS`); volatilities and returns as annual fractions.
    """
    if stocks.shape[0] != index.shape[0] or stocks.shape[0] != len(dates) or stocks.shape[0] < 30:
        raise ConfigError(f"market_statistics: found {stocks.shape} closes, {index.shape} index, {len(dates)} dates; expected the same T >= 30")
    if stocks.ndim != 2 or stocks.shape[1] < 2:
        raise ConfigError(f"market_statistics: found closes of shape {stocks.shape}; expected at least 2 stocks")
    r = np.diff(np.log(stocks), axis=0)
    ri = np.diff(np.log(index))
    sq = np.sqrt(TRADING_DAYS)
    vol = r.std(axis=0, ddof=1) * sq
    out: dict[str, float] = {}
    out["index_vol"] = float(ri.std(ddof=1) * sq)
    out["index_return"] = float(ri.mean() * TRADING_DAYS)
    out["index_vol_monthly"] = float(np.diff(np.log(index[::21])).std(ddof=1) * np.sqrt(TRADING_DAYS / 21))
    out["index_autocorr"] = float(np.corrcoef(ri[1:], ri[:-1])[0, 1])
    out["index_max_drawdown"] = float(_max_drawdown(index[:, None])[0])
    out["index_kurtosis"] = float(_excess_kurtosis(ri[:, None])[0])
    a = np.abs(ri - ri.mean())
    out["index_vol_clustering"] = float(np.mean([np.corrcoef(a[k:], a[:-k])[0, 1] for k in range(1, 6)]))
    out["stock_vol_median"] = float(np.median(vol))
    out["stock_vol_dispersion"] = float(vol.std(ddof=1))
    out["stock_vol_min"] = float(vol.min())
    out["stock_vol_max"] = float(vol.max())
    out["avg_pairwise_corr"] = _avg_offdiag(np.corrcoef(r.T))
    monthly = np.diff(np.log(stocks[::21]), axis=0)
    out["avg_pairwise_corr_monthly"] = _avg_offdiag(np.corrcoef(monthly.T))
    out["median_corr_to_index"] = float(np.median([np.corrcoef(r[:, j], ri)[0, 1] for j in range(r.shape[1])]))
    years = np.array([d.year for d in dates])
    ends = [i for i in range(len(dates)) if i == len(dates) - 1 or years[i + 1] != years[i]]
    disp, log_disp = [], []
    for prev, cur in zip(ends, ends[1:]):
        last = dates[cur]
        if last.month == 12 and last.day >= 24 and dates[prev].month == 12 and dates[prev].day >= 24:
            growth = stocks[cur] / stocks[prev]
            disp.append((growth - 1.0).std(ddof=1))
            log_disp.append(np.log(growth).std(ddof=1))
    out["annual_return_dispersion"] = float(np.mean(disp)) if disp else float("nan")
    out["annual_log_return_dispersion"] = float(np.mean(log_disp)) if log_disp else float("nan")
    out["stock_max_drawdown_median"] = float(np.median(_max_drawdown(stocks)))
    out["stock_kurtosis_median"] = float(np.median(_excess_kurtosis(r)))
    return out


def real_statistics() -> dict[str, float]:
    """`market_statistics` of the real 20 stocks and the S&P 500 index, 1990-01-02 .. 2022-12-28."""
    long = load_real_history(include_index=True)
    wide = long.pivot(on="symbol", index="date", values="close").sort("date")
    dates = wide["date"].to_list()
    return market_statistics(wide.select(list(REAL_SYMBOLS)).to_numpy(), wide[INDEX_SYMBOL].to_numpy(), dates)


def calibration_universe() -> pl.DataFrame:
    """The simulated twin of the real history: the 20 stocks (US large cap, their GICS sectors) and an
    S&P 500 fund (symbol ``SP500``, type etf)."""
    rows = [(s, "us_large_cap", "equity", REAL_SECTORS[s]) for s in REAL_SYMBOLS]
    return universe_frame(rows + [(INDEX_SYMBOL, "us_large_cap", "etf", None)])


def simulated_statistics(*, seed: int, days: int = 8313, model: MarketModel | None = None, start: dt.date = dt.date(1990, 1, 2)) -> dict[str, float]:
    """`market_statistics` of one simulated path of `calibration_universe` over `days` business days."""
    prices = simulate_prices(calibration_universe(), start=start, days=days, seed=seed, model=model)
    wide = prices.pivot(on="symbol", index="date", values="close").sort("date")
    return market_statistics(wide.select(list(REAL_SYMBOLS)).to_numpy(), wide[INDEX_SYMBOL].to_numpy(), wide["date"].to_list())


def calibration_table(*, seed: int = 0, paths: int = 20, days: int = 8313, model: MarketModel | None = None) -> pl.DataFrame:
    """Real vs simulated statistics.

    Parameters
    ----------
    seed : the first seed; paths use seeds ``seed .. seed + paths - 1``.
    paths : number of simulated markets (each: 20 stocks + the index over `days` business days).
    days : length of each simulated path (default: as long as the real history, 8,313 days from
        1990-01-02).
    model : the market's parameters (default `MarketModel()`).

    Returns
    -------
    pl.DataFrame with columns statistic, description, real, sim_median, sim_p10, sim_p90 (the median
    and the 10th/90th percentiles across the simulated paths), one row per `STATISTICS` key.
    """
    if paths < 1:
        raise ConfigError(f"paths: found {paths}; expected at least 1")
    real = real_statistics()
    sims = [simulated_statistics(seed=seed + k, days=days, model=model) for k in range(paths)]
    keys = list(STATISTICS)
    sim = np.array([[s[k] for k in keys] for s in sims])
    return pl.DataFrame(
        {
            "statistic": keys,
            "description": [STATISTICS[k] for k in keys],
            "real": [real[k] for k in keys],
            "sim_median": np.nanmedian(sim, axis=0),
            "sim_p10": np.nanpercentile(sim, 10, axis=0),
            "sim_p90": np.nanpercentile(sim, 90, axis=0),
        }
    )
