"""Read-only publishing: a reader holding the snapshot open never blocks the writer, and sees the old state."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

from storekit import assert_books_equal, make_book
from overlay_core.store import Store, snapshot_path

READER = textwrap.dedent(
    """
    import sys
    from overlay_core.store import Store
    path = sys.argv[1]
    r = Store.open_snapshot(path)
    print("open", r.uploads().height, flush=True)
    sys.stdin.readline()                      # the writer saves and publishes meanwhile
    print("same", r.uploads().height, r.load_upload().input_hash[:16], flush=True)
    r.close()
    with Store.open_snapshot(path) as r2:     # reopening shows the new state
        print("reopened", r2.uploads().height, r2.load_upload().input_hash[:16], flush=True)
    """
)


def test_a_reader_open_while_the_writer_saves_and_publishes(store_path):
    first, second = make_book(tag="v1"), make_book(tag="v2", close_bump=1.0)
    with Store.open(store_path) as s:
        s.save_upload(first)
    reader = subprocess.Popen([sys.executable, "-c", READER, str(store_path)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert reader.stdout.readline().split() == ["open", "1"]
        with Store.open(store_path) as s:  # the writer is not blocked by the open reader
            s.save_upload(second)  # commits and publishes a new snapshot
            assert s.uploads().height == 2
        reader.stdin.write("\n")
        reader.stdin.flush()
        assert reader.stdout.readline().split() == ["same", "1", first.input_hash[:16]]
        assert reader.stdout.readline().split() == ["reopened", "2", second.input_hash[:16]]
    finally:
        reader.stdin.close()
        reader.wait(timeout=30)
    assert reader.returncode == 0
    with Store.open_snapshot(store_path) as r:
        assert_books_equal(second, r.load_upload())


def test_publish_is_atomic_and_leaves_no_temporary_file(store_path, book):
    with Store.open(store_path, publish=False) as s:
        s.save_upload(book)
        snap = snapshot_path(store_path)
        assert not snap.exists()  # publishing off: nothing published yet
        (store_path.parent / "overlay.snapshot.duckdb.tmp-99999").write_bytes(b"left by a killed writer")
        assert s.publish() == snap
        inode = os.stat(snap).st_ino
        s.save_upload(make_book(tag="v2"))
        s.publish()
        assert os.stat(snap).st_ino != inode  # replaced by rename, not rewritten in place
    assert sorted(p.name for p in store_path.parent.iterdir()) == ["overlay.duckdb", "overlay.snapshot.duckdb"]
    with Store.open_snapshot(store_path) as r:
        assert r.uploads().height == 2


def test_batch_saves_republish_at_most_every_interval_and_close_publishes(store_path, book):
    import polars as pl

    with Store.open(store_path, publish_interval=3600) as s:
        uid = s.save_upload(book)  # published (an upload always is)
        run = s.begin_run(upload_id=uid, as_of=book.as_of, trade_date=book.trade_date, input_hash=book.input_hash,
                          code_version="t", settings={})
        s.save_accounts(run, pl.DataFrame({"account_id": ["A1"], "decision": ["no_trade"]}))
        with Store.open_snapshot(store_path) as r:
            assert r.runs().height == 0  # the batch is committed but not yet published
    with Store.open_snapshot(store_path) as r:  # close() published it
        assert r.runs()["accounts"].to_list() == [1]
