"""Benchmark: every account's target for a 1,000-account book, and a target-level cascade preview.

Uses the demo upload in data/demo when it is there (``overlay_core.upload.read_upload``), else a
synthetic book of the same size built here (400 securities, 504 days of history, 12 models, 10
targets, 1,000 accounts of ~40 lots, a third of them customized). Prints the figures; asserts nothing.

    python benchmarks/bench_targets.py [--upload DIR] [--accounts 1000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import time
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402
import polars as pl  # noqa: E402

from overlay_core.book import Book  # noqa: E402
from overlay_core.contract import (  # noqa: E402
    ACCOUNTS,
    LOTS,
    MODELS,
    PENDING_ORDERS,
    PRICE_HISTORY,
    PRICES,
    RESTRICTIONS,
    SECURITIES,
    TARGETS,
    TRANSACTIONS,
    Table,
    schema,
)
from overlay_core.policy import Policy  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
AS_OF = dt.date(2026, 11, 20)
SECTORS = ["tech", "health", "financials", "energy", "industrials", "staples", "discretionary", "utilities", "materials", "real_estate", "telecom"]


def _frame(table: Table, cols: dict[str, list]) -> pl.DataFrame:
    sch = schema(table)
    n = len(next(iter(cols.values()))) if cols else 0
    return pl.DataFrame({c: cols.get(c, [None] * n) for c in sch}, schema=sch)


def synthetic_book(n_accounts: int = 1000, seed: int = 1) -> Book:
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(300):
        rows.append((f"S{i:03d}", "us_equity", "equity", SECTORS[i % 11], "fossil" if i % 11 == 3 else ("tobacco" if i % 37 == 0 else None)))
    for i in range(40):
        rows.append((f"I{i:03d}", "intl_equity", "equity", SECTORS[i % 11], None))
    for i in range(60):
        cls = ["us_equity", "intl_equity", "bond", "bond", "cash"][i % 5]
        rows.append((f"E{i:03d}", cls, "cash_equivalent" if cls == "cash" else "etf", None, None))
    symbols = [r[0] for r in rows]
    n = len(symbols)
    days = 505
    f = rng.normal(0, 0.01, (days, 5))
    B = rng.normal(0, 1, (n, 5)) * np.array([1.0, 0.4, 0.3, 0.2, 0.2])
    rets = f @ B.T + rng.normal(0, 0.012, (days, n))
    closes = 50 * np.exp(np.cumsum(rets, axis=0))
    dates = [AS_OF - dt.timedelta(days=days - 1 - i) for i in range(days)]
    ph = pl.DataFrame({"date": np.repeat(np.array(dates, dtype="datetime64[D]"), n), "symbol": symbols * days, "close": closes.reshape(-1)}).cast(schema(PRICE_HISTORY))  # type: ignore[arg-type]
    price = dict(zip(symbols, closes[-1]))
    sec = _frame(
        SECURITIES,
        {
            "symbol": symbols,
            "asset_class": [r[1] for r in rows],
            "type": [r[2] for r in rows],
            "sector": [r[3] for r in rows],
            "tags": [r[4] for r in rows],
            "wash_group": symbols,
            "cost_bps": [5.0] * n,
        },
    )
    prices = _frame(PRICES, {"symbol": symbols, "close": [float(price[s]) for s in symbols]})
    m_rows: list[tuple[str, str, float]] = []
    for m in range(12):
        if m < 6:  # direct-index style: 100-200 stocks
            k = int(rng.integers(100, 200))
            pick = rng.choice(300, k, replace=False)
            w = rng.dirichlet(np.ones(k))
            m_rows += [(f"M{m}", symbols[j], float(x)) for j, x in zip(pick, w)]
        else:  # ETF models
            pick = rng.choice(np.arange(340, 400), 8, replace=False)
            w = rng.dirichlet(np.ones(9))
            m_rows += [(f"M{m}", symbols[j], float(x)) for j, x in zip(pick, w[:8])] + [(f"M{m}", "$CASH", float(w[8]))]
    t_rows = []
    for t in range(10):
        ms = rng.choice(12, 2, replace=False)
        b = rng.dirichlet(np.ones(2))
        t_rows += [(f"T{t}", f"M{m}", float(x)) for m, x in zip(ms, b)]
    acc_ids = [f"A{i:05d}" for i in range(n_accounts)]
    acc_t = [f"T{int(x)}" for x in rng.integers(0, 10, n_accounts)]
    accounts = _frame(
        ACCOUNTS,
        {
            "account_id": acc_ids,
            "target_id": acc_t,
            "tax_status": ["taxable"] * n_accounts,
            "cash": list(rng.uniform(0, 20_000, n_accounts)),
            "household_id": acc_ids,
            "status": ["active"] * n_accounts,
            "st_rate": [0.37] * n_accounts,
            "lt_rate": [0.2] * n_accounts,
            "min_cash_weight": list(np.where(rng.random(n_accounts) < 0.2, 0.03, 0.0)),
            "min_trade_value": [100.0] * n_accounts,
            "cash_need": list(np.where(rng.random(n_accounts) < 0.05, 5_000.0, 0.0)),
            "ytd_realized_st": [0.0] * n_accounts,
            "ytd_realized_lt": [0.0] * n_accounts,
            "advisor": [f"adv{int(x)}" for x in rng.integers(0, 25, n_accounts)],
        },
    )
    la, ls, lsh = [], [], []
    for a in acc_ids:
        k = int(rng.integers(10, 70))
        for j in rng.choice(n, k, replace=False):
            la.append(a)
            ls.append(symbols[j])
            lsh.append(float(rng.integers(1, 200)))
    lots = _frame(
        LOTS,
        {
            "account_id": la,
            "lot_id": [f"L{i}" for i in range(len(la))],
            "symbol": ls,
            "shares": lsh,
            "cost_basis": [s * 40.0 for s in lsh],
            "acquired": [AS_OF - dt.timedelta(days=400)] * len(la),
            "purchase_date": [AS_OF - dt.timedelta(days=400)] * len(la),
        },
    )
    r_rows: list[tuple[str, str, str, float | None]] = [("*", "never_buy", "S007", None), ("*", "screen", "tobacco", None)]
    for a in acc_ids:
        u = rng.random()
        if u < 0.15:
            r_rows.append((a, "screen", "fossil", None))
        elif u < 0.22:
            r_rows.append((a, "never_buy", symbols[int(rng.integers(0, 300))], None))
        elif u < 0.27:
            r_rows.append((a, "sector_max", "tech", 0.08))
        elif u < 0.32:
            j = int(rng.integers(0, 11))
            r_rows.append((a, "substitute", f"S{j:03d}>S{j + 11:03d}", None))
        elif u < 0.36:
            held = lots.filter(pl.col("account_id") == a)["symbol"][0]
            r_rows.append((a, "never_sell", held, None))
        elif u < 0.40:
            r_rows.append((a, "asset_class_weight", "us_equity", float(rng.uniform(0.3, 0.7))))
    restrictions = _frame(
        RESTRICTIONS,
        {"account_id": [r[0] for r in r_rows], "kind": [r[1] for r in r_rows], "value": [r[2] for r in r_rows], "limit": [r[3] for r in r_rows]},
    )
    pend_acc = rng.choice(acc_ids, 100)
    pending = _frame(
        PENDING_ORDERS,
        {"account_id": list(pend_acc), "symbol": [symbols[int(j)] for j in rng.integers(0, n, 100)], "side": ["buy"] * 100, "shares": [5.0] * 100},
    )
    from types import MappingProxyType

    ranges = MappingProxyType({f"T{t}": MappingProxyType({"us_equity": (0.2, 0.8)}) for t in range(10)})
    return Book(
        as_of=AS_OF,
        trade_date=AS_OF + dt.timedelta(days=3),
        policy=Policy(ranges=ranges),
        securities=sec,
        prices=prices,
        price_history=ph,
        models=_frame(MODELS, {"model_id": [r[0] for r in m_rows], "symbol": [r[1] for r in m_rows], "weight": [r[2] for r in m_rows]}),
        targets=_frame(TARGETS, {"target_id": [r[0] for r in t_rows], "model_id": [r[1] for r in t_rows], "weight": [r[2] for r in t_rows]}),
        accounts=accounts,
        lots=lots,
        restrictions=restrictions,
        transactions=_frame(TRANSACTIONS, {}),
        pending_orders=pending,
        input_hash=f"synthetic-{n_accounts}-{seed}",
    )


def load_book(n_accounts: int, upload: Path | None = None) -> tuple[Book, str]:
    demo = upload or ROOT / "data" / "demo"
    if (demo / "accounts.csv").exists() or (demo / "accounts.parquet").exists():
        from overlay_core.upload import read_upload

        t0 = time.perf_counter()
        book = read_upload(demo)
        return book, f"upload {demo} ({time.perf_counter() - t0:.2f} s to read)"
    return synthetic_book(n_accounts), "synthetic book (data/demo not present)"


def best(fn, repeat: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--accounts", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--upload", type=Path, default=None, help="an upload folder (default data/demo, else synthetic)")
    args = ap.parse_args(argv)

    from overlay_core.holdings import holdings
    from overlay_core.targets import account_targets, blend_targets, risk_model
    from overlay_core.targets import risk as risk_mod
    from overlay_core.targets.cascade import cascade, parse_change
    from overlay_core.targets.drift import drift

    book, source = load_book(args.accounts, args.upload)
    print(f"book: {source}")
    print(
        f"  {book.accounts.height:,} accounts, {book.securities.height} securities, {book.lots.height:,} lots, "
        f"{book.restrictions.height:,} restrictions, {book.price_history.height:,} price-history rows"
    )

    def cold_risk():
        risk_mod._CACHE.clear()
        return risk_model(book)

    t_risk, risk = best(cold_risk, args.repeat)
    t_hold, hold = best(lambda: holdings(book), args.repeat)
    t_blend, _ = best(lambda: blend_targets(book), args.repeat)
    t_at, at = best(lambda: account_targets(book, risk=risk), args.repeat)
    t_drift, _ = best(lambda: drift(book, at, positions=hold, risk=risk), args.repeat)

    def whole():
        risk_mod._CACHE.clear()
        r = risk_model(book)
        h = holdings(book)
        a = account_targets(book, risk=r, positions=h)
        drift(book, a, positions=h, risk=r)
        return a

    t_whole, _ = best(whole, args.repeat)

    # one model change: the model followed by the most accounts, its weights shifted
    tcount = book.accounts.group_by("target_id").len()
    mcount = book.targets.join(tcount, on="target_id").group_by("model_id").agg(pl.col("len").sum()).sort("len", descending=True)
    mid = mcount["model_id"][0]
    m = book.models.filter(pl.col("model_id") == mid)
    w = m["weight"].to_numpy()
    w2 = np.roll(w, 1)
    rows = pl.DataFrame({"model_id": m["model_id"], "symbol": m["symbol"], "weight": [repr(float(x)) for x in w2 / w2.sum()]})
    ch = parse_change(rows, book)
    risk_model(book)  # warm: the day's model is estimated once per upload
    t_cas, res = best(lambda: cascade(book, ch, risk=risk_model(book)), args.repeat)

    print(f"risk model (estimate, cold)         {t_risk * 1000:8.1f} ms  ({risk.method})")
    print(f"holdings after pending orders       {t_hold * 1000:8.1f} ms")
    print(f"blend_targets                       {t_blend * 1000:8.1f} ms")
    print(f"account_targets ({at.cash_weight.height:,} targeted, {at.refused['account_id'].n_unique()} refused)"
          f" {t_at * 1000:8.1f} ms")
    print(f"drift + tracking error              {t_drift * 1000:8.1f} ms")
    print(f"targets for the book, end to end    {t_whole * 1000:8.1f} ms  (risk cold + holdings + targets + drift)")
    print(f"cascade preview of model {mid} ({res.accounts.height:,} followers of {len(res.targets)} targets)"
          f" {t_cas * 1000:8.1f} ms")
    print(f"(best of {args.repeat}; python {sys.version.split()[0]}, polars {pl.__version__}, numpy {np.__version__})")


if __name__ == "__main__":
    main()
