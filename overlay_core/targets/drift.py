"""Drift: each account's security and asset-class drift against its own target, and band breaches.

Definitions (weights are fractions of the account value, ``$CASH`` included as a security of asset
class ``cash``):

- security drift ``= weight - target`` for every symbol held or targeted; a **security breach** is
  ``|drift| > [drift] security_drift_max`` (cash included: idle cash is a reason to trade too);
- asset-class drift ``= class weight - class target``; its band is
  ``max([drift] asset_class_band_abs, [drift] asset_class_band_rel x class target)`` and a **class
  breach** is ``|drift| > band``;
- ``needs_rebalance`` follows ``[drift] trigger``: ``asset_class`` (a class breach), ``security`` (a
  security breach) or ``any`` (either);
- ``tracking_error``: the ex-ante annualized tracking error of the holdings against the target under the
  risk model (null when no model is given).
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from overlay_core.book import Book
from overlay_core.contract import CASH
from overlay_core.holdings import Holdings, holdings as compute_holdings
from overlay_core.policy import DriftPolicy
from overlay_core.targets.customize import AccountTargets
from overlay_core.targets.risk import RiskModel


@dataclass(frozen=True)
class Drift:
    """Drift of every account that has a target.

    Attributes
    ----------
    securities : frame [account_id, symbol, weight, target, drift, breach].
    asset_classes : frame [account_id, asset_class, weight, target, drift, band, breach].
    summary : frame [account_id, max_abs_drift, max_class_drift, asset_class_breaches,
        security_breaches, tracking_error, needs_rebalance], one row per account.
    """

    securities: pl.DataFrame
    asset_classes: pl.DataFrame
    summary: pl.DataFrame


def compute_drift(
    weights: pl.DataFrame,
    targets: pl.DataFrame,
    securities: pl.DataFrame,
    policy: DriftPolicy,
    *,
    risk: RiskModel | None = None,
) -> Drift:
    """Drift of current `weights` against `targets`, for every account_id present in `targets`.

    Parameters
    ----------
    weights : frame [account_id, symbol, weight], current holdings (e.g. `Holdings.weights`).
    targets : frame [account_id, symbol, weight], each account's target (e.g. `AccountTargets.weights`).
    securities : the book's securities (asset classes).
    policy : the ``[drift]`` settings.
    risk : when given, the summary carries each account's tracking error.
    """
    ids = targets.select("account_id").unique()
    w = weights.join(ids, on="account_id", how="semi").select("account_id", "symbol", "weight")
    t = targets.select("account_id", "symbol", pl.col("weight").alias("target"))
    attrs = pl.concat(
        [
            securities.filter(pl.col("symbol") != CASH).select("symbol", "asset_class"),
            pl.DataFrame({"symbol": [CASH], "asset_class": ["cash"]}),
        ]
    )
    both = (
        w.join(t, on=["account_id", "symbol"], how="full", coalesce=True)
        .with_columns(pl.col("weight").fill_null(0.0), pl.col("target").fill_null(0.0))
        .with_columns((pl.col("weight") - pl.col("target")).alias("drift"))
        .with_columns((pl.col("drift").abs() > policy.security_drift_max).alias("breach"))
        .join(attrs, on="symbol", how="left")
    )
    sec = both.select("account_id", "symbol", "weight", "target", "drift", "breach").sort("account_id", "symbol")
    cls = (
        both.group_by("account_id", "asset_class")
        .agg(pl.col("weight").sum(), pl.col("target").sum())
        .with_columns(
            (pl.col("weight") - pl.col("target")).alias("drift"),
            pl.max_horizontal(pl.lit(policy.asset_class_band_abs), policy.asset_class_band_rel * pl.col("target")).alias("band"),
        )
        .with_columns((pl.col("drift").abs() > pl.col("band")).alias("breach"))
        .sort("account_id", "asset_class", nulls_last=True)
    )
    s1 = sec.group_by("account_id").agg(
        pl.col("drift").abs().max().alias("max_abs_drift"),
        pl.col("breach").sum().cast(pl.Int64).alias("security_breaches"),
    )
    s2 = cls.group_by("account_id").agg(
        pl.col("drift").abs().max().alias("max_class_drift"),
        pl.col("breach").sum().cast(pl.Int64).alias("asset_class_breaches"),
    )
    summary = ids.join(s1, on="account_id", how="left").join(s2, on="account_id", how="left")
    if risk is not None:
        te = risk.tracking_errors(w, targets.select("account_id", "symbol", "weight"))
        summary = summary.join(te, on="account_id", how="left")
    else:
        summary = summary.with_columns(pl.lit(None, pl.Float64).alias("tracking_error"))
    trig = {
        "asset_class": pl.col("asset_class_breaches") > 0,
        "security": pl.col("security_breaches") > 0,
        "any": (pl.col("asset_class_breaches") > 0) | (pl.col("security_breaches") > 0),
    }[policy.trigger]
    summary = (
        summary.with_columns(
            pl.col("max_abs_drift").fill_null(0.0),
            pl.col("max_class_drift").fill_null(0.0),
            pl.col("security_breaches").fill_null(0),
            pl.col("asset_class_breaches").fill_null(0),
        )
        .with_columns(trig.alias("needs_rebalance"))
        .select(
            "account_id",
            "max_abs_drift",
            "max_class_drift",
            "asset_class_breaches",
            "security_breaches",
            "tracking_error",
            "needs_rebalance",
        )
        .sort("account_id")
    )
    return Drift(securities=sec, asset_classes=cls, summary=summary)


def drift(
    book: Book,
    targets: AccountTargets,
    *,
    positions: Holdings | None = None,
    risk: RiskModel | None = None,
) -> Drift:
    """Drift of every account of `targets` (refused accounts have no target and no drift).

    Parameters
    ----------
    book : the day's book (securities, policy; holdings if `positions` is not given).
    targets : `account_targets(book)`.
    positions : `holdings(book)`, if already computed.
    risk : the risk model, for tracking errors.
    """
    hold = positions if positions is not None else compute_holdings(book)
    return compute_drift(hold.weights, targets.weights, book.securities, book.policy.drift, risk=risk)
