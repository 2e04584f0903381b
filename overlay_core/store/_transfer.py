"""Runs and their uploads out of a store into Parquet files, and back into another store.

`export_runs(store, folder, run_ids=None, kinds=None)` writes the chosen runs (default: every run),
their evidence and the uploads they reviewed as one Parquet file per store table plus a
``manifest.json`` (format, schema version, the runs, the uploads, each file's rows and sha256);
`import_runs(store, folder)` adds them to a store. Layout and rules: docs/store.md, "Export and import".

Uploads are imported through the store's own code (`_uploads.load_upload` on an in-memory staging
store holding the exported rows, then `_uploads.save_upload` into the target), so an imported upload
is the same Book, keyed by the same hash, with a new save order (``seq``) and its price history
deduplicated against what the target holds; into a store without any upload the exported rows are
copied as they are (the same result, without rebuilding each Book). Runs and their evidence are copied row for row (ids,
timestamps and JSON unchanged; the upload id follows its upload).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import duckdb
import polars as pl

from overlay_core.errors import StoreError
from overlay_core.store import _uploads
from overlay_core.store._schema import SCHEMA_VERSION, migrate, one, our_tables

#: the manifest's format name and version
FORMAT = "overlay-store-export"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"

#: run tables (rows of the exported runs), in import order
RUN_TABLES = ("runs", "run_events", "account_results", "orders", "order_accounts")
#: upload tables besides the frames' ``up_<frame>`` tables (rows of the exported uploads)
UPLOAD_TABLES = ("uploads", "upload_frames", "up_warnings", "upload_price_runs")


@dataclass(frozen=True)
class TransferSummary:
    """What an export or an import did.

    Attributes
    ----------
    folder : the export folder.
    runs : run ids written (export) or newly added (import); runs already in the target are skipped.
    skipped_runs : run ids of the export the target already held (import; empty for an export).
    uploads : upload ids written (export) or newly added (import).
    as_of : the as_of dates of the runs written or added, ascending.
    bytes : total size of the folder's files (export) or of the files read (import).
    seconds : wall time.
    """

    folder: Path
    runs: tuple[str, ...]
    skipped_runs: tuple[str, ...]
    uploads: tuple[str, ...]
    as_of: tuple[dt.date, ...]
    bytes: int
    seconds: float


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _frame_tables(con: duckdb.DuckDBPyConnection) -> list[str]:
    return [t for t in our_tables(con) if t.startswith("up_") and t != "up_warnings"]


def _copy(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any], path: Path) -> int:
    """Write a query's rows to a Parquet file (zstd); returns the row count."""
    table = con.sql(sql, params=params).to_arrow_table()
    write_parquet(table, path)
    return int(table.num_rows)


#: integer columns that count up (row numbers): delta-encoded, which costs almost nothing in the export's order
_DELTA_COLUMNS = ("row_nr", "event_nr")


def write_parquet(table: Any, path: Path) -> None:
    """Write an Arrow table as the export writes every file: zstd level 19, dictionaries, and
    DELTA_BINARY_PACKED for the row-number columns (a lot's row moves little from one day to the next)."""
    import pyarrow.parquet as pq

    delta = [c for c in _DELTA_COLUMNS if c in table.schema.names]
    pq.write_table(
        table,
        path,
        compression="zstd",
        compression_level=19,
        use_dictionary=[c for c in table.schema.names if c not in delta],
        column_encoding={c: "DELTA_BINARY_PACKED" for c in delta} or None,
    )


