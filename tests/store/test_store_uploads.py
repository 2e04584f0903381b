"""Uploads: exact round trips, versions of an as_of, idempotent saves, deduplicated price history."""

from __future__ import annotations

import dataclasses
import hashlib
import datetime as dt
import itertools

import duckdb
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from storekit import AS_OF, assert_books_equal, make_book
from overlay_core.errors import StoreError
from overlay_core.store import Store
from overlay_core.store._uploads import upload_id_of


def _count(path, table: str) -> int:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    finally:
        con.close()


def test_round_trip_every_field_exactly(store_path, book):
    with Store.open(store_path) as s:
        uid = s.save_upload(book)
        assert uid == book.input_hash[:16]
        back = s.load_upload(upload_id=uid)
    assert_books_equal(book, back)
    # and from a fresh process' point of view: reopen the file
    with Store.open(store_path, read_only=True) as s:
        assert_books_equal(book, s.load_upload(as_of=AS_OF))


def test_fixture_upload_round_trips(store_path, fixture_upload_dir):
    from overlay_core.upload import read_upload

    book = read_upload(fixture_upload_dir)
    with Store.open(store_path) as s:
        uid = s.save_upload(book)
        assert_books_equal(book, s.load_upload(upload_id=uid))
        row = s.uploads().row(0, named=True)
    assert row["accounts"] == book.accounts.height and row["lots"] == book.lots.height
    assert row["as_of"] == book.as_of and row["upload_id"] == book.input_hash[:16]


def test_saving_the_same_upload_twice_is_a_no_op(store_path, book):
    with Store.open(store_path) as s:
        first = s.save_upload(book)
        lots = _count_open(s, "up_lots")
        again = s.save_upload(dataclasses.replace(book))
        assert again == first
        assert _count_open(s, "up_lots") == lots == book.lots.height
        assert s.uploads().height == 1


def _count_open(s: Store, table: str) -> int:
    return s._connection().execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]


def test_versions_of_an_as_of_latest_by_default_nothing_overwritten(store_path):
    v1 = make_book(tag="v1")
    v2 = make_book(tag="v2", close_bump=0.5)  # a corrected re-upload of the same day: new cash, new closes
    other = make_book(AS_OF - dt.timedelta(days=1), tag="prev", n_days=9)
    with Store.open(store_path) as s:
        id1, id_prev, id2 = s.save_upload(v1), s.save_upload(other), s.save_upload(v2)
        assert len({id1, id2, id_prev}) == 3
        assert_books_equal(v2, s.load_upload(as_of=AS_OF))
        assert_books_equal(v2, s.load_upload())
        assert_books_equal(v1, s.load_upload(upload_id=id1))
        assert_books_equal(v1, s.load_upload(upload_id=v1.input_hash))  # the full hash works too
        assert_books_equal(v1, s.load_upload(upload_id=id1[:6]))  # and a unique prefix
        assert_books_equal(other, s.load_upload(as_of=other.as_of))
        ups = s.uploads()
        assert ups["upload_id"].to_list() == [id_prev, id1, id2]
        assert ups["latest"].to_list() == [True, False, True]
        assert ups.columns[:6] == ["upload_id", "as_of", "trade_date", "saved_at", "accounts", "lots"]
        assert s.previous_upload(AS_OF) == id_prev
        assert s.previous_upload(other.as_of) is None
        # the latest close of each (date, symbol) is v2's
        latest = s.price_history_latest(start=AS_OF - dt.timedelta(days=20))
        assert_frame_equal(latest.filter(pl.col("date").is_in(v2.price_history["date"].unique().implode())),
                           v2.price_history)


def test_load_errors_name_what_is_missing(store_path, book):
    with Store.open(store_path) as s:
        with pytest.raises(StoreError, match="no upload yet"):
            s.load_upload()
        s.save_upload(book)
        with pytest.raises(StoreError, match=r"no upload of as_of 2025-01-01 \(latest stored: 2026-01-02\)"):
            s.load_upload(as_of=dt.date(2025, 1, 1))
        with pytest.raises(StoreError, match="no upload with id 'nope'"):
            s.load_upload(upload_id="nope")
        with pytest.raises(StoreError, match="is of as_of 2026-01-02, not 2026-01-05"):
            s.load_upload(upload_id=book.input_hash[:16], as_of=dt.date(2026, 1, 5))


def test_a_book_without_input_hash_is_keyed_by_its_content(store_path, book):
    plain = dataclasses.replace(book, input_hash="")
    changed = dataclasses.replace(plain, lots=plain.lots.with_columns(pl.col("shares") * 2))
    with Store.open(store_path) as s:
        a = s.save_upload(plain)
        assert s.save_upload(dataclasses.replace(plain)) == a
        b = s.save_upload(changed)
        assert a != b
        assert_books_equal(plain, s.load_upload(upload_id=a))  # input_hash comes back empty, as given
        assert_books_equal(changed, s.load_upload(upload_id=b))


def test_daily_price_history_is_stored_once(store_path):
    """Ten consecutive days of a rolling 60-day window: ~70 distinct closes per symbol, not 600."""
    books = []
    day = dt.date(2026, 3, 2)
    while len(books) < 10:
        if day.weekday() < 5:
            books.append(make_book(day, tag=f"d{day}", n_days=60))
        day += dt.timedelta(days=1)
    with Store.open(store_path) as s:
        ids = [s.save_upload(b) for b in books]
        # every stored close is distinct by (date, symbol): history is not copied per upload
        n_points = _count_open(s, "price_points")
        n_runs = _count_open(s, "upload_price_runs")
        assert n_points == 69 * 3
        assert n_runs == 10 * 3  # one run of dates per symbol and upload
        for b, i in zip(books, ids):
            assert_frame_equal(b.price_history, s.load_upload(upload_id=i).price_history)


