"""Reasons and explanations: every order line gets a `reason`, every account a readable `Explanation`.

Reasons follow the data contract's precedence -- the first that applies of:

1. ``restriction``: a SELL of a position a restriction requires to exit (a screen, the firm's list), or a
   SELL of a never-buy/firm-restricted position the target no longer holds.
2. ``cash_raise``: a SELL while the account must raise cash (a cash need, or cash below its minimum).
3. ``substitution``: a SELL of a substituted-away security, or a BUY of an advisor's substitute.
4. ``model_change``: a line in a security whose target moved since the last review.
5. ``transition``: a line of an account whose move to its target is spread over several days -- a
   turnover limit below 1 (``transition`` in the problem) that today's proposal uses up (one-sided
   turnover at least `TRANSITION_USE` of the limit), or a gain budget it uses up (net realized gain
   above 0 and at least `TRANSITION_USE` of the allowance left). A firm-wide turnover cap that an account's
   trades stay well inside does not make its harvests and rebalances a "transition".
6. ``switch_back``: the way back from a harvest's substitute once the wash-sale window has ended, as the
   daily review offers it (`review.daily.switch_back_candidates` / `switch_back_substitutes`, carried in
   the problem's ``switch_back`` and ``switch_back_lots``): a BUY of a security of a wash group the account
   is offered to switch back to; a SELL of a substitute lot the review names, when the same proposal buys
   a switch-back security of that lot's asset class (a sale of the substitute without the buy back is not
   a switch back and keeps its ordinary reason).
7. ``tax_loss_harvest``: a SELL of a lot at a loss in a taxable account; a BUY, in a taxable account
   harvesting today, of a security of the same asset class and sector as a harvested one (its replacement).
8. ``rebalance``: anything else.

``switch_back`` comes before ``tax_loss_harvest``: the substitute sold at a loss in a switch back is also
a loss sale, and the security bought back shares the harvested substitute's asset class and sector, so
the harvest rule would name both lines "harvest and replacement" -- the opposite of what happens (the
account leaves the replacement for its target's security). The loss is still counted in the account's
``losses_harvested`` and shown in the line's ``est_realized_gain``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from overlay_core.contract import TRADE_FILE_COLUMNS, TRADE_FILE_SCHEMA
from overlay_core.optimize.problem import AccountProblem
from overlay_core.optimize.rounding import Orders
from overlay_core.optimize.solve import Optimum

#: the order frame's columns: the trade file's, without run_id
ORDER_COLUMNS: tuple[str, ...] = tuple(c for c in TRADE_FILE_COLUMNS if c != "run_id")
ORDER_SCHEMA: dict[str, pl.DataType] = {c: t for c, t in TRADE_FILE_SCHEMA.items() if c != "run_id"}


@dataclass(frozen=True)
class Explanation:
    """Why one account trades (or not), with the numbers behind it.

    te_before, te_after : ex-ante tracking error, annualized fraction. est_tax : USD of tax on the
    realized gains (< 0 a saving). net_realized_gain, losses_harvested : USD (losses as a positive number).
    turnover : one-sided, fraction of account value. binding : constraints that bind at the optimum.
    relaxed : soft families relaxed (the contract's order). diagnosis : which constraints conflict.
    """

    account_id: str
    decision: str  # trade | no_trade | held | error
    why: str
    te_before: float
    te_after: float
    est_tax: float
    net_realized_gain: float
    losses_harvested: float
    turnover: float
    n_orders: int
    cash_before: float
    cash_after: float
    improvement_bps: float
    binding: tuple[str, ...] = ()
    relaxed: tuple[str, ...] = ()
    diagnosis: str = ""
    notes: tuple[str, ...] = ()
    solver: str = ""
    solve_ms: float = 0.0
    total_ms: float = 0.0
    reasons: dict[str, int] = field(default_factory=dict)
    n_solves: int = 0
    solve_cpu_ms: float = 0.0

    def text(self) -> str:
        """A few plain lines for a person."""
        lines = [
            f"account {self.account_id}: {self.decision.replace('_', ' ')} -- {self.why}",
            f"  tracking error {self.te_before:.2%} -> {self.te_after:.2%}/yr; turnover {self.turnover:.2%}; "
            f"{self.n_orders} order line(s)",
            f"  net realized gain {self.net_realized_gain:,.2f} USD; losses harvested {self.losses_harvested:,.2f} USD; "
            f"estimated tax {self.est_tax:,.2f} USD",
            f"  cash {self.cash_before:,.2f} -> {self.cash_after:,.2f} USD",
        ]
        if self.reasons:
            lines.append("  reasons: " + ", ".join(f"{k} {v}" for k, v in self.reasons.items()))
        if self.binding:
            lines.append("  binding: " + ", ".join(self.binding[:10]) + (" ..." if len(self.binding) > 10 else ""))
        if self.relaxed:
            lines.append("  relaxed: " + ", ".join(self.relaxed))
        if self.diagnosis:
            lines.append("  diagnosis: " + self.diagnosis)
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


@dataclass(frozen=True)
class Proposal:
    """One account's proposal: order lines (`ORDER_COLUMNS`) and the explanation."""

    account_id: str
    orders: pl.DataFrame
    explanation: Explanation
    problem: AccountProblem | None = None


#: share of the turnover limit or of the gain allowance a proposal must use to be a transition's step
#: (below 1: rounding to whole shares and the solver's margin leave a proposal a little inside its limit)
TRANSITION_USE = 0.9


def in_transition(p: AccountProblem, sell: np.ndarray, buy: np.ndarray) -> bool:
    """The proposal is a step of a gradual transition: the account has a turnover limit below 1 and the
    proposal uses at least `TRANSITION_USE` of it, or its net realized gain is positive and uses at least
    `TRANSITION_USE` of the gain allowance left (the move to target is held back by the limit or budget)."""
    if not p.transition:
        return False
    traded = float(np.dot(sell, p.lot_price) + np.dot(buy, p.prices))
    if p.max_turnover < 1.0 and traded / 2.0 >= TRANSITION_USE * p.max_turnover * max(p.scale_value, 1e-9):
        return True
    if p.gain_allowance is not None and p.taxable:
        gain = float(np.dot(sell, p.lot_gain_per_share))
        return gain > 0.0 and gain >= TRANSITION_USE * p.gain_allowance
    return False


def line_reasons(p: AccountProblem, sell: np.ndarray, buy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Reason of each sold lot (m,) and each bought security (n,) (object arrays; "" where no trade)."""
    transition = in_transition(p, sell, buy)
    sell_r = np.full(p.m, "", dtype=object)
    buy_r = np.full(p.n, "", dtype=object)
    raising = p.cash_need > 0 or p.cash < p.min_cash
    harvested = (sell > 0) & p.lot_is_loss & p.taxable
    harvest_keys = {(int(p.asset_class[i]), int(p.sector[i])) for i in p.lot_sec[harvested]}
    # the switch back: the asset classes in which the account buys a switch-back security today
    back_classes = {int(p.asset_class[i]) for i in np.flatnonzero((buy > 0) & p.switch_back)}
    back_lot = np.array([x in p.switch_back_lots for x in p.lot_ids], bool) if p.switch_back_lots else np.zeros(p.m, bool)
    for l in np.flatnonzero(sell > 0):
        i = p.lot_sec[l]
        why = p.exit_reason[i]
        if p.exit_required[i] and why != "substituted_away":
            r = "restriction"
        elif not p.buy_allowed[i] and p.buy_reason[i] in ("never_buy", "firm_restricted", "screen") and p.target[i] == 0:
            r = "restriction"
        elif raising:
            r = "cash_raise"
        elif why == "substituted_away" or p.buy_reason[i] == "substituted_away":
            r = "substitution"
        elif p.model_change[i]:
            r = "model_change"
        elif transition:
            r = "transition"
        elif back_lot[l] and int(p.asset_class[i]) in back_classes:
            r = "switch_back"
        elif harvested[l]:
            r = "tax_loss_harvest"
        else:
            r = "rebalance"
        sell_r[l] = r
    for i in np.flatnonzero(buy > 0):
        if p.substitution[i]:
            r = "substitution"
        elif p.model_change[i]:
            r = "model_change"
        elif transition:
            r = "transition"
        elif p.switch_back[i]:
            r = "switch_back"
        elif (int(p.asset_class[i]), int(p.sector[i])) in harvest_keys:
            r = "tax_loss_harvest"
        else:
            r = "rebalance"
        buy_r[i] = r
    return sell_r, buy_r


def order_frame(
    p: AccountProblem,
    sell: np.ndarray,
    buy: np.ndarray,
    *,
    as_of: dt.date | None = None,
    trade_date: dt.date | None = None,
) -> pl.DataFrame:
    """Order lines in `ORDER_COLUMNS`, sorted as the trade file (account, SELL first, symbol, lot_id)."""
    sell_r, buy_r = line_reasons(p, sell, buy)
    ls = np.flatnonzero(sell > 0)
    bs = np.flatnonzero(buy > 0)
    # the trade file's order: SELL first, then symbol, then lot_id (one account)
    ls = ls[np.lexsort((np.asarray(p.lot_ids, dtype=object)[ls].astype(str), np.asarray(p.symbols, dtype=object)[p.lot_sec[ls]].astype(str)))] if len(ls) else ls
    bs = bs[np.argsort(np.asarray(p.symbols, dtype=object)[bs].astype(str), kind="stable")] if len(bs) else bs
    k, nb = len(ls), len(bs)
    sec = np.concatenate([p.lot_sec[ls], bs]).astype(np.int64)
    shares = np.concatenate([sell[ls], buy[bs]])
    price = p.prices[sec]
    taxable = p.taxable
    gain = (sell[ls] * p.prices[p.lot_sec[ls]] - sell[ls] * p.lot_basis[ls]) if taxable else np.full(k, np.nan)
    cols = {
        "as_of": [as_of] * (k + nb),
        "trade_date": [trade_date] * (k + nb),
        "account_id": [p.account_id] * (k + nb),
        "symbol": [p.symbols[i] for i in sec],
        "side": ["SELL"] * k + ["BUY"] * nb,
        "shares": shares,
        "est_price": price,
        "est_value": shares * price,
        "lot_id": [p.lot_ids[l] for l in ls] + [None] * nb,
        "est_realized_gain": [float(g) if taxable else None for g in gain] + [None] * nb,
        "term": [(("long" if p.lot_long_term[l] else "short") if taxable else None) for l in ls] + [None] * nb,
        "reason": [sell_r[l] for l in ls] + [buy_r[i] for i in bs],
    }
    return pl.DataFrame(cols, schema=ORDER_SCHEMA)


def explain(o: Optimum | None, r: Orders, *, decision_override: str | None = None) -> Explanation:
    """The account's explanation from its optimum ``o`` (None for a held account) and rounded orders ``r``."""
    p = r.problem
    V = p.value
    Vs = p.scale_value
    sell, buy = r.sell, r.buy
    w_before = p.holdings_value / Vs
    after_val = p.holdings_value - np.bincount(p.lot_sec, weights=sell * p.lot_price, minlength=p.n) + buy * p.prices
    w_after = after_val / Vs
    te0 = p.tracking_error(w_before)
    te1 = p.tracking_error(w_after)
    gains = sell * p.lot_gain_per_share if p.taxable else np.zeros(p.m)
    tax = float(np.dot(sell, p.lot_tax_per_share)) if p.taxable else 0.0
    traded = float(np.dot(sell, p.lot_price) + np.dot(buy, p.prices))
    sell_r, buy_r = line_reasons(p, sell, buy)
    reasons: dict[str, int] = {}
    for x in list(sell_r[sell > 0]) + list(buy_r[buy > 0]):
        reasons[x] = reasons.get(x, 0) + 1
    n_orders = int((sell > 0).sum() + (buy > 0).sum())
    if decision_override:
        decision = decision_override
    else:
        decision = "trade" if r.trades else "no_trade"
    if p.status == "hold":
        decision, why = "held", "the account is on hold: reviewed, never traded"
    elif r.trades:
        if r.violated_no_trade:
            shown = ", ".join(r.violated_no_trade[:6]) + (" ..." if len(r.violated_no_trade) > 6 else "")
            bits = [f"required: not trading would break {shown}"]
        else:
            bits = [f"improves the objective by {r.improvement_bps:,.1f} bps of value"]
        if p.status == "liquidate":
            bits.insert(0, "liquidating tax-aware (losses first, within the gain budget)")
        if reasons.get("tax_loss_harvest"):
            bits.append(f"harvests {-gains[gains < 0].sum():,.0f} USD of losses")
        if reasons.get("cash_raise"):
            bits.append(f"raises cash for a need of {p.cash_need:,.0f} USD" if p.cash_need > 0 else "raises cash to its minimum")
        if reasons.get("restriction"):
            bits.append("exits restricted positions")
        if reasons.get("switch_back"):
            back = sorted({p.symbols[i] for i in np.flatnonzero((buy > 0) & p.switch_back)})
            bits.append(f"switches back to {', '.join(back)} after the wash-sale window" if back else "switches back after the wash-sale window")
        why = "; ".join(bits)
    elif r.churn_suppressed:
        why = f"the best proposal gains only {r.improvement_bps:.2f} bps <= the no-churn threshold {p.no_churn_threshold_bps:g} bps"
    else:
        why = "already at its optimum: no trade pays for its tax and cost"
    notes = tuple(r.notes) + (tuple(o.wash_pass) if o is not None else ()) + tuple(p.notes)
    return Explanation(
        account_id=p.account_id,
        decision=decision,
        why=why,
        te_before=te0,
        te_after=te1,
        est_tax=tax,
        net_realized_gain=float(gains.sum()),
        losses_harvested=float(-gains[gains < 0].sum()),
        turnover=traded / 2.0 / V,
        n_orders=n_orders,
        cash_before=p.cash,
        cash_after=r.cash_after,
        improvement_bps=r.improvement_bps,
        binding=o.binding if o is not None else (),
        relaxed=o.relaxed if o is not None else (),
        diagnosis=o.diagnosis if o is not None else "",
        notes=notes,
        solver=o.solver if o is not None else "",
        solve_ms=(o.solve_time * 1e3) if o is not None else 0.0,
        total_ms=(o.total_time * 1e3) if o is not None else 0.0,
        reasons=reasons,
        n_solves=o.n_solves if o is not None else 0,
        solve_cpu_ms=(o.solve_cpu * 1e3) if o is not None else 0.0,
    )
