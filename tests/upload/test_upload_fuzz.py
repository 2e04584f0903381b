"""Fuzz the reader: mutated CSV and Parquet files give a Book or a clear refusal, never another exception.

When a Book comes back, it is whole and valid (the invariants below), never a partial load.
"""

from __future__ import annotations

import csv
import io
import math
import os
import shutil
from pathlib import Path

import polars as pl
from polars.exceptions import PanicException
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from overlay_core.book import Book
from overlay_core.contract import CASH, TABLES, schema
from overlay_core.errors import DataError
from overlay_core.upload import read_upload

FIXTURE = Path(__file__).resolve().parents[1] / "data" / "fixture_upload"
# price_history is the biggest file; fuzz the small ones more often
FILES = [f"{t}.csv" for t in TABLES if t != "price_history"] * 3 + ["price_history.csv", "policy.toml", "as_of.txt"]
GARBAGE = ["", " ", "NaN", "nan", "inf", "-inf", "1e309", "-1", "0", "abc", "$CASH", "\"", "\"\"", ",", "\n", "2026-02-30", "9999-12-31", "1,5", "é", "\x00", "A" * 300, "-0.0", "1e-320", "true", "__row", "__bad", "symbol"]

# UPLOAD_FUZZ_EXAMPLES=2000 for a longer hunt; the default keeps the test fast
SETTINGS = settings(max_examples=int(os.environ.get("UPLOAD_FUZZ_EXAMPLES", "100")), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def copy_fixture(dest: Path) -> Path:
    shutil.copytree(FIXTURE, dest, ignore=shutil.ignore_patterns("README.md"))
    return dest


def check_book(book: Book) -> None:
    """A loaded book is whole: the contract's schemas, no NaN/inf, references resolved, weights summing to 1."""
    for name, table in TABLES.items():
        df = getattr(book, name)
        assert dict(df.schema) == schema(table), name
        for col in table.columns:
            if col.kind == "float":
                values = df[col.name].drop_nulls()
                assert values.is_finite().all(), (name, col.name)
            if not col.nullable:
                assert df[col.name].null_count() == 0, (name, col.name)
    accounts = set(book.accounts["account_id"])
    for name in ("lots", "transactions", "pending_orders"):
        assert set(getattr(book, name)["account_id"]) <= accounts
    assert set(book.restrictions["account_id"]) <= accounts | {"*"}
    assert not set(book.quarantined["account_id"]) & accounts
    symbols = set(book.securities["symbol"])
    assert set(book.lots["symbol"]) <= symbols
    assert set(book.models["symbol"]) <= symbols | {CASH}
    prices = dict(zip(book.prices["symbol"], book.prices["close"]))
    assert all(prices.get(s, 0) > 0 for s in book.lots["symbol"])
    assert (book.lots["shares"] > 0).all()
    for key, df in (("model_id", book.models), ("target_id", book.targets)):
        for total in df.group_by(key).agg(pl.col("weight").sum())["weight"]:
            assert math.isclose(total, 1.0, abs_tol=1e-9)
    assert set(book.targets["model_id"]) <= set(book.models["model_id"])


def read_or_refuse(folder: Path) -> None:
    try:
        book = read_upload(folder)
    except DataError as exc:  # UploadRefused is a DataError
        assert exc.problems, "a refusal lists its problems"
        assert all(p.file and p.found and p.expected for p in exc.problems)
        return
    check_book(book)


#: well-typed values that break an account-level rule somewhere (they quarantine rather than refuse)
SEMANTIC = ["-1", "0", "1.5", "-0.01", "2026-11-21", "2030-01-01", "", "VOO>VOO", "VOO-VTI", "ZZZ", "IVV", "A999", "sell", "taxable", "$CASH"]
ACCOUNT_FILES = ["accounts.csv", "lots.csv", "restrictions.csv", "transactions.csv", "pending_orders.csv"]


@st.composite
def csv_mutation(draw: st.DrawFn) -> tuple[str, str, tuple]:
    kind = draw(st.sampled_from(["flip", "truncate", "cell", "cell", "duplicate", "drop_column", "insert", "header", "semantic", "semantic", "semantic"]))
    table = draw(st.sampled_from(ACCOUNT_FILES if kind == "semantic" else FILES))
    args = (
        draw(st.integers(min_value=0, max_value=10**6)),
        draw(st.integers(min_value=0, max_value=10**6)),
        draw(st.sampled_from(SEMANTIC) if kind == "semantic" else st.sampled_from(GARBAGE) | st.text(max_size=12)),
        draw(st.binary(min_size=1, max_size=8)),
    )
    return table, ("cell" if kind == "semantic" else kind), args


def mutate_csv(path: Path, kind: str, args: tuple) -> None:
    i, j, text, blob = args
    data = path.read_bytes()
    if kind == "flip":
        pos = i % max(len(data), 1)
        data = data[:pos] + bytes([data[pos] ^ (1 + j % 255)]) + data[pos + 1 :] if data else blob
    elif kind == "truncate":
        data = data[: i % (len(data) + 1)]
    elif kind == "insert":
        pos = i % (len(data) + 1)
        data = data[:pos] + blob + data[pos:]
    else:
        try:
            rows = list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))
        except (UnicodeDecodeError, csv.Error):  # an earlier mutation broke the file: leave it broken
            return
        if len(rows) < 2 or not rows[0]:
            return
        if kind == "cell":
            r = 1 + i % (len(rows) - 1)
            if rows[r]:
                rows[r][j % len(rows[r])] = text
        elif kind == "header":
            rows[0][j % len(rows[0])] = text
        elif kind == "duplicate":
            r = 1 + i % (len(rows) - 1)
            rows.insert(r, list(rows[r]))
        elif kind == "drop_column":
            c = j % len(rows[0])
            rows = [row[:c] + row[c + 1 :] for row in rows]
        out = io.StringIO()
        csv.writer(out, lineterminator="\n").writerows(rows)
        data = out.getvalue().encode("utf-8")
    path.write_bytes(data)


