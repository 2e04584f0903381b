"""Tax accounting of a backtest: annual tax at the stated rates, and the summary figures per strategy.

Taxes (docs/analytics.md "Assumptions"):

- A sale's *allowed* gain is the tax engine's ``gain_loss + disallowed_loss`` (a washed loss is not
  deductible now; the engine moved it into the replacement's basis).
- ``offset="outside"`` (default, as in the literature): the investor has outside gains of both terms, so
  a year's net short-term result is taxed (or refunded) at the short-term rate and the net long-term
  result at the long-term rate: ``tax = st_rate * ST + lt_rate * LT`` (may be < 0: a refund credited
  to the account).
- ``offset="carry"``: no outside gains. IRS netting inside the account (Schedule D): each term nets
  with its own carry-forward, then a net loss of one term offsets a net gain of the other; a net loss
  is carried forward with its character and the tax is never < 0 (the $3,000 ordinary-income deduction
  is ignored).

Summary figures (`summarize`), per strategy, averaged over its accounts:

- ``pre_tax_return``: annualized time-weighted return with taxes treated as external flows;
- ``after_tax_return``: annualized time-weighted return with taxes settled from the account and flows
  (contributions, withdrawals) external, the final year's tax settled at the end (without flows: the
  growth of the account's wealth, final wealth / initial cash); ``after_tax_return_liquidated``: the same
  after liquidating every lot at the end (tax of the liquidation included);
- ``tax_alpha`` / ``tax_alpha_liquidated``: those minus buy-and-hold's (fractions per year);
- ``harvest_yield``: losses harvested per year (allowed, before netting) over the mean account value;
- ``tracking_error``: annualized standard deviation of the period return minus the target's (from the
  second period on: the first holds the funding day, when the account is cash until the first fills);
- ``turnover``: one-way traded value (sells) per year over the mean account value;
- ``taxes_paid``, ``liquidation_tax``, ``tax_saved``, ``tax_deferred`` (USD; see `summarize`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import polars as pl

Offset = Literal["outside", "carry"]
OFFSETS: tuple[str, ...] = ("outside", "carry")


@dataclass(frozen=True)
class Carry:
    """Loss carry-forwards (USD >= 0) of one account, by term."""

    st: float = 0.0
    lt: float = 0.0


def annual_tax(st_net: float, lt_net: float, *, st_rate: float, lt_rate: float, offset: Offset = "outside", carry: Carry = Carry()) -> tuple[float, Carry]:
    """Tax of one year (USD; < 0 is a refund) from the net allowed short/long-term gains, and the new carry.

    Parameters
    ----------
    st_net, lt_net : the year's net allowed gains (USD, < 0 for a net loss) by term.
    st_rate, lt_rate : combined marginal rates (fractions).
    offset : ``"outside"`` or ``"carry"`` (module docstring).
    carry : loss carry-forwards from earlier years (``carry`` mode only).
    """
    if offset == "outside":
        return st_rate * st_net + lt_rate * lt_net, Carry()
    s = st_net - carry.st
    lt = lt_net - carry.lt
    if s < 0 and lt > 0:
        lt, s = lt + s, 0.0
        if lt < 0:
            s, lt = lt, 0.0  # the rest of the short-term loss carries as short-term
    elif lt < 0 and s > 0:
        s, lt = s + lt, 0.0
        if s < 0:
            lt, s = s, 0.0
    tax = st_rate * max(s, 0.0) + lt_rate * max(lt, 0.0)
    return tax, Carry(st=max(-s, 0.0), lt=max(-lt, 0.0))


def allowed_by_term(realized: pl.DataFrame) -> tuple[float, float]:
    """Net allowed (short, long)-term gains of the tax engine's realized rows (``Ledger.realized()``)."""
    if realized.height == 0:
        return 0.0, 0.0
    allowed = realized.with_columns((pl.col("gain_loss") + pl.col("disallowed_loss")).alias("_a"))
    st = float(allowed.filter(pl.col("term") == "short")["_a"].sum())
    lt = float(allowed.filter(pl.col("term") == "long")["_a"].sum())
    return st, lt


def _ann(total_growth: float, years: float) -> float:
    if years <= 0 or total_growth <= 0:
        return float("nan")
    return total_growth ** (1.0 / years) - 1.0


def account_figures(periods: pl.DataFrame, final: dict[str, float], *, periods_per_year: float) -> dict[str, float]:
    """Figures of one account from its period records (`Backtest.periods` rows of that account).

    periods : one row per period (sorted by date) with value, tax, flow, target_return, pnl, sold,
        losses_harvested; final : the account's end state (value, tax_final, liquidation_tax, initial).
    """
    p = periods.sort("date")
    v = p["value"].to_numpy()
    nxt = np.append(v[1:], final["value"])
    tax = p["tax"].to_numpy()
    flow = p["flow"].to_numpy()
    # period return with taxes and flows as external: (V_next + tax - flow) / V - 1
    r = (nxt + tax - flow) / v - 1.0
    r_target = p["target_return"].to_numpy()
    years = final["years"]
    pre = _ann(float(np.prod(1.0 + r)), years)
    wealth = final["value"] - final["tax_final"]
    wealth_liq = wealth - final["liquidation_tax"]
    # after tax, time-weighted: taxes stay inside the return, flows (contributions, withdrawals) are
    # external: (V_next - flow) / V per period, then the last year's tax (and the liquidation's) settled
    # from the final value. Without flows this is wealth / initial (the products telescope).
    growth_after = float(np.prod((nxt - flow) / v))
    fv = final["value"]
    after = _ann(growth_after * wealth / fv, years) if fv > 0 else float("nan")
    after_liq = _ann(growth_after * wealth_liq / fv, years) if fv > 0 else float("nan")
    # the first period holds the funding day (cash until the first fills, the target invested): left out
    active = (r - r_target)[1:]
    te = float(np.std(active, ddof=1) * np.sqrt(periods_per_year)) if len(active) > 2 else float("nan")
    mean_v = float(np.mean(np.append(v, final["value"])))
    return {
        "pre_tax_return": pre,
        "after_tax_return": after,
        "after_tax_return_liquidated": after_liq,
        "target_return": _ann(float(np.prod(1.0 + r_target)), years),
        "tracking_error": te,
        "turnover": float(p["sold"].sum()) / mean_v / years if years > 0 else float("nan"),
        "harvest_yield": float(p["losses_harvested"].sum()) / mean_v / years if years > 0 else float("nan"),
        "taxes_paid": float(tax.sum()) + final["tax_final"],
        "liquidation_tax": final["liquidation_tax"],
        "final_value": final["value"],
        "final_wealth": wealth,
        "final_wealth_liquidated": wealth_liq,
        "costs": float(p["cost"].sum()),
    }


