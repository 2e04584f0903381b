"""The investment policy committee's what-if: edit a model or a blend, see the allocation and the cascade.

Data flow (each step a function the notebook `notebooks/ipc_models.py` calls):

1. `editable_weights(book, kind, ident)` -> the model's security weights or the target's blend as a frame
   to edit; `product_swap(frame, from_symbol, to_symbol)` moves one symbol's weight to another;
2. `change_from_edit(book, kind, ident, frame)` -> a validated `targets.cascade.Change` (the cascade's own
   validation, `parse_change`); `change_csv(change)` -> the bytes of a ``CHANGE.csv`` that
   ``overlay cascade`` reads back (`read_change`) to the same change;
3. `allocation_comparison(book, change)` -> the asset allocation of every affected target before/after;
4. `targets.cascade.cascade(book, change, risk=...)` -> drift and tracking error of every follower, and
   `cascade_trades(book, change, risk=..., limit=...)` -> what the optimizer would trade for (a sample
   of) the followers under the new targets: orders, turnover, realized gains, tax, tracking error;
   `trade_summary(trades)` aggregates them by target and advisor.
"""

from __future__ import annotations

import io
from typing import Literal

import numpy as np
import polars as pl

from overlay_core.book import Book
from overlay_core.contract import CASH
from overlay_core.errors import ConfigError, DataError, Problem
from overlay_core.targets.blend import asset_allocation, blend
from overlay_core.targets.cascade import Change, affected_targets, apply_change, parse_change
from overlay_core.targets.risk import RiskModel

Kind = Literal["models", "targets"]

#: columns of `cascade_trades`
TRADE_COLUMNS = (
    "account_id",
    "target_id",
    "advisor",
    "decision",
    "n_orders",
    "turnover",
    "traded_value",
    "net_realized_gain",
    "losses_harvested",
    "est_tax",
    "te_before",
    "te_after",
    "why",
)


def editable_weights(book: Book, kind: Kind, ident: str) -> pl.DataFrame:
    """The weights of one model (``kind="models"``: [symbol, name, asset_class, weight]) or the blend of
    one target (``kind="targets"``: [model_id, weight]), sorted by weight descending.

    Raises
    ------
    ConfigError : no such model or target in the book.
    """
    if kind == "models":
        rows = book.models.filter(pl.col("model_id") == ident)
        if rows.height == 0:
            raise ConfigError(f"model {ident!r} is not in the book's models")
        sec = book.securities.select("symbol", "name", "asset_class")
        return (
            rows.select("symbol", "weight")
            .join(sec, on="symbol", how="left")
            .with_columns(pl.when(pl.col("symbol") == CASH).then(pl.lit("cash")).otherwise(pl.col("asset_class")).alias("asset_class"))
            .select("symbol", "name", "asset_class", "weight")
            .sort("weight", "symbol", descending=[True, False])
        )
    if kind == "targets":
        rows = book.targets.filter(pl.col("target_id") == ident)
        if rows.height == 0:
            raise ConfigError(f"target {ident!r} is not in the book's targets")
        return rows.select("model_id", "weight").sort("weight", "model_id", descending=[True, False])
    raise ConfigError(f"kind {kind!r}; expected models or targets")


def product_swap(weights: pl.DataFrame, from_id: str | None, to_id: str | None, *, key: str = "symbol") -> pl.DataFrame:
    """The weights with `from_id`'s whole weight moved to `to_id` (added to any weight it already has):
    a product swap in a model (``key="symbol"``) or a model swap in a blend (``key="model_id"``).

    Returns [key, weight] in the input's order (the swapped-in id last when new); unchanged (same
    columns) when either id is empty, both are the same, or `from_id` is not in the weights.
    """
    if not from_id or not to_id or from_id == to_id or from_id not in set(weights[key].to_list()):
        return weights
    w = weights.filter(pl.col(key) == from_id)["weight"].sum()
    rest = weights.filter(pl.col(key) != from_id).select(key, "weight")
    return (
        pl.concat([rest, pl.DataFrame({key: [to_id], "weight": [float(w)]}, schema=rest.schema)])
        .group_by(key, maintain_order=True)
        .agg(pl.col("weight").sum())
    )


