"""Opening a store: default path, the one-writer lock, corrupt files, schema versions and migration."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb
import pytest

from storekit import assert_books_equal
from overlay_core.errors import StoreError
from overlay_core.store import SCHEMA_VERSION, Store, default_store_path, snapshot_path


def test_default_store_path(monkeypatch):
    monkeypatch.delenv("OVERLAY_STORE", raising=False)
    assert default_store_path() == Path("overlay_store/overlay.duckdb")
    monkeypatch.setenv("OVERLAY_STORE", "/data/firm.duckdb")
    assert default_store_path() == Path("/data/firm.duckdb")
    monkeypatch.setenv("OVERLAY_STORE", "  ")
    assert default_store_path() == Path("overlay_store/overlay.duckdb")


def test_default_path_is_relative_to_the_working_directory(tmp_path, monkeypatch, book):
    monkeypatch.delenv("OVERLAY_STORE", raising=False)
    monkeypatch.chdir(tmp_path)
    with Store.open() as s:
        s.save_upload(book)
        assert s.path == tmp_path / "overlay_store" / "overlay.duckdb"
    assert (tmp_path / "overlay_store" / "overlay.snapshot.duckdb").exists()
    with Store.open_snapshot() as r:
        assert r.uploads().height == 1


def test_snapshot_path_naming():
    assert snapshot_path("/x/overlay.duckdb") == Path("/x/overlay.snapshot.duckdb")
    assert snapshot_path("/x/overlay.snapshot.duckdb") == Path("/x/overlay.snapshot.duckdb")
    assert snapshot_path("/x/store.db") == Path("/x/store.db.snapshot.duckdb")


HOLDER = textwrap.dedent(
    """
    import sys, time
    from overlay_core.store import Store
    s = Store.open(sys.argv[1])
    print("locked", flush=True)
    sys.stdin.readline()
    s.close()
    """
)


def test_a_second_writer_is_refused_while_the_first_holds_the_lock(store_path, book):
    with Store.open(store_path) as s:
        s.save_upload(book)
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(store_path)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(StoreError, match=r"is locked by another process \(held by .*PID \d+\).*retry") as err:
            Store.open(store_path)
        assert err.value.retry_can_help
        assert "overlay.snapshot.duckdb" in str(err.value)  # says where readers can go meanwhile
        # a reader of the store file itself is refused too (one writer OR readers) ...
        with pytest.raises(StoreError, match="is locked by another process"):
            Store.open(store_path, read_only=True)
        # ... but the published snapshot is open to readers while the writer works
        with Store.open_snapshot(store_path) as r:
            assert r.uploads().height == 1
    finally:
        holder.stdin.write("\n")
        holder.stdin.flush()
        holder.wait(timeout=30)
    with Store.open(store_path) as s:  # released: the next writer gets in
        assert s.uploads().height == 1


def test_a_file_that_is_not_duckdb_is_reported_with_what_to_do(tmp_path):
    bad = tmp_path / "overlay.duckdb"
    bad.write_bytes(b"this is not a database\n" * 500)
    with pytest.raises(StoreError, match=r"overlay.duckdb is corrupt or not a DuckDB database .*restore the last "
                                         r"published snapshot \(cp .*overlay.snapshot.duckdb") as err:
        Store.open(bad)
    assert not err.value.retry_can_help


def test_a_corrupted_block_is_reported_and_nothing_is_lost_from_the_snapshot(store_path, book):
    with Store.open(store_path) as s:
        s.save_upload(book)
    data = bytearray(store_path.read_bytes())
    for i in range(12288, len(data)):  # keep the headers, damage every data block
        data[i] ^= 0x5A
    store_path.write_bytes(bytes(data))
    with pytest.raises(StoreError, match="is corrupt or not a DuckDB database"):
        with Store.open(store_path) as s:
            s.load_upload()
    # the fix the message gives: restore the snapshot, and every earlier day is there
    store_path.write_bytes(snapshot_path(store_path).read_bytes())
    with Store.open(store_path) as s:
        assert_books_equal(book, s.load_upload())


def test_a_store_folder_that_cannot_be_created(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("a file, not a folder")
    with pytest.raises(StoreError, match="cannot create the store's folder .*file/sub"):
        Store.open(blocker / "sub" / "overlay.duckdb")


def test_read_only_open_of_a_missing_store(tmp_path):
    with pytest.raises(StoreError, match="no store at .*nothing has been stored yet"):
        Store.open(tmp_path / "none.duckdb", read_only=True)
    with pytest.raises(StoreError, match="no published snapshot at .*none.snapshot.duckdb"):
        Store.open_snapshot(tmp_path / "none.duckdb")


def test_a_duckdb_file_of_someone_else_is_not_taken_over(tmp_path):
    path = tmp_path / "other.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE clients (id INTEGER)")
    con.close()
    with pytest.raises(StoreError, match=r"not an overlay store: it has tables \(clients\)"):
        Store.open(path)


def _version0(path: Path) -> None:
    """The version-0 layout, by hand: the first sketch's schema_version table holding 0, plus a user's table."""
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE schema_version (version INTEGER)")
    con.execute("INSERT INTO schema_version VALUES (0)")
    con.execute("CREATE TABLE desk_notes (note VARCHAR)")
    con.execute("INSERT INTO desk_notes VALUES ('keep me')")
    con.close()


def test_migrate_version0_to_current(store_path, book):
    store_path.parent.mkdir(parents=True)
    _version0(store_path)
    with pytest.raises(StoreError, match="schema version 0, older than 1: open it once for writing"):
        Store.open(store_path, read_only=True)
    with Store.open(store_path) as s:
        assert s.schema_version == SCHEMA_VERSION == 1
        assert s.migrate() == (1, 1)  # already current: nothing to do
        s.save_upload(book)
        assert_books_equal(book, s.load_upload())
        history = s._connection().execute("SELECT version, note FROM schema_version ORDER BY version").fetchall()
        kept = s._connection().execute("SELECT note FROM desk_notes").fetchall()
    assert [v for v, _ in history] == [0, 1] and history[1][1].startswith("uploads")
    assert kept == [("keep me",)]


def test_a_failed_migration_changes_nothing(store_path, monkeypatch):
    from overlay_core.store import _schema

    store_path.parent.mkdir(parents=True)
    _version0(store_path)

    def broken(con):
        con.execute("CREATE TABLE half_done (x INTEGER)")
        raise RuntimeError("migration step failed")

    monkeypatch.setitem(_schema.MIGRATIONS, 0, broken)
    with pytest.raises(RuntimeError, match="migration step failed"):
        Store.open(store_path)
    con = duckdb.connect(str(store_path), read_only=True)
    tables = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    version = con.execute("SELECT max(version) FROM schema_version").fetchall()[0][0]
    con.close()
    assert tables == {"schema_version", "desk_notes"} and version == 0


def test_a_newer_unknown_version_is_refused_and_left_alone(store_path, book):
    with Store.open(store_path) as s:
        s.save_upload(book)
    con = duckdb.connect(str(store_path))
    con.execute("INSERT INTO schema_version VALUES (7, now()::timestamp, 'from the future')")
    con.close()
    for read_only in (False, True):
        with pytest.raises(StoreError, match="schema version 7, newer than the 1 this overlay_core knows.*Upgrade"):
            Store.open(store_path, read_only=read_only)
    con = duckdb.connect(str(store_path), read_only=True)
    assert con.execute("SELECT max(version) FROM schema_version").fetchall()[0][0] == 7
    con.close()
