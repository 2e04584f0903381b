"""Rounding of very large quantities (regression of the soak's self-check failures).

On random books about 0.3% of accounts got decision ``error`` ("rounded orders break hard constraints:
buy/sale off its increment"): accounts of $0.1-2 billion buying or selling 10^7-10^11 shares (sub-dollar
prices, money-market and mutual-fund shares at 0.001). Rounding kept quantities on the grid with
``np.round(x, 9)``, which above 9.007e6 shares (2^53 / 10^9) neither snaps nor keeps an exact value
(10357817794 -> 10357817793.999998), and whose errors added up over the repairs and the polish; the
self-check's grid tolerance (1e-6 of an increment) was finer than the float spacing of such quantities.

A second defect of the same place, found while fixing it: the gain-budget repair cut a lot's exact
remainder by whole increments, so a fractional lot (50.5 shares of a stock) became 49.5 shares, off the
grid (now the cut rounds down onto the grid).

Each book below is a small explicit upload made from a failing soak account (seed and account named),
reduced to the securities that failed; the rounding before the fix refused each of them ("off its
increment", checked when the books were made). Every book: the account trades (no error), every quantity is on
its grid exactly (or a lot's exact remainder), `check_orders` finds nothing, and the written trade file
passes the independent checker (tests/checker/trade_checker.py: no short sale, no sale beyond a lot,
cash >= 0, restrictions, wash sales, granularity).
"""

from __future__ import annotations

import sys
from decimal import Decimal
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from overlay_core.cli._app import app
from overlay_core.optimize.build import build_problem, rebalance_account
from overlay_core.optimize.rounding import check_orders, on_grid, snap
from overlay_core.targets import account_targets, risk_model
from overlay_core.tax import tax_state
from overlay_core.upload import read_upload

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "checker"))
from trade_checker import check_trade_file  # noqa: E402

AS_OF = "2026-11-20"
runner = CliRunner()

SECURITIES = """symbol,asset_class,type,name,sector,tags,wash_group,cost_bps,trade_increment
PENNY,us_equity,equity,Penny Co,tech,,,,
S01,us_equity,etf,Sub-dollar ETF,,,,,
S02,us_equity,etf,Sub-dollar ETF 2,,,,,
S10,us_equity,etf,Cheap ETF,,,,,
BIGCO,us_equity,equity,Big Co,industrials,,,,
S22,us_equity,etf,Dear ETF,,,,,
FUND,us_equity,mutual_fund,A fund,,,,,
AAA,us_equity,equity,Aaa Corp,tech,,,,
BOND,bonds,bond,A bond,,,,,5
MMF,cash_like,cash_equivalent,Money market,,,,,
"""
PRICES = {"PENNY": 0.01, "S01": 0.038, "S02": 0.0333, "S10": 0.12, "BIGCO": 100000, "S22": 2080.99,
          "FUND": 20.9, "BOND": 100.97, "MMF": 1, "AAA": 100}

#: name -> (the failure it reproduces, tax_status, cash, lots [(lot_id, symbol, shares, basis USD)], model {symbol: weight}
#: [, gain_budget USD, policy.toml text])
BOOKS: dict[str, tuple] = {
    # an IRA of $1.8 billion buying 10^10 shares of a $0.01 stock and 3x10^9 of a $0.05 one
    "penny_buy": (
        "seed 20261120 A000139: buy off its increment: PENNY",
        "tax_deferred", "404225801.72",
        [("L0", "S22", "236458", "0"), ("L1", "BIGCO", "4643", "0")],
        {"PENNY": 0.10, "S01": 0.07, "S10": 0.08, "S22": 0.25, "BIGCO": 0.45, "$CASH": 0.05},
    ),
    # a taxable $1.6 billion account selling parts of lots of 2-4x10^10 sub-dollar shares
    "penny_lots_sold": (
        "seed 20261121 A000126 (cash +1,234.57): sale off its increment: a lot of S01",
        "taxable", "97103559.33",
        [("L0", "S01", "20421418458", "700000000"), ("L1", "PENNY", "37972524545", "300000000"),
         ("L2", "PENNY", "38144369592", "300000000"), ("L3", "BIGCO", "1000", "90000000")],
        {"S02": 0.10, "S10": 0.15, "PENNY": 0.05, "BIGCO": 0.10, "FUND": 0.30, "BOND": 0.25, "$CASH": 0.05},
    ),
    # the same book with $4,938 more cash: a fund buy of 2.5x10^7 shares (0.001) off its grid instead
    "penny_lots_fund_buy": (
        "seed 20261121 A000126 (cash +6,172.85), like seed 20261122 A000097: buy off its increment: FUND",
        "taxable", "97108497.61",
        [("L0", "S01", "20421418458", "700000000"), ("L1", "PENNY", "37972524545", "300000000"),
         ("L2", "PENNY", "38144369592", "300000000"), ("L3", "BIGCO", "1000", "90000000")],
        {"S02": 0.10, "S10": 0.15, "PENNY": 0.05, "BIGCO": 0.10, "FUND": 0.30, "BOND": 0.25, "$CASH": 0.05},
    ),
    # a $2 billion IRA buying 10^7 shares of a fund (0.001)
    "fund_buy": (
        "seed 20261122 A000097 / 20261128 A000153: buy off its increment: FUND",
        "tax_deferred", "92557899.34",
        [("L0", "BIGCO", "19663", "0"), ("L1", "FUND", "1547288.065", "0")],
        {"FUND": 0.12, "MMF": 0.04, "BOND": 0.20, "BIGCO": 0.58, "S22": 0.01, "$CASH": 0.05},
    ),
    # not from the soak, found while fixing it: a fractional lot (50.5 shares) of a whole-share stock sold
    # to its exact remainder, then cut by the gain-budget repair: 50.5 - 1 = 49.5 shares, off the grid
    "fractional_lot_gain_budget": (
        "a fractional equity lot cut by the gain budget: sale off its increment",
        "taxable", "100",
        [("L1", "AAA", "50.5", "2525")],
        {"BOND": 0.99, "$CASH": 0.01},
        "2510",
        "[rebalance]\nrisk_aversion = 1000.0\n",  # the optimum sells 50.2 shares (the budget binds), rounded to 50.5
    ),
}


