"""Random `AccountProblem`s of a given size, for tests (hypothesis) and benchmarks.

Securities in a few asset classes and sectors, a factor risk model (a market factor plus sector
factors, ~16-30% volatility), lots bought over the last three years at prices 0.5x-1.6x today's, and,
when asked, random restrictions: never-buys, never-sells, wash-sale blocks, exits, a cash need, a gain
budget, a turnover limit, drift bands and sector caps.
"""

from __future__ import annotations

import numpy as np

from overlay_core.optimize.problem import AccountProblem

SIZES = {"a": (15, 40), "b": (100, 500), "c": (500, 3000)}


def random_problem(
    rng: np.random.Generator,
    n: int,
    m: int,
    *,
    restrictions: bool = True,
    tax_status: str = "taxable",
    n_sectors: int = 6,
    n_classes: int = 3,
    status: str = "active",
    account_id: str = "R1",
) -> AccountProblem:
    """A random account of ``n`` securities and ``m`` lots (every security held by at least one lot if m >= n)."""
    sectors = tuple(f"S{j}" for j in range(n_sectors))
    classes = tuple(f"C{j}" for j in range(n_classes))
    sector = rng.integers(0, n_sectors, n)
    asset_class = rng.integers(0, n_classes, n)
    prices = np.round(rng.uniform(10, 400, n), 2)
    k = 1 + n_sectors
    B = np.zeros((n, k))
    B[:, 0] = rng.uniform(0.7, 1.3, n)
    B[np.arange(n), 1 + sector] = rng.uniform(0.5, 1.0, n)
    F = np.diag(np.concatenate([[0.16**2], np.full(n_sectors, 0.08**2)]))
    d = rng.uniform(0.15, 0.35, n) ** 2
    held_n = min(n, max(1, int(0.8 * n)))
    raw_t = rng.uniform(0.2, 1.0, n) * (rng.random(n) < 0.85)
    if raw_t.sum() == 0:
        raw_t[0] = 1.0
    target_cash = 0.01
    target = raw_t / raw_t.sum() * (1 - target_cash)

    if m >= held_n:
        lot_sec = np.concatenate([np.arange(held_n), rng.integers(0, held_n, m - held_n)])
    else:
        lot_sec = rng.integers(0, held_n, m)
    rng.shuffle(lot_sec)
    lot_value = rng.lognormal(np.log(200_000 / max(m, 1)), 0.6, m)
    lot_price = prices[lot_sec]
    increment = np.ones(n)
    lot_shares = np.maximum(np.round(lot_value / lot_price), 1.0)
    ratio = rng.uniform(0.5, 1.6, m)
    lot_basis = lot_price * ratio
    age = rng.integers(1, 3 * 365, m)
    long_term = age > 365
    days_to_lt = np.where(long_term, 0, 366 - age)
    st_rate, lt_rate = 0.37, 0.20
    gain = lot_price - lot_basis
    taxable = tax_status == "taxable"
    tax = gain * np.where(long_term, lt_rate, st_rate) if taxable else np.zeros(m)
    value = float(np.dot(lot_shares, lot_price))
    cash = float(value * rng.uniform(0.0, 0.05))

    kw: dict = {}
    if restrictions:
        buy_allowed = rng.random(n) > 0.1
        reasons = tuple("" if ok else str(rng.choice(["never_buy", "screen", "wash_sale"])) for ok in buy_allowed)
        sell_allowed = rng.random(m) > 0.08
        loss_blocked = rng.random(m) < 0.1
        exit_req = (rng.random(n) < 0.04) & ~buy_allowed
        total = value + cash
        kw.update(
            buy_allowed=buy_allowed,
            buy_reason=reasons,
            lot_sell_allowed=sell_allowed,
            lot_loss_sale_blocked=loss_blocked,
            exit_required=exit_req,
            exit_reason=tuple("screen" if e else "" for e in exit_req),
            cash_need=float(total * rng.choice([0.0, 0.0, 0.03, 0.5])),
            min_cash=float(total * rng.choice([0.0, 0.005, 0.02])),
            gain_allowance=(None if rng.random() < 0.5 else float(total * rng.uniform(0.0, 0.03))) if taxable else None,
            max_turnover=float(rng.choice([1.0, 1.0, 0.1, 0.02])),
            class_band=np.full(n_classes, rng.choice([np.inf, 0.05, 0.01])),
            sector_cap=np.where(rng.random(n_sectors) < 0.3, rng.uniform(0.05, 0.4, n_sectors), np.inf),
        )
        ct = np.bincount(asset_class, weights=target, minlength=n_classes)
        kw["class_target"] = ct
    wash_group = np.arange(n)
    if n >= 4:  # a few pairs of substantially identical securities
        pairs = rng.choice(n, size=(max(1, n // 10), 2), replace=False)
        for a, b in pairs:
            wash_group[b] = wash_group[a]
    return AccountProblem(
        account_id=account_id,
        symbols=tuple(f"X{i:04d}" for i in range(n)),
        prices=prices,
        target=target,
        target_cash=target_cash,
        asset_class=asset_class,
        asset_classes=classes,
        sector=sector,
        sectors=sectors,
        wash_group=wash_group,
        cost_bps=rng.uniform(2, 10, n),
        increment=increment,
        lot_ids=tuple(f"L{l:05d}" for l in range(m)),
        lot_sec=lot_sec,
        lot_shares=lot_shares,
        lot_basis=lot_basis,
        lot_long_term=long_term,
        lot_days_to_lt=days_to_lt,
        lot_tax_per_share=tax,
        cash=cash,
        B=B,
        F=F,
        d=d,
        risk_aversion=float(rng.choice([1.0, 10.0, 100.0])),
        tax_status=tax_status,
        status=status,
        st_rate=st_rate,
        lt_rate=lt_rate,
        **kw,
    )
