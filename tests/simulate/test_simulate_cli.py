"""`overlay simulate` and `overlay cascade --with-orders` on the fixture upload; the cascade's dry run."""

from __future__ import annotations

import sys
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

import overlay_core.cli  # noqa: F401 - registers every command
from overlay_core.cli._app import app
from overlay_core.export import write_trade_file
from overlay_core.simulate.cascade_orders import ACCOUNT_COLUMNS, SUMMARY_COLUMNS, cascade_with_orders
from overlay_core.targets import risk_model
from overlay_core.targets.cascade import apply_change, cascade, parse_change
from overlay_core.upload import read_upload

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "checker"))
from trade_checker import check_trades_against_book  # noqa: E402

runner = CliRunner()
CORE_TO_VTI = "model_id,symbol,weight\nCORE,VTI,0.45\nCORE,VEA,0.20\nCORE,BND,0.33\nCORE,$CASH,0.02\n"


def test_overlay_simulate_writes_day_folders_and_stores_runs(fixture_upload_dir, tmp_path):
    out = tmp_path / "sim"
    store = tmp_path / "store" / "s.duckdb"
    r = runner.invoke(app, ["simulate", str(fixture_upload_dir), "--days", "2", "--seed", "5", "--store", str(store), "--out", str(out)])
    assert r.exit_code == 0, r.output
    days = sorted(p.name for p in out.iterdir())
    assert days == ["day_2026-11-20", "day_2026-11-23"]
    for d in days:
        as_of = d.removeprefix("day_")
        files = {p.name for p in (out / d).iterdir()}
        assert {f"trades_{as_of}.csv", f"trades_{as_of}.csv.ok", f"review_{as_of}.csv", "lots.csv", "accounts.csv", "as_of.txt"} <= files
    assert "Simulation of 2 business day(s)" in r.output and "all" in r.output
    from overlay_core.store import Store

    with Store.open(store, read_only=True) as st:
        assert st.runs().height == 2


def test_overlay_simulate_with_a_price_file_and_flows(fixture_upload_dir, tmp_path):
    book = read_upload(fixture_upload_dir)
    prices = pl.DataFrame(
        {"date": ["2026-11-23"] * book.prices.height + ["2026-11-24"] * book.prices.height,
         "symbol": book.prices["symbol"].to_list() * 2,
         "close": [c * 1.01 for c in book.prices["close"]] + [c * 0.99 for c in book.prices["close"]]}
    )
    pf = tmp_path / "prices.csv"
    prices.write_csv(pf)
    flows = tmp_path / "flows.csv"
    flows.write_text("date,account_id,amount\n2026-11-23,A300,10000\n", encoding="utf-8")
    out = tmp_path / "sim"
    r = runner.invoke(app, ["simulate", str(fixture_upload_dir), "--days", "2", "--prices", str(pf), "--flows", str(flows), "--no-store", "--out", str(out)])
    assert r.exit_code == 0, r.output
    day2 = read_upload(out / "day_2026-11-23")
    assert dict(zip(day2.prices["symbol"], day2.prices["close"])) == pytest.approx({s: c * 1.01 for s, c in book.price_map.items()})
    # A300 (tax-exempt) got its 10,000 contribution on the fill day (less what day 1's orders spent)
    c0 = book.accounts.filter(pl.col("account_id") == "A300")["cash"].item()
    assert day2.accounts.filter(pl.col("account_id") == "A300")["cash"].item() > c0 + 10000 - 0.5 * day2.accounts.height * 1e5


def test_overlay_simulate_refuses_bad_options(fixture_upload_dir, tmp_path):
    r = runner.invoke(app, ["simulate", str(fixture_upload_dir), "--days", "0", "--out", str(tmp_path / "x"), "--no-store"])
    assert r.exit_code == 2 and "expected at least 1" in r.output
    r = runner.invoke(app, ["simulate", str(fixture_upload_dir), "--days", "1", "--prices", str(tmp_path / "none.csv"), "--out", str(tmp_path / "x"), "--no-store"])
    assert r.exit_code == 2 and "does not" in r.output and "none.csv" in r.output.replace("\n", "")
    # a price file without the fill day's closes: a clear error naming the date
    pf = tmp_path / "old.csv"
    pl.DataFrame({"date": ["2026-11-20"], "symbol": ["VOO"], "close": [560.0]}).write_csv(pf)
    r = runner.invoke(app, ["simulate", str(fixture_upload_dir), "--days", "1", "--prices", str(pf), "--out", str(tmp_path / "y"), "--no-store"])
    assert r.exit_code == 2 and "2026-11-23" in r.output


def test_cascade_with_orders_is_a_dry_run_that_obeys_the_contract(fixture_upload_dir, tmp_path):
    book = read_upload(fixture_upload_dir)
    ch = parse_change(pl.read_csv(CORE_TO_VTI.encode(), infer_schema=False), book)
    tl = cascade(book, ch, risk=risk_model(book))
    co = cascade_with_orders(book, ch, target_level=tl)
    assert co.accounts.columns == list(ACCOUNT_COLUMNS) and co.summary.columns == list(SUMMARY_COLUMNS)
    assert sorted(co.accounts["account_id"].to_list()) == sorted(tl.accounts["account_id"].to_list())
    assert co.review.run_id.startswith("dry-")
    assert co.accounts["n_orders"].sum() == co.orders.height > 0
    # the orders are those of the review on the changed book, and obey the contract there
    new_book = apply_change(book, ch)
    path = write_trade_file(co.orders, tmp_path, as_of=new_book.as_of, trade_date=new_book.trade_date,
                            security_types=dict(zip(book.securities["symbol"], book.securities["type"])))
    assert check_trades_against_book(new_book, path) == []
    # VOO left CORE: accounts following BAL/CONS buy VTI, not VOO
    assert co.orders.filter((pl.col("side") == "BUY") & (pl.col("symbol") == "VOO")).height == 0
    # the summary adds up
    assert co.summary["n_orders"].sum() == co.orders.height
    assert co.summary["accounts"].sum() == co.accounts.height


def test_overlay_cascade_with_orders_prints_the_target_level_answer_first(fixture_upload_dir, tmp_path):
    ch = tmp_path / "change.csv"
    ch.write_text(CORE_TO_VTI, encoding="utf-8")
    out = tmp_path / "cas"
    r = runner.invoke(app, ["cascade", str(fixture_upload_dir), "--change", str(ch), "--with-orders", "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert r.output.index("Cascade of changed models CORE") < r.output.index("Orders if the change were live")
    for name in ("cascade_accounts.csv", "cascade_summary.csv", "cascade_orders_accounts.csv", "cascade_orders_summary.csv", "cascade_orders.csv"):
        assert (out / name).exists()
    acc = pl.read_csv(out / "cascade_orders_accounts.csv")
    assert acc.height == 5 and set(acc["decision"]) <= {"trade", "no_trade", "held", "error"}
    # without the option, no orders phase
    r = runner.invoke(app, ["cascade", str(fixture_upload_dir), "--change", str(ch), "--out", str(tmp_path / "plain")])
    assert r.exit_code == 0 and "Orders if the change" not in r.output
    assert not (tmp_path / "plain" / "cascade_orders.csv").exists()