def change_from_edit(book: Book, kind: Kind, ident: str, edited: pl.DataFrame, *, renormalize: bool = True) -> Change:
    """The edited weights of model/target `ident` as a validated `Change` (rows of weight 0 dropped).

    Parameters
    ----------
    edited : [symbol, weight] (models) or [model_id, weight] (targets); other columns ignored.
    renormalize : scale the weights to sum to 1 first (an editor rarely types an exact sum); when False,
        a sum outside the policy's tolerance is refused by `parse_change`.

    Raises
    ------
    DataError : every problem of the edit at once (unknown symbol or model, negative weight, ...).
    """
    key = "symbol" if kind == "models" else "model_id"
    id_col = "model_id" if kind == "models" else "target_id"
    missing = [c for c in (key, "weight") if c not in edited.columns]
    if missing:
        raise DataError("the edit is refused", [Problem("edit", None, c, "no such column", f"columns {key}, weight") for c in missing])
    w = edited.select(pl.col(key).cast(pl.String), pl.col("weight").cast(pl.Float64, strict=False))
    bad = w.filter(pl.col("weight").is_null() | ~pl.col("weight").is_finite() | (pl.col("weight") < 0))
    if bad.height:
        raise DataError(
            "the edit is refused",
            [Problem("edit", None, "weight", f"{r[key]}: {r['weight']!r}", "a finite number >= 0") for r in bad.iter_rows(named=True)],
        )
    w = w.filter(pl.col("weight") > 0)
    total = float(w["weight"].sum())
    if w.height == 0 or total <= 0:
        raise DataError("the edit is refused", [Problem("edit", None, "weight", "no weight > 0", f"at least one {key} with a weight > 0")])
    if renormalize:
        w = w.with_columns(pl.col("weight") / total)
    raw = w.select(pl.lit(ident).alias(id_col), key, "weight")
    return parse_change(raw, book, source="edit")


def change_csv(change: Change) -> bytes:
    """The change as ``CHANGE.csv`` bytes (UTF-8, header, weights at full precision) for ``overlay cascade``.

    `targets.cascade.read_change` reads it back to the same rows (tested)."""
    buf = io.StringIO()
    change.rows.write_csv(buf, float_precision=None)
    return buf.getvalue().encode("utf-8")


def allocation_comparison(book: Book, change: Change) -> pl.DataFrame:
    """Asset allocation of every target the change reaches, before and after.

    Returns
    -------
    frame [target_id, asset_class, before, after, delta] (weights as fractions; a class absent on one
    side is 0 there), sorted by target_id, asset_class.
    """
    tids = affected_targets(book, change)
    new = apply_change(book, change)
    sel = pl.col("target_id").is_in(tids)
    a0 = asset_allocation(blend(book.models, book.targets.filter(sel)), book.securities).rename({"weight": "before"})
    a1 = asset_allocation(blend(new.models, new.targets.filter(sel)), book.securities).rename({"weight": "after"})
    return (
        a0.join(a1, on=["target_id", "asset_class"], how="full", coalesce=True)
        .with_columns(pl.col("before").fill_null(0.0), pl.col("after").fill_null(0.0))
        .with_columns((pl.col("after") - pl.col("before")).alias("delta"))
        .select("target_id", "asset_class", "before", "after", "delta")
        .sort("target_id", "asset_class")
    )


def changed_symbols(book: Book, change: Change) -> list[str]:
    """Symbols whose weight moves in some affected target (the optimizer's ``model_change`` reason)."""
    tids = affected_targets(book, change)
    new = apply_change(book, change)
    sel = pl.col("target_id").is_in(tids)
    t0 = blend(book.models, book.targets.filter(sel)).rename({"weight": "w0"})
    t1 = blend(new.models, new.targets.filter(sel)).rename({"weight": "w1"})
    d = t0.join(t1, on=["target_id", "symbol"], how="full", coalesce=True).filter(
        (pl.col("w0").fill_null(0.0) - pl.col("w1").fill_null(0.0)).abs() > 1e-12
    )
    return sorted(set(d["symbol"].to_list()) - {CASH})


def sample_accounts(account_ids: list[str], limit: int | None) -> list[str]:
    """At most `limit` accounts, evenly spread over the sorted ids (all when `limit` is None)."""
    ids = sorted(account_ids)
    if limit is None or len(ids) <= limit:
        return ids
    if limit <= 0:
        return []
    pick = np.unique(np.linspace(0, len(ids) - 1, limit).round().astype(int))
    return [ids[i] for i in pick]


