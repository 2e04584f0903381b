"""The same review through a real Dask cluster: a `dask scheduler` and two `dask worker` processes on
127.0.0.1 (random free ports, one thread each), started here and stopped at the end."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from overlay_core.errors import ConfigError
from overlay_core.review.partition import partition_book
from overlay_core.review.runner import RunStats, outcomes_by_account, run_batches, run_dask

import review_helpers as h

HERE = Path(__file__).resolve().parent
DASK = Path(sys.executable).with_name("dask")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def marker(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("dask") / "crashed"


@pytest.fixture(scope="module")
def cluster(marker: Path):
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]),
           "OVERLAY_TEST_CRASH_MARKER": str(marker),
           "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    procs = [subprocess.Popen([str(DASK), "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)]
    for _ in range(2):
        procs.append(subprocess.Popen(
            [str(DASK), "worker", address, "--nthreads", "1", "--nworkers", "1", "--host", "127.0.0.1",
             "--no-dashboard", "--no-nanny", "--memory-limit", "0"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True))
    try:
        from distributed import Client

        deadline = time.monotonic() + 120
        while True:
            try:
                with Client(address, timeout=10) as c:
                    c.wait_for_workers(2, timeout=max(1.0, deadline - time.monotonic()))
                break
            except (OSError, TimeoutError):
                if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
                    raise
                time.sleep(0.5)
        yield address
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()


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
        run_dask(partition_book(book), h.probe, book, scheduler=f"tcp://127.0.0.1:{_free_port()}", progress=False, timeout=3)
