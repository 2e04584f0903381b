"""Time `read_upload` on synthetic uploads of 1,000 and 10,000 accounts (targets: < 2 s and < 10 s).

    python benchmarks/bench_load.py                      # 1,000 and 10,000 accounts, CSV, median of 3
    python benchmarks/bench_load.py --accounts 1000 --fmt parquet --repeat 5
    python benchmarks/bench_load.py --source demo        # the demo generator's book (if available)

The synthetic book (`--source synthetic`, the default) has 500 securities, 10 models, 4 targets, about
50 lots per account (10,000 accounts = 500,000 lots), 260 business days of price history for every
security, a restriction, two transactions and a pending order for a few accounts in five: the shape of a
direct-indexing book, the heaviest the reader meets. `--source demo` generates the demo firm's book
(`overlay_core.demo.generate.generate_book(n_accounts=N, seed=S)`, slow for large N) and writes it with
`write_upload`.

Prints one line per size: accounts, lots, upload size, the median and the best of the timed loads
(`read_upload`, validation included; the first, untimed load warms the imports and calendar).
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl

from overlay_core import calendar
from overlay_core.upload import read_upload, write_upload

AS_OF = dt.date(2026, 11, 20)


def synthetic_upload(out: Path, *, accounts: int, seed: int = 7, fmt: str = "csv", lots_per_account: int = 50) -> None:
    """Write a plausible synthetic upload of `accounts` accounts to `out` (deterministic in `seed`)."""
    rng = np.random.default_rng(seed)
    out.mkdir(parents=True, exist_ok=True)
    n_sec = 500
    symbols = [f"S{i:03d}" for i in range(n_sec - 20)] + [f"ETF{i:02d}" for i in range(20)]
    kinds = ["equity"] * (n_sec - 20) + ["etf"] * 20
    sectors = ["technology", "health_care", "financials", "energy", "industrials", "consumer", "utilities"]
    classes = np.where(np.array(kinds) == "etf", rng.choice(["us_bond", "intl_equity", "us_equity"], n_sec), "us_equity")
    securities = pl.DataFrame(
        {
            "symbol": symbols,
            "asset_class": classes,
            "type": kinds,
            "name": [f"Security {s}" for s in symbols],
            "sector": [None if k == "etf" else sectors[i % len(sectors)] for i, k in enumerate(kinds)],
            "tags": [("fossil_fuels" if i % 37 == 0 else "tobacco" if i % 53 == 0 else None) for i in range(n_sec)],
            "wash_group": [f"G{i // 2}" if s.startswith("ETF") else None for i, s in enumerate(symbols)],
            "cost_bps": rng.uniform(1, 8, n_sec).round(2),
        }
    )
    close = rng.uniform(10, 500, n_sec).round(2)
    prices = pl.DataFrame({"symbol": symbols, "close": close, "date": [AS_OF] * n_sec})
    days = calendar.business_days(AS_OF - dt.timedelta(days=400), AS_OF)[-260:]
    walk = np.exp(np.cumsum(rng.normal(0, 0.015, (len(days), n_sec)), axis=0))
    walk = walk / walk[-1] * close
    history = pl.DataFrame(
        {
            "date": np.repeat(np.array(days, dtype="datetime64[D]"), n_sec),
            "symbol": symbols * len(days),
            "close": walk.ravel().round(2),
        }
    ).with_columns(pl.col("date").cast(pl.Date))
    model_rows = []
    for m in range(10):
        members = rng.choice(n_sec, size=50, replace=False)
        w = rng.dirichlet(np.ones(50)) * 0.98
        model_rows += [(f"M{m}", symbols[k], float(x)) for k, x in zip(members, w)]
        model_rows.append((f"M{m}", "$CASH", 1.0 - float(w.sum())))
    models = pl.DataFrame(model_rows, schema={"model_id": pl.String, "symbol": pl.String, "weight": pl.Float64}, orient="row")
    targets = pl.DataFrame(
        [("T0", "M0", 0.6), ("T0", "M1", 0.4), ("T1", "M2", 1.0), ("T2", "M3", 0.5), ("T2", "M4", 0.5), ("T3", "M5", 0.7), ("T3", "M6", 0.3)],
        schema={"target_id": pl.String, "model_id": pl.String, "weight": pl.Float64},
        orient="row",
    )
    ids = [f"AC{i:06d}" for i in range(accounts)]
    tax = rng.choice(["taxable", "tax_deferred", "tax_exempt"], accounts, p=[0.6, 0.3, 0.1])
    accounts_df = pl.DataFrame(
        {
            "account_id": ids,
            "target_id": rng.choice(["T0", "T1", "T2", "T3"], accounts),
            "tax_status": tax,
            "cash": rng.uniform(0, 20_000, accounts).round(2),
            "household_id": [f"H{i // 2:06d}" for i in range(accounts)],
            "st_rate": np.where(tax == "taxable", 0.408, np.nan),
            "lt_rate": np.where(tax == "taxable", 0.238, np.nan),
            "gain_budget": np.where(rng.random(accounts) < 0.3, 10_000.0, np.nan),
        }
    ).with_columns(pl.col("st_rate", "lt_rate", "gain_budget").fill_nan(None))
    n_lots = rng.poisson(lots_per_account, accounts).clip(1)
    acct_of_lot = np.repeat(np.arange(accounts), n_lots)
    total = int(n_lots.sum())
    lot_no = np.arange(total) - np.repeat(np.cumsum(n_lots) - n_lots, n_lots)
    sym_idx = rng.integers(0, n_sec, total)
    shares = rng.integers(1, 400, total).astype(float)
    acquired = (np.datetime64(AS_OF) - rng.integers(1, 3650, total).astype("timedelta64[D]"))
    basis = (shares * close[sym_idx] * rng.uniform(0.5, 1.5, total)).round(2)
    deferred = tax[acct_of_lot] != "taxable"
    lots = pl.DataFrame(
        {
            "account_id": np.array(ids)[acct_of_lot],
            "lot_id": [f"L{k}" for k in lot_no],
            "symbol": np.array(symbols)[sym_idx],
            "shares": shares,
            "cost_basis": np.where(deferred, np.nan, basis),
            "acquired": acquired,
        }
    ).with_columns(
        pl.col("acquired").cast(pl.Date),
        pl.col("cost_basis").fill_nan(None),
    )
    some = rng.choice(accounts, size=max(1, accounts // 5), replace=False)
    kinds_r = rng.choice(["never_buy", "screen", "never_sell"], some.size)
    restrictions = pl.DataFrame(
        {
            "account_id": np.array(ids)[some],
            "kind": kinds_r,
            "value": np.where(kinds_r == "screen", "fossil_fuels", np.array(symbols)[rng.integers(0, n_sec, some.size)]),
        }
    )
    tx_acc = np.repeat(some, 2)
    tx_sym = rng.integers(0, n_sec, tx_acc.size)
    tx_side = rng.choice(["buy", "sell"], tx_acc.size)
    transactions = pl.DataFrame(
        {
            "account_id": np.array(ids)[tx_acc],
            "date": np.datetime64(AS_OF) - rng.integers(1, 30, tx_acc.size).astype("timedelta64[D]"),
            "symbol": np.array(symbols)[tx_sym],
            "side": tx_side,
            "shares": rng.integers(1, 100, tx_acc.size).astype(float),
            "price": close[tx_sym],
            "realized_gain": np.where(tx_side == "sell", rng.normal(0, 500, tx_acc.size).round(2), np.nan),
        }
    ).with_columns(pl.col("date").cast(pl.Date), pl.col("realized_gain").fill_nan(None))
    pending = pl.DataFrame(
        {"account_id": np.array(ids)[some], "symbol": np.array(symbols)[rng.integers(0, n_sec, some.size)], "side": ["buy"] * some.size, "shares": [5.0] * some.size}
    )
    tables = {
        "securities": securities,
        "prices": prices,
        "price_history": history,
        "models": models,
        "targets": targets,
        "accounts": accounts_df,
        "lots": lots,
        "restrictions": restrictions,
        "transactions": transactions,
        "pending_orders": pending,
    }
    for name, df in tables.items():
        if fmt == "csv":
            df.write_csv(out / f"{name}.csv", date_format="%Y-%m-%d")
        else:
            df.write_parquet(out / f"{name}.parquet")
    (out / "as_of.txt").write_text(AS_OF.isoformat() + "\n")


def build(out: Path, *, accounts: int, fmt: str, source: str, seed: int) -> str:
    if source == "demo":
        try:
            from overlay_core.demo.generate import generate_book
        except ImportError:
            print("overlay_core.demo.generate.generate_book is not available; using the synthetic book", file=sys.stderr)
        else:
            t0 = time.perf_counter()
            book = generate_book(n_accounts=accounts, seed=seed)
            write_upload(book, out, fmt=fmt)
            print(f"(demo book of {accounts:,} accounts generated in {time.perf_counter() - t0:.0f} s)", file=sys.stderr)
            return "demo"
    synthetic_upload(out, accounts=accounts, seed=seed, fmt=fmt)
    return "synthetic"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--accounts", type=int, nargs="+", default=[1_000, 10_000])
    ap.add_argument("--fmt", choices=["csv", "parquet"], default="csv")
    ap.add_argument("--source", choices=["synthetic", "demo"], default="synthetic")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args(argv)
    print(f"{'accounts':>9} {'lots':>9} {'source':>9} {'fmt':>7} {'MB':>7} {'median s':>9} {'best s':>7}  quarantined")
    for n in args.accounts:
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "upload"
            source = build(out, accounts=n, fmt=args.fmt, source=args.source, seed=args.seed)
            size = sum(f.stat().st_size for f in out.iterdir()) / 1e6
            book = read_upload(out)  # warm-up (imports, calendar)
            times = []
            for _ in range(args.repeat):
                t0 = time.perf_counter()
                book = read_upload(out)
                times.append(time.perf_counter() - t0)
            print(
                f"{n:>9,} {book.lots.height:>9,} {source:>9} {args.fmt:>7} {size:>7.1f} {statistics.median(times):>9.2f} {min(times):>7.2f}  {book.quarantined.height}",
                flush=True,
            )


if __name__ == "__main__":
    main()
