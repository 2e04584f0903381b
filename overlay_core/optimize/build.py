"""From the day's book to one account's `AccountProblem`, and the account's `Proposal`.

`build_problem(book, account_id, *, targets, risk, tax_state, policy)` gathers, for one account:

- its universe: held symbols (lots and pending buys), its target's symbols, and for every held or
  targeted security that cannot be bought today or that has a lot at a loss, up to two legal substitutes
  (same asset class, same sector for equities, another wash group, priced, buyable, on the policy's
  approved list where the class has one) -- the replacements a harvest may buy;
- securities: today's close, the account's own target (`targets.AccountTargets`, rescaled to the value left
  after the cash need), asset class, sector, wash group, ``cost_bps``, the share increment of its type
  (whole shares for equity/etf, 0.001 for mutual funds and cash equivalents, ``trade_increment`` for
  bonds), buy blocks with their reason (never_buy, screen, substituted_away, firm_restricted from the
  targets; wash_sale from the tax engine, rule (b)); a held screened security must be sold (``exit``);
- lots from the tax engine (`tax.TaxState.account`): the shares left after pending sells, basis per share,
  term, days to long-term, tax per share, rule (a) blocks; never-sell positions; shares of pending buys as
  lots that cannot be sold today;
- cash after pending orders; the minimum cash ``max(min_cash_weight, policy cash_floor) x value``; the
  cash need; today's gain allowance ``gain_budget - ytd_realized_st - ytd_realized_lt - pending sells'
  est_realized_gain`` (taxable accounts with a budget);
- asset-class drift bands ``max(asset_class_band_abs, asset_class_band_rel x class target)`` and sector
  caps (``sector_max``, the account's and the firm's; the lower wins);
- the risk model's factor form for the universe and the policy's weights.

`rebalance_account(...)` = `build_problem` + `propose.propose`.
"""

from __future__ import annotations

import datetime as dt
from typing import Iterable

import numpy as np
import polars as pl

from overlay_core.book import Book
from overlay_core.contract import CASH, FIRM_WIDE
from overlay_core.errors import DataError, OptimizationError
from overlay_core.optimize.explain import Proposal
from overlay_core.optimize.problem import AccountProblem
from overlay_core.optimize.propose import propose
from overlay_core.policy import Policy
from overlay_core.targets.customize import AccountTargets
from overlay_core.targets.risk import RiskModel
from overlay_core.tax.blocks import TaxState

#: legal substitutes added per security that may need a replacement
SUBSTITUTES_PER_SECURITY = 2
#: exits required by these buy-block reasons (a held screened security is sold)
EXIT_REASONS = ("screen",)


def _increment(sec_type: str, trade_increment: float | None) -> float:
    if sec_type in ("equity", "etf"):
        return 1.0
    if sec_type in ("mutual_fund", "cash_equivalent"):
        return 0.001
    if trade_increment is not None and np.isfinite(trade_increment) and trade_increment > 0:
        return float(trade_increment)
    return 1.0


def _of_account(frame: pl.DataFrame, account_id: str) -> pl.DataFrame:
    """The rows of `account_id` (an empty frame as it is: most books have no blocks, substitutes or
    pending orders, and a filter costs a query per account)."""
    return frame if frame.height == 0 else frame.filter(pl.col("account_id") == account_id)


