"""Customization: each account's own target from its target's blend, its restrictions and the IPC's policy.

`account_targets(book)` applies, in this order, to the blended target ``t`` of each account (dense
vectors over the book's universe, ``$CASH`` included; see docs/targets.md for the full rules):

1. **Custom asset-class weights** (``asset_class_weight``): each customized class is rescaled to its
   custom weight; the other classes absorb the difference pro rata. A custom weight outside the IPC's
   range for the account's target (``[targets.<target_id>.ranges]``), for a class the IPC gives no range,
   for a class the target does not hold, or custom weights summing to more than 1 -> the account is
   *refused*. When the target holds nothing but the customized classes, the rest goes to cash.
2. **Substitutions** (``substitute`` FROM>TO): TO takes FROM's weight. Refused when TO is screened,
   never-buy or firm-restricted, when TO is not a legal substitute for FROM (same asset class, same
   sector for equities, another wash group) or not on the policy's approved list for the class, and for
   chains (A>B, B>C), cycles and two substitutes for one FROM.
3. **Exclusions** (``screen`` tags, ``never_buy``, firm-wide rows, substituted-away FROMs): an excluded
   security's weight moves to the most similar allowed securities: (a) the target's allowed securities
   of the same asset class and sector, pro rata; else (b) one legal substitute (the first approved one;
   else the most correlated one under the risk model when given; else the first by symbol); else (c) the
   target's allowed securities of the same asset class, pro rata; else (d) every allowed security of the
   target, pro rata (the asset allocation then changes, recorded as ``allocation_changed``). The asset
   allocation is therefore preserved exactly whenever an allowed security of the class exists.
4. **Sector caps** (``sector_max``): a sector above its cap is scaled down to the cap; the excess of
   each asset class goes to that class's other (uncapped or still under their cap) sectors pro rata,
   repeated until no cap is exceeded.
5. **Never-sells**: a never-sell position stays. Its target weight becomes ``max(target, held weight)``
   (for a screened or never-buy never-sell: exactly the held weight — held, not bought); the extra
   weight is taken pro rata from the other securities of its asset class and sector, then of its class,
   then from everything else (not from other never-sells; cash only when nothing else is left), so it
   counts toward its class and sector. A cap or custom weight that the held position alone exceeds is relaxed (``relaxed``).
6. **Cash**: target cash = ``max(cash weight after 1-5, min_cash_weight, policy cash_floor)`` plus
   ``cash_need / account value``; every other security except never-sell positions is scaled pro rata
   to make room (never-sells keep their held weight; cash is cut to what is left if they leave less).

An account of status ``liquidate`` gets an all-cash target (its never-sell positions stay, step 5);
``hold`` accounts get their normal target (the review never trades them).

Firm-wide restrictions (``account_id`` ``*``) apply to every account (their never-buys and screens are
reported as ``firm_restricted``; an account's own ``asset_class_weight`` overrides a firm-wide one; a
``sector_max`` takes the lower limit). Accounts whose customization is refused get no target weights:
they are listed in `AccountTargets.refused` (the review gives them ``decision = error``); this is not
an upload quarantine.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Iterable, Mapping, Sequence

import numpy as np
import polars as pl

from overlay_core.book import Book
from overlay_core.contract import CASH, FIRM_WIDE
from overlay_core.holdings import Holdings, holdings as compute_holdings
from overlay_core.policy import Policy
from overlay_core.targets.blend import blend_targets
from overlay_core.targets.risk import RiskModel
from overlay_core.targets.universe import Universe, universe_of

#: weights smaller than this are treated as 0 (float noise); the output never carries negative weights
EPS = 1e-12

BLOCK_REASONS = ("firm_restricted", "never_buy", "screen", "substituted_away")

WEIGHTS_SCHEMA = {"account_id": pl.String(), "symbol": pl.String(), "weight": pl.Float64()}
ADJUSTMENTS_SCHEMA = {"account_id": pl.String(), "kind": pl.String(), "detail": pl.String()}
REFUSED_SCHEMA = {"account_id": pl.String(), "target_id": pl.String(), "reason": pl.String()}
CASH_SCHEMA = {"account_id": pl.String(), "target_id": pl.String(), "cash_weight": pl.Float64()}
BLOCKED_SCHEMA = {"account_id": pl.String(), "symbol": pl.String(), "reason": pl.String()}
NEVER_SELL_SCHEMA = {"account_id": pl.String(), "symbol": pl.String()}
SUBSTITUTES_SCHEMA = {"account_id": pl.String(), "from_symbol": pl.String(), "to_symbol": pl.String()}


@dataclass(frozen=True)
class AccountTargets:
    """Every account's own target and how it was made.

    Attributes
    ----------
    weights : frame [account_id, symbol, weight]: full precision, >= 0, summing to 1 per account,
        one ``$CASH`` row per account, only symbols with a weight > 0 otherwise. Refused accounts are absent.
    adjustments : frame [account_id, kind, detail]: every adjustment made, in the order applied. ``kind``
        is one of asset_class_weight, substitute, firm_restricted, never_buy, screen, substituted_away,
        sector_max, never_sell, cash, allocation_changed, relaxed, ignored, liquidate.
    refused : frame [account_id, target_id, reason]: accounts whose customization is refused (one row
        per reason).
    cash_weight : frame [account_id, target_id, cash_weight]: the target cash weight of every
        account that got a target.
    blocked : frame [account_id, symbol, reason]: securities the account may not buy (reason one of
        `BLOCK_REASONS`, the first that applies), for every account that got a target.
    never_sell : frame [account_id, symbol]: positions the account may not sell.
    substitutes : frame [account_id, from_symbol, to_symbol]: the account's accepted substitutions.
    """

    weights: pl.DataFrame
    adjustments: pl.DataFrame
    refused: pl.DataFrame
    cash_weight: pl.DataFrame
    blocked: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=BLOCKED_SCHEMA))
    never_sell: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=NEVER_SELL_SCHEMA))
    substitutes: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=SUBSTITUTES_SCHEMA))

    _index: dict[str, dict[str, object]] = field(default_factory=dict, init=False, repr=False, compare=False)

    def _by_account(self, name: str) -> dict[str, object]:
        """Rows of frame `name` split by account (built once, on first use)."""
        got = self._index.get(name)
        if got is None:
            frame: pl.DataFrame = getattr(self, name)
            got = {k[0]: v for k, v in frame.partition_by("account_id", as_dict=True, include_key=False).items()} if frame.height else {}
            self._index[name] = got
        return got

    def of(self, account_id: str) -> dict[str, float]:
        """One account's target as {symbol: weight} (empty when refused or unknown)."""
        sub = self._by_account("weights").get(account_id)
        if sub is None:
            return {}
        return dict(zip(sub["symbol"].to_list(), sub["weight"].to_list()))  # type: ignore[attr-defined]

    def blocked_of(self, account_id: str) -> dict[str, str]:
        """One account's blocked symbols as {symbol: reason}."""
        sub = self._by_account("blocked").get(account_id)
        return {} if sub is None else dict(zip(sub["symbol"].to_list(), sub["reason"].to_list()))  # type: ignore[attr-defined]

    def never_sell_of(self, account_id: str) -> frozenset[str]:
        """One account's never-sell symbols."""
        sub = self._by_account("never_sell").get(account_id)
        return frozenset() if sub is None else frozenset(sub["symbol"].to_list())  # type: ignore[attr-defined]