def summarize(accounts: pl.DataFrame, *, baseline: str = "buy_and_hold") -> pl.DataFrame:
    """One row per strategy: the mean over its accounts of `account_figures`, plus the tax alpha.

    ``tax_alpha`` = after-tax return − the baseline's; ``tax_alpha_liquidated`` likewise after liquidation.
    It splits (approximately, annualized rates do not add exactly) into ``active_return`` = pre-tax return
    − the baseline's (what tracking the target differently earned: skill or luck, not tax) and
    ``tax_benefit`` = (after-tax − pre-tax return) − the baseline's (the tax drag avoided).
    ``tax_saved`` (USD, per account) = the baseline's taxes (paid + liquidation) − the strategy's: tax
    avoided for good (losses harvested beyond what liquidation gives back, short-term gains turned
    long-term). ``tax_deferred`` = the in-period tax benefit (baseline's taxes paid − the strategy's)
    minus ``tax_saved``: the part of the benefit that liquidation gives back (a lower basis).
    """
    num = [c for c in accounts.columns if c not in ("strategy", "account_id") and accounts[c].dtype.is_numeric()]
    out = accounts.group_by("strategy", maintain_order=True).agg([pl.col(c).mean() for c in num])
    base = out.filter(pl.col("strategy") == baseline)
    if base.height == 0:
        return out
    b = base.row(0, named=True)
    return out.with_columns(
        (pl.col("after_tax_return") - b["after_tax_return"]).alias("tax_alpha"),
        (pl.col("pre_tax_return") - b["pre_tax_return"]).alias("active_return"),
        ((pl.col("after_tax_return") - pl.col("pre_tax_return")) - (b["after_tax_return"] - b["pre_tax_return"])).alias("tax_benefit"),
        (pl.col("after_tax_return_liquidated") - b["after_tax_return_liquidated"]).alias("tax_alpha_liquidated"),
        ((b["taxes_paid"] + b["liquidation_tax"]) - (pl.col("taxes_paid") + pl.col("liquidation_tax"))).alias("tax_saved"),
        ((b["taxes_paid"] - pl.col("taxes_paid")) - ((b["taxes_paid"] + b["liquidation_tax"]) - (pl.col("taxes_paid") + pl.col("liquidation_tax")))).alias("tax_deferred"),
    )


def by_year(periods: pl.DataFrame, finals: pl.DataFrame) -> pl.DataFrame:
    """Per strategy and calendar year (mean over accounts): pre-tax return, after-tax return, the target's
    return, realized gains and losses harvested over the year's mean value, turnover, and
    ``taxes_settled`` (USD): the tax settled in the year, i.e. due for the year before (< 0 a refund).
    The after-tax return of a year counts the tax settled in it."""
    p = periods.sort("strategy", "account_id", "date").with_columns(
        pl.col("value").shift(-1).over("strategy", "account_id").alias("_next"),
    )
    last = finals.select("strategy", "account_id", pl.col("value").alias("_final"))
    p = p.join(last, on=["strategy", "account_id"], how="left").with_columns(pl.coalesce("_next", "_final").alias("_next"))
    p = p.with_columns(
        ((pl.col("_next") + pl.col("tax") - pl.col("flow")) / pl.col("value")).alias("_g_pre"),
        ((pl.col("_next") - pl.col("flow")) / pl.col("value")).alias("_g_after"),
        (1.0 + pl.col("target_return")).alias("_g_t"),
        pl.col("date").dt.year().alias("year"),
    )
    per_acc = p.group_by("strategy", "account_id", "year", maintain_order=True).agg(
        (pl.col("_g_pre").product() - 1.0).alias("pre_tax_return"),
        (pl.col("_g_after").product() - 1.0).alias("after_tax_return"),
        (pl.col("_g_t").product() - 1.0).alias("target_return"),
        (pl.col("realized_st") + pl.col("realized_lt")).sum().alias("_realized"),
        pl.col("losses_harvested").sum().alias("_harvested"),
        pl.col("sold").sum().alias("_sold"),
        pl.col("tax_due").sum().alias("taxes_settled"),
        pl.col("value").mean().alias("_v"),
    ).with_columns(
        (pl.col("_realized") / pl.col("_v")).alias("realized_gain"),
        (pl.col("_harvested") / pl.col("_v")).alias("harvest_yield"),
        (pl.col("_sold") / pl.col("_v")).alias("turnover"),
    )
    return (
        per_acc.group_by("strategy", "year", maintain_order=True)
        .agg(pl.col("pre_tax_return", "after_tax_return", "target_return", "realized_gain", "harvest_yield", "turnover", "taxes_settled").mean())
        .sort("strategy", "year")
    )
