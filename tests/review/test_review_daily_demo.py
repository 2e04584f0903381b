"""`overlay demo` end to end on the embedded 1,000-account demo book, from an empty folder (no setup):
the trade file passes the independent checker, the review file has every account. Slow (the whole
book is optimized): marked `slow`."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest

from overlay_core.demo.generate import demo_upload_dir
from overlay_core.upload import read_upload

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "checker"))
from trade_checker import check_trade_file  # noqa: E402

OVERLAY = Path(sys.executable).with_name("overlay")


@pytest.mark.slow
def test_overlay_demo_from_an_empty_folder(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "OVERLAY_STORE"} | {"COLUMNS": "160"}
    p = subprocess.run([str(OVERLAY), "demo"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=1800)
    assert p.returncode == 0, p.stderr
    book = read_upload(demo_upload_dir())
    out = tmp_path / "out" / "demo"
    trades = out / f"trades_{book.as_of}.csv"
    assert trades.exists() and (tmp_path / "overlay_store" / "overlay.duckdb").exists()
    for text in ("accounts reviewed", "traded", "within bands", str(trades.relative_to(tmp_path))):
        assert text in p.stdout
    assert check_trade_file(demo_upload_dir(), trades) == []
    with (out / f"review_{book.as_of}.csv").open() as f:
        ids = [r["account_id"] for r in csv.DictReader(f)]
    assert sorted(ids) == sorted(book.account_ids()) and len(ids) == 1000
