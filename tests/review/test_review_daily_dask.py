"""The daily review through a real Dask cluster (a `dask scheduler` and two `dask worker --nthreads 1`
on 127.0.0.1, started here and stopped at the end) gives the same trades as the local pool."""

from __future__ import annotations

from pathlib import Path

import polars as pl
from polars.testing import assert_frame_equal
import pytest

from overlay_core.contract import TRADE_FILE_COLUMNS
from overlay_core.review.daily import review_book

import review_daily_helpers as h
from review_dask_cluster import local_cluster


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(tmp_path_factory.getbasetemp() / "review_daily")


@pytest.fixture(scope="module")
def cluster():
    with local_cluster(workers=2, nanny=True) as address:
        yield address


def test_dask_and_the_local_pool_give_the_same_review(root: str, cluster: str, tmp_path: Path) -> None:
    book = h.book(root)
    local = review_book(book, store=None, out_dir=tmp_path / "local", workers=2, progress=False)
    remote = review_book(book, store=None, out_dir=tmp_path / "dask", scheduler=cluster, progress=False)
    assert remote.stats["optimized_now"] == local.stats["optimized_now"] > 0
    # the batches ran on the cluster's workers; not necessarily on both: on a loaded machine Dask's work
    # stealing may move every batch to the worker that started first (seen once in a full run at load 5+)
    from distributed import Client

    with Client(cluster, timeout=10) as c:
        cluster_workers = set(c.scheduler_info()["workers"])
    assert 1 <= len(remote.stats["workers"]) <= 2 and set(remote.stats["workers"]) <= cluster_workers
    cols = list(TRADE_FILE_COLUMNS)
    assert remote.orders.select(cols).equals(local.orders.select(cols))
    exact = ["account_id", "decision", "reasons", "n_orders"]
    assert remote.results.select(exact).equals(local.results.select(exact))
    # the Dask workers build their own risk model (the local pool gets the driver's): same to rounding
    floats = ["est_tax", "losses_harvested", "turnover", "te_before", "te_after", "drift_before", "drift_after"]
    assert_frame_equal(remote.results.select(floats), local.results.select(floats), abs_tol=1e-9, rel_tol=1e-9)
    name = f"trades_{book.as_of}.csv"
    assert (tmp_path / "dask" / name).read_bytes() == (tmp_path / "local" / name).read_bytes()
    expected_errors = sorted([*book.quarantined["account_id"].to_list(), h.REFUSED_ACCOUNT])
    assert remote.results.filter(pl.col("decision") == "error")["account_id"].to_list() == expected_errors