def export_runs(
    store: Any,
    folder: str | os.PathLike[str],
    *,
    run_ids: Sequence[str] | None = None,
    kinds: Sequence[str] | None = None,
) -> TransferSummary:
    """Export runs with their evidence and their uploads to `folder` (replaced atomically if it exists).

    Parameters
    ----------
    store : an open `Store` (a writer or a snapshot reader).
    folder : the export folder; written as a temporary sibling, then renamed into place.
    run_ids : the runs to export (default: every run, or every run of `kinds`).
    kinds : keep only runs of these kinds (e.g. ``("review",)``).

    Returns
    -------
    TransferSummary of what was written.

    Raises
    ------
    StoreError : an unknown run id, or no run to export.
    """
    import time

    t0 = time.perf_counter()
    out = Path(folder)
    with store._reading("exporting runs") as con:
        runs = con.sql("SELECT run_id, kind, as_of, trade_date, upload_id FROM runs ORDER BY as_of, started_at, run_id").pl()
        if run_ids is not None:
            unknown = sorted(set(run_ids) - set(runs["run_id"].to_list()))
            if unknown:
                raise StoreError(f"export from {store.path}: no run {', '.join(unknown[:5])} in the store; list them with Store.runs()")
            runs = runs.filter(pl.col("run_id").is_in(list(run_ids)))
        if kinds is not None:
            runs = runs.filter(pl.col("kind").is_in(list(kinds)))
        if runs.height == 0:
            raise StoreError(f"export from {store.path}: no run to export (run_ids={run_ids}, kinds={kinds})")
        rids = runs["run_id"].to_list()
        uids = sorted(set(runs["upload_id"].to_list()))
        uploads = con.sql(
            "SELECT upload_id, input_hash, seq, as_of, trade_date FROM uploads WHERE list_contains($u, upload_id) ORDER BY seq",
            params={"u": uids},
        ).pl()
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
        try:
            files: dict[str, dict[str, Any]] = {}

            def write(table: str, sql: str, params: list[Any]) -> None:
                path = tmp / f"{table}.parquet"
                n = _copy(con, sql, params, path)
                files[table] = {"file": path.name, "rows": n}

            for t in RUN_TABLES:
                order = {"runs": "run_id", "run_events": "run_id, event_nr", "account_results": "run_id, account_id",
                         "orders": "run_id, account_id, row_nr", "order_accounts": "run_id, account_id"}[t]
                write(t, f"SELECT * FROM {_q(t)} WHERE list_contains(?, run_id) ORDER BY {order}", [rids])
            for t in UPLOAD_TABLES:
                order = {"uploads": "seq", "upload_frames": "upload_id, frame", "up_warnings": "upload_id, row_nr",
                         "upload_price_runs": "upload_id, symbol, date_from"}[t]
                write(t, f"SELECT * FROM {_q(t)} WHERE list_contains(?, upload_id) ORDER BY {order}", [uids])
            # the frames, by account and then upload where they have an account (day-to-day repeats compress well)
            for t in _frame_tables(con):
                cols = {r[0] for r in con.execute(f"SELECT column_name FROM (DESCRIBE {_q(t)})").fetchall()}
                key = [c for c in ("account_id", "lot_id", "symbol", "date") if c in cols]
                order = ", ".join(_q(c) for c in key + ["upload_id", "row_nr"])
                write(t, f"SELECT * FROM {_q(t)} WHERE list_contains(?, upload_id) ORDER BY {order}", [uids])
            # every version of a close the exported uploads read (their runs of dates, up to their seq)
            write(
                "price_points",
                """SELECT DISTINCT p.date, p.symbol, p.close, p.seq FROM price_points p
                   JOIN upload_price_runs r ON p.symbol = r.symbol AND p.date BETWEEN r.date_from AND r.date_to
                   JOIN uploads u ON u.upload_id = r.upload_id
                   WHERE list_contains(?, r.upload_id) AND p.seq <= u.seq ORDER BY p.symbol, p.date, p.seq""",
                [uids],
            )
            for meta in files.values():
                meta["sha256"] = _sha256(tmp / meta["file"])
            manifest = {
                "format": FORMAT,
                "format_version": FORMAT_VERSION,
                "schema_version": SCHEMA_VERSION,
                "runs": [
                    {"run_id": r, "kind": k, "as_of": a.isoformat(), "trade_date": td.isoformat(), "upload_id": u}
                    for r, k, a, td, u in runs.iter_rows()
                ],
                "uploads": [
                    {"upload_id": u, "input_hash": h, "seq": int(s), "as_of": a.isoformat(), "trade_date": td.isoformat()}
                    for u, h, s, a, td in uploads.iter_rows()
                ],
                "tables": files,
            }
            (tmp / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
            old = None
            if out.exists():
                old = out.with_name(f".{out.name}.old-{os.getpid()}")
                os.replace(out, old)
            os.replace(tmp, out)
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
    size = sum(p.stat().st_size for p in out.iterdir() if p.is_file())
    return TransferSummary(
        folder=out, runs=tuple(rids), skipped_runs=(), uploads=tuple(uploads["upload_id"].to_list()),
        as_of=tuple(sorted(set(runs["as_of"].to_list()))), bytes=size, seconds=time.perf_counter() - t0,
    )


def read_manifest(folder: str | os.PathLike[str]) -> dict[str, Any]:
    """The export's ``manifest.json``, checked (format, versions, files present with their sha256).

    Raises
    ------
    StoreError : no manifest, another format, a newer format or schema version, a missing or altered file.
    """
    src = Path(folder)
    path = src / MANIFEST
    if not path.is_file():
        raise StoreError(f"{src} is not a store export: it has no {MANIFEST}")
    try:
        man = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise StoreError(f"{path}: not valid JSON ({exc})") from exc
    if man.get("format") != FORMAT:
        raise StoreError(f"{path}: format {man.get('format')!r}; expected {FORMAT!r}")
    if int(man.get("format_version", 0)) > FORMAT_VERSION or int(man.get("schema_version", 0)) > SCHEMA_VERSION:
        raise StoreError(
            f"{path}: format version {man.get('format_version')} / store schema {man.get('schema_version')}, newer than "
            f"the {FORMAT_VERSION} / {SCHEMA_VERSION} this overlay_core knows; upgrade overlay-core to import it"
        )
    for table, meta in man["tables"].items():
        f = src / meta["file"]
        if not f.is_file():
            raise StoreError(f"{src}: the file {meta['file']} of table {table} is missing")
        if _sha256(f) != meta["sha256"]:
            raise StoreError(f"{f}: sha256 differs from the manifest's; the export was altered or is incomplete")
    return man


def _copy_upload_rows(con: duckdb.DuckDBPyConnection, src: Path, man: dict[str, Any], wanted: list[str]) -> None:
    """Insert the exported rows of the upload tables (the `wanted` uploads; every exported close) into
    the store open on `con`, creating a frame table or column it lacks."""
    have = set(our_tables(con))
    for table, meta in man["tables"].items():
        if table in RUN_TABLES:
            continue
        path = str(src / meta["file"])
        if table not in have:  # a frame table of a later Book field
            con.execute(f"CREATE TABLE {_q(table)} AS SELECT * FROM read_parquet(?) WHERE false", [path])
        cols = dict(con.execute("SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM read_parquet(?))", [path]).fetchall())
        existing = {r[0] for r in con.execute(f"SELECT column_name FROM (DESCRIBE {_q(table)})").fetchall()}
        for c, typ in cols.items():
            if c not in existing:
                con.execute(f"ALTER TABLE {_q(table)} ADD COLUMN {_q(c)} {typ}")
        if table == "price_points":
            con.execute(f"INSERT INTO {_q(table)} BY NAME SELECT * FROM read_parquet(?)", [path])
        else:
            con.execute(f"INSERT INTO {_q(table)} BY NAME SELECT * FROM read_parquet(?) WHERE list_contains(?, upload_id)", [path, wanted])


def _stage_uploads(src: Path, man: dict[str, Any], wanted: list[str]) -> duckdb.DuckDBPyConnection:
    """An in-memory store holding the exported rows of the upload tables (the `wanted` uploads)."""
    stage = duckdb.connect(":memory:")
    migrate(stage, ":memory:")
    _copy_upload_rows(stage, src, man, wanted)
    return stage


def import_runs(store: Any, folder: str | os.PathLike[str]) -> TransferSummary:
    """Add an export's runs, their evidence and their uploads to `store` (one transaction, idempotent).

    Runs the store already holds (same run id) are skipped, and so are uploads it already holds (same
    hash); importing the same export twice adds nothing the second time. The store is refused, and left
    unchanged, when it holds another run of the same kind on an as_of the export has a run of that kind
    for (two histories of one day would mix in the reports).

    Parameters
    ----------
    store : an open writable `Store`.
    folder : an `export_runs` folder.

    Returns
    -------
    TransferSummary: the runs and uploads added, the runs skipped.

    Raises
    ------
    StoreError : not an export (`read_manifest`), a conflicting run, or a write failure (nothing written).
    """
    import time

    t0 = time.perf_counter()
    src = Path(folder)
    man = read_manifest(src)
    store._check_writable("importing runs")
    ex_runs = pl.DataFrame(
        [(r["run_id"], r["kind"], dt.date.fromisoformat(r["as_of"]), r["upload_id"]) for r in man["runs"]],
        schema={"run_id": pl.String, "kind": pl.String, "as_of": pl.Date, "upload_id": pl.String},
        orient="row",
    )
    with store._reading("importing runs") as con:
        held = con.sql("SELECT run_id, kind, as_of FROM runs").pl()
    held_ids = set(held["run_id"].to_list())
    clash = held.join(ex_runs.select("kind", "as_of").unique(), on=["kind", "as_of"]).filter(~pl.col("run_id").is_in(ex_runs["run_id"].implode()))
    if clash.height:
        rows = clash.sort("as_of").head(5)
        shown = ", ".join(f"{r} ({k}, {a})" for r, k, a in rows.iter_rows())
        raise StoreError(
            f"the store {store.path} already holds {clash.height} run(s) on days of the export {src} that the export "
            f"does not hold: {shown}{' ...' if clash.height > 5 else ''}. Nothing was imported: two histories of one "
            "day would mix in the reports. Import into another store (--store) or a fresh one."
        )
    new = ex_runs.filter(~pl.col("run_id").is_in(list(held_ids)))
    skipped = tuple(sorted(held_ids & set(ex_runs["run_id"].to_list())))
    files_bytes = sum((src / m["file"]).stat().st_size for m in man["tables"].values())
    if new.height == 0:
        return TransferSummary(folder=src, runs=(), skipped_runs=skipped, uploads=(), as_of=(), bytes=files_bytes, seconds=time.perf_counter() - t0)

    wanted = sorted(set(new["upload_id"].to_list()))
    order = [u["upload_id"] for u in sorted(man["uploads"], key=lambda u: u["seq"]) if u["upload_id"] in wanted]
    rids = new["run_id"].to_list()
    added_uploads: list[str] = []
    with store._reading("importing runs") as con:
        empty = int(one(con, "SELECT count(*) FROM uploads")[0]) == 0
    books: list[tuple[str, Any]] = []
    if not empty:
        stage = _stage_uploads(src, man, wanted)
        try:
            books = [(u, _uploads.load_upload(stage, u)) for u in order]
        finally:
            stage.close()
    with store._writing("importing runs") as con:
        id_map: dict[str, str] = {}
        if empty:
            # a store without uploads: the rows as exported (same ids, seq and closes) -- what the general
            # path below would store, without rebuilding and re-deduplicating every upload
            _copy_upload_rows(con, src, man, wanted)
            id_map = {u: u for u in order}
            added_uploads = list(order)
        for old_id, book in books:
            new_id, created = _uploads.save_upload(con, book, path=str(store.path))
            id_map[old_id] = new_id
            if created:
                added_uploads.append(new_id)
        mapping = pl.DataFrame({"old": list(id_map), "new": list(id_map.values())})
        con.register("_overlay_import_map", mapping)
        try:
            for table in RUN_TABLES:
                path = str(src / man["tables"][table]["file"])
                if table == "runs":
                    sql = ("INSERT INTO runs BY NAME SELECT p.* EXCLUDE (upload_id), coalesce(m.new, p.upload_id) AS upload_id "
                           "FROM read_parquet(?) p LEFT JOIN _overlay_import_map m ON m.old = p.upload_id WHERE list_contains(?, p.run_id)")
                else:
                    sql = f"INSERT INTO {_q(table)} BY NAME SELECT * FROM read_parquet(?) WHERE list_contains(?, run_id)"
                con.execute(sql, [path, rids])
        finally:
            try:
                con.unregister("_overlay_import_map")
            except duckdb.Error:
                pass
    store._committed(force=True)
    return TransferSummary(
        folder=src, runs=tuple(rids), skipped_runs=skipped, uploads=tuple(added_uploads),
        as_of=tuple(sorted(set(new["as_of"].to_list()))), bytes=files_bytes, seconds=time.perf_counter() - t0,
    )


def read_exported_upload(folder: str | os.PathLike[str], upload_id: str) -> Any:
    """One upload of an export as a `Book`, without a store (the exact Book `Store.load_upload` gives after
    `import_runs`). Raises `StoreError` if the export has no such upload."""
    src = Path(folder)
    man = read_manifest(src)
    known = [u["upload_id"] for u in man["uploads"]]
    if upload_id not in known:
        raise StoreError(f"{src}: no upload {upload_id!r} in the export (it has {len(known)}: {', '.join(known[:3])} ...)")
    stage = _stage_uploads(src, man, [upload_id])
    try:
        return _uploads.load_upload(stage, upload_id)
    finally:
        stage.close()
