"""Uploads in the store: every frame of a `Book`, kept as a version of its `as_of`, never overwritten.

Functions here run on an open connection inside the caller's transaction (`Store` owns transactions).
Design (docs/store.md): one table `up_<frame>` per frame with `(upload_id, row_nr)` in front of the
frame's columns, the frame's exact polars schema in `upload_frames`, and the price history
deduplicated across uploads in `price_points` + `upload_price_runs`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import re
from typing import Any

import duckdb
import polars as pl

from overlay_core.book import Book
from overlay_core.errors import Level, Problem, StoreError
from overlay_core.store._schema import one, unregister
from overlay_core.store._codec import policy_from_dict, schema_blob, schema_from_blob, to_json

#: Book fields the store handles by name; every other field holding a DataFrame is stored as a frame
_SCALAR_FIELDS = ("as_of", "trade_date", "policy", "input_hash", "warnings", "source")
_PH_SCHEMA = pl.Schema({"date": pl.Date(), "symbol": pl.String(), "close": pl.Float64()})
_META = ("upload_id", "row_nr")
_HEX = re.compile(r"^[0-9a-f]{16,}$")
_view_counter = 0


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


def content_hash(book: Book) -> str:
    """sha256 over every frame (schema and values), the dates, the policy and the warnings of a Book.

    Used as the key of a Book built in code, which has no `input_hash` from an upload folder.
    """
    h = hashlib.sha256()
    h.update(f"as_of={book.as_of.isoformat()};trade_date={book.trade_date.isoformat()}\n".encode())
    h.update(to_json(book.policy.to_dict(), what="the policy").encode())
    for f in dataclasses.fields(book):
        value = getattr(book, f.name)
        if isinstance(value, pl.DataFrame):
            h.update(f"\n[{f.name}] {value.schema!r}\n".encode())
            h.update(value.write_csv().encode())
    for p in book.warnings:
        h.update(repr(p).encode())
    return h.hexdigest()


def upload_id_of(input_hash: str, digits: int = 16) -> str:
    """The short id of an upload: the first 16 hex digits of its hash (of a sha256 of it if it is not hex)."""
    if not _HEX.match(input_hash):
        input_hash = hashlib.sha256(input_hash.encode()).hexdigest()
    return input_hash[:digits]


def _free_upload_id(con: duckdb.DuckDBPyConnection, key: str) -> str:
    """16 hex digits of the hash, or more in the (astronomically rare) case another upload has that prefix."""
    for digits in (16, 24, 32, 64):
        candidate = upload_id_of(key, digits)
        if one(con, "SELECT 1 FROM uploads WHERE upload_id = ?", [candidate]) is None:
            return candidate
    return key


def _register(con: duckdb.DuckDBPyConnection, df: pl.DataFrame) -> str:
    global _view_counter
    _view_counter += 1
    name = f"_overlay_frame_{_view_counter}"
    con.register(name, df)
    return name


def _table_columns(con: duckdb.DuckDBPyConnection, table: str) -> dict[str, str]:
    rows = con.execute(
        "SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = ? AND schema_name = 'main' "
        "AND database_name = current_database() ORDER BY column_index",
        [table],
    ).fetchall()
    return {r[0]: r[1] for r in rows}


def _insert_frame(con: duckdb.DuckDBPyConnection, frame: str, upload_id: str, df: pl.DataFrame) -> None:
    """Append one frame's rows to `up_<frame>`, adding any column the table lacks (never dropping one)."""
    table = f"up_{frame}"
    clash = [c for c in df.columns if c in _META]
    if clash:
        raise StoreError(f"Book.{frame} has a column named {clash[0]!r}, which the store reserves; rename it")
    existing = _table_columns(con, table)
    if not existing:
        con.execute(f"CREATE TABLE {_q(table)} (upload_id VARCHAR NOT NULL, row_nr BIGINT NOT NULL)")
        existing = {"upload_id": "VARCHAR", "row_nr": "BIGINT"}
    view = _register(con, df.with_row_index("row_nr"))
    try:
        missing = [c for c in df.columns if c not in existing]
        if missing:
            types = dict(con.execute(f"SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM {view})").fetchall())
            for c in missing:
                con.execute(f"ALTER TABLE {_q(table)} ADD COLUMN {_q(c)} {types[c]}")
        con.execute(f"INSERT INTO {_q(table)} BY NAME SELECT ? AS upload_id, * FROM {view}", [upload_id])
    except duckdb.ConversionException as exc:
        raise StoreError(f"cannot store Book.{frame}: a column's type does not match the stored table {table} ({exc})") from exc
    finally:
        unregister(con, view)
    con.execute(
        "INSERT INTO upload_frames VALUES (?, ?, ?, ?)", [upload_id, frame, df.height, schema_blob(df)]
    )