# ---- restrictions -> a hashable spec ---------------------------------------------------------------


@dataclass(frozen=True)
class Spec:
    """One account's restrictions (its own and the firm-wide ones), normalized and hashable."""

    class_weights: tuple[tuple[str, float], ...] = ()
    subs: tuple[tuple[str, str], ...] = ()
    never_buy: tuple[str, ...] = ()
    screens: tuple[str, ...] = ()
    firm_never_buy: tuple[str, ...] = ()
    firm_screens: tuple[str, ...] = ()
    sector_caps: tuple[tuple[str, float], ...] = ()
    never_sell: tuple[str, ...] = ()
    #: problems found while reading the rows (a missing limit, a malformed FROM>TO): refuse
    errors: tuple[str, ...] = ()


def _specs(restrictions: pl.DataFrame, account_ids: Sequence[str]) -> dict[str, Spec]:
    rows: dict[str, list[tuple[str, str, float | None]]] = defaultdict(list)
    for acc, kind, value, limit in restrictions.select("account_id", "kind", "value", "limit").iter_rows():
        rows[acc].append((kind, value, limit))
    firm = rows.get(FIRM_WIDE, [])
    out: dict[str, Spec] = {}
    cache: dict[tuple, Spec] = {}
    for acc in account_ids:
        own = rows.get(acc, [])
        key = tuple(own)
        spec = cache.get(key)
        if spec is None:
            spec = _spec(own, firm)
            cache[key] = spec
        out[acc] = spec
    return out


