"""Quality of the optimizer on the demo book, against a naive rebalance to target that ignores taxes.

For a sample of the demo book's active accounts (data/demo, 1,000 accounts), at one or more risk
aversions: ex-ante tracking error before and after, net realized gain, losses harvested and turnover of
the tax-aware proposal (`optimize.propose`), and of a naive rebalance: the same account with every tax
set to 0, no gain budget and a risk aversion of 10,000 (so it trades to target), its sales relieved at the
average basis of the security (what a tax-blind manager realizes on average).

Goals of issue 6 at the policy's default risk aversion: median tracking error after <= 0.5%/yr; net
realized gain <= 50% of the naive rebalance's; losses harvested in taxable accounts that hold them.

Churn (the product's "never churns"): each proposal is applied as fills (`optimize.synthetic.apply_fills`:
same prices, the cash need paid, the wash-sale blocks of the day) and the account reviewed again; the
column ``churn`` counts the accounts whose second review proposes any order, leaving out the accounts in
a turnover-limited transition (``max_turnover < 1``: they trade again the next day by design; ``trans``
counts those that do). The same count on random
stress accounts (`synthetic.random_problem`, random holdings and conflicting restrictions, no turnover
limit; ``--stress N`` per size, 0 to skip), with the improvement each such proposal claims.

Usage: ``python benchmarks/bench_optimize_quality.py [--accounts 60] [--risk-aversion 1,30,100] [--stress 60]``.
"""

from __future__ import annotations

import argparse
import os
import time

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import numpy as np  # noqa: E402

from overlay_core.optimize.build import build_problem  # noqa: E402
from overlay_core.optimize.problem import AccountProblem  # noqa: E402
from overlay_core.optimize.propose import propose  # noqa: E402
from overlay_core.optimize.solve import optimize_account  # noqa: E402
from overlay_core.optimize.synthetic import apply_fills, random_problem  # noqa: E402


def review_again(p: AccountProblem, first) -> tuple[int, float]:
    """(order lines, improvement bps) of the review of ``p`` once ``first``'s orders are filled."""
    sell, buy = np.zeros(p.m), np.zeros(p.n)
    for row in first.orders.iter_rows(named=True):
        if row["side"] == "SELL":
            sell[p.lot_ids.index(row["lot_id"])] += row["shares"]
        else:
            buy[p.symbols.index(row["symbol"])] += row["shares"]
    again = propose(apply_fills(p, sell, buy))
    return again.orders.height, again.explanation.improvement_bps


def stress_churn(n_accounts: int) -> None:
    """Churn on random stress accounts of two sizes (restrictions on, no turnover limit)."""
    for size in ((15, 40), (30, 90)):
        hits: list[tuple[int, int, float]] = []
        t0, c0 = time.perf_counter(), time.process_time()
        for seed in range(n_accounts):
            p = random_problem(np.random.default_rng(seed), *size, restrictions=True).with_(max_turnover=1.0)
            lines, imp = review_again(p, propose(p))
            if lines:
                hits.append((seed, lines, imp))
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        detail = ", ".join(f"seed {s}: {k} line(s), {imp:.2f} bps" for s, k, imp in hits) or "none"
        print(f"stress {size[0]} securities / {size[1]} lots: churn {len(hits)} of {n_accounts} ({detail}); {wall:.1f} s wall, {cpu:.1f} s CPU")


