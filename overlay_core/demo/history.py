"""Each demo account's trading history: funding, cash flows, harvests with substitutes, rebalances.

`simulate_trades` plays a simple, realistic overlay manager over the simulated prices, for every
account at once (numpy over accounts x symbols), and returns the transactions it made — buys with the
lot id they open, sells with the lot id they relieve (specific identification). It keeps only what a
manager's trading rules need (which purchase tranches are below their purchase price, which symbols
were sold at a loss in the last 30 days); it does **not** compute taxes. Lots, bases, holding periods,
realized gains and wash-sale adjustments come from replaying these transactions through the tax
engine's ledger (`generate.py`).

The manager's rules (each account reviewed once a month on its own business day of the month):

- opening: the deposit is invested toward the account's target (a legacy concentrated position is
  transferred in instead of part of the cash, with an old acquisition date and a low basis);
- cash flows twice a year: contributions are invested toward the target, withdrawals raised from the
  most overweight positions first (highest-cost tranches first);
- every review invests the cash above the account's cash target in its largest deficits (at most
  `MAX_BUYS` symbols);
- tax-loss harvesting (taxable accounts): every purchase tranche more than `HARVEST_LOSS_FUND` (fund) or
  `HARVEST_LOSS_STOCK` (stock) below its purchase price, with a loss of at least `HARVEST_MIN_VALUE`, is
  sold, unless the account bought the symbol in the last 30 days; a fund is replaced by its first
  allowed legal substitute (same asset class, another wash group, approved by the IPC), a stock's
  proceeds buy its largest allowed same-sector peer (`HARVEST_PEERS`); a symbol sold at a loss is not
  bought back by that account for 31 days (other accounts of the household may still buy it: the
  ledger applies the rule);
- rebalance once a year (in the account's month): positions more than `REBALANCE_BAND` (absolute) or 25%
  (relative; 50% for a stock) over target are sold down, highest-cost tranches first; the review's
  investing step puts the cash back to work.

Every position counts toward a **slot**: the target's own symbol, or the substitute that replaced it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

#: a tranche is harvested when its price is this far below its purchase price (funds / stocks) ...
HARVEST_LOSS_FUND = 0.05
HARVEST_LOSS_STOCK = 0.15
#: ... and the loss is at least this, USD
HARVEST_MIN_VALUE = 1000.0
REBALANCE_BAND = 0.02
MIN_TRADE_VALUE = 100.0
#: a later purchase fills a position's deficit only if it is at least this share of the account
MIN_BUY_SHARE = 0.002
#: cash above the deficits is invested pro rata to the target only beyond this share of the account
LARGE_CASH_SHARE = 0.04
#: a review buys at most this many symbols (the largest deficits); the opening buys the whole target
MAX_BUYS = 8
#: a review invests only when the cash above target is at least this share of the account (and $1,000)
INVEST_MIN_SHARE = 0.005
#: a harvested stock's proceeds buy this many same-sector peers
HARVEST_PEERS = 1
#: business days between an account's monthly reviews
REVIEW_EVERY = 21
_NEVER = -10_000


@dataclass(frozen=True)
class AccountInputs:
    """Per-account inputs of the simulation, aligned on the account index (n accounts, m symbols).

    Attributes
    ----------
    account_ids : (n,) str.
    weights : (n, m) float, the account's own target weight per symbol (customizations applied; cash
        excluded: each row sums to 1 - its cash weight).
    cash_weight : (n,) float.
    buyable : (n, m) bool, False for never-buys, screened and substituted-away symbols.
    taxable : (n,) bool (harvests only there).
    open_day : (n,) int, index of the opening business day.
    deposit : (n,) float USD.
    flow : (n,) float USD per quarter.
    review_offset : (n,) int in [0, REVIEW_EVERY): the account's review day in each 21-day cycle.
    rebalance_cycle : (n,) int in [0, 12): which cycle of the year the account is rebalanced in.
    legacy_sym : (n,) int symbol index or -1.
    legacy_share : (n,) float.
    legacy_acquired : (n,) datetime64[D] (old acquisition dates of legacy lots).
    legacy_basis_ratio : (n,) float, basis / value at transfer.
    """

    account_ids: list[str]
    weights: np.ndarray
    cash_weight: np.ndarray
    buyable: np.ndarray
    taxable: np.ndarray
    open_day: np.ndarray
    deposit: np.ndarray
    flow: np.ndarray
    review_offset: np.ndarray
    rebalance_cycle: np.ndarray
    legacy_sym: np.ndarray
    legacy_share: np.ndarray
    legacy_acquired: np.ndarray
    legacy_basis_ratio: np.ndarray


@dataclass(frozen=True)
class Market:
    """The universe's prices over the history.

    Attributes
    ----------
    symbols : (m,) str.
    days : (d,) datetime64[D], NYSE business days, the last is the as_of.
    close : (d, m) float USD.
    whole : (m,) bool, True where trades are in whole shares (equity, etf), else 3 decimals.
    substitutes : per symbol, the ordered legal substitutes (symbol indices) a harvest may switch to
        (funds only; empty for stocks).
    sector : (m,) int sector code, -1 for funds.
    peers : (m, P) int: for a stock, other stocks of its sector by decreasing size (-1 padded);
        all -1 for funds.
    """

    symbols: list[str]
    days: np.ndarray
    close: np.ndarray
    whole: np.ndarray
    substitutes: list[list[int]]
    sector: np.ndarray
    peers: np.ndarray


class _Tranches:
    """Purchase tranches of the simulation (growable columns)."""

    def __init__(self) -> None:
        self.cap = 1024
        self.n = 0
        self.acc = np.zeros(self.cap, np.int64)
        self.sym = np.zeros(self.cap, np.int64)
        self.sh = np.zeros(self.cap, np.float64)
        self.px = np.zeros(self.cap, np.float64)
        self.day = np.zeros(self.cap, np.int64)
        self.lot = np.zeros(self.cap, np.int64)

    def add(self, acc: np.ndarray, sym: np.ndarray, sh: np.ndarray, px: np.ndarray, day: np.ndarray, lot: np.ndarray) -> None:
        k = len(acc)
        if self.n + k > self.cap:
            new = max(self.cap * 2, self.n + k)
            for name in ("acc", "sym", "sh", "px", "day", "lot"):
                arr = getattr(self, name)
                grown = np.zeros(new, arr.dtype)
                grown[: self.n] = arr[: self.n]
                setattr(self, name, grown)
            self.cap = new
        sl = slice(self.n, self.n + k)
        self.acc[sl], self.sym[sl], self.sh[sl], self.px[sl], self.day[sl], self.lot[sl] = acc, sym, sh, px, day, lot
        self.n += k

    def compact(self) -> None:
        keep = self.sh[: self.n] > 1e-9
        k = int(keep.sum())
        for name in ("acc", "sym", "sh", "px", "day", "lot"):
            arr = getattr(self, name)
            arr[:k] = arr[: self.n][keep]
        self.n = k


class _Log:
    """The transactions made (columns appended per step)."""

    def __init__(self) -> None:
        self.parts: list[tuple[np.ndarray, ...]] = []

    def add(self, acc: np.ndarray, sym: np.ndarray, side: int, sh: np.ndarray, day: int | np.ndarray, px: np.ndarray, lot: np.ndarray) -> None:
        if len(acc) == 0:
            return
        days = np.broadcast_to(np.asarray(day, np.int64), acc.shape).copy()
        self.parts.append((acc.copy(), sym.copy(), np.full(len(acc), side, np.int8), sh.copy(), days, px.copy(), lot.copy()))

    def arrays(self) -> tuple[np.ndarray, ...]:
        if not self.parts:
            return tuple(np.zeros(0, t) for t in (np.int64, np.int64, np.int8, np.float64, np.int64, np.float64, np.int64))
        return tuple(np.concatenate([p[i] for p in self.parts]) for i in range(7))


@dataclass(frozen=True)
class SimulatedHistory:
    """What `simulate_trades` returns.

    Attributes
    ----------
    transactions : account_id, date, symbol, side (buy/sell), shares, price, lot_id — every trade, in
        date order (within a date, in the order they were made), legacy transfers included (dated
        before the history).
    cash : account_id, cash (USD at the as_of, >= 0).
    """

    transactions: pl.DataFrame
    cash: pl.DataFrame


def _round_shares(amount: np.ndarray, price: np.ndarray, whole: np.ndarray) -> np.ndarray:
    raw = amount / price
    return np.where(whole, np.floor(raw + 1e-9), np.floor(raw * 1000 + 1e-9) / 1000)


def subset_inputs(acct: AccountInputs, idx: np.ndarray) -> AccountInputs:
    """The inputs of the accounts at positions `idx`."""
    return AccountInputs(
        account_ids=[acct.account_ids[i] for i in idx],
        **{f: getattr(acct, f)[idx] for f in AccountInputs.__dataclass_fields__ if f != "account_ids"},
    )


def _run_cohort(acct: AccountInputs, market: Market, offset: int) -> tuple[tuple[np.ndarray, ...], np.ndarray]:
    """The accounts reviewed on day `offset` of every `REVIEW_EVERY`-day cycle: their trades and final cash."""
    n, m = acct.weights.shape
    n_days = len(market.days)
    close = market.close
    shares = np.zeros((n, m))
    cash = np.zeros(n)
    opened = np.zeros(n, bool)
    slot = np.tile(np.arange(m), (n, 1))  # slot[a, s]: the slot a holding of s counts toward
    vehicle = np.tile(np.arange(m), (n, 1))  # vehicle[a, k]: the symbol bought for slot k
    last_loss = np.full((n, m), _NEVER, np.int64)
    last_buy = np.full((n, m), _NEVER, np.int64)
    legacy_mask = np.zeros((n, m), bool)
    next_lot = np.ones(n, np.int64)
    tr = _Tranches()
    log = _Log()
    rows = np.arange(n)

    def buy(a: np.ndarray, s: np.ndarray, amount: np.ndarray, d: int) -> None:
        """Buy `amount` USD of symbol s for accounts a (whole shares where required; skips tiny orders)."""
        px = close[d, s]
        sh = _round_shares(amount, px, market.whole[s])
        ok = (sh > 0) & (sh * px >= MIN_TRADE_VALUE)
        a, s, sh, px = a[ok], s[ok], sh[ok], px[ok]
        if len(a) == 0:
            return
        # one lot per (account, symbol, day): merge duplicates
        key = a * m + s
        uk, inv = np.unique(key, return_inverse=True)
        sh_u = np.bincount(inv, weights=sh)
        a_u, s_u = uk // m, uk % m
        px_u = close[d, s_u]
        # lot numbers: consecutive per account
        order = np.argsort(a_u, kind="stable")
        a_u, s_u, sh_u, px_u = a_u[order], s_u[order], sh_u[order], px_u[order]
        first = np.r_[True, a_u[1:] != a_u[:-1]]
        grp_start = np.maximum.accumulate(np.where(first, np.arange(len(a_u)), 0))
        lot = next_lot[a_u] + (np.arange(len(a_u)) - grp_start)
        np.add.at(next_lot, a_u, 1)
        shares[a_u, s_u] += sh_u
        np.subtract.at(cash, a_u, sh_u * px_u)
        last_buy[a_u, s_u] = d
        tr.add(a_u, s_u, sh_u, px_u, np.full(len(a_u), d), lot)
        log.add(a_u, s_u, 1, sh_u, d, px_u, lot)

    def sell_tranches(idx: np.ndarray, sh: np.ndarray, d: int) -> None:
        """Sell `sh` shares of tranches `idx` (each at most the tranche's shares)."""
        if len(idx) == 0:
            return
        a, s = tr.acc[idx], tr.sym[idx]
        px = close[d, s]
        tr.sh[idx] -= sh
        tr.sh[idx[tr.sh[idx] < 1e-9]] = 0.0
        np.add.at(shares, (a, s), -sh)
        np.add.at(cash, a, sh * px)
        log.add(a, s, -1, sh, d, px, tr.lot[idx])

    def sell_amounts(need: np.ndarray, d: int, by_slot: bool) -> None:
        """Sell USD amounts, highest-cost tranches first: need is (n, m) per slot (by_slot) or per symbol."""
        live = np.flatnonzero(tr.sh[: tr.n] > 1e-9)
        a, s = tr.acc[live], tr.sym[live]
        k = slot[a, s] if by_slot else s
        want = need[a, k]
        sel = (want > 0) & ~legacy_mask[a, s]
        live, a, s, k, want = live[sel], a[sel], s[sel], k[sel], want[sel]
        if len(live) == 0:
            return
        px = close[d, s]
        order = np.lexsort((-tr.px[live], k, a))
        live, a, k, want, px = live[order], a[order], k[order], want[order], px[order]
        val = tr.sh[live] * px
        grp = np.r_[True, (a[1:] != a[:-1]) | (k[1:] != k[:-1])]
        csum = np.cumsum(val)
        start = np.maximum.accumulate(np.where(grp, np.arange(len(val)), 0))
        before = csum - val - (csum[start] - val[start])
        take_val = np.clip(want - before, 0.0, val)
        frac = np.where(val > 0, take_val / np.maximum(val, 1e-12), 0.0)
        whole = market.whole[tr.sym[live]]
        sh = tr.sh[live] * frac
        sh = np.where(whole, np.ceil(sh - 1e-9), np.ceil(sh * 1000 - 1e-9) / 1000)
        sh = np.minimum(sh, tr.sh[live])
        # close small remainders and skip tiny pieces
        rest = (tr.sh[live] - sh) * px
        sh = np.where((rest < MIN_TRADE_VALUE) & (sh > 0), tr.sh[live], sh)
        ok = sh * px >= MIN_TRADE_VALUE
        sell_tranches(live[ok], sh[ok], d)

    ident = np.arange(m)[None, :]

    def slot_values(d: int) -> np.ndarray:
        val = shares * close[d][None, :]
        val[legacy_mask] = 0.0  # legacy positions are outside the slots (managed separately)
        out = val.copy()
        ra, sa = np.nonzero(slot != ident)
        if len(ra):
            moved = val[ra, sa]
            out[ra, sa] -= moved
            np.add.at(out, (ra, slot[ra, sa]), moved)
        return out

    def invest(a: np.ndarray, d: int, max_buys: int | None = MAX_BUYS) -> None:
        """Invest each account's cash above its cash target toward its target weights (at most
        `max_buys` symbols per account: the largest deficits; None = no limit)."""
        if len(a) == 0:
            return
        sv = slot_values(d)[a]
        px = close[d]
        legacy_val = (shares[a] * px[None, :] * legacy_mask[a]).sum(axis=1)
        total = sv.sum(axis=1) + cash[a] + legacy_val
        spend = cash[a] - acct.cash_weight[a] * total
        go = spend > (MIN_TRADE_VALUE if max_buys is None else np.maximum(INVEST_MIN_SHARE * total, 1000.0))
        a, sv, total, spend = a[go], sv[go], total[go], spend[go]
        if len(a) == 0:
            return
        w = acct.weights[a]
        veh = vehicle[a]
        blocked = (last_loss[a[:, None], veh] > d - 31) | ~acct.buyable[a[:, None], veh]
        w = np.where(blocked, 0.0, w)
        deficit = np.maximum(w * total[:, None] - sv, 0.0)
        # only worthwhile orders: a deficit of at least MIN_BUY_SHARE of the account (and $250)
        deficit = np.where(deficit >= np.maximum(MIN_BUY_SHARE * total, 250.0)[:, None], deficit, 0.0)
        if max_buys is not None and m > max_buys:
            kth = -np.partition(-deficit, max_buys - 1, axis=1)[:, max_buys - 1]
            deficit = np.where(deficit >= np.maximum(kth, 1e-9)[:, None], deficit, 0.0)
        dsum = deficit.sum(axis=1)
        extra = np.maximum(spend - dsum, 0.0)
        # cash beyond the deficits is spread over the whole target only when it is large (a deposit)
        extra = np.where(extra > LARGE_CASH_SHARE * total, extra, 0.0)
        alloc = np.where(
            (dsum >= spend)[:, None],
            deficit * (spend / np.maximum(dsum, 1e-12))[:, None],
            deficit + w / np.maximum(w.sum(axis=1), 1e-12)[:, None] * extra[:, None],
        )
        ai, ki = np.nonzero(alloc > MIN_TRADE_VALUE)
        buy(a[ai], veh[ai, ki], alloc[ai, ki], d)

    todays = rows
    for d in range(offset, n_days, REVIEW_EVERY):
        cycle = d // REVIEW_EVERY
        # opening
        new = todays[~opened[todays] & (acct.open_day[todays] <= d)]
        if len(new):
            opened[new] = True
            cash[new] += acct.deposit[new]
            leg = new[acct.legacy_sym[new] >= 0]
            if len(leg):
                s = acct.legacy_sym[leg]
                px = close[d, s]
                sh = np.floor(acct.legacy_share[leg] * acct.deposit[leg] / px)
                ok = sh > 0
                leg, s, sh, px = leg[ok], s[ok], sh[ok], px[ok]
                cash[leg] -= sh * px
                basis_px = px * acct.legacy_basis_ratio[leg]
                lot = next_lot[leg].copy()
                next_lot[leg] += 1
                shares[leg, s] += sh
                legacy_mask[leg, s] = True
                # the transfer-in: a buy dated at the old acquisition, at the basis price
                tr.add(leg, s, sh, basis_px, np.full(len(leg), _NEVER), lot)
                log.add(leg, s, 1, sh, np.full(len(leg), _NEVER), basis_px, lot)
            invest(new, d, max_buys=None)
        act = todays[opened[todays]]
        if len(act) == 0:
            continue
        # harvest (taxable accounts)
        tx = act[acct.taxable[act]]
        if len(tx) and tr.n:
            in_tx = np.zeros(n, bool)
            in_tx[tx] = True
            live = np.flatnonzero((tr.sh[: tr.n] > 1e-9) & in_tx[tr.acc[: tr.n]])
            a, s = tr.acc[live], tr.sym[live]
            px = close[d, s]
            thr = np.where(market.sector[s] >= 0, HARVEST_LOSS_STOCK, HARVEST_LOSS_FUND)
            cand = (px < tr.px[live] * (1 - thr)) & (tr.sh[live] * (tr.px[live] - px) >= HARVEST_MIN_VALUE)
            cand &= (last_buy[a, s] < d - 30) & ~legacy_mask[a, s]
            hv = live[cand]
            if len(hv):
                ha, hs = tr.acc[hv], tr.sym[hv]
                proceeds = tr.sh[hv] * close[d, hs]
                sell_tranches(hv, tr.sh[hv].copy(), d)
                last_loss[ha, hs] = d
                key, inv = np.unique(ha * m + hs, return_inverse=True)
                amount = np.bincount(inv, weights=proceeds)
                ka, ks = key // m, key % m
                # funds: switch the slot's vehicle to the first allowed substitute and buy it
                fund = market.sector[ks] < 0
                fa, fs, famt = [], [], []
                for ai, si, x in zip(ka[fund].tolist(), ks[fund].tolist(), amount[fund].tolist()):
                    k = slot[ai, si]
                    for sub in market.substitutes[si]:
                        free = sub == k or (acct.weights[ai, sub] == 0 and slot[ai, sub] in (sub, k))
                        if free and acct.buyable[ai, sub] and last_loss[ai, sub] <= d - 31 and not legacy_mask[ai, sub]:
                            vehicle[ai, k] = sub
                            slot[ai, sub] = k
                            fa.append(ai)
                            fs.append(sub)
                            famt.append(x)
                            break
                # stocks: the proceeds go to the first allowed same-sector peers (largest first)
                sa, ss, samt = ka[~fund], ks[~fund], amount[~fund]
                peers = market.peers[ss]  # (k, P)
                ok = (peers >= 0) & acct.buyable[sa[:, None], np.maximum(peers, 0)]
                ok &= last_loss[sa[:, None], np.maximum(peers, 0)] <= d - 31
                ok &= np.cumsum(ok, axis=1) <= HARVEST_PEERS
                cnt = ok.sum(axis=1)
                pi, pj = np.nonzero(ok)
                buy(
                    np.concatenate([np.array(fa, np.int64), sa[pi]]),
                    np.concatenate([np.array(fs, np.int64), peers[pi, pj]]),
                    np.concatenate([np.array(famt), samt[pi] / cnt[pi]]) * 0.995,
                    d,
                )
        # cash flows twice a year (`flow` is per quarter: two quarters' worth)
        q = act[(cycle % 6 == 0) & (acct.flow[act] != 0)]
        if len(q):
            cash[q] += 2 * acct.flow[q]
            short = q[cash[q] < 0]
            if len(short):
                # raise the cash from the most overweight positions first, then pro rata
                sv = slot_values(d)[short]
                tot = sv.sum(axis=1) + np.maximum(cash[short], 0.0)
                want = -cash[short] * 1.02
                over = np.maximum(sv - acct.weights[short] * tot[:, None], 0.0)
                osum = over.sum(axis=1)
                from_over = np.minimum(want, osum)
                rest = want - from_over
                need = np.zeros((n, m))
                need[short] = over * (from_over / np.maximum(osum, 1e-9))[:, None] + sv * (rest / np.maximum(sv.sum(axis=1), 1e-9))[:, None]
                sell_amounts(need, d, by_slot=True)
                # a withdrawal larger than what could be sold is reduced to what is there
                cash[short] = np.maximum(cash[short], 0.0)
        # yearly rebalance
        r = act[acct.rebalance_cycle[act] == cycle % 12]
        if len(r):
            sv = slot_values(d)[r]
            total = sv.sum(axis=1) + cash[r] + (shares[r] * close[d][None, :] * legacy_mask[r]).sum(axis=1)
            tgt = acct.weights[r] * total[:, None]
            over = sv - tgt
            rel = np.where(market.sector >= 0, 0.5, 0.25)[None, :]
            breach = (over > REBALANCE_BAND * total[:, None]) | ((over > rel * tgt) & (over > 0.005 * total[:, None]))
            need = np.zeros((n, m))
            need[r] = np.where(breach, over, 0.0)
            sell_amounts(need, d, by_slot=True)
        # every review: cash above the account's cash target goes to the largest deficits
        invest(act, d)
        if tr.n > 4 * max(1, int((tr.sh[: tr.n] > 1e-9).sum())):
            tr.compact()

    return log.arrays(), cash


def simulate_trades(acct: AccountInputs, market: Market) -> SimulatedHistory:
    """Run the manager's rules over the history for every account (cohorts by review day).

    Returns
    -------
    SimulatedHistory (transactions and final cash); deterministic given the inputs.
    """
    n_days = len(market.days)
    parts = []
    cash = np.zeros(len(acct.account_ids))
    for offset in range(REVIEW_EVERY):
        idx = np.flatnonzero(acct.review_offset == offset)
        if len(idx) == 0:
            continue
        arrays, c = _run_cohort(subset_inputs(acct, idx), market, offset)
        cash[idx] = c
        parts.append((idx[arrays[0]],) + arrays[1:])
    acc, sym, side, sh, day, px, lot = (np.concatenate([p[i] for p in parts]) for i in range(7))
    days = market.days
    legacy_days = acct.legacy_acquired[acc]
    date = np.where(day == _NEVER, legacy_days, days[np.clip(day, 0, n_days - 1)])
    # chronological: by date, then in the order the manager made the trades (per account)
    order = np.lexsort((np.arange(len(acc)), date))
    sym_arr = np.array(market.symbols, dtype=object)
    ids = np.array(acct.account_ids, dtype=object)
    tx = pl.DataFrame(
        {
            "account_id": ids[acc[order]].tolist(),
            "date": date[order],
            "symbol": sym_arr[sym[order]].tolist(),
            "side": np.where(side[order] > 0, "buy", "sell").tolist(),
            "shares": np.round(sh[order], 3),
            "price": np.round(px[order], 4),
            "lot_id": [f"L{x:05d}" for x in lot[order]],
        },
        schema_overrides={"date": pl.Date},
    )
    cash_df = pl.DataFrame({"account_id": list(acct.account_ids), "cash": np.maximum(np.round(cash, 2), 0.0)})
    return SimulatedHistory(transactions=tx, cash=cash_df)


def market_from_prices(
    prices: pl.DataFrame,
    securities: pl.DataFrame,
    *,
    substitutes: dict[str, list[str]],
    size: dict[str, float] | None = None,
    n_peers: int = 4,
) -> Market:
    """Pivot a long price frame (date, symbol, close) to the simulation's `Market`.

    Every symbol of `securities` must have a close on every date (the simulator's output does).
    """
    symbols = securities["symbol"].to_list()
    wide = prices.pivot(on="symbol", index="date", values="close").sort("date")
    missing = [s for s in symbols if s not in wide.columns]
    if missing:
        raise ValueError(f"price frame has no closes for {len(missing)} securities, e.g. {missing[:5]}")
    close = wide.select(symbols).to_numpy().astype(np.float64)
    if not np.isfinite(close).all() or (close <= 0).any():
        raise ValueError("price frame has missing or non-positive closes")
    index = {s: i for i, s in enumerate(symbols)}
    types = securities["type"].to_list()
    sectors = securities["sector"].to_list()
    sector_codes = {x: i for i, x in enumerate(sorted({x for x in sectors if x}))}
    size = size or {}
    peers = np.full((len(symbols), n_peers), -1, np.int64)
    for i, (sym, sec) in enumerate(zip(symbols, sectors)):
        if not sec or types[i] != "equity":
            continue
        same = sorted((j for j, (s2, x) in enumerate(zip(symbols, sectors)) if x == sec and j != i and types[j] == "equity"), key=lambda j: -size.get(symbols[j], 0.0))
        peers[i, : min(n_peers, len(same))] = same[:n_peers]
    return Market(
        symbols=symbols,
        days=wide["date"].to_numpy().astype("datetime64[D]"),
        close=close,
        whole=np.array([t in ("equity", "etf") for t in types]),
        substitutes=[[index[x] for x in substitutes.get(s, [])] for s in symbols],
        sector=np.array([sector_codes[x] if x and t == "equity" else -1 for x, t in zip(sectors, types)]),
        peers=peers,
    )