def _ph_layout(df: pl.DataFrame) -> str:
    """How an upload's price history can be rebuilt from the deduplicated table, or `copy` if it cannot."""
    if df.schema != _PH_SCHEMA:
        return "copy"
    if df.height == 0:
        return "date_symbol"
    keys = df.select("date", "symbol")
    if keys.null_count().sum_horizontal().item() > 0 or keys.is_duplicated().any():
        return "copy"
    if keys.equals(keys.sort("date", "symbol")):
        return "date_symbol"
    if keys.equals(keys.sort("symbol", "date")):
        return "symbol_date"
    return "copy"


def _save_price_history(con: duckdb.DuckDBPyConnection, upload_id: str, seq: int, df: pl.DataFrame) -> None:
    if df.height == 0:
        return
    lo, hi = df["date"].min(), df["date"].max()
    view = _register(con, df)
    try:
        # a new version of a close only where it differs from the latest stored one (NaN = NaN; -0.0 != 0.0)
        con.execute(
            f"""INSERT INTO price_points
            SELECT n.date, n.symbol, n.close, $seq FROM {view} n
            LEFT JOIN (SELECT date, symbol, close FROM price_points WHERE date BETWEEN $lo AND $hi
                       QUALIFY row_number() OVER (PARTITION BY date, symbol ORDER BY seq DESC) = 1) l
              ON l.date = n.date AND l.symbol = n.symbol
            WHERE l.date IS NULL OR l.close IS DISTINCT FROM n.close
               OR (n.close = 0 AND l.close = 0 AND signbit(n.close) <> signbit(l.close))""",
            {"seq": seq, "lo": lo, "hi": hi},
        )
        # the upload's rows as runs of consecutive dates (among every date stored so far) per symbol.
        # Usually a symbol's rows cover every stored date between its first and last: one run. Find the
        # symbols with holes (a stored date inside that span that the upload lacks) by an anti-join ...
        holes = [
            r[0]
            for r in con.execute(
                f"""WITH r AS (SELECT symbol, min(date) AS a, max(date) AS b FROM {view} GROUP BY symbol)
                SELECT DISTINCT p.symbol FROM price_points p JOIN r ON p.symbol = r.symbol AND p.date BETWEEN r.a AND r.b
                ANTI JOIN {view} n ON n.date = p.date AND n.symbol = p.symbol
                WHERE p.seq <= $seq ORDER BY 1""",
                {"seq": seq},
            ).fetchall()
        ]
        con.execute(
            f"""INSERT INTO upload_price_runs SELECT $uid, symbol, min(date), max(date) FROM {view}
            WHERE NOT list_contains($holes, symbol) GROUP BY symbol""",
            {"uid": upload_id, "holes": holes},
        )
        if not holes:
            return
        # ... and split only those into runs (gaps and islands over the stored dates)
        con.execute(
            f"""INSERT INTO upload_price_runs
            WITH v AS (SELECT DISTINCT date, symbol FROM price_points
                       WHERE date BETWEEN $lo AND $hi AND seq <= $seq AND list_contains($holes, symbol)),
            m AS (SELECT v.symbol, v.date, n.symbol IS NOT NULL AS inu,
                         row_number() OVER (PARTITION BY v.symbol ORDER BY v.date) AS r1
                  FROM v LEFT JOIN {view} n ON n.date = v.date AND n.symbol = v.symbol),
            g AS (SELECT symbol, date, r1 - row_number() OVER (PARTITION BY symbol ORDER BY date) AS grp
                  FROM m WHERE inu)
            SELECT $uid, symbol, min(date), max(date) FROM g GROUP BY symbol, grp""",
            {"seq": seq, "lo": lo, "hi": hi, "uid": upload_id, "holes": holes},
        )
    finally:
        unregister(con, view)


