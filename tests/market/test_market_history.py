from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from overlay_core.calendar import business_days
from overlay_core.errors import DataError
from overlay_core.market import INDEX_SYMBOL, REAL_SYMBOLS, data_dir, load_real_history, real_data_dir


def test_real_history_has_8313_days_of_20_stocks():
    h = load_real_history()
    assert h.columns == ["date", "symbol", "close"]
    assert h.schema == pl.Schema({"date": pl.Date, "symbol": pl.String, "close": pl.Float64})
    assert h["symbol"].n_unique() == 20
    assert sorted(h["symbol"].unique().to_list()) == sorted(REAL_SYMBOLS)
    assert h["date"].n_unique() == 8313
    assert h.height == 8313 * 20
    assert h["date"].min() == dt.date(1990, 1, 2) and h["date"].max() == dt.date(2022, 12, 28)
    assert (h["close"] > 0).all()
    assert INDEX_SYMBOL not in h["symbol"].to_list()


def test_real_history_dates_are_nyse_sessions():
    dates = load_real_history(symbols=["KO"])["date"].to_list()
    nyse = set(business_days(dt.date(1990, 1, 2), dt.date(2022, 12, 28)))
    assert set(dates) <= nyse
    assert len(nyse - set(dates)) <= 5  # the file's few extra closed days (none expected)


def test_index_and_filters():
    h = load_real_history(symbols=["AAPL"], start=dt.date(2020, 1, 1), end=dt.date(2020, 12, 31), include_index=True)
    assert set(h["symbol"].unique().to_list()) == {"AAPL", INDEX_SYMBOL}
    assert h["date"].min() >= dt.date(2020, 1, 1) and h["date"].max() <= dt.date(2020, 12, 31)
    assert h.filter(pl.col("symbol") == "AAPL").height == 253
    idx = load_real_history(symbols=[INDEX_SYMBOL])
    assert idx.height == 8313 and idx["close"][0] == pytest.approx(359.69)


def test_unknown_symbol_is_a_data_error():
    with pytest.raises(DataError, match=r"unknown symbol\(s\) in the real history: 'TSLA'"):
        load_real_history(symbols=["AAPL", "TSLA"])


def test_start_after_end_is_a_data_error():
    with pytest.raises(DataError, match="start 2021-01-01 is after end 2020-01-01"):
        load_real_history(start=dt.date(2021, 1, 1), end=dt.date(2020, 1, 1))


def test_missing_data_dir_is_a_clear_data_error(tmp_path, monkeypatch):
    monkeypatch.setenv("OVERLAY_DATA_DIR", str(tmp_path))
    assert data_dir() == tmp_path
    with pytest.raises(DataError, match="the real price history is missing from") as err:
        real_data_dir()
    assert any("sp500_20_stocks_1990_2022.csv.gz" in p.file for p in err.value.problems)


def test_data_dir_override_is_used(tmp_path, monkeypatch):
    import shutil

    (tmp_path / "real").mkdir()
    for name in ("sp500_20_stocks_1990_2022.csv.gz", "sp500_index_1990_2022.csv.gz"):
        shutil.copy(real_data_dir() / name, tmp_path / "real" / name)
    monkeypatch.setenv("OVERLAY_DATA_DIR", str(tmp_path))
    assert real_data_dir() == tmp_path / "real"
    assert load_real_history(symbols=["MSFT"]).height == 8313


def test_license_travels_with_the_data():
    text = (real_data_dir() / "LICENSE-skfolio-datasets.txt").read_text()
    assert "BSD 3-Clause" in text
