"""The daily review of a generated book (150 accounts, one quarantined, one refused customization):
files, evidence, rerun, fresh attempt, holds, errors, the split-day data check."""

from __future__ import annotations

import csv
import dataclasses
import sys
from pathlib import Path

import polars as pl
import pytest

from overlay_core.contract import TRADE_FILE_COLUMNS
from overlay_core.review.daily import review_book
from overlay_core.store import Store

import review_daily_helpers as h

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "checker"))
from trade_checker import check_trade_file, check_trades_against_book  # noqa: E402


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(tmp_path_factory.getbasetemp() / "review_daily")


@pytest.fixture(scope="module")
def first(root: str):
    """The day's review with a store and files (2 local workers)."""
    book = h.book(root)
    path = Path(root) / "store.duckdb"
    with Store.open(path, publish=False) as store:
        out = review_book(book, store=store, out_dir=Path(root) / "out", workers=2, progress=False)
    return book, path, out


def _rows(path: str | Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_the_trade_file_passes_the_independent_checker(root: str, first) -> None:
    book, _, out = first
    trades = Path(out.stats["files"]["trades"])
    assert trades.name == f"trades_{book.as_of}.csv" and trades.with_name(trades.name + ".ok").exists()
    lines = _rows(trades)
    assert len(lines) == out.orders.height > 0
    assert list(lines[0]) == list(TRADE_FILE_COLUMNS)
    assert check_trade_file(h.upload(root), trades) == []


def test_the_review_file_has_every_account_with_a_decision(root: str, first) -> None:
    book, _, out = first
    rows = {r["account_id"]: r for r in _rows(out.stats["files"]["review"])}
    expected = set(book.account_ids()) | set(book.quarantined["account_id"].to_list())
    assert set(rows) == expected and len(expected) == h.N_ACCOUNTS
    assert {r["decision"] for r in rows.values()} <= {"trade", "no_trade", "held", "error"}
    traded = {r["account_id"] for r in rows.values() if r["decision"] == "trade"}
    assert traded == set(out.orders["account_id"].unique().to_list()) and traded
    assert all(r["reasons"] for r in rows.values())
    # every not-traded account says why
    for r in rows.values():
        if r["decision"] == "no_trade":
            assert set(r["reasons"].split(";")) & {"within_bands", "below_no_churn_threshold", "at_optimum"}
        if r["decision"] == "trade":
            assert int(r["n_orders"]) > 0 and r["drift_before"] and r["te_before"]


def test_quarantined_accounts_are_errors_and_hold_accounts_are_held(first) -> None:
    book, _, out = first
    res = out.results
    q = book.quarantined["account_id"].to_list()
    assert h.BAD_ACCOUNT in q
    bad = res.filter(pl.col("account_id").is_in(q))
    assert bad["decision"].to_list() == ["error"] * len(q)
    assert all("shares" in (e or "") for e in bad.filter(pl.col("account_id") == h.BAD_ACCOUNT)["error"].to_list())
    refused = res.filter(pl.col("account_id") == h.REFUSED_ACCOUNT).row(0, named=True)
    assert refused["decision"] == "error" and refused["reasons"] == "customization_refused"
    assert "cycle" in refused["error"] and "AAPL>MSFT" in refused["error"]
    on_hold = book.accounts.filter(pl.col("status") == "hold")["account_id"].to_list()
    assert on_hold, "the generated book has accounts on hold"
    held = res.filter(pl.col("account_id").is_in(on_hold))
    assert set(held["decision"].to_list()) == {"held"} and set(held["reasons"].to_list()) == {"account_on_hold"}
    assert out.orders.filter(pl.col("account_id").is_in(on_hold + q + [h.REFUSED_ACCOUNT])).height == 0


def test_the_run_is_stored_with_its_evidence(first) -> None:
    book, path, out = first
    with Store.open(path, publish=False) as store:
        info = store.run_info(out.run_id)
        results = store.run_results(out.run_id)
        orders = store.run_orders(out.run_id)
        hist = store.account_history(book.account_ids()[0])
    assert info["status"] == "finished" and info["settings"]["policy"]["rebalance"]["solver"] == "clarabel"
    assert info["code_version"].startswith("overlay-core ")
    assert info["summary"]["accounts"] == h.N_ACCOUNTS
    assert results.height == h.N_ACCOUNTS and orders.height == out.orders.height
    traded = results.filter(pl.col("decision") == "trade")
    assert traded["solver"].drop_nulls().len() == traded.height and traded["explanation"].drop_nulls().len() == traded.height
    assert out.run_id in hist["run_id"].to_list()


def test_a_rerun_of_the_day_gives_identical_files_without_redoing_accounts(root: str, first) -> None:
    book, path, out = first
    before = {k: Path(v).read_bytes() for k, v in out.stats["files"].items()}
    with Store.open(path, publish=False) as store:
        again = review_book(book, store=store, out_dir=Path(root) / "out", workers=2, progress=False)
    assert again.run_id == out.run_id
    assert again.stats["optimized_now"] == 0  # everything came back from the store
    assert {k: Path(v).read_bytes() for k, v in again.stats["files"].items()} == before


def test_a_fresh_attempt_recomputes_the_same_trades(root: str, first) -> None:
    book, path, out = first
    with Store.open(path, publish=False) as store:
        fresh = review_book(book, store=store, out_dir=Path(root) / "fresh", workers=1, progress=False, fresh=True)
    assert fresh.run_id != out.run_id and fresh.stats["optimized_now"] > 0
    cols = [c for c in TRADE_FILE_COLUMNS if c != "run_id"]
    assert fresh.orders.select(cols).equals(out.orders.select(cols))


def _split_day(book):
    """The next day's book where SYM split 2:1 in the prices but the lots are not adjusted yet."""
    from overlay_core import calendar

    sym = book.lots.filter(pl.col("account_id").is_in(book.account_ids())).group_by("symbol").len().sort("len", descending=True)["symbol"][0]
    day = book.trade_date
    nxt = calendar.next_business_day(day)
    prices = book.prices.with_columns(
        pl.when(pl.col("symbol") == sym).then(pl.col("close") / 2).otherwise(pl.col("close")).alias("close"),
        pl.lit(day).alias("date"),
    )
    return sym, dataclasses.replace(book, as_of=day, trade_date=nxt, prices=prices, input_hash="")


def test_a_split_day_holds_the_holders_instead_of_selling(first) -> None:
    book, _, _ = first
    sym, today = _split_day(book)
    holders = set(today.lots.filter(pl.col("symbol") == sym)["account_id"].unique().to_list()) & set(today.account_ids())
    out = review_book(today, store=None, out_dir=None, previous=book, workers=2, progress=False)
    res = out.results.filter(pl.col("account_id").is_in(list(holders)))
    active = set(today.accounts.filter(pl.col("status") != "hold")["account_id"].to_list())
    for a, d, r in res.select("account_id", "decision", "reasons").iter_rows():
        assert d == "held", (a, d, r)
        if a in active:
            assert r.startswith("data_check") and sym in r
    assert out.orders.filter(pl.col("account_id").is_in(list(holders))).height == 0
    assert out.orders.filter(pl.col("symbol") == sym).height == 0  # nobody buys at the suspect price either
    # without the check, the unadjusted lots look like a 50% loss and the review sells them
    blind = review_book(today, store=None, out_dir=None, previous=None, workers=2, progress=False)
    assert blind.orders.filter((pl.col("symbol") == sym) & (pl.col("side") == "SELL")).height > 0
