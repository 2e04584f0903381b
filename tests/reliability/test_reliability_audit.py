"""`overlay audit`: one account's review of one day from the store alone, and the stored inputs rerun
reproduce the same orders."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from overlay_core.audit import AuditError, audit_account, audit_text, rerun_orders
from overlay_core.review.daily import review_book
from overlay_core.store import Store

sys.path.insert(0, str(Path(__file__).resolve().parent))
from strategies import AS_OF, BookSpec, upload_book  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
KEY = ["account_id", "symbol", "side", "lot_id"]


@pytest.fixture(scope="module")
def reviewed(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("audit")
    scen = ("plain", "pending", "gain_budget", "conflict", "recent_buys", "huge", "tiny", "plain") * 5
    book = upload_book(BookSpec(seed=3, n_securities=10, scenarios=scen), tmp / "upload")
    path = tmp / "store" / "overlay.duckdb"
    with Store.open(path) as st:
        out = review_book(book, store=st, out_dir=tmp / "out", workers=0, progress=False)
    traded = out.orders["account_id"].value_counts(sort=True)["account_id"][0]
    errored = out.results.filter(pl.col("decision") == "error")["account_id"].to_list()
    return path, out, traded, errored


def _norm(o: pl.DataFrame) -> pl.DataFrame:
    return o.select(*KEY, pl.col("shares").round(9), "reason").with_columns(pl.col("lot_id").fill_null("")).sort(KEY)


def test_audit_from_the_store_alone(reviewed) -> None:
    path, out, acct, _ = reviewed
    with Store.open_snapshot(path) as st:
        a = audit_account(st, as_of=AS_OF, account_id=acct)
    assert a.run["run_id"] == out.run_id
    assert len(a.run["input_hash"]) == 64 and a.run["code_version"] and a.run["settings"]
    assert a.decision == "trade" and a.orders.height == out.orders.filter(pl.col("account_id") == acct).height
    assert a.target.height > 0 and abs(a.own_target["weight"].sum() - 1) < 1e-9
    text = audit_text(a)
    for needle in (a.run["input_hash"], a.run["code_version"], "decision      : trade", "own target", "customizations"):
        assert needle in text


def test_rerunning_the_stored_inputs_reproduces_the_orders(reviewed) -> None:
    path, out, acct, _ = reviewed
    with Store.open_snapshot(path) as st:
        a = audit_account(st, as_of=AS_OF, account_id=acct)
        again = rerun_orders(st, a)
    assert _norm(again).equals(_norm(a.orders)), (_norm(again), _norm(a.orders))


def test_audit_of_a_refused_account_shows_why(reviewed) -> None:
    path, _, _, errored = reviewed
    assert errored
    with Store.open_snapshot(path) as st:
        a = audit_account(st, as_of=AS_OF, account_id=errored[0])
    assert a.decision == "error" and a.result["error"]
    assert a.result["error"] in audit_text(a)


def test_unknown_account_and_day_are_clear_errors(reviewed) -> None:
    path = reviewed[0]
    with Store.open_snapshot(path) as st:
        with pytest.raises(AuditError, match="'NOPE' was not reviewed on 2026-11-20"):
            audit_account(st, as_of=AS_OF, account_id="NOPE")
        with pytest.raises(AuditError, match="no run of 2026-11-19"):
            audit_account(st, as_of=dt.date(2026, 11, 19), account_id="A000000")


def test_overlay_audit_command(reviewed) -> None:
    path, out, acct, _ = reviewed
    env = {**os.environ, "COLUMNS": "250"}
    cmd = [sys.executable, "-c", "from overlay_core.cli import main; main()", "audit", "--as-of", AS_OF.isoformat(), "--account"]
    r = subprocess.run([*cmd, acct, "--store", str(path)], capture_output=True, text=True, timeout=120, env=env)
    assert r.returncode == 0, r.stderr
    assert out.run_id in r.stdout and "inputs hash" in r.stdout and "orders        :" in r.stdout
    bad = subprocess.run([*cmd, "NOPE", "--store", str(path)], capture_output=True, text=True, timeout=120, env=env)
    assert bad.returncode == 2 and "not reviewed" in bad.stderr and "Traceback" not in bad.stderr