def _warnings_frame(warnings: tuple[Problem, ...]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "row_nr": list(range(len(warnings))),
            "file": [p.file for p in warnings],
            "row_int": [p.row if isinstance(p.row, int) else None for p in warnings],
            "row_key": [p.row if isinstance(p.row, str) else None for p in warnings],
            "column": [p.column for p in warnings],
            "found": [p.found for p in warnings],
            "expected": [p.expected for p in warnings],
            "level": [Level(p.level).value for p in warnings],
            "account_id": [p.account_id for p in warnings],
        },
        schema={
            "row_nr": pl.Int64, "file": pl.String, "row_int": pl.Int64, "row_key": pl.String, "column": pl.String,
            "found": pl.String, "expected": pl.String, "level": pl.String, "account_id": pl.String,
        },
    )


def _extras(book: Book) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in dataclasses.fields(book):
        value = getattr(book, f.name)
        if f.name in _SCALAR_FIELDS or isinstance(value, pl.DataFrame):
            continue
        out[f.name] = value
    return out


def existing_upload(con: duckdb.DuckDBPyConnection, key: str) -> str | None:
    row = one(con, "SELECT upload_id FROM uploads WHERE input_hash = ?", [key])
    return None if row is None else row[0]


def save_upload(con: duckdb.DuckDBPyConnection, book: Book, *, path: str) -> tuple[str, bool]:
    """Store `book` unless its hash is already stored. Returns (upload_id, created). Runs in the caller's transaction."""
    if book.input_hash:
        key, hash_source = book.input_hash, "book"
    else:
        key, hash_source = content_hash(book), "content"
    found = existing_upload(con, key)
    if found is not None:
        return found, False
    upload_id = _free_upload_id(con, key)
    seq = int(one(con, "SELECT coalesce(max(seq), 0) + 1 FROM uploads")[0])
    layout = _ph_layout(book.price_history)
    con.execute(
        "INSERT INTO uploads VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            upload_id, key, hash_source, seq, book.as_of, book.trade_date, _utcnow(), book.source,
            to_json(book.policy.to_dict(), what="the policy"), to_json(_extras(book), what="the Book's other fields"),
            layout, book.accounts.height, book.lots.height, book.securities.height, book.quarantined.height,
            len(book.warnings),
        ],
    )
    for f in dataclasses.fields(book):
        value = getattr(book, f.name)
        if not isinstance(value, pl.DataFrame):
            continue
        if f.name == "price_history" and layout != "copy":
            _save_price_history(con, upload_id, seq, value)
            con.execute("INSERT INTO upload_frames VALUES (?, ?, ?, ?)", [upload_id, f.name, value.height, schema_blob(value)])
        else:
            _insert_frame(con, f.name, upload_id, value)
    view = _register(con, _warnings_frame(book.warnings))
    try:
        con.execute(f"INSERT INTO up_warnings BY NAME SELECT ? AS upload_id, * FROM {view}", [upload_id])
    finally:
        unregister(con, view)
    return upload_id, True


def _fetch(con: duckdb.DuckDBPyConnection, sql: str, params: Any = None) -> pl.DataFrame:
    return con.sql(sql, params=params).pl()


def _load_frame(con: duckdb.DuckDBPyConnection, frame: str, upload_id: str, schema: pl.Schema) -> pl.DataFrame:
    cols = ", ".join(_q(c) for c in schema.names())
    if not cols:
        return pl.DataFrame(schema=schema)
    df = _fetch(con, f"SELECT {cols} FROM {_q('up_' + frame)} WHERE upload_id = $1 ORDER BY row_nr", [upload_id])
    return df.cast(dict(schema))


def _load_price_history(con: duckdb.DuckDBPyConnection, upload_id: str, seq: int, layout: str) -> pl.DataFrame:
    df = _fetch(
        con,
        """SELECT p.date, p.symbol, p.close FROM upload_price_runs r
           JOIN price_points p ON p.symbol = r.symbol AND p.date BETWEEN r.date_from AND r.date_to
           WHERE r.upload_id = $uid AND p.seq <= $seq
           QUALIFY row_number() OVER (PARTITION BY p.date, p.symbol ORDER BY p.seq DESC) = 1""",
        {"uid": upload_id, "seq": seq},
    ).cast(dict(_PH_SCHEMA))
    return df.sort("date", "symbol") if layout == "date_symbol" else df.sort("symbol", "date")


