"""The demo firm's clients: households, accounts, advisors and the account settings known before history.

`build_accounts` draws, for a seed, every account's household, registration, tax status, advisor,
target, status, tax rates, opening date and deposit, cash-flow plan and the customizations that shape
its history (screens, never-buys, substitutions, a legacy concentrated position). The customizations
that depend on what the account ends up holding (never-sells, cash needs, gain budgets) are drawn in
`generate.py` after the history is replayed.

Rates (documented in docs/demo_book.md and checked by tests/demo): households of 1-4 accounts; about
60% taxable, 30% tax-deferred, 10% tax-exempt; statuses mostly `active`, ~2% `hold`, ~1% `liquidate`;
~20 advisors.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from overlay_core.demo.models import APPROVED, STOCK_TARGETS, TAXABLE_ONLY_TARGETS, TARGETS
from overlay_core.demo.universe import SCREEN_TAGS, Universe

ADVISORS: tuple[str, ...] = (
    "Avery Chen", "Blake Okafor", "Camila Reyes", "Dmitri Volkov", "Elena Rossi", "Farah Haddad",
    "Gavin Lindqvist", "Hana Sato", "Isaac Goldberg", "Julia Novak", "Kwame Mensah", "Laura Schmidt",
    "Mateo Alvarez", "Nadia Petrova", "Owen Gallagher", "Priya Raman", "Quinn Harper", "Rafael Costa",
    "Sofia Marino", "Theo Bergström",
)
#: P(household has 1, 2, 3, 4 accounts)
HOUSEHOLD_SIZES = (0.40, 0.35, 0.17, 0.08)
#: registration -> tax status
REGISTRATIONS: dict[str, str] = {
    "individual": "taxable",
    "joint": "taxable",
    "revocable_trust": "taxable",
    "traditional_ira": "tax_deferred",
    "rollover_ira": "tax_deferred",
    "sep_ira": "tax_deferred",
    "roth_ira": "tax_exempt",
    "foundation": "tax_exempt",
}
_FIRST_ACCOUNT = {"individual": 0.38, "joint": 0.30, "revocable_trust": 0.12, "traditional_ira": 0.08, "rollover_ira": 0.07, "sep_ira": 0.0, "roth_ira": 0.03, "foundation": 0.02}
_OTHER_ACCOUNT = {"individual": 0.18, "joint": 0.10, "revocable_trust": 0.07, "traditional_ira": 0.22, "rollover_ira": 0.14, "sep_ira": 0.07, "roth_ira": 0.18, "foundation": 0.04}
#: target mix by (tax status, large enough for a direct index); weights renormalized over allowed targets
_TARGET_MIX = {
    "conservative": 0.08, "balanced": 0.17, "balanced_dividend": 0.10, "growth_di": 0.16, "aggressive_di": 0.08,
    "tax_managed_di": 0.14, "esg_balanced": 0.10, "income": 0.07, "direct_index": 0.10,
}
DIRECT_INDEX_MIN_VALUE = 250_000.0
#: combined (federal + state + NIIT) marginal rates: (short-term, long-term), drawn for taxable accounts
RATE_BRACKETS = ((0.408, 0.238), (0.458, 0.288), (0.502, 0.333), (0.37, 0.20), (0.35, 0.15), (0.281, 0.15))
_RATE_P = (0.34, 0.16, 0.10, 0.15, 0.15, 0.10)

# customization rates (share of accounts) drawn here
P_SCREEN = 0.15
P_NEVER_BUY = 0.10
P_SUBSTITUTE = 0.03
P_LEGACY = 0.05


@dataclass(frozen=True)
class AccountPlan:
    """Everything drawn about the accounts before their history.

    Attributes
    ----------
    accounts : one row per account: account_id, household_id, advisor, registration, tax_status,
        target_id, status, st_rate, lt_rate (null unless taxable), open_day (index into the history's
        business days), deposit (USD at opening), flow (USD per quarter: + contribution, - withdrawal),
        min_cash_weight, min_trade_value (null = policy default), legacy_symbol (null or the stock of a
        legacy concentrated position), legacy_share (its share of the opening value).
    screens : account_id, tag.
    never_buy : account_id, symbol.
    substitutes : account_id, from_symbol, to_symbol.
    """

    accounts: pl.DataFrame
    screens: pl.DataFrame
    never_buy: pl.DataFrame
    substitutes: pl.DataFrame


def _choice(rng: np.random.Generator, options: dict[str, float], n: int) -> np.ndarray:
    keys = list(options)
    p = np.array([options[k] for k in keys], dtype=float)
    return np.array(keys, dtype=object)[rng.choice(len(keys), size=n, p=p / p.sum())]


def build_accounts(
    universe: Universe,
    target_weights: pl.DataFrame,
    *,
    n_accounts: int,
    n_days: int,
    rng: np.random.Generator,
    min_open_days_before_end: int = 40,
) -> AccountPlan:
    """Draw `n_accounts` accounts (whole households: the last one is trimmed to fit exactly).

    Parameters
    ----------
    universe : the securities.
    target_weights : target_id, symbol, weight (from `models.target_security_weights`).
    n_accounts : how many accounts.
    n_days : business days of the simulated history; accounts open on day 0 (about half, the firm's
        long-standing clients) or uniformly later, at least `min_open_days_before_end` days before its end.
    rng : the generator (the only source of randomness).
    """
    if n_accounts < 1:
        raise ValueError(f"n_accounts must be >= 1, got {n_accounts}")
    # households
    sizes: list[int] = []
    while sum(sizes) < n_accounts:
        sizes.append(int(rng.choice(4, p=HOUSEHOLD_SIZES)) + 1)
    sizes[-1] -= sum(sizes) - n_accounts
    n_hh = len(sizes)
    hh_of = np.repeat(np.arange(n_hh), sizes)
    first = np.concatenate([[True] + [False] * (s - 1) for s in sizes]).astype(bool)
    # household wealth (lognormal, median ~$1.1M) split across its accounts
    wealth = np.exp(rng.normal(np.log(1_100_000), 1.0, n_hh)).clip(60_000, 60_000_000)
    split = np.concatenate([rng.dirichlet(np.full(s, 1.5)) for s in sizes])
    value = np.maximum(wealth[hh_of] * split, 15_000.0)
    # advisors: a household has one advisor; books of unequal size (Zipf-like)
    adv_p = 1.0 / np.arange(1, len(ADVISORS) + 1) ** 0.6
    adv_of_hh = rng.choice(len(ADVISORS), size=n_hh, p=adv_p / adv_p.sum())
    advisor = np.array(ADVISORS, dtype=object)[adv_of_hh[hh_of]]
    # registrations
    reg = np.where(first, _choice(rng, _FIRST_ACCOUNT, n_accounts), _choice(rng, _OTHER_ACCOUNT, n_accounts))
    tax_status = np.array([REGISTRATIONS[r] for r in reg], dtype=object)
    # targets
    targets = list(TARGETS)
    base = np.array([_TARGET_MIX[t] for t in targets])
    taxable_only = np.array([t in TAXABLE_ONLY_TARGETS for t in targets])
    stock = np.array([t in STOCK_TARGETS and t != "balanced_dividend" for t in targets])
    target = np.empty(n_accounts, dtype=object)
    u = rng.random(n_accounts)
    for i in range(n_accounts):
        p = base.copy()
        if tax_status[i] != "taxable":
            p[taxable_only] = 0.0
        if value[i] < DIRECT_INDEX_MIN_VALUE:
            p[stock] = 0.0
        c = np.cumsum(p / p.sum())
        target[i] = targets[min(int(np.searchsorted(c, u[i])), len(targets) - 1)]
    # status
    status = _choice(rng, {"active": 0.97, "hold": 0.02, "liquidate": 0.01}, n_accounts)
    # tax rates (taxable only)
    br = rng.choice(len(RATE_BRACKETS), size=n_accounts, p=_RATE_P)
    taxable = tax_status == "taxable"
    st = np.where(taxable, np.array([RATE_BRACKETS[b][0] for b in br]), np.nan)
    lt = np.where(taxable, np.array([RATE_BRACKETS[b][1] for b in br]), np.nan)
    # opening day and deposit (the current value is drawn; the deposit is what opened the account)
    last_open = max(1, n_days - min_open_days_before_end)
    open_day = np.where(rng.random(n_accounts) < 0.5, 0, rng.integers(0, last_open, n_accounts))
    # cash flows per quarter: contributions (1-6% a year) for ~35%, withdrawals (2-5% a year, retirees)
    # for ~20%, none otherwise
    kind = rng.random(n_accounts)
    flow = np.where(kind < 0.35, value * rng.uniform(0.0025, 0.015, n_accounts), np.where(kind < 0.55, -value * rng.uniform(0.005, 0.0125, n_accounts), 0.0))
    min_cash = np.where(rng.random(n_accounts) < 0.08, rng.choice([0.01, 0.02, 0.03, 0.05], n_accounts), np.nan)
    min_trade = np.where(rng.random(n_accounts) < 0.10, rng.choice([100.0, 500.0, 1000.0], n_accounts), np.nan)
    # legacy concentrated positions: a stock transferred in long ago at a low basis
    stocks = universe.securities.filter(pl.col("type") == "equity")
    big = stocks.join(universe.meta, on="symbol").filter(pl.col("market_cap") >= 150)["symbol"].to_list()
    legacy = rng.random(n_accounts) < P_LEGACY
    legacy &= tax_status == "taxable"
    legacy_sym = np.where(legacy, np.array(big, dtype=object)[rng.integers(0, len(big), n_accounts)], None)
    legacy_share = np.where(legacy, rng.uniform(0.15, 0.45, n_accounts), 0.0)

    ids = [f"A{i + 1:06d}" for i in range(n_accounts)]
    hh_ids = [f"H{h + 1:06d}" for h in hh_of]
    accounts = pl.DataFrame(
        {
            "account_id": ids,
            "household_id": hh_ids,
            "advisor": advisor.tolist(),
            "registration": reg.tolist(),
            "tax_status": tax_status.tolist(),
            "target_id": target.tolist(),
            "status": status.tolist(),
            "st_rate": st,
            "lt_rate": lt,
            "open_day": open_day.astype(np.int64),
            "deposit": value,
            "flow": flow,
            "min_cash_weight": min_cash,
            "min_trade_value": min_trade,
            "legacy_symbol": legacy_sym.tolist(),
            "legacy_share": legacy_share,
        },
        schema_overrides={"legacy_symbol": pl.String},
    ).with_columns(pl.col(c).fill_nan(None) for c in ("st_rate", "lt_rate", "min_cash_weight", "min_trade_value"))

    # screens: 1-3 tags, ESG-minded clients favour fossil fuels and weapons
    tag_p = np.array([0.30, 0.20, 0.20, 0.10, 0.10, 0.05, 0.05])
    scr_rows = []
    for i in np.flatnonzero(rng.random(n_accounts) < P_SCREEN):
        k = int(rng.choice([1, 2, 3], p=[0.55, 0.30, 0.15]))
        for j in rng.choice(len(SCREEN_TAGS), size=k, replace=False, p=tag_p):
            scr_rows.append((ids[i], SCREEN_TAGS[j]))
    screens = pl.DataFrame(scr_rows, schema={"account_id": pl.String, "tag": pl.String}, orient="row")

    # never-buys: 1-3 symbols of the account's target (a client's dislike), sometimes one outside it
    tw = {t: df["symbol"].to_list() for t, df in target_weights.filter(pl.col("symbol") != "$CASH").partition_by("target_id", as_dict=True, include_key=True).items()}
    tw = {k[0] if isinstance(k, tuple) else k: v for k, v in tw.items()}
    nb_rows = []
    for i in np.flatnonzero(rng.random(n_accounts) < P_NEVER_BUY):
        syms = tw[target[i]]
        k = min(len(syms), int(rng.choice([1, 2, 3], p=[0.6, 0.3, 0.1])))
        for j in rng.choice(len(syms), size=k, replace=False):
            nb_rows.append((ids[i], syms[j]))
    never_buy = pl.DataFrame(nb_rows, schema={"account_id": pl.String, "symbol": pl.String}, orient="row").unique(maintain_order=True)

    # substitutions: an advisor's preferred fund in place of a target fund (same class, other wash group)
    funds = universe.securities.filter(pl.col("type") != "equity")
    cls_of = dict(zip(funds["symbol"], funds["asset_class"]))
    grp_of = dict(zip(funds["symbol"], funds["wash_group"]))
    by_class: dict[str, list[str]] = {}
    for s, ac in cls_of.items():
        by_class.setdefault(ac, []).append(s)
    sub_rows = []
    nb_set = set(nb_rows)
    for i in np.flatnonzero(rng.random(n_accounts) < P_SUBSTITUTE):
        cands = [s for s in tw[target[i]] if s in cls_of and cls_of[s] != "cash"]
        if not cands:
            continue
        frm = cands[int(rng.integers(len(cands)))]
        in_target = set(tw[target[i]])
        allowed = APPROVED.get(cls_of[frm])
        tos = [
            s
            for s in by_class[cls_of[frm]]
            if grp_of[s] != grp_of[frm] and s not in in_target and (ids[i], s) not in nb_set and (allowed is None or s in allowed)
        ]
        if not tos:
            continue
        sub_rows.append((ids[i], frm, tos[int(rng.integers(len(tos)))]))
    substitutes = pl.DataFrame(sub_rows, schema={"account_id": pl.String, "from_symbol": pl.String, "to_symbol": pl.String}, orient="row")
    return AccountPlan(accounts=accounts, screens=screens, never_buy=never_buy, substitutes=substitutes)
