"""The batch runner: a real local process pool (spawn), failure isolation, crash retry, whole households."""

from __future__ import annotations

from pathlib import Path

import pytest

from overlay_core.errors import ConfigError
from overlay_core.review.partition import partition_book
from overlay_core.review.runner import RunStats, outcomes_by_account, per_account, run_batches

import review_helpers as h


@pytest.fixture(scope="module")
def book():
    return h.make_book(160, seed=7)


@pytest.fixture(scope="module")
def batches(book):
    return partition_book(book, min_accounts=25)


@pytest.fixture(scope="module")
def expected(book):
    return {a: h.holdings_value(book, a) for a in book.account_ids()}


def test_local_pool_isolates_failures_and_keeps_households_whole(book, batches, expected) -> None:
    seen: list[int] = []
    stats = RunStats()
    results = run_batches(batches, h.probe, book, workers=2, progress=False, on_batch=lambda r: seen.append(r.index), stats=stats)
    got = outcomes_by_account(results)
    assert set(got) == set(expected)
    assert sorted(seen) == [b.index for b in batches]  # every batch reached the driver once
    hh_of = dict(zip(book.accounts["account_id"].to_list(), book.accounts["household_id"].to_list()))
    for a, o in got.items():
        if a.endswith("7"):  # one account raising gets its error; the others complete
            assert not o.ok and o.error == f"ValueError: account {a}: no price for a held symbol"
            continue
        pid, group, value = o.value
        assert o.ok and value == expected[a]
        assert set(group) == {x for x, y in hh_of.items() if y == hh_of[a]}  # the whole household, together
    for r in results:
        assert len({o.value[0] for o in r.outcomes if o.ok}) == 1  # one batch, one worker process
        assert r.worker.startswith("pid ")
    assert stats.accounts == len(expected) and stats.errors == sum(a.endswith("7") for a in expected)


def test_a_crashed_worker_is_detected_and_its_batches_retried(book, batches, expected, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OVERLAY_TEST_CRASH_MARKER", str(tmp_path / "crashed"))
    stats = RunStats()
    results = run_batches(batches, per_account(h.crash_once), book, workers=2, progress=False, stats=stats)
    assert (tmp_path / "crashed").exists()  # the worker really died once
    got = outcomes_by_account(results)
    failed = {a: o.error for a, o in got.items() if not o.ok}
    assert not failed, (failed, stats)
    assert {a: o.value for a, o in got.items()} == expected
    assert stats.retried_batches >= 1 and stats.lost_batches == 0
    assert max(r.attempts for r in results) == 2


def test_a_batch_that_always_crashes_gets_errors_and_others_complete(book, batches, expected) -> None:
    stats = RunStats()
    results = run_batches(batches, per_account(h.crash_always), book, workers=2, progress=False, stats=stats)
    got = outcomes_by_account(results)
    assert set(got) == set(expected)
    bad = next(b for b in batches if "A00010" in b.account_ids)
    for a, o in got.items():
        if a in bad.account_ids:  # the culprit's batch, pinned by its second, lone attempt
            assert not o.ok and "worker process died twice" in (o.error or "")
        else:  # every other batch completes, including those lost beside it in the first crash
            assert o.ok and o.value == expected[a]
    assert stats.lost_batches == 1 and stats.retried_batches >= 1


def test_inline_gives_the_same_results(book, batches, expected) -> None:
    results = run_batches(batches, per_account(h.holdings_value), book, workers=0, progress=False)
    assert {a: o.value for a, o in outcomes_by_account(results).items()} == expected


def test_fork_is_refused(book, batches) -> None:
    with pytest.raises(ConfigError, match="context 'fork'; expected spawn or forkserver"):
        run_batches(batches, per_account(h.holdings_value), book, workers=1, progress=False, context="fork")
