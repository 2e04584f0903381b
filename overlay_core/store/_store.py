"""`Store`: the DuckDB file that keeps every upload, run and piece of evidence, and its read-only snapshot.

DuckDB admits one writing process or many reading processes on a file, never both. So only the writer
(the CLI's driver process) opens the store itself; after each committed write that readers care about it
publishes a copy, `<name>.snapshot.duckdb`, atomically (CHECKPOINT, copy to a temporary file, fsync,
`os.replace`). Dashboards and reports open the snapshot (`Store.open_snapshot`): an open reader keeps
the file it opened and never blocks the next write; it sees new data when it reopens.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import time
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any, Iterator, Mapping

import duckdb
import polars as pl

from overlay_core.book import Book
from overlay_core.errors import StoreError
from overlay_core.store import _runs, _uploads
from overlay_core.store._schema import SCHEMA_VERSION, migrate, one, read_version

ENV_VAR = "OVERLAY_STORE"
DEFAULT_DIR = "overlay_store"
DEFAULT_NAME = "overlay.duckdb"
SNAPSHOT_SUFFIX = ".snapshot.duckdb"


def default_store_path() -> Path:
    """Where the store lives unless `--store` says otherwise.

    `$OVERLAY_STORE` if set (and not empty), else `./overlay_store/overlay.duckdb`, relative to the
    current working directory.
    """
    env = os.environ.get(ENV_VAR, "").strip()
    if env:
        return Path(env).expanduser()
    return Path(DEFAULT_DIR) / DEFAULT_NAME


def snapshot_path(path: str | os.PathLike[str]) -> Path:
    """The read-only snapshot published beside a store: `overlay.duckdb` -> `overlay.snapshot.duckdb`."""
    p = Path(path)
    if p.name.endswith(SNAPSHOT_SUFFIX):
        return p
    stem = p.name[: -len(".duckdb")] if p.name.endswith(".duckdb") else p.name
    return p.with_name(stem + SNAPSHOT_SUFFIX)


_LOCK_HOLDER = re.compile(r"Conflicting lock is held in (\S+)(?: \(PID (\d+)\))?")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _is_corrupt(exc: BaseException) -> bool:
    msg = str(exc)
    return (
        isinstance(exc, (duckdb.FatalException, duckdb.InternalException, duckdb.SerializationException))
        or "Corrupt" in msg
        or "corrupt" in msg
        or "not a valid DuckDB database file" in msg
        or "checksum" in msg
    )


def translate(exc: duckdb.Error, path: Path, action: str) -> StoreError:
    """A DuckDB error as a `StoreError` that says what happened to which file and what to do."""
    msg = str(exc)
    snap = snapshot_path(path)
    if "Could not set lock" in msg or "Conflicting lock" in msg:
        m = _LOCK_HOLDER.search(msg)
        holder = ""
        if m:
            holder = f" (held by {m.group(1)}" + (f", PID {m.group(2)})" if m.group(2) else ")")
        return StoreError(
            f"the store {path} is locked by another process{holder}: DuckDB lets one process write it, or several "
            f"read it, never both. Wait until that process (e.g. the daily run) ends and retry; to read "
            f"meanwhile, open the published snapshot {snap} (Store.open_snapshot).",
            retry_can_help=True,
        )
    if "read-only mode" in msg or "read only mode" in msg:
        return StoreError(f"the store {path} is open read-only; {action} needs the store opened for writing")
    if _is_corrupt(exc):
        return StoreError(
            f"the store {path} is corrupt or not a DuckDB database ({_first_line(exc)}); {action} failed and "
            f"nothing was written. Move the file aside and restore the last published snapshot "
            f"(cp {snap} {path}) or a backup, then rerun: earlier days are kept in the snapshot."
        )
    return StoreError(f"the store {path}: {action} failed: {_first_line(exc)}")


class Store:
    """The project's DuckDB store: uploads (versions of each as_of), runs and their evidence.

    Open with `Store.open(path)` (the one writer) or `Store.open_snapshot(path)` (readers); use as a
    context manager. A `Store` is for one thread. Every write runs in one transaction: it is stored
    whole or not at all. Nothing stored is ever overwritten or deleted.
    """

    def __init__(
        self, con: duckdb.DuckDBPyConnection, path: Path, *, read_only: bool, publish: bool, publish_interval: float
    ) -> None:
        self._con: duckdb.DuckDBPyConnection | None = con
        self._path = path
        self._read_only = read_only
        self._publish = publish and not read_only
        self._publish_interval = publish_interval
        self._dirty = False
        self._last_publish = 0.0

    # -- opening and closing -----------------------------------------------------------------------
    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str] | None = None,
        *,
        read_only: bool = False,
        publish: bool = True,
        publish_interval: float = 30.0,
    ) -> Store:
        """Open (creating and migrating if needed) the store at `path` (default: `default_store_path()`).

        Parameters
        ----------
        path : the DuckDB file; its folder is created for a writer.
        read_only : open for reading only (many processes may); any write raises `StoreError`.
        publish : the writer publishes the read-only snapshot after committed writes (see `publish`).
        publish_interval : seconds; batch saves of a run (`save_accounts`, ...) republish at most this often,
            while `save_upload`, `finish_run` and `close` always republish.

        Raises
        ------
        StoreError : locked by another writer (`retry_can_help`), corrupt, not a store, or of an unknown
            (newer) schema version; read-only on a missing or not yet migrated file.
        """
        p = Path(path) if path is not None else default_store_path()
        p = p.expanduser().absolute()
        if read_only:
            if not p.exists():
                raise StoreError(f"no store at {p}: nothing has been stored yet (run `overlay load UPLOAD_DIR` first)")
        else:
            if p.name.endswith(SNAPSHOT_SUFFIX):
                raise StoreError(f"{p} is a published snapshot and is read-only; open the store itself to write")
            try:
                p.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(f"cannot create the store's folder {p.parent}: {exc}; give --store a writable path") from exc
        try:
            con = duckdb.connect(str(p), read_only=read_only)
        except duckdb.Error as exc:
            raise translate(exc, p, "opening it") from exc
        store = cls(con, p, read_only=read_only, publish=publish, publish_interval=publish_interval)
        try:
            if read_only:
                found = read_version(con, str(p))
                if found > SCHEMA_VERSION:
                    raise StoreError(
                        f"{p} has store schema version {found}, newer than the {SCHEMA_VERSION} this overlay_core "
                        "knows. Upgrade overlay-core to read it."
                    )
                if found < SCHEMA_VERSION:
                    raise StoreError(
                        f"{p} has store schema version {found}, older than {SCHEMA_VERSION}: open it once for "
                        "writing (e.g. `overlay load`) to migrate it, then read it."
                    )
            else:
                before, after = migrate(con, str(p))
                if before != after:
                    store._committed(force=True)
        except duckdb.Error as exc:
            con.close()
            raise translate(exc, p, "opening (and migrating) it") from exc
        except BaseException:
            con.close()
            raise
        return store

    @classmethod
    def open_snapshot(cls, path: str | os.PathLike[str] | None = None) -> Store:
        """Open the published read-only snapshot of the store at `path` (or the snapshot file itself)."""
        p = snapshot_path(Path(path) if path is not None else default_store_path()).expanduser().absolute()
        if not p.exists():
            raise StoreError(
                f"no published snapshot at {p}: the writer publishes it after each committed write; "
                "run `overlay load UPLOAD_DIR` (or open the store for writing once) first"
            )
        return cls.open(p, read_only=True)

    def close(self) -> None:
        """Publish what is not yet published (writer), then close. Idempotent."""
        if self._con is None:
            return
        try:
            if self._dirty and self._publish:
                self.publish()
        finally:
            self._con.close()
            self._con = None

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        mode = "read-only" if self._read_only else "writer"
        state = "closed" if self._con is None else "open"
        return f"Store({str(self._path)!r}, {mode}, {state})"

    # -- properties --------------------------------------------------------------------------------
    @property
    def path(self) -> Path:
        return self._path

    @property
    def read_only(self) -> bool:
        return self._read_only

    @property
    def snapshot_path(self) -> Path:
        return snapshot_path(self._path)

    @property
    def schema_version(self) -> int:
        with self._reading("reading the schema version") as con:
            return read_version(con, str(self._path))

    def migrate(self) -> tuple[int, int]:
        """Bring the store to `SCHEMA_VERSION` (done by `open` already). Returns (from_version, to_version)."""
        self._check_writable("migrating")
        with self._reading("migrating") as con:
            before, after = migrate(con, str(self._path))
        if before != after:
            self._committed(force=True)
        return before, after

    # -- transactions and publishing ----------------------------------------------------------------
    def _connection(self) -> duckdb.DuckDBPyConnection:
        if self._con is None:
            raise StoreError(f"the store {self._path} is closed")
        return self._con

    def _check_writable(self, action: str) -> None:
        if self._read_only:
            raise StoreError(
                f"the store {self._path} is open read-only, so {action} is refused; only the daily run's "
                "process writes (Store.open(path) without read_only)"
            )

    @contextmanager
    def _reading(self, action: str) -> Iterator[duckdb.DuckDBPyConnection]:
        con = self._connection()
        try:
            yield con
        except duckdb.Error as exc:
            raise translate(exc, self._path, action) from exc

    @contextmanager
    def _writing(self, action: str) -> Iterator[duckdb.DuckDBPyConnection]:
        """One transaction: committed whole, or rolled back whole on any exception."""
        self._check_writable(action)
        con = self._connection()
        try:
            con.execute("BEGIN TRANSACTION")
            try:
                yield con
                con.execute("COMMIT")
            except BaseException:
                try:
                    con.execute("ROLLBACK")
                except duckdb.Error:
                    pass  # a failed COMMIT has already rolled back
                raise
        except duckdb.Error as exc:
            raise translate(exc, self._path, action) from exc

    def _committed(self, *, force: bool) -> None:
        self._dirty = True
        if self._publish and (force or time.monotonic() - self._last_publish >= self._publish_interval):
            self.publish()

    def publish(self) -> Path:
        """Publish the read-only snapshot now: CHECKPOINT, copy to a temp file, fsync, atomic rename.

        Returns the snapshot's path. A reader that has the old snapshot open keeps reading it.
        """
        self._check_writable("publishing a snapshot")
        con = self._connection()
        snap = self.snapshot_path
        tmp = snap.with_name(f"{snap.name}.tmp-{os.getpid()}")
        try:
            for stale in snap.parent.glob(f"{snap.name}.tmp-*"):  # left by a writer killed mid-publish
                stale.unlink(missing_ok=True)
            con.execute("CHECKPOINT")
            wal = self._path.with_name(self._path.name + ".wal")
            if wal.exists() and wal.stat().st_size > 0:
                raise StoreError(f"the store {self._path}: CHECKPOINT left a write-ahead log; the snapshot was not published")
            shutil.copyfile(self._path, tmp)
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
            os.replace(tmp, snap)
            dir_fd = os.open(snap.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        except duckdb.Error as exc:
            raise translate(exc, self._path, "publishing the snapshot") from exc
        except OSError as exc:
            raise StoreError(
                f"the store {self._path}: the write was committed, but publishing the snapshot {snap} failed "
                f"({exc}); readers see the previous snapshot. Free space or fix permissions and retry.",
                retry_can_help=True,
            ) from exc
        finally:
            if tmp.exists():
                tmp.unlink()
        self._dirty = False
        self._last_publish = time.monotonic()
        return snap

    # -- uploads -----------------------------------------------------------------------------------
    def save_upload(self, book: Book) -> str:
        """Store every frame of `book` as a version of its as_of; returns its upload_id.

        The key is `book.input_hash` (a content hash for a Book built in code); saving an upload already
        stored changes nothing and returns the same id. One transaction: on any failure the store is
        exactly as before. Publishes the snapshot after a new upload.
        """
        with self._writing(f"saving the upload of {book.as_of}") as con:
            upload_id, created = _uploads.save_upload(con, book, path=str(self._path))
        if created:
            self._committed(force=True)
        return upload_id

    def load_upload(self, *, as_of: dt.date | None = None, upload_id: str | None = None) -> Book:
        """Rebuild a stored Book: `upload_id` (an id, a full hash or a unique id prefix), else the latest
        version of `as_of`, else the latest version of the latest as_of. Raises `StoreError` if none."""
        with self._reading("loading an upload") as con:
            uid = _uploads.resolve_upload(con, as_of=as_of, upload_id=upload_id, path=str(self._path))
            return _uploads.load_upload(con, uid)

    def uploads(self) -> pl.DataFrame:
        """Every stored upload version, by as_of then save order.

        Columns: upload_id, as_of, trade_date, saved_at (UTC), accounts, lots, securities, quarantined,
        warnings, latest (the latest version of its as_of), input_hash, source.
        """
        with self._reading("listing uploads") as con:
            return _uploads.list_uploads(con)

    def previous_upload(self, as_of: dt.date) -> str | None:
        """The upload_id of the latest version of the latest as_of strictly before `as_of`, or None."""
        with self._reading("finding the previous upload") as con:
            row = one(con, 
                "SELECT upload_id FROM uploads WHERE as_of < ? ORDER BY as_of DESC, seq DESC LIMIT 1", [as_of]
            )
        return None if row is None else row[0]

    def price_history_latest(
        self, *, symbols: list[str] | None = None, start: dt.date | None = None, end: dt.date | None = None
    ) -> pl.DataFrame:
        """Every stored close (date, symbol, close), the latest version of each, sorted by date then symbol."""
        with self._reading("reading the price history") as con:
            return (
                con.sql(
                    "SELECT date, symbol, close FROM price_history_latest WHERE ($s IS NULL OR list_contains($s, symbol)) "
                    "AND ($a IS NULL OR date >= $a) AND ($b IS NULL OR date <= $b) ORDER BY date, symbol",
                    params={"s": symbols, "a": start, "b": end},
                )
                .pl()
                .cast({"date": pl.Date, "symbol": pl.String, "close": pl.Float64})
            )

    # -- runs and evidence -------------------------------------------------------------------------
    def begin_run(
        self,
        *,
        upload_id: str,
        as_of: dt.date,
        trade_date: dt.date,
        input_hash: str,
        code_version: str,
        settings: Mapping[str, Any],
        kind: str = "review",
        fresh: bool = False,
    ) -> str:
        """Start a run, or resume it: the run_id is deterministic (`<kind>-<YYYYMMDD>-<hash of upload, dates,
        input_hash, code_version, settings>`), so the same inputs give the same run and `done_accounts`
        says what is left. `fresh=True` starts a new attempt (`...-2`, `...-3`) and keeps the old one."""
        with self._writing("beginning a run") as con:
            run_id, _ = _runs.begin_run(
                con, upload_id=upload_id, as_of=as_of, trade_date=trade_date, input_hash=input_hash,
                code_version=code_version, settings=settings, kind=kind, fresh=fresh, path=str(self._path),
            )
        self._committed(force=False)
        return run_id

    def save_account_results(self, run_id: str, results: pl.DataFrame) -> int:
        """Append one row per account (see `RESULT_COLUMNS`; other columns go to the JSON `detail`).

        Accounts already stored for the run are skipped (first write wins). One transaction per call.
        Returns the number of accounts newly stored.
        """
        with self._writing(f"saving results of run {run_id}") as con:
            n, _ = _runs.save_account_results(con, run_id, results, path=str(self._path))
        self._committed(force=False)
        return n

    def save_orders(self, run_id: str, orders: pl.DataFrame) -> int:
        """Append orders (the trade file's columns, plus optional `explanation`; others go to `detail`).

        Give all of an account's orders in one call: accounts whose orders are already stored for the run
        are skipped. One transaction per call. Returns the number of order rows newly stored.
        """
        with self._writing(f"saving orders of run {run_id}") as con:
            n, _ = _runs.save_orders(con, run_id, orders, path=str(self._path))
        self._committed(force=False)
        return n

    def save_accounts(self, run_id: str, results: pl.DataFrame, orders: pl.DataFrame | None = None) -> int:
        """Results and orders of a batch of accounts in ONE transaction (never a half-stored account).

        Every account of `orders` must have a row in `results`. Returns the number of accounts newly stored.
        """
        with self._writing(f"saving a batch of run {run_id}") as con:
            n, accounts = _runs.save_account_results(con, run_id, results, path=str(self._path))
            if orders is not None and orders.height:
                _, with_orders = _runs.save_orders(con, run_id, orders, path=str(self._path))
                orphans = sorted(with_orders - accounts)
                if orphans:
                    raise StoreError(
                        f"orders of run {run_id}: account(s) {', '.join(orphans[:5])} have orders but no result row "
                        "in the same batch; give each account's result and orders together"
                    )
        self._committed(force=False)
        return n

    def done_accounts(self, run_id: str) -> set[str]:
        """The accounts whose results are stored for `run_id` (what a resumed run skips)."""
        with self._reading("reading a run") as con:
            return _runs.done_accounts(con, run_id)

    def finish_run(self, run_id: str, summary: Mapping[str, Any]) -> None:
        """Record the run as finished with its summary (JSON); a rerun's finish is appended, not overwritten."""
        with self._writing(f"finishing run {run_id}") as con:
            _runs.finish_run(con, run_id, summary, path=str(self._path))
        self._committed(force=True)

    def runs(self, as_of: dt.date | None = None) -> pl.DataFrame:
        """Every run (of one as_of if given). Columns: run_id, kind, as_of, trade_date, upload_id, input_hash,
        code_version, settings (JSON), attempt, started_at, finished_at, status (open | finished), summary
        (JSON of the last finish), resumes, accounts, traded, errors, orders."""
        with self._reading("listing runs") as con:
            return _runs.list_runs(con, as_of)

    def run_info(self, run_id: str) -> dict[str, Any]:
        """One run's row of `runs()` as a dict, with `settings` and `summary` parsed from JSON (for audits)."""
        with self._reading("reading a run") as con:
            _runs.require_run(con, run_id, path=str(self._path))
            rows = _runs.list_runs(con, None).filter(pl.col("run_id") == run_id)
        info = rows.row(0, named=True)
        info["settings"] = json.loads(info["settings"])
        info["summary"] = None if info["summary"] is None else json.loads(info["summary"])
        return info

    def run_results(self, run_id: str) -> pl.DataFrame:
        """The account rows of a run: run_id, the `RESULT_COLUMNS`, saved_at; by account_id."""
        with self._reading("reading a run") as con:
            return _runs.run_results(con, run_id, path=str(self._path))

    def run_orders(self, run_id: str) -> pl.DataFrame:
        """The orders of a run: the trade file's columns, explanation, detail; by account_id, then as given."""
        with self._reading("reading a run") as con:
            return _runs.run_orders(con, run_id, path=str(self._path))

    def account_history(self, account_id: str) -> pl.DataFrame:
        """Every run's row for one account, by as_of: the evidence that it was reviewed each day.

        Columns: account_id, as_of, trade_date, run_id, kind, started_at, then the `RESULT_COLUMNS`."""
        with self._reading("reading an account's history") as con:
            return _runs.account_history(con, account_id)
