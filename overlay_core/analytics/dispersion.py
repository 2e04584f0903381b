"""Drift and dispersion of a book: who is outside their bands, how alike accounts of one target are, and why.

- `book_drift(book, *, risk=None)` -> `targets.drift.Drift` of every account against its own target;
- `weight_dispersion(book, drift)` -> per target: accounts, the cross-sectional spread of security
  weights (mean over the target's symbols of the standard deviation across its accounts), of tracking
  error and of drift;
- `dispersion_drivers(book, drift)` -> per account: tracking error, drift, and the candidate drivers
  (customizations, cash weight, embedded gain share, lots at a loss share); `driver_summary` groups them
  (mean tracking error with and without each driver);
- `holding_returns(before, after)` -> per account the return of yesterday's holdings at today's prices
  (no flows, no trades: the pure holding return), from two books of the store;
- `dispersion_over_time(store, *, last=30)` -> per review run (as_of) and target: the spread across
  accounts of tracking error (from the run's evidence) and of the holding return (from the uploads).
"""

from __future__ import annotations

import datetime as dt
from typing import Any


import polars as pl

from overlay_core.book import Book
from overlay_core.contract import CASH, FIRM_WIDE
from overlay_core.holdings import holdings as compute_holdings
from overlay_core.targets import account_targets, risk_model
from overlay_core.targets.drift import Drift, drift


def book_drift(book: Book, *, risk: Any = None, with_risk: bool = True) -> Drift:
    """Drift of every account of the book against its own target (tracking error when `with_risk`)."""
    if risk is None and with_risk:
        risk = risk_model(book)
    targets = account_targets(book, risk=risk)
    return drift(book, targets, risk=risk)


def _target_of(book: Book) -> pl.DataFrame:
    return book.accounts.select("account_id", "target_id")


def weight_dispersion(book: Book, d: Drift) -> pl.DataFrame:
    """Per target: accounts, weight spread (mean and max over symbols of the std across accounts),
    tracking error p10/p50/p90 and max |drift| p50/p90.

    Columns: target_id, accounts, weight_spread, weight_spread_max, te_p10, te_p50, te_p90,
    drift_p50, drift_p90, outside_bands.
    """
    t = _target_of(book)
    w = d.securities.join(t, on="account_id").filter(pl.col("symbol") != CASH)
    # a symbol an account does not hold counts as weight 0 for that account
    n = t.group_by("target_id").agg(pl.len().alias("accounts"))
    per_sym = (
        w.group_by("target_id", "symbol")
        .agg(pl.col("weight").sum().alias("s1"), (pl.col("weight") ** 2).sum().alias("s2"))
        .join(n, on="target_id")
        .with_columns(
            ((pl.col("s2") / pl.col("accounts") - (pl.col("s1") / pl.col("accounts")) ** 2).clip(0.0).sqrt()).alias("std")
        )
    )
    spread = per_sym.group_by("target_id").agg(pl.col("std").mean().alias("weight_spread"), pl.col("std").max().alias("weight_spread_max"))
    s = d.summary.join(t, on="account_id")
    stats = s.group_by("target_id").agg(
        pl.col("tracking_error").quantile(0.1).alias("te_p10"),
        pl.col("tracking_error").quantile(0.5).alias("te_p50"),
        pl.col("tracking_error").quantile(0.9).alias("te_p90"),
        pl.col("max_abs_drift").quantile(0.5).alias("drift_p50"),
        pl.col("max_abs_drift").quantile(0.9).alias("drift_p90"),
        pl.col("needs_rebalance").sum().alias("outside_bands"),
    )
    return n.join(spread, on="target_id", how="left").join(stats, on="target_id", how="left").sort("target_id")


def dispersion_drivers(book: Book, d: Drift) -> pl.DataFrame:
    """Per account: target_id, tracking_error, max_abs_drift, and the drivers: customizations (restriction
    rows of the account), cash_weight, gain_share (embedded gains / value, taxable lots), loss_share
    (value of lots at a loss / value)."""
    h = compute_holdings(book)
    px = book.price_map
    cust = (
        book.restrictions.filter(pl.col("account_id") != FIRM_WIDE).group_by("account_id").agg(pl.len().alias("customizations"))
        if book.restrictions.height
        else pl.DataFrame(schema={"account_id": pl.String(), "customizations": pl.UInt32()})
    )
    lots = book.lots.join(book.accounts.select("account_id", "tax_status"), on="account_id").with_columns(
        (pl.col("shares") * pl.col("symbol").replace_strict(dict(px), default=None, return_dtype=pl.Float64)).alias("mv")
    )
    tax = lots.filter(pl.col("tax_status") == "taxable").group_by("account_id").agg(
        (pl.col("mv") - pl.col("cost_basis").fill_null(0.0)).sum().alias("_gain"),
        pl.col("mv").filter(pl.col("mv") < pl.col("cost_basis")).sum().alias("_loss_mv"),
    )
    cash_w = h.weights.filter(pl.col("symbol") == CASH).select("account_id", pl.col("weight").alias("cash_weight"))
    out = (
        d.summary.select("account_id", "tracking_error", "max_abs_drift", "needs_rebalance")
        .join(_target_of(book), on="account_id", how="left")
        .join(cust, on="account_id", how="left")
        .join(cash_w, on="account_id", how="left")
        .join(tax, on="account_id", how="left")
        .join(h.totals.select("account_id", "value"), on="account_id", how="left")
    )
    return out.with_columns(
        pl.col("customizations").fill_null(0).cast(pl.Int64),
        pl.col("cash_weight").fill_null(0.0),
        (pl.col("_gain").fill_null(0.0) / pl.col("value")).alias("gain_share"),
        (pl.col("_loss_mv").fill_null(0.0) / pl.col("value")).alias("loss_share"),
    ).drop("_gain", "_loss_mv").sort("account_id")


