"""Batching accounts: whole households, >= min accounts per batch, balanced by work."""

from __future__ import annotations

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from overlay_core.errors import ConfigError
from overlay_core.review.partition import ACCOUNT_WORK, partition_accounts, partition_book

from review_helpers import make_book


def _accounts(households: list[int]) -> pl.DataFrame:
    ids, hh = [], []
    for h, size in enumerate(households):
        for k in range(size):
            ids.append(f"A{h:04d}-{k}")
            hh.append(f"H{h:04d}" if size > 1 or h % 2 else None)  # some singletons without household_id
    return pl.DataFrame({"account_id": ids, "household_id": hh})


@settings(max_examples=60, deadline=None)
@given(
    households=st.lists(st.integers(min_value=1, max_value=6), min_size=1, max_size=120),
    min_accounts=st.integers(min_value=1, max_value=40),
    lots=st.lists(st.integers(min_value=0, max_value=3000), min_size=1, max_size=50),
)
def test_partition_invariants(households: list[int], min_accounts: int, lots: list[int]) -> None:
    accounts = _accounts(households)
    work = {a: ACCOUNT_WORK + lots[i % len(lots)] for i, a in enumerate(accounts["account_id"].to_list())}
    batches = partition_accounts(accounts, work=work, min_accounts=min_accounts)
    seen = [a for b in batches for a in b.account_ids]
    assert sorted(seen) == sorted(accounts["account_id"].to_list())  # every account exactly once
    hh_of = {a: (h or a) for a, h in accounts.iter_rows()}
    batch_of = {a: b.index for b in batches for a in b.account_ids}
    for a, h in hh_of.items():  # a household never split
        assert {batch_of[x] for x, y in hh_of.items() if y == h} == {batch_of[a]}
    if len(seen) >= min_accounts:
        assert all(len(b) >= min_accounts for b in batches)
    else:
        assert len(batches) == 1
    assert [b.index for b in batches] == list(range(len(batches)))
    assert sum(b.work for b in batches) == pytest.approx(sum(work.values()))


def test_balanced_by_lots_and_deterministic() -> None:
    book = make_book(1000, seed=3)
    batches = partition_book(book, min_accounts=25)
    assert len(batches) >= 30
    works = [b.work for b in batches]
    assert max(works) <= 1.25 * (sum(works) / len(works))  # LPT keeps the heaviest task near the mean
    again = partition_book(book, min_accounts=25)
    assert [b.households for b in again] == [b.households for b in batches]


def test_max_batches_and_skip() -> None:
    book = make_book(300, seed=4)
    assert len(partition_book(book, max_batches=2)) == 2
    done = book.accounts["account_id"].to_list()[:100]
    rest = partition_book(book, skip=done)
    assert not set(done) & {a for b in rest for a in b.account_ids}


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ConfigError, match="min_accounts 0; expected >= 1"):
        partition_accounts(_accounts([1]), min_accounts=0)
    assert partition_accounts(_accounts([]).head(0)) == []
