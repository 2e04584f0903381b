"""The trade file, review file and block files (overlay_core.export)."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import os
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from overlay_core import export
from overlay_core.contract import TRADE_FILE_COLUMNS
from overlay_core.export import (
    ExportError,
    format_shares,
    write_blocks_file,
    write_review_file,
    write_trade_file,
)

AS_OF = dt.date(2026, 11, 25)
TD = dt.date(2026, 11, 27)


def _orders(rows: list[dict]) -> pl.DataFrame:
    base = {"run_id": "R1", "trade_date": TD, "lot_id": None, "est_realized_gain": None, "term": None, "reason": "rebalance"}
    return pl.DataFrame([{**base, **r} for r in rows], infer_schema_length=None)


def _read(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_sorted_by_account_side_sell_first_symbol_lot(tmp_path: Path) -> None:
    orders = _orders(
        [
            {"account_id": "B", "symbol": "AAA", "side": "BUY", "shares": 1.0, "est_price": 10.0},
            {"account_id": "A", "symbol": "ZZZ", "side": "BUY", "shares": 1.0, "est_price": 10.0},
            {"account_id": "A", "symbol": "MMM", "side": "SELL", "shares": 1.0, "est_price": 10.0, "lot_id": "L2"},
            {"account_id": "A", "symbol": "MMM", "side": "SELL", "shares": 1.0, "est_price": 10.0, "lot_id": "L10"},
            {"account_id": "A", "symbol": "BBB", "side": "SELL", "shares": 1.0, "est_price": 10.0, "lot_id": "L1"},
            {"account_id": "A", "symbol": "AAA", "side": "BUY", "shares": 1.0, "est_price": 10.0},
            {"account_id": "A10", "symbol": "AAA", "side": "BUY", "shares": 1.0, "est_price": 10.0},
        ]
    )
    path = write_trade_file(orders, tmp_path, as_of=AS_OF)
    assert path.name == "trades_2026-11-25.csv"
    with path.open() as fh:
        header = fh.readline().strip().split(",")
    assert tuple(header) == TRADE_FILE_COLUMNS
    got = [(r["account_id"], r["side"], r["symbol"], r["lot_id"]) for r in _read(path)]
    assert got == [
        ("A", "SELL", "BBB", "L1"),
        ("A", "SELL", "MMM", "L10"),  # lot ids compared as strings: "L10" < "L2"
        ("A", "SELL", "MMM", "L2"),
        ("A", "BUY", "AAA", ""),
        ("A", "BUY", "ZZZ", ""),
        ("A10", "BUY", "AAA", ""),
        ("B", "BUY", "AAA", ""),
    ]


@pytest.mark.parametrize(
    ("shares", "price", "expected"),
    [
        (1.0, 0.125, "0.12"),  # exact half: to the even cent
        (1.0, 0.135, "0.14"),
        (1.0, 2.675, "2.68"),  # float(2.675) is 2.67499999...; the written decimal 2.675 is a true half
        (3.0, 0.005, "0.02"),  # 0.015 -> 0.02
        (5.0, 0.005, "0.02"),  # 0.025 -> 0.02
        (7.0, 33.333, "233.33"),
        (10.000000001, 12.5, "125.00"),  # float noise is gone before the product
    ],
)
def test_est_value_half_even_from_exact_decimal_product(tmp_path: Path, shares: float, price: float, expected: str) -> None:
    orders = _orders([{"account_id": "A", "symbol": "X", "side": "BUY", "shares": shares, "est_price": price}])
    row = _read(write_trade_file(orders, tmp_path, as_of=AS_OF, security_types={"X": "equity"}))[0]
    assert row["est_value"] == expected
    assert Decimal(row["est_value"]) == (Decimal(row["shares"]) * Decimal(row["est_price"])).quantize(Decimal("0.01"), rounding="ROUND_HALF_EVEN")


def test_realized_gain_to_cents_and_term(tmp_path: Path) -> None:
    orders = _orders(
        [
            {"account_id": "A", "symbol": "X", "side": "SELL", "shares": 3.0, "est_price": 10.0, "lot_id": "L1",
             "est_realized_gain": -12.345, "term": "short"},
            {"account_id": "A", "symbol": "Y", "side": "SELL", "shares": 3.0, "est_price": 10.0, "lot_id": "L2",
             "est_realized_gain": 0.125, "term": "long"},
        ]
    )
    rows = _read(write_trade_file(orders, tmp_path, as_of=AS_OF))
    assert [(r["est_realized_gain"], r["term"]) for r in rows] == [("-12.34", "short"), ("0.12", "long")]


@pytest.mark.parametrize(
    ("value", "typ", "expected"),
    [
        (10.000000001, "equity", "10"),
        (9.9999999997, "etf", "10"),
        (1.2340000001, "mutual_fund", "1.234"),
        (0.1 + 0.2, "cash_equivalent", "0.3"),
        (10.5, "equity", "10.5"),  # a lot's exact fractional remainder stays
        (1.23456789012, "mutual_fund", "1.23456789"),
        (2000.0000001, "bond", "2000"),
        (5.0, None, "5"),
    ],
)
def test_shares_have_no_float_noise(value: float, typ: str | None, expected: str) -> None:
    assert format_shares(value, type=typ, increment=1000.0 if typ == "bond" else None) == expected


@settings(max_examples=200, deadline=None)
@given(n=st.integers(min_value=1, max_value=10**7), k=st.integers(min_value=0, max_value=10**6))
def test_shares_grid_roundtrip(n: int, k: int) -> None:
    assert format_shares(float(n), type="equity") == str(n)
    x = k / 1000
    assert Decimal(format_shares(x, type="mutual_fund")) == Decimal(k) / 1000


def test_ok_file_has_row_count_and_sha(tmp_path: Path) -> None:
    orders = _orders(
        [
            {"account_id": "A", "symbol": "X", "side": "BUY", "shares": 2.0, "est_price": 10.0},
            {"account_id": "B", "symbol": "X", "side": "BUY", "shares": 2.0, "est_price": 10.0},
        ]
    )
    path = write_trade_file(orders, tmp_path, as_of=AS_OF)
    ok = (tmp_path / "trades_2026-11-25.csv.ok").read_text().splitlines()
    assert ok == ["rows=2", f"sha256={hashlib.sha256(path.read_bytes()).hexdigest()}"]


def test_header_only_on_a_day_without_orders(tmp_path: Path) -> None:
    empty = pl.DataFrame(schema={"run_id": pl.String, "trade_date": pl.Date, "account_id": pl.String, "symbol": pl.String,
                                 "side": pl.String, "shares": pl.Float64, "est_price": pl.Float64})
    path = write_trade_file(empty, tmp_path, as_of=AS_OF)
    assert path.read_text() == ",".join(TRADE_FILE_COLUMNS) + "\n"
    assert (tmp_path / "trades_2026-11-25.csv.ok").read_text().startswith("rows=0\n")


def test_failure_mid_write_leaves_no_partial_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    orders = _orders([{"account_id": "A", "symbol": "X", "side": "BUY", "shares": 2.0, "est_price": 10.0}])

    def boom(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(export.os, "fsync", boom)
    with pytest.raises(OSError, match="No space left"):
        write_trade_file(orders, tmp_path, as_of=AS_OF)
    assert list(tmp_path.iterdir()) == []


def test_failure_keeps_previous_complete_file_and_drops_its_ok(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    orders = _orders([{"account_id": "A", "symbol": "X", "side": "BUY", "shares": 2.0, "est_price": 10.0}])
    path = write_trade_file(orders, tmp_path, as_of=AS_OF)
    before = path.read_bytes()
    real_replace = os.replace

    def fail_replace(src: str, dst: str) -> None:
        raise OSError(5, "I/O error")

    monkeypatch.setattr(export.os, "replace", fail_replace)
    bigger = _orders([{"account_id": a, "symbol": "X", "side": "BUY", "shares": 2.0, "est_price": 10.0} for a in "ABCDEF"])
    with pytest.raises(OSError, match="I/O error"):
        write_trade_file(bigger, tmp_path, as_of=AS_OF)
    monkeypatch.setattr(export.os, "replace", real_replace)
    assert path.read_bytes() == before  # the old complete file, never a partial new one
    assert sorted(p.name for p in tmp_path.iterdir()) == ["trades_2026-11-25.csv"]  # stale .ok removed, no temp


@pytest.mark.parametrize(
    ("row", "match"),
    [
        ({"side": "HOLD"}, "side 'HOLD'"),
        ({"shares": 0.0}, "shares 0.0; expected > 0"),
        ({"side": "SELL"}, "SELL without lot_id"),
        ({"reason": "because"}, "reason 'because'"),
        ({"est_realized_gain": 5.0, "term": "long"}, "BUY with est_realized_gain"),
    ],
)
def test_bad_orders_are_refused(tmp_path: Path, row: dict, match: str) -> None:
    orders = _orders([{"account_id": "A", "symbol": "X", "side": "BUY", "shares": 2.0, "est_price": 10.0, **row}])
    with pytest.raises(ExportError, match=match):
        write_trade_file(orders, tmp_path, as_of=AS_OF)
    assert list(tmp_path.iterdir()) == []


def test_review_file(tmp_path: Path) -> None:
    results = [
        {"account_id": "B", "decision": "error", "error": "infeasible: cash floor vs never_sell"},
        {"account_id": "A", "decision": "trade", "reasons": ["drift", "tax_loss_harvest"], "drift_before": 0.071234567,
         "drift_after": 0.01, "te_before": 0.02, "te_after": 0.005, "est_tax": 12.345, "losses_harvested": 1000.125,
         "n_orders": 4, "turnover": 0.12},
        {"account_id": "C", "decision": "held", "reasons": "data_check"},
    ]
    rows = _read(write_review_file(results, tmp_path, as_of=AS_OF))
    assert [r["account_id"] for r in rows] == ["A", "B", "C"]
    a = rows[0]
    assert (a["reasons"], a["est_tax"], a["losses_harvested"], a["n_orders"], a["drift_before"]) == (
        "drift;tax_loss_harvest", "12.34", "1000.12", "4", "0.071235")
    assert rows[1]["error"] == "infeasible: cash floor vs never_sell" and rows[1]["n_orders"] == "0"
    with pytest.raises(ExportError, match="decision 'maybe'"):
        write_review_file([{"account_id": "A", "decision": "maybe"}], tmp_path, as_of=AS_OF)


def test_blocks_never_net_buys_and_sells(tmp_path: Path) -> None:
    orders = _orders(
        [
            {"account_id": "A", "symbol": "X", "side": "SELL", "shares": 5.0, "est_price": 10.005, "lot_id": "L1"},
            {"account_id": "A", "symbol": "X", "side": "SELL", "shares": 1.0, "est_price": 10.005, "lot_id": "L2"},
            {"account_id": "B", "symbol": "X", "side": "BUY", "shares": 4.0, "est_price": 10.005},
            {"account_id": "C", "symbol": "X", "side": "BUY", "shares": 3.0, "est_price": 10.005},
            {"account_id": "C", "symbol": "Y", "side": "BUY", "shares": 1.5, "est_price": 2.0},
        ]
    )
    bpath, apath = write_blocks_file(orders, tmp_path, as_of=AS_OF, security_types={"X": "equity", "Y": "mutual_fund"})
    blocks = {r["block_id"]: r for r in _read(bpath)}
    assert list(blocks) == ["SELL-X", "BUY-X", "BUY-Y"]
    assert (blocks["SELL-X"]["shares"], blocks["SELL-X"]["n_accounts"], blocks["SELL-X"]["n_lines"]) == ("6", "1", "2")
    assert (blocks["BUY-X"]["shares"], blocks["BUY-X"]["n_accounts"]) == ("7", "2")
    trades = _read(write_trade_file(orders, tmp_path, as_of=AS_OF, security_types={"X": "equity", "Y": "mutual_fund"}))
    allocs = _read(apath)
    for bid, b in blocks.items():
        mine = [a for a in allocs if a["block_id"] == bid]
        lines = [t for t in trades if f"{t['side']}-{t['symbol']}" == bid]
        assert sum(Decimal(a["shares"]) for a in mine) == Decimal(b["shares"]) == sum(Decimal(t["shares"]) for t in lines)
        assert sum(Decimal(a["est_value"]) for a in mine) == Decimal(b["est_value"]) == sum(Decimal(t["est_value"]) for t in lines)
    assert [(a["block_id"], a["account_id"], a["shares"]) for a in allocs] == [
        ("SELL-X", "A", "6"), ("BUY-X", "B", "4"), ("BUY-X", "C", "3"), ("BUY-Y", "C", "1.5")]
