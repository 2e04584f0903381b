"""Helpers of the review tests: a generated book, and real (simple) per-account functions.

This module is imported by the test files and, by name, by the worker processes (spawned pool
workers get the test's sys.path; Dask workers are started with this folder on PYTHONPATH).
"""

from __future__ import annotations

import datetime as dt
import os
import random
from pathlib import Path

import polars as pl

from overlay_core.book import Book
from overlay_core.contract import ACCOUNTS, LOTS, MODELS, PENDING_ORDERS, PRICE_HISTORY, PRICES, RESTRICTIONS, SECURITIES, TARGETS, TRANSACTIONS, empty_frame, schema
from overlay_core.policy import DEFAULT_POLICY
from overlay_core.review.driver import AccountReview

AS_OF = dt.date(2026, 11, 20)
TRADE_DATE = dt.date(2026, 11, 23)
SYMBOLS = [f"S{i:02d}" for i in range(12)]


def make_book(n_accounts: int, *, seed: int = 0, as_of: dt.date = AS_OF, price_factor: float = 1.0) -> Book:
    """A valid book of `n_accounts` accounts in households of 1-3, 0-40 lots each (deterministic per seed)."""
    rng = random.Random(seed)
    securities = pl.DataFrame(
        {"symbol": SYMBOLS, "asset_class": ["us_equity"] * len(SYMBOLS), "type": ["equity"] * len(SYMBOLS)}
    ).with_columns(
        [pl.lit(None, dtype=dt_).alias(c) for c, dt_ in schema(SECURITIES).items() if c not in ("symbol", "asset_class", "type")]
    ).select(list(schema(SECURITIES))).cast(schema(SECURITIES)).with_columns(wash_group=pl.col("symbol"), cost_bps=pl.lit(5.0))
    prices = pl.DataFrame(
        {"symbol": SYMBOLS, "close": [round((10 + 7 * i) * price_factor, 2) for i in range(len(SYMBOLS))], "date": [as_of] * len(SYMBOLS)},
        schema=schema(PRICES),
    )
    models = pl.DataFrame({"model_id": ["M"] * 4, "symbol": SYMBOLS[:4], "weight": [0.25] * 4, "provider": [None] * 4}, schema=schema(MODELS))
    targets = pl.DataFrame({"target_id": ["T"], "model_id": ["M"], "weight": [1.0]}, schema=schema(TARGETS))
    accts, lots = [], []
    i = 0
    hh = 0
    while i < n_accounts:
        size = min(rng.choice([1, 1, 2, 3]), n_accounts - i)
        for _ in range(size):
            aid = f"A{i:05d}"
            accts.append({"account_id": aid, "target_id": "T", "tax_status": rng.choice(["taxable", "tax_deferred"]),
                          "cash": float(rng.randint(0, 5000)), "household_id": f"H{hh:05d}", "status": "active"})
            for k in range(rng.choice([0, 1, 5, 10, 40])):
                sym = rng.choice(SYMBOLS)
                day = as_of - dt.timedelta(days=rng.randint(40, 2000))
                lots.append({"account_id": aid, "lot_id": f"L{k}", "symbol": sym, "shares": float(rng.randint(1, 300)),
                             "cost_basis": float(rng.randint(100, 20000)), "acquired": day, "purchase_date": day})
            i += 1
        hh += 1
    acc_schema = schema(ACCOUNTS)
    accounts = pl.DataFrame(accts).with_columns(
        [pl.lit(None, dtype=t).alias(c) for c, t in acc_schema.items() if c not in accts[0]]
    ).select(list(acc_schema)).cast(acc_schema).with_columns(
        st_rate=pl.lit(0.37), lt_rate=pl.lit(0.2), min_cash_weight=pl.lit(0.0), min_trade_value=pl.lit(100.0),
        cash_need=pl.lit(0.0), ytd_realized_st=pl.lit(0.0), ytd_realized_lt=pl.lit(0.0))
    lots_df = pl.DataFrame(lots, schema=schema(LOTS)) if lots else empty_frame(LOTS)
    return Book(
        as_of=as_of, trade_date=TRADE_DATE, policy=DEFAULT_POLICY, securities=securities, prices=prices,
        price_history=empty_frame(PRICE_HISTORY), models=models, targets=targets, accounts=accounts, lots=lots_df,
        restrictions=empty_frame(RESTRICTIONS), transactions=empty_frame(TRANSACTIONS), pending_orders=empty_frame(PENDING_ORDERS),
    )


def holdings_value(book: Book, account_id: str) -> float:
    """The account's value: cash + sum of lot shares x close (a real, simple per-account computation)."""
    close = book.price_map
    cash = book.accounts.filter(pl.col("account_id") == account_id)["cash"].item()
    lots = book.lots.filter(pl.col("account_id") == account_id)
    return round(cash + sum(s * close[sym] for s, sym in zip(lots["shares"].to_list(), lots["symbol"].to_list())), 6)


def value_review(book: Book, account_id: str) -> AccountReview:
    """An AccountReview carrying the holdings value (what the stored runs of the tests hold)."""
    return AccountReview("no_trade", reasons=("within_bands",), extra={"value": holdings_value(book, account_id)})


def value_or_fail(book: Book, account_id: str) -> float:
    """Fails, with a clear message, for accounts whose id ends in 7."""
    if account_id.endswith("7"):
        raise ValueError(f"account {account_id}: no price for a held symbol")
    return holdings_value(book, account_id)


def household_pids(book: Book, account_ids: tuple[str, ...]) -> dict[str, tuple[int, tuple[str, ...]]]:
    """Each account -> (the worker pid, the household group it was reviewed with)."""
    return {a: (os.getpid(), account_ids) for a in account_ids}


def crash_once(book: Book, account_id: str) -> float:
    """Kills its worker process the first time it sees account A00010 (a marker file remembers)."""
    marker = Path(os.environ["OVERLAY_TEST_CRASH_MARKER"])
    if account_id == "A00010" and not marker.exists():
        marker.write_text("crashed")
        os._exit(1)
    return holdings_value(book, account_id)


def crash_always(book: Book, account_id: str) -> float:
    """Kills its worker process whenever it sees account A00010."""
    if account_id == "A00010":
        os._exit(1)
    return holdings_value(book, account_id)


def probe(book: Book, account_ids: tuple[str, ...]) -> dict:
    """value_or_fail per account (isolated), each value tagged with (worker pid, household group)."""
    from overlay_core.review.runner import AccountOutcome, per_account

    out = per_account(value_or_fail)(book, account_ids)
    return {a: AccountOutcome(a, True, (os.getpid(), account_ids, o.value), None, o.seconds) if o.ok else o
            for a, o in out.items()}