def write_book(d: Path, name: str) -> Path:
    """One book of `BOOKS` as an upload folder (account ``A1``, target ``T1``, model ``M1``)."""
    _, status, cash, lots, model = BOOKS[name][:5]
    gain_budget, policy = (BOOKS[name][5:] + ("", ""))[:2]
    d.mkdir(parents=True)
    (d / "as_of.txt").write_text(AS_OF + "\n")
    (d / "securities.csv").write_text(SECURITIES)
    (d / "prices.csv").write_text("symbol,close,date\n" + "".join(f"{s},{p},{AS_OF}\n" for s, p in PRICES.items()))
    (d / "accounts.csv").write_text(
        f"account_id,target_id,tax_status,cash,household_id,status,gain_budget\nA1,T1,{status},{cash},H1,active,{gain_budget}\n"
    )
    (d / "lots.csv").write_text(
        "account_id,lot_id,symbol,shares,cost_basis,acquired,purchase_date\n"
        + "".join(f"A1,{lid},{sym},{sh},{basis if status == 'taxable' else ''},{'2024-01-10' if status == 'taxable' else ''},\n"
                  for lid, sym, sh, basis in lots)
    )
    (d / "models.csv").write_text("model_id,symbol,weight\n" + "".join(f"M1,{s},{w}\n" for s, w in model.items()))
    (d / "targets.csv").write_text("target_id,model_id,weight\nT1,M1,1\n")
    (d / "restrictions.csv").write_text("account_id,kind,value,limit\n")
    (d / "transactions.csv").write_text("account_id,date,symbol,side,shares,price,lot_id,realized_gain\n")
    (d / "pending_orders.csv").write_text("account_id,symbol,side,shares,lot_id,est_realized_gain\n")
    if policy:
        (d / "policy.toml").write_text(policy)
    return d


def _shares(pr) -> tuple[np.ndarray, np.ndarray]:
    p = pr.problem
    sell, buy = np.zeros(p.m), np.zeros(p.n)
    for row in pr.orders.iter_rows(named=True):
        if row["side"] == "SELL":
            sell[p.lot_ids.index(row["lot_id"])] += row["shares"]
        else:
            buy[p.symbols.index(row["symbol"])] += row["shares"]
    return sell, buy


@pytest.mark.parametrize("name", list(BOOKS))
def test_large_quantities_round_onto_the_grid(tmp_path: Path, name: str) -> None:
    up = write_book(tmp_path / "upload", name)
    book = read_upload(up)
    risk = risk_model(book)
    targets, tax = account_targets(book, risk=risk), tax_state(book)
    p = build_problem(book, "A1", targets=targets, risk=risk, tax_state=tax)
    pr = rebalance_account(book, "A1", targets=targets, risk=risk, tax_state=tax)
    assert pr.explanation.decision == "trade", (BOOKS[name][0], pr.explanation.diagnosis)
    sell, buy = _shares(pr)
    assert check_orders(p, sell, buy) == []
    if name == "fractional_lot_gain_budget":
        assert p.gain_allowance == pytest.approx(2510.0)
        assert sell.tolist() == [50.0]  # never 49.5; the polish gives back the share the cut took
        assert float(np.dot(sell, p.lot_gain_per_share)) <= 2510.0
    else:
        assert p.value > 1e8
        assert np.concatenate([sell, buy]).max() > 9.007e6  # beyond what np.round(x, 9) kept exact
    # every quantity exactly its grid value (or a lot's exact remainder): snapping again changes nothing
    assert np.array_equal(buy, snap(buy, p.increment))
    inc_l = p.increment[p.lot_sec]
    assert np.all((sell == snap(sell, inc_l)) | (sell == p.lot_shares))
    # the trade file the command writes obeys the contract (independent checker)
    out = tmp_path / "out"
    res = runner.invoke(app, ["rebalance", str(up), "--account", "A1", "--out", str(out)])
    assert res.exit_code == 0, res.output
    csv = out / f"trades_{AS_OF}.csv"
    assert pl.read_csv(csv).height > 0
    assert check_trade_file(up, csv) == []


