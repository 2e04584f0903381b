"""Faults: the store locked by another writer, a corrupted store file, the disk full while writing outputs.

Each: a clear message (no traceback), nothing committed half-way, the rerun completes, and no earlier
day's data is lost. (A worker killed mid-run, local pool and Dask, and the whole process SIGKILLed
mid-run are tests/review/test_review_runner.py, test_review_dask.py and test_review_resume.py.)
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest

from overlay_core.errors import OverlayError
from overlay_core.export import OutputWriteError, write_trade_file
from overlay_core.store import Store, snapshot_path

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "data" / "fixture_upload"
AS_OF = dt.date(2026, 11, 20)
OVERLAY = [sys.executable, "-c", "from overlay_core.cli import main; main()"]


def overlay(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    env.pop("OVERLAY_STORE", None)
    return subprocess.run([*OVERLAY, *args], capture_output=True, text=True, timeout=timeout, env=env, cwd=ROOT)


def _sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


# --------------------------------------------------------------------------------------------------
# the store locked by another writer


def test_locked_store_gives_a_clear_error_and_the_rerun_completes(tmp_path: Path) -> None:
    store = tmp_path / "s" / "overlay.duckdb"
    first = overlay("load", str(FIXTURE), "--store", str(store))
    assert first.returncode == 0, first.stderr
    holder = subprocess.Popen(
        [sys.executable, "-c", f"from overlay_core.store import Store; s = Store.open({str(store)!r}); print('open', flush=True); "
                               "import time; time.sleep(60)"],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "open"
        second = overlay("load", str(FIXTURE), "--store", str(store), "--as-of", AS_OF.isoformat())
        assert second.returncode == 4, (second.returncode, second.stdout, second.stderr)
        err = second.stderr + second.stdout
        assert "locked" in err and "Traceback" not in err, err
        assert "retry" in err.lower()
        # the daily review too: refused before anything is written
        out = tmp_path / "out"
        rev = overlay("review", str(FIXTURE), "--store", str(store), "--out", str(out), "--workers", "0")
        err = rev.stderr + rev.stdout
        assert rev.returncode == 4 and "locked" in err and "Traceback" not in err, (rev.returncode, err)
        assert not out.exists() or not any(out.iterdir())
    finally:
        holder.kill()
        holder.wait()
    third = overlay("load", str(FIXTURE), "--store", str(store))
    assert third.returncode == 0, third.stderr
    with Store.open(store, read_only=True) as s:
        assert s.uploads().height == 1  # the same upload: stored once, nothing lost, nothing doubled
        assert s.load_upload(as_of=AS_OF).accounts.height > 0


# --------------------------------------------------------------------------------------------------
# a corrupted store file


def test_corrupted_store_is_refused_and_the_snapshot_recovers_earlier_days(tmp_path: Path) -> None:
    store = tmp_path / "s" / "overlay.duckdb"
    assert overlay("load", str(FIXTURE), "--store", str(store)).returncode == 0
    snap = snapshot_path(store)
    assert snap.exists()
    with Store.open_snapshot(store) as s:
        before = s.load_upload(as_of=AS_OF)
    # corrupt the store: overwrite its header and a block in the middle
    data = bytearray(store.read_bytes())
    data[0:4096] = os.urandom(4096)
    mid = len(data) // 2
    data[mid : mid + 4096] = b"\x00" * 4096
    store.write_bytes(bytes(data))
    broken = _sha(store)
    r = overlay("load", str(FIXTURE), "--store", str(store))
    err = r.stderr + r.stdout
    assert r.returncode == 4, (r.returncode, err)
    assert "corrupt" in err and "Traceback" not in err, err
    assert "snapshot" in err  # says how to recover
    assert _sha(store) == broken  # the broken file was not touched further
    with pytest.raises(OverlayError, match="corrupt"):
        Store.open(store)
    # recover as the message says: the snapshot holds every earlier day
    shutil.copy(snap, store)
    with Store.open(store) as s:
        after = s.load_upload(as_of=AS_OF)
    assert after.accounts.equals(before.accounts) and after.lots.equals(before.lots)
    assert overlay("load", str(FIXTURE), "--store", str(store)).returncode == 0


# --------------------------------------------------------------------------------------------------
# the disk full while writing outputs


@pytest.fixture
def small_disk(tmp_path: Path):
    mnt = tmp_path / "small"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mnt)], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a 64 KiB tmpfs here (needs root): {r.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def _orders(n: int) -> pl.DataFrame:
    return pl.DataFrame({
        "account_id": [f"A{i:06d}" for i in range(n)],
        "symbol": ["VOO"] * n,
        "side": ["BUY"] * n,
        "shares": [float(1 + i % 50) for i in range(n)],
        "est_price": [560.0] * n,
        "lot_id": [None] * n,
        "est_realized_gain": [None] * n,
        "term": [None] * n,
        "reason": ["rebalance"] * n,
    }, schema_overrides={"lot_id": pl.String, "est_realized_gain": pl.Float64, "term": pl.String})


def test_disk_full_leaves_no_partial_trade_file_and_keeps_yesterday(small_disk: Path) -> None:
    out = small_disk / "out"
    y_day, t_day = dt.date(2026, 11, 19), AS_OF
    kw = {"run_id": "R", "security_types": {"VOO": "etf"}}
    y = write_trade_file(_orders(20), out, as_of=y_day, trade_date=t_day, **kw)
    y_ok = y.with_name(y.name + ".ok")
    y_sha, y_ok_text = _sha(y), y_ok.read_text()
    # today's file is far larger than the space left (64 KiB)
    with pytest.raises(OutputWriteError, match=r"cannot write .*trades_2026-11-20\.csv: No space left on device .*nothing was written") as ei:
        write_trade_file(_orders(3000), out, as_of=t_day, trade_date=dt.date(2026, 11, 23), **kw)
    assert isinstance(ei.value, OSError) and isinstance(ei.value, OverlayError)
    names = sorted(p.name for p in out.iterdir())
    assert names == [y.name, y_ok.name], names  # no partial csv, no .ok, no temp file
    assert _sha(y) == y_sha and y_ok.read_text() == y_ok_text
    # the rerun after space is freed completes (here: a smaller day fits)
    t = write_trade_file(_orders(200), out, as_of=t_day, trade_date=dt.date(2026, 11, 23), **kw)
    ok = t.with_name(t.name + ".ok").read_text()
    assert f"sha256={_sha(t)}" in ok and "rows=200" in ok


def test_file_size_limit_is_a_clear_error_in_a_subprocess(tmp_path: Path) -> None:
    """RLIMIT_FSIZE (no mount needed): the write fails with EFBIG; the CLI-style boundary prints one line."""
    code = f"""
import resource, sys, datetime as dt
sys.path.insert(0, {str(Path(__file__).parent)!r})
from test_reliability_faults import _orders
from overlay_core.cli._app import report_error
from overlay_core.errors import OverlayError
from overlay_core.export import write_trade_file
resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))
try:
    write_trade_file(_orders(2000), {str(tmp_path / 'out')!r}, as_of=dt.date(2026, 11, 20), run_id='R',
                     trade_date=dt.date(2026, 11, 23), security_types={{'VOO': 'etf'}})
except OverlayError as exc:
    sys.exit(report_error(exc))
"""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env={**os.environ, "COLUMNS": "300"})
    assert r.returncode == 1, (r.returncode, r.stderr)
    assert "cannot write" in r.stderr and "trades_2026-11-20.csv" in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert [p.name for p in (tmp_path / "out").iterdir()] == []
