"""The dashboard's data, the app's store access (read-only snapshot), the sources and `overlay app`."""

from __future__ import annotations


import polars as pl
import pytest

from overlay_core.apps import dashboard as D
from overlay_core.apps.demo_store import build_review_store, ensure_demo_store, sample_households
from overlay_core.apps.source import Outcome, attempt, load_source, open_app_store, safe_message
from overlay_core.errors import ConfigError, DataError, StoreError

from appkit import STORE_ACCOUNTS


def test_review_store_holds_the_daily_reviews_run(review_store, demo_book):
    """The test store is written by the daily review itself; the dashboard shows exactly its evidence,
    and a one-account household's stored orders are the optimizer's proposal."""
    from overlay_core.optimize.build import rebalance_account
    from overlay_core.targets import account_targets, risk_model
    from overlay_core.tax import tax_state

    with open_app_store(review_store) as s:
        runs = D.list_runs(s)
        assert runs.height == 1 and runs["status"][0] == "finished"
        rv = D.load_review(s)
        raw = s.run_results(runs["run_id"][0])
        raw_orders = s.run_orders(runs["run_id"][0])
    ids = sample_households(demo_book, STORE_ACCOUNTS)
    assert sorted(rv.results["account_id"]) == sorted(ids + demo_book.quarantined["account_id"].to_list())
    assert set(rv.results["decision"]) <= {"trade", "no_trade", "held", "error"}
    merged = rv.results.join(raw.select("account_id", "decision", "est_tax", "n_orders"), on="account_id", suffix="_raw")
    assert (merged["decision"] == merged["decision_raw"]).all() and (merged["n_orders"] == merged["n_orders_raw"]).all()
    assert rv.orders.height == raw_orders.height
    assert rv.results["advisor"].null_count() == 0 and rv.results["value"].null_count() == 0
    hh = demo_book.accounts.filter(pl.col("account_id").is_in(ids)).group_by("household_id").len().filter(pl.col("len") == 1)["household_id"]
    single = demo_book.accounts.filter(pl.col("household_id").is_in(hh.implode()))["account_id"].to_list()
    a = rv.results.filter((pl.col("decision") == "trade") & pl.col("account_id").is_in(single))["account_id"][0]
    risk = risk_model(demo_book)
    p = rebalance_account(demo_book, a, targets=account_targets(demo_book, risk=risk, account_ids=[a]), risk=risk, tax_state=tax_state(demo_book))
    stored = rv.orders.filter(pl.col("account_id") == a)
    assert stored.select("symbol", "side", "shares", "lot_id").rows() == p.orders.select("symbol", "side", "shares", "lot_id").rows()
    row = rv.results.filter(pl.col("account_id") == a).row(0, named=True)
    assert row["n_orders"] == p.orders.height and row["est_tax"] == pytest.approx(p.explanation.est_tax)


def test_dashboard_frames(review_store):
    with open_app_store(review_store) as s:
        rv = D.load_review(s)
    res = rv.results
    h = D.headline(res)
    assert h["accounts"] == res.height == h["traded"] + h["not_traded"] + h["held"] + h["errors"]
    assert h["orders"] == rv.orders.height
    assert h["losses_harvested"] == pytest.approx(res["losses_harvested"].fill_null(0).sum())
    why = D.decision_reasons(res)
    assert why.filter(pl.col("decision") == "trade")["accounts"].sum() >= h["traded"]
    assert set(why["decision"]) == set(res["decision"])
    obr = D.orders_by_reason(rv.orders)
    assert obr["lines"].sum() == rv.orders.height and obr["value"].sum() == pytest.approx(rv.orders["est_value"].sum())
    disp = D.dispersion_by_target(res)
    assert (disp["te_p10"] <= disp["te_p50"]).all() and (disp["te_p50"] <= disp["te_p90"]).all()
    assert disp["accounts"].sum() == res.filter(pl.col("te_after").is_not_null()).height
    assert D.drift_distribution(res).height <= res.height

    adv = res["advisor"].drop_nulls()[0]
    only = D.filter_results(res, advisors=[adv])
    assert only.height >= 1 and set(only["advisor"]) == {adv}
    tgt = res["target_id"].drop_nulls()[0]
    both = D.filter_results(res, advisors=[adv], targets=[tgt])
    assert set(both["target_id"]) <= {tgt} and both.height <= only.height
    acc = D.filter_results(res, account="A00000")
    assert acc.height >= 1 and all("A00000" in a for a in acc["account_id"])
    assert D.filter_results(res).height == res.height

    a = rv.orders["account_id"][0]
    row, orders = D.account_detail(rv, a)
    assert row["account_id"] == a and isinstance(row["explanation"], dict) and "text" in row["explanation"]
    assert orders.height == rv.orders.filter(pl.col("account_id") == a).height
    assert orders["explanation"].null_count() == 0
    assert orders["explanation"][0] == D.REASON_TEXT[orders["reason"][0]]
    with pytest.raises(StoreError, match="not in run"):
        D.account_detail(rv, "NOPE")


