"""The tax-alpha notebook's data: backtests run now (`analytics.run_backtest`) or loaded from the store.

`settings_for(...)` turns the page's controls into `analytics.BacktestSettings`; `stored_backtests` /
`stored_results` read the backtests `overlay backtest` stored (runs of kind ``backtest``, one result
row per strategy with every figure in ``detail``, `analytics.outputs.store_backtest`); `harvest_yield`
and `headline` shape a `Backtest` for the page. The charts are `analytics.charts`'.
"""

from __future__ import annotations

import datetime as dt
import json

import polars as pl

from overlay_core.errors import ConfigError
from overlay_core.store import Store

#: figures shown per strategy (fractions per year, except tax_saved / tax_deferred in USD per account)
RESULT_FIGURES = (
    "strategy", "tax_alpha", "tax_alpha_liquidated", "tax_benefit", "active_return", "after_tax_return",
    "pre_tax_return", "harvest_yield", "tracking_error", "turnover", "tax_saved", "tax_deferred",
)


def settings_for(*, start_year: int, end_year: int, frequency: str = "monthly", accounts: int = 1,
                 st_rate: float = 0.35, lt_rate: float = 0.15, offset: str = "outside"):  # noqa: ANN201 - BacktestSettings
    """`BacktestSettings` for whole calendar years ``start_year``..``end_year`` (inclusive).

    Raises
    ------
    ConfigError : end before start, rates outside [0, 1], accounts < 1.
    """
    from overlay_core.analytics import BacktestSettings

    if end_year < start_year:
        raise ConfigError(f"end year {end_year} is before the start year {start_year}")
    if not (0 <= st_rate <= 1 and 0 <= lt_rate <= 1):
        raise ConfigError(f"rates {st_rate}, {lt_rate}: expected fractions in [0, 1]")
    if accounts < 1:
        raise ConfigError(f"accounts {accounts}: expected >= 1")
    return BacktestSettings(start=dt.date(start_year, 1, 1), end=dt.date(end_year, 12, 31), frequency=frequency,
                            accounts=accounts, st_rate=st_rate, lt_rate=lt_rate, offset=offset)


def results_view(results: pl.DataFrame) -> pl.DataFrame:
    """The figures of `RESULT_FIGURES` that the results hold, in that order."""
    return results.select([c for c in RESULT_FIGURES if c in results.columns])


def tax_alpha_by_year(by_year: pl.DataFrame, *, baseline: str = "buy_and_hold") -> pl.DataFrame:
    """[strategy, year, tax_alpha, harvest_yield]: each year's after-tax return minus the baseline's, and
    the year's losses harvested / value."""
    base = by_year.filter(pl.col("strategy") == baseline).select("year", pl.col("after_tax_return").alias("_b"))
    return (
        by_year.join(base, on="year")
        .select("strategy", "year", (pl.col("after_tax_return") - pl.col("_b")).alias("tax_alpha"), "harvest_yield")
        .sort("strategy", "year")
    )


def stored_backtests(store: Store) -> pl.DataFrame:
    """The store's backtest runs (newest first): run_id, as_of, status and the stored summary."""
    runs = store.runs()
    if "kind" not in runs.columns:
        return runs.clear()
    keep = [c for c in ("run_id", "as_of", "status", "summary") if c in runs.columns]
    return runs.filter(pl.col("kind") == "backtest").select(keep).sort("as_of", "run_id", descending=True)


def stored_results(store: Store, run_id: str) -> pl.DataFrame:
    """A stored backtest's per-strategy figures (from each result row's ``detail``), `RESULT_FIGURES`."""
    res = store.run_results(run_id)
    rows = []
    for r in res.iter_rows(named=True):
        detail = r.get("detail")
        fig = json.loads(detail) if isinstance(detail, str) and detail else {}
        strategy = str(r["account_id"]).removeprefix("backtest:")
        rows.append({"strategy": strategy, "turnover": r.get("turnover"), **{k: v for k, v in fig.items() if k != "strategy"}})
    return results_view(pl.DataFrame(rows)) if rows else pl.DataFrame({"strategy": []}, schema={"strategy": pl.String})