def _spec(own: list[tuple[str, str, float | None]], firm: list[tuple[str, str, float | None]]) -> Spec:
    errors: list[str] = []
    class_weights: dict[str, float] = {}
    own_cw: dict[str, float] = {}
    caps: dict[str, float] = {}
    subs: list[tuple[str, str]] = []
    never_buy: set[str] = set()
    screens: set[str] = set()
    firm_nb: set[str] = set()
    firm_sc: set[str] = set()
    never_sell: set[str] = set()
    for source, rows in (("firm-wide", firm), ("account", own)):
        for kind, value, limit in rows:
            value = (value or "").strip()
            if kind in ("asset_class_weight", "sector_max"):
                if limit is None or not np.isfinite(limit) or limit < 0 or limit > 1:
                    errors.append(f"{source} {kind} {value!r}: limit {limit!r} is not a weight in [0, 1]")
                    continue
                if kind == "asset_class_weight":
                    if source == "account" and value in own_cw and own_cw[value] != limit:
                        errors.append(f"asset_class_weight {value!r} given twice ({own_cw[value]} and {limit})")
                        continue
                    if source == "account":
                        own_cw[value] = float(limit)
                    class_weights[value] = float(limit)
                else:
                    caps[value] = min(float(limit), caps.get(value, 1.0))
            elif kind == "substitute":
                parts = value.split(">")
                if len(parts) != 2 or not parts[0].strip() or not parts[1].strip():
                    errors.append(f"{source} substitute {value!r}: expected FROM>TO")
                    continue
                subs.append((parts[0].strip(), parts[1].strip()))
            elif kind == "never_buy":
                (firm_nb if source == "firm-wide" else never_buy).add(value)
            elif kind == "screen":
                (firm_sc if source == "firm-wide" else screens).add(value)
            elif kind == "never_sell":
                never_sell.add(value)
            else:
                errors.append(f"{source} restriction kind {kind!r} is unknown")
    return Spec(
        class_weights=tuple(sorted(class_weights.items())),
        subs=tuple(sorted(set(subs))),
        never_buy=tuple(sorted(never_buy)),
        screens=tuple(sorted(screens)),
        firm_never_buy=tuple(sorted(firm_nb)),
        firm_screens=tuple(sorted(firm_sc)),
        sector_caps=tuple(sorted(caps.items())),
        never_sell=tuple(sorted(never_sell)),
        errors=tuple(errors),
    )


# ---- the static part: steps 1-4, shared by accounts of one target and one spec ---------------------


class _Refused(Exception):
    def __init__(self, reasons: list[str]) -> None:
        super().__init__("; ".join(reasons))
        self.reasons = reasons


@dataclass(frozen=True, eq=False)
class _Static:
    w: np.ndarray  # (N,) weights after steps 1-4
    adjustments: tuple[tuple[str, str], ...]
    blocked: Mapping[int, str]  # universe index -> reason
    never_sell: tuple[int, ...]
    subs: tuple[tuple[str, str], ...]
    caps: tuple[tuple[int, str, float], ...] = ()


@dataclass(frozen=True, eq=False)
class _Context:
    U: Universe
    policy: Policy
    risk: RiskModel | None
    approved: Mapping[int, np.ndarray]  # class code -> mask of approved symbols


def _fmt(x: float) -> str:
    return f"{x:.4f}"


def _blocked(spec: Spec, U: Universe) -> dict[int, str]:
    out: dict[int, str] = {}

    def mark(mask: np.ndarray, reason: str) -> None:
        for i in np.flatnonzero(mask):
            out.setdefault(int(i), reason)

    empty = np.zeros(U.n, bool)
    mark(U.mask_of(spec.firm_never_buy), "firm_restricted")
    for tag in spec.firm_screens:
        mark(U.tags.get(tag, empty), "firm_restricted")
    mark(U.mask_of(spec.never_buy), "never_buy")
    for tag in spec.screens:
        mark(U.tags.get(tag, empty), "screen")
    mark(U.mask_of([f for f, _ in spec.subs]), "substituted_away")
    out.pop(U.cash, None)
    return out


def legal_substitutes(U: Universe, i: int, allowed: np.ndarray, approved: Mapping[int, np.ndarray]) -> np.ndarray:
    """Mask (N,) of the legal, approved substitutes for security `i` among `allowed`.

    Legal: same asset class, same sector when `i` is an equity, another wash group, priced. Approved:
    on the policy's list for the class when the class has one.
    """
    m = allowed & U.has_price & (U.asset_class == U.asset_class[i]) & (U.wash_group != U.wash_group[i])
    if U.is_equity[i]:
        m &= U.sector == U.sector[i]
    appr = approved.get(int(U.asset_class[i]))
    if appr is not None:
        m &= appr
    m[U.cash] = False
    return m


def _pick_substitute(ctx: _Context, i: int, cands: np.ndarray) -> int:
    idx = np.flatnonzero(cands)
    U = ctx.U
    appr_list = ctx.policy.approved.get(U.asset_classes[U.asset_class[i]])
    if appr_list:
        for s in appr_list:
            j = U.index.get(s)
            if j is not None and cands[j]:
                return j
    if ctx.risk is not None and len(idx) > 1:
        syms = [U.symbols[i]] + [U.symbols[j] for j in idx]
        if all(s in ctx.risk.index for s in syms):
            C = ctx.risk.cov(syms)
            sd = np.sqrt(np.maximum(np.diag(C), 1e-300))
            corr = C[0, 1:] / (sd[0] * sd[1:])
            return int(idx[int(np.argmax(corr))])
    return int(idx[0])


def _spread(w: np.ndarray, amount: float, recipients: np.ndarray) -> None:
    """Add `amount` to the `recipients` (mask) pro rata to their current weights (equally if all 0)."""
    base = w[recipients]
    total = base.sum()
    if total > EPS:
        w[recipients] += amount * base / total
    else:
        w[recipients] += amount / recipients.sum()


