"""Benchmark of the daily review of whole books (`review.daily.review_book`, the optimizer included).

usage: python benchmarks/bench_review_book.py [--accounts N ...] [--workers W ...] [--demo] [--no-store]

- ``--demo``: the embedded demo book (1,000 accounts, data/demo), loaded with `read_upload`;
- ``--accounts N``: a book generated with `overlay_core.demo.generate_book(n_accounts=N)` (the demo's
  mix: mostly ETF-model accounts, some 100-500-stock direct indexes, households, customizations);
- each book is reviewed once per ``--workers`` value (local pool), with a fresh store and output folder.

Prints per run: wall seconds, accounts/s, optimized accounts, per-optimized-account median/p90 (worker
seconds), CPU seconds (this process + its children), peak RSS of this process and of its largest child,
the share of worker time outside the solver, the review's stages (screen, optimize), and the load average
(the machine is shared: compare CPU seconds when the load is high). Then the speed-up of the most workers
against one.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import tempfile
import time
from pathlib import Path


def _cpu() -> float:
    s = resource.getrusage(resource.RUSAGE_SELF)
    c = resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


def run(book, workers: int, store: bool) -> dict:
    import polars as pl

    from overlay_core.review.daily import review_book
    from overlay_core.store import Store

    with tempfile.TemporaryDirectory() as tmp:
        load0 = os.getloadavg()[0]
        c0, t0 = _cpu(), time.perf_counter()
        if store:
            with Store.open(Path(tmp) / "s.duckdb", publish=False) as st:
                out = review_book(book, store=st, out_dir=Path(tmp) / "out", workers=workers, progress=False)
        else:
            out = review_book(book, store=None, out_dir=Path(tmp) / "out", workers=workers, progress=False)
        wall, cpu = time.perf_counter() - t0, _cpu() - c0
        load1 = os.getloadavg()[0]
    s = out.stats
    opt = out.results.filter(pl.col("solver").is_not_null() & (pl.col("solver") != "")) if "solver" in out.results.columns else out.results.head(0)
    secs = sorted(opt["seconds"].fill_null(0.0).to_list())
    q = statistics.quantiles(secs, n=10) if len(secs) >= 10 else [float("nan")] * 9
    return {
        "accounts": out.results.height,
        "workers": workers,
        "wall": wall,
        "acc_per_s": out.results.height / wall,
        "optimized": s["optimized_now"],
        "median_ms": 1e3 * statistics.median(secs) if secs else float("nan"),
        "p90_ms": 1e3 * q[8],
        "cpu": cpu,
        "rss_self_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "rss_child_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
        "outside_solver": 1 - s["solver_seconds"] / s["worker_seconds"] if s["worker_seconds"] else float("nan"),
        "outside_solver_wall": 1 - s["solver_seconds"] / max(1e-9, wall * max(1, workers)),
        "screen": s["screen_seconds"],
        "optimize": s["optimize_wall_seconds"],
        "orders": s["orders"],
        "decisions": s["decisions"],
        "load": (load0, load1),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--accounts", type=int, nargs="*", default=[])
    ap.add_argument("--workers", type=int, nargs="*", default=[1, 2])
    ap.add_argument("--demo", action="store_true")
    ap.add_argument("--no-store", action="store_true")
    ap.add_argument("--seed", type=int, default=12)
    args = ap.parse_args()
    from overlay_core.demo.generate import demo_upload_dir, generate_book
    from overlay_core.upload import read_upload

    books = []
    if args.demo or not args.accounts:
        t = time.perf_counter()
        books.append(("demo", read_upload(demo_upload_dir())))
        print(f"demo book loaded in {time.perf_counter() - t:.1f} s", flush=True)
    for n in args.accounts:
        t = time.perf_counter()
        books.append((f"generated {n}", generate_book(n_accounts=n, seed=args.seed, price_history_days=504, workers=2)))
        print(f"generated {n} accounts in {time.perf_counter() - t:.1f} s", flush=True)
    print(f"cores {os.cpu_count()}", flush=True)
    for name, book in books:
        walls = {}
        for w in args.workers:
            r = run(book, w, not args.no_store)
            walls[w] = r["wall"]
            print(
                f"{name}: {r['accounts']} accounts, workers {w}: wall {r['wall']:.1f} s ({r['acc_per_s']:.1f} accounts/s), "
                f"optimized {r['optimized']}, per optimized account median {r['median_ms']:.0f} ms p90 {r['p90_ms']:.0f} ms, "
                f"CPU {r['cpu']:.1f} s, peak RSS driver {r['rss_self_mb']:.0f} MiB / largest child {r['rss_child_mb']:.0f} MiB, "
                f"outside the solver {r['outside_solver']:.0%} of worker time, screen {r['screen']:.1f} s, optimize {r['optimize']:.1f} s, "
                f"orders {r['orders']}, decisions {r['decisions']}, load average {r['load'][0]:.1f} -> {r['load'][1]:.1f}",
                flush=True,
            )
        if 1 in walls and len(walls) > 1:
            w = max(walls)
            print(f"{name}: speed-up {w} workers vs 1: {walls[1] / walls[w]:.2f}x", flush=True)


if __name__ == "__main__":
    main()
