"""Soak: random whole books (tests/reliability/strategies.py) through the real reader, review, exporter and
the independent trade-file checker, in batches, until a number of accounts or a time budget is reached.

Prints, per batch and in total: accounts, orders, violations (must be 0), accounts that errored (each
with its reason, summarized by reason), the hard situations met, and the rate (accounts/s).

    python benchmarks/soak_random_books.py --accounts 100000 --batch 200 --processes 2 --minutes 10

Each process reviews its own books in its own process (`workers=0` inside the review); batches are
independent books of `--batch` accounts with seeds from `--seed`.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests" / "reliability"))


def _reason_key(reason: str) -> str:
    """An error message with its account ids and numbers blanked, to group errors by reason."""
    r = re.sub(r"\bA\d{6}\b", "A*", reason)
    r = re.sub(r"\bH\d{5}\b", "H*", r)
    r = re.sub(r"row \d+", "row *", r)
    r = re.sub(r"\d+(\.\d+)?", "#", r)
    return r[:160]


def one_batch(seed: int, n_accounts: int) -> dict:
    from relcheck import review_and_check
    from strategies import random_spec, upload_book

    spec = random_spec(np.random.default_rng(seed), n_accounts)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        try:
            book = upload_book(spec, Path(tmp) / "upload")
            out = review_and_check(book, Path(tmp) / "out")
        except Exception as exc:  # a whole book that failed is reported, never hidden
            return {"seed": seed, "accounts": n_accounts, "book_error": f"{type(exc).__name__}: {exc}", "seconds": time.perf_counter() - t0}
    return {
        "seed": seed,
        "accounts": out.accounts,
        "orders": out.orders,
        "violations": [str(v) for v in out.violations],
        "errors": {a: r for a, r in out.errors.items()},
        "counts": dict(out.counts),
        "decisions": dict(out.decisions),
        "review": out.review,
        "seconds": time.perf_counter() - t0,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--accounts", type=int, default=100_000)
    ap.add_argument("--batch", type=int, default=200)
    ap.add_argument("--processes", type=int, default=2)
    ap.add_argument("--minutes", type=float, default=10.0, help="stop submitting batches after this wall time")
    ap.add_argument("--seed", type=int, default=20261120)
    ap.add_argument("--json", type=Path, default=None, help="write the totals as JSON here")
    args = ap.parse_args()

    t0 = time.perf_counter()
    deadline = t0 + args.minutes * 60
    n_batches = -(-args.accounts // args.batch)
    tot: dict = {"accounts": 0, "orders": 0, "books": 0, "violations": [], "book_errors": [], "errors": 0}
    reasons: Counter[str] = Counter()
    situations: Counter[str] = Counter()
    decisions: Counter[str] = Counter()
    review = "?"
    next_batch = 0
    with ProcessPoolExecutor(max_workers=args.processes) as pool:
        running = set()
        while next_batch < n_batches and len(running) < args.processes * 2:
            running.add(pool.submit(one_batch, args.seed + next_batch, args.batch))
            next_batch += 1
        while running:
            done = next(as_completed(running))
            running.remove(done)
            r = done.result()
            tot["books"] += 1
            tot["accounts"] += r["accounts"]
            if "book_error" in r:
                tot["book_errors"].append((r["seed"], r["book_error"]))
            else:
                review = r["review"]
                tot["orders"] += r["orders"]
                tot["violations"] += [f"seed {r['seed']}: {v}" for v in r["violations"]]
                tot["errors"] += len(r["errors"])
                reasons.update(_reason_key(x) for x in r["errors"].values())
                situations.update(r["counts"])
                decisions.update(r["decisions"])
            el = time.perf_counter() - t0
            print(f"[{el:7.1f}s] book seed {r['seed']}: {r['accounts']} accounts, {r.get('orders', 0)} orders, "
                  f"{len(r.get('violations', []))} violations, {len(r.get('errors', {}))} errored"
                  f"{' BOOK ERROR ' + r['book_error'] if 'book_error' in r else ''} | total {tot['accounts']} accounts, "
                  f"{tot['accounts'] / el:.1f} accounts/s", flush=True)
            if next_batch < n_batches and time.perf_counter() < deadline:
                running.add(pool.submit(one_batch, args.seed + next_batch, args.batch))
                next_batch += 1
    wall = time.perf_counter() - t0
    print("\n== soak of random books ==")
    print(f"review function       : {review}")
    print(f"books / accounts      : {tot['books']} / {tot['accounts']}  (asked {args.accounts}; stopped by "
          f"{'time budget' if tot['accounts'] < args.accounts else 'count'})")
    print(f"orders checked        : {tot['orders']}")
    print(f"violations            : {len(tot['violations'])}")
    for v in tot["violations"][:50]:
        print(f"   {v}")
    print(f"whole books failed    : {len(tot['book_errors'])}")
    for s, e in tot["book_errors"][:20]:
        print(f"   seed {s}: {e}")
    print(f"accounts errored      : {tot['errors']} ({tot['errors'] / max(tot['accounts'], 1):.2%}), by reason:")
    for k, v in reasons.most_common():
        print(f"   {v:6d}  {k}")
    print(f"decisions             : {dict(decisions)}")
    print(f"hard situations met   : {dict(situations)}")
    print(f"wall                  : {wall:.1f} s, {tot['accounts'] / wall:.1f} accounts/s with {args.processes} processes")
    if tot["accounts"] < args.accounts:
        print(f"for {args.accounts} accounts at this rate: {args.accounts / (tot['accounts'] / wall) / 60:.0f} min")
    if args.json:
        args.json.write_text(json.dumps({**tot, "reasons": dict(reasons), "situations": dict(situations), "decisions": dict(decisions),
                                         "wall": wall, "review": review}, indent=1, default=str))
    sys.exit(1 if tot["violations"] else 0)


if __name__ == "__main__":
    main()
