"""Speed of the optimizer per account, against the goals of issue 6 and the floor of PERFORMANCE.md.

Sizes: a = 15 securities / 40 lots (ETF model), b = 100 / 500, c = 500 / 3,000 (direct index), random
accounts from `optimize.synthetic.random_problem` (restrictions on: never-buys, never-sells, wash-sale
blocks, cash needs, gain budgets, bands, caps).

Per account, one core (run with OMP_NUM_THREADS=OPENBLAS_NUM_THREADS=MKL_NUM_THREADS=1):

- ``one solve``: `formulate` + `solve_fast` once (what PERFORMANCE.md calls "matrices built directly, then
  Clarabel"), with the solver's own time beside it;
- ``end to end``: `propose` = every solve (strict, relaxed if needed, the wash-sale passes) + rounding +
  checks + reasons + explanation, with the summed solver time and the number of solves;
- the goal: time outside the solver <= 1 ms + 0.5 x the solver's time; end to end <= 3 / 15 / 120 ms.

Usage: ``python benchmarks/bench_optimize.py [--accounts N] [--sizes a,b,c]``. Timings on a shared
machine are noisy: medians are the figure to read.
"""

from __future__ import annotations

import argparse
import os
import time

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import numpy as np  # noqa: E402

from overlay_core.optimize.fast import solve_fast  # noqa: E402
from overlay_core.optimize.model import formulate  # noqa: E402
from overlay_core.optimize.propose import propose  # noqa: E402
from overlay_core.optimize.synthetic import SIZES, apply_fills, random_problem  # noqa: E402

GOAL_MS = {"a": 3.0, "b": 15.0, "c": 120.0}


def _pct(x: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(x), q))


def next_day(p, rng: np.random.Generator):  # noqa: ANN001, ANN201 - AccountProblem
    """The account the day after its proposal was filled: the orders applied, prices moved ~1%."""
    pr = propose(p)
    sell, buy = np.zeros(p.m), np.zeros(p.n)
    for row in pr.orders.iter_rows(named=True):
        if row["side"] == "SELL":
            sell[p.lot_ids.index(row["lot_id"])] += row["shares"]
        else:
            buy[p.symbols.index(row["symbol"])] += row["shares"]
    q = apply_fills(p, sell, buy)
    prices = np.round(q.prices * np.exp(rng.normal(0.0, 0.01, q.n)), 2)
    rate = np.where(q.lot_long_term, q.lt_rate, q.st_rate)
    tax = (prices[q.lot_sec] - q.lot_basis) * rate if q.taxable else np.zeros(q.m)
    return q.with_(prices=prices, lot_tax_per_share=tax)


def bench(size: str, accounts: int, seed: int = 0, restrictions: bool = True, near_target: bool = True, review: bool = False) -> dict[str, float]:
    n, m = SIZES[size]
    rng = np.random.default_rng(seed)
    problems = [
        random_problem(rng, n, m, restrictions=restrictions, account_id=f"{size}{j}", near_target=near_target) for j in range(accounts)
    ]
    if review:
        problems = [next_day(p, rng) for p in problems]
    # warm up (imports, first calls)
    propose(problems[0])
    one_wall, one_cpu, one_solver_cpu, one_solver_wall = [], [], [], []
    e2e_wall, e2e_cpu, e2e_solver_cpu, solves = [], [], [], []
    for p in problems:
        w0, c0 = time.perf_counter(), time.process_time()
        raw = solve_fast(formulate(p, relaxed=True))
        one_wall.append((time.perf_counter() - w0) * 1e3)
        one_cpu.append((time.process_time() - c0) * 1e3)
        one_solver_cpu.append(raw.solve_cpu * 1e3)
        one_solver_wall.append(raw.solve_time * 1e3)
        q = p.with_()  # a fresh problem: nothing cached from the single solve
        w0, c0 = time.perf_counter(), time.process_time()
        pr = propose(q)
        e2e_wall.append((time.perf_counter() - w0) * 1e3)
        e2e_cpu.append((time.process_time() - c0) * 1e3)
        e2e_solver_cpu.append(pr.explanation.solve_cpu_ms)
        solves.append(pr.explanation.n_solves)
    return {
        "one_cpu_med": _pct(one_cpu, 50),
        "one_cpu_p90": _pct(one_cpu, 90),
        "one_solver_med": _pct(one_solver_cpu, 50),
        "one_solver_wall_med": _pct(one_solver_wall, 50),
        "one_outside_med": _pct([t - s for t, s in zip(one_cpu, one_solver_cpu)], 50),
        "one_wall_med": _pct(one_wall, 50),
        "e2e_med": _pct(e2e_cpu, 50),
        "e2e_p90": _pct(e2e_cpu, 90),
        "e2e_wall_med": _pct(e2e_wall, 50),
        "e2e_solver_med": _pct(e2e_solver_cpu, 50),
        "e2e_outside_med": _pct([t - s for t, s in zip(e2e_cpu, e2e_solver_cpu)], 50),
        "solves_med": _pct(solves, 50),
        "solves_p90": _pct(solves, 90),
        "solves_max": float(max(solves)),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--accounts", type=int, default=0, help="accounts per size (default 60 / 30 / 8)")
    ap.add_argument("--sizes", default="a,b,c")
    ap.add_argument("--stress", action="store_true", help="holdings unrelated to the target, random conflicting restrictions")
    ap.add_argument("--review", action="store_true", help="the day after a first proposal was filled (prices moved ~1%%): the daily review")
    args = ap.parse_args()
    default = {"a": 60, "b": 30, "c": 8}
    kind = "stress (random holdings and restrictions)" if args.stress else "steady state (near target, mild restrictions, risk aversion 1)"
    if args.review:
        kind += ", reviewed the day after the first proposal was filled"
    print(f"accounts: {kind}; CPU ms per account (process time; wall in brackets), one core")
    print(f"{'size':4} | {'one solve: total (p90)':>24} {'solver':>7} {'outside':>8} | {'end to end: total (p90)':>26} {'solver':>7} {'outside':>8} {'solves med/p90/max':>19} | goal")
    for size in args.sizes.split(","):
        r = bench(size, args.accounts or default[size], near_target=not args.stress, review=args.review)
        goal_outside = 1.0 + 0.5 * r["one_solver_med"]
        print(
            f"{size:4} | {r['one_cpu_med']:>7.2f} ({r['one_cpu_p90']:.2f}) [{r['one_wall_med']:.2f}] {r['one_solver_med']:>7.2f} {r['one_outside_med']:>8.2f} | "
            f"{r['e2e_med']:>8.2f} ({r['e2e_p90']:.2f}) [{r['e2e_wall_med']:.2f}] {r['e2e_solver_med']:>7.2f} {r['e2e_outside_med']:>8.2f} "
            f"{r['solves_med']:>7.0f}/{r['solves_p90']:.0f}/{r['solves_max']:.0f} | e2e <= {GOAL_MS[size]:g} ms; one solve outside <= {goal_outside:.2f} ms"
        )


if __name__ == "__main__":
    main()