def build_problem(
    book: Book,
    account_id: str,
    *,
    targets: AccountTargets,
    risk: RiskModel,
    tax_state: TaxState,
    policy: Policy | None = None,
    model_change: Iterable[str] = (),
    switch_back: Iterable[str] = (),
    switch_back_lots: Iterable[str] = (),
) -> AccountProblem:
    """One account's `AccountProblem` on the book's day (see the module docstring).

    Parameters
    ----------
    book : the day's book. account_id : an account of the book (not quarantined).
    targets : `targets.account_targets(book)`; risk : `targets.risk_model(book)`;
    tax_state : `tax.tax_state(book)`; policy : default `book.policy`.
    model_change : symbols whose target changed since the last review (for the reason ``model_change``).
    switch_back : wash groups (a security's ``wash_group``, else its symbol) the daily review offers the
        account to switch back to after a harvest (`review.daily.switch_back_candidates`); for the reason
        ``switch_back`` only, the optimizer's problem is the same.
    switch_back_lots : lot ids of the harvest substitutes held for those groups
        (`review.daily.switch_back_substitutes`); for the reason ``switch_back`` of their sale.

    Raises
    ------
    OptimizationError : the account is unknown, refused by the targets, or a held symbol has no price.
    """
    policy = policy or book.policy
    reb, drift_pol = policy.rebalance, policy.drift
    acc = book.accounts.filter(pl.col("account_id") == account_id)
    if acc.height != 1:
        raise OptimizationError(f"account {account_id}: not in the book's accounts (quarantined or unknown)")
    a = acc.row(0, named=True)
    tw = targets.of(account_id)
    if not tw:
        refused = targets.refused.filter(pl.col("account_id") == account_id)["reason"].to_list()
        raise OptimizationError(f"account {account_id}: no target ({'; '.join(refused) or 'refused by the targets'})")
    prices = book.price_map
    sec = book.securities
    meta = {r["symbol"]: r for r in sec.iter_rows(named=True)}
    at = tax_state.account(account_id)
    taxable = a["tax_status"] == "taxable"
    notes: list[str] = []

    # blocks from the targets (first reason) and the tax engine (rule (b))
    blocked = {
        s: r for s, r in _of_account(targets.blocked, account_id).select("symbol", "reason").iter_rows()
    }
    for s in at.buy_blocked_symbols:
        blocked.setdefault(s, "wash_sale")
    never_sell = set(_of_account(targets.never_sell, account_id)["symbol"].to_list())
    subs = _of_account(targets.substitutes, account_id)
    sub_to = set(subs["to_symbol"].to_list())

    # lots: uploaded (left after pending sells) + pending buys
    keep = at.available_shares > 1e-9
    lot_sym = [str(s) for s in at.symbol[keep]]
    pend = _of_account(book.pending_orders, account_id)
    pend_buys = pend if pend.height == 0 else pend.filter(pl.col("side") == "buy")
    pend_sells = pend if pend.height == 0 else pend.filter(pl.col("side") == "sell")

    held = set(lot_sym) | set(pend_buys["symbol"].to_list())
    universe = sorted((held | {s for s, w in tw.items() if s != CASH and w > 0}))
    missing = [s for s in universe if s not in prices]
    if missing:
        raise OptimizationError(f"account {account_id}: no close for {', '.join(missing)} (prices.csv)")

    # legal substitutes, for securities that cannot be bought or have a lot at a loss
    loss_syms = {str(s) for s, g in zip(at.symbol[keep], at.gain_per_share[keep]) if np.isfinite(g) and g < 0} if taxable else set()
    need_sub = [s for s in universe if s in blocked or s in loss_syms]
    if need_sub:
        wash = {s: (meta[s]["wash_group"] or s) for s in meta}
        by_class: dict[str, list[str]] = {}
        for c, r in meta.items():
            if c in prices and c not in blocked and c in risk.index:
                by_class.setdefault(r["asset_class"], []).append(c)
        for s in need_sub:
            m = meta.get(s)
            if m is None:
                continue
            approved = policy.approved.get(m["asset_class"])
            cands = [
                c
                for c in by_class.get(m["asset_class"], [])
                if c != s
                and wash[c] != wash[s]
                and (m["type"] != "equity" or meta[c]["sector"] == m["sector"])
                and (approved is None or c in approved)
            ]
            if cands and s in risk.index:
                C = risk.cov([s] + cands)
                sd = np.sqrt(np.maximum(np.diag(C), 1e-300))
                corr = C[0, 1:] / (sd[0] * sd[1:])
                order = np.argsort(-corr)
                cands = [cands[j] for j in order]
            for c in cands[:SUBSTITUTES_PER_SECURITY]:
                if c not in universe:
                    universe.append(c)
        universe = sorted(universe)
    index = {s: i for i, s in enumerate(universe)}
    n = len(universe)

    # securities
    px = np.array([prices[s] for s in universe])
    classes = sorted({meta[s]["asset_class"] for s in universe})
    sectors = sorted({meta[s]["sector"] for s in universe if meta[s]["sector"]})
    asset_class = np.array([classes.index(meta[s]["asset_class"]) for s in universe], np.int64)
    sector = np.array([sectors.index(meta[s]["sector"]) if meta[s]["sector"] else -1 for s in universe], np.int64)
    groups = sorted({meta[s]["wash_group"] or s for s in universe})
    wash_group = np.array([groups.index(meta[s]["wash_group"] or s) for s in universe], np.int64)
    cost = np.array([meta[s]["cost_bps"] if meta[s]["cost_bps"] is not None else reb.cost_bps for s in universe], float)
    types = tuple(meta[s]["type"] for s in universe)
    inc = np.array([_increment(meta[s]["type"], meta[s]["trade_increment"]) for s in universe])
    buy_reason = tuple(blocked.get(s, "") for s in universe)
    buy_allowed = np.array([r == "" for r in buy_reason])
    if a["status"] == "liquidate":
        buy_allowed[:] = False
        buy_reason = tuple(r or "liquidate" for r in buy_reason)
    exit_required = np.array([blocked.get(s) in EXIT_REASONS and s in held and s not in never_sell for s in universe])
    exit_reason = tuple(blocked.get(s, "") if e else "" for s, e in zip(universe, exit_required))

    # lots
    idx_keep = np.flatnonzero(keep)
    lot_ids = [str(x) for x in at.lot_id[keep]]
    lot_sec = [index[s] for s in lot_sym]
    lot_shares = list(at.available_shares[keep])
    basis = at.basis_per_share[keep].astype(float)
    lot_px = px[np.array(lot_sec, np.int64)] if lot_sec else np.zeros(0)
    basis = np.where(np.isfinite(basis), basis, lot_px)  # no basis (IRA): a sale realizes nothing taxable
    lot_basis = list(basis)
    lot_lt = list(at.long_term[keep])
    dlt = at.days_to_long_term[keep].astype(np.int64)
    lot_dlt = list(np.where(dlt < 0, 0, dlt))
    lot_tax = list(np.where(np.isfinite(at.tax_per_share[keep]), at.tax_per_share[keep], 0.0) if taxable else np.zeros(len(idx_keep)))
    lot_sell_ok = [s not in never_sell for s in lot_sym]
    lot_sell_reason = ["never_sell" if s in never_sell else "" for s in lot_sym]
    lot_loss_blocked = list(at.loss_sale_blocked[keep])
    for j, r in enumerate(pend_buys.iter_rows(named=True)):
        s = r["symbol"]
        lot_ids.append(f"pending-buy-{j + 1}")
        lot_sec.append(index[s])
        lot_shares.append(float(r["shares"]))
        lot_basis.append(prices[s])
        lot_lt.append(False)
        lot_dlt.append(366)
        lot_tax.append(0.0)
        lot_sell_ok.append(False)
        lot_sell_reason.append("pending_buy")
        lot_loss_blocked.append(True)
    if pend_buys.height:
        notes.append(f"{pend_buys.height} pending buy(s) counted as filled at today's close (not sellable today)")

    # cash and limits
    pend_cash = sum(float(r["shares"]) * prices.get(r["symbol"], 0.0) * (1 if r["side"] == "sell" else -1) for r in pend.iter_rows(named=True))
    cash = float(a["cash"]) + pend_cash
    value = cash + float(np.dot(np.array(lot_shares), px[np.array(lot_sec, np.int64)])) if lot_sec else cash
    cash_need = float(a["cash_need"] or 0.0)
    min_cash_w = max(float(a["min_cash_weight"] or 0.0), reb.cash_floor)
    min_cash = min_cash_w * max(value, 0.0)
    allowance = None
    if taxable and a["gain_budget"] is not None:
        pend_gain = float(pend_sells["est_realized_gain"].fill_null(0.0).sum()) if pend_sells.height else 0.0
        allowance = float(a["gain_budget"]) - float(a["ytd_realized_st"] or 0.0) - float(a["ytd_realized_lt"] or 0.0) - pend_gain

    # the target, rescaled to the value left after the cash need
    scale = value / max(value - cash_need, 0.05 * value) if value > 0 else 1.0
    target = np.array([tw.get(s, 0.0) for s in universe]) * scale
    target_cash = max(1.0 - float(target.sum()), 0.0)
    class_target = np.bincount(asset_class, weights=target, minlength=len(classes))
    class_band = np.maximum(drift_pol.asset_class_band_abs, drift_pol.asset_class_band_rel * class_target)
    caps = {}
    restr = book.restrictions
    for r in ([] if restr.height == 0 else restr.filter((pl.col("kind") == "sector_max") & pl.col("account_id").is_in([account_id, FIRM_WIDE])).iter_rows(named=True)):
        if r["limit"] is not None:
            caps[r["value"]] = min(caps.get(r["value"], np.inf), float(r["limit"]))
    sector_cap = np.array([caps.get(s, np.inf) for s in sectors], float)

    back = {str(g) for g in switch_back}  # the review's switch-back groups (reasons only)

    try:
        B, F, d = risk.factor_form(universe)
    except DataError as exc:
        raise OptimizationError(f"account {account_id}: the risk model lacks a security: {exc}") from exc

    return AccountProblem(
        account_id=account_id,
        symbols=tuple(universe),
        prices=px,
        target=target,
        target_cash=target_cash,
        asset_class=asset_class,
        asset_classes=tuple(classes),
        sector=sector,
        sectors=tuple(sectors),
        wash_group=wash_group,
        cost_bps=cost,
        sec_type=types,
        increment=inc,
        buy_allowed=buy_allowed,
        buy_reason=buy_reason,
        exit_required=exit_required,
        exit_reason=exit_reason,
        substitution=np.array([s in sub_to for s in universe]),
        model_change=np.array([s in set(model_change) for s in universe]),
        switch_back=np.array([(meta[s]["wash_group"] or s) in back for s in universe], bool),
        lot_ids=tuple(lot_ids),
        lot_sec=np.array(lot_sec, np.int64),
        lot_shares=np.array(lot_shares, float),
        lot_basis=np.array(lot_basis, float),
        lot_long_term=np.array(lot_lt, bool),
        lot_days_to_lt=np.array(lot_dlt, np.int64),
        lot_tax_per_share=np.array(lot_tax, float),
        lot_sell_allowed=np.array(lot_sell_ok, bool),
        lot_sell_reason=tuple(lot_sell_reason),
        lot_loss_sale_blocked=np.array(lot_loss_blocked, bool),
        cash=cash,
        min_cash=min_cash,
        cash_need=cash_need,
        gain_allowance=allowance,
        max_turnover=reb.max_turnover,
        B=B,
        F=F,
        d=d,
        risk_aversion=reb.risk_aversion,
        turnover_penalty_bps=reb.turnover_penalty_bps,
        no_churn_threshold_bps=reb.no_churn_threshold_bps,
        min_trade_value=float(a["min_trade_value"] if a["min_trade_value"] is not None else reb.min_trade_value),
        lt_wait_days=reb.lt_wait_days,
        class_target=class_target,
        class_band=class_band,
        sector_cap=sector_cap,
        tax_status=a["tax_status"],
        status=a["status"] or "active",
        st_rate=float(a["st_rate"] if a["st_rate"] is not None else reb.st_rate),
        lt_rate=float(a["lt_rate"] if a["lt_rate"] is not None else reb.lt_rate),
        transition=reb.max_turnover < 1.0 or allowance is not None,
        switch_back_lots=frozenset(str(x) for x in switch_back_lots) & set(lot_ids),
        notes=tuple(notes),
    )


