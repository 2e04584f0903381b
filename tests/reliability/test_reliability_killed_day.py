"""The whole `overlay review` process SIGKILLed on day 2, writing into the same store and output folder as
day 1: day 1's files, run and upload are untouched, day 2 leaves no trade file, and the rerun completes.
(The single-day kill and resume is tests/review/test_review_daily_kill.py.)
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from overlay_core.store import Store
from overlay_core.upload import write_upload

sys.path.insert(0, str(Path(__file__).resolve().parent))
from strategies import AS_OF, BookSpec, make_book  # noqa: E402

OVERLAY = [sys.executable, "-c", "from overlay_core.cli import main; main()"]
DAY2, TRADE2 = dt.date(2026, 11, 23), dt.date(2026, 11, 24)


def _review(upload: Path, out: Path, store: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [*OVERLAY, "review", str(upload), "--out", str(out), "--store", str(store), "--workers", "1", "--min-batch", "10"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "COLUMNS": "200"}, start_new_session=True,
    )


def _sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def test_a_review_killed_on_day_two_loses_nothing_of_day_one(tmp_path: Path) -> None:
    book1 = make_book(BookSpec(seed=21, n_securities=8, scenarios=("plain", "pending", "recent_buys", "tiny") * 15))
    up1, up2 = tmp_path / "day1", tmp_path / "day2"
    write_upload(book1, up1)
    book2 = dataclasses.replace(book1, as_of=DAY2, trade_date=TRADE2, prices=book1.prices.with_columns(pl.lit(DAY2).alias("date")))
    write_upload(book2, up2)
    out, store = tmp_path / "out", tmp_path / "store" / "overlay.duckdb"
    p1 = _review(up1, out, store)
    _, err1 = p1.communicate(timeout=600)
    assert p1.returncode == 0, err1
    day1 = {p.name: _sha(p) for p in out.iterdir()}
    assert f"trades_{AS_OF}.csv" in day1 and f"trades_{AS_OF}.csv.ok" in day1
    with Store.open(store, publish=False) as s:
        run1 = s.runs(as_of=AS_OF)["run_id"][0]
        res1, ord1 = s.run_results(run1), s.run_orders(run1)
    # day 2, SIGKILLed after its first stored batch
    p2 = _review(up2, out, store)
    assert p2.stderr is not None
    killed = False
    for line in p2.stderr:
        if line.startswith("stored batch"):
            os.killpg(p2.pid, signal.SIGKILL)
            killed = True
            break
    p2.wait(timeout=60)
    if not killed:
        pytest.skip("day 2 finished before a batch was reported (nothing to kill)")
    assert p2.returncode == -signal.SIGKILL
    # day 1 untouched: files byte for byte, run and orders identical
    assert {p.name: _sha(p) for p in out.iterdir() if p.name in day1} == day1
    assert not (out / f"trades_{DAY2}.csv").exists() and not (out / f"trades_{DAY2}.csv.ok").exists()
    assert not [p.name for p in out.iterdir() if p.name.endswith(".tmp")]
    with Store.open(store, publish=False) as s:
        assert s.run_results(run1).drop("saved_at").equals(res1.drop("saved_at"))
        assert s.run_orders(run1).equals(ord1)
        assert s.load_upload(as_of=AS_OF).accounts.height == book1.accounts.height
        run2 = s.runs(as_of=DAY2)["run_id"][0]
        assert s.run_info(run2)["status"] == "open"
    # the rerun of day 2 completes; day 1 still untouched
    p3 = _review(up2, out, store)
    _, err3 = p3.communicate(timeout=600)
    assert p3.returncode == 0, err3
    assert (out / f"trades_{DAY2}.csv.ok").exists()
    assert {p.name: _sha(p) for p in out.iterdir() if p.name in day1} == day1
    with Store.open(store, publish=False) as s:
        assert s.run_info(run2)["status"] == "finished"
        assert s.run_results(run2).height == book2.accounts.height
        assert s.run_orders(run1).equals(ord1)