def test_quarantined_accounts_are_listed_as_errors(tmp_path, demo_book):
    from dataclasses import replace

    q = pl.DataFrame({"account_id": ["QX1"], "household_id": ["QX1"], "reason": ["lots.csv row 3: shares <= 0"]})
    book = replace(demo_book, quarantined=q)
    path = tmp_path / "s" / "overlay.duckdb"
    build_review_store(path, book, accounts=3)
    with open_app_store(path) as s:
        rv = D.load_review(s)
    err = D.errors(rv.results)
    assert "QX1" in err["account_id"].to_list()
    assert "shares <= 0" in err.filter(pl.col("account_id") == "QX1")["error"][0]
    assert D.headline(rv.results)["errors"] >= 1


def test_the_app_store_is_read_only(review_store, demo_book):
    """Every write through the app's Store object is refused (the snapshot is opened read-only)."""
    with open_app_store(review_store) as s:
        assert s.read_only
        before = s.runs().height
        with pytest.raises(StoreError, match="read-only"):
            s.save_upload(demo_book)
        with pytest.raises(StoreError, match="read-only"):
            s.begin_run(upload_id="x", as_of=demo_book.as_of, trade_date=demo_book.trade_date, input_hash="", code_version="t", settings={})
        with pytest.raises(StoreError, match="read-only"):
            s.finish_run(s.runs()["run_id"][0], {})
        # and DuckDB itself refuses a write on the connection
        with pytest.raises(Exception, match="(?i)read-only|read only"):
            s._connection().execute("CREATE TABLE t (x INTEGER)")
        assert s.runs().height == before


def test_a_review_can_write_while_an_app_reads(tmp_path, demo_book):
    """The writer saves a new run while an app holds the snapshot open; the app sees it on reopening."""
    path = tmp_path / "live" / "overlay.duckdb"
    build_review_store(path, demo_book, accounts=3)
    app_store = open_app_store(path)
    try:
        assert D.list_runs(app_store).height == 1
        # the writer: open for writing, a second run (other settings), published on close
        run2 = build_review_store(path, demo_book, accounts=3, fresh=True)
        assert D.list_runs(app_store).height == 1  # the open snapshot keeps its state
        assert D.load_review(app_store).results.height >= 3
    finally:
        app_store.close()
    with open_app_store(path) as again:
        assert run2 in D.list_runs(again)["run_id"].to_list()


