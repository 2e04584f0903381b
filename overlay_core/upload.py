"""Read and validate the daily upload (`docs/upload.md`, `DATA_CONTRACT.md`) into a `Book`; write one back.

`read_upload(folder)` reads every table of `contract.TABLES` from ``NAME.csv`` or ``NAME.parquet``,
`policy.toml` and `as_of.txt`, checks them, and returns the immutable, validated `Book` of the day — or
raises `UploadRefused` listing every book-level problem at once. It never loads part of an upload and
never lets another exception out, whatever the bytes.

How it is fast: CSV files are parsed by polars as text only (``infer_schema=False``), then each column is
cast with ``strict=False``; a cell that was not empty before the cast and is null after it is a bad
value, and the row index kept beside the data names its row. Every check is a vectorized filter.

Rows are numbered from 1 after the header (the `Problem.row` convention); a quoted newline inside a
cell does not start a new row.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import re
from pathlib import Path
from typing import Any, Callable, Iterable

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from overlay_core import calendar
from overlay_core.book import Book
from overlay_core.contract import CASH, FIRM_WIDE, SYMBOL_RE, TABLES, Column, Table, schema
from overlay_core.errors import Level, Problem, UploadRefused
from overlay_core.policy import DEFAULT_POLICY, POLICY_FILE, Policy, parse_policy, policy_to_toml

__all__ = ["AS_OF_FILE", "read_upload", "write_upload", "upload_files"]

AS_OF_FILE = "as_of.txt"
#: the 1-based data row of each record, kept beside the data while validating
ROW = "__row"
#: true on a row with a bad cell (already reported): later checks skip it rather than repeat the problem
BAD = "__bad"
#: a book-level check lists at most this many rows one by one, then one line for the rest
MAX_ROWS_PER_CHECK = 50
#: an account-level check lists at most this many rows of one account, then one line for the rest
MAX_ROWS_PER_ACCOUNT = 5
#: weights whose sum is within this of 1 are float noise: kept as given, no warning
RENORMALIZE_EPS = 1e-9
_BOM = b"\xef\xbb\xbf"
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_SUBSTITUTE_RE = r"^[A-Z0-9./-]+>[A-Z0-9./-]+$"
_FORMATS = ("csv", "parquet")

try:  # polars turns a Rust panic into this (a BaseException): an unreadable file, not a crash
    from polars.exceptions import PanicException as _Panic
except ImportError:  # pragma: no cover - older polars
    _Panic = Exception  # type: ignore[misc,assignment]

_READ_ERRORS: tuple[type[BaseException], ...] = (Exception, _Panic)


# --------------------------------------------------------------------------------------------------
# problems


def _show(value: Any) -> str:
    """A cell's value as shown in a message."""
    if value is None:
        return "an empty cell"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    text = str(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return repr(text)


class _Problems:
    """Every problem found so far, in the order found."""

    def __init__(self) -> None:
        self.items: list[Problem] = []

    def add(
        self,
        file: str,
        row: int | str | None,
        column: str | None,
        found: str,
        expected: str,
        level: Level = Level.BOOK,
        account_id: str | None = None,
    ) -> None:
        self.items.append(Problem(file, row, column, found, expected, level, account_id))

    def rows(
        self,
        bad: pl.DataFrame,
        *,
        file: str,
        column: str | None,
        expected: str,
        level: Level,
        value: str | None = None,
        found: Callable[[Any], str] = _show,
        account_col: str | None = "account_id",
    ) -> None:
        """One problem per row of `bad` (a frame with `ROW`, `value` and, for account level, `account_col`).

        Account-level rows whose account is the firm-wide ``*`` (restrictions) are book-level: there is
        no account to quarantine. Book-level rows beyond `MAX_ROWS_PER_CHECK`, and an account's rows
        beyond `MAX_ROWS_PER_ACCOUNT`, are summarized in one line.
        """
        if bad.height == 0:
            return
        if level is Level.ACCOUNT and account_col is not None and account_col in bad.columns:
            firm = pl.col(account_col).is_null() | (pl.col(account_col) == FIRM_WIDE)
            self.rows(bad.filter(firm), file=file, column=column, expected=expected, level=Level.BOOK, value=value, found=found, account_col=None)
            ranked = bad.filter(~firm).with_columns(pl.int_range(pl.len()).over(account_col).alias("__k"))
            shown = ranked.filter(pl.col("__k") < MAX_ROWS_PER_ACCOUNT)
            values = shown[value].to_list() if value is not None else [None] * shown.height
            for row, val, acct in zip(shown[ROW].to_list(), values, shown[account_col].to_list()):
                self.items.append(Problem(file, row, column, found(val), expected, Level.ACCOUNT, acct))
            hidden = (
                ranked.filter(pl.col("__k") >= MAX_ROWS_PER_ACCOUNT)
                .group_by(account_col, maintain_order=True)
                .agg(pl.col(ROW).head(10).alias("rows"), pl.len().alias("n"))
            )
            for acct, rows, n in hidden.iter_rows():
                more = ", ".join(map(str, rows)) + (", ..." if n > len(rows) else "")
                self.items.append(Problem(file, f"{n} more rows of account {acct} ({more})", column, "the same problem", expected, Level.ACCOUNT, acct))
            return
        shown_rows = bad.head(MAX_ROWS_PER_CHECK)
        values = shown_rows[value].to_list() if value is not None else [None] * shown_rows.height
        for row, val in zip(shown_rows[ROW].to_list(), values):
            self.items.append(Problem(file, row, column, found(val), expected, Level.BOOK))
        if bad.height > MAX_ROWS_PER_CHECK:
            hidden = bad[ROW].slice(MAX_ROWS_PER_CHECK, 11).to_list()
            n = bad.height - MAX_ROWS_PER_CHECK
            more = ", ".join(str(r) for r in hidden[:10]) + (", ..." if n > 10 else "")
            self.items.append(Problem(file, f"{n} more rows ({more})", column, "the same problem", expected, Level.BOOK))

    def of(self, level: Level) -> list[Problem]:
        return [p for p in self.items if p.level is level]


# --------------------------------------------------------------------------------------------------
# reading one file


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    first = text[0] if text else type(exc).__name__
    return first[:160]


def _parse_csv(name: str, data: bytes, p: _Problems) -> pl.DataFrame | None:
    """A CSV file as a frame of text columns (stripped, empty -> null) with `ROW`; None if unreadable."""
    if data.startswith(_BOM):
        data = data[len(_BOM) :]
    if not data.strip():
        p.add(name, None, None, "an empty file", "a header row naming the columns (a header-only file is an empty table)")
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        p.add(name, f"line {line}", None, f"bytes that are not UTF-8 ({data[exc.start:exc.end + 3]!r} at byte {exc.start})", "UTF-8 text")
        return None
    # The header and every record's field count: polars pads a short record with empty cells silently,
    # so a truncated row would pass unseen. Without any quote character a record is a line, counted by
    # polars; otherwise the standard library's RFC 4180 reader counts them.
    try:
        if '"' not in text:
            lines = text.split("\n")
            if lines and lines[-1] == "":
                lines.pop()
            header = next(csv.reader([lines[0]])) if lines else None
            if header is None:
                p.add(name, None, None, "an empty file", "a header row naming the columns")
                return None
            header = [h.strip() for h in header]
            n_fields = len(header)
            n_records = len(lines) - 1
            body = pl.Series("line", lines[1:], dtype=pl.String)
            counts = body.str.count_matches(",", literal=True) + 1
            blank = body.str.strip_chars("\r").str.len_bytes() == 0
            frame = pl.DataFrame({"n": counts, "blank": blank}).with_row_index("row", offset=1)
            wrong = frame.filter(~pl.col("blank") & (pl.col("n") != n_fields))
            ragged = [(int(r), int(n)) for r, n in wrong.select("row", "n").head(MAX_ROWS_PER_CHECK + 1).iter_rows()]
            n_ragged = wrong.height
        else:
            reader = csv.reader(io.StringIO(text, newline=""), strict=True)
            header = next(reader, None)
            if header is None:
                p.add(name, None, None, "an empty file", "a header row naming the columns")
                return None
            header = [h.strip() for h in header]
            n_fields = len(header)
            ragged = []
            n_records = 0
            for n_records, record in enumerate(reader, start=1):
                if record and len(record) != n_fields:
                    ragged.append((n_records, len(record)))
            n_ragged = len(ragged)
    except csv.Error as exc:
        p.add(name, None, None, f"malformed CSV ({exc})", "RFC 4180 CSV: one header row, comma-separated, '\"' quoting")
        return None
    bad_header = False
    seen: set[str] = set()
    for i, h in enumerate(header, start=1):
        if not h:
            p.add(name, "header", None, f"an empty column name (column {i})", "a name for every column")
            bad_header = True
        elif h in seen:
            p.add(name, "header", h, "the column named twice", "each column once")
            bad_header = True
        elif h in (ROW, BAD):
            p.add(name, "header", h, "a reserved column name", "the contract's columns")
            bad_header = True
        seen.add(h)
    for row, n in ragged[:MAX_ROWS_PER_CHECK]:
        p.add(name, row, None, f"{n} fields", f"{n_fields} fields, as in the header")
    if n_ragged > MAX_ROWS_PER_CHECK:
        p.add(name, f"{n_ragged - MAX_ROWS_PER_CHECK} more rows", None, "a wrong number of fields", f"{n_fields} fields")
    if bad_header or ragged:
        return None
    try:
        df = pl.read_csv(
            io.BytesIO(data),
            has_header=True,
            infer_schema=False,
            new_columns=header,
            quote_char='"',
            truncate_ragged_lines=False,
            raise_if_empty=False,
        )
    except _READ_ERRORS as exc:
        p.add(name, None, None, f"malformed CSV ({_short(exc)})", "RFC 4180 CSV: one header row, comma-separated, '\"' quoting")
        return None
    if df.height != n_records or df.width != n_fields:
        p.add(name, None, None, f"records that cannot be delimited consistently ({df.height} vs {n_records})", "RFC 4180 CSV with '\\n' or '\\r\\n' line ends")
        return None
    df = df.with_columns(pl.col(c).cast(pl.String) for c in df.columns)
    return _clean_text(df)


def _clean_text(df: pl.DataFrame) -> pl.DataFrame:
    text_cols = [c for c, t in df.schema.items() if t == pl.String]
    if text_cols:
        df = df.with_columns(
            pl.when(pl.col(c).str.strip_chars().str.len_bytes() == 0).then(None).otherwise(pl.col(c).str.strip_chars()).alias(c)
            for c in text_cols
        )
    df = df.with_row_index(ROW, offset=1).with_columns(pl.col(ROW).cast(pl.Int64))
    if df.width > 1:  # a blank line is no record
        df = df.filter(~pl.all_horizontal(pl.col(c).is_null() for c in df.columns if c != ROW))
    return df


def _parse_parquet(name: str, data: bytes, p: _Problems) -> pl.DataFrame | None:
    if not data:
        p.add(name, None, None, "an empty file", "a Parquet file")
        return None
    # pyarrow reads and fully validates the file first: polars' own Parquet reader can abort the whole
    # process on some corrupt files (a huge allocation from a flipped length), which no `except` catches.
    # Only validated columns, under plain names and without any (possibly corrupt) metadata, reach polars.
    try:
        table = pq.read_table(io.BytesIO(data))
        names = [str(c) for c in table.column_names]
        table = pa.Table.from_arrays(table.columns, names=[f"c{i}" for i in range(len(names))])
        table.validate(full=True)
        df = pl.from_arrow(table)
    except _READ_ERRORS as exc:
        p.add(name, None, None, f"an unreadable Parquet file ({_short(exc)})", "a complete Parquet file")
        return None
    if not isinstance(df, pl.DataFrame):  # pragma: no cover - from_arrow of a Table is a DataFrame
        p.add(name, None, None, "an unreadable Parquet file", "a Parquet file of columns")
        return None
    renamed = [c.strip() for c in names]
    if len(set(renamed)) != len(renamed) or any(not c for c in renamed):
        p.add(name, "header", None, f"columns {renamed!r}", "distinct, non-empty column names")
        return None
    for reserved in (ROW, BAD):
        if reserved in renamed:
            p.add(name, "header", reserved, "a reserved column name", "the contract's columns")
            return None
    return _clean_text(df.rename(dict(zip(df.columns, renamed))))


_NUMERIC = (pl.Float32, pl.Float64, pl.Int8, pl.Int16, pl.Int32, pl.Int64, pl.UInt8, pl.UInt16, pl.UInt32, pl.UInt64)
_INTEGER = (pl.Int8, pl.Int16, pl.Int32, pl.Int64, pl.UInt8, pl.UInt16, pl.UInt32, pl.UInt64)


def _expected(col: Column, table: Table) -> str:
    if col.kind == "float":
        return "a number"
    if col.kind == "date":
        return "a date YYYY-MM-DD"
    if col.kind == "enum":
        return "one of " + ", ".join(col.enum)
    if col.kind == "symbol":
        if table.name == "models" and col.name == "symbol":
            return "a symbol matching [A-Z0-9./-]+ or $CASH"
        return "a symbol matching [A-Z0-9./-]+ ($CASH may stand only in models.symbol)"
    return "text"


def _typed(table: Table, file: str, raw: pl.DataFrame, p: _Problems, warnings: list[Problem]) -> pl.DataFrame | None:
    """Cast a raw frame to the table's normalized schema, one problem per bad cell; None if a column is missing."""
    missing = [c for c in table.required if c not in raw.columns]
    for c in missing:
        p.add(file, "header", c, "no such column" + (f" (columns: {', '.join(x for x in raw.columns if x != ROW)})"), f"the required column {c!r}")
    extra = [c for c in raw.columns if c != ROW and c not in table.names]
    for c in extra:
        warnings.append(Problem(file, "header", c, "a column the contract does not define", f"only {', '.join(table.names)} (the column is ignored)", Level.WARNING))
    if missing:
        return None
    exprs: list[pl.Expr] = [pl.col(ROW)]
    checks: list[tuple[Column, pl.Expr, str]] = []  # (column, bad-cell condition on raw, expected)
    for col in table.columns:
        name = col.name
        if name not in raw.columns:
            exprs.append(pl.lit(None, dtype=schema(table)[name]).alias(name))
            continue
        dtype = raw.schema[name]
        src = pl.col(name)
        if col.kind == "float":
            if dtype == pl.String:
                val = src.cast(pl.Float64, strict=False)
            elif isinstance(dtype, _NUMERIC) or dtype in _NUMERIC:
                val = src.cast(pl.Float64)
            elif dtype == pl.Null:
                val = src.cast(pl.Float64)
            else:
                p.add(file, None, name, f"a column of type {dtype}", "numbers")
                return None
        elif col.kind == "date":
            if dtype == pl.String:
                val = pl.when(src.str.contains(r"^\d{4}-\d{2}-\d{2}$")).then(src.str.strptime(pl.Date, "%Y-%m-%d", strict=False))
            elif dtype == pl.Date:
                val = src
            elif isinstance(dtype, pl.Datetime):
                val = src.dt.date()
            elif dtype == pl.Null:
                val = src.cast(pl.Date)
            else:
                p.add(file, None, name, f"a column of type {dtype}", "dates")
                return None
        else:
            if dtype == pl.String:
                val = src
            elif dtype == pl.Null or dtype in _INTEGER or isinstance(dtype, (pl.Categorical, pl.Enum)) or dtype == pl.Categorical:
                val = src.cast(pl.String)
            else:
                p.add(file, None, name, f"a column of type {dtype}", "text")
                return None
        exprs.append(val.alias(name))
    try:
        out = raw.select(exprs)
    except _READ_ERRORS as exc:  # an exotic Parquet type that does not cast
        p.add(file, None, None, f"columns that cannot be read as the contract's types ({_short(exc)})", "the contract's types")
        return None

    # bad cells: empty where a value is required, values that did not cast, NaN/inf, bad symbols and enums
    bad_exprs: list[pl.Expr] = []
    bad_rows: list[pl.Series] = []
    for col in table.columns:
        name = col.name
        if name not in raw.columns:
            continue
        was = raw[name]
        now = out[name]
        expected = _expected(col, table)
        if not col.nullable:
            empty = raw.filter(was.is_null())
            p.rows(empty.select(ROW), file=file, column=name, expected=expected, level=Level.BOOK)
            bad_rows.append(empty[ROW])
        failed = was.is_not_null() & now.is_null()
        if failed.any():
            p.rows(raw.filter(failed).select(ROW, pl.col(name)), file=file, column=name, value=name, expected=expected, level=Level.BOOK)
            bad_rows.append(raw.filter(failed)[ROW])
        if col.kind == "float":
            nonfinite = now.is_not_null() & ~now.is_finite()
            if nonfinite.any():
                p.rows(out.filter(nonfinite).select(ROW, pl.col(name)), file=file, column=name, value=name, expected="a finite number", level=Level.BOOK)
                bad_rows.append(out.filter(nonfinite)[ROW])
                bad_exprs.append(pl.when(pl.col(name).is_finite()).then(pl.col(name)).alias(name))
        elif col.kind == "symbol":
            allow_cash = table.name == "models" and name == "symbol"
            ok = now.str.contains(SYMBOL_RE.pattern)
            if allow_cash:
                ok = ok | (now == CASH)
            bad = now.is_not_null() & ~ok
            if bad.any():
                p.rows(out.filter(bad).select(ROW, pl.col(name)), file=file, column=name, value=name, expected=expected, level=Level.BOOK)
                bad_rows.append(out.filter(bad)[ROW])
        elif col.kind == "enum":
            bad = now.is_not_null() & ~now.is_in(list(col.enum))
            if bad.any():
                p.rows(out.filter(bad).select(ROW, pl.col(name)), file=file, column=name, value=name, expected=expected, level=Level.BOOK)
                bad_rows.append(out.filter(bad)[ROW])
    if bad_exprs:
        out = out.with_columns(bad_exprs)
    flagged = pl.concat(bad_rows) if bad_rows else pl.Series(ROW, [], dtype=pl.Int64)
    out = out.with_columns(pl.col(ROW).is_in(flagged.implode()).alias(BAD))

    # duplicate keys
    if table.key:
        key = list(table.key)
        keyed = out.filter(pl.all_horizontal(pl.col(k).is_not_null() for k in key))
        dup = (
            keyed.filter(pl.struct(key).is_duplicated())
            .group_by(key, maintain_order=True)
            .agg(pl.col(ROW).sort())
            .filter(pl.col(ROW).list.len() > 1)
        )
        shown = 0
        for rec in dup.iter_rows(named=True):
            if shown >= MAX_ROWS_PER_CHECK:
                p.add(file, f"{dup.height - shown} more keys", ", ".join(key), "the same problem", "each key once")
                break
            shown += 1
            key_text = ", ".join(f"{k}={rec[k]!r}" for k in key) if len(key) > 1 else repr(rec[key[0]])
            rows = rec[ROW]
            p.add(file, f"key {key_text}", ", ".join(key), f"{len(rows)} rows ({', '.join(map(str, rows[:10]))})", "one row per key")
    return out


# --------------------------------------------------------------------------------------------------
# the folder


def _locate(folder: Path, name: str) -> tuple[list[Path], list[str]]:
    found = [folder / f"{name}.{ext}" for ext in _FORMATS if (folder / f"{name}.{ext}").is_file()]
    return found, [f.name for f in found]


def _empty(table: Table) -> pl.DataFrame:
    return pl.DataFrame(schema=schema(table)).with_row_index(ROW, offset=1).with_columns(pl.col(ROW).cast(pl.Int64), pl.lit(False).alias(BAD))


def _read_bytes(path: Path, p: _Problems) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError as exc:
        p.add(path.name, None, None, f"a file that cannot be read ({exc.strerror or exc})", "a readable file")
        return None


def upload_files(folder: str | Path) -> list[Path]:
    """The files of an upload folder that `read_upload` reads (tables, policy.toml, as_of.txt), sorted by name."""
    folder = Path(folder)
    names = [f"{t}.{ext}" for t in TABLES for ext in _FORMATS] + [POLICY_FILE, AS_OF_FILE]
    return sorted((folder / n for n in names if (folder / n).is_file()), key=lambda f: f.name)


def _read_as_of(folder: Path, files: dict[str, bytes], p: _Problems) -> dt.date | None:
    path = folder / AS_OF_FILE
    if not path.is_file():
        return None
    data = _read_bytes(path, p)
    if data is None:
        return None
    files[AS_OF_FILE] = data
    try:
        text = data.decode("utf-8-sig").strip()
    except UnicodeDecodeError:
        p.add(AS_OF_FILE, None, None, "bytes that are not UTF-8", "one date YYYY-MM-DD")
        return None
    try:
        if not _DATE_RE.match(text):
            raise ValueError(text)
        return dt.date.fromisoformat(text)
    except ValueError:
        p.add(AS_OF_FILE, None, None, _show(text) if text else "an empty file", "one date YYYY-MM-DD")
        return None


def _input_hash(files: dict[str, bytes], as_of: dt.date, trade_date: dt.date, policy_override: Policy | None) -> str:
    h = hashlib.sha256()
    for name in sorted(files):
        data = files[name]
        h.update(name.encode() + b"\0" + str(len(data)).encode() + b"\0")
        h.update(data)
    h.update(f"as_of={as_of.isoformat()}\0trade_date={trade_date.isoformat()}\0".encode())
    if policy_override is not None:
        h.update(b"policy_override=" + json.dumps(policy_override.to_dict(), sort_keys=True).encode())
    return h.hexdigest()


def read_upload(
    folder: str | Path,
    *,
    as_of: dt.date | None = None,
    trade_date: dt.date | None = None,
    policy_override: Policy | None = None,
) -> Book:
    """Read, validate and normalize the daily upload in `folder`.

    Parameters
    ----------
    folder : the upload folder (``NAME.csv`` or ``NAME.parquet`` per table, ``as_of.txt``, ``policy.toml``).
    as_of : the prices' date; if ``as_of.txt`` is present too, both must agree. One of them is required.
    trade_date : the day the orders execute; default the next NYSE business day after `as_of`.
    policy_override : use this policy instead of the folder's ``policy.toml`` (which is then not read).

    Returns
    -------
    Book
        The validated book: frames of `contract.schema(...)` with the fill-ins of `book.Book`; accounts
        with account-level problems, and every account of their household, removed and listed in
        `Book.quarantined`; warnings in `Book.warnings`.

    Raises
    ------
    UploadRefused
        Any book-level problem, or more than ``policy.validation.max_quarantine_share`` of the accounts
        quarantined. `problems` lists every problem found (file, row or key, column, found, expected).
    """
    folder = Path(folder)
    p = _Problems()
    warnings: list[Problem] = []
    if not folder.is_dir():
        raise UploadRefused(
            f"upload refused: {folder} is not a folder",
            [Problem(str(folder), None, None, "no such folder", "a folder holding the upload's files")],
        )
    files: dict[str, bytes] = {}

    # as_of and the trade date
    file_as_of = _read_as_of(folder, files, p)
    if as_of is not None and file_as_of is not None and as_of != file_as_of:
        p.add(AS_OF_FILE, None, None, file_as_of.isoformat(), f"{as_of.isoformat()} (the as_of given by the caller), or no {AS_OF_FILE}")
    elif as_of is None and file_as_of is None and not any(x.file == AS_OF_FILE for x in p.items):
        p.add(AS_OF_FILE, None, None, "no as_of.txt and no as_of given", "as_of.txt holding YYYY-MM-DD, or --as-of")
    day = as_of if as_of is not None else file_as_of
    if day is not None and trade_date is None:
        try:
            trade_date = calendar.next_business_day(day)
        except ValueError as exc:
            p.add(AS_OF_FILE, None, None, f"{day.isoformat()} ({exc})", "a date inside the NYSE calendar")
    elif day is not None and trade_date is not None and trade_date < day:
        p.add("(trade date)", None, None, trade_date.isoformat(), f"a trade date on or after as_of {day.isoformat()}")

    # policy
    if policy_override is not None:
        policy = policy_override
    else:
        policy = DEFAULT_POLICY
        ppath = folder / POLICY_FILE
        if ppath.is_file():
            data = _read_bytes(ppath, p)
            if data is not None:
                files[POLICY_FILE] = data
                try:
                    text = data.decode("utf-8-sig")
                except UnicodeDecodeError:
                    p.add(POLICY_FILE, None, None, "bytes that are not UTF-8", "a UTF-8 TOML file")
                else:
                    policy, pproblems = parse_policy(text, POLICY_FILE)
                    p.items.extend(pproblems)

    # tables
    frames: dict[str, pl.DataFrame | None] = {}
    names: dict[str, str] = {}
    for name, table in TABLES.items():
        paths, fnames = _locate(folder, name)
        names[name] = fnames[0] if len(fnames) == 1 else f"{name}.csv"
        if len(paths) > 1:
            p.add(" / ".join(fnames), None, None, "the table given twice", f"exactly one of {name}.csv or {name}.parquet")
            frames[name] = None
            continue
        if not paths:
            if table.required_file:
                p.add(f"{name}.csv", None, None, "no such file", f"{name}.csv or {name}.parquet (a required table)")
                frames[name] = None
            else:
                frames[name] = _empty(table)
            continue
        data = _read_bytes(paths[0], p)
        if data is None:
            frames[name] = None
            continue
        files[fnames[0]] = data
        raw = _parse_csv(fnames[0], data, p) if paths[0].suffix == ".csv" else _parse_parquet(fnames[0], data, p)
        frames[name] = None if raw is None else _typed(table, fnames[0], raw, p, warnings)

    known = set(TABLES)
    for f in sorted(folder.iterdir()):
        stem, _, ext = f.name.rpartition(".")
        if ext in _FORMATS and stem not in known and f.is_file():
            warnings.append(Problem(f.name, None, None, "a table the contract does not define", f"one of {', '.join(TABLES)} (the file is ignored)", Level.WARNING))

    # Validate what could be read, even when another file could not: every problem at once. A check
    # that needs a table that failed to load is skipped (it would only repeat that failure).
    failed = {k for k, v in frames.items() if v is None}
    typed = {k: (v if v is not None else _empty(TABLES[k])) for k, v in frames.items()}
    book = _validate(typed, names, day, policy, p, warnings, failed)

    book_problems = p.of(Level.BOOK)
    if book_problems or failed or day is None or trade_date is None:
        problems = book_problems + p.of(Level.ACCOUNT)
        raise UploadRefused(f"upload refused: {len(book_problems)} book-level problem(s) in {folder}", problems)

    frames_out, quarantined = book
    n_accounts = frames_out["accounts"].height + quarantined.height
    share = quarantined.height / n_accounts if n_accounts else 0.0
    if share > policy.validation.max_quarantine_share:
        refusal = Problem(
            names["accounts"],
            None,
            None,
            f"{quarantined.height} of {n_accounts} accounts ({share:.1%}) quarantined",
            f"at most {policy.validation.max_quarantine_share:.1%} (policy validation.max_quarantine_share)",
            Level.BOOK,
        )
        raise UploadRefused(f"upload refused: too many accounts quarantined in {folder}", [refusal, *p.of(Level.ACCOUNT)])

    if day is None or trade_date is None:  # unreachable: both were required to validate
        raise UploadRefused(f"upload refused: no as_of or trade date for {folder}")
    return Book(
        as_of=day,
        trade_date=trade_date,
        policy=policy,
        input_hash=_input_hash(files, day, trade_date, policy_override),
        quarantined=quarantined,
        warnings=tuple(warnings),
        source=str(folder),
        **frames_out,
    )


# --------------------------------------------------------------------------------------------------
# validation across tables


def _not_in(col: str, values: Iterable[str] | pl.Series) -> pl.Expr:
    s = values if isinstance(values, pl.Series) else pl.Series(list(values), dtype=pl.String)
    return pl.col(col).is_not_null() & ~pl.col(col).is_in(s.implode())


def _check(
    p: _Problems,
    df: pl.DataFrame,
    cond: pl.Expr,
    *,
    file: str,
    column: str,
    expected: str,
    level: Level,
    found: Callable[[Any], str] = _show,
    value: str | None = None,
) -> pl.Series:
    """Report the rows of `df` where `cond` holds; returns the mask (null counts as false)."""
    if BAD in df.columns:
        cond = cond & ~pl.col(BAD)
    mask = df.select(cond.fill_null(False).alias("m"))["m"]
    if mask.any():
        cols = [ROW, value or column] + (["account_id"] if "account_id" in df.columns and (value or column) != "account_id" else [])
        p.rows(df.filter(mask).select(cols), file=file, column=column, value=value or column, expected=expected, level=level, found=found)
    return mask


def _weights(
    df: pl.DataFrame, group: str, *, file: str, what: str, tolerance: float, p: _Problems, warnings: list[Problem]
) -> pl.DataFrame:
    """Check weights >= 0 and per-group sums; renormalize inside the tolerance (warning)."""
    _check(p, df, pl.col("weight") < 0, file=file, column="weight", expected="a weight >= 0", level=Level.BOOK)
    sums = df.group_by(group, maintain_order=True).agg(pl.col("weight").sum().alias("__sum"), pl.col(ROW).min().alias("__first"))
    for g, total, _first in sums.iter_rows():
        if g is None or total is None:
            continue
        off = abs(total - 1.0)
        if off > tolerance:
            p.add(file, f"{what} {g!r}", "weight", f"weights summing to {total:.10g}", f"a sum of 1 within {tolerance:g} (policy validation.weight_tolerance)")
        elif off > RENORMALIZE_EPS:
            warnings.append(
                Problem(file, f"{what} {g!r}", "weight", f"weights summing to {total:.10g}", "a sum of 1: renormalized (inside the tolerance)", Level.WARNING)
            )
    renorm = sums.filter((pl.col("__sum") - 1.0).abs() > RENORMALIZE_EPS).select(group, "__sum")
    if renorm.height:
        df = (
            df.join(renorm, on=group, how="left", nulls_equal=False)
            .with_columns(pl.when(pl.col("__sum").is_not_null()).then(pl.col("weight") / pl.col("__sum")).otherwise(pl.col("weight")).alias("weight"))
            .drop("__sum")
        )
    return df


def _fraction(p: _Problems, df: pl.DataFrame, col: str, file: str, level: Level) -> None:
    _check(p, df, (pl.col(col) < 0) | (pl.col(col) > 1), file=file, column=col, expected="a fraction in [0, 1]", level=level)


def _validate(
    t: dict[str, pl.DataFrame],
    names: dict[str, str],
    as_of: dt.date | None,
    policy: Policy,
    p: _Problems,
    warnings: list[Problem],
    failed: set[str],
) -> tuple[dict[str, pl.DataFrame], pl.DataFrame]:
    """Every check across rows and tables; returns the book's frames (with fill-ins) and the quarantine.

    Tables in `failed` could not be read (they are empty here); checks that compare against them are
    skipped, as are date checks when `as_of` is unknown.
    """
    B, A = Level.BOOK, Level.ACCOUNT

    def ok(*tables: str) -> bool:
        return not failed.intersection(tables)

    def after(col: str) -> pl.Expr:
        return pl.col(col) > as_of if as_of is not None else pl.lit(False)
    sec, prices, hist = t["securities"], t["prices"], t["price_history"]
    models, targets, accounts, lots = t["models"], t["targets"], t["accounts"], t["lots"]
    restr, trans, pend = t["restrictions"], t["transactions"], t["pending_orders"]
    f = names

    def warn(file: str, row: int | str | None, column: str | None, found: str, expected: str) -> None:
        warnings.append(Problem(file, row, column, found, expected, Level.WARNING))

    # ---- securities (book level)
    _check(p, sec, pl.col("cost_bps") < 0, file=f["securities"], column="cost_bps", expected="a cost >= 0 bps", level=B)
    _check(p, sec, pl.col("trade_increment") <= 0, file=f["securities"], column="trade_increment", expected="an increment > 0", level=B)
    symbols = sec["symbol"].drop_nulls().unique()
    tags: set[str] = set()
    for raw_tags in sec["tags"].drop_nulls().unique().to_list():
        tags |= Book.tags_of(raw_tags)
    sectors = set(sec["sector"].drop_nulls().to_list())
    asset_classes = set(sec["asset_class"].drop_nulls().to_list())

    # ---- prices (book level)
    _check(p, prices, pl.col("close") <= 0, file=f["prices"], column="close", expected="a close > 0", level=B)
    _check(p, prices, after("date"), file=f["prices"], column="date", expected=f"a date on or before as_of {as_of}", level=B)
    if ok('securities'):
        unknown = prices.filter(_not_in("symbol", symbols))
        for row, sym in unknown.select(ROW, "symbol").head(MAX_ROWS_PER_CHECK).iter_rows():
            warn(f["prices"], row, "symbol", repr(sym), "a symbol of securities (the price is unused)")
    priced = prices.filter(pl.col("close").is_not_null() & (pl.col("close") > 0))["symbol"].drop_nulls().unique()

    # ---- price history (book level)
    _check(p, hist, pl.col("close") <= 0, file=f["price_history"], column="close", expected="a close > 0", level=B)
    _check(p, hist, after("date"), file=f["price_history"], column="date", expected=f"a date on or before as_of {as_of}", level=B)
    hist_unknown = hist.filter(_not_in("symbol", symbols))["symbol"].unique().sort()
    if hist_unknown.len() and ok("securities"):
        shown = hist_unknown.head(10).to_list()
        warn(f["price_history"], None, "symbol", f"{hist_unknown.len()} symbols not in securities ({', '.join(shown)}{', ...' if hist_unknown.len() > 10 else ''})", "symbols of securities (their history is unused)")

    # ---- models and targets (book level)
    tol = policy.validation.weight_tolerance
    if ok('securities'):
        _check(p, models, _not_in("symbol", symbols) & (pl.col("symbol") != CASH), file=f["models"], column="symbol", expected="a symbol of securities, or $CASH", level=B)
    if ok('prices', 'securities'):
        _check(
            p,
            models,
            pl.col("symbol").is_in(symbols.implode()) & _not_in("symbol", priced),
            file=f["models"],
            column="symbol",
            expected="a symbol with a close > 0 in prices (a targeted symbol needs a price)",
            level=B,
            found=lambda v: f"{v!r} without a price",
        )
    models = _weights(models, "model_id", file=f["models"], what="model", tolerance=tol, p=p, warnings=warnings)
    model_ids = models["model_id"].drop_nulls().unique()
    if ok('models'):
        _check(p, targets, _not_in("model_id", model_ids), file=f["targets"], column="model_id", expected="a model_id of models", level=B)
    targets = _weights(targets, "target_id", file=f["targets"], what="target", tolerance=tol, p=p, warnings=warnings)
    target_ids = targets["target_id"].drop_nulls().unique()

    # ---- accounts (account level)
    rb = policy.rebalance
    accounts = accounts.with_columns(
        pl.col("household_id").fill_null(pl.col("account_id")),
        pl.col("status").fill_null("active"),
        pl.col("st_rate").fill_null(rb.st_rate),
        pl.col("lt_rate").fill_null(rb.lt_rate),
        pl.col("min_cash_weight").fill_null(0.0),
        pl.col("min_trade_value").fill_null(rb.min_trade_value),
        pl.col("cash_need").fill_null(0.0),
        pl.col("ytd_realized_st").fill_null(0.0),
        pl.col("ytd_realized_lt").fill_null(0.0),
    )
    fa = f["accounts"]
    _check(p, accounts, pl.col("cash") < 0, file=fa, column="cash", expected="settled cash >= 0", level=A)
    if ok('targets'):
        _check(p, accounts, _not_in("target_id", target_ids), file=fa, column="target_id", expected="a target_id of targets", level=A)
    for col in ("st_rate", "lt_rate", "min_cash_weight"):
        _fraction(p, accounts, col, fa, A)
    _check(p, accounts, pl.col("min_trade_value") < 0, file=fa, column="min_trade_value", expected="a value >= 0", level=A)
    _check(p, accounts, pl.col("cash_need") < 0, file=fa, column="cash_need", expected="a cash need >= 0", level=A)
    account_ids = accounts["account_id"].drop_nulls().unique()
    taxable = accounts.filter(pl.col("tax_status") == "taxable")["account_id"].drop_nulls().unique()

    # ---- lots (account level; an unknown account is book level: there is nothing to quarantine)
    fl = f["lots"]
    if ok('accounts'):
        _check(p, lots, _not_in("account_id", account_ids), file=fl, column="account_id", expected="an account_id of accounts", level=B)
    _check(p, lots, pl.col("shares") <= 0, file=fl, column="shares", expected="shares > 0", level=A)
    _check(p, lots, pl.col("cost_basis") < 0, file=fl, column="cost_basis", expected="a cost basis >= 0", level=A)
    is_taxable = pl.col("account_id").is_in(taxable.implode())
    _check(p, lots, is_taxable & pl.col("cost_basis").is_null(), file=fl, column="cost_basis", expected="a cost basis (required in a taxable account)", level=A)
    _check(p, lots, is_taxable & pl.col("acquired").is_null(), file=fl, column="acquired", expected="an acquired date (required in a taxable account)", level=A)
    _check(p, lots, after("acquired"), file=fl, column="acquired", expected=f"a date on or before as_of {as_of}", level=A)
    _check(p, lots, after("purchase_date"), file=fl, column="purchase_date", expected=f"a date on or before as_of {as_of}", level=A)
    lots = lots.with_columns(pl.col("purchase_date").fill_null(pl.col("acquired")))
    if ok('securities'):
        _check(p, lots, _not_in("symbol", symbols), file=fl, column="symbol", expected="a symbol of securities", level=A)
    if ok('prices', 'securities'):
        _check(
            p,
            lots,
            pl.col("symbol").is_in(symbols.implode()) & _not_in("symbol", priced),
            file=fl,
            column="symbol",
            expected="a symbol with a close > 0 in prices (a held symbol needs a price)",
            level=A,
            found=lambda v: f"{v!r} without a price",
        )

    # ---- restrictions (account level; firm-wide rows and unknown accounts are book level)
    fr = f["restrictions"]
    if ok('accounts'):
        _check(p, restr, _not_in("account_id", account_ids) & (pl.col("account_id") != FIRM_WIDE), file=fr, column="account_id", expected="an account_id of accounts, or * (firm-wide)", level=B)
    kind = pl.col("kind")
    takes_limit = kind.is_in(["sector_max", "asset_class_weight"])
    _check(p, restr, takes_limit & pl.col("limit").is_null(), file=fr, column="limit", expected="a limit (sector_max and asset_class_weight need one)", level=A)
    _check(p, restr, takes_limit & ((pl.col("limit") < 0) | (pl.col("limit") > 1)), file=fr, column="limit", expected="a weight in [0, 1]", level=A)
    _check(p, restr, (kind == "asset_class_weight") & (pl.col("account_id") == FIRM_WIDE), file=fr, column="account_id", expected="an account_id (asset_class_weight is an account's own weight, not firm-wide)", level=B)
    sym_kind = kind.is_in(["never_buy", "never_sell"])
    sym_ok = pl.col("value").str.contains(SYMBOL_RE.pattern)
    _check(p, restr, sym_kind & (pl.col("value") == CASH), file=fr, column="value", expected="a security symbol ($CASH cannot be restricted)", level=A, value="value")
    _check(p, restr, sym_kind & (pl.col("value") != CASH) & ~sym_ok, file=fr, column="value", expected="a symbol matching [A-Z0-9./-]+", level=A, value="value")
    sub = kind == "substitute"
    sub_ok = pl.col("value").str.contains(_SUBSTITUTE_RE)
    parts = pl.col("value").str.split(">")
    same = parts.list.get(0, null_on_oob=True) == parts.list.get(-1, null_on_oob=True)
    _check(p, restr, sub & ~sub_ok, file=fr, column="value", expected="FROM>TO: two symbols matching [A-Z0-9./-]+ joined by '>'", level=A, value="value")
    _check(p, restr, sub & sub_ok & same, file=fr, column="value", expected="FROM>TO with TO different from FROM", level=A, value="value")
    limit_unused = restr.filter(~takes_limit & pl.col("limit").is_not_null())
    for row, k in limit_unused.select(ROW, "kind").head(MAX_ROWS_PER_CHECK).iter_rows():
        warn(fr, row, "limit", f"a limit on a {k} restriction", "no limit (only sector_max and asset_class_weight take one; it is ignored)")
    # unknown symbols, tags, sectors and asset classes: warnings (never-buys outside the universe are normal)
    sym_known = set(symbols.to_list())
    checkable = restr.filter(kind.is_not_null() & pl.col("value").is_not_null()) if ok("securities") else restr.clear()
    for row, k, v in checkable.select(ROW, "kind", "value").iter_rows():
        if k in ("never_buy", "never_sell"):
            if v != CASH and SYMBOL_RE.match(v) and v not in sym_known:
                warn(fr, row, "value", f"{k} of {v!r}, a symbol not in securities", "a symbol of securities (kept: it can never be bought or held anyway)")
        elif k == "screen":
            if v not in tags:
                warn(fr, row, "value", f"screen of tag {v!r}, which no security carries", "a tag of securities.tags (the screen excludes nothing)")
        elif k == "sector_max":
            if v not in sectors:
                warn(fr, row, "value", f"sector_max of {v!r}, a sector no security has", "a sector of securities")
        elif k == "asset_class_weight":
            if v not in asset_classes and v != "cash":
                warn(fr, row, "value", f"asset_class_weight of {v!r}, an asset class no security has", "an asset class of securities, or cash")
        elif k == "substitute" and re.match(_SUBSTITUTE_RE, v):
            for s in v.split(">"):
                if s not in sym_known:
                    warn(fr, row, "value", f"substitute {v!r} names {s!r}, a symbol not in securities", "symbols of securities")

    # ---- transactions (account level)
    ft = f["transactions"]
    if ok('accounts'):
        _check(p, trans, _not_in("account_id", account_ids), file=ft, column="account_id", expected="an account_id of accounts", level=B)
    _check(p, trans, pl.col("shares") <= 0, file=ft, column="shares", expected="shares > 0", level=A)
    _check(p, trans, pl.col("price") <= 0, file=ft, column="price", expected="a price > 0", level=A)
    _check(p, trans, after("date"), file=ft, column="date", expected=f"a date on or before as_of {as_of} (later trades are pending_orders)", level=A)
    _check(
        p,
        trans,
        (pl.col("side") == "sell") & pl.col("account_id").is_in(taxable.implode()) & pl.col("realized_gain").is_null(),
        file=ft,
        column="realized_gain",
        expected="the realized gain (required on sells of taxable accounts; < 0 is a loss)",
        level=A,
    )
    if ok('securities'):
        for row, sym in trans.filter(_not_in("symbol", symbols)).select(ROW, "symbol").head(MAX_ROWS_PER_CHECK).iter_rows():
            warn(ft, row, "symbol", f"{sym!r}, a symbol not in securities", "a symbol of securities (its wash group is taken to be itself)")

    # ---- pending orders (account level)
    fp = f["pending_orders"]
    if ok('accounts'):
        _check(p, pend, _not_in("account_id", account_ids), file=fp, column="account_id", expected="an account_id of accounts", level=B)
    _check(p, pend, pl.col("shares") <= 0, file=fp, column="shares", expected="shares > 0", level=A)
    if ok('securities'):
        _check(p, pend, _not_in("symbol", symbols), file=fp, column="symbol", expected="a symbol of securities", level=A)
    if ok('prices', 'securities'):
        _check(
            p,
            pend,
            pl.col("symbol").is_in(symbols.implode()) & _not_in("symbol", priced),
            file=fp,
            column="symbol",
            expected="a symbol with a close > 0 in prices (a pending order fills at today's close)",
            level=A,
            found=lambda v: f"{v!r} without a price",
        )
    lot_shares = lots.select("account_id", "lot_id", pl.col("symbol").alias("__lot_symbol"), pl.col("shares").alias("__lot_shares"))
    sells = pend.filter((pl.col("side") == "sell") & pl.col("lot_id").is_not_null()).join(lot_shares, on=["account_id", "lot_id"], how="left")
    if ok('lots'):
        _check(p, sells, pl.col("__lot_shares").is_null(), file=fp, column="lot_id", expected="a lot_id of this account's lots", level=A, value="lot_id")
    if ok('lots'):
        _check(p, sells, pl.col("__lot_symbol").is_not_null() & (pl.col("__lot_symbol") != pl.col("symbol")), file=fp, column="symbol", expected="the symbol of the lot sold", level=A)
    if ok('lots'):
        _check(
            p,
            sells,
            pl.col("shares") > pl.col("__lot_shares") * (1 + 1e-12),
            file=fp,
            column="shares",
            expected="at most the lot's shares (no sale beyond a lot)",
            level=A,
        )

    # ---- quarantine: the accounts with account-level problems and every account of their household
    reasons: dict[str, list[str]] = {}
    for prob in p.of(A):
        if prob.account_id is not None:
            reasons.setdefault(prob.account_id, []).append(str(prob))
    bad_accounts = pl.Series("account_id", list(reasons), dtype=pl.String)
    households = accounts.filter(pl.col("account_id").is_in(bad_accounts.implode()))["household_id"].unique()
    q = accounts.filter(pl.col("household_id").is_in(households.implode())).select("account_id", "household_id")
    bad_of_household: dict[str, list[str]] = {}
    for acct, hh in q.iter_rows():
        if acct in reasons:
            bad_of_household.setdefault(hh, []).append(acct)
    q_rows = []
    for acct, hh in q.iter_rows():
        if acct in reasons:
            rs = reasons[acct]
            text = "; ".join(rs[:5]) + (f"; and {len(rs) - 5} more" if len(rs) > 5 else "")
        else:
            others = bad_of_household.get(hh, [])
            text = f"household {hh}: account(s) {', '.join(others)} quarantined"
        q_rows.append((acct, hh, text))
    quarantined = pl.DataFrame(q_rows, schema={"account_id": pl.String, "household_id": pl.String, "reason": pl.String}, orient="row")
    drop = quarantined["account_id"]

    def keep(df: pl.DataFrame) -> pl.DataFrame:
        if drop.len() == 0:
            return df
        return df.filter(~pl.col("account_id").is_in(drop.implode()))

    sec = sec.with_columns(
        pl.col("wash_group").fill_null(pl.col("symbol")),
        pl.col("cost_bps").fill_null(rb.cost_bps),
    )

    def out(df: pl.DataFrame, name: str) -> pl.DataFrame:
        return df.select([pl.col(c).cast(dtype) for c, dtype in schema(TABLES[name]).items()])

    frames = {
        "securities": out(sec, "securities"),
        "prices": out(prices, "prices"),
        "price_history": out(hist, "price_history"),
        "models": out(models, "models"),
        "targets": out(targets, "targets"),
        "accounts": out(keep(accounts), "accounts"),
        "lots": out(keep(lots), "lots"),
        "restrictions": out(keep(restr), "restrictions"),
        "transactions": out(keep(trans), "transactions"),
        "pending_orders": out(keep(pend), "pending_orders"),
    }
    return frames, quarantined


# --------------------------------------------------------------------------------------------------
# writing


def write_upload(book: Book, folder: str | Path, *, fmt: str = "csv") -> None:
    """Write `book` as a contract-conformant upload that `read_upload` reads back to an equal book.

    Parameters
    ----------
    book : the book to write (its quarantined accounts are not in its frames, so they are not written).
    folder : created if absent; the upload's files in it are replaced (a table's other format is removed,
        so the folder never holds a table twice).
    fmt : ``"csv"`` or ``"parquet"`` for every table.

    Writes every table (header-only when empty), ``as_of.txt``, and ``policy.toml`` when the book's
    policy differs from the defaults (an existing ``policy.toml`` is removed otherwise). The trade date
    is not part of the upload: pass it to `read_upload` if it is not the next business day after as_of.
    """
    if fmt not in _FORMATS:
        raise ValueError(f"fmt must be one of {', '.join(_FORMATS)}, not {fmt!r}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for name, table in TABLES.items():
        df: pl.DataFrame = getattr(book, name)
        df = df.select([pl.col(c).cast(dtype) if c in df.columns else pl.lit(None, dtype=dtype).alias(c) for c, dtype in schema(table).items()])
        other = folder / f"{name}.{'parquet' if fmt == 'csv' else 'csv'}"
        if other.exists():
            other.unlink()
        target = folder / f"{name}.{fmt}"
        if fmt == "csv":
            df.write_csv(target, date_format="%Y-%m-%d", null_value="", quote_style="necessary")
        else:
            df.write_parquet(target)
    (folder / AS_OF_FILE).write_text(book.as_of.isoformat() + "\n", encoding="utf-8")
    policy_path = folder / POLICY_FILE
    if book.policy.to_dict() != DEFAULT_POLICY.to_dict():
        policy_path.write_text(policy_to_toml(book.policy), encoding="utf-8")
    elif policy_path.exists():
        policy_path.unlink()