def _increments(w: np.ndarray, amount: float, recipients: np.ndarray) -> np.ndarray:
    """What `_spread` would add, as an array (N,), without changing `w`."""
    inc = np.zeros_like(w)
    base = np.where(recipients, w, 0.0)
    total = base.sum()
    inc[recipients] = amount * base[recipients] / total if total > EPS else amount / recipients.sum()
    return inc


def _static(t: np.ndarray, target_id: str, spec: Spec, ctx: _Context) -> _Static:
    U, policy = ctx.U, ctx.policy
    reasons: list[str] = list(spec.errors)
    adj: list[tuple[str, str]] = []
    w = t.copy()
    blocked = _blocked(spec, U)

    # 1. custom asset-class weights
    if spec.class_weights:
        ranges = policy.ranges.get(target_id, {})
        fixed = np.zeros(U.n, bool)
        new_total = 0.0
        for cls, limit in spec.class_weights:
            code = U.class_code(cls)
            rng = ranges.get(cls)
            if rng is None:
                reasons.append(
                    f"asset_class_weight {cls}={_fmt(limit)}: the IPC sets no range for {cls!r} in target "
                    f"{target_id!r} (policy.toml [targets.{target_id}.ranges])"
                )
                continue
            lo, hi = rng
            if not (lo - EPS <= limit <= hi + EPS):
                reasons.append(
                    f"asset_class_weight {cls}={_fmt(limit)} is outside the IPC's range "
                    f"[{_fmt(lo)}, {_fmt(hi)}] for target {target_id!r}"
                )
                continue
            members = U.asset_class == code
            current = float(w[members].sum())
            if current <= EPS and limit > EPS:
                if code >= 0 and members[U.cash]:
                    pass  # cash can always be raised
                else:
                    reasons.append(f"asset_class_weight {cls}={_fmt(limit)}: target {target_id!r} holds no {cls!r} to rescale")
                    continue
            fixed |= members
            new_total += limit
            if current > EPS:
                w[members] *= limit / current
            else:
                w[U.cash] += limit
            adj.append(("asset_class_weight", f"{cls} {_fmt(current)} -> {_fmt(limit)}"))
        if not reasons:
            if new_total > 1 + EPS:
                reasons.append(f"custom asset-class weights sum to {_fmt(new_total)} > 1")
            else:
                rest = ~fixed
                old_rest = float(t[rest].sum())
                new_rest = 1.0 - new_total
                if old_rest > EPS:
                    w[rest] = t[rest] * (new_rest / old_rest)
                elif new_rest > EPS and not fixed[U.cash]:
                    w[U.cash] += new_rest  # the target holds nothing else: the rest is cash
                    adj.append(("asset_class_weight", f"{_fmt(new_rest)} to cash: target {target_id!r} holds no other asset class"))
                elif new_rest > EPS:
                    reasons.append(
                        f"custom asset-class weights sum to {_fmt(new_total)} < 1 and target {target_id!r} "
                        "holds nothing else to absorb the difference"
                    )

    # 2. substitutions
    froms = [f for f, _ in spec.subs]
    tos = [to for _, to in spec.subs]
    for f in sorted({f for f in froms if froms.count(f) > 1}):
        reasons.append(f"substitute: {f} has more than one substitute ({', '.join(sorted(to for x, to in spec.subs if x == f))})")
    for f, to in spec.subs:
        if f == to:
            reasons.append(f"substitute {f}>{to}: a security cannot substitute for itself")
        elif to in froms:
            nxt = dict(spec.subs)
            chain, seen = [f, to], {f, to}
            while chain[-1] in nxt and nxt[chain[-1]] not in seen:
                chain.append(nxt[chain[-1]])
                seen.add(chain[-1])
            cycle = chain[-1] in nxt and nxt[chain[-1]] in seen
            what = "cycle" if cycle else "chain"
            reasons.append(f"substitute {f}>{to}: a {what} of substitutions ({'>'.join(chain + ([nxt[chain[-1]]] if cycle else []))}) is not allowed")
    for f, to in spec.subs:
        j = U.index.get(to)
        i = U.index.get(f)
        if j is None or j == U.cash:
            reasons.append(f"substitute {f}>{to}: {to} is not a security of the upload")
            continue
        if j in blocked and blocked[j] != "substituted_away":
            reasons.append(f"substitute {f}>{to}: {to} is {blocked[j].replace('_', ' ')} for this account")
            continue
        if not U.has_price[j]:
            reasons.append(f"substitute {f}>{to}: {to} has no price today")
            continue
        if i is None:
            adj.append(("ignored", f"substitute {f}>{to}: {f} is not a security of the upload"))
            continue
        legal = legal_substitutes(U, i, np.ones(U.n, bool), ctx.approved)
        if not legal[j]:
            why = []
            if U.asset_class[j] != U.asset_class[i]:
                why.append("another asset class")
            if U.is_equity[i] and U.sector[j] != U.sector[i]:
                why.append("another sector")
            if U.wash_group[j] == U.wash_group[i]:
                why.append("the same wash group")
            if not why:
                why.append(f"not on the policy's approved list for {U.asset_classes[U.asset_class[i]]!r}")
            reasons.append(f"substitute {f}>{to}: {to} is not an approved legal substitute for {f} ({', '.join(why)})")
    if reasons:
        raise _Refused(reasons)
    for f, to in spec.subs:
        i, j = U.index.get(f), U.index[to]
        if i is None:
            continue
        moved = float(w[i])
        w[j] += moved
        w[i] = 0.0
        adj.append(("substitute", f"{f} -> {to}: {_fmt(moved)}"))

    # 3. exclusions
    excluded = np.zeros(U.n, bool)
    for i in blocked:
        excluded[i] = True
    allowed = ~excluded & U.has_price
    allowed[U.cash] = True
    pre = w.copy()
    moves = np.zeros(U.n)
    for i in np.flatnonzero(excluded & (pre > EPS)):
        amount = float(pre[i])
        in_target = allowed & (pre > EPS)
        same_class = in_target & (U.asset_class == U.asset_class[i])
        group = same_class & (U.sector == U.sector[i])
        how = "the same asset class and sector"
        if not group.any():
            # the most similar legal substitute: a stock for a stock, a fund for a fund
            legal = legal_substitutes(U, i, allowed, ctx.approved) & (U.is_equity == U.is_equity[i])
            if legal.any():
                j = _pick_substitute(ctx, int(i), legal)
                group = np.zeros(U.n, bool)
                group[j] = True
                how = f"legal substitute {U.symbols[j]}"
            elif same_class.any():
                group = same_class
                how = "the same asset class"
            else:
                group = in_target
                how = "every allowed security (no allowed security of its asset class)"
                if not group.any():
                    group = np.zeros(U.n, bool)
                    group[U.cash] = True
                    how = "cash (nothing else is allowed)"
                adj.append(("allocation_changed", f"{U.symbols[i]} {_fmt(amount)}: no allowed security of {U.asset_classes[U.asset_class[i]]!r}"))
        moves += _increments(pre, amount, group)
        moves[i] -= amount
        adj.append((blocked[int(i)], f"{U.symbols[i]} {_fmt(amount)} -> {how}"))
    w = pre + moves
    w[excluded] = 0.0

    # 4. sector caps
    if spec.sector_caps:
        caps = {U.sector_code(s): (s, lim) for s, lim in spec.sector_caps if U.sector_code(s) >= 0}
        saturated: set[int] = set()

        def breaches() -> list[tuple[int, str, float]]:
            return [(c, s, lim) for c, (s, lim) in caps.items() if w[U.sector == c].sum() > lim + 1e-9]

        for _ in range(len(caps) + 2):
            breach = breaches()
            if not breach:
                break
            for code, name, lim in breach:
                members = U.sector == code
                total = float(w[members].sum())
                scale = lim / total
                for cls in np.unique(U.asset_class[members & (w > EPS)]):
                    part = members & (U.asset_class == cls)
                    excess = float(w[part].sum()) * (1.0 - scale)
                    w[part] *= scale
                    others = (U.asset_class == cls) & ~members & (w > EPS) & allowed
                    for c2 in saturated | {code}:
                        others &= U.sector != c2
                    where = f"other sectors of {U.asset_classes[cls]!r}"
                    if (others & (U.sector >= 0)).any():
                        others &= U.sector >= 0  # securities with a sector first, then sector-less funds
                    if not others.any():
                        others = ~members & (w > EPS) & allowed
                        for c2 in saturated:
                            others &= U.sector != c2
                        where = "every other allowed security (no other sector in the class)"
                        adj.append(("allocation_changed", f"sector {name} cap: no other sector in {U.asset_classes[cls]!r}"))
                    if not others.any():
                        others = np.zeros(U.n, bool)
                        others[U.cash] = True
                        where = "cash"
                    _spread(w, excess, others)
                    adj.append(("sector_max", f"{name} {_fmt(total)} -> {_fmt(lim)}: {_fmt(excess)} moved to {where}"))
                saturated.add(code)
        for code, name, lim in breaches():
            adj.append(("relaxed", f"sector {name} cap {_fmt(lim)} cannot be met: {_fmt(float(w[U.sector == code].sum()))}"))

    w = np.where(w > EPS, w, 0.0)
    never_sell = tuple(sorted(U.index[s] for s in spec.never_sell if s in U.index and U.index[s] != U.cash))
    caps_t = tuple((U.sector_code(s), s, lim) for s, lim in spec.sector_caps if U.sector_code(s) >= 0)
    return _Static(w=w, adjustments=tuple(adj), blocked=blocked, never_sell=never_sell, subs=spec.subs, caps=caps_t)


