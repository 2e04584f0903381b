"""Benchmark of the review machinery (not the optimizer): partition, runner overhead, export, checker.

usage: python benchmarks/bench_review.py [N_ACCOUNTS]   (default 20000)

Prints:
- partition_book time for the book;
- accounts/s of the runner with a trivial per-account function (the machinery's own cost: batching,
  pickling the book to workers, results back, the driver's bookkeeping): inline, 1 and 2 local workers;
- write_trade_file / write_blocks_file time for one BUY line per account;
- the independent checker's time on that trade file.
"""

from __future__ import annotations

import datetime as dt
import random
import sys
import tempfile
import time
from pathlib import Path

import polars as pl

from overlay_core.book import Book
from overlay_core.contract import ACCOUNTS, LOTS, MODELS, PENDING_ORDERS, PRICE_HISTORY, PRICES, RESTRICTIONS, SECURITIES, TARGETS, TRANSACTIONS, empty_frame, schema
from overlay_core.export import write_blocks_file, write_trade_file
from overlay_core.policy import DEFAULT_POLICY
from overlay_core.review.driver import AccountReview
from overlay_core.review.partition import partition_book
from overlay_core.review.runner import RunStats, per_account, run_batches

ROOT = Path(__file__).resolve().parent.parent
AS_OF, TD = dt.date(2026, 11, 20), dt.date(2026, 11, 23)
SYMBOLS = [f"S{i:03d}" for i in range(200)]


def make_book(n: int, seed: int = 0) -> Book:
    rng = random.Random(seed)
    sec = schema(SECURITIES)
    securities = pl.DataFrame({"symbol": SYMBOLS, "asset_class": ["us_equity"] * len(SYMBOLS), "type": ["equity"] * len(SYMBOLS)})
    securities = securities.with_columns([pl.lit(None, dtype=t).alias(c) for c, t in sec.items() if c not in securities.columns]).select(list(sec)).with_columns(wash_group=pl.col("symbol"))
    prices = pl.DataFrame({"symbol": SYMBOLS, "close": [10.0 + i for i in range(len(SYMBOLS))], "date": [AS_OF] * len(SYMBOLS)}, schema=schema(PRICES))
    models = pl.DataFrame({"model_id": ["M"] * 10, "symbol": SYMBOLS[:10], "weight": [0.1] * 10, "provider": [None] * 10}, schema=schema(MODELS))
    targets = pl.DataFrame({"target_id": ["T"], "model_id": ["M"], "weight": [1.0]}, schema=schema(TARGETS))
    acc, lots = [], []
    for i in range(n):
        aid = f"A{i:06d}"
        acc.append((aid, "T", "taxable", 1_000_000.0, f"H{i // 2:06d}", "active"))
        k = 300 if rng.random() < 0.05 else (100 if rng.random() < 0.25 else 15)  # 70% ETF-like, 25% medium, 5% direct index
        for j in range(k):
            lots.append((aid, f"L{j}", rng.choice(SYMBOLS), float(rng.randint(1, 100)), float(rng.randint(100, 5000)), AS_OF - dt.timedelta(days=400)))
    asch = schema(ACCOUNTS)
    accounts = pl.DataFrame(acc, schema=["account_id", "target_id", "tax_status", "cash", "household_id", "status"], orient="row")
    accounts = accounts.with_columns([pl.lit(None, dtype=t).alias(c) for c, t in asch.items() if c not in accounts.columns]).select(list(asch)).cast(asch)
    lots_df = pl.DataFrame(lots, schema=["account_id", "lot_id", "symbol", "shares", "cost_basis", "acquired"], orient="row").with_columns(
        purchase_date=pl.col("acquired")).cast(schema(LOTS))
    return Book(as_of=AS_OF, trade_date=TD, policy=DEFAULT_POLICY, securities=securities, prices=prices, price_history=empty_frame(PRICE_HISTORY),
                models=models, targets=targets, accounts=accounts, lots=lots_df, restrictions=empty_frame(RESTRICTIONS),
                transactions=empty_frame(TRANSACTIONS), pending_orders=empty_frame(PENDING_ORDERS))


def trivial(book: Book, account_id: str) -> AccountReview:
    return AccountReview("no_trade", reasons=("within_bands",))


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    t = time.perf_counter()
    book = make_book(n)
    print(f"book: {n:,} accounts, {book.lots.height:,} lots (built in {time.perf_counter() - t:.1f} s)")
    t = time.perf_counter()
    batches = partition_book(book)
    works = [b.work for b in batches]
    print(f"partition_book: {time.perf_counter() - t:.3f} s, {len(batches)} batches, accounts/batch "
          f"{min(len(b) for b in batches)}-{max(len(b) for b in batches)}, max work / mean {max(works) / (sum(works) / len(works)):.3f}")
    fn = per_account(trivial)
    for label, workers in (("inline", 0), ("1 worker", 1), ("2 workers", 2)):
        stats = RunStats()
        t = time.perf_counter()
        run_batches(batches, fn, book, workers=workers, progress=False, stats=stats)
        wall = time.perf_counter() - t
        print(f"runner {label:9s}: {wall:6.2f} s wall, {n / wall:9,.0f} accounts/s (trivial function: the machinery's overhead, incl. worker start)")
    # one BUY per account and one SELL of 1 share of its first lot (taxable: gain and term), so the checker
    # does the lot, position, tax and household wash-sale work for every account
    first = book.lots.filter(pl.col("lot_id") == "L0").join(book.prices, on="symbol")
    sells = first.select(
        "account_id", "symbol", side=pl.lit("SELL"), shares=pl.lit(1.0), est_price="close", lot_id="lot_id",
        est_realized_gain=pl.col("close") - pl.col("cost_basis") / pl.col("shares"), term=pl.lit("long"), reason=pl.lit("rebalance"))
    buys = pl.DataFrame({"account_id": book.account_ids(), "symbol": [SYMBOLS[i % 10] for i in range(n)], "side": ["BUY"] * n,
                         "shares": [float(1 + i % 7) for i in range(n)], "reason": ["rebalance"] * n}).join(
        book.prices.select("symbol", est_price="close"), on="symbol")
    orders = pl.concat([sells, buys], how="diagonal_relaxed")
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        path = write_trade_file(orders, tmp, as_of=AS_OF, run_id="BENCH", trade_date=TD, security_types={s: "equity" for s in SYMBOLS})
        print(f"write_trade_file: {orders.height:,} lines in {time.perf_counter() - t:.2f} s")
        t = time.perf_counter()
        write_blocks_file(orders, tmp, as_of=AS_OF, trade_date=TD)
        print(f"write_blocks_file: {time.perf_counter() - t:.2f} s")
        sys.path.insert(0, str(ROOT / "tests" / "checker"))
        from trade_checker import check_trades_against_book

        t = time.perf_counter()
        found = check_trades_against_book(book, path)
        kinds = {}
        for v in found:
            kinds[v.kind] = kinds.get(v.kind, 0) + 1
        print(f"checker: {orders.height:,} lines in {time.perf_counter() - t:.2f} s, violations by kind {kinds} "
              "(wash_sale_a expected: the generated file buys what it sells at a loss)")


if __name__ == "__main__":
    main()
