"""`overlay review` SIGKILLed midway (the whole process, after some batches are stored), then rerun:
the rerun completes with nothing lost or duplicated, and its files equal an uninterrupted run's."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from overlay_core.store import Store

import review_daily_helpers as h

OVERLAY = Path(sys.executable).with_name("overlay")


def _review(upload: Path, out: Path, store: Path, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.Popen(
        [str(OVERLAY), "review", str(upload), "--out", str(out), "--store", str(store), "--workers", "1", "--min-batch", "10", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, start_new_session=True,
    )


def _rows(path: Path) -> list[list[str]]:
    with path.open(newline="") as f:
        return list(csv.reader(f))


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(tmp_path_factory.getbasetemp() / "review_daily")


def test_a_killed_review_resumes_with_nothing_lost_or_duplicated(root: str, tmp_path: Path) -> None:
    upload = h.upload(root)
    book = h.book(root)
    store = tmp_path / "store.duckdb"
    # 1. the whole process SIGKILLed after two batches are stored
    p = _review(upload, tmp_path / "killed", store)
    stored = 0
    assert p.stderr is not None
    for line in p.stderr:
        if line.startswith("stored batch"):
            stored += 1
            if stored == 2:
                os.killpg(p.pid, signal.SIGKILL)
                break
    p.wait(timeout=60)
    assert stored == 2 and p.returncode == -signal.SIGKILL, "the review finished before it could be killed"
    assert not (tmp_path / "killed" / f"trades_{book.as_of}.csv").exists()
    with Store.open(store, publish=False) as s:
        run_id = s.runs()["run_id"][0]
        partial = s.run_results(run_id)
        partial_orders = s.run_orders(run_id)
    optimized_then = partial.filter(pl.col("solver").is_not_null()).height
    assert 0 < partial.height < h.N_ACCOUNTS and optimized_then > 0
    # no half-stored account: every stored order belongs to a stored trade account, with its n_orders
    n = dict(partial.select("account_id", "n_orders").iter_rows())
    counts = partial_orders.group_by("account_id").len()
    assert all(n[a] == c for a, c in counts.iter_rows())
    # 2. the rerun resumes and completes
    p2 = _review(upload, tmp_path / "resumed", store)
    out2, err2 = p2.communicate(timeout=900)
    assert p2.returncode == 0, err2
    with Store.open(store, publish=False) as s:
        assert s.runs()["run_id"].to_list() == [run_id]
        final = s.run_results(run_id)
        orders = s.run_orders(run_id)
        info = s.run_info(run_id)
    assert final.height == h.N_ACCOUNTS and final["account_id"].n_unique() == h.N_ACCOUNTS
    assert info["status"] == "finished" and info["summary"]["resumed"] > 0
    # the accounts stored before the kill were not redone (first write wins, saved_at unchanged)
    kept = final.join(partial.select("account_id", pl.col("saved_at").alias("was")), on="account_id")
    assert kept.height == partial.height and (kept["saved_at"] == kept["was"]).all()
    assert orders.select("account_id", "lot_id", "symbol", "side").is_duplicated().sum() == 0
    # 3. an uninterrupted run (another store) writes the same trade file (same run id: same inputs)
    p3 = _review(upload, tmp_path / "straight", tmp_path / "other.duckdb")
    _, err3 = p3.communicate(timeout=900)
    assert p3.returncode == 0, err3
    name = f"trades_{book.as_of}.csv"
    assert _rows(tmp_path / "resumed" / name) == _rows(tmp_path / "straight" / name)
    assert len(_rows(tmp_path / "resumed" / name)) - 1 == orders.height
    rv = f"review_{book.as_of}.csv"
    assert _rows(tmp_path / "resumed" / rv) == _rows(tmp_path / "straight" / rv)


def test_a_refused_upload_exits_2_and_stores_nothing(tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "as_of.txt").write_text("2026-11-25\n")
    p = _review(bad, tmp_path / "out", tmp_path / "s.duckdb")
    _, err = p.communicate(timeout=120)
    assert p.returncode == 2, err
    assert "accounts" in err
    assert not (tmp_path / "out").exists() and not (tmp_path / "s.duckdb").exists()