# ---- the dynamic part: steps 5-6, per account ------------------------------------------------------


def _dynamic(
    st: _Static,
    U: Universe,
    held: Mapping[int, float],
    *,
    cash_floor: float,
    min_cash_weight: float,
    cash_need: float,
    value: float,
) -> tuple[np.ndarray, list[tuple[str, str]]]:
    w = st.w.copy()
    adj: list[tuple[str, str]] = []
    fixed = np.zeros(U.n, bool)
    # 5. never-sells
    for i in st.never_sell:
        h = held.get(i, 0.0)
        if h <= EPS:
            continue
        fixed[i] = True
        if h <= w[i] + EPS:
            continue
        delta = h - w[i]
        w[i] = h
        free = ~fixed & (w > EPS)
        free[U.cash] = False
        groups = [
            free & (U.asset_class == U.asset_class[i]) & (U.sector == U.sector[i]),
            free & (U.asset_class == U.asset_class[i]),
            free,
        ]
        left = delta
        for g in groups:
            avail = float(w[g].sum())
            if left <= EPS or avail <= EPS:
                continue
            take = min(left, avail)
            w[g] *= 1.0 - take / avail
            left -= take
        if left > EPS:
            w[U.cash] -= left
        note = " (held, not bought)" if i in st.blocked else ""
        adj.append(("never_sell", f"{U.symbols[i]} held {_fmt(h)} > target {_fmt(h - delta)}: target raised{note}"))
    # 6. cash
    c0 = float(w[U.cash])
    need = cash_need / value if value > 0 else 0.0
    if cash_need > 0 and value <= 0:
        adj.append(("relaxed", f"cash_need {cash_need:.2f} ignored: account value is {value:.2f}"))
    c = max(c0, min_cash_weight, cash_floor) + need
    fixed_total = float(w[fixed].sum())
    if c > 1.0 - fixed_total + EPS:
        why = "never-sell positions fill the rest" if fixed_total > EPS else "cash_need exceeds what the other holdings are worth"
        adj.append(("relaxed", f"cash target {_fmt(c)} cut to {_fmt(1.0 - fixed_total)}: {why}"))
        c = 1.0 - fixed_total
    c = min(max(c, 0.0), 1.0)
    free = ~fixed
    free[U.cash] = False
    f_total = float(w[free].sum())
    room = 1.0 - c - fixed_total
    if f_total > EPS:
        w[free] *= max(room, 0.0) / f_total
    elif room > EPS:
        c += room
    w[U.cash] = c
    if abs(c - c0) > EPS:
        adj.append(
            (
                "cash",
                f"cash {_fmt(c0)} -> {_fmt(c)} (min_cash_weight {_fmt(min_cash_weight)}, floor {_fmt(cash_floor)}, "
                f"cash_need {_fmt(need)})",
            )
        )
    if fixed.any():
        for code, name, lim in st.caps:
            total = float(w[U.sector == code].sum())
            if total > lim + 1e-9:
                adj.append(("relaxed", f"sector {name} cap {_fmt(lim)} exceeded by never-sell positions: {_fmt(total)}"))
    w = np.where(w > EPS, w, 0.0)
    w[U.cash] += 1.0 - w.sum()  # float noise only (< 1e-15)
    if w[U.cash] < 0:
        w[U.cash] = 0.0
        w /= w.sum()
    return w, adj


