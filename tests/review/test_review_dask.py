"""The same review through a real Dask cluster: a `dask scheduler` and two `dask worker` processes on
127.0.0.1 (random free ports, one thread each), started here and stopped at the end."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from overlay_core.errors import ConfigError
from overlay_core.review.partition import partition_book
from overlay_core.review.runner import RunStats, outcomes_by_account, run_batches, run_dask

import review_helpers as h
from review_dask_cluster import free_port, local_cluster

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def marker(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("dask") / "crashed"


@pytest.fixture(scope="module")
def cluster(marker: Path):
    env = {"PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]), "OVERLAY_TEST_CRASH_MARKER": str(marker)}
    with local_cluster(env, workers=2, nanny=False) as address:
        yield address


def test_dask_gives_the_same_results_as_the_local_run(cluster: str) -> None:
    book = h.make_book(160, seed=7)
    batches = partition_book(book, min_accounts=25)
    local = outcomes_by_account(run_batches(batches, h.probe, book, workers=0, progress=False))
    stats = RunStats()
    seen: list[int] = []
    remote = outcomes_by_account(
        run_batches(batches, h.probe, book, scheduler=cluster, progress=False, stats=stats, on_batch=lambda r: seen.append(r.index))
    )
    assert set(remote) == set(local)
    for a in local:
        lo, re_ = local[a], remote[a]
        assert (lo.ok, lo.error) == (re_.ok, re_.error)
        if lo.ok:
            assert lo.value[1:] == re_.value[1:]  # same household group and value (the pid differs)
    assert sorted(seen) == [b.index for b in batches]
    assert stats.errors == sum(a.endswith("7") for a in local) and stats.lost_batches == 0
    assert all(w.startswith("tcp://127.0.0.1:") for w in stats.workers)


def test_a_worker_killed_midway_loses_nothing(cluster: str, marker: Path) -> None:
    """Runs last in this module: one of the two workers dies (os._exit) on account A00010 and is not
    restarted (no nanny); the scheduler reschedules its tasks on the other worker."""
    from overlay_core.review.runner import per_account

    book = h.make_book(160, seed=7)
    batches = partition_book(book, min_accounts=25)
    stats = RunStats()
    got = outcomes_by_account(run_batches(batches, per_account(h.crash_once), book, scheduler=cluster, progress=False, stats=stats))
    assert marker.exists()  # a worker really died
    assert {a: o.value for a, o in got.items() if o.ok} == {a: h.holdings_value(book, a) for a in book.account_ids()}
    assert stats.errors == 0 and stats.lost_batches == 0


def test_unreachable_scheduler_is_a_clear_error() -> None:
    book = h.make_book(30, seed=1)
    with pytest.raises(ConfigError, match="cannot connect to the Dask scheduler at tcp://127.0.0.1:"):
        run_dask(partition_book(book), h.probe, book, scheduler=f"tcp://127.0.0.1:{free_port()}", progress=False, timeout=3)