def driver_summary(drivers: pl.DataFrame) -> pl.DataFrame:
    """What drives tracking error: for each driver, the accounts with and without it and their mean and
    median tracking error. Drivers: customized (>= 1 restriction), cash (weight > 2 %), tax-locked
    (embedded gains > 20 % of value), harvestable (lots at a loss > 5 % of value)."""
    flags = {
        "customized": pl.col("customizations") > 0,
        "cash above 2%": pl.col("cash_weight") > 0.02,
        "embedded gains above 20%": pl.col("gain_share") > 0.20,
        "lots at a loss above 5%": pl.col("loss_share") > 0.05,
    }
    rows = []
    for name, cond in flags.items():
        yes = drivers.filter(cond)
        no = drivers.filter(~cond)
        rows.append({
            "driver": name,
            "accounts_with": yes.height,
            "te_with": yes["tracking_error"].mean() if yes.height else None,
            "te_median_with": yes["tracking_error"].median() if yes.height else None,
            "accounts_without": no.height,
            "te_without": no["tracking_error"].mean() if no.height else None,
            "te_median_without": no["tracking_error"].median() if no.height else None,
        })
    return pl.DataFrame(rows, schema={
        "driver": pl.String(), "accounts_with": pl.Int64(), "te_with": pl.Float64(), "te_median_with": pl.Float64(),
        "accounts_without": pl.Int64(), "te_without": pl.Float64(), "te_median_without": pl.Float64(),
    })


def holding_returns(before: Book, after: Book) -> pl.DataFrame:
    """account_id, target_id, return: yesterday's holdings (lots and cash of `before`) valued at `after`'s
    closes over `before`'s (cash earns 0). Symbols without a close in `after` keep their old close."""
    p0 = before.price_map
    p1 = after.price_map
    mv = before.lots.group_by("account_id", "symbol").agg(pl.col("shares").sum())
    mv = mv.with_columns(
        (pl.col("shares") * pl.col("symbol").replace_strict(dict(p0), default=None, return_dtype=pl.Float64)).alias("v0"),
        (pl.col("shares") * pl.col("symbol").replace_strict({s: p1.get(s, p0.get(s)) for s in p0}, default=None, return_dtype=pl.Float64)).alias("v1"),
    ).group_by("account_id").agg(pl.col("v0").sum(), pl.col("v1").sum())
    acc = before.accounts.select("account_id", "target_id", "cash").join(mv, on="account_id", how="left")
    return acc.select(
        "account_id", "target_id",
        ((pl.col("v1").fill_null(0.0) + pl.col("cash")) / (pl.col("v0").fill_null(0.0) + pl.col("cash")) - 1.0).alias("return"),
    )


def dispersion_over_time(store: Any, *, last: int = 30, kinds: tuple[str, ...] = ("review", "simulation")) -> pl.DataFrame:
    """Per stored review run (the last `last` as_of dates) and target: accounts, tracking error p10/p50/p90
    and its standard deviation across accounts (``te_after`` of the evidence, else ``te_before``), and
    the standard deviation across accounts of the holding return since the previous upload.

    Columns: as_of, target_id, accounts, te_p10, te_p50, te_p90, te_std, return_std, return_p10, return_p90.
    """
    runs = store.runs()
    if runs.height == 0:
        return pl.DataFrame()
    runs = runs.filter(pl.col("kind").is_in(list(kinds))).sort("as_of", "started_at" if "started_at" in runs.columns else "run_id")
    runs = runs.unique("as_of", keep="last", maintain_order=True).tail(last)
    out = []
    prev_book: Book | None = None
    prev_as_of: dt.date | None = None
    for r in runs.iter_rows(named=True):
        book = store.load_upload(upload_id=r["upload_id"])
        res = store.run_results(r["run_id"])
        te = res.select("account_id", pl.coalesce("te_after", "te_before").alias("te")).join(_target_of(book), on="account_id")
        g = te.group_by("target_id").agg(
            pl.len().alias("accounts"),
            pl.col("te").quantile(0.1).alias("te_p10"), pl.col("te").quantile(0.5).alias("te_p50"),
            pl.col("te").quantile(0.9).alias("te_p90"), pl.col("te").std().alias("te_std"),
        )
        if prev_book is not None and prev_as_of != book.as_of:
            hr = holding_returns(prev_book, book).group_by("target_id").agg(
                pl.col("return").std().alias("return_std"), pl.col("return").quantile(0.1).alias("return_p10"), pl.col("return").quantile(0.9).alias("return_p90")
            )
            g = g.join(hr, on="target_id", how="left")
        else:
            g = g.with_columns(pl.lit(None, pl.Float64).alias("return_std"), pl.lit(None, pl.Float64).alias("return_p10"), pl.lit(None, pl.Float64).alias("return_p90"))
        out.append(g.with_columns(pl.lit(r["as_of"]).cast(pl.Date).alias("as_of")))
        prev_book, prev_as_of = book, book.as_of
    if not out:
        return pl.DataFrame()
    return pl.concat(out, how="vertical_relaxed").select(
        "as_of", "target_id", "accounts", "te_p10", "te_p50", "te_p90", "te_std", "return_std", "return_p10", "return_p90"
    ).sort("as_of", "target_id")