#: accounts per matrix in the vectorized cash step (bounds memory: rows x held symbols floats)
_CHUNK = 4096


def _cash_raise(
    st: _Static,
    U: Universe,
    *,
    mcw: np.ndarray,
    need: np.ndarray,
    value: np.ndarray,
    cash_floor: float,
) -> tuple[np.ndarray, np.ndarray, int, list[list[tuple[str, str]]]]:
    """Step 6 for many accounts sharing one static part and holding no never-sell (see `_dynamic`).

    Parameters
    ----------
    mcw, need, value : arrays (m,): min_cash_weight, cash_need (USD), account value (USD).

    Returns
    -------
    W : array (m, p) of weights over the universe positions `nzi` (p,), column `cash_col` is ``$CASH``;
    the cash adjustment records of each account. The same arithmetic as `_dynamic`, row by row.
    """
    nzi = np.flatnonzero(st.w > 0)
    if not (st.w[U.cash] > 0):
        nzi = np.union1d(nzi, [U.cash])
    cash_col = int(np.flatnonzero(nzi == U.cash)[0])
    base = st.w[nzi]
    free = np.ones(len(nzi), bool)
    free[cash_col] = False
    c0 = float(st.w[U.cash])
    needw = np.where(value > 0, need / np.where(value > 0, value, 1.0), 0.0)
    c = np.maximum(np.maximum(c0, mcw), cash_floor) + needw
    c = np.minimum(np.maximum(c, 0.0), 1.0)
    f_total = float(base[free].sum())
    W = np.zeros((len(c), len(nzi)))
    if f_total > EPS:
        W[:, free] = base[free][None, :] * (np.maximum(1.0 - c, 0.0) / f_total)[:, None]
    else:
        c = np.where(1.0 - c > EPS, 1.0, c)
    W[:, cash_col] = c
    W = np.where(W > EPS, W, 0.0)
    W[:, cash_col] += 1.0 - W.sum(axis=1)
    adj: list[list[tuple[str, str]]] = []
    for k in range(len(c)):
        if abs(c[k] - c0) > EPS:
            adj.append(
                [
                    (
                        "cash",
                        f"cash {_fmt(c0)} -> {_fmt(float(c[k]))} (min_cash_weight {_fmt(float(mcw[k]))}, floor {_fmt(cash_floor)}, "
                        f"cash_need {_fmt(float(needw[k]))})",
                    )
                ]
            )
        else:
            adj.append([])
    return W, nzi, cash_col, adj


