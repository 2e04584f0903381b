"""Quality of the optimizer on the demo book, against a naive rebalance to target that ignores taxes.

For a sample of the demo book's active accounts (data/demo, 1,000 accounts), at one or more risk
aversions: ex-ante tracking error before and after, net realized gain, losses harvested and turnover of
the tax-aware proposal (`optimize.propose`), and of a naive rebalance: the same account with every tax
set to 0, no gain budget and a risk aversion of 10,000 (so it trades to target), its sales relieved at the
average basis of the security (what a tax-blind manager realizes on average).

Goals of issue 6 at the policy's default risk aversion: median tracking error after <= 0.5%/yr; net
realized gain <= 50% of the naive rebalance's; losses harvested in taxable accounts that hold them.

Usage: ``python benchmarks/bench_optimize_quality.py [--accounts 60] [--risk-aversion 1,30,100]``.
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
    print(f"{'risk aversion':>13} | {'TE before':>9} {'TE after':>9} {'naive TE':>9} | {'net gain':>10} {'naive gain':>11} {'ratio':>6} | {'harvested':>10} {'taxable w/ losses harvesting':>29} | {'turnover':>8} {'naive':>6} | {'ms/acct':>7}")
    for lam in [float(x) for x in args.risk_aversion.split(",")]:
        te0, te1, gain, ngain, harv, turn, nturn, nte = [], [], [], [], [], [], [], []
        with_loss, harvesting = 0, 0
        t1 = time.perf_counter()
        for a, p in base.items():
            q = p.with_(risk_aversion=lam)
            ex = propose(q).explanation
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
        ms = (time.perf_counter() - t1) / len(base) * 1e3
        pos_naive = sum(max(g, 0.0) for g in ngain)
        ratio = sum(max(g, 0.0) for g in gain) / pos_naive if pos_naive > 0 else float("nan")
        print(
            f"{lam:>13g} | {np.median(te0):>9.2%} {np.median(te1):>9.2%} {np.median(nte):>9.2%} | {sum(gain):>10,.0f} {sum(ngain):>11,.0f} {ratio:>6.2f} | "
            f"{sum(harv):>10,.0f} {harvesting:>14} of {with_loss:<12} | {np.median(turn):>8.2%} {np.median(nturn):>6.2%} | {ms:>7.1f}"
        )
    print("ratio = sum of positive net realized gains, tax-aware / naive (goal <= 0.5); TE are medians over the accounts")


if __name__ == "__main__":
    main()
