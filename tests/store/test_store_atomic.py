"""Atomic writes: a failure anywhere in a save leaves every table and row as it was; read-only refuses writes."""

from __future__ import annotations

import dataclasses

import polars as pl
import pytest

from storekit import logical_dump, make_book
from overlay_core.errors import StoreError
from overlay_core.store import Store, _uploads


class Boom(RuntimeError):
    pass


@pytest.mark.parametrize("fail_at", [1, 4, 8])
def test_a_failure_mid_save_leaves_the_store_logically_unchanged(store_path, monkeypatch, fail_at):
    first = make_book(tag="v1")
    second = make_book(tag="v2", close_bump=1.0, n_days=12)  # new closes, new dates, a new frame column below
    second = dataclasses.replace(second, lots=second.lots.with_columns(note=pl.lit("new column")))
    with Store.open(store_path) as s:
        s.save_upload(first)
    before = logical_dump(store_path)

    real = _uploads._insert_frame
    calls = {"n": 0}

    def failing(con, frame, upload_id, df):
        calls["n"] += 1
        if calls["n"] == fail_at:
            raise Boom(f"injected failure while storing {frame}")
        real(con, frame, upload_id, df)

    monkeypatch.setattr(_uploads, "_insert_frame", failing)
    with Store.open(store_path) as s:
        with pytest.raises(Boom, match="injected failure"):
            s.save_upload(second)
        # the same connection sees nothing of the failed save, and can still write
        assert s.uploads()["upload_id"].to_list() == [first.input_hash[:16]]
    assert calls["n"] == fail_at
    assert logical_dump(store_path) == before
    monkeypatch.setattr(_uploads, "_insert_frame", real)
    with Store.open(store_path) as s:
        s.save_upload(second)
        assert s.uploads().height == 2


def test_a_failure_in_the_price_history_step_rolls_back_too(store_path, monkeypatch):
    with Store.open(store_path) as s:
        s.save_upload(make_book(tag="v1"))
    before = logical_dump(store_path)

    def failing(*args, **kwargs):
        raise Boom("disk went away")

    monkeypatch.setattr(_uploads, "_save_price_history", failing)
    with Store.open(store_path) as s, pytest.raises(Boom):
        s.save_upload(make_book(tag="v2", close_bump=2.0))
    assert logical_dump(store_path) == before


def test_read_only_refuses_every_write(store_path, book):
    with Store.open(store_path) as s:
        uid = s.save_upload(book)
        run = s.begin_run(upload_id=uid, as_of=book.as_of, trade_date=book.trade_date, input_hash=book.input_hash,
                          code_version="t", settings={})
    before = logical_dump(store_path)
    results = pl.DataFrame({"account_id": ["A1"], "decision": ["no_trade"]})
    with Store.open(store_path, read_only=True) as r:
        assert r.read_only
        attempts = {
            "save_upload": lambda: r.save_upload(make_book(tag="v2")),
            "begin_run": lambda: r.begin_run(upload_id=uid, as_of=book.as_of, trade_date=book.trade_date,
                                             input_hash="x", code_version="t", settings={}),
            "save_account_results": lambda: r.save_account_results(run, results),
            "save_accounts": lambda: r.save_accounts(run, results),
            "finish_run": lambda: r.finish_run(run, {}),
            "publish": r.publish,
            "migrate": r.migrate,
        }
        for name, attempt in attempts.items():
            with pytest.raises(StoreError, match="is open read-only"):
                attempt()
        # a raw SQL write through the connection is refused by DuckDB itself
        with pytest.raises(StoreError, match="is open read-only"):
            with r._reading("a raw insert") as con:
                con.execute("INSERT INTO run_events VALUES ('x', 1, 'begin', now()::timestamp, NULL)")
        assert r.load_upload().as_of == book.as_of  # reading works
    assert logical_dump(store_path) == before


def test_the_snapshot_is_read_only_too(store_path, book):
    with Store.open(store_path) as s:
        s.save_upload(book)
    with Store.open_snapshot(store_path) as r:
        assert r.path.name == "overlay.snapshot.duckdb"
        with pytest.raises(StoreError, match="is open read-only"):
            r.save_upload(make_book(tag="v2"))
    with pytest.raises(StoreError, match="is a published snapshot and is read-only"):
        Store.open(r.path)


def test_a_real_database_error_mid_save_is_a_store_error_and_rolls_back(store_path):
    with Store.open(store_path) as s:
        s.save_upload(make_book(tag="v1"))
    before = logical_dump(store_path)
    bad = make_book(tag="v2")
    # `shares` as text that is not a number: DuckDB refuses it while inserting lots, after earlier frames went in
    bad = dataclasses.replace(bad, lots=bad.lots.with_columns(pl.lit("ten").alias("shares")))
    with Store.open(store_path) as s:
        with pytest.raises(StoreError, match="cannot store Book.lots: a column's type does not match the stored table up_lots"):
            s.save_upload(bad)
    assert logical_dump(store_path) == before
