"""`overlay load`: exit codes 0 / 2 / 3, the tables it prints, and the store it writes (or leaves alone)."""

from __future__ import annotations

import subprocess
import sys

import pytest
from typer.testing import CliRunner

from overlay_core.cli import app

runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, ["load", *args], catch_exceptions=False, terminal_width=200)


def test_clean_load_exits_0(fixture_upload_dir):
    result = run(str(fixture_upload_dir), "--no-store")
    assert result.exit_code == 0, result.output
    assert "Upload of 2026-11-20 (trade date 2026-11-23)" in result.output
    assert "475,800.00" in result.output  # book value, as in the fixture's README
    assert "loaded" in result.output


def test_refused_load_exits_2_with_a_problem_table(upload):
    upload.set("prices", 2, "close", "abc")
    result = run(str(upload.path), "--no-store")
    assert result.exit_code == 2
    assert "upload refused" in result.output
    assert "prices.csv" in result.output and "'abc'" in result.output and "a number" in result.output
    assert "Traceback" not in result.output


def test_quarantine_exits_3_and_lists_the_household(upload):
    upload.lenient()
    upload.set("accounts", 2, "cash", "-5")  # A101: household SMITH
    result = run(str(upload.path), "--no-store")
    assert result.exit_code == 3, result.output
    assert "Quarantined accounts" in result.output
    assert "A100" in result.output and "A101" in result.output and "household SMITH" in result.output


def test_as_of_and_trade_date_options(fixture_upload_dir):
    result = run(str(fixture_upload_dir), "--no-store", "--as-of", "2026-11-20", "--trade-date", "2026-11-24")
    assert result.exit_code == 0 and "trade date 2026-11-24" in result.output
    result = run(str(fixture_upload_dir), "--no-store", "--as-of", "2026-11-19")
    assert result.exit_code == 2 and "as_of.txt" in result.output
    result = run(str(fixture_upload_dir), "--no-store", "--as-of", "20.11.2026")
    assert result.exit_code == 2 and "expected a date YYYY-MM-DD" in result.output


def test_missing_folder_exits_2(tmp_path):
    result = run(str(tmp_path / "nope"), "--no-store")
    assert result.exit_code == 2 and "no such folder" in result.output


def test_store_keeps_loads_and_a_refused_one_changes_nothing(upload, fixture_upload_dir, tmp_path):
    from overlay_core.store import Store

    store = tmp_path / "store" / "overlay.duckdb"
    result = run(str(fixture_upload_dir), "--store", str(store))
    assert result.exit_code == 0, result.output
    assert "stored as upload" in result.output
    with Store.open(store, read_only=True) as st:
        before = st.uploads()
    assert before.height == 1
    upload.set("lots", 1, "shares", "many")
    assert run(str(upload.path), "--store", str(store)).exit_code == 2
    with Store.open(store, read_only=True) as st:
        after = st.uploads()
    assert after.drop("latest").equals(before.drop("latest"))
    # loading the same upload again stores nothing new (same input hash)
    assert run(str(fixture_upload_dir), "--store", str(store)).exit_code == 0
    with Store.open(store, read_only=True) as st:
        assert st.uploads().height == 1


@pytest.mark.slow
def test_console_script_exit_code(upload):
    upload.set("securities", 1, "type", "stock")
    proc = subprocess.run(
        [sys.executable, "-c", "from overlay_core.cli import main; main()", "load", str(upload.path), "--no-store"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and "securities.csv" in proc.stderr
