"""Benchmark of the market simulator; prints its figures (no assertions).

1. `simulate_prices`: 10 years (2,520 NYSE days) x 500 symbols (a mixed universe: 400 US large-cap
   stocks in 11 sectors, 100 funds over every asset class), cold (first call: the NYSE calendar is
   built) and warm (best of 3).
2. `simulate_prices`: 10,000 days (~40 years, beyond the calendar's default range) x 500 symbols.
3. `simulate_returns` alone (the numpy part) for the same sizes, and `load_real_history`.
4. `calibration_table` (20 paths of 8,313 days).

Usage: python benchmarks/bench_market.py [--symbols 500] [--years 10] [--skip-calibration]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import time

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import polars as pl

from overlay_core.market import calibration_table, load_real_history, simulate_prices, simulate_returns
from overlay_core.market.model import DEFAULT_ASSET_CLASSES, DEFAULT_SECTORS


def universe(n: int) -> pl.DataFrame:
    """`n` symbols: 80 % US large-cap stocks spread over the 11 sectors, 20 % funds of every class
    (in pairs sharing a wash group)."""
    sectors = list(DEFAULT_SECTORS)
    classes = [c for c in DEFAULT_ASSET_CLASSES]
    n_stocks = int(n * 0.8)
    rows = [(f"S{i:04d}", "us_large_cap", "equity", sectors[i % len(sectors)].title(), None) for i in range(n_stocks)]
    for k in range(n - n_stocks):
        ac = classes[k % len(classes)]
        rows.append((f"F{k:04d}", ac, "cash_equivalent" if ac == "cash" else "etf", None, f"{ac}_{k // (2 * len(classes))}"))
    return pl.DataFrame(rows, schema={c: pl.String for c in ("symbol", "asset_class", "type", "sector", "wash_group")}, orient="row")


def timed(fn, repeat: int = 1) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--symbols", type=int, default=500)
    ap.add_argument("--years", type=int, default=10)
    ap.add_argument("--skip-calibration", action="store_true")
    args = ap.parse_args()
    u = universe(args.symbols)
    days = 252 * args.years
    start = dt.date(2015, 1, 2)

    cold, p = timed(lambda: simulate_prices(u, start=start, days=days, seed=1))
    warm, p = timed(lambda: simulate_prices(u, start=start, days=days, seed=1), repeat=3)
    print(f"simulate_prices {days:,} days x {args.symbols} symbols ({p.height:,} rows): cold {cold:.2f} s, warm {warm:.2f} s")
    ret, _ = timed(lambda: simulate_returns(u, days=days - 1, seed=1), repeat=3)
    print(f"  of which simulate_returns (numpy): {ret:.2f} s")

    cold, p = timed(lambda: simulate_prices(u, start=start, days=10_000, seed=1))
    warm, p = timed(lambda: simulate_prices(u, start=start, days=10_000, seed=1), repeat=2)
    print(f"simulate_prices 10,000 days x {args.symbols} symbols ({p.height:,} rows, to {p['date'].max()}): cold {cold:.2f} s, warm {warm:.2f} s")
    ret, _ = timed(lambda: simulate_returns(u, days=9_999, seed=1), repeat=2)
    print(f"  of which simulate_returns (numpy): {ret:.2f} s")

    t, h = timed(lambda: load_real_history(include_index=True))
    print(f"load_real_history (21 symbols x 8,313 days, {h.height:,} rows): {t:.3f} s (first call reads the files)")

    if not args.skip_calibration:
        t, _ = timed(lambda: calibration_table(paths=20))
        print(f"calibration_table(paths=20): {t:.1f} s")


if __name__ == "__main__":
    main()