def test_snap_of_known_failures() -> None:
    # the values np.round(x, 9) broke in the soak, now exact
    assert snap(np.array([10357817793.999998]), np.array([1.0]))[0] == 10357817794.0
    assert snap(np.array([8249017.876000008]), np.array([0.001]))[0] == 8249017.876
    assert snap(np.array([18947724.74599995]), np.array([0.001]))[0] == 18947724.746
    assert snap(np.array([12701848.198999998]), np.array([0.001]))[0] == 12701848.199
    # down never rounds up, and forgives float noise below the grid value
    assert snap(np.array([11.5, 11.999999999, 0.0029999999999]), np.array([1.0, 1.0, 0.001]), "down").tolist() == [11.0, 12.0, 0.003]
    assert snap(np.array([7.5]), np.array([5.0]))[0] == 10.0  # bonds: multiples of the trade increment (half to even)
    with pytest.raises(ValueError, match="how='up'; expected 'nearest' or 'down'"):
        snap(1.0, 1.0, "up")


def test_the_old_grid_tolerance_rejects_what_snap_accepts() -> None:
    # what made the self-check fail: the best float of 41,177,677.002 shares (4x10^10 increments of
    # 0.001) is 7.6e-6 increment from the grid by the old test, finer than its float spacing
    x = snap(np.array([41177677.002, 20000000000.003]), np.array([0.001, 0.001]))
    old = np.abs(x / 0.001 - np.round(x / 0.001)) < 1e-6
    assert not old.any()
    assert on_grid(x, np.array([0.001, 0.001])).all()
    # and off-grid values are still refused, large or small
    assert not on_grid(np.array([18947724.7465, 10357817794.5, 2.0005]), np.array([0.001, 1.0, 0.001])).any()


@settings(max_examples=300, deadline=None)
@given(
    k=st.integers(min_value=0, max_value=10**12),
    inc=st.sampled_from([1.0, 0.001, 5.0, 0.01, 1000.0, 0.5]),
    noise=st.integers(min_value=-3, max_value=3),
)
def test_snap_is_exact_and_stable_at_any_size(k: int, inc: float, noise: int) -> None:
    """snap(k x inc, nudged by a few float steps) is the float of the exact decimal k x inc, and its
    shortest text (what the trade file writes) is that decimal."""
    exact = Decimal(k) * Decimal(repr(inc))
    x = float(exact)
    nudged = x
    for _ in range(abs(noise)):
        nudged = np.nextafter(nudged, np.inf if noise > 0 else -np.inf)
    s = float(snap(np.array([nudged]), np.array([inc]))[0])
    assert s == x
    assert float(snap(np.array([s]), np.array([inc]))[0]) == s
    assert on_grid(np.array([s]), np.array([inc]))[0]
    if k < 10**15 // max(int(1 / inc), 1):
        assert Decimal(repr(s)) == exact.normalize() or Decimal(repr(s)) == exact


def test_cash_check_tolerates_float_noise_of_billions_not_a_cent(make_problem) -> None:
    # an account of $2 billion spending its cash to the last dollar: the float sum of 10^9-dollar terms
    # carries ~1e-6 USD of noise, which is no negative cash; a cent short still is
    p = make_problem(prices=np.array([0.01, 100.0, 100.0]), cash=2_000_000_000.0, lot_shares=np.array([50.0, 49.0]))
    buy = np.array([2e11, 0.0, 0.0])
    noisy = p.with_(cash=2_000_000_000.0 - 3e-6)
    assert check_orders(noisy, np.zeros(2), buy) == []
    short = p.with_(cash=2_000_000_000.0 - 0.01)
    assert check_orders(short, np.zeros(2), buy) == ["cash after orders -0.01 < 0"]
    small = make_problem(cash=100.0)
    assert check_orders(small.with_(cash=100.0 - 3e-6), np.zeros(2), np.array([0.0, 1.0, 0.0])) == ["cash after orders -0.00 < 0"]
