"""Runs and their evidence: one row per account reviewed, the orders, begin/resume/finish events.

Functions here run on an open connection inside the caller's transaction (`Store` owns transactions).
Everything is append-only: a second save of an account of a run is skipped, never overwritten.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Any, Mapping

import duckdb
import polars as pl

from overlay_core.contract import TRADE_FILE_COLUMNS, TRADE_SIDES
from overlay_core.errors import StoreError
from overlay_core.store._schema import one, unregister
from overlay_core.store._codec import cell_json, to_json

DECISIONS = ("trade", "no_trade", "held", "error")

#: the fixed columns of `account_results` (besides run_id and saved_at); any other column given is kept in `detail`
RESULT_COLUMNS: dict[str, pl.DataType] = {
    "account_id": pl.String(),
    "decision": pl.String(),
    "reasons": pl.String(),
    "drift_before": pl.Float64(),
    "drift_after": pl.Float64(),
    "te_before": pl.Float64(),
    "te_after": pl.Float64(),
    "est_tax": pl.Float64(),
    "losses_harvested": pl.Float64(),
    "n_orders": pl.Int64(),
    "turnover": pl.Float64(),
    "error": pl.String(),
    "solver": pl.String(),
    "solver_status": pl.String(),
    "solve_seconds": pl.Float64(),
    "iterations": pl.Int64(),
    "objective": pl.Float64(),
    "explanation": pl.String(),
    "detail": pl.String(),
}

_ORDER_TYPES: dict[str, pl.DataType] = {
    "as_of": pl.Date(),
    "trade_date": pl.Date(),
    "shares": pl.Float64(),
    "est_price": pl.Float64(),
    "est_value": pl.Float64(),
    "est_realized_gain": pl.Float64(),
}
#: the columns of stored orders: the trade file's (`contract.TRADE_FILE_COLUMNS`) then explanation, detail
ORDER_COLUMNS: dict[str, pl.DataType] = {
    **{c: _ORDER_TYPES.get(c, pl.String()) for c in TRADE_FILE_COLUMNS},
    "explanation": pl.String(),
    "detail": pl.String(),
}

_JSON_COLUMNS = ("explanation", "detail")


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


def _fetch(con: duckdb.DuckDBPyConnection, sql: str, params: Any = None) -> pl.DataFrame:
    return con.sql(sql, params=params).pl()


def _insert(con: duckdb.DuckDBPyConnection, table: str, df: pl.DataFrame, *, where: str = "TRUE") -> int:
    """Insert the rows of `df` (as `b`) that satisfy `where`; returns how many were inserted."""
    if df.height == 0:
        return 0
    view = f"_overlay_{table}_batch"
    con.register(view, df)
    try:
        rows = con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM {view} b WHERE {where}").fetchall()
    finally:
        unregister(con, view)
    return int(rows[0][0]) if rows else 0


def run_exists(con: duckdb.DuckDBPyConnection, run_id: str) -> bool:
    return one(con, "SELECT 1 FROM runs WHERE run_id = ?", [run_id]) is not None


def _require_run(con: duckdb.DuckDBPyConnection, run_id: str, path: str) -> None:
    if not run_exists(con, run_id):
        raise StoreError(f"{path}: no run {run_id!r}; start it with Store.begin_run(...)")


def _event(con: duckdb.DuckDBPyConnection, run_id: str, event: str, payload: str | None = None) -> None:
    nr = one(con, "SELECT coalesce(max(event_nr), 0) + 1 FROM run_events WHERE run_id = ?", [run_id])[0]
    con.execute("INSERT INTO run_events VALUES (?, ?, ?, ?, ?)", [run_id, nr, event, _utcnow(), payload])


def run_base_id(
    *, kind: str, upload_id: str, as_of: dt.date, trade_date: dt.date, input_hash: str, code_version: str,
    settings: Mapping[str, Any],
) -> str:
    """The deterministic id of a run: `<kind>-<as_of YYYYMMDD>-<12 hex digits of sha256(inputs, settings, code)>`."""
    identity = {
        "kind": kind, "upload_id": upload_id, "as_of": as_of, "trade_date": trade_date,
        "input_hash": input_hash, "code_version": code_version, "settings": settings,
    }
    digest = hashlib.sha256(to_json(identity, what="the run's settings").encode()).hexdigest()[:12]
    return f"{kind}-{as_of:%Y%m%d}-{digest}"


def begin_run(
    con: duckdb.DuckDBPyConnection, *, upload_id: str, as_of: dt.date, trade_date: dt.date, input_hash: str,
    code_version: str, settings: Mapping[str, Any], kind: str, fresh: bool, path: str,
) -> tuple[str, bool]:
    """Start (or resume) a run. Returns (run_id, created)."""
    if not kind or not kind.replace("_", "").isalnum():
        raise StoreError(f"run kind {kind!r}: expected a word such as 'review'")
    row = one(con, "SELECT as_of FROM uploads WHERE upload_id = ?", [upload_id])
    if row is None:
        raise StoreError(f"{path}: begin_run names upload {upload_id!r}, which is not stored; save_upload(book) first")
    if row[0] != as_of:
        raise StoreError(f"{path}: begin_run gives as_of {as_of}, but upload {upload_id} is of as_of {row[0]}")
    base = run_base_id(
        kind=kind, upload_id=upload_id, as_of=as_of, trade_date=trade_date, input_hash=input_hash,
        code_version=code_version, settings=settings,
    )
    last = one(con, 
        "SELECT run_id, attempt FROM runs WHERE base_id = ? ORDER BY attempt DESC LIMIT 1", [base]
    )
    if last is not None and not fresh:
        _event(con, last[0], "resume")
        return last[0], False
    attempt = 1 if last is None else last[1] + 1
    run_id = base if attempt == 1 else f"{base}-{attempt}"
    con.execute(
        "INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [run_id, base, attempt, kind, upload_id, as_of, trade_date, input_hash, code_version,
         to_json(settings, what="the run's settings"), _utcnow()],
    )
    _event(con, run_id, "begin")
    return run_id, True


def finish_run(con: duckdb.DuckDBPyConnection, run_id: str, summary: Mapping[str, Any], *, path: str) -> None:
    _require_run(con, run_id, path)
    _event(con, run_id, "finish", to_json(summary, what="the run's summary"))


def _json_column(df: pl.DataFrame, name: str) -> pl.Series:
    s = df[name]
    if s.dtype == pl.String:
        return s
    return pl.Series(name, [cell_json(v) for v in s.to_list()], dtype=pl.String)


def _with_detail(df: pl.DataFrame, fixed: Mapping[str, pl.DataType], what: str) -> pl.DataFrame:
    """Keep the fixed columns (cast to their types) and fold every other column into the JSON `detail`."""
    extra = [c for c in df.columns if c not in fixed]
    if extra:
        given = df["detail"].to_list() if "detail" in df.columns else [None] * df.height
        rows = df.select(extra).to_dicts()
        merged = []
        for g, r in zip(given, rows):
            base: dict[str, Any] = {}
            if g is not None:
                parsed = json.loads(g) if isinstance(g, str) else g
                base = dict(parsed) if isinstance(parsed, Mapping) else {"detail": parsed}
            base.update(r)
            merged.append(to_json(base, what=f"the extra columns of {what}"))
        df = df.drop(extra + (["detail"] if "detail" in df.columns else [])).with_columns(
            pl.Series("detail", merged, dtype=pl.String)
        )
    cols: list[pl.Series] = []
    for name, dtype in fixed.items():
        if name not in df.columns:
            cols.append(pl.Series(name, [None] * df.height, dtype=dtype))
        elif name in _JSON_COLUMNS:
            cols.append(_json_column(df, name))
        else:
            try:
                cols.append(df[name].cast(dtype, strict=True))
            except Exception as exc:  # polars raises InvalidOperationError / ComputeError on a bad cast
                raise StoreError(f"{what}: column {name!r} has type {df[name].dtype}, expected {dtype} ({exc})") from exc
    return pl.DataFrame(cols, schema=fixed)


def save_account_results(
    con: duckdb.DuckDBPyConnection, run_id: str, results: pl.DataFrame, *, path: str
) -> tuple[int, set[str]]:
    """Append the results of accounts not yet stored for `run_id`. Returns (rows stored, accounts in the batch)."""
    _require_run(con, run_id, path)
    what = f"results of run {run_id}"
    for col in ("account_id", "decision"):
        if col not in results.columns:
            raise StoreError(f"{what}: column {col!r} is missing (columns given: {', '.join(results.columns)})")
    if "run_id" in results.columns:
        other = results.filter(pl.col("run_id") != run_id)["run_id"].unique().to_list()
        if other:
            raise StoreError(f"{what}: rows carry run_id {other[0]!r}, not {run_id!r}")
        results = results.drop("run_id")
    if "reasons" in results.columns and isinstance(results["reasons"].dtype, pl.List):
        results = results.with_columns(pl.col("reasons").list.join(";"))
    df = _with_detail(results, RESULT_COLUMNS, what)
    if df["account_id"].null_count():
        raise StoreError(f"{what}: account_id is empty on {df['account_id'].null_count()} row(s)")
    dup = df["account_id"].filter(df["account_id"].is_duplicated()).unique().sort().to_list()
    if dup:
        raise StoreError(f"{what}: account_id repeated in one batch: {', '.join(dup[:5])}")
    bad = df.filter(~pl.col("decision").is_in(DECISIONS) | pl.col("decision").is_null())
    if bad.height:
        r = bad.row(0, named=True)
        raise StoreError(
            f"{what}: account {r['account_id']}: decision {r['decision']!r}; expected one of {', '.join(DECISIONS)}"
        )
    accounts = set(df["account_id"].to_list())
    new = df.with_columns(run_id=pl.lit(run_id), saved_at=pl.lit(_utcnow()))
    n = _insert(
        con, "account_results", new,
        where="NOT EXISTS (SELECT 1 FROM account_results a WHERE a.run_id = b.run_id AND a.account_id = b.account_id)",
    )
    return n, accounts


def save_orders(con: duckdb.DuckDBPyConnection, run_id: str, orders: pl.DataFrame, *, path: str) -> tuple[int, set[str]]:
    """Append the orders of accounts whose orders are not yet stored for `run_id`. Returns (rows, accounts)."""
    _require_run(con, run_id, path)
    what = f"orders of run {run_id}"
    missing = [c for c in TRADE_FILE_COLUMNS if c != "run_id" and c not in orders.columns]
    if missing:
        raise StoreError(f"{what}: column(s) missing: {', '.join(missing)}; expected the trade file's columns")
    if "run_id" in orders.columns:
        other = orders.filter(pl.col("run_id") != run_id)["run_id"].unique().to_list()
        if other:
            raise StoreError(f"{what}: rows carry run_id {other[0]!r}, not {run_id!r}")
    orders = orders.with_columns(run_id=pl.lit(run_id, dtype=pl.String))
    for c in ("as_of", "trade_date"):
        if orders[c].dtype == pl.String:
            orders = orders.with_columns(pl.col(c).str.to_date("%Y-%m-%d", strict=False))
    df = _with_detail(orders, ORDER_COLUMNS, what)
    if df["account_id"].null_count():
        raise StoreError(f"{what}: account_id is empty on {df['account_id'].null_count()} row(s)")
    bad = df.filter(~pl.col("side").is_in(TRADE_SIDES) | pl.col("side").is_null())
    if bad.height:
        r = bad.row(0, named=True)
        raise StoreError(f"{what}: account {r['account_id']}: side {r['side']!r}; expected SELL or BUY")
    accounts = set(df["account_id"].to_list())
    new = df.with_columns(row_nr=pl.int_range(pl.len(), dtype=pl.Int64).over("account_id"))
    fresh = "NOT EXISTS (SELECT 1 FROM order_accounts o WHERE o.run_id = b.run_id AND o.account_id = b.account_id)"
    n = _insert(con, "orders", new, where=fresh)
    counts = new.group_by("account_id", maintain_order=True).agg(n_orders=pl.len().cast(pl.Int64)).with_columns(
        run_id=pl.lit(run_id), saved_at=pl.lit(_utcnow())
    )
    _insert(con, "order_accounts", counts, where=fresh)
    return n, accounts


def done_accounts(con: duckdb.DuckDBPyConnection, run_id: str) -> set[str]:
    return {r[0] for r in con.execute("SELECT account_id FROM account_results WHERE run_id = ?", [run_id]).fetchall()}


def list_runs(con: duckdb.DuckDBPyConnection, as_of: dt.date | None) -> pl.DataFrame:
    return _fetch(
        con,
        """WITH ev AS (
             SELECT run_id,
                    arg_max(event, event_nr) AS last_event,
                    max(event_at) FILTER (WHERE event = 'finish') AS finished_at,
                    arg_max(payload, event_nr) FILTER (WHERE event = 'finish') AS summary,
                    count(*) FILTER (WHERE event = 'resume') AS resumes
             FROM run_events GROUP BY run_id),
           res AS (SELECT run_id, count(*) AS accounts, count(*) FILTER (WHERE decision = 'trade') AS traded,
                          count(*) FILTER (WHERE decision = 'error') AS errors
                   FROM account_results GROUP BY run_id),
           ord AS (SELECT run_id, count(*) AS orders FROM orders GROUP BY run_id)
           SELECT r.run_id, r.kind, r.as_of, r.trade_date, r.upload_id, r.input_hash, r.code_version, r.settings,
                  r.attempt, r.started_at, ev.finished_at,
                  CASE WHEN ev.last_event = 'finish' THEN 'finished' ELSE 'open' END AS status,
                  ev.summary, coalesce(ev.resumes, 0) AS resumes, coalesce(res.accounts, 0) AS accounts,
                  coalesce(res.traded, 0) AS traded, coalesce(res.errors, 0) AS errors, coalesce(ord.orders, 0) AS orders
           FROM runs r LEFT JOIN ev USING (run_id) LEFT JOIN res USING (run_id) LEFT JOIN ord USING (run_id)
           WHERE $as_of IS NULL OR r.as_of = $as_of
           ORDER BY r.as_of, r.started_at, r.run_id""",
        {"as_of": as_of},
    )


def require_run(con: duckdb.DuckDBPyConnection, run_id: str, *, path: str) -> None:
    _require_run(con, run_id, path)


def run_results(con: duckdb.DuckDBPyConnection, run_id: str, *, path: str) -> pl.DataFrame:
    _require_run(con, run_id, path)
    cols = ", ".join(RESULT_COLUMNS)
    return _fetch(
        con, f"SELECT run_id, {cols}, saved_at FROM account_results WHERE run_id = $1 ORDER BY account_id", [run_id]
    ).cast({k: v for k, v in RESULT_COLUMNS.items()})


def run_orders(con: duckdb.DuckDBPyConnection, run_id: str, *, path: str) -> pl.DataFrame:
    _require_run(con, run_id, path)
    cols = ", ".join(ORDER_COLUMNS)
    return _fetch(con, f"SELECT {cols} FROM orders WHERE run_id = $1 ORDER BY account_id, row_nr", [run_id]).cast(
        dict(ORDER_COLUMNS)
    )


def account_history(con: duckdb.DuckDBPyConnection, account_id: str) -> pl.DataFrame:
    cols = ", ".join(f"a.{c}" for c in RESULT_COLUMNS if c != "account_id")
    return _fetch(
        con,
        f"""SELECT a.account_id, r.as_of, r.trade_date, r.run_id, r.kind, r.started_at, {cols}
            FROM account_results a JOIN runs r USING (run_id)
            WHERE a.account_id = $1 ORDER BY r.as_of, r.started_at, r.run_id""",
        [account_id],
    ).cast({k: v for k, v in RESULT_COLUMNS.items() if k != "account_id"})
