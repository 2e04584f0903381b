"""`overlay generate` and `overlay demo` end to end (small books)."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from overlay_core.cli._app import app
from overlay_core.upload import read_upload

runner = CliRunner()


def test_generate_writes_a_loadable_upload(tmp_path: Path) -> None:
    out = tmp_path / "book"
    res = runner.invoke(app, ["generate", "--accounts", "12", "--seed", "5", "--years", "2", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "12 accounts" in " ".join(res.output.split())
    assert (out / "as_of.txt").read_text().strip() == "2026-11-25"
    book = read_upload(out)
    assert book.accounts.height == 12 and book.quarantined.height == 0 and book.warnings == ()


def test_generate_refuses_a_holiday_as_of(tmp_path: Path) -> None:
    res = runner.invoke(app, ["generate", "--accounts", "3", "--as-of", "2026-11-26", "--out", str(tmp_path / "x")])
    assert res.exit_code != 0
    assert not (tmp_path / "x").exists()


def test_demo_prints_the_firm_summary(small_upload: Path) -> None:
    res = runner.invoke(app, ["demo", str(small_upload), "--summary-only"])
    assert res.exit_code == 0, res.output
    for text in ("The firm as of 2026-11-25", "By tax status", "By target", "By advisor", "Customizations", "accounts"):
        assert text in res.output