def cascade_trades(book: Book, change: Change, *, risk: RiskModel, limit: int | None = 40) -> pl.DataFrame:
    """What the optimizer would trade, under the changed targets, for (a sample of) the followers.

    Runs `optimize.build.rebalance_account` on the changed book (the households of the sampled
    followers only, so the wash-sale rule sees every account of each household), with the symbols the
    change moves flagged as ``model_change``.

    Parameters
    ----------
    limit : at most this many followers, evenly spread by account id (None: all; about 50 ms each).

    Returns
    -------
    frame with `TRADE_COLUMNS`, one row per optimized follower: turnover a fraction of value (one side),
    money in USD (full precision: round at output), te_* annualized fractions.
    """
    from overlay_core.apps.book_ops import household_book
    from overlay_core.optimize.build import rebalance_account
    from overlay_core.targets.customize import account_targets
    from overlay_core.tax.blocks import tax_state

    tids = affected_targets(book, change)
    followers = book.accounts.filter(pl.col("target_id").is_in(tids))["account_id"].to_list()
    ids = sample_accounts(followers, limit)
    schema = {
        "account_id": pl.String, "target_id": pl.String, "advisor": pl.String, "decision": pl.String,
        "n_orders": pl.Int64, "turnover": pl.Float64, "traded_value": pl.Float64, "net_realized_gain": pl.Float64,
        "losses_harvested": pl.Float64, "est_tax": pl.Float64, "te_before": pl.Float64, "te_after": pl.Float64, "why": pl.String,
    }
    if not ids:
        return pl.DataFrame(schema=schema)
    sub = apply_change(household_book(book, ids), change)
    at = account_targets(sub, risk=risk, account_ids=ids)
    ts = tax_state(sub)
    moved = changed_symbols(book, change)
    meta = {r["account_id"]: r for r in sub.accounts.select("account_id", "target_id", "advisor").iter_rows(named=True)}
    rows = []
    for a in ids:
        p = rebalance_account(sub, a, targets=at, risk=risk, tax_state=ts, model_change=moved)
        e = p.explanation
        rows.append(
            {
                "account_id": a,
                "target_id": meta[a]["target_id"],
                "advisor": meta[a]["advisor"],
                "decision": e.decision,
                "n_orders": e.n_orders,
                "turnover": e.turnover,
                "traded_value": float(p.orders["est_value"].sum()) if p.orders.height else 0.0,
                "net_realized_gain": e.net_realized_gain,
                "losses_harvested": e.losses_harvested,
                "est_tax": e.est_tax,
                "te_before": e.te_before,
                "te_after": e.te_after,
                "why": e.diagnosis or e.why,
            }
        )
    return pl.DataFrame(rows, schema=schema).select(TRADE_COLUMNS)


def trade_summary(trades: pl.DataFrame, *, by: tuple[str, ...] = ("target_id", "advisor")) -> pl.DataFrame:
    """`cascade_trades` aggregated: accounts, trading accounts, orders, traded value, mean turnover,
    realized gains, losses harvested, tax, mean tracking error before/after (by `by`)."""
    return (
        trades.group_by(*by)
        .agg(
            pl.len().cast(pl.Int64).alias("accounts"),
            (pl.col("decision") == "trade").sum().cast(pl.Int64).alias("trading"),
            pl.col("n_orders").sum().alias("orders"),
            pl.col("traded_value").sum(),
            pl.col("turnover").mean().alias("turnover_mean"),
            pl.col("net_realized_gain").sum(),
            pl.col("losses_harvested").sum(),
            pl.col("est_tax").sum(),
            pl.col("te_before").mean().alias("te_before_mean"),
            pl.col("te_after").mean().alias("te_after_mean"),
            (pl.col("decision") == "error").sum().cast(pl.Int64).alias("errors"),
        )
        .sort(*by, nulls_last=True)
    )


def te_long(accounts: pl.DataFrame, *, by: str = "target_id") -> pl.DataFrame:
    """Mean tracking error before/after per `by` in long form [by, when, tracking_error] for a chart
    (from `CascadeResult.accounts` or `cascade_trades`)."""
    return (
        accounts.group_by(by)
        .agg(pl.col("te_before").mean().alias("before"), pl.col("te_after").mean().alias("after"))
        .unpivot(index=by, on=["before", "after"], variable_name="when", value_name="tracking_error")
        .sort(by, "when")
    )
