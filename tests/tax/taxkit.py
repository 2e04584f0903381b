"""Helpers of the tax tests (a uniquely named module: `from conftest import ...` collides across test folders).

Small `Book`s built directly from rows with `contract.schema(...)` (no upload reader needed), and ledger
inputs from CSV text.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Sequence

import polars as pl

from overlay_core import contract as c
from overlay_core.book import Book
from overlay_core.policy import Policy


def frame(table: c.Table, rows: Sequence[dict[str, Any]]) -> pl.DataFrame:
    """A frame of exactly the contract's normalized schema; absent optional columns are null."""
    schema = c.schema(table)
    return pl.DataFrame([{k: r.get(k) for k in schema} for r in rows], schema=schema, orient="row") if rows else pl.DataFrame(schema=schema)


def make_book(
    *,
    trade_date: dt.date,
    accounts: Sequence[dict[str, Any]],
    lots: Sequence[dict[str, Any]] = (),
    securities: Sequence[dict[str, Any]] = (),
    prices: dict[str, float] | None = None,
    transactions: Sequence[dict[str, Any]] = (),
    pending_orders: Sequence[dict[str, Any]] = (),
) -> Book:
    prices = prices or {}
    syms = sorted({r["symbol"] for r in lots} | set(prices) | {r["symbol"] for r in securities})
    sec_rows = {r["symbol"]: dict(r) for r in securities}
    for s in syms:
        sec_rows.setdefault(s, {"symbol": s, "asset_class": "equity", "type": "equity"})
        sec_rows[s].setdefault("asset_class", "equity")
        sec_rows[s].setdefault("type", "equity")
        # the reader fills wash_group = symbol where empty
        if sec_rows[s].get("wash_group") is None:
            sec_rows[s]["wash_group"] = s
    acc_rows = []
    for a in accounts:
        a = dict(a)
        a.setdefault("target_id", "T")
        a.setdefault("cash", 0.0)
        a.setdefault("tax_status", "taxable")
        a.setdefault("household_id", a["account_id"])
        a.setdefault("st_rate", 0.37)
        a.setdefault("lt_rate", 0.20)
        acc_rows.append(a)
    lot_rows = []
    for r in lots:
        r = dict(r)
        if r.get("purchase_date") is None:
            r["purchase_date"] = r.get("acquired")
        lot_rows.append(r)
    as_of = trade_date - dt.timedelta(days=1)
    return Book(
        as_of=as_of,
        trade_date=trade_date,
        policy=Policy(),
        securities=frame(c.SECURITIES, list(sec_rows.values())),
        prices=frame(c.PRICES, [{"symbol": s, "close": p} for s, p in prices.items()]),
        price_history=frame(c.PRICE_HISTORY, []),
        models=frame(c.MODELS, []),
        targets=frame(c.TARGETS, []),
        accounts=frame(c.ACCOUNTS, acc_rows),
        lots=frame(c.LOTS, lot_rows),
        restrictions=frame(c.RESTRICTIONS, []),
        transactions=frame(c.TRANSACTIONS, list(transactions)),
        pending_orders=frame(c.PENDING_ORDERS, list(pending_orders)),
    )


def history(text: str) -> pl.DataFrame:
    """A ledger input from CSV text (leading spaces of each line dropped), all columns as strings."""
    import io

    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip() and not ln.strip().startswith("#")]
    return pl.read_csv(io.StringIO("\n".join(lines)), infer_schema=False)


def rows_by(df: pl.DataFrame, key: str) -> dict[str, dict[str, Any]]:
    """Rows of a frame keyed by one column (unique)."""
    return {r[key]: r for r in df.iter_rows(named=True)}
