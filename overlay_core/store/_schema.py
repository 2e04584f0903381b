"""The store's tables (schema version 1) and the migration steps that bring an older file up to date.

A store file records its schema version in `schema_version` (one row per migration step applied,
append-only); the current version is the largest. `migrate` applies the steps from the file's version
to `SCHEMA_VERSION` in one transaction, and refuses a file of a newer, unknown version.

Version history
---------------
0  The first sketch: a `schema_version(version INTEGER)` table holding 0 and no other table of ours
   (also what an empty, newly created DuckDB file counts as).
1  Uploads (one table per frame of the `Book`, deduplicated price history), runs and evidence.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Callable

import duckdb

from overlay_core.errors import StoreError

#: the schema version this code writes
SCHEMA_VERSION = 1

#: frames of the `Book` stored row by row in a table `up_<name>`; a frame field added to `Book` later gets
#: its table created on first save. `price_history` is stored deduplicated (`price_points`), and only
#: falls back to `up_price_history` when its layout cannot be rebuilt exactly (see docs/store.md).
V1_FRAME_TABLES: dict[str, str] = {
    "securities": "symbol VARCHAR, asset_class VARCHAR, type VARCHAR, name VARCHAR, sector VARCHAR, tags VARCHAR, "
    "wash_group VARCHAR, cost_bps DOUBLE, trade_increment DOUBLE",
    "prices": "symbol VARCHAR, close DOUBLE, date DATE",
    "price_history": "date DATE, symbol VARCHAR, close DOUBLE",
    "models": "model_id VARCHAR, symbol VARCHAR, weight DOUBLE, provider VARCHAR",
    "targets": "target_id VARCHAR, model_id VARCHAR, weight DOUBLE",
    "accounts": "account_id VARCHAR, target_id VARCHAR, tax_status VARCHAR, cash DOUBLE, household_id VARCHAR, "
    "status VARCHAR, st_rate DOUBLE, lt_rate DOUBLE, min_cash_weight DOUBLE, min_trade_value DOUBLE, "
    "cash_need DOUBLE, gain_budget DOUBLE, ytd_realized_st DOUBLE, ytd_realized_lt DOUBLE, advisor VARCHAR",
    "lots": "account_id VARCHAR, lot_id VARCHAR, symbol VARCHAR, shares DOUBLE, cost_basis DOUBLE, acquired DATE, "
    "purchase_date DATE",
    "restrictions": 'account_id VARCHAR, kind VARCHAR, value VARCHAR, "limit" DOUBLE',
    "transactions": "account_id VARCHAR, date DATE, symbol VARCHAR, side VARCHAR, shares DOUBLE, price DOUBLE, "
    "lot_id VARCHAR, realized_gain DOUBLE",
    "pending_orders": "account_id VARCHAR, symbol VARCHAR, side VARCHAR, shares DOUBLE, lot_id VARCHAR, "
    "est_realized_gain DOUBLE",
    "quarantined": "account_id VARCHAR, household_id VARCHAR, reason VARCHAR",
}

_V1_DDL = [
    # -- uploads ------------------------------------------------------------------------------------
    """CREATE TABLE uploads (
        upload_id VARCHAR PRIMARY KEY,      -- first 16 hex digits of input_hash
        input_hash VARCHAR NOT NULL UNIQUE, -- Book.input_hash (or a content hash when the Book has none)
        hash_source VARCHAR NOT NULL,       -- book | content
        seq BIGINT NOT NULL UNIQUE,         -- save order, 1, 2, ...: 'latest version' = largest seq
        as_of DATE NOT NULL,
        trade_date DATE NOT NULL,
        saved_at TIMESTAMP NOT NULL,        -- UTC
        source VARCHAR,                     -- Book.source (the folder read)
        policy VARCHAR NOT NULL,            -- JSON of Policy.to_dict()
        extras VARCHAR NOT NULL,            -- JSON of Book fields the store has no column for
        price_history_layout VARCHAR NOT NULL, -- date_symbol | symbol_date | copy
        n_accounts BIGINT NOT NULL,
        n_lots BIGINT NOT NULL,
        n_securities BIGINT NOT NULL,
        n_quarantined BIGINT NOT NULL,
        n_warnings BIGINT NOT NULL
    )""",
    """CREATE TABLE upload_frames (
        upload_id VARCHAR NOT NULL,
        frame VARCHAR NOT NULL,             -- Book field name
        n_rows BIGINT NOT NULL,
        schema_ipc BLOB NOT NULL,           -- the frame's exact polars schema (an empty Arrow IPC file)
        PRIMARY KEY (upload_id, frame)
    )""",
    """CREATE TABLE up_warnings (
        upload_id VARCHAR NOT NULL, row_nr BIGINT NOT NULL,
        file VARCHAR, row_int BIGINT, row_key VARCHAR, "column" VARCHAR, found VARCHAR, expected VARCHAR,
        level VARCHAR, account_id VARCHAR
    )""",
    # price history, deduplicated across uploads: one row per (date, symbol) and distinct close, with the
    # seq of the upload that first carried that close; an upload's rows are its runs of dates per symbol
    """CREATE TABLE price_points (date DATE NOT NULL, symbol VARCHAR NOT NULL, close DOUBLE, seq BIGINT NOT NULL)""",
    """CREATE TABLE upload_price_runs (
        upload_id VARCHAR NOT NULL, symbol VARCHAR NOT NULL, date_from DATE NOT NULL, date_to DATE NOT NULL
    )""",
    """CREATE VIEW price_history_latest AS
        SELECT date, symbol, close FROM price_points
        QUALIFY row_number() OVER (PARTITION BY date, symbol ORDER BY seq DESC) = 1""",
    # -- runs and evidence --------------------------------------------------------------------------
    """CREATE TABLE runs (
        run_id VARCHAR PRIMARY KEY,
        base_id VARCHAR NOT NULL,           -- the deterministic id of (kind, inputs, settings, code version)
        attempt INTEGER NOT NULL,           -- 1, or n for the n-th --fresh rerun of the same inputs
        kind VARCHAR NOT NULL,
        upload_id VARCHAR NOT NULL,
        as_of DATE NOT NULL,
        trade_date DATE NOT NULL,
        input_hash VARCHAR NOT NULL,
        code_version VARCHAR NOT NULL,
        settings VARCHAR NOT NULL,          -- canonical JSON
        started_at TIMESTAMP NOT NULL
    )""",
    """CREATE TABLE run_events (
        run_id VARCHAR NOT NULL,
        event_nr BIGINT NOT NULL,           -- 1, 2, ... per run
        event VARCHAR NOT NULL,             -- begin | resume | finish
        event_at TIMESTAMP NOT NULL,
        payload VARCHAR                     -- JSON: the summary of a finish
    )""",
    """CREATE TABLE account_results (
        run_id VARCHAR NOT NULL,
        account_id VARCHAR NOT NULL,
        decision VARCHAR NOT NULL,          -- trade | no_trade | held | error
        reasons VARCHAR,
        drift_before DOUBLE, drift_after DOUBLE, te_before DOUBLE, te_after DOUBLE,
        est_tax DOUBLE, losses_harvested DOUBLE, n_orders BIGINT, turnover DOUBLE,
        error VARCHAR,
        solver VARCHAR, solver_status VARCHAR, solve_seconds DOUBLE, iterations BIGINT, objective DOUBLE,
        explanation VARCHAR,                -- JSON
        detail VARCHAR,                     -- JSON: every other column given
        saved_at TIMESTAMP NOT NULL,
        PRIMARY KEY (run_id, account_id)
    )""",
    """CREATE TABLE orders (
        run_id VARCHAR NOT NULL, as_of DATE, trade_date DATE, account_id VARCHAR NOT NULL, symbol VARCHAR,
        side VARCHAR, shares DOUBLE, est_price DOUBLE, est_value DOUBLE, lot_id VARCHAR,
        est_realized_gain DOUBLE, term VARCHAR, reason VARCHAR,
        explanation VARCHAR,                -- JSON
        detail VARCHAR,                     -- JSON: every other column given
        row_nr BIGINT NOT NULL              -- order of the lines within the account, as given
    )""",
    """CREATE TABLE order_accounts (
        run_id VARCHAR NOT NULL, account_id VARCHAR NOT NULL, n_orders BIGINT NOT NULL, saved_at TIMESTAMP NOT NULL,
        PRIMARY KEY (run_id, account_id)
    )""",
]


def one(con: duckdb.DuckDBPyConnection, sql: str, params: Any = None) -> tuple[Any, ...] | None:
    """The first row of a query, or None; always fetches the whole result (DuckDB 2 refuses further work on a
    connection with a result left unfinished)."""
    rows = con.execute(sql, params if params is not None else []).fetchall()
    return rows[0] if rows else None


def unregister(con: duckdb.DuckDBPyConnection, view: str) -> None:
    """Drop a registered frame; in a transaction DuckDB has aborted this fails too, and the first error matters."""
    try:
        con.unregister(view)
    except duckdb.Error:
        pass


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


def _v0_to_v1(con: duckdb.DuckDBPyConnection) -> None:
    cols = {r[0] for r in con.execute("SELECT column_name FROM duckdb_columns() WHERE table_name = 'schema_version' "
                                      "AND schema_name = 'main' AND database_name = current_database()").fetchall()}
    if "migrated_at" not in cols:
        con.execute("ALTER TABLE schema_version ADD COLUMN migrated_at TIMESTAMP")
    if "note" not in cols:
        con.execute("ALTER TABLE schema_version ADD COLUMN note VARCHAR")
    for name, columns in V1_FRAME_TABLES.items():
        con.execute(f"CREATE TABLE up_{name} (upload_id VARCHAR NOT NULL, row_nr BIGINT NOT NULL, {columns})")
    for ddl in _V1_DDL:
        con.execute(ddl)


#: version -> the step that upgrades a store of that version to version + 1
MIGRATIONS: dict[int, Callable[[duckdb.DuckDBPyConnection], None]] = {0: _v0_to_v1}
_NOTES = {1: "uploads, deduplicated price history, runs and evidence"}


def our_tables(con: duckdb.DuckDBPyConnection) -> list[str]:
    rows = con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() AND schema_name = 'main' "
        "ORDER BY table_name"
    ).fetchall()
    return [r[0] for r in rows]


def read_version(con: duckdb.DuckDBPyConnection, path: str) -> int:
    """The schema version of an open store: 0 for an empty file; raises for a file that is not a store."""
    tables = our_tables(con)
    if "schema_version" not in tables:
        if tables:
            shown = ", ".join(tables[:8]) + (" ..." if len(tables) > 8 else "")
            raise StoreError(
                f"{path} is a DuckDB file but not an overlay store: it has tables ({shown}) and no "
                "'schema_version' table. Give --store a new file name (or set OVERLAY_STORE)."
            )
        return 0
    row = one(con, "SELECT max(version) FROM schema_version")
    return 0 if row is None or row[0] is None else int(row[0])


def migrate(con: duckdb.DuckDBPyConnection, path: str) -> tuple[int, int]:
    """Upgrade the open store to `SCHEMA_VERSION` in one transaction. Returns (from_version, to_version).

    Raises `StoreError` for a newer, unknown version (nothing is changed).
    """
    found = read_version(con, path)
    if found > SCHEMA_VERSION:
        raise StoreError(
            f"{path} has store schema version {found}, newer than the {SCHEMA_VERSION} this overlay_core knows; "
            "nothing was changed. Upgrade overlay-core to open it."
        )
    if found == SCHEMA_VERSION:
        return found, found
    con.execute("BEGIN TRANSACTION")
    try:
        if "schema_version" not in our_tables(con):
            con.execute("CREATE TABLE schema_version (version INTEGER NOT NULL, migrated_at TIMESTAMP, note VARCHAR)")
            con.execute("INSERT INTO schema_version VALUES (0, ?, 'empty store')", [_utcnow()])
        for version in range(found, SCHEMA_VERSION):
            MIGRATIONS[version](con)
            con.execute("INSERT INTO schema_version VALUES (?, ?, ?)", [version + 1, _utcnow(), _NOTES[version + 1]])
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return found, SCHEMA_VERSION
