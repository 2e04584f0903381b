"""Benchmark `overlay generate`: wall and CPU time to generate (and write) demo books of several sizes.

Usage: python benchmarks/bench_generate.py [--accounts 1000 10000] [--workers 1 2] [--out DIR]

Prints one line per (accounts, workers): stage times (market, plan, histories = trade simulation +
ledger replay, book), the write time, trades replayed, lots, and the peak memory of the parent process.
The issue's target: 10,000 accounts in < 60 s. Figures of record are in docs/demo_book.md.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import tempfile
import time

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")


def main() -> None:
    from overlay_core.demo.generate import generate_book, write_book

    ap = argparse.ArgumentParser()
    ap.add_argument("--accounts", type=int, nargs="+", default=[1000, 10000])
    ap.add_argument("--workers", type=int, nargs="+", default=[2])
    ap.add_argument("--out", default=None, help="keep the books here (default: a temporary folder, removed)")
    args = ap.parse_args()
    base = args.out or tempfile.mkdtemp(prefix="bench_generate_")
    try:
        for n in args.accounts:
            for w in args.workers:
                timings: dict[str, float] = {}
                t0 = time.perf_counter()
                c0 = time.process_time()
                ch0 = resource.getrusage(resource.RUSAGE_CHILDREN)
                book = generate_book(n_accounts=n, workers=w, timings=timings)
                t1 = time.perf_counter()
                out = os.path.join(base, f"book_{n}_{w}")
                write_book(book, out)
                t2 = time.perf_counter()
                ch1 = resource.getrusage(resource.RUSAGE_CHILDREN)
                cpu = time.process_time() - c0 + (ch1.ru_utime - ch0.ru_utime) + (ch1.ru_stime - ch0.ru_stime)
                size = sum(os.path.getsize(os.path.join(out, f)) for f in os.listdir(out)) / 1e6
                print(
                    f"accounts={n:,} workers={w}: generate {t1 - t0:.1f} s (market {timings['market']:.1f}, plan {timings['plan']:.1f}, "
                    f"histories {timings['histories']:.1f}, book {timings['book']:.1f}), write {t2 - t1:.1f} s, total {t2 - t0:.1f} s wall, "
                    f"{cpu:.1f} s CPU; {int(timings['trades_replayed']):,} trades replayed, {book.lots.height:,} lots, "
                    f"{size:.0f} MB on disk, peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB",
                    flush=True,
                )
    finally:
        if args.out is None:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
