"""The real price history: 20 large US stocks and the S&P 500 index, 1990-2022 (data/real/, BSD-3).

`load_real_history` returns the long frame (date, symbol, close). The files are found by `real_data_dir`:
`$OVERLAY_DATA_DIR/real` when the variable is set, else `data/real` of the repository that holds this
package. See data/README.md for the source, the license and the known limits (survivorship, adjusted
prices).
"""

from __future__ import annotations

import datetime as dt
import os
from functools import lru_cache
from pathlib import Path
from typing import Sequence

import polars as pl

from overlay_core.errors import DataError, Problem

STOCKS_FILE = "sp500_20_stocks_1990_2022.csv.gz"
INDEX_FILE = "sp500_index_1990_2022.csv.gz"
LICENSE_FILE = "LICENSE-skfolio-datasets.txt"
INDEX_SYMBOL = "SP500"
ENV_VAR = "OVERLAY_DATA_DIR"

#: The 20 stocks of the real history and their GICS sectors (as of 2022).
REAL_SECTORS: dict[str, str] = {
    "AAPL": "Information Technology",
    "AMD": "Information Technology",
    "BAC": "Financials",
    "BBY": "Consumer Discretionary",
    "CVX": "Energy",
    "GE": "Industrials",
    "HD": "Consumer Discretionary",
    "JNJ": "Health Care",
    "JPM": "Financials",
    "KO": "Consumer Staples",
    "LLY": "Health Care",
    "MRK": "Health Care",
    "MSFT": "Information Technology",
    "PEP": "Consumer Staples",
    "PFE": "Health Care",
    "PG": "Consumer Staples",
    "RRC": "Energy",
    "UNH": "Health Care",
    "WMT": "Consumer Staples",
    "XOM": "Energy",
}
REAL_SYMBOLS: tuple[str, ...] = tuple(REAL_SECTORS)


def data_dir() -> Path:
    """The project's data folder: `$OVERLAY_DATA_DIR` if set, else `<repo>/data` next to the package."""
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser()
    return Path(__file__).resolve().parents[2] / "data"


def real_data_dir() -> Path:
    """The folder of the real history (`data_dir() / "real"`); a DataError if its files are missing."""
    folder = data_dir() / "real"
    missing = [name for name in (STOCKS_FILE, INDEX_FILE) if not (folder / name).is_file()]
    if missing:
        how = f"${ENV_VAR} is {os.environ[ENV_VAR]!r}" if os.environ.get(ENV_VAR) else f"set ${ENV_VAR} to a folder holding real/"
        raise DataError(
            f"the real price history is missing from {folder} ({how})",
            [Problem(str(folder / name), None, None, "no such file", "the file shipped in the repository's data/real/") for name in missing],
        )
    return folder


@lru_cache(maxsize=2)
def _read(folder: str) -> pl.DataFrame:
    base = Path(folder)
    frames = []
    for name in (STOCKS_FILE, INDEX_FILE):
        path = base / name
        try:
            wide = pl.read_csv(path, try_parse_dates=True)
        except Exception as exc:
            raise DataError(f"cannot read {path}: {exc}", [Problem(str(path), None, None, "an unreadable file", "a gzip CSV with a Date column")]) from exc
        if "Date" not in wide.columns or wide.schema["Date"] != pl.Date:
            raise DataError(f"{path} has no Date column of dates", [Problem(str(path), None, "Date", str(wide.schema.get("Date")), "a column of ISO dates")])
        frames.append(wide.unpivot(index="Date", variable_name="symbol", value_name="close"))
    long = pl.concat(frames).rename({"Date": "date"}).with_columns(pl.col("close").cast(pl.Float64))
    bad = long.filter(pl.col("close").is_null() | ~(pl.col("close") > 0))
    if bad.height:
        raise DataError(
            f"the real history has {bad.height} missing or non-positive closes",
            [Problem(folder, f"{r['date']} {r['symbol']}", "close", repr(r["close"]), "a close > 0") for r in bad.head(20).iter_rows(named=True)],
        )
    return long.sort("symbol", "date")


def load_real_history(
    *,
    symbols: Sequence[str] | None = None,
    start: dt.date | None = None,
    end: dt.date | None = None,
    include_index: bool = False,
) -> pl.DataFrame:
    """Daily closes of the real history, long format.

    Parameters
    ----------
    symbols : the stocks wanted (default: all 20); ``"SP500"`` may be named to get the index.
    start, end : inclusive date bounds (default: the whole 1990-01-02 .. 2022-12-28).
    include_index : add the S&P 500 index as symbol ``"SP500"``.

    Returns
    -------
    pl.DataFrame of columns date (Date), symbol (String), close (Float64), sorted by symbol then date:
    8,313 rows per symbol over the whole range.
    """
    long = _read(str(real_data_dir()))
    available = set(REAL_SYMBOLS) | {INDEX_SYMBOL}
    if symbols is not None:
        wanted = [s for s in symbols]
        unknown = [s for s in wanted if s not in available]
        if unknown:
            raise DataError(
                f"unknown symbol(s) in the real history: {', '.join(map(repr, unknown))}",
                [Problem("real history", None, "symbol", repr(s), f"one of {', '.join(sorted(available))}") for s in unknown],
            )
        keep = set(wanted) | ({INDEX_SYMBOL} if include_index else set())
    else:
        keep = set(REAL_SYMBOLS) | ({INDEX_SYMBOL} if include_index else set())
    if start is not None and end is not None and start > end:
        raise DataError(f"start {start} is after end {end}", [Problem("real history", None, "date", f"{start} > {end}", "start <= end")])
    out = long.filter(pl.col("symbol").is_in(sorted(keep)))
    if start is not None:
        out = out.filter(pl.col("date") >= start)
    if end is not None:
        out = out.filter(pl.col("date") <= end)
    return out
