"""From the continuous optimum to orders: tradable quantities, small trades dropped, repaired, no churn.

`round_orders(optimum)` returns `Orders`: shares sold per lot and bought per security, every hard
constraint checked again on the rounded numbers. Steps, in order:

1. Net each security (a buy and a sale of one security on one day is cancelled, highest-tax lots first).
2. Round: a sale within half an increment of the lot's remainder sells the exact remainder; other sales to
   the nearest increment (whole shares for equity/etf, 0.001 for mutual funds and cash equivalents, the
   ``trade_increment`` for bonds); buys to the nearest increment too (step 4 shrinks them if cash is short).
   Every quantity a step changes is put back on its grid by `snap` (a whole count of increments, exact
   at any size: an account of billions buys 10^11 shares of a $0.01 stock).
3. Drop the net order of a symbol worth less than ``min_trade_value`` -- never an exit a restriction requires.
4. Repair cash: first shrink buys -- those whose shrinking pushes no band or cap over its limit first,
   then the smallest; then, if cash is still short of what the optimum reached (never below 0), sell more:
   losses first, then the smallest gains per USD, never a blocked lot, never a loss sale in a wash group
   being bought, lots near long-term last.
5. Repair the gain budget (if the optimum kept it): sell less of the highest-gain lots. Then polish: move
   an order by one increment -- or open one of one increment -- while that lowers the objective and
   breaks nothing, bands and caps up to their real limit (`polish`): so tomorrow's review, which rounds
   into the room the solver keeps free below a binding band or cap, finds no increment worth trading.
6. The wash-sale rule on the final lines: a group both bought and sold at a loss loses its buys; cash
   never negative.
7. No churn: the account trades only if its merit (objective + penalties of every violated constraint,
   beyond what the optimum itself could not avoid) improves by more than ``no_churn_threshold_bps`` of the
   account value.

``hold`` accounts get no orders.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from overlay_core.optimize.model import SLACK_PENALTY, Formulation, Rows, formulate
from overlay_core.optimize.problem import AccountProblem
from overlay_core.optimize.solve import Optimum, wash_conflicts, wash_sides

#: penalty per unit (fraction of value) of a violated hard constraint in the merit function
HARD_PENALTY = 1e4
#: USD of slack tolerated on a rounded constraint
TOL_USD = 1e-6


@dataclass(frozen=True, eq=False)
class Orders:
    """Rounded orders of one account.

    sell : shares sold per lot (m,); buy : shares bought per security (n,).
    trades : whether any order remains. churn_suppressed : the proposal was dropped as not worth it.
    improvement_bps : merit(no trade) - merit(orders), bps of account value.
    notes : what rounding did (dropped small orders, repairs), for the explanation.
    violated_no_trade : constraints that not trading would break (they make the account trade).
    """

    problem: AccountProblem
    sell: np.ndarray
    buy: np.ndarray
    trades: bool
    churn_suppressed: bool
    improvement_bps: float
    merit_no_trade: float
    merit_orders: float
    notes: tuple[str, ...]
    violated_no_trade: tuple[str, ...] = ()

    @property
    def cash_after(self) -> float:
        p = self.problem
        return float(p.cash + np.dot(self.sell, p.lot_price) - np.dot(self.buy, p.prices))


def snap(x: np.ndarray | float, inc: np.ndarray | float, how: str = "nearest") -> np.ndarray:
    """Shares ``x`` on the increment grid ``inc`` (same shape, or broadcast): a whole number of increments.

    ``how`` is ``nearest`` (half to even) or ``down`` (never more than ``x``, float noise forgiven). The
    count of increments is rounded as a whole number and turned back into shares in one correctly
    rounded operation: ``k / 1000`` for the decimal increments (0.001, 0.01, ...), ``k * inc`` for whole
    ones (1, 5, 1000). So the result is the float nearest to the exact decimal ``k x inc``, whatever the
    size (a $2 billion account in a $0.01 stock buys 10^11 shares), and snapping it again changes nothing;
    its shortest text is that decimal (what the trade file writes).

    (``np.round(x, 9)``, used before, multiplies by 10^9: above 2^53 / 10^9 = 9.007e6 shares it neither
    snaps nor keeps an exact value, and its errors add up over the repairs and the polish.)
    """
    x = np.asarray(x, dtype=float)
    inc = np.asarray(inc, dtype=float)
    recip = np.rint(1.0 / inc)
    decimal = (inc < 1.0) & (np.abs(recip * inc - 1.0) <= 1e-12)
    q = np.where(decimal, x * recip, x / inc)
    if how == "down":
        k = np.floor(q + 1e-9 + 4.0 * np.spacing(np.abs(q)))
    elif how == "nearest":
        k = np.rint(q)
    else:
        raise ValueError(f"how={how!r}; expected 'nearest' or 'down'")
    return np.where(decimal, k / np.where(decimal, recip, 1.0), k * inc) + 0.0


def on_grid(x: np.ndarray, inc: np.ndarray) -> np.ndarray:
    """bool (same shape): shares ``x`` are on the increment grid ``inc``.

    Within 1e-6 of an increment (float noise of a hand-made quantity), or exactly `snap`'s value (a large
    quantity, whose float spacing is coarser than 1e-6 of an increment: 10^10 shares are 2e-6 apart).
    """
    grid = snap(x, inc)
    return (np.abs(x - grid) <= 1e-6 * inc) | (x == grid)


def _grid(x: np.ndarray, inc: np.ndarray, how: str) -> np.ndarray:
    return snap(x, inc, how)


def merit(f: Formulation, sell: np.ndarray, buy: np.ndarray, *, allowed: dict[int, np.ndarray] | None = None) -> float:
    """Objective + penalties of every violated row and required exit, at shares ``sell`` (m,), ``buy`` (n,).

    A row counts as violated beyond its rounding room (`Rows.tol`) plus, when given, ``allowed[id(row)]``:
    the violation the optimum itself could not avoid (a relaxed account), which no trade can remove.
    """
    p = f.problem
    x = f.from_shares(sell, buy)
    val = f.objective(x)
    for r, g in f.row_values(x):
        room = r.tol if allowed is None else r.tol + allowed.get(id(r), 0.0)
        viol = np.where(g > room + 1e-12, g - (0.0 if allowed is None else allowed.get(id(r), 0.0)), 0.0)
        val += float(viol.sum()) * (SLACK_PENALTY[r.family] if r.soft else HARD_PENALTY)
    # required exits (and any other hard lower bound) not met; sales above a hard upper bound
    short = np.maximum(f.lb - x, 0.0)
    val += float(short.sum()) * HARD_PENALTY
    over = np.maximum(x - f.ub, 0.0)
    ltw = p.lot_lt_wait & (f.lb[: p.m] == 0)  # lt_wait is soft: its own penalty
    over[: p.m][ltw] = 0.0
    val += float(over.sum()) * HARD_PENALTY
    val += float(x[: p.m][ltw].sum()) * SLACK_PENALTY["lt_wait"]
    return val


def violated(f: Formulation, sell: np.ndarray, buy: np.ndarray, *, tol: float = 1e-9, allowed: dict[int, np.ndarray] | None = None) -> tuple[str, ...]:
    """Labels of the rows and required exits that shares ``sell`` (m,), ``buy`` (n,) break."""
    p = f.problem
    x = f.from_shares(sell, buy)
    out: list[str] = []
    for r, g in f.row_values(x):
        extra = np.zeros(r.r) if allowed is None else allowed.get(id(r), np.zeros(r.r))
        out += [lab for lab, v, t, e in zip(r.labels, g, r.tol, extra) if v > t + e + tol]
    out += [f.bound_label(int(j)) for j in np.flatnonzero(f.lb - x > tol)]
    return tuple(dict.fromkeys(out))


def _net(p: AccountProblem, sell: np.ndarray, buy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    sell, buy = sell.copy(), buy.copy()
    sold = np.bincount(p.lot_sec, weights=sell, minlength=p.n)
    for i in np.flatnonzero((sold > 0) & (buy > 0)):
        overlap = min(sold[i], buy[i])
        buy[i] -= overlap
        lots = np.flatnonzero((p.lot_sec == i) & (sell > 0))
        for l in lots[np.argsort(-p.lot_tax_per_share[lots])]:
            take = min(sell[l], overlap)
            sell[l] -= take
            overlap -= take
            if overlap <= 0:
                break
    return sell, buy


def _row_room(f: Formulation, sell: np.ndarray, buy: np.ndarray) -> list[tuple[Rows, np.ndarray]]:
    """Each band/cap/turnover row family with its room left, ``h - margin - G x`` (>= 0 inside)."""
    x = f.from_shares(sell, buy)
    return [(r, -(g + r.tol)) for r, g in f.row_values(x) if r.family in ("drift_band", "sector_cap", "turnover_limit")]


def _would_break(f: Formulation, room: list[tuple[Rows, np.ndarray]], buy: np.ndarray, inc: np.ndarray, short: float) -> np.ndarray:
    """bool (n,): cutting buy i by what the cash shortfall needs would push a row with room over its limit."""
    p = f.problem
    out = np.zeros(p.n, bool)
    for r, rm in room:
        sel = r.cols >= p.m
        if not sel.any():
            continue
        i = r.cols[sel] - p.m
        cut_val = np.minimum(buy[i], np.ceil(short / p.prices[i] / inc[i] - 1e-9) * inc[i]) * p.prices[i] / f.V
        delta = -r.vals[sel] * cut_val  # change of G x when buy i shrinks
        rows = r.rows[sel]
        out[i] |= (rm[rows] >= 0) & (delta > rm[rows] + 1e-12)
    return out


def hard_blocked_lots(p: AccountProblem, forbid_sell: np.ndarray | None = None) -> np.ndarray:
    """Lots that may not be sold at all today (m,): never-sell, or a loss sale blocked by the wash-sale rule."""
    loss_block = p.lot_loss_sale_blocked if forbid_sell is None else (p.lot_loss_sale_blocked | forbid_sell)
    return ~p.lot_sell_allowed | (loss_block & p.lot_is_loss)


def _sellable(p: AccountProblem, forbid_sell: np.ndarray, buy: np.ndarray) -> np.ndarray:
    """Lots that may be sold more (not blocked, no loss sale in a wash group being bought)."""
    ok = ~hard_blocked_lots(p, forbid_sell)
    bought_groups = np.unique(p.wash_group[buy > 0])
    ok &= ~(np.isin(p.wash_group[p.lot_sec], bought_groups) & p.lot_is_loss)
    return ok


def polish(
    f: Formulation,
    sell: np.ndarray,
    buy: np.ndarray,
    *,
    cash_goal: float,
    exit_lots: np.ndarray,
    forbid_sell: np.ndarray,
    forbid_buy: np.ndarray,
    gain_budget: float | None,
    max_moves: int | None = None,
    next_review: bool = True,
) -> int:
    """Greedy integer polish of rounded orders (in place): move an order by one increment, up or down, while
    that lowers the objective (exact change for a single move), keeps cash >= ``cash_goal``, the gain
    budget, every block, and breaks no row it did not break. Returns the number of moves made.

    The polish leaves a point tomorrow's review cannot improve by one increment (no churn), so it looks
    where that review would: a band, cap or turnover row may use its rounding room up to its **real**
    limit (the solver stays one increment inside it; rounding to the nearest share may end anywhere
    around that), and a **new** order of one increment may be opened -- a buy of a buyable security not
    sold today, or a sale of one increment of a sellable lot of a security not bought today -- when the security's
    order is then worth at least ``min_trade_value`` (a smaller one would be dropped anyway). Never a buy
    in a wash group sold at a loss, a loss sale in a group bought, a lot the optimizer may not sell (a
    never-sell, a wash-sale block, a lot waiting to turn long-term), a buy of a ``liquidate`` account; an
    opened order never starts a wash-sale window the proposal does not already start (a loss sale only in
    a group already sold at a loss today, a buy only in a group already bought today or of which the
    account holds no lot at a loss: the objective does not price the 30 days of blocks a window brings);
    never closes an order (a move to 0 is left to the optimizer).

    ``next_review=False``: the older, narrower polish (existing orders only, rows within the solver's
    tightened bound), used for a relaxed account: its merit forgives the violations the optimum could not
    avoid, which the polish does not see, so a move the objective likes (a sale that frees cash) can
    hand tomorrow's review room to shrink a relaxed violation instead.
    """
    p = f.problem
    m, n = p.m, p.n
    V = f.V
    lam = f.risk_aversion
    diag = p.__dict__.get("_sigma_diag")
    if diag is None:
        diag = np.einsum("ij,jk,ik->i", p.B, p.F, p.B) + p.d
        p.__dict__["_sigma_diag"] = diag
    lot_inc = p.increment[p.lot_sec]
    blocked = hard_blocked_lots(p, forbid_sell) | (f.ub[:m] <= 0) | exit_lots

    skip = ("cash_nonnegative", "min_cash", "cash_need", "gain_budget")

    def rows_bad(x: np.ndarray) -> np.ndarray:
        # each row's violation of its real limit: the rounding room the solver keeps free is for rounding,
        # and tomorrow's review rounds into it (so the polish may too, up to the limit itself)
        parts = [np.maximum(g if next_review else g + r.tol, 0.0) for r, g in f.row_values(x) if r.family not in skip]
        return np.concatenate(parts) if parts else np.zeros(0)

    x = f.from_shares(sell, buy)
    bad0 = rows_bad(x)
    banned: set[tuple[int, int]] = set()
    moves = 0
    limit = max_moves if max_moves is not None else 2 * (m + n)
    while moves < limit:
        a = f.a0 - np.bincount(p.lot_sec, weights=x[:m], minlength=n) + x[m:]
        Sa = p.B @ (p.F @ (p.B.T @ a)) + p.d * a
        cash = float(p.cash + np.dot(sell, p.lot_price) - np.dot(buy, p.prices))
        gain = float(np.dot(sell, p.lot_gain_per_share))
        _, loss_groups = wash_sides(p, sell, buy)
        bought_groups = np.unique(p.wash_group[buy > 0])
        best, best_d, best_key = -1e-12, 0.0, None
        sold_sec = np.bincount(p.lot_sec, weights=sell, minlength=n) > 0
        # no new wash-sale window: a loss sale opened only in a group already sold at a loss today, a buy
        # only in a group already bought today or where the account holds no lot at a loss
        new_window_sell = p.lot_is_loss & ~np.isin(p.wash_group[p.lot_sec], loss_groups)
        new_window_buy = ~np.isin(p.wash_group, bought_groups) & np.isin(p.wash_group, p.wash_group[p.lot_sec[p.lot_is_loss]])
        # buys: +/- one increment of a buy; + opens one where an increment is worth the minimum trade
        for sign in (1.0, -1.0):
            d = sign * p.increment * p.prices / V  # change of b (fraction)
            may = buy > 0
            if next_review and sign > 0 and p.status != "liquidate":
                may = may | (~sold_sec & (p.increment * p.prices >= p.min_trade_value) & ~new_window_buy)
            dv = np.where(may, lam * (2 * d * Sa + d * d * diag) + f.q[m:] * d, np.inf)
            if sign > 0:
                dv[~p.buy_allowed | forbid_buy | np.isin(p.wash_group, loss_groups)] = np.inf
                dv[cash - p.increment * p.prices < cash_goal] = np.inf
            else:
                dv[buy - p.increment < 0.5 * p.increment] = np.inf  # never close an order
            for i in np.argsort(dv)[:3]:
                if dv[i] < best and (m + int(i), int(sign)) not in banned:
                    best, best_d, best_key = float(dv[i]), float(d[i]), (m + int(i), int(sign))
                    break
        # sells: +/- one increment of a sale of a lot; + opens one on a security not bought today
        for sign in (1.0, -1.0):
            d = sign * lot_inc * p.lot_price / V
            closing = sell >= p.lot_shares - 1e-9  # a lot's exact remainder: left as it is
            may = sell > 0
            if next_review and sign > 0:
                may = may | ((buy[p.lot_sec] <= 0) & ~p.lot_lt_wait & (sold_sec[p.lot_sec] | (lot_inc * p.lot_price >= p.min_trade_value)) & ~new_window_sell)
            dv = np.where(may & ~blocked & ~closing, lam * (-2 * d * Sa[p.lot_sec] + d * d * diag[p.lot_sec]) + f.q[:m] * d, np.inf)
            if sign > 0:
                dv[sell + lot_inc > p.lot_shares + 1e-9] = np.inf
                dv[p.lot_is_loss & np.isin(p.wash_group[p.lot_sec], bought_groups)] = np.inf
                if gain_budget is not None:
                    dv[gain + lot_inc * p.lot_gain_per_share > gain_budget + TOL_USD] = np.inf
            else:
                dv[sell - lot_inc < 0.5 * lot_inc] = np.inf
                dv[cash - lot_inc * p.lot_price < cash_goal] = np.inf
                if gain_budget is not None:
                    dv[gain - lot_inc * p.lot_gain_per_share > gain_budget + TOL_USD] = np.inf
            for l in np.argsort(dv)[:3]:
                if dv[l] < best and (int(l), int(sign)) not in banned:
                    best, best_d, best_key = float(dv[l]), float(d[l]), (int(l), int(sign))
                    break
        if best_key is None:
            break
        j, sign = best_key
        x2 = x.copy()
        x2[j] += best_d
        if np.any(rows_bad(x2) > bad0 + 1e-12):  # no row may get worse, whatever another gains
            banned.add(best_key)
            continue
        x = x2
        if j < m:
            sell[j] = float(snap(sell[j] + sign * lot_inc[j], lot_inc[j]))
        else:
            buy[j - m] = float(snap(buy[j - m] + sign * p.increment[j - m], p.increment[j - m]))
        moves += 1
    return moves


def round_orders(o: Optimum) -> Orders:
    """Turn the continuous optimum ``o`` into tradable orders (see the module's steps)."""
    p = o.problem
    strict = o.strict if o.strict is not None else formulate(p, relaxed=False, forbid_buy=o.forbid_buy, forbid_sell=o.forbid_sell)
    notes: list[str] = []
    zero_s, zero_b = np.zeros(p.m), np.zeros(p.n)
    # what the optimum itself violates (a relaxed account): no trade can remove it, so it does not count
    # (plus the rounding room once more: a relaxed row sits at its slack, not inside its tightened bound)
    allowed = (
        {id(r): np.where(g > 0, g + r.tol, 0.0) for r, g in strict.row_values(strict.from_shares(o.sell, o.buy))} if o.relaxed else None
    )
    m0 = merit(strict, zero_s, zero_b, allowed=allowed)
    if p.status == "hold":
        return Orders(p, zero_s, zero_b, False, False, 0.0, m0, m0, ("account on hold: reviewed, never traded",))

    inc = p.increment
    lot_inc = inc[p.lot_sec]
    sell, buy = _net(p, o.sell, o.buy)
    # 2. round
    remainder = p.lot_shares - sell
    close = remainder <= lot_inc / 2
    sell = np.where(close, p.lot_shares, np.minimum(_grid(sell, lot_inc, "nearest"), p.lot_shares))
    sell = np.where(sell > 0, sell, 0.0)
    sell[hard_blocked_lots(p, o.forbid_sell)] = 0.0  # a blocked lot is never sold
    buy = _grid(buy, inc, "nearest")
    buy[~p.buy_allowed | o.forbid_buy] = 0.0
    if p.status == "liquidate":
        buy[:] = 0.0
    exit_lots = p.exit_required[p.lot_sec] & (strict.lb[: p.m] > 0)
    sell[exit_lots] = p.lot_shares[exit_lots]

    # 3. drop small net orders (never a required exit)
    sold_val = np.bincount(p.lot_sec, weights=sell * p.lot_price, minlength=p.n)
    net_val = np.abs(sold_val - buy * p.prices)
    exit_sec = np.bincount(p.lot_sec, weights=exit_lots.astype(float), minlength=p.n) > 0
    small = (net_val > 0) & (net_val < p.min_trade_value) & ~exit_sec
    if small.any():
        buy[small] = 0.0
        sell[small[p.lot_sec]] = 0.0
        notes.append("dropped orders below the minimum trade value: " + ", ".join(p.symbols[i] for i in np.flatnonzero(small)))

    # the cash the optimum reached (never ask rounding for more), and never below 0
    cash_opt = float(p.cash + np.dot(o.sell, p.lot_price) - np.dot(o.buy, p.prices))
    cash_goal = max(min(p.min_cash + p.cash_need, cash_opt) - TOL_USD, 0.0)
    cash_goal = max(cash_goal, 0.0)

    def cash_after() -> float:
        return float(p.cash + np.dot(sell, p.lot_price) - np.dot(buy, p.prices))

    # 4. repair cash: shrink buys (smallest first), then sell more (losses first)
    if cash_after() < cash_goal:
        # shrink first the buys whose shrinking pushes no band or cap over its limit, smallest first
        room = _row_room(strict, sell, buy)
        for i in np.lexsort((buy * p.prices, _would_break(strict, room, buy, inc, cash_goal - cash_after()))):
            if buy[i] <= 0:
                continue
            short = cash_goal - cash_after()
            if short <= 0:
                break
            cut = min(buy[i], np.ceil(short / p.prices[i] / inc[i] - 1e-9) * inc[i])
            buy[i] = float(snap(buy[i] - cut, inc[i], "down"))
            if buy[i] * p.prices[i] < p.min_trade_value:
                buy[i] = 0.0
        notes.append("buys reduced to keep the cash floor after rounding")
    if cash_after() < cash_goal:
        ok = _sellable(p, o.forbid_sell, buy) & (sell < p.lot_shares)
        g = p.lot_gain_per_share / p.lot_price
        order = np.lexsort((g, p.lot_lt_wait))  # not-near-long-term first, then losses first, then small gains
        for l in order:
            if not ok[l]:
                continue
            short = cash_goal - cash_after()
            if short <= 0:
                break
            more = np.ceil(short / p.lot_price[l] / lot_inc[l] - 1e-9) * lot_inc[l]
            new = sell[l] + more
            sell[l] = p.lot_shares[l] if new >= p.lot_shares[l] - lot_inc[l] / 2 else float(snap(new, lot_inc[l]))
        notes.append("sales added to keep the cash floor after rounding")

    # 5. the gain budget, if the optimum kept it
    if p.taxable and p.gain_allowance is not None and "gain_budget" not in o.relaxed:

        def gain() -> float:
            return float(np.dot(sell, p.lot_gain_per_share))

        if gain() > p.gain_allowance + TOL_USD:
            for l in np.argsort(-p.lot_gain_per_share):
                if gain() <= p.gain_allowance + TOL_USD or p.lot_gain_per_share[l] <= 0:
                    break
                if sell[l] <= 0 or exit_lots[l]:
                    continue
                excess = gain() - p.gain_allowance
                cut = min(sell[l], np.ceil(excess / p.lot_gain_per_share[l] / lot_inc[l] - 1e-9) * lot_inc[l])
                # down: a lot's exact remainder off the grid (a fractional lot) is cut onto the grid
                sell[l] = float(snap(sell[l] - cut, lot_inc[l], "down"))
                if sell[l] < 1e-12:
                    sell[l] = 0.0
            # less sold may break the cash floor: shrink buys again (smallest first)
            for i in np.argsort(buy * p.prices):
                if cash_after() >= cash_goal:
                    break
                if buy[i] > 0:
                    short = cash_goal - cash_after()
                    cut = min(buy[i], np.ceil(short / p.prices[i] / inc[i] - 1e-9) * inc[i])
                    buy[i] = float(snap(buy[i] - cut, inc[i], "down"))
            notes.append("sales reduced to keep the gain budget after rounding")

    # 5b. polish: one increment more or less on an existing order where that lowers the objective
    budget = p.gain_allowance if (p.taxable and p.gain_allowance is not None and "gain_budget" not in o.relaxed) else None
    moved = polish(strict, sell, buy, cash_goal=cash_goal, exit_lots=exit_lots, forbid_sell=o.forbid_sell, forbid_buy=o.forbid_buy, gain_budget=budget, next_review=not o.relaxed)
    if moved:
        notes.append(f"{moved} order(s) moved by one increment after rounding (a lower objective)")

    # 6. the wash-sale rule on the final lines: never a buy and a loss sale of one group
    groups = wash_conflicts(p, sell, buy)
    if len(groups):
        buy[np.isin(p.wash_group, groups)] = 0.0
        notes.append("buys dropped: their wash group also sells at a loss today")

    # hard guarantee: cash never negative (drop buys entirely if it comes to that)
    if cash_after() < 0:
        for i in np.argsort(buy * p.prices):
            if cash_after() >= 0:
                break
            buy[i] = 0.0

    # 7. no churn
    m1 = merit(strict, sell, buy, allowed=allowed)
    improvement = (m0 - m1) * 1e4
    trades = bool(np.any(sell > 0) or np.any(buy > 0))
    churn = False
    if trades and improvement <= p.no_churn_threshold_bps:
        churn = True
        notes.append(f"no trade: the proposal improves the objective by {improvement:.2f} bps <= {p.no_churn_threshold_bps:g} bps")
        sell, buy, trades, m1 = zero_s, zero_b, False, m0
    return Orders(p, sell, buy, trades, churn, improvement, m0, m1, tuple(notes), violated(strict, zero_s, zero_b, allowed=allowed))


def check_orders(p: AccountProblem, sell: np.ndarray, buy: np.ndarray) -> list[str]:
    """Every hard constraint of the data contract that orders break (empty when none).

    No short sale, no sale beyond a lot, cash after >= 0, no buy of a blocked security, no sale of a
    never-sell lot, no loss sale of a lot blocked by the wash-sale rule (a), never a buy and a loss sale of
    one wash group, and quantities on the type's grid (a lot's exact remainder excepted).
    """
    out: list[str] = []
    tol = 1e-9
    if np.any(sell < -tol) or np.any(buy < -tol):
        out.append("negative quantity")
    if np.any(sell > p.lot_shares + tol):
        out.append("sale beyond a lot: " + ", ".join(p.lot_ids[l] for l in np.flatnonzero(sell > p.lot_shares + tol)))
    cash = p.cash + float(np.dot(sell, p.lot_price) - np.dot(buy, p.prices))
    # the float noise of that sum grows with the money moved (about 1e-6 USD for a billion-dollar account)
    moved = abs(p.cash) + float(np.dot(sell, p.lot_price) + np.dot(buy, p.prices))
    if cash < -max(1e-6, 1e-14 * moved):
        out.append(f"cash after orders {cash:.2f} < 0")
    bad_b = (buy > tol) & ~p.buy_allowed
    if bad_b.any():
        out.append("buy of a blocked security: " + ", ".join(p.symbols[i] for i in np.flatnonzero(bad_b)))
    bad_s = (sell > tol) & ~p.lot_sell_allowed
    if bad_s.any():
        out.append("sale of a never-sell lot: " + ", ".join(p.lot_ids[l] for l in np.flatnonzero(bad_s)))
    bad_w = (sell > tol) & p.lot_loss_sale_blocked & p.lot_is_loss
    if bad_w.any():
        out.append("loss sale blocked by the wash-sale rule: " + ", ".join(p.lot_ids[l] for l in np.flatnonzero(bad_w)))
    if len(wash_conflicts(p, sell, buy)):
        out.append("a buy and a loss sale of one wash group")
    inc = p.increment
    on_grid_b = on_grid(buy, inc)
    if not on_grid_b.all():
        out.append("buy off its increment: " + ", ".join(p.symbols[i] for i in np.flatnonzero(~on_grid_b)))
    li = inc[p.lot_sec]
    on_grid_s = on_grid(sell, li) | (np.abs(sell - p.lot_shares) < 1e-9)
    if not on_grid_s.all():
        out.append("sale off its increment: " + ", ".join(p.lot_ids[l] for l in np.flatnonzero(~on_grid_s)))
    if p.status == "hold" and (np.any(sell > 0) or np.any(buy > 0)):
        out.append("orders for an account on hold")
    return out