def naive(p: AccountProblem) -> dict[str, float]:
    """Trade to target ignoring taxes; sales at the security's average basis."""
    q = p.with_(lot_tax_per_share=np.zeros(p.m), gain_allowance=None, risk_aversion=1e4, lt_wait_days=-1)
    o = optimize_account(q)
    sold = np.bincount(p.lot_sec, weights=o.sell, minlength=p.n)
    held = p.shares_held
    avg_basis = np.bincount(p.lot_sec, weights=p.lot_shares * p.lot_basis, minlength=p.n) / np.maximum(held, 1e-12)
    gains = sold * (p.prices - avg_basis) if p.taxable else np.zeros(p.n)
    after = p.holdings_value - sold * p.prices + o.buy * p.prices
    traded = float(np.dot(sold, p.prices) + np.dot(o.buy, p.prices))
    return {
        "te_after": p.tracking_error(after / p.scale_value),
        "gain": float(gains.sum()),
        "losses": float(-gains[gains < 0].sum()),
        "turnover": traded / 2 / p.value,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--accounts", type=int, default=60)
    ap.add_argument("--risk-aversion", default="1,30,100")
    ap.add_argument("--upload", default="data/demo")
    ap.add_argument("--stress", type=int, default=60, help="random stress accounts per size for the churn count (0: skip)")
    args = ap.parse_args()

    from overlay_core.targets import account_targets, risk_model
    from overlay_core.tax import tax_state
    from overlay_core.upload import read_upload

    t0 = time.perf_counter()
    book = read_upload(args.upload)
    risk = risk_model(book)
    ids = [a for a, s in zip(book.accounts["account_id"], book.accounts["status"]) if s == "active"]
    rng = np.random.default_rng(0)
    ids = sorted(rng.choice(ids, size=min(args.accounts, len(ids)), replace=False).tolist())
    targets = account_targets(book, risk=risk, account_ids=ids)
    tax = tax_state(book)
    print(f"demo book {book.as_of}: {len(ids)} active accounts sampled; setup {time.perf_counter() - t0:.1f} s")
    base = {}
    for a in ids:
        try:
            base[a] = build_problem(book, a, targets=targets, risk=risk, tax_state=tax)
        except Exception as exc:  # noqa: BLE001 - report and go on
            print(f"  {a}: not built ({exc})")
    nv = {a: naive(p) for a, p in base.items()}
    print(f"{'risk aversion':>13} | {'TE before':>9} {'TE after':>9} {'naive TE':>9} | {'net gain':>10} {'naive gain':>11} {'ratio':>6} | {'harvested':>10} {'taxable w/ losses harvesting':>29} | {'turnover':>8} {'naive':>6} | {'ms/acct':>7} | {'churn':>5} {'trans':>5}")
    for lam in [float(x) for x in args.risk_aversion.split(",")]:
        te0, te1, gain, ngain, harv, turn, nturn, nte = [], [], [], [], [], [], [], []
        with_loss, harvesting, churn, trans = 0, 0, 0, 0
        t1 = time.perf_counter()
        t_churn = 0.0
        for a, p in base.items():
            q = p.with_(risk_aversion=lam)
            pr = propose(q)
            ex = pr.explanation
            te0.append(ex.te_before)
            te1.append(ex.te_after)
            gain.append(ex.net_realized_gain)
            harv.append(ex.losses_harvested)
            turn.append(ex.turnover)
            ngain.append(nv[a]["gain"])
            nturn.append(nv[a]["turnover"])
            nte.append(nv[a]["te_after"])
            if q.taxable and np.any(q.lot_is_loss & q.lot_sell_allowed):
                with_loss += 1
                harvesting += ex.losses_harvested > 0
            t2 = time.perf_counter()
            again = review_again(q, pr)[0] > 0
            churn += again and q.max_turnover >= 1
            trans += again and q.max_turnover < 1
            t_churn += time.perf_counter() - t2
        ms = (time.perf_counter() - t1 - t_churn) / len(base) * 1e3
        pos_naive = sum(max(g, 0.0) for g in ngain)
        ratio = sum(max(g, 0.0) for g in gain) / pos_naive if pos_naive > 0 else float("nan")
        print(
            f"{lam:>13g} | {np.median(te0):>9.2%} {np.median(te1):>9.2%} {np.median(nte):>9.2%} | {sum(gain):>10,.0f} {sum(ngain):>11,.0f} {ratio:>6.2f} | "
            f"{sum(harv):>10,.0f} {harvesting:>14} of {with_loss:<12} | {np.median(turn):>8.2%} {np.median(nturn):>6.2%} | {ms:>7.1f} | {churn:>5} {trans:>5}"
        )
    print("ratio = sum of positive net realized gains, tax-aware / naive (goal <= 0.5); TE are medians over the accounts;")
    print("churn = accounts whose review the day after (orders filled, same prices) proposes any order;")
    print("trans = the same for accounts in a turnover-limited transition (they continue the next day by design)")
    if args.stress:
        stress_churn(args.stress)
    print(f"total {time.perf_counter() - t0:.1f} s wall, {time.process_time():.1f} s CPU; load average {open('/proc/loadavg').read().split()[:3]}")


if __name__ == "__main__":
    main()