def resolve_upload(con: duckdb.DuckDBPyConnection, *, as_of: dt.date | None, upload_id: str | None, path: str) -> str:
    """The upload_id meant by (as_of, upload_id): an id, a full hash or a unique id prefix; else the latest."""
    if upload_id is not None:
        rows = con.execute(
            "SELECT upload_id, as_of FROM uploads WHERE upload_id = $1 OR input_hash = $1", [upload_id]
        ).fetchall()
        if not rows and len(upload_id) >= 4:
            rows = con.execute(
                "SELECT upload_id, as_of FROM uploads WHERE starts_with(upload_id, $1)", [upload_id]
            ).fetchall()
        if not rows:
            raise StoreError(f"{path}: no upload with id {upload_id!r}; list them with Store.uploads()")
        if len(rows) > 1:
            raise StoreError(f"{path}: upload id prefix {upload_id!r} matches {len(rows)} uploads; give more digits")
        uid, stored_as_of = rows[0]
        if as_of is not None and stored_as_of != as_of:
            raise StoreError(f"{path}: upload {uid} is of as_of {stored_as_of}, not {as_of}")
        return uid
    if as_of is not None:
        row = one(con, "SELECT upload_id FROM uploads WHERE as_of = ? ORDER BY seq DESC LIMIT 1", [as_of])
        if row is None:
            dates = [str(r[0]) for r in con.execute("SELECT DISTINCT as_of FROM uploads ORDER BY 1 DESC LIMIT 5").fetchall()]
            known = f"latest stored: {', '.join(dates)}" if dates else "the store has no upload yet"
            raise StoreError(f"{path}: no upload of as_of {as_of} ({known}); load that day's upload first")
        return row[0]
    row = one(con, "SELECT upload_id FROM uploads ORDER BY as_of DESC, seq DESC LIMIT 1")
    if row is None:
        raise StoreError(f"{path}: the store has no upload yet; load one first (overlay load UPLOAD_DIR)")
    return row[0]


def load_upload(con: duckdb.DuckDBPyConnection, upload_id: str) -> Book:
    """Rebuild the Book stored as `upload_id` (which must exist)."""
    (key, hash_source, seq, as_of, trade_date, source, policy, extras, layout) = one(con, 
        "SELECT input_hash, hash_source, seq, as_of, trade_date, source, policy, extras, price_history_layout "
        "FROM uploads WHERE upload_id = ?",
        [upload_id],
    )
    schemas = {
        frame: schema_from_blob(blob)
        for frame, blob in con.execute("SELECT frame, schema_ipc FROM upload_frames WHERE upload_id = ?", [upload_id]).fetchall()
    }
    kwargs: dict[str, Any] = {
        "as_of": as_of,
        "trade_date": trade_date,
        "policy": policy_from_dict(json.loads(policy)),
        "input_hash": key if hash_source == "book" else "",
        "source": source,
    }
    for frame, schema in schemas.items():
        if frame == "price_history" and layout != "copy":
            kwargs[frame] = _load_price_history(con, upload_id, seq, layout)
        else:
            kwargs[frame] = _load_frame(con, frame, upload_id, schema)
    w = _fetch(con, "SELECT * FROM up_warnings WHERE upload_id = $1 ORDER BY row_nr", [upload_id])
    kwargs["warnings"] = tuple(
        Problem(
            r["file"], r["row_int"] if r["row_int"] is not None else r["row_key"], r["column"], r["found"],
            r["expected"], Level(r["level"]), r["account_id"],
        )
        for r in w.iter_rows(named=True)
    )
    known = {f.name for f in dataclasses.fields(Book)}
    for name, value in json.loads(extras).items():
        if name in known:
            kwargs[name] = value
    return Book(**{k: v for k, v in kwargs.items() if k in known})


def list_uploads(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    return _fetch(
        con,
        """SELECT upload_id, as_of, trade_date, saved_at, n_accounts AS accounts, n_lots AS lots,
                  n_securities AS securities, n_quarantined AS quarantined, n_warnings AS warnings,
                  seq = max(seq) OVER (PARTITION BY as_of) AS latest, input_hash, source
           FROM uploads ORDER BY as_of, seq""",
    )
