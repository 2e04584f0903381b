from __future__ import annotations

import polars as pl
import pytest

from overlay_core.contract import CASH
from overlay_core.errors import DataError
from overlay_core.holdings import holdings

from targetkit import make_book

# prices in the test book: AAA 50, AAB 60, AAC 70, ..., VTI 110, BND 160


def test_pending_orders_are_filled_at_todays_close() -> None:
    book = make_book(
        accounts=[dict(account_id="A1", target_id="T1", cash=1_000.0), dict(account_id="A2", target_id="T1", cash=0.0)],
        lots=[("A1", "AAA", 10), ("A1", "AAA", 5), ("A1", "BND", 3)],
        pending=[("A1", "AAA", "sell", 15), ("A1", "VTI", "buy", 2), ("A1", "BND", "sell", 1)],
    )
    h = holdings(book)
    a1 = {s: (sh, v) for a, s, sh, _, v, _ in h.positions.rows() if a == "A1"}
    assert "AAA" not in a1  # sold in full
    assert a1["VTI"] == (2.0, 220.0)
    assert a1["BND"] == (2.0, 320.0)
    assert a1[CASH] == (1_000.0 + 15 * 50 - 2 * 110 + 160, 1_000.0 + 15 * 50 - 2 * 110 + 160)
    total = dict(h.totals.select("account_id", "value").iter_rows())
    assert total["A1"] == pytest.approx(1690.0 + 220 + 320)
    w = h.positions.group_by("account_id").agg(pl.col("weight").sum())
    assert w["weight"].to_list() == pytest.approx([1.0, 1.0])
    # an empty account is all cash by convention
    assert h.positions.filter(pl.col("account_id") == "A2").rows() == [("A2", CASH, 0.0, 1.0, 0.0, 1.0)]


def test_asset_class_and_sector_weights() -> None:
    book = make_book(accounts=[dict(account_id="A1", target_id="T1", cash=500.0)], lots=[("A1", "AAA", 10), ("A1", "AAC", 5), ("A1", "VTI", 5)])
    h = holdings(book)
    total = 500 + 500 + 350 + 550
    ac = dict(h.by_asset_class(book.securities).select("asset_class", "weight").iter_rows())
    assert ac == pytest.approx({"cash": 500 / total, "us_equity": 1400 / total})
    sec = dict(h.by_sector(book.securities).select("sector", "weight").iter_rows())
    assert sec == pytest.approx({"tech": 500 / total, "energy": 350 / total})


def test_quarantined_or_unknown_accounts_are_left_out() -> None:
    book = make_book(accounts=[dict(account_id="A1", target_id="T1", cash=1.0)], lots=[("ZZ", "AAA", 10)], pending=[("ZZ", "AAA", "buy", 1)])
    h = holdings(book)
    assert h.positions["account_id"].unique().to_list() == ["A1"]


def test_a_held_symbol_without_price_is_a_data_error() -> None:
    book = make_book(accounts=[dict(account_id="A1", target_id="T1", cash=1.0)], lots=[("A1", "AAA", 10)])
    book = book.__class__(**{**book.__dict__, "prices": book.prices.filter(pl.col("symbol") != "AAA")})
    with pytest.raises(DataError, match="without a price"):
        holdings(book)
