"""A small store for the report tests: 4 accounts of one target through 5 real days of the day loop."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from pathlib import Path

import polars as pl
import pytest

from overlay_core.contract import RESTRICTIONS, schema


@pytest.fixture(scope="session")
def report_store(tmp_path_factory) -> Path:
    from overlay_core.analytics.backtest import BacktestSettings, _market, initial_book
    from overlay_core.market.prices import RealHistorySource
    from overlay_core.simulate import simulate
    from overlay_core.store import Store

    syms = ("AAPL", "MSFT", "JPM", "BAC", "XOM", "CVX")
    src = RealHistorySource(start=dt.date(2007, 6, 1), end=dt.date(2008, 12, 31))
    s = BacktestSettings(accounts=4, symbols=syms)
    m = _market(src, list(syms), None, None)
    i = m.dates.index(dt.date(2008, 9, 2))
    book = initial_book(s, m, i, i + 1, history_days=300)
    restr = pl.DataFrame([{"account_id": "A002", "kind": "never_buy", "value": "BAC", "limit": None}], schema=schema(RESTRICTIONS))
    book = replace(book, restrictions=restr)
    root = tmp_path_factory.mktemp("report_store")
    path = root / "store" / "overlay.duckdb"
    with Store.open(path, publish=False) as st:
        simulate(book, days=5, out_dir=root / "days", prices=src, store=st)
    return path
