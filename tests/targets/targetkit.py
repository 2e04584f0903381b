"""Small hand-made books for the targets tests, built from frames of the contract's schemas."""

from __future__ import annotations

import datetime as dt
from types import MappingProxyType
from typing import Any, Callable

import numpy as np
import polars as pl
import pytest

from overlay_core.book import Book
from overlay_core.contract import (
    ACCOUNTS,
    LOTS,
    MODELS,
    PENDING_ORDERS,
    PRICE_HISTORY,
    PRICES,
    RESTRICTIONS,
    SECURITIES,
    TARGETS,
    TRANSACTIONS,
    Table,
    schema,
)
from overlay_core.policy import Policy

AS_OF = dt.date(2026, 11, 25)

SECURITIES_ROWS = [
    # symbol, asset_class, type, sector, tags, wash_group
    ("AAA", "us_equity", "equity", "tech", None, None),
    ("AAB", "us_equity", "equity", "tech", None, None),
    ("AAC", "us_equity", "equity", "energy", None, None),
    ("AAD", "us_equity", "equity", "energy", "fossil;esg_low", None),
    ("AAE", "us_equity", "equity", "health", "tobacco", None),
    ("AAF", "us_equity", "equity", "health", None, None),
    ("VTI", "us_equity", "etf", None, None, "TOTAL_US"),
    ("ITOT", "us_equity", "etf", None, None, "TOTAL_US"),
    ("SCHB", "us_equity", "etf", None, None, "SCHB"),
    ("VXUS", "intl_equity", "etf", None, None, None),
    ("IXUS", "intl_equity", "etf", None, None, None),
    ("BND", "bond", "etf", None, None, None),
    ("AGG", "bond", "etf", None, None, None),
    ("MMF", "cash", "cash_equivalent", None, None, None),
]
MODELS_ROWS = [
    ("M_STK", "AAA", 0.30),
    ("M_STK", "AAB", 0.20),
    ("M_STK", "AAC", 0.20),
    ("M_STK", "AAD", 0.20),
    ("M_STK", "AAE", 0.10),
    ("M_ETF", "VTI", 0.50),
    ("M_ETF", "VXUS", 0.20),
    ("M_ETF", "BND", 0.25),
    ("M_ETF", "$CASH", 0.05),
    ("M_BND", "BND", 0.60),
    ("M_BND", "AGG", 0.40),
]
TARGETS_ROWS = [("T1", "M_STK", 0.4), ("T1", "M_ETF", 0.6), ("T2", "M_ETF", 1.0), ("T3", "M_BND", 0.5), ("T3", "M_ETF", 0.5)]
RANGES = {"T1": {"us_equity": (0.3, 0.8), "bond": (0.05, 0.5), "cash": (0.0, 0.2)}, "T2": {"us_equity": (0.4, 0.6)}}


def frame(table: Table, rows: list[dict[str, Any]]) -> pl.DataFrame:
    """A frame of `table`'s normalized schema; columns absent from `rows` are null."""
    sch = schema(table)
    cols = {c: [r.get(c) for r in rows] for c in sch}
    return pl.DataFrame(cols, schema=sch)


def price_history(symbols: list[str], days: int = 300, seed: int = 7) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    n = len(symbols)
    market = rng.normal(0, 0.01, days)
    beta = rng.uniform(0.2, 1.3, n)
    rets = market[:, None] * beta[None, :] + rng.normal(0, 0.01, (days, n))
    closes = 100 * np.exp(np.cumsum(rets, axis=0))
    dates = [AS_OF - dt.timedelta(days=days - 1 - i) for i in range(days)]
    return pl.DataFrame(
        {
            "date": [d for d in dates for _ in symbols],
            "symbol": symbols * days,
            "close": closes.reshape(-1),
        },
        schema=schema(PRICE_HISTORY),
    )


def make_book(
    *,
    accounts: list[dict[str, Any]],
    restrictions: list[tuple[str, str, str, float | None]] = (),  # type: ignore[assignment]
    lots: list[tuple[str, str, float]] = (),  # type: ignore[assignment]
    pending: list[tuple[str, str, str, float]] = (),  # type: ignore[assignment]
    models: list[tuple[str, str, float]] | None = None,
    targets: list[tuple[str, str, float]] | None = None,
    securities: list[tuple] | None = None,
    policy: Policy | None = None,
    history: bool = True,
) -> Book:
    sec_rows = securities or SECURITIES_ROWS
    sec = frame(
        SECURITIES,
        [
            {"symbol": s, "asset_class": a, "type": t, "sector": sc, "tags": tg, "wash_group": wg or s, "cost_bps": 5.0}
            for s, a, t, sc, tg, wg in sec_rows
        ],
    )
    symbols = [r[0] for r in sec_rows]
    prices = frame(PRICES, [{"symbol": s, "close": 50.0 + 10 * i} for i, s in enumerate(symbols)])
    acc_rows = []
    for a in accounts:
        row = {
            "tax_status": "taxable",
            "cash": 0.0,
            "status": "active",
            "min_cash_weight": 0.0,
            "cash_need": 0.0,
            "ytd_realized_st": 0.0,
            "ytd_realized_lt": 0.0,
            "st_rate": 0.37,
            "lt_rate": 0.2,
            "min_trade_value": 100.0,
        }
        row.update(a)
        row.setdefault("household_id", row["account_id"])
        acc_rows.append(row)
    pol = policy or Policy(ranges=MappingProxyType({k: MappingProxyType(v) for k, v in RANGES.items()}))
    return Book(
        as_of=AS_OF,
        trade_date=AS_OF + dt.timedelta(days=1),
        policy=pol,
        securities=sec,
        prices=prices,
        price_history=price_history(symbols) if history else frame(PRICE_HISTORY, []),
        models=frame(MODELS, [{"model_id": m, "symbol": s, "weight": w} for m, s, w in (models or MODELS_ROWS)]),
        targets=frame(TARGETS, [{"target_id": t, "model_id": m, "weight": w} for t, m, w in (targets or TARGETS_ROWS)]),
        accounts=frame(ACCOUNTS, acc_rows),
        lots=frame(
            LOTS,
            [
                {"account_id": a, "lot_id": f"L{i}", "symbol": s, "shares": sh, "cost_basis": sh * 40.0,
                 "acquired": AS_OF - dt.timedelta(days=400), "purchase_date": AS_OF - dt.timedelta(days=400)}
                for i, (a, s, sh) in enumerate(lots)
            ],
        ),
        restrictions=frame(RESTRICTIONS, [{"account_id": a, "kind": k, "value": v, "limit": l} for a, k, v, l in restrictions]),
        transactions=frame(TRANSACTIONS, []),
        pending_orders=frame(PENDING_ORDERS, [{"account_id": a, "symbol": s, "side": sd, "shares": sh} for a, s, sd, sh in pending]),
    )


@pytest.fixture
def book_factory() -> Callable[..., Book]:
    return make_book
