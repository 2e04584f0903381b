"""Price sources: "the closes of these symbols on these business days", from real or simulated data.

A `PriceSource` answers `closes(symbols, dates)` with a long frame (date, symbol, close). Implementations:

- `FramePriceSource`: any long frame of closes (also `FramePriceSource.from_file` for a user's file);
- `RealHistorySource`: the real history 1990-2022 (`load_real_history`, index included as ``SP500``);
- `SimulatedSource`: the factor-model simulator over a universe (`simulate_prices`).

`read_price_file` reads a user's CSV / Parquet price file, long (date, symbol, close) or wide (a date
column and one column per symbol), and reports every problem at once.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Literal, Mapping, Protocol, Sequence, runtime_checkable

import polars as pl

from overlay_core.contract import SYMBOL_RE
from overlay_core.errors import ConfigError, DataError, Problem
from overlay_core.market.history import load_real_history
from overlay_core.market.model import MarketModel
from overlay_core.market.simulator import simulate_prices

Missing = Literal["raise", "ffill"]
PRICE_SCHEMA = {"date": pl.Date, "symbol": pl.String, "close": pl.Float64}


@runtime_checkable
class PriceSource(Protocol):
    """Where closes come from (a backtest or the day loop does not care which)."""

    name: str

    def symbols(self) -> tuple[str, ...]:
        """Every symbol the source knows."""
        ...

    def dates(self) -> list[dt.date]:
        """Every date the source has a close on (for some symbol), ascending."""
        ...

    def closes(self, symbols: Sequence[str], dates: Sequence[dt.date], *, missing: Missing = "raise") -> pl.DataFrame:
        """Closes of `symbols` on `dates`: a long frame date, symbol, close of ``len(dates) * len(symbols)``
        rows ordered by the given dates, then the given symbols. `missing`: ``"raise"`` a DataError
        naming the missing (date, symbol) pairs, or ``"ffill"`` the last close on or before the date
        (a DataError if there is none)."""
        ...


class FramePriceSource:
    """A price source over a long frame of closes (date, symbol, close).

    Parameters
    ----------
    frame : columns date (Date), symbol (String), close (Float64 > 0); one row per (date, symbol).
    name : what the source is called in error messages (e.g. the file it came from).
    """

    def __init__(self, frame: pl.DataFrame, *, name: str = "prices") -> None:
        missing_cols = [c for c in PRICE_SCHEMA if c not in frame.columns]
        if missing_cols:
            raise DataError(
                f"{name}: the price frame lacks column(s) {missing_cols}",
                [Problem(name, None, c, "no such column", "columns date, symbol, close") for c in missing_cols],
            )
        self.name = name
        self._frame = frame.select(
            pl.col("date").cast(pl.Date), pl.col("symbol").cast(pl.String), pl.col("close").cast(pl.Float64)
        ).sort("symbol", "date")
        dup = self._frame.filter(pl.struct("date", "symbol").is_duplicated()).unique(["date", "symbol"], maintain_order=True)
        bad = self._frame.filter(pl.col("close").is_null() | pl.col("close").is_nan() | (pl.col("close") <= 0))
        problems = [Problem(name, f"{r['date']} {r['symbol']}", "close", "a duplicate (date, symbol)", "one close per symbol and day") for r in dup.head(50).iter_rows(named=True)]
        problems += [Problem(name, f"{r['date']} {r['symbol']}", "close", repr(r["close"]), "a close > 0") for r in bad.head(50).iter_rows(named=True)]
        if problems:
            raise DataError(f"{name}: {dup.height} duplicate and {bad.height} bad closes", problems)
        self._symbols = tuple(self._frame["symbol"].unique(maintain_order=True).to_list())
        self._dates = sorted(self._frame["date"].unique().to_list())

    @classmethod
    def from_file(cls, path: str | Path) -> FramePriceSource:
        """A source over a user's price file (see `read_price_file`)."""
        return cls(read_price_file(path), name=str(path))

    @property
    def frame(self) -> pl.DataFrame:
        """All closes, sorted by symbol then date."""
        return self._frame

    def symbols(self) -> tuple[str, ...]:
        return self._symbols

    def dates(self) -> list[dt.date]:
        return list(self._dates)

    def closes(self, symbols: Sequence[str], dates: Sequence[dt.date], *, missing: Missing = "raise") -> pl.DataFrame:
        if missing not in ("raise", "ffill"):
            raise ConfigError(f"missing: found {missing!r}; expected 'raise' or 'ffill'")
        symbols, dates = list(symbols), list(dates)
        want = pl.DataFrame(
            {
                "date": pl.Series([d for d in dates for _ in symbols], dtype=pl.Date),
                "symbol": pl.Series(symbols * len(dates), dtype=pl.String),
            }
        ).with_row_index("_row")
        if missing == "raise":
            got = want.join(self._frame, on=["date", "symbol"], how="left")
        else:
            got = want.sort("date").join_asof(self._frame.sort("date"), on="date", by="symbol", strategy="backward", check_sortedness=False)
        got = got.sort("_row")
        holes = got.filter(pl.col("close").is_null())
        if holes.height:
            unknown = sorted(set(holes["symbol"].to_list()) - set(self._symbols))
            what = "no close on or before" if missing == "ffill" else "no close on"
            problems = [Problem(self.name, str(s), "symbol", "an unknown symbol", "a symbol of the source") for s in unknown]
            problems += [
                Problem(self.name, f"{r['date']} {r['symbol']}", "close", what + " that date", "a close (or missing='ffill')")
                for r in holes.filter(~pl.col("symbol").is_in(unknown)).head(20).iter_rows(named=True)
            ]
            raise DataError(f"{self.name}: {holes.height} of {want.height} closes are missing", problems)
        return got.select("date", "symbol", "close")