def rebalance_account(
    book: Book,
    account_id: str,
    *,
    targets: AccountTargets,
    risk: RiskModel,
    tax_state: TaxState,
    policy: Policy | None = None,
    solver: str | None = None,
    model_change: Iterable[str] = (),
    switch_back: Iterable[str] = (),
    switch_back_lots: Iterable[str] = (),
) -> Proposal:
    """The account's proposal (orders in the trade file's columns without run_id, and the explanation).

    An account the optimizer cannot even build (no target, a missing price) gets decision ``error``
    with the reason, never an exception. ``solver`` defaults to the policy's. ``model_change``,
    ``switch_back`` and ``switch_back_lots`` only name the lines' reasons (`build_problem`).
    """
    policy = policy or book.policy
    try:
        p = build_problem(
            book, account_id, targets=targets, risk=risk, tax_state=tax_state, policy=policy, model_change=model_change,
            switch_back=switch_back, switch_back_lots=switch_back_lots,
        )
    except OptimizationError as exc:
        from overlay_core.optimize.explain import ORDER_SCHEMA, Explanation

        ex = Explanation(account_id, "error", "the account could not be optimized", 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0, 0.0, 0.0, 0.0, diagnosis=str(exc))
        return Proposal(account_id, pl.DataFrame(schema=ORDER_SCHEMA), ex, None)
    return propose(p, solver=solver or policy.rebalance.solver, as_of=book.as_of, trade_date=book.trade_date)