# with it, account-level problems quarantine instead of refusing (five accounts: one is 20%)
LENIENT = "[validation]\nmax_quarantine_share = 1.0\n"


@SETTINGS
@given(mutations=st.lists(csv_mutation(), min_size=1, max_size=3), lenient=st.booleans())
def test_fuzz_csv(tmp_path_factory, mutations, lenient):
    folder = copy_fixture(tmp_path_factory.mktemp("fuzz") / "up")
    if lenient:
        (folder / "policy.toml").write_text(LENIENT)
    for table, kind, args in mutations:
        mutate_csv(folder / table, kind, args)
    read_or_refuse(folder)


@st.composite
def parquet_mutation(draw: st.DrawFn) -> tuple[str, str, tuple]:
    table = draw(st.sampled_from(FILES))
    kind = draw(st.sampled_from(["flip", "truncate", "cell", "cell", "null_column", "drop_column", "retype", "duplicate"]))
    args = (
        draw(st.integers(min_value=0, max_value=10**6)),
        draw(st.integers(min_value=0, max_value=10**6)),
        draw(st.sampled_from(GARBAGE) | st.text(max_size=12)),
        draw(st.sampled_from([float("nan"), float("inf"), -1.0, 0.0, 1e308, None])),
    )
    return table, kind, args


def mutate_parquet(folder: Path, file: str, kind: str, args: tuple) -> None:
    i, j, text, number = args
    table, _, ext = file.partition(".")
    if ext != "csv":  # policy.toml, as_of.txt: the CSV test mutates them
        return
    csv_path, pq_path = folder / f"{table}.csv", folder / f"{table}.parquet"
    if csv_path.exists():
        df = pl.read_csv(csv_path, infer_schema_length=10000)  # typed as polars infers: ints, floats, strings
        csv_path.unlink()
    else:
        try:
            df = pl.read_parquet(pq_path)
        except (Exception, PanicException):  # an earlier mutation broke it: leave it broken
            return
    if df.width and df.height:
        col = df.columns[j % df.width]
        r = i % df.height
        if kind == "cell":
            values = df[col].to_list()
            if df[col].dtype.is_numeric():
                values[r] = number
                df = df.with_columns(pl.Series(col, values, dtype=pl.Float64))
            else:
                values[r] = text
                df = df.with_columns(pl.Series(col, [None if v is None else str(v) for v in values], dtype=pl.String))
        elif kind == "null_column":
            df = df.with_columns(pl.lit(None).alias(col))
        elif kind == "drop_column":
            df = df.drop(col)
        elif kind == "retype":
            df = df.with_columns(pl.col(col).cast(pl.String) if df[col].dtype != pl.String else pl.lit(True).alias(col))
        elif kind == "duplicate":
            df = pl.concat([df, df.slice(r, 1)])
    buf = io.BytesIO()
    df.write_parquet(buf)
    data = buf.getvalue()
    if kind == "flip" and data:
        pos = i % len(data)
        data = data[:pos] + bytes([data[pos] ^ (1 + j % 255)]) + data[pos + 1 :]
    elif kind == "truncate":
        data = data[: i % (len(data) + 1)]
    pq_path.write_bytes(data)


@SETTINGS
@given(mutations=st.lists(parquet_mutation(), min_size=1, max_size=3), lenient=st.booleans())
def test_fuzz_parquet(tmp_path_factory, mutations, lenient):
    folder = copy_fixture(tmp_path_factory.mktemp("fuzzpq") / "up")
    if lenient:
        (folder / "policy.toml").write_text(LENIENT)
    for table, kind, args in mutations:
        mutate_parquet(folder, table, kind, args)
    read_or_refuse(folder)


def test_corrupt_parquet_bytes_never_abort(fixture_upload_dir):
    """Byte flips anywhere in a Parquet file (lengths, metadata, pages): a frame or a problem, never a crash.

    polars' own Parquet reader can abort the process on some of these (seen: a 2 EiB allocation);
    the reader validates with pyarrow first. 600 deterministic mutations of two tables.
    """
    import random

    from overlay_core.upload import _parse_parquet, _Problems

    book = read_upload(fixture_upload_dir)
    rng = random.Random(20261120)
    for table in ("lots", "securities"):
        buf = io.BytesIO()
        getattr(book, table).write_parquet(buf)
        data = buf.getvalue()
        for _ in range(300):
            mutated = bytearray(data)
            for _ in range(rng.choice([1, 1, 2, 5])):
                mutated[rng.randrange(len(mutated))] ^= rng.randrange(1, 256)
            problems = _Problems()
            df = _parse_parquet(f"{table}.parquet", bytes(mutated), problems)
            assert (df is None) == bool(problems.items)