class RealHistorySource(FramePriceSource):
    """The real history 1990-2022 as a price source: the 20 stocks and the S&P 500 index (``SP500``).

    `start`/`end` narrow it (inclusive). Prices are adjusted closes (docs/market.md: known limits).
    """

    def __init__(self, *, start: dt.date | None = None, end: dt.date | None = None) -> None:
        super().__init__(load_real_history(start=start, end=end, include_index=True), name="real history")


class SimulatedSource(FramePriceSource):
    """The simulator as a price source: `simulate_prices(universe, ...)` once, then served like a frame.

    Parameters are those of `simulate_prices`; the source is deterministic for a seed.
    """

    def __init__(
        self,
        universe: pl.DataFrame,
        *,
        start: dt.date,
        days: int,
        seed: int,
        start_prices: Mapping[str, float] | None = None,
        calendar: str = "XNYS",
        model: MarketModel | None = None,
    ) -> None:
        frame = simulate_prices(universe, start=start, days=days, seed=seed, start_prices=start_prices, calendar=calendar, model=model)
        super().__init__(frame, name=f"simulated market (seed {seed})")
        self.seed = seed


# --------------------------------------------------------------------------------------------------
# a user's price file
# --------------------------------------------------------------------------------------------------


def _read_raw(path: Path) -> pl.DataFrame:
    name = path.name.lower()
    if not path.is_file():
        raise DataError(f"price file {path} does not exist", [Problem(str(path), None, None, "no such file", "a CSV or Parquet price file")])
    try:
        if name.endswith((".csv", ".csv.gz")):
            return pl.read_csv(path, infer_schema=False, encoding="utf8-lossy")
        if name.endswith(".parquet"):
            return pl.read_parquet(path)
    except Exception as exc:
        raise DataError(f"cannot read price file {path}: {exc}", [Problem(str(path), None, None, f"an unreadable file ({type(exc).__name__})", "a CSV or Parquet file")]) from exc
    raise DataError(f"price file {path}: unknown format", [Problem(str(path), None, None, f"the extension of {path.name!r}", ".csv, .csv.gz or .parquet")])


def _to_date(col: pl.Series) -> pl.Series:
    if col.dtype == pl.Date:
        return col
    if isinstance(col.dtype, pl.Datetime):
        return col.dt.date()
    return col.cast(pl.String).str.strip_chars().str.to_date("%Y-%m-%d", strict=False)


