"""Benchmark of the day loop and the cascade with orders on the demo book (data/demo, 1,000 accounts).

    python benchmarks/bench_simulate.py [--days 20] [--workers 2] [--seed 0] [--cascade-only | --no-cascade]

Prints the per-day figures of a `days`-day simulation (the real review of every account each day,
fills at the simulated next day's closes, the day's upload written and read back, every trade file
checked by the independent checker of tests/checker), the totals, and the time of a cascade with
orders for a change that touches every account (each target's blend tilted by 5 points).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import polars as pl  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "checker"))


def tilt_every_target(book) -> pl.DataFrame:  # noqa: ANN001
    """CHANGE rows target_id,model_id,weight: every target's blend moved by 5 points (touches every account)."""
    rows = []
    for (tid,), g in book.targets.group_by("target_id", maintain_order=True):
        models = g["model_id"].to_list()
        w = g["weight"].to_list()
        if len(models) >= 2:
            w[0] -= 0.05
            w[1] += 0.05
        else:
            other = "core_fixed_income" if models[0] != "core_fixed_income" else book.targets["model_id"][0]
            models, w = models + [other], [w[0] - 0.05, 0.05]
        rows += [(tid, m, x) for m, x in zip(models, w)]
    return pl.DataFrame(rows, schema={"target_id": pl.String, "model_id": pl.String, "weight": pl.Float64}, orient="row")


def bench_cascade(book, workers) -> None:  # noqa: ANN001
    from overlay_core.simulate.cascade_orders import cascade_with_orders
    from overlay_core.targets import risk_model
    from overlay_core.targets.cascade import cascade, parse_change

    raw = tilt_every_target(book).with_columns(pl.col("weight").cast(pl.String))
    ch = parse_change(raw, book)
    t0 = time.perf_counter()
    tl = cascade(book, ch, risk=risk_model(book))
    t_target = time.perf_counter() - t0
    co = cascade_with_orders(book, ch, target_level=tl, workers=workers)
    total = time.perf_counter() - t0
    acc = co.accounts
    print(f"\ncascade with orders, every target tilted 5 points: {tl.accounts.height:,} accounts affected")
    print(f"  target-level answer: {t_target:.2f} s")
    print(f"  orders phase (dry-run review of {co.review.results.height:,} accounts): {co.seconds:.2f} s")
    print(f"  total: {total:.2f} s (goal < 30 s)")
    print(
        f"  {int((acc['decision'] == 'trade').sum()):,} accounts trade, {co.orders.height:,} order lines, traded "
        f"{acc['traded_value'].sum():,.0f} USD, realized {acc['realized_gain'].sum():,.0f} USD, est. tax {acc['est_tax'].fill_null(0).sum():,.0f} USD"
    )


def bench_days(book, days: int, workers, seed: int) -> None:  # noqa: ANN001
    from trade_checker import check_trade_file

    from overlay_core.simulate import simulate

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()

        def on_day(r: dict) -> None:
            print(
                f"  day {r['day']:2d} {r['as_of']}: {r['traded']:4d}/{r['accounts']} traded, {r['orders']:6,d} orders, "
                f"turnover {100 * r['turnover']:5.2f}%, realized {r['realized_gain']:12,.0f}, harvested {r['losses_harvested']:10,.0f}, "
                f"est tax {r['est_tax']:10,.0f}, median TE {100 * (r['median_te_after'] or 0):.2f}%, errors {r['errors']}, "
                f"review {r['review_seconds']:5.1f} s, day {r['day_seconds']:5.1f} s",
                flush=True,
            )

        res = simulate(book, days=days, out_dir=tmp, seed=seed, workers=workers, on_day=on_day)
        wall = time.perf_counter() - t0
        t = res.totals()
        print(f"\n{days} days of the demo book: {wall:.1f} s wall ({wall / days:.1f} s/day; reviews {t['review_seconds']:.1f} s)")
        print(
            f"  orders {int(t['orders']):,}; traded {t['traded_value']:,.0f} USD; mean daily turnover {100 * t['mean_turnover']:.2f}%; "
            f"realized {t['realized_gain']:,.0f} USD; harvested {t['losses_harvested']:,.0f} USD; est. tax {t['est_tax']:,.0f} USD"
        )
        t1 = time.perf_counter()
        bad = 0
        for d in res.day_dirs:
            v = check_trade_file(d, d / f"trades_{d.name.removeprefix('day_')}.csv")
            bad += len(v)
            if v:
                print(f"  {d.name}: {len(v)} violation(s), e.g. {v[0]}")
        print(f"  independent checker: {bad} violation(s) over {len(res.day_dirs)} trade files ({time.perf_counter() - t1:.1f} s)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--days", type=int, default=20)
    ap.add_argument("--workers", type=int, default=2, help="review worker processes (0: in this process)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--upload", default=str(ROOT / "data" / "demo"))
    ap.add_argument("--cascade-only", action="store_true")
    ap.add_argument("--no-cascade", action="store_true")
    a = ap.parse_args()
    from overlay_core.upload import read_upload

    t0 = time.perf_counter()
    book = read_upload(a.upload)
    print(f"demo book: {book.accounts.height:,} accounts, {book.lots.height:,} lots, as_of {book.as_of} (read in {time.perf_counter() - t0:.1f} s)")
    workers = a.workers
    if not a.no_cascade:
        bench_cascade(book, workers)
    if not a.cascade_only:
        bench_days(book, a.days, workers, a.seed)


if __name__ == "__main__":
    main()
