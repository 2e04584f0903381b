"""overlay_core.apps.backtests: settings from the page, backtests stored by `overlay backtest` read back."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from overlay_core.apps import backtests as B
from overlay_core.apps.source import open_app_store
from overlay_core.errors import ConfigError


def test_settings_for_whole_years():
    s = B.settings_for(start_year=2019, end_year=2020, frequency="weekly", accounts=2, st_rate=0.4, lt_rate=0.2)
    assert (s.start, s.end, s.frequency, s.accounts, s.st_rate, s.lt_rate) == (dt.date(2019, 1, 1), dt.date(2020, 12, 31), "weekly", 2, 0.4, 0.2)
    with pytest.raises(ConfigError, match="before the start year"):
        B.settings_for(start_year=2020, end_year=2019)
    with pytest.raises(ConfigError, match="fractions in"):
        B.settings_for(start_year=2019, end_year=2020, st_rate=1.5)
    with pytest.raises(ConfigError, match="accounts 0"):
        B.settings_for(start_year=2019, end_year=2020, accounts=0)


def test_a_stored_backtest_reads_back(tmp_path):
    """A short real backtest, stored as `overlay backtest` stores it, reads back with the same figures."""
    from overlay_core.analytics import run_backtest
    from overlay_core.analytics.outputs import results_table, store_backtest
    from overlay_core.market.prices import RealHistorySource

    bt = run_backtest(RealHistorySource(), settings=B.settings_for(start_year=2021, end_year=2021), strategies=("optimizer", "buy_and_hold"))
    res = results_table(bt)
    by = B.tax_alpha_by_year(bt.by_year())
    assert by.filter(pl.col("strategy") == "buy_and_hold")["tax_alpha"].abs().max() == 0.0
    opt = by.filter(pl.col("strategy") == "optimizer")
    yearly = bt.by_year().filter(pl.col("strategy") == "optimizer")["after_tax_return"][0] - bt.by_year().filter(pl.col("strategy") == "buy_and_hold")["after_tax_return"][0]
    assert opt["tax_alpha"][0] == pytest.approx(yearly)
    path = tmp_path / "s" / "overlay.duckdb"
    run_id = store_backtest(bt, path)
    with open_app_store(path) as s:
        runs = B.stored_backtests(s)
        assert runs["run_id"].to_list() == [run_id]
        back = B.stored_results(s, run_id)
    assert sorted(back["strategy"]) == ["buy_and_hold", "optimizer"]
    for col in ("tax_alpha", "harvest_yield", "tracking_error", "turnover"):
        got = dict(zip(back["strategy"], back[col]))
        want = dict(zip(res["strategy"], res[col]))
        assert got == pytest.approx(want), col
    assert B.results_view(res).columns[0] == "strategy"
