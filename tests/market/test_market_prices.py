from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from overlay_core.errors import ConfigError, DataError
from overlay_core.market import FramePriceSource, PriceSource, RealHistorySource, SimulatedSource, read_price_file, simulate_prices

D1, D2, D3 = dt.date(2020, 1, 2), dt.date(2020, 1, 3), dt.date(2020, 1, 6)
LONG = pl.DataFrame({"date": [D1, D2, D3, D1, D3], "symbol": ["A", "A", "A", "B", "B"], "close": [10.0, 11.0, 12.0, 20.0, 22.0]})


def test_sources_follow_the_protocol():
    src = FramePriceSource(LONG)
    assert isinstance(src, PriceSource)
    assert src.symbols() == ("A", "B") and src.dates() == [D1, D2, D3]


def test_closes_are_ordered_by_the_requested_dates_then_symbols():
    got = FramePriceSource(LONG).closes(["B", "A"], [D3, D1])
    expected = pl.DataFrame({"date": [D3, D3, D1, D1], "symbol": ["B", "A", "B", "A"], "close": [22.0, 12.0, 20.0, 10.0]})
    assert_frame_equal(got, expected)


def test_missing_closes_raise_or_carry_forward():
    src = FramePriceSource(LONG, name="test prices")
    with pytest.raises(DataError, match="test prices: 2 of 2 closes are missing") as err:
        src.closes(["B", "C"], [D2])
    text = str(err.value)
    assert "C, column 'symbol': found an unknown symbol" in text
    assert "2020-01-03 B, column 'close': found no close on that date" in text
    got = src.closes(["B"], [D2, dt.date(2020, 1, 4)], missing="ffill")
    assert got["close"].to_list() == [20.0, 20.0]
    with pytest.raises(DataError, match="no close on or before"):
        src.closes(["A"], [dt.date(2019, 12, 31)], missing="ffill")
    with pytest.raises(ConfigError, match="missing: found 'nearest'"):
        src.closes(["A"], [D1], missing="nearest")  # type: ignore[arg-type]


def test_a_bad_frame_is_refused():
    with pytest.raises(DataError, match="lacks column"):
        FramePriceSource(LONG.drop("close"))
    with pytest.raises(DataError, match="1 duplicate and 1 bad closes"):
        FramePriceSource(pl.concat([LONG, pl.DataFrame({"date": [D1, D2], "symbol": ["A", "B"], "close": [10.0, -1.0]})]))


def test_real_history_source():
    src = RealHistorySource(start=dt.date(2008, 9, 1), end=dt.date(2008, 12, 31))
    got = src.closes(["SP500", "JPM"], [dt.date(2008, 10, 10)])
    assert got["close"].to_list() == [pytest.approx(899.22), pytest.approx(got["close"][1])]
    assert len(src.symbols()) == 21 and src.dates()[0] == dt.date(2008, 9, 2)


def test_simulated_source_serves_the_simulation():
    u = pl.DataFrame({"symbol": ["SPY", "AGG"], "asset_class": ["us_large_cap", "us_aggregate_bond"], "type": ["etf", "etf"]})
    src = SimulatedSource(u, start=D1, days=30, seed=5)
    direct = simulate_prices(u, start=D1, days=30, seed=5)
    dates = src.dates()
    assert len(dates) == 30 and isinstance(src, PriceSource)
    got = src.closes(["SPY", "AGG"], dates)
    assert_frame_equal(got.sort("date", "symbol"), direct.sort("date", "symbol"))


def test_read_long_and_wide_files(tmp_path):
    (tmp_path / "long.csv").write_text("Date,Symbol,Close,volume\n2020-01-02,A,10,5\n2020-01-03,A,11,5\n2020-01-02,B,20.5,1\n")
    (tmp_path / "wide.csv").write_text("\ufeffdate,A,B\n2020-01-02,10,20.5\n2020-01-03,11,\n")
    a = read_price_file(tmp_path / "long.csv")
    b = read_price_file(tmp_path / "wide.csv")
    assert_frame_equal(a, b)
    assert a.schema == pl.Schema({"date": pl.Date, "symbol": pl.String, "close": pl.Float64})
    a.write_parquet(tmp_path / "p.parquet")
    assert_frame_equal(read_price_file(tmp_path / "p.parquet"), a)
    wide = b.pivot(on="symbol", index="date", values="close").with_columns(pl.col("date").cast(pl.Datetime))
    wide.write_parquet(tmp_path / "w.parquet")
    assert_frame_equal(read_price_file(tmp_path / "w.parquet"), a)
    assert FramePriceSource.from_file(tmp_path / "long.csv").symbols() == ("A", "B")


def test_price_file_errors_name_file_row_column(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        read_price_file(tmp_path / "nope.csv")
    (tmp_path / "p.xlsx").write_text("x")
    with pytest.raises(DataError, match="unknown format"):
        read_price_file(tmp_path / "p.xlsx")
    (tmp_path / "nodate.csv").write_text("day,A\n2020-01-02,1\n")
    with pytest.raises(DataError, match="has no date column"):
        read_price_file(tmp_path / "nodate.csv")
    (tmp_path / "bad.csv").write_text("date,symbol,close\n2020-01-02,A,10\n01/03/2020,A,11\n2020-01-06,A,-2\n2020-01-06,b c,3\n2020-01-02,A,9\n")
    with pytest.raises(DataError, match="has problems") as err:
        read_price_file(tmp_path / "bad.csv")
    text = str(err.value)
    assert "bad.csv, row 2, column 'date': found '01/03/2020'; expected an ISO date YYYY-MM-DD" in text
    assert "bad.csv, row 3, column 'close': found '-2'; expected a number > 0" in text
    assert "column 'symbol': found 'b c'; expected a symbol matching" in text
    assert "row 5, column 'date': found a second close of A on 2020-01-02" in text
    (tmp_path / "badwide.csv").write_text("Date,A,B\n2020-01-02,x,1\n2020-13-01,1,1\n")
    with pytest.raises(DataError) as err:
        read_price_file(tmp_path / "badwide.csv")
    text = str(err.value)
    assert "row 1, column 'A': found 'x'; expected a number > 0" in text
    assert text.count("found '2020-13-01'") == 1


@settings(max_examples=20, deadline=None)
@given(
    closes=st.lists(
        st.lists(st.one_of(st.none(), st.floats(0.01, 1e6, allow_nan=False)), min_size=3, max_size=3),
        min_size=1,
        max_size=12,
    )
)
def test_wide_and_long_files_read_alike(tmp_path_factory, closes):
    folder = tmp_path_factory.mktemp("prices")
    dates = [dt.date(2021, 1, 4) + dt.timedelta(days=i) for i in range(len(closes))]
    wide = pl.DataFrame({"date": dates, **{s: [row[k] for row in closes] for k, s in enumerate(["A", "B.C", "D-1"])}})
    long = wide.unpivot(index="date", variable_name="symbol", value_name="close").drop_nulls("close")
    if long.height == 0:
        return
    wide.write_csv(folder / "wide.csv")
    long.write_csv(folder / "long.csv")
    a, b = read_price_file(folder / "wide.csv"), read_price_file(folder / "long.csv")
    assert_frame_equal(a, b)
    assert_frame_equal(a, long.sort("symbol", "date"), check_exact=False, rel_tol=1e-12)
