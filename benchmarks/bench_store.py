"""Benchmark of the DuckDB store: save / load a synthetic Book of 1,000 and 10,000 accounts, the next day's
upload (deduplicated price history), a review's evidence in batches, and the cost of publishing the snapshot.

    python benchmarks/bench_store.py                 # 1,000 and 10,000 accounts
    python benchmarks/bench_store.py --accounts 1000 # one size
    python benchmarks/bench_store.py --repeat 3      # best of 3 (on a busy machine)

Frames are generated with numpy/polars directly (about 50 lots per account, a one-year price history).
Prints times (s) and file sizes (MB).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import hashlib
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl

from overlay_core import contract as c
from overlay_core.book import Book
from overlay_core.policy import Policy
from overlay_core.store import Store, snapshot_path


def _business_days(end: dt.date, n: int) -> list[dt.date]:
    out, d = [], end
    while len(out) < n:
        if d.weekday() < 5:
            out.append(d)
        d -= dt.timedelta(days=1)
    return sorted(out)


def synthetic_book(n_accounts: int, as_of: dt.date, *, seed: int = 0, lots_per_account: int = 50) -> Book:
    """A Book of `n_accounts` accounts (~`lots_per_account` lots each), one year of closes for the universe."""
    rng = np.random.default_rng(seed)
    n_sec = 600 if n_accounts <= 1000 else 3000
    symbols = np.array([f"S{i:04d}" for i in range(n_sec)])
    days = _business_days(as_of, 252)
    # closes depend on (date, symbol) only, so two days' uploads agree on their common history
    ords = np.array([d.toordinal() for d in days])
    base = 20 + (np.arange(n_sec) % 480)
    closes = np.round(base[None, :] * (1 + 0.1 * np.sin(ords[:, None] / 30 + np.arange(n_sec)[None, :])), 2)
    ph = pl.DataFrame(
        {"date": np.repeat(np.array(days, dtype="datetime64[D]"), n_sec), "symbol": np.tile(symbols, len(days)),
         "close": closes.ravel()}
    ).with_columns(pl.col("date").cast(pl.Date))
    securities = pl.DataFrame({
        "symbol": symbols, "asset_class": np.where(np.arange(n_sec) % 5 == 0, "bond", "us_equity"),
        "type": np.where(np.arange(n_sec) % 5 == 0, "etf", "equity"), "name": [f"Security {s}" for s in symbols],
        "sector": np.array(["tech", "health", "energy", "financials"])[np.arange(n_sec) % 4], "tags": None,
        "wash_group": symbols, "cost_bps": 5.0, "trade_increment": None,
    }, schema=c.schema(c.SECURITIES))
    prices = pl.DataFrame({"symbol": symbols, "close": closes[-1], "date": [as_of] * n_sec}, schema=c.schema(c.PRICES))
    models = pl.DataFrame({"model_id": np.repeat([f"M{i}" for i in range(10)], 15),
                           "symbol": symbols[rng.integers(0, n_sec, 150)], "weight": np.full(150, 1 / 15),
                           "provider": "p"}, schema=c.schema(c.MODELS)).unique(["model_id", "symbol"], maintain_order=True)
    targets = pl.DataFrame({"target_id": [f"T{i}" for i in range(10)], "model_id": [f"M{i}" for i in range(10)],
                            "weight": 1.0}, schema=c.schema(c.TARGETS))
    ids = np.array([f"ACC{i:06d}" for i in range(n_accounts)])
    accounts = pl.DataFrame({
        "account_id": ids, "target_id": np.array([f"T{i}" for i in range(10)])[rng.integers(0, 10, n_accounts)],
        "tax_status": np.where(rng.random(n_accounts) < 0.7, "taxable", "tax_deferred"),
        "cash": np.round(rng.random(n_accounts) * 10_000, 2), "household_id": np.char.add("H", (np.arange(n_accounts) // 2).astype(str)),
        "status": "active", "st_rate": 0.37, "lt_rate": 0.2, "min_cash_weight": 0.0, "min_trade_value": 100.0,
        "cash_need": 0.0, "gain_budget": None, "ytd_realized_st": 0.0, "ytd_realized_lt": 0.0, "advisor": "adv",
    }, schema=c.schema(c.ACCOUNTS))
    n_lots = n_accounts * lots_per_account
    acct = np.repeat(ids, lots_per_account)
    acquired = np.datetime64(as_of) - rng.integers(1, 2000, n_lots).astype("timedelta64[D]")
    lots = pl.DataFrame({
        "account_id": acct, "lot_id": np.char.add("L", np.tile(np.arange(lots_per_account), n_accounts).astype(str)),
        "symbol": symbols[rng.integers(0, n_sec, n_lots)], "shares": np.round(rng.random(n_lots) * 200 + 1, 3),
        "cost_basis": np.round(rng.random(n_lots) * 20_000, 2), "acquired": acquired, "purchase_date": acquired,
    }).with_columns(pl.col("acquired", "purchase_date").cast(pl.Date)).cast(c.schema(c.LOTS))
    k = n_accounts // 2
    restrictions = pl.DataFrame({"account_id": ids[:k], "kind": "never_buy", "value": symbols[rng.integers(0, n_sec, k)],
                                 "limit": None}, schema=c.schema(c.RESTRICTIONS))
    transactions = pl.DataFrame({
        "account_id": ids, "date": [as_of - dt.timedelta(days=5)] * n_accounts, "symbol": symbols[rng.integers(0, n_sec, n_accounts)],
        "side": "sell", "shares": 1.0, "price": 10.0, "lot_id": "L0", "realized_gain": -5.0,
    }, schema=c.schema(c.TRANSACTIONS))
    pending = pl.DataFrame({"account_id": ids[: n_accounts // 10], "symbol": symbols[0], "side": "buy", "shares": 1.0,
                            "lot_id": None, "est_realized_gain": None}, schema=c.schema(c.PENDING_ORDERS))
    return Book(
        as_of=as_of, trade_date=as_of + dt.timedelta(days=1), policy=Policy(), securities=securities, prices=prices,
        price_history=ph, models=models, targets=targets, accounts=accounts, lots=lots, restrictions=restrictions,
        transactions=transactions, pending_orders=pending,
        input_hash=hashlib.sha256(f"bench {n_accounts} {as_of} {seed}".encode()).hexdigest(), source="synthetic",
    )


def _mb(path: Path) -> float:
    return path.stat().st_size / 1e6


def _used_mb(s: Store) -> float:
    """MB of the file's blocks in use (DuckDB keeps freed blocks in the file and reuses them)."""
    con = s._connection()
    con.execute("CHECKPOINT")
    block_size, used = con.execute("SELECT block_size, used_blocks FROM pragma_database_size()").fetchall()[0]
    return block_size * used / 1e6


