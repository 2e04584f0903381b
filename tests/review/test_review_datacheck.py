"""Data checks against the previous stored day: price jumps, stale prices, unexplained value jumps."""

from __future__ import annotations

import dataclasses
import datetime as dt

import polars as pl
import pytest

from overlay_core.contract import TRANSACTIONS, schema
from overlay_core.policy import DataCheckPolicy
from overlay_core.review.datacheck import account_values, check_data

import review_helpers as h

PREV = dt.date(2026, 11, 19)


@pytest.fixture(scope="module")
def days():
    return h.make_book(60, seed=11), h.make_book(60, seed=11, as_of=PREV)


def _holders(book, symbol: str) -> set[str]:
    return set(book.lots.filter(pl.col("symbol") == symbol)["account_id"].to_list())


def test_same_data_holds_nothing(days) -> None:
    today, prev = days
    out = check_data(today, prev)
    assert out.findings.height == 0 and out.held.height == 0


def test_price_jump_holds_holders_and_targeters(days) -> None:
    today, prev = days
    jumped = dataclasses.replace(today, prices=today.prices.with_columns(
        close=pl.when(pl.col("symbol") == "S05").then(pl.col("close") * 0.5).otherwise(pl.col("close"))))
    out = check_data(jumped, prev)
    jumps = out.findings.filter(pl.col("check") == "price_jump")
    assert jumps["symbol"].to_list() == ["S05"] and jumps["change"].item() == pytest.approx(-0.5)
    # accounts heavy in S05 also show an unexplained value jump: they are holders too
    assert set(out.findings.filter(pl.col("check") == "value_jump")["account_id"].to_list()) <= _holders(today, "S05")
    assert out.held_accounts == _holders(today, "S05")  # S05 is in no model: only its holders
    assert set(out.held["reason"].to_list()) == {"data_check"}
    assert all("price of S05 moved -50.0%" in d for d in out.held["detail"].to_list())
    # a symbol of the model: every account that targets it is held too (they would buy at that price)
    jumped2 = dataclasses.replace(today, prices=today.prices.with_columns(
        close=pl.when(pl.col("symbol") == "S00").then(pl.col("close") * 1.5).otherwise(pl.col("close"))))
    assert check_data(jumped2, prev).held_accounts == set(today.account_ids())
    # within the policy's limit: nothing
    assert check_data(jumped, prev, policy=DataCheckPolicy(max_price_jump=0.6, max_value_jump=0.6)).held.height == 0


def test_stale_price_in_business_days(days) -> None:
    today, _ = days
    # 2026-11-13 (Fri) -> 2026-11-20 (Fri): 5 business days > 3; 2026-11-17 (Tue): 3 business days, not stale
    stale = dataclasses.replace(today, prices=today.prices.with_columns(
        date=pl.when(pl.col("symbol") == "S07").then(pl.lit(dt.date(2026, 11, 13)))
        .when(pl.col("symbol") == "S08").then(pl.lit(dt.date(2026, 11, 17))).otherwise(pl.col("date"))))
    out = check_data(stale, None)  # the first day: no previous day needed for this check
    assert out.findings.select("check", "symbol").rows() == [("stale_price", "S07")]
    assert out.held_accounts == _holders(today, "S07")


def test_value_jump_without_transactions(days) -> None:
    today, prev = days
    ids = today.account_ids()
    a, b = ids[3], ids[4]
    moved = dataclasses.replace(
        today,
        accounts=today.accounts.with_columns(
            cash=pl.when(pl.col("account_id").is_in([a, b])).then(pl.col("cash") + 1_000_000).otherwise(pl.col("cash"))),
        transactions=pl.DataFrame(  # b deposited-and-bought today: its jump is explained
            {"account_id": [b], "date": [today.as_of], "symbol": ["S01"], "side": ["buy"], "shares": [1.0], "price": [17.0],
             "lot_id": [None], "realized_gain": [None]}, schema=schema(TRANSACTIONS)),
    )
    out = check_data(moved, prev)
    assert out.findings.select("check", "account_id").rows() == [("value_jump", a)]
    assert out.held_accounts == {a}
    before = account_values(prev).filter(pl.col("account_id") == a)["value"].item()
    assert out.findings["previous"].item() == pytest.approx(before)
    assert out.findings["today"].item() == pytest.approx(before + 1_000_000)
