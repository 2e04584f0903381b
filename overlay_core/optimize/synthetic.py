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
    near_target: bool = False,
) -> AccountProblem:
    """A random account of ``n`` securities and ``m`` lots (every security held by at least one lot if m >= n).

    ``near_target``: a steady-state account -- holdings within ~10% of their target weights (drifted by
    past returns), mild restrictions (5% drift bands, few blocks, no cash need, a loose gain budget),
    risk aversion 1 (the policy default). Otherwise a stress case: holdings unrelated to the target and
    random, often conflicting restrictions.
    """
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
    if near_target:  # each security's lots add up to its target value, drifted by up to ~10%
        want = np.where(target > 0, target, 0.002) * 200_000 * rng.lognormal(0.0, 0.1, n)
        share = rng.uniform(0.5, 1.5, m)
        per_sec = np.bincount(lot_sec, weights=share, minlength=n)
        lot_value = want[lot_sec] * share / per_sec[lot_sec]
    lot_price = prices[lot_sec]
    increment = np.ones(n)
    lot_shares = np.maximum(np.round(lot_value / lot_price), 1.0)
    ratio = rng.uniform(0.5, 1.6, m) if not near_target else rng.uniform(0.7, 1.4, m)
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
    if restrictions and near_target:
        total = value + cash
        buy_allowed = rng.random(n) > 0.03
        kw.update(
            buy_allowed=buy_allowed,
            buy_reason=tuple("" if ok else "wash_sale" for ok in buy_allowed),
            lot_sell_allowed=rng.random(m) > 0.02,
            lot_loss_sale_blocked=rng.random(m) < 0.03,
            min_cash=0.005 * total,
            gain_allowance=(None if rng.random() < 0.5 else float(total * 0.02)) if taxable else None,
            class_band=np.full(n_classes, 0.05),
            class_target=np.bincount(asset_class, weights=target, minlength=n_classes),
        )
    elif restrictions:
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
        risk_aversion=1.0 if near_target else float(rng.choice([1.0, 10.0, 100.0])),
        tax_status=tax_status,
        status=status,
        st_rate=st_rate,
        lt_rate=lt_rate,
        **kw,
    )


def apply_fills(p: AccountProblem, sell: np.ndarray, buy: np.ndarray, *, new_lot_prefix: str = "N") -> AccountProblem:
    """The same account after ``sell`` (m,) and ``buy`` (n,) filled at today's prices, reviewed again today.

    A simplified next review (the tax engine does the real one): sold shares leave their lots, each buy
    becomes a short-term lot at today's price, cash moves, the cash need is paid out, the gain allowance
    shrinks by the realized gain, and a wash group sold at a loss is blocked for buys (rule (a)/(b)).
    """
    keep = p.lot_shares - sell > 1e-9
    bought = np.flatnonzero(buy > 0)
    lot_sec = np.concatenate([p.lot_sec[keep], bought])
    realized = float(np.dot(sell, p.lot_gain_per_share))
    loss_groups = np.unique(p.wash_group[p.lot_sec[(sell > 0) & p.lot_is_loss]])
    buy_allowed = p.buy_allowed & ~np.isin(p.wash_group, loss_groups)
    reasons = tuple(r if ok or r else "wash_sale" for r, ok in zip(p.buy_reason, buy_allowed))
    cash = p.cash + float(np.dot(sell, p.lot_price) - np.dot(buy, p.prices))
    need_paid = min(p.cash_need, max(cash, 0.0))
    nb = len(bought)
    bought_group = np.isin(p.wash_group, p.wash_group[bought])  # rule (a): a group acquired today
    return p.with_(
        lot_ids=tuple(np.asarray(p.lot_ids, dtype=object)[keep]) + tuple(f"{new_lot_prefix}{i}" for i in range(nb)),
        lot_sec=lot_sec,
        lot_shares=np.concatenate([(p.lot_shares - sell)[keep], buy[bought]]),
        lot_basis=np.concatenate([p.lot_basis[keep], p.prices[bought]]),
        lot_long_term=np.concatenate([p.lot_long_term[keep], np.zeros(nb, bool)]),
        lot_days_to_lt=np.concatenate([p.lot_days_to_lt[keep], np.full(nb, 366)]),
        lot_tax_per_share=np.concatenate([p.lot_tax_per_share[keep], np.zeros(nb)]),
        lot_sell_allowed=np.concatenate([p.lot_sell_allowed[keep], np.ones(nb, bool)]),
        lot_sell_reason=tuple(np.asarray(p.lot_sell_reason, dtype=object)[keep]) + ("",) * nb,
        lot_loss_sale_blocked=np.concatenate([p.lot_loss_sale_blocked[keep] | bought_group[p.lot_sec[keep]], np.ones(nb, bool)]),
        cash=cash - need_paid,
        cash_need=p.cash_need - need_paid,
        gain_allowance=None if p.gain_allowance is None else p.gain_allowance - realized,
        buy_allowed=buy_allowed,
        buy_reason=reasons,
    )