def read_price_file(path: str | Path) -> pl.DataFrame:
    """Read a user's price file into the long frame (date, symbol, close), sorted by symbol then date.

    Accepted: ``.csv``, ``.csv.gz`` or ``.parquet``, either **long** (columns date, symbol, close, any
    case; other columns ignored) or **wide** (a ``date`` column, any case, and one column per symbol;
    an empty cell is a missing close and is skipped). Dates are ISO ``YYYY-MM-DD`` (or a Date/Datetime
    column in Parquet); closes are numbers > 0; symbols match ``[A-Z0-9./-]+``.

    Raises
    ------
    DataError listing every problem (file, row, column, found, expected): a missing or unreadable file,
    no date column, a bad date, a bad or non-positive close, a bad symbol, a duplicate (date, symbol).
    """
    path = Path(path)
    raw = _read_raw(path)
    file = str(path)
    lower = {c.strip().lower().lstrip("\ufeff"): c for c in raw.columns}
    if "date" not in lower:
        raise DataError(
            f"price file {path} has no date column",
            [Problem(file, None, "date", f"columns {raw.columns[:8]}", "a 'date' column (long: date, symbol, close; or wide: date + one column per symbol)")],
        )
    raw = raw.with_row_index("_row", offset=1)
    long_format = "symbol" in lower and "close" in lower
    if long_format:
        frame = raw.select(
            "_row",
            pl.col(lower["date"]).alias("_date_raw"),
            pl.col(lower["symbol"]).cast(pl.String).str.strip_chars().alias("symbol"),
            pl.col(lower["close"]).alias("_close_raw"),
        )
    else:
        value_cols = [c for c in raw.columns if c not in ("_row", lower["date"])]
        if not value_cols:
            raise DataError(f"price file {path} has a date column but no symbol columns", [Problem(file, None, None, "only a date column", "long columns date, symbol, close, or wide: date + one column per symbol")])
        frame = raw.select("_row", pl.col(lower["date"]).alias("_date_raw"), *[pl.col(c).cast(pl.String) for c in value_cols]).unpivot(
            index=["_row", "_date_raw"], variable_name="symbol", value_name="_close_raw"
        )
        frame = frame.filter(pl.col("_close_raw").is_not_null() & (pl.col("_close_raw").cast(pl.String).str.strip_chars() != ""))
    frame = frame.with_columns(
        date=_to_date(frame["_date_raw"]),
        close=frame["_close_raw"].cast(pl.String).str.strip_chars().cast(pl.Float64, strict=False),
    )
    problems: list[Problem] = []
    for r in frame.filter(pl.col("date").is_null()).unique("_row", keep="first", maintain_order=True).head(50).iter_rows(named=True):
        problems.append(Problem(file, r["_row"], lower["date"], repr(r["_date_raw"]), "an ISO date YYYY-MM-DD"))
    for r in frame.filter(pl.col("close").is_null() | pl.col("close").is_nan() | (pl.col("close") <= 0)).head(50).iter_rows(named=True):
        column = lower["close"] if long_format else r["symbol"]
        problems.append(Problem(file, r["_row"], column, repr(r["_close_raw"]), "a number > 0"))
    bad_symbols = [s for s in frame["symbol"].unique(maintain_order=True).to_list() if s is None or not SYMBOL_RE.match(s)]
    for s in bad_symbols[:50]:
        first = frame.filter(pl.col("symbol").is_null() if s is None else (pl.col("symbol") == s))["_row"][0]
        problems.append(Problem(file, None if not long_format else first, lower["symbol"] if long_format else s, repr(s), "a symbol matching [A-Z0-9./-]+"))
    dup = frame.filter(pl.col("date").is_not_null() & pl.struct("date", "symbol").is_duplicated())
    for r in dup.head(50).iter_rows(named=True):
        problems.append(Problem(file, r["_row"], "date", f"a second close of {r['symbol']} on {r['date']}", "one close per symbol and day"))
    if problems:
        raise DataError(f"price file {path} has problems", problems)
    if frame.height == 0:
        raise DataError(f"price file {path} has no closes", [Problem(file, None, None, "no rows", "at least one close")])
    return frame.select(pl.col("date"), pl.col("symbol"), pl.col("close")).sort("symbol", "date")