# ---- the book -------------------------------------------------------------------------------------


def _approved_masks(U: Universe, policy: Policy) -> dict[int, np.ndarray]:
    return {U.class_code(cls): U.mask_of(symbols) for cls, symbols in policy.approved.items() if U.class_code(cls) >= 0}


def account_targets(
    book: Book,
    *,
    risk: RiskModel | None = None,
    account_ids: Iterable[str] | None = None,
    target_weights: pl.DataFrame | None = None,
    positions: Holdings | None = None,
    _vectorized: bool = True,
) -> AccountTargets:
    """Every account's own target (see the module docstring for the rules).

    Parameters
    ----------
    book : the day's book (policy, securities, targets, accounts, restrictions, lots, pending orders).
    risk : when given, an excluded security without a same-sector peer in the target goes to its most
        correlated legal substitute (else the first approved one, else the first by symbol).
    account_ids : only these accounts (default: every account of the book).
    target_weights : the blended targets [target_id, symbol, weight] to use instead of
        `blend_targets(book)` (the cascade passes changed blends).
    positions : the accounts' holdings, if already computed (`holdings.holdings(book)`).

    Returns
    -------
    AccountTargets.
    """
    U = universe_of(book)
    policy = book.policy
    ctx = _Context(U=U, policy=policy, risk=risk, approved=_approved_masks(U, policy))
    tw = blend_targets(book) if target_weights is None else target_weights
    accounts = book.accounts
    if account_ids is not None:
        accounts = accounts.filter(pl.col("account_id").is_in(list(account_ids)))
    accounts = accounts.sort("account_id")
    ids = accounts["account_id"].to_list()
    specs = _specs(book.restrictions, ids)

    base: dict[str, np.ndarray] = {}
    unknown_symbols: dict[str, list[str]] = {}
    for tid, sub in tw.partition_by("target_id", as_dict=True, include_key=False).items():
        tid = tid[0] if isinstance(tid, tuple) else tid
        syms = sub["symbol"].to_list()
        bad = [s for s in syms if s not in U.index]
        if bad:
            unknown_symbols[tid] = bad
            continue
        base[tid] = U.dense(syms, sub["weight"].to_numpy())

    hold = positions if positions is not None else compute_holdings(book)
    needs_held = {a for a in ids if specs[a].never_sell}  # only never-sells read the holdings
    held: dict[str, dict[int, float]] = defaultdict(dict)
    if needs_held:
        ph = hold.positions.filter(pl.col("account_id").is_in(list(needs_held)))
        for a, s, wgt in ph.select("account_id", "symbol", "weight").iter_rows():
            i = U.index.get(s)
            if i is not None:
                held[a][i] = wgt
    values = dict(hold.totals.select("account_id", "value").iter_rows())

    statics: dict[tuple[str, Spec], _Static | _Refused] = {}
    out_acc: list[np.ndarray] = []
    out_idx: list[np.ndarray] = []
    out_w: list[np.ndarray] = []
    adj_rows: list[tuple[str, str, str]] = []
    refused_rows: list[tuple[str, str, str]] = []
    cash_rows: list[tuple[str, str, float]] = []
    blocked_rows: list[tuple[str, str, str]] = []
    ns_rows: list[tuple[str, str]] = []
    sub_rows: list[tuple[str, str, str]] = []
    floor = policy.rebalance.cash_floor
    settings = {a: (m, c) for a, m, c in accounts.select("account_id", "min_cash_weight", "cash_need").iter_rows()}

    def _emit(acc: str, tid: str, pos: int, st: _Static, spec: Spec) -> None:
        mcw, need = settings[acc]
        w, adj2 = _dynamic(
            st,
            U,
            held.get(acc, {}),
            cash_floor=floor,
            min_cash_weight=float(mcw or 0.0),
            cash_need=float(need or 0.0),
            value=float(values.get(acc, 0.0)),
        )
        nz = np.flatnonzero(w > 0)
        if not (w[U.cash] > 0):
            nz = np.union1d(nz, [U.cash])
        out_acc.append(np.full(len(nz), pos, dtype=np.int64))
        out_idx.append(nz)
        out_w.append(w[nz])
        _records(acc, tid, st, spec, adj2, float(w[U.cash]))

    def _records(acc: str, tid: str, st: _Static, spec: Spec, adj2: list[tuple[str, str]], cash_w: float) -> None:
        adj_rows.extend((acc, k, d) for k, d in st.adjustments)
        adj_rows.extend((acc, k, d) for k, d in adj2)
        cash_rows.append((acc, tid, cash_w))
        blocked_rows.extend((acc, U.symbols[i], r) for i, r in sorted(st.blocked.items()))
        ns_rows.extend((acc, s) for s in spec.never_sell)
        sub_rows.extend((acc, f, to) for f, to in st.subs)

    def _is_simple(acc: str, st: _Static) -> bool:
        """Steps 5-6 reduce to a pro-rata cash raise: no never-sell held, a cash need that fits."""
        h = held.get(acc)
        if h and any(h.get(i, 0.0) > EPS for i in st.never_sell):
            return False
        mcw, need = settings[acc]
        value = float(values.get(acc, 0.0))
        need = float(need or 0.0)
        if need > 0 and value <= 0:
            return False
        c = max(float(st.w[U.cash]), float(mcw or 0.0), floor) + (need / value if value > 0 else 0.0)
        return c <= 1.0 + EPS

    simple: dict[int, tuple[_Static, list[tuple[str, str, int, Spec]]]] = {}

    cols = accounts.select("account_id", "target_id", "status").iter_rows()
    for pos, (acc, tid, status) in enumerate(cols):
        if status == "liquidate":
            spec = specs[acc]
            e_cash = np.zeros(U.n)
            e_cash[U.cash] = 1.0
            st_liq = _Static(
                w=e_cash,
                adjustments=(("liquidate", "status liquidate: the target is all cash (never-sell positions stay)"),),
                blocked=_blocked(spec, U),
                never_sell=tuple(sorted(U.index[s] for s in spec.never_sell if s in U.index and U.index[s] != U.cash)),
                subs=(),
            )
            _emit(acc, tid, pos, st_liq, spec)
            continue
        if tid in unknown_symbols:
            refused_rows.append((acc, tid, f"target {tid!r} holds symbols unknown to securities: {', '.join(unknown_symbols[tid])}"))
            continue
        t = base.get(tid)
        if t is None:
            refused_rows.append((acc, tid, f"target {tid!r} is not in the upload's targets"))
            continue
        spec = specs[acc]
        key = (tid, spec)
        st = statics.get(key)
        if st is None:
            try:
                st = _static(t, tid, spec, ctx)
            except _Refused as exc:
                st = exc
            statics[key] = st
        if isinstance(st, _Refused):
            refused_rows.extend((acc, tid, r) for r in st.reasons)
            continue
        if _vectorized and _is_simple(acc, st):
            simple.setdefault(id(st), (st, []))[1].append((acc, tid, pos, spec))
        else:
            _emit(acc, tid, pos, st, spec)

    # steps 5-6 of the accounts without held never-sells, one matrix per shared static part
    for st, members in simple.values():
        for lo in range(0, len(members), _CHUNK):
            chunk = members[lo : lo + _CHUNK]
            w_mat, nzi, cash_col, cash_adj = _cash_raise(
                st,
                U,
                mcw=np.array([float(settings[a][0] or 0.0) for a, *_ in chunk]),
                need=np.array([float(settings[a][1] or 0.0) for a, *_ in chunk]),
                value=np.array([float(values.get(a, 0.0)) for a, *_ in chunk]),
                cash_floor=floor,
            )
            mask = w_mat > 0
            mask[:, cash_col] = True
            rows, cols_ = np.nonzero(mask)
            out_acc.append(np.array([pos for _, _, pos, _ in chunk], dtype=np.int64)[rows])
            out_idx.append(nzi[cols_])
            out_w.append(w_mat[rows, cols_])
            for r, (acc, tid, _, spec) in enumerate(chunk):
                _records(acc, tid, st, spec, cash_adj[r], float(w_mat[r, cash_col]))

    if out_idx:
        acc_idx = np.concatenate(out_acc)
        sym_idx = np.concatenate(out_idx)
        wts = np.concatenate(out_w)
        # sort by (account_id, symbol) on integer ranks: accounts are in id order; "$CASH" sorts first
        sym_rank = np.arange(1, U.n + 1)
        sym_rank[U.cash] = 0
        order = np.lexsort((sym_rank[sym_idx], acc_idx))
        weights = pl.DataFrame(
            {
                "account_id": pl.Series(ids, dtype=pl.String).gather(acc_idx[order]),
                "symbol": pl.Series(U.symbols, dtype=pl.String).gather(sym_idx[order]),
                "weight": wts[order],
            },
            schema=WEIGHTS_SCHEMA,
        )
    else:
        weights = pl.DataFrame(schema=WEIGHTS_SCHEMA)
    def frame(rows: list, schema: dict[str, pl.DataType]) -> pl.DataFrame:
        return pl.DataFrame(rows, schema=schema, orient="row").sort("account_id", maintain_order=True)

    return AccountTargets(
        weights=weights,
        adjustments=frame(adj_rows, ADJUSTMENTS_SCHEMA),
        refused=frame(refused_rows, REFUSED_SCHEMA),
        cash_weight=frame(cash_rows, CASH_SCHEMA),
        blocked=frame(blocked_rows, BLOCKED_SCHEMA),
        never_sell=frame(ns_rows, NEVER_SELL_SCHEMA),
        substitutes=frame(sub_rows, SUBSTITUTES_SCHEMA),
    )
