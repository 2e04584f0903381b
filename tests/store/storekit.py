"""Small Books for the store's tests, built directly from frames with the contract's schemas.

(The hand-made fixture upload is read too when it exists: see test_store_fixture.py.)
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from types import MappingProxyType

import duckdb
import polars as pl
import pytest

from overlay_core import contract as c
from overlay_core.book import Book
from overlay_core.errors import Level, Problem
from overlay_core.policy import Policy, RebalancePolicy

AS_OF = dt.date(2026, 1, 2)


def _frame(table: c.Table, rows: list[dict]) -> pl.DataFrame:
    schema = c.schema(table)
    return pl.DataFrame([{k: r.get(k) for k in schema} for r in rows], schema=schema)


def business_days(end: dt.date, n: int) -> list[dt.date]:
    out: list[dt.date] = []
    d = end
    while len(out) < n:
        if d.weekday() < 5:
            out.append(d)
        d -= dt.timedelta(days=1)
    return sorted(out)


def _close(day: dt.date, j: int) -> float:
    """A close that depends on the date only (so overlapping windows of different days agree)."""
    return 100.0 + day.toordinal() % 97 + j * 0.25 + (day.toordinal() % 7) / 3


def make_book(
    as_of: dt.date = AS_OF,
    *,
    tag: str = "v1",
    n_days: int = 10,
    close_bump: float = 0.0,
    symbols: tuple[str, ...] = ("AAA", "BBB", "CCC"),
    input_hash: str | None = None,
) -> Book:
    """A small Book of two accounts of one household plus an IRA, every optional column exercised.

    `tag` changes the upload's hash (and a cash value); `close_bump` changes every historical close.
    """
    days = business_days(as_of, n_days)
    ph = pl.DataFrame(
        {
            "date": [d for d in days for _ in symbols],
            "symbol": [s for _ in days for s in symbols],
            "close": [_close(d, j) + close_bump for d in days for j, _ in enumerate(symbols)],
        },
        schema=c.schema(c.PRICE_HISTORY),
    )
    securities = _frame(
        c.SECURITIES,
        [
            {"symbol": "AAA", "asset_class": "us_equity", "type": "etf", "name": "Ä fund, \"quoted\"", "sector": None,
             "tags": "esg;tobacco", "wash_group": "AAA", "cost_bps": 2.0, "trade_increment": None},
            {"symbol": "BBB", "asset_class": "us_equity", "type": "equity", "name": "", "sector": "tech", "tags": None,
             "wash_group": "SP500", "cost_bps": 5.0},
            {"symbol": "CCC", "asset_class": "bond", "type": "bond", "wash_group": "CCC", "cost_bps": 5.0,
             "trade_increment": 1000.0},
        ],
    )
    prices = _frame(c.PRICES, [{"symbol": s, "close": _close(as_of, j) + close_bump, "date": as_of}
                               for j, s in enumerate(symbols)])
    models = _frame(c.MODELS, [
        {"model_id": "M1", "symbol": "AAA", "weight": 0.6, "provider": "p"},
        {"model_id": "M1", "symbol": "CCC", "weight": 0.39},
        {"model_id": "M1", "symbol": "$CASH", "weight": 0.01},
    ])
    targets = _frame(c.TARGETS, [{"target_id": "T1", "model_id": "M1", "weight": 1.0}])
    cash = 1000.5 if tag == "v1" else 2000.25
    accounts = _frame(c.ACCOUNTS, [
        {"account_id": "A1", "target_id": "T1", "tax_status": "taxable", "cash": cash, "household_id": "H1",
         "status": "active", "st_rate": 0.37, "lt_rate": 0.2, "min_cash_weight": 0.0, "min_trade_value": 100.0,
         "cash_need": 0.0, "gain_budget": 5000.0, "ytd_realized_st": 0.0, "ytd_realized_lt": -12.5, "advisor": "Zoë"},
        {"account_id": "A2", "target_id": "T1", "tax_status": "tax_deferred", "cash": 0.0, "household_id": "H1",
         "status": "hold", "st_rate": 0.37, "lt_rate": 0.2, "min_cash_weight": 0.0, "min_trade_value": 100.0,
         "cash_need": 0.0, "gain_budget": None, "ytd_realized_st": 0.0, "ytd_realized_lt": 0.0},
    ])
    lots = _frame(c.LOTS, [
        {"account_id": "A1", "lot_id": "L1", "symbol": "AAA", "shares": 10.0, "cost_basis": 950.123456789,
         "acquired": dt.date(2024, 5, 1), "purchase_date": dt.date(2024, 5, 1)},
        {"account_id": "A1", "lot_id": "L2", "symbol": "BBB", "shares": 0.001, "cost_basis": 0.1,
         "acquired": dt.date(2025, 12, 20), "purchase_date": dt.date(2025, 12, 1)},
        {"account_id": "A2", "lot_id": "L1", "symbol": "CCC", "shares": 3.0, "cost_basis": None, "acquired": None,
         "purchase_date": None},
    ])
    restrictions = _frame(c.RESTRICTIONS, [
        {"account_id": "*", "kind": "never_buy", "value": "ZZZ"},
        {"account_id": "A1", "kind": "sector_max", "value": "tech", "limit": 0.2},
        {"account_id": "A1", "kind": "substitute", "value": "AAA>BBB"},
    ])
    transactions = _frame(c.TRANSACTIONS, [
        {"account_id": "A1", "date": as_of - dt.timedelta(days=3), "symbol": "BBB", "side": "sell", "shares": 1.0,
         "price": 99.0, "lot_id": "L0", "realized_gain": -40.0},
    ])
    pending = _frame(c.PENDING_ORDERS, [{"account_id": "A2", "symbol": "CCC", "side": "buy", "shares": 1.0}])
    quarantined = pl.DataFrame(
        {"account_id": ["Q1"], "household_id": ["HQ"], "reason": ["lots.csv row 7: shares -1; expected > 0"]}
    )
    warnings = (
        Problem("models.csv", 3, "weight", "sum 0.99995", "1 within 1e-4 (renormalized)", Level.WARNING),
        Problem("restrictions.csv", "account A1", None, "unknown symbol ZZZ", "a symbol of securities",
                Level.WARNING, "A1"),
    )
    policy = Policy(
        rebalance=RebalancePolicy(lt_wait_days=21, solver="ecos"),
        ranges=MappingProxyType({"T1": MappingProxyType({"bond": (0.2, 0.5)})}),
        approved=MappingProxyType({"us_equity": ("AAA", "BBB")}),
    )
    if input_hash is None:
        input_hash = hashlib.sha256(f"{as_of}|{tag}|{close_bump}|{n_days}|{symbols}".encode()).hexdigest()
    return Book(
        as_of=as_of, trade_date=as_of + dt.timedelta(days=3), policy=policy, securities=securities, prices=prices,
        price_history=ph, models=models, targets=targets, accounts=accounts, lots=lots, restrictions=restrictions,
        transactions=transactions, pending_orders=pending, input_hash=input_hash, quarantined=quarantined,
        warnings=warnings, source=f"/uploads/{as_of}",
    )


def assert_books_equal(a: Book, b: Book) -> None:
    """Every field equal; frames compared exactly (row order, dtypes, values)."""
    from polars.testing import assert_frame_equal

    for f in dataclasses.fields(Book):
        x, y = getattr(a, f.name), getattr(b, f.name)
        if isinstance(x, pl.DataFrame):
            assert_frame_equal(x, y, check_exact=True, check_row_order=True, check_column_order=True)
        else:
            assert x == y, f"{f.name}: {x!r} != {y!r}"


def logical_dump(path) -> dict[str, list[tuple]]:
    """Every table of a DuckDB file with all its rows (sorted), for 'logically unchanged' comparisons."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        tables = [r[0] for r in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() ORDER BY 1").fetchall()]
        out: dict[str, list[tuple]] = {}
        for t in tables:
            cols = [r[0] for r in con.execute(
                "SELECT column_name FROM duckdb_columns() WHERE table_name = ? AND database_name = current_database() "
                "ORDER BY column_index", [t]).fetchall()]
            rows = con.execute(f'SELECT * FROM "{t}"').fetchall()
            out[t] = [tuple(cols)] + sorted(rows, key=repr)
        return out
    finally:
        con.close()


@pytest.fixture()
def store_path(tmp_path):
    return tmp_path / "store" / "overlay.duckdb"


@pytest.fixture()
def book() -> Book:
    return make_book()