def _timed(fn):
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def bench(n_accounts: int, folder: Path) -> list[tuple[str, float, str]]:
    day1, day2 = dt.date(2026, 3, 2), dt.date(2026, 3, 3)
    book1, t_gen = _timed(lambda: synthetic_book(n_accounts, day1, seed=1))
    book2 = synthetic_book(n_accounts, day2, seed=2)
    path = folder / f"store_{n_accounts}.duckdb"
    for old in folder.glob(f"store_{n_accounts}.*"):
        old.unlink()
    print(f"\n== {n_accounts:,} accounts: {book1.lots.height:,} lots, {book1.price_history.height:,} price-history rows "
          f"(generated in {t_gen:.2f} s)")
    with Store.open(path, publish=False) as s:
        uid1, t_save1 = _timed(lambda: s.save_upload(book1))
        _, t_pub1 = _timed(s.publish)
        size1, snap1, used1 = _mb(path), _mb(snapshot_path(path)), _used_mb(s)
        _, t_noop = _timed(lambda: s.save_upload(book1))
        back, t_load1 = _timed(lambda: s.load_upload(upload_id=uid1))
        exact = all(getattr(back, f.name).equals(getattr(book1, f.name)) for f in dataclasses.fields(Book)
                    if isinstance(getattr(book1, f.name), pl.DataFrame))
        uid2, t_save2 = _timed(lambda: s.save_upload(book2))
        _, t_pub2 = _timed(s.publish)
        size2, used2 = _mb(path), _used_mb(s)
        _, t_load2 = _timed(lambda: s.load_upload(as_of=day2))
        # a review's evidence: every account, batches of 50, ~3 orders per traded account (a third trade)
        run = s.begin_run(upload_id=uid2, as_of=day2, trade_date=book2.trade_date, input_hash=book2.input_hash,
                          code_version="bench", settings={"bench": True})
        ids = book2.accounts["account_id"].to_list()

        def evidence() -> None:
            for i in range(0, len(ids), 50):
                batch = ids[i : i + 50]
                traded = batch[::3]
                res = pl.DataFrame({"account_id": batch,
                                    "decision": ["trade" if a in traded else "no_trade" for a in batch],
                                    "reasons": ["drift"] * len(batch), "drift_before": 0.04, "te_before": 0.01,
                                    "n_orders": [3 if a in traded else 0 for a in batch], "solve_seconds": 0.002,
                                    "explanation": ['{"binding": ["cash_floor"]}'] * len(batch)})
                n = len(traded) * 3
                orders = pl.DataFrame({
                    "as_of": [day2] * n, "trade_date": [book2.trade_date] * n, "account_id": np.repeat(traded, 3),
                    "symbol": ["S0001", "S0002", "S0003"] * len(traded), "side": ["SELL", "SELL", "BUY"] * len(traded),
                    "shares": 10.0, "est_price": 12.5, "est_value": 125.0, "lot_id": ["L1", "L2", None] * len(traded),
                    "est_realized_gain": [-10.0, 5.0, None] * len(traded), "term": ["short", "long", None] * len(traded),
                    "reason": "rebalance"})
                s.save_accounts(run, res, orders)
            s.finish_run(run, {"accounts": len(ids)})

        _, t_ev = _timed(evidence)
        _, t_pub3 = _timed(s.publish)
        size3, used3 = _mb(path), _used_mb(s)
        hist, t_hist = _timed(lambda: s.account_history(ids[0]))
    rows = [
        ("save upload (day 1, new store)", t_save1, f"store file {size1:.1f} MB, {used1:.1f} MB in use"),
        ("publish snapshot after day 1", t_pub1, f"snapshot {snap1:.1f} MB"),
        ("save the same upload again (no-op)", t_noop, ""),
        ("load upload (day 1)", t_load1, "round trip exact" if exact else "ROUND TRIP DIFFERS"),
        ("save upload (day 2, overlapping history)", t_save2, f"file {size2:.1f} MB, in use {used2:.1f} MB (+{used2 - used1:.1f})"),
        ("publish snapshot after day 2", t_pub2, ""),
        ("load upload (day 2)", t_load2, ""),
        (f"evidence: {len(ids):,} accounts in batches of 50", t_ev, f"{len(ids) / t_ev:,.0f} accounts/s"),
        ("publish snapshot after the run", t_pub3, f"file {size3:.1f} MB, in use {used3:.1f} MB"),
        ("account_history(one account)", t_hist, f"{hist.height} row(s)"),
    ]
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--accounts", type=int, nargs="*", default=[1000, 10000])
    ap.add_argument("--repeat", type=int, default=1, help="run each size this many times; print the best time")
    ap.add_argument("--dir", type=Path, default=None, help="where to write the stores (default: a temp folder)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.dir or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        print(f"store benchmark, DuckDB store files in {folder} (pid {os.getpid()})")
        for n in args.accounts:
            runs = [bench(n, folder) for _ in range(args.repeat)]
            print(f"  (best of {args.repeat})" if args.repeat > 1 else "")
            for i, (name, _, note) in enumerate(runs[0]):
                best = min(r[i][1] for r in runs)
                print(f"  {name:<44} {best:8.3f} s  {note}")


if __name__ == "__main__":
    main()
