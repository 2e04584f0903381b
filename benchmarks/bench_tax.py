"""Benchmarks of the tax engine; prints its figures (no assertions).

1. `replay` of a 100,000-transaction history (target < 10 s): 1,000 households of 1-3 accounts (one in
   five an IRA), 300 symbols in 150 wash groups, ~5 years of trading, buys and sells (FIFO and HIFO).
   Also the full `overlay ledger` path: CSV read + replay + CSV write.
2. A dense worst case: one account trading one symbol 100,000 times (long open-lot lists, every sale a
   wash-sale candidate).
3. `tax_state` on a synthetic book of 100,000 accounts / 5,000,000 lots, then 100,000 `account()` calls.

Usage: python benchmarks/bench_tax.py [--lots 5000000] [--accounts 100000] [--transactions 100000]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import tempfile
import time
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np
import polars as pl

from overlay_core import contract as c
from overlay_core.book import Book
from overlay_core.policy import Policy
from overlay_core.tax.blocks import tax_state
from overlay_core.tax.ledger import read_transactions, replay, write_ledger


def history(n: int, *, households: int = 1000, symbols: int = 300, seed: int = 7) -> pl.DataFrame:
    """A valid random history of about `n` rows (sells never exceed holdings), as strings."""
    rng = np.random.default_rng(seed)
    accts: list[tuple[str, str, str]] = []
    for h in range(households):
        for k in range(int(rng.integers(1, 4))):
            status = "tax_deferred" if (k == 2 or rng.random() < 0.1) else "taxable"
            accts.append((f"A{h:05d}-{k}", f"H{h:05d}", status))
    start = dt.date(2020, 1, 2)
    days = np.sort(rng.integers(0, 5 * 365, n))
    held: dict[tuple[int, int], float] = {}
    price = 50 * np.exp(rng.normal(0, 0.3, symbols))
    rows = {k: [] for k in ("date", "account_id", "household_id", "tax_status", "symbol", "side", "shares", "price", "wash_group")}
    a_idx = rng.integers(0, len(accts), n)
    s_idx = rng.integers(0, symbols, n)
    u = rng.random(n)
    for i in range(n):
        a = int(a_idx[i])
        s = int(s_idx[i] % 10 + (a % 30) * 10)  # each account trades 10 symbols
        price[s] *= float(np.exp(rng.normal(0, 0.02)))
        h = held.get((a, s), 0.0)
        if h > 0 and u[i] < 0.45:
            q = h if u[i] < 0.15 else float(np.floor(h * 0.5)) or h
            held[(a, s)] = h - q
            side = "sell"
        else:
            q = float(rng.integers(1, 200))
            held[(a, s)] = h + q
            side = "buy"
        acct, hh, status = accts[a]
        rows["date"].append((start + dt.timedelta(days=int(days[i]))).isoformat())
        rows["account_id"].append(acct)
        rows["household_id"].append(hh)
        rows["tax_status"].append(status)
        rows["symbol"].append(f"S{s:03d}")
        rows["side"].append(side)
        rows["shares"].append(repr(q))
        rows["price"].append(f"{price[s]:.2f}")
        rows["wash_group"].append(f"G{s // 2:03d}")
    return pl.DataFrame(rows)


def dense_history(n: int, seed: int = 3) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    start = dt.date(2010, 1, 4)
    held = 0.0
    p = 100.0
    rows = {k: [] for k in ("date", "symbol", "side", "shares", "price")}
    for i in range(n):
        p *= float(np.exp(rng.normal(0, 0.02)))
        if held > 0 and rng.random() < 0.45:
            q = float(np.floor(held * rng.uniform(0.05, 0.3))) or held
            held -= q
            side = "sell"
        else:
            q = float(rng.integers(1, 50))
            held += q
            side = "buy"
        rows["date"].append((start + dt.timedelta(days=i // 8)).isoformat())
        rows["symbol"].append("X")
        rows["side"].append(side)
        rows["shares"].append(repr(q))
        rows["price"].append(f"{p:.2f}")
    return pl.DataFrame(rows)


def big_book(n_accounts: int, n_lots: int, *, n_symbols: int = 500, seed: int = 11) -> Book:
    rng = np.random.default_rng(seed)
    td = dt.date(2026, 11, 27)
    sym = np.array([f"S{i:03d}" for i in range(n_symbols)])
    groups = np.array([f"G{i // 2:03d}" for i in range(n_symbols)])
    acct_ids = np.array([f"A{i:06d}" for i in range(n_accounts)])
    hh = np.array([f"H{i // 2 if i % 3 else i:06d}" for i in range(n_accounts)])
    status = np.where(rng.random(n_accounts) < 0.25, "tax_deferred", "taxable")
    accounts = pl.DataFrame(
        {
            "account_id": acct_ids, "target_id": "T", "tax_status": status, "cash": 0.0, "household_id": hh,
            "status": "active", "st_rate": 0.37, "lt_rate": 0.20,
        }
    ).with_columns([pl.lit(None, dtype=t).alias(k) for k, t in c.schema(c.ACCOUNTS).items() if k not in ("account_id", "target_id", "tax_status", "cash", "household_id", "status", "st_rate", "lt_rate")]).select(list(c.schema(c.ACCOUNTS)))
    owner = np.sort(rng.integers(0, n_accounts, n_lots))
    age = rng.integers(0, 4 * 365, n_lots)
    acquired = np.datetime64(td) - age.astype("timedelta64[D]")
    shares = rng.integers(1, 500, n_lots).astype(float)
    lots = pl.DataFrame(
        {
            "account_id": acct_ids[owner],
            "lot_id": np.char.add("L", np.arange(n_lots).astype(str)),
            "symbol": sym[rng.integers(0, n_symbols, n_lots)],
            "shares": shares,
            "cost_basis": shares * rng.uniform(20, 200, n_lots),
            "acquired": acquired,
            "purchase_date": acquired,
        }
    ).with_columns(pl.col("acquired").cast(pl.Date), pl.col("purchase_date").cast(pl.Date))
    n_tx = n_accounts * 2
    tx_days = np.datetime64(td) - rng.integers(1, 60, n_tx).astype("timedelta64[D]")
    side = np.where(rng.random(n_tx) < 0.5, "buy", "sell")
    transactions = pl.DataFrame(
        {
            "account_id": acct_ids[rng.integers(0, n_accounts, n_tx)],
            "date": tx_days,
            "symbol": sym[rng.integers(0, n_symbols, n_tx)],
            "side": side,
            "shares": 10.0,
            "price": 50.0,
            "lot_id": None,
            "realized_gain": np.where(side == "sell", rng.normal(0, 100, n_tx), np.nan),
        },
        schema_overrides={"lot_id": pl.String},
    ).with_columns(pl.col("date").cast(pl.Date), pl.col("realized_gain").fill_nan(None))
    n_p = n_accounts // 10
    pend = pl.DataFrame(
        {
            "account_id": acct_ids[rng.integers(0, n_accounts, n_p)],
            "symbol": sym[rng.integers(0, n_symbols, n_p)],
            "side": np.where(rng.random(n_p) < 0.5, "buy", "sell"),
            "shares": 5.0,
            "lot_id": None,
            "est_realized_gain": None,
        },
        schema_overrides={"lot_id": pl.String, "est_realized_gain": pl.Float64},
    )
    securities = pl.DataFrame({"symbol": sym, "asset_class": "equity", "type": "equity", "wash_group": groups}).with_columns(
        [pl.lit(None, dtype=t).alias(k) for k, t in c.schema(c.SECURITIES).items() if k not in ("symbol", "asset_class", "type", "wash_group")]
    ).select(list(c.schema(c.SECURITIES)))
    prices = pl.DataFrame({"symbol": sym, "close": rng.uniform(20, 200, n_symbols), "date": None}, schema_overrides={"date": pl.Date})
    empty = lambda t: pl.DataFrame(schema=c.schema(t))  # noqa: E731
    return Book(
        as_of=td - dt.timedelta(days=1), trade_date=td, policy=Policy(), securities=securities, prices=prices,
        price_history=empty(c.PRICE_HISTORY), models=empty(c.MODELS), targets=empty(c.TARGETS), accounts=accounts,
        lots=lots.select(list(c.schema(c.LOTS))), restrictions=empty(c.RESTRICTIONS),
        transactions=transactions.select(list(c.schema(c.TRANSACTIONS))), pending_orders=pend.select(list(c.schema(c.PENDING_ORDERS))),
    )


class _Timer:
    """Wall and CPU (process) time of a block: the machine is shared, CPU time is the steadier figure."""

    def __enter__(self) -> "_Timer":
        self.w, self.c = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall, self.cpu = time.perf_counter() - self.w, time.process_time() - self.c

    def __str__(self) -> str:
        return f"{self.wall:.2f} s wall / {self.cpu:.2f} s CPU"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--transactions", type=int, default=100_000)
    ap.add_argument("--accounts", type=int, default=100_000)
    ap.add_argument("--lots", type=int, default=5_000_000)
    ap.add_argument("--dense", type=int, default=20_000)
    args = ap.parse_args(argv)
    print(f"python {sys.version.split()[0]}, polars {pl.__version__}, numpy {np.__version__}")

    hist = history(args.transactions)
    for method in ("fifo", "hifo", "tax_optimal"):
        with _Timer() as t:
            res = replay(hist, method=method)
        print(
            f"replay {hist.height:,} transactions ({method}): {t}  -> {res.realized.height:,} lots relieved, "
            f"{int((res.realized['disallowed_loss'] > 0).sum()):,} washed, {res.lots.height:,} open lots "
            f"({int(res.lots['parent_lot_id'].ne(res.lots['lot_id']).sum()):,} split pieces)"
        )
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "tx.csv"
        hist.write_csv(path)
        with _Timer() as t:
            res = replay(read_transactions(path), file=path.name)
            write_ledger(res, Path(tmp) / "out")
        print(f"overlay ledger path (CSV read + replay + CSV write): {t}")

    dense = dense_history(args.dense)
    with _Timer() as t:
        res = replay(dense)
    print(
        f"replay dense {dense.height:,} transactions, one account/symbol (fifo): {t}  -> "
        f"{int((res.realized['disallowed_loss'] > 0).sum()):,} washed of {res.realized.height:,}, {res.lots.height:,} open lots"
    )

    t0 = time.perf_counter()
    book = big_book(args.accounts, args.lots)
    print(f"built a book of {book.accounts.height:,} accounts / {book.lots.height:,} lots in {time.perf_counter() - t0:.1f} s (not timed below)")
    with _Timer() as t:
        ts = tax_state(book)
    print(
        f"tax_state: {t}  -> {int(ts.lots['loss_sale_blocked'].sum()):,} loss-sale-blocked lots, "
        f"{ts.buy_blocks.height:,} blocked (account, symbol) pairs"
    )
    ids = ts.account_ids()
    n = 0
    with _Timer() as t:
        for a in ids:
            n += ts.account(a).n_lots
    print(f"account() for all {len(ids):,} accounts: {t} ({t.wall / len(ids) * 1e6:.1f} us each), {n:,} lots")


if __name__ == "__main__":
    main()