def test_price_history_layouts_other_than_date_symbol(store_path, book):
    ph = book.price_history
    by_symbol = dataclasses.replace(book, input_hash="1" * 64, price_history=ph.sort("symbol", "date"))
    shuffled = dataclasses.replace(book, input_hash="2" * 64, price_history=ph.sample(fraction=1.0, shuffle=True, seed=3))
    extra = dataclasses.replace(book, input_hash="3" * 64, price_history=ph.with_columns(volume=pl.lit(7.0)))
    with Store.open(store_path) as s:
        for b in (by_symbol, shuffled, extra):
            uid = s.save_upload(b)
            assert_frame_equal(b.price_history, s.load_upload(upload_id=uid).price_history)
        layouts = dict(s._connection().execute("SELECT input_hash, price_history_layout FROM uploads").fetchall())
    assert layouts == {"1" * 64: "symbol_date", "2" * 64: "copy", "3" * 64: "copy"}


def test_a_frame_with_an_extra_column_round_trips_and_others_are_unaffected(store_path, book):
    wide = dataclasses.replace(book, input_hash="4" * 64, lots=book.lots.with_columns(note=pl.lit("x")))
    with Store.open(store_path) as s:
        s.save_upload(book)
        s.save_upload(wide)
        assert_books_equal(wide, s.load_upload(upload_id="4" * 16))
        assert_books_equal(book, s.load_upload(upload_id=book.input_hash[:16]))


def test_reserved_column_names_are_refused(store_path, book):
    bad = dataclasses.replace(book, lots=book.lots.with_columns(row_nr=pl.lit(1)))
    with Store.open(store_path) as s:
        with pytest.raises(StoreError, match="Book.lots has a column named 'row_nr'"):
            s.save_upload(bad)
        assert s.uploads().height == 0


def test_upload_id_is_a_prefix_of_a_hex_hash_and_longer_when_taken(store_path, book):
    assert upload_id_of("ab" * 32) == "ab" * 8
    assert len(upload_id_of("not hex")) == 16
    twin = dataclasses.replace(book, input_hash=book.input_hash[:16] + "0" * 48, lots=book.lots.head(1))
    with Store.open(store_path) as s:
        a, b = s.save_upload(book), s.save_upload(twin)
        assert a == book.input_hash[:16] and b == twin.input_hash[:24]
        assert_books_equal(twin, s.load_upload(upload_id=b))
        assert_books_equal(book, s.load_upload(upload_id=a))


closes = st.floats(min_value=0.01, max_value=1e6, allow_nan=False, allow_infinity=False)
_hash_counter = itertools.count(1)


@pytest.fixture(scope="module")
def shared_store(tmp_path_factory):
    """One store for every example: uploads of different examples interleave in its price table too."""
    with Store.open(tmp_path_factory.mktemp("ph") / "s.duckdb", publish=False) as s:
        yield s


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    versions=st.lists(
        st.dictionaries(
            st.tuples(st.integers(0, 12), st.sampled_from(["AAA", "BBB", "C.D"])), closes, min_size=0, max_size=25
        ),
        min_size=1,
        max_size=5,
    )
)
def test_price_history_versions_round_trip_exactly(shared_store, versions):
    """Uploads whose histories overlap, have holes, revise closes and revert them: each reads back as saved."""
    base = make_book()
    books = []
    for points in versions:
        ph = pl.DataFrame(
            {"date": [AS_OF - dt.timedelta(days=d) for d, _ in points], "symbol": [s for _, s in points],
             "close": list(points.values())},
            schema={"date": pl.Date, "symbol": pl.String, "close": pl.Float64},
        ).sort("date", "symbol")
        books.append(dataclasses.replace(base, input_hash=hashlib.sha256(str(next(_hash_counter)).encode()).hexdigest(), price_history=ph))
    ids = [shared_store.save_upload(b) for b in books]
    for b, uid in zip(books, ids):
        assert_frame_equal(b.price_history, shared_store.load_upload(upload_id=uid).price_history, check_exact=True)


def test_a_history_with_a_hole_is_stored_as_runs_and_read_back_without_the_hole(store_path, book):
    full = book.price_history
    days = sorted(full["date"].unique())
    holed = full.filter(~((pl.col("date") == days[4]) & (pl.col("symbol") == "BBB")))
    revised = full.with_columns(pl.when(pl.col("date") == days[4]).then(pl.col("close") + 1).otherwise("close"))
    b1 = dataclasses.replace(book, input_hash="a" * 64)
    b2 = dataclasses.replace(book, input_hash="b" * 64, price_history=holed)
    b3 = dataclasses.replace(book, input_hash="c" * 64, price_history=revised)
    with Store.open(store_path) as s:
        ids = [s.save_upload(b) for b in (b1, b2, b3)]
        runs = dict(s._connection().execute(
            "SELECT upload_id, count(*) FROM upload_price_runs GROUP BY upload_id").fetchall())
        assert runs == {ids[0]: 3, ids[1]: 4, ids[2]: 3}  # BBB of b2 is two runs around its hole
        assert _count_open(s, "price_points") == full.height + 3  # only b3's revised closes are new rows
        for b, uid in zip((b1, b2, b3), ids):
            assert_frame_equal(b.price_history, s.load_upload(upload_id=uid).price_history)