def as_of_date(book: Book) -> dt.date:
    return book.as_of


def household_blocks(p: AccountProblem, bought_groups: set[str], loss_sold_groups: set[str], group_of: dict[str, str]) -> AccountProblem:
    """Account problem ``p`` with the same-day lines of other accounts of its household taken into account.

    A wash group another account of the household buys today: no loss sale of it here (rule (a), "nor of a
    wash group that this file buys in any account of the household"). A wash group another account sells
    at a loss today: no buy of it here (the pair would wash that loss; in an IRA for good).
    """
    if not bought_groups and not loss_sold_groups:
        return p
    sec_group = [group_of.get(s, s) for s in p.symbols]
    no_loss_sale = np.array([sec_group[i] in bought_groups for i in p.lot_sec], bool) if p.m else np.zeros(0, bool)
    no_buy = np.array([g in loss_sold_groups for g in sec_group], bool)
    reasons = tuple(r or ("wash_sale_household" if nb else "") for r, nb in zip(p.buy_reason, no_buy))
    return p.with_(
        lot_loss_sale_blocked=p.lot_loss_sale_blocked | no_loss_sale,
        buy_allowed=p.buy_allowed & ~no_buy,
        buy_reason=reasons,
    )


def rebalance_household(
    book: Book,
    account_ids: Iterable[str],
    *,
    targets: AccountTargets,
    risk: RiskModel,
    tax_state: TaxState,
    policy: Policy | None = None,
    solver: str | None = None,
    model_change: Iterable[str] = (),
) -> list[Proposal]:
    """Proposals for the accounts of one household, so that their lines together obey the wash-sale rule.

    Accounts are optimized one after the other -- taxable accounts first (their losses are worth
    harvesting), then by account_id -- each seeing the wash groups the earlier ones buy (no loss sale of
    them) and sell at a loss (no buy of them): `household_blocks`. Accounts of different households may be
    given together; each only sees its own household's lines.
    """
    policy = policy or book.policy
    acc = book.accounts.filter(pl.col("account_id").is_in(list(account_ids)))
    order = sorted(acc.select("account_id", "household_id", "tax_status").iter_rows(), key=lambda r: (r[2] != "taxable", r[0]))
    sec = book.securities
    group_of = {s: (g or s) for s, g in zip(sec["symbol"].to_list(), sec["wash_group"].to_list())}
    bought: dict[str, set[str]] = {}
    loss_sold: dict[str, set[str]] = {}
    out: list[Proposal] = []
    for account_id, household, _status in order:
        try:
            p = build_problem(book, account_id, targets=targets, risk=risk, tax_state=tax_state, policy=policy, model_change=model_change)
        except OptimizationError:
            out.append(rebalance_account(book, account_id, targets=targets, risk=risk, tax_state=tax_state, policy=policy, solver=solver))
            continue
        p = household_blocks(p, bought.get(household, set()), loss_sold.get(household, set()), group_of)
        prop = propose(p, solver=solver or policy.rebalance.solver, as_of=book.as_of, trade_date=book.trade_date)
        for row in prop.orders.iter_rows(named=True):
            g = group_of.get(row["symbol"], row["symbol"])
            if row["side"] == "BUY":
                bought.setdefault(household, set()).add(g)
            elif p.taxable and (row["est_realized_gain"] or 0.0) < 0:
                loss_sold.setdefault(household, set()).add(g)
        out.append(prop)
    return out
