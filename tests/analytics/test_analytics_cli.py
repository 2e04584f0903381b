"""`overlay backtest` end to end on a small price file: the files, their columns, the store."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
from typer.testing import CliRunner

import overlay_core.cli  # noqa: F401 - registers every command
from overlay_core.cli._app import app
from overlay_core.market.history import load_real_history
from overlay_core.store import Store


def test_backtest_cli(tmp_path: Path) -> None:
    prices = tmp_path / "prices.csv"
    load_real_history(symbols=["KO", "PEP", "XOM", "CVX"], start=dt.date(2001, 1, 1), end=dt.date(2002, 12, 31)).write_csv(prices)
    out = tmp_path / "out"
    store = tmp_path / "store" / "overlay.duckdb"
    res = CliRunner().invoke(app, [
        "backtest", "--prices", str(prices), "--start", "2001-09-01", "--frequency", "monthly", "--accounts", "2",
        "--st-rate", "0.4", "--lt-rate", "0.2", "--risk-aversion", "1", "--risk-aversion", "10", "--out", str(out), "--store", str(store),
    ])
    assert res.exit_code == 0, res.output
    r = pl.read_csv(out / "results.csv")
    assert r["strategy"].to_list() == ["optimizer", "naive", "buy_and_hold", "heuristic"]
    for c in ("tax_alpha", "tax_alpha_liquidated", "after_tax_return", "pre_tax_return", "harvest_yield", "tracking_error", "turnover", "taxes_paid"):
        assert c in r.columns
    assert r.filter(pl.col("strategy") == "buy_and_hold")["tax_alpha"][0] == 0.0
    by = pl.read_csv(out / "by_year.csv")
    assert set(by["year"].to_list()) == {2001, 2002}
    f = pl.read_csv(out / "frontier.csv")
    assert f["strategy"].to_list() == ["heuristic", "optimizer", "optimizer"]
    for name in ("wealth", "tax_alpha_by_year", "frontier"):
        assert (out / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert "<svg" in (out / f"{name}.html").read_text()
    with Store.open(store, read_only=True) as st:
        runs = st.runs()
        assert runs["kind"].to_list() == ["backtest"]
        rows = st.run_results(runs["run_id"][0])
        assert sorted(rows["account_id"].to_list()) == ["backtest:buy_and_hold", "backtest:heuristic", "backtest:naive", "backtest:optimizer"]


def test_backtest_cli_errors(tmp_path: Path) -> None:
    runner = CliRunner()
    res = runner.invoke(app, ["backtest", "--frequency", "hourly", "--out", str(tmp_path)])
    assert res.exit_code == 2 and "--frequency: found 'hourly'" in res.output
    res = runner.invoke(app, ["backtest", "--prices", str(tmp_path / "none.csv"), "--out", str(tmp_path)])
    assert res.exit_code == 2 and "does not exist" in " ".join(res.output.split())  # rich wraps long lines
