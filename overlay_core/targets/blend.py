"""Blends: a target's models times its blend weights -> one security-level weight vector (holistic).

A target is a convex combination of models: ``t[s] = sum_m b[m] * w_m[s]`` with ``b >= 0``,
``sum b = 1`` and every model's ``w_m >= 0``, ``sum w_m = 1`` (the upload reader renormalizes both
inside the policy's tolerance), so ``t >= 0`` and ``sum t = 1``. Third-party and firm models mix
freely: a symbol held by several models gets the sum of its contributions. ``$CASH`` is a weight like
any other; every target gets a ``$CASH`` row (0.0 when no model holds cash).
"""

from __future__ import annotations

import polars as pl

from overlay_core.book import Book
from overlay_core.contract import CASH
from overlay_core.holdings import group_weights

TARGET_WEIGHTS_SCHEMA: dict[str, pl.DataType] = {"target_id": pl.String(), "symbol": pl.String(), "weight": pl.Float64()}


def blend(models: pl.DataFrame, targets: pl.DataFrame) -> pl.DataFrame:
    """Expand blends of models into security weights.

    Parameters
    ----------
    models : frame [model_id, symbol, weight] (other columns ignored).
    targets : frame [target_id, model_id, weight], the blend weights.

    Returns
    -------
    frame [target_id, symbol, weight]: one row per target and symbol with a weight > 0, plus one
    ``$CASH`` row per target; each target's weights sum to 1 (renormalized exactly, so float noise of
    the products never leaks). Sorted by target_id, symbol.
    """
    raw = (
        targets.select("target_id", "model_id", pl.col("weight").alias("_b"))
        .join(models.select("model_id", "symbol", "weight"), on="model_id", how="inner")
        .group_by("target_id", "symbol")
        .agg((pl.col("_b") * pl.col("weight")).sum().alias("weight"))
        .filter(pl.col("weight") > 0)
    )
    ids = targets.select("target_id").unique()
    cash = ids.with_columns(pl.lit(CASH).alias("symbol"), pl.lit(0.0).alias("weight"))
    out = (
        pl.concat([raw.select("target_id", "symbol", "weight"), cash])
        .group_by("target_id", "symbol")
        .agg(pl.col("weight").sum())
        .with_columns(pl.col("weight") / pl.col("weight").sum().over("target_id"))
        .with_columns(pl.col("weight").fill_nan(0.0))
        .sort("target_id", "symbol")
    )
    return out.cast(TARGET_WEIGHTS_SCHEMA)  # type: ignore[arg-type]


def blend_targets(book: Book) -> pl.DataFrame:
    """Every target of the book as security weights: frame [target_id, symbol, weight] (see `blend`)."""
    return blend(book.models, book.targets)


def asset_allocation(weights: pl.DataFrame, securities: pl.DataFrame, *, key: str = "target_id") -> pl.DataFrame:
    """Weights by asset class.

    Parameters
    ----------
    weights : frame [key, symbol, weight] (a target's or an account's weights).
    securities : the book's securities; ``$CASH`` is asset class ``cash``.
    key : ``target_id`` or ``account_id``.

    Returns
    -------
    frame [key, asset_class, weight], sorted.
    """
    return group_weights(weights, securities, by="asset_class", key=key)
