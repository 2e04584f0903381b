"""Benchmark: a weekly backtest of N direct-index accounts over a simulated universe (issue 9).

Default: 10 years (520 weekly rebalances) of 20 accounts on a fixed universe of 100 simulated US
large-cap stocks in 10 sectors, the optimizer strategy (the real per-account rebalance through the day
loop), plus buy and hold as the baseline. Prints wall and CPU time per strategy and the figures.

    python benchmarks/bench_backtest.py [--years 10] [--accounts 20] [--stocks 100] [--strategies optimizer,buy_and_hold] [--workers 2]

Goal (issue 9): < 5 min for the default.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import resource
import time

for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(var, "1")

import polars as pl  # noqa: E402

from overlay_core.analytics.backtest import BacktestSettings, run_backtest  # noqa: E402
from overlay_core.market import SimulatedSource, simulation_dates, universe_frame  # noqa: E402

SECTORS = ("Information Technology", "Health Care", "Financials", "Consumer Discretionary", "Industrials",
           "Consumer Staples", "Energy", "Utilities", "Materials", "Communication Services")


def _children_cpu() -> float:
    """User + system CPU seconds of the finished child processes (the worker pool's, once it is shut down)."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--years", type=float, default=10.0)
    ap.add_argument("--accounts", type=int, default=20)
    ap.add_argument("--stocks", type=int, default=100)
    ap.add_argument("--strategies", default="optimizer,buy_and_hold")
    ap.add_argument("--frequency", default="weekly")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--workers", type=int, default=0, help="processes the accounts are split over (0: this one)")
    ap.add_argument("--progress", type=int, default=0, help="print a line every N rebalances (the slowest worker's progress with --workers)")
    a = ap.parse_args()

    universe = universe_frame([(f"S{i:03d}", "us_large_cap", "equity", SECTORS[i % len(SECTORS)]) for i in range(a.stocks)])
    history = 260  # a year of history before the start, for the risk model
    days = int(a.years * 252) + history + 5
    start = dt.date(2010, 1, 4)
    t0 = time.perf_counter()
    src = SimulatedSource(universe, start=start, days=days, seed=a.seed)
    t_sim = time.perf_counter() - t0
    first = simulation_dates(start, history + 1)[-1]
    settings = BacktestSettings(start=first, frequency=a.frequency, accounts=a.accounts)
    strategies = tuple(s.strip() for s in a.strategies.split(",") if s.strip())
    periods = [0]

    t_start = time.perf_counter()

    def tick(name: str, k: int, n: int) -> None:
        periods[0] = n
        if a.progress and (k % a.progress == 0 or k == n):
            print(f"  {name}: {k}/{n} rebalances, {time.perf_counter() - t_start:.0f} s wall, {time.process_time():.0f} s CPU, load {os.getloadavg()[0]:.1f}", flush=True)

    load0 = os.getloadavg()
    w0, c0, k0 = time.perf_counter(), time.process_time(), _children_cpu()
    bt = run_backtest(src, settings=settings, strategies=strategies, universe=universe, on_period=tick, workers=a.workers)
    periods[0] = len(bt.dates) - 1
    wall, cpu, kids = time.perf_counter() - w0, time.process_time() - c0, _children_cpu() - k0
    load1 = os.getloadavg()
    print(f"universe {a.stocks} stocks, {a.accounts} accounts, {a.frequency}, {bt.dates[0]} .. {bt.dates[-1]} ({periods[0]} rebalances)")
    print(f"simulated prices: {t_sim:.1f} s")
    for s, t in bt.timings.items():
        per = t / max(periods[0], 1)
        print(f"{s:>13}: {t:7.1f} s wall ({per * 1e3:.0f} ms per rebalance, {per / a.accounts * 1e3:.1f} ms per account-rebalance)"
              + (" [the slowest worker]" if a.workers > 1 else ""))
    print(f"total: {wall:.1f} s wall, {cpu + kids:.1f} s CPU ({cpu:.1f} s this process + {kids:.1f} s worker processes; workers: {a.workers})")
    print(f"load average (1/5/15 min): {load0[0]:.1f}/{load0[1]:.1f}/{load0[2]:.1f} at the start, {load1[0]:.1f}/{load1[1]:.1f}/{load1[2]:.1f} at the end ({os.cpu_count()} cores)")
    r = bt.results()
    with pl.Config(tbl_cols=12, tbl_width_chars=160, float_precision=4):
        print(r.select("strategy", "tax_alpha", "tax_alpha_liquidated", "after_tax_return", "pre_tax_return", "harvest_yield", "tracking_error", "turnover"))


if __name__ == "__main__":
    main()
