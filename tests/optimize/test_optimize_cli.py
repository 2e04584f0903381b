"""`overlay rebalance` on the fixture uploads: every file it writes passes the independent trade checker."""

from __future__ import annotations

import sys
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from overlay_core.cli._app import app
from overlay_core.optimize.build import build_problem, rebalance_account
from overlay_core.targets import account_targets, risk_model
from overlay_core.tax import tax_state
from overlay_core.upload import read_upload

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "checker"))
from trade_checker import check_trade_file  # noqa: E402

MINI = ROOT / "tests" / "checker" / "data" / "mini_upload"
runner = CliRunner()


@pytest.fixture(scope="module")
def fixture_book(fixture_upload_dir):
    book = read_upload(fixture_upload_dir)
    risk = risk_model(book)
    return book, account_targets(book, risk=risk), risk, tax_state(book)


@pytest.mark.parametrize("account", ["A100", "A101", "A200", "A300", "A400"])
def test_fixture_accounts_pass_the_trade_checker(tmp_path, fixture_upload_dir, account):
    res = runner.invoke(app, ["rebalance", str(fixture_upload_dir), "--account", account, "--out", str(tmp_path)])
    assert res.exit_code == 0, res.output
    csv = tmp_path / "trades_2026-11-20.csv"
    assert csv.exists() and (tmp_path / "trades_2026-11-20.csv.ok").exists()
    assert check_trade_file(fixture_upload_dir, csv) == []
    assert f"account {account}" in res.output


@pytest.mark.parametrize("account", ["T1", "I1", "T2", "HOLD1"])
def test_mini_upload_accounts_pass_the_trade_checker(tmp_path, account):
    res = runner.invoke(app, ["rebalance", str(MINI), "--account", account, "--out", str(tmp_path)])
    assert res.exit_code == 0, res.output
    csv = tmp_path / "trades_2026-11-20.csv"
    assert check_trade_file(MINI, csv) == []
    if account == "HOLD1":
        assert pl.read_csv(csv).height == 0
        assert "held" in res.output


def test_unknown_account_exits_2(tmp_path, fixture_upload_dir):
    res = runner.invoke(app, ["rebalance", str(fixture_upload_dir), "--account", "NOPE", "--out", str(tmp_path)])
    assert res.exit_code == 2
    assert "not an account" in res.output


def test_fixture_a100_wash_block_and_gain_budget(fixture_book):
    book, targets, risk, tax = fixture_book
    p = build_problem(book, "A100", targets=targets, risk=risk, tax_state=tax)
    # the README's numbers: allowance 10,000 - (-1,200) - 2,500 = 8,700; VOO and IVV blocked (sp500 loss)
    assert p.gain_allowance == pytest.approx(8700.0)
    assert not p.buy_allowed[p.symbols.index("VOO")]
    assert p.buy_reason[p.symbols.index("VOO")] == "wash_sale"
    assert p.value == pytest.approx(188_600.0)
    high = p.with_(risk_aversion=100.0)
    from overlay_core.optimize.propose import propose

    pr = propose(high, as_of=book.as_of, trade_date=book.trade_date)
    buys = pr.orders.filter(pl.col("side") == "BUY")["symbol"].to_list()
    assert "VOO" not in buys and "IVV" not in buys
    gain = pr.orders["est_realized_gain"].fill_null(0.0).sum()
    assert gain <= 8700.0
    aapl = pr.orders.filter(pl.col("symbol") == "AAPL")["shares"].sum()
    assert 30 <= aapl <= 39  # 39 shares exhaust the allowance by themselves (README)


def test_fixture_a400_cash_need_and_substitute(fixture_book):
    book, targets, risk, tax = fixture_book
    pr = rebalance_account(book, "A400", targets=targets, risk=risk, tax_state=tax)
    ex = pr.explanation
    # must hold min cash 0.03 x 70,000 = 2,100 plus the 5,000 need after trading
    assert ex.cash_after >= 7100.0 - 1e-6
    assert pr.orders.filter(pl.col("symbol") == "VOO").height == 0  # substituted away: never bought
    assert set(pr.orders.filter(pl.col("side") == "SELL")["reason"]) <= {"cash_raise"}


def test_fixture_a101_pending_buy_counts(fixture_book):
    book, targets, risk, tax = fixture_book
    p = build_problem(book, "A101", targets=targets, risk=risk, tax_state=tax)
    assert p.cash == pytest.approx(540.0)  # 2,000 - 20 x 73
    assert p.shares_held[p.symbols.index("BND")] == pytest.approx(520.0)
    assert p.taxable is False and p.gain_allowance is None