def test_sources(tmp_path, monkeypatch, review_store, fixture_upload_dir):
    monkeypatch.delenv("OVERLAY_UPLOAD", raising=False)
    monkeypatch.setenv("OVERLAY_STORE", str(review_store))
    src = load_source()
    assert src.kind == "store" and str(review_store.parent) not in src.label
    monkeypatch.setenv("OVERLAY_UPLOAD", str(fixture_upload_dir))
    src = load_source()
    assert src.kind == "upload" and src.book.accounts.height >= 1 and "/" not in src.label.split(",")[0].removeprefix("upload folder ")
    monkeypatch.setenv("OVERLAY_UPLOAD", str(tmp_path / "missing"))
    out = attempt(load_source)
    assert not out.ok and str(tmp_path) not in out.error and "<path>" in out.error
    monkeypatch.delenv("OVERLAY_STORE")
    with pytest.raises(ConfigError, match="OVERLAY_STORE"):
        open_app_store()
    out = attempt(open_app_store, tmp_path / "nostore" / "overlay.duckdb")
    assert not out.ok and "no published snapshot" in out.error and str(tmp_path) not in out.error
    assert attempt(lambda: 3) == Outcome(value=3)
    with pytest.raises(ZeroDivisionError):
        attempt(lambda: 1 / 0)  # a defect is not a user's mistake: it propagates
    assert safe_message(DataError("bad /home/u/secret/overlay.duckdb here")) == "bad <path> here"


def test_ensure_demo_store_builds_once(tmp_path, monkeypatch):
    monkeypatch.setenv("OVERLAY_CACHE_DIR", str(tmp_path))
    path = ensure_demo_store(accounts=3)
    assert path == tmp_path / "demo_store" / "overlay.duckdb"
    snap = path.parent / "overlay.snapshot.duckdb"
    stamp = snap.stat().st_mtime_ns
    assert ensure_demo_store(accounts=3) == path and snap.stat().st_mtime_ns == stamp
    assert not list(tmp_path.glob("demo_store.tmp-*"))
    with open_app_store(path) as s:
        assert D.load_review(s).results.height >= 3


# -------------------------------------------------------------------------------------------------
# overlay app


def test_overlay_app_command_line(tmp_path, monkeypatch):
    from overlay_core.cli.app import available_apps, check_password_file, marimo_command, notebook_path, redact

    assert {"ipc_models", "advisor_whatif", "daily_review"} <= set(available_apps())
    p = notebook_path("daily_review")
    assert p.is_file() and p.parent.name == "notebooks"
    for bad in ("../etc/passwd", "daily_review.py", "nope", "/tmp/x"):
        with pytest.raises(ConfigError, match="expected one of"):
            notebook_path(bad)
    pw = tmp_path / "pw.txt"
    pw.write_text("hunter2-long\n")
    assert check_password_file(pw) == "hunter2-long"
    cmd = marimo_command(p, host="127.0.0.1", port=9999, password_file=pw)
    assert "--headless" in cmd and "--include-code" not in cmd and "--token-password-file" in cmd
    assert "hunter2-long" not in " ".join(cmd)
    assert "--no-token" in marimo_command(p, host="127.0.0.1", port=9999, password_file=None)
    assert redact("URL: http://localhost:1?access_token=hunter2-long\n") == "URL: http://localhost:1?access_token=********\n"
    assert redact("the hunter2-long is here", "hunter2-long") == "the ******** is here"
    (tmp_path / "empty.txt").write_text("\n")
    with pytest.raises(ConfigError, match="empty"):
        check_password_file(tmp_path / "empty.txt")
    with pytest.raises(ConfigError, match="cannot be read"):
        check_password_file(tmp_path / "missing.txt")
    monkeypatch.setenv("OVERLAY_NOTEBOOKS", str(tmp_path))
    (tmp_path / "mine.py").write_text("")
    assert available_apps() == ["mine"]


def test_overlay_app_refuses_bad_input_without_traceback(tmp_path):
    from typer.testing import CliRunner

    from overlay_core.cli._app import app

    r = CliRunner().invoke(app, ["app", "nope"])
    assert r.exit_code != 0 and "expected one of" in r.output and "Traceback" not in r.output
    (tmp_path / "pw").write_text("")
    r = CliRunner().invoke(app, ["app", "daily_review", "--password-file", str(tmp_path / "pw")])
    assert r.exit_code != 0 and "empty" in r.output
