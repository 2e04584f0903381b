"""write_upload then read_upload gives the same book; the input hash; policy_to_toml."""

from __future__ import annotations

import dataclasses
import datetime as dt
from types import MappingProxyType

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from overlay_core.book import Book
from overlay_core.contract import TABLES
from overlay_core.policy import DEFAULT_POLICY, Policy, ValidationPolicy, parse_policy, policy_to_toml
from overlay_core.upload import read_upload, write_upload


def assert_books_equal(a: Book, b: Book) -> None:
    assert (a.as_of, a.trade_date) == (b.as_of, b.trade_date)
    assert a.policy.to_dict() == b.policy.to_dict()
    for name in TABLES:
        assert_frame_equal(getattr(a, name), getattr(b, name), check_exact=True)


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_round_trip(fixture_upload_dir, tmp_path, fmt):
    book = read_upload(fixture_upload_dir)
    write_upload(book, tmp_path / "out", fmt=fmt)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(
        [f"{t}.{fmt}" for t in TABLES] + ["as_of.txt", "policy.toml"]
    )
    again = read_upload(tmp_path / "out")
    assert_books_equal(book, again)
    assert again.warnings == () and again.quarantined.height == 0


def test_round_trip_switching_format_leaves_one_file_per_table(fixture_upload_dir, tmp_path):
    book = read_upload(fixture_upload_dir)
    write_upload(book, tmp_path / "out", fmt="csv")
    write_upload(book, tmp_path / "out", fmt="parquet")
    assert not list((tmp_path / "out").glob("*.csv"))
    assert_books_equal(book, read_upload(tmp_path / "out"))


def test_default_policy_writes_no_policy_file(fixture_upload_dir, tmp_path):
    book = dataclasses.replace(read_upload(fixture_upload_dir), policy=DEFAULT_POLICY)
    write_upload(book, tmp_path / "out")
    assert not (tmp_path / "out" / "policy.toml").exists()
    assert read_upload(tmp_path / "out").policy == DEFAULT_POLICY


def test_round_trip_of_a_quarantined_and_renormalized_book(upload, tmp_path):
    upload.lenient()
    upload.set("models", 1, "weight", "0.45005")  # renormalized, with a warning
    upload.set("lots", 17, "shares", "-1")  # quarantines A400 (PATEL)
    book = upload.read()
    assert book.quarantined["account_id"].to_list() == ["A400"] and len(book.warnings) == 1
    write_upload(book, tmp_path / "out")
    again = read_upload(tmp_path / "out")
    assert_books_equal(book, again)
    assert again.quarantined.height == 0 and again.warnings == ()


def test_trade_date_is_not_written(fixture_upload_dir, tmp_path):
    book = read_upload(fixture_upload_dir, trade_date=dt.date(2026, 11, 25))
    write_upload(book, tmp_path / "out")
    assert read_upload(tmp_path / "out").trade_date == dt.date(2026, 11, 23)
    assert read_upload(tmp_path / "out", trade_date=dt.date(2026, 11, 25)).trade_date == dt.date(2026, 11, 25)


def test_write_rejects_unknown_format(fixture_upload_dir, tmp_path):
    with pytest.raises(ValueError, match="fmt must be one of csv, parquet"):
        write_upload(read_upload(fixture_upload_dir), tmp_path / "out", fmt="xlsx")


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    cash=st.lists(st.floats(min_value=0, max_value=1e12, allow_nan=False, allow_infinity=False), min_size=5, max_size=5),
    shares=st.floats(min_value=1e-9, max_value=1e9, allow_nan=False, allow_infinity=False),
)
def test_numbers_survive_the_csv_exactly(fixture_upload_dir, tmp_path_factory, cash, shares):
    book = read_upload(fixture_upload_dir)
    book = dataclasses.replace(
        book,
        accounts=book.accounts.with_columns(pl.Series("cash", cash)),
        lots=book.lots.with_columns(pl.when(pl.col("lot_id") == "L1").then(shares).otherwise(pl.col("shares")).alias("shares")),
    )
    out = tmp_path_factory.mktemp("rt")
    write_upload(book, out)
    assert_books_equal(book, read_upload(out))


# ---------------------------------------------------------------------------------------------- the input hash


def test_input_hash_is_stable_and_sensitive(upload, fixture_upload_dir):
    h = read_upload(fixture_upload_dir).input_hash
    assert len(h) == 64 and read_upload(fixture_upload_dir).input_hash == h
    assert upload.read().input_hash == h  # the same bytes in another folder (README.md is not an input)
    assert upload.read(trade_date=dt.date(2026, 11, 24)).input_hash != h
    assert upload.read(policy_override=DEFAULT_POLICY).input_hash != h
    upload.raw("prices.csv", (upload.path / "prices.csv").read_bytes() + b"\n")
    assert upload.read().input_hash != h


def test_policy_override_replaces_the_file(upload):
    upload.raw("policy.toml", b"not toml at all [")
    policy = Policy(validation=ValidationPolicy(max_quarantine_share=0.3))
    assert upload.read(policy_override=policy).policy is policy


# ---------------------------------------------------------------------------------------------- policy_to_toml


def test_policy_to_toml_round_trips():
    policy = Policy(
        validation=ValidationPolicy(weight_tolerance=1e-05, max_quarantine_share=0.1),
        ranges=MappingProxyType({"T 1": MappingProxyType({"us equity": (0.4, 0.6)}), "EMPTY": MappingProxyType({})}),
        approved=MappingProxyType({"us_equity": ("VTI", "ITOT")}),
    )
    text = policy_to_toml(policy)
    back, problems = parse_policy(text)
    assert problems == [] and back.to_dict() == policy.to_dict()
    assert parse_policy(policy_to_toml(DEFAULT_POLICY))[0].to_dict() == DEFAULT_POLICY.to_dict()
