"""Every notebook is clean under `marimo check` and runs as a script (exit 0) with no setup or on a store."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from appkit import NOTEBOOKS

APPS = ("ipc_models", "advisor_whatif", "daily_review", "tax_alpha")


def test_every_app_notebook_exists():
    found = {p.stem for p in NOTEBOOKS.glob("*.py")}
    assert set(APPS) <= found


def test_marimo_check_is_clean():
    r = subprocess.run([sys.executable, "-m", "marimo", "check", "--strict", *[str(NOTEBOOKS / f"{a}.py") for a in APPS]],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.strip() == "" or "warning" not in r.stdout.lower(), r.stdout


@pytest.mark.parametrize("name", APPS)
def test_notebooks_are_thin(name):
    """UI, calls and views only: no loops, no mo.state / on_change; imports only in `with app.setup:`."""
    tree = ast.parse((NOTEBOOKS / f"{name}.py").read_text())
    for node in ast.walk(tree):
        assert not isinstance(node, (ast.For, ast.While, ast.AsyncFor)), f"{name}: a loop at line {node.lineno} belongs in overlay_core"
        if isinstance(node, ast.Attribute):
            assert node.attr != "state", f"{name}: mo.state at line {node.lineno}"
        if isinstance(node, ast.keyword):
            assert node.arg != "on_change", f"{name}: on_change at line {node.lineno}"
    for fn in (n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)):
        for inner in ast.walk(fn):
            assert not isinstance(inner, (ast.Import, ast.ImportFrom)), f"{name}: an import inside cell {fn.name} (line {inner.lineno})"


def run_script(name: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(NOTEBOOKS / f"{name}.py")], env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("name", ["ipc_models", "advisor_whatif", "tax_alpha"])
def test_notebook_runs_as_a_script_on_the_demo_book(name, app_env):
    r = run_script(name, app_env)
    assert r.returncode == 0, r.stderr[-3000:]


def test_daily_review_runs_as_a_script_on_a_store(app_env, review_store):
    """(The other apps on a store: the browser tests serve them on the test store.)"""
    r = run_script("daily_review", {**app_env, "OVERLAY_STORE": str(review_store)})
    assert r.returncode == 0, r.stderr[-3000:]


def test_notebook_runs_as_a_script_on_an_upload(app_env, fixture_upload_dir: Path):
    r = run_script("ipc_models", {**app_env, "OVERLAY_UPLOAD": str(fixture_upload_dir)})
    assert r.returncode == 0, r.stderr[-3000:]


@pytest.mark.slow
def test_daily_review_runs_with_no_setup(app_env):
    """No store configured: the demo store (a real review of demo households) is built once, then read."""
    r = run_script("daily_review", app_env)
    assert r.returncode == 0, r.stderr[-3000:]
    assert (Path(app_env["OVERLAY_CACHE_DIR"]) / "demo_store" / "overlay.snapshot.duckdb").is_file()


def test_a_failing_cell_fails_the_script(tmp_path, app_env):
    """The script test can fail: a notebook whose cell raises exits non-zero."""
    bad = tmp_path / "bad.py"
    bad.write_text(
        "import marimo\napp = marimo.App()\n\n@app.cell\ndef _():\n    raise ValueError('boom')\n    return\n\n"
        "if __name__ == '__main__':\n    app.run()\n"
    )
    r = subprocess.run([sys.executable, str(bad)], env=app_env, capture_output=True, text=True, timeout=120)
    assert r.returncode != 0
