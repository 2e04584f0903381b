"""A firm-level summary of any book (`firm_summary`) and the demo book's shape statistics (`book_statistics`).

`firm_summary` is what `overlay demo` prints (accounts by tax status, status, target and advisor, AUM,
lots, customization counts); the review command can reuse it. `book_statistics` gives the figures the
demo book is tested against (docs/demo_book.md lists the documented ranges).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import polars as pl

from overlay_core.book import Book
from overlay_core.contract import FIRM_WIDE
from overlay_core.tax.holding import is_long_term


def _values(book: Book) -> pl.DataFrame:
    """account_id, invested (USD at the as_of close), cash, total."""
    prices = book.prices.select("symbol", "close")
    inv = book.lots.join(prices, on="symbol", how="left").group_by("account_id").agg((pl.col("shares") * pl.col("close")).sum().alias("invested"))
    return (
        book.accounts.select("account_id", "cash")
        .join(inv, on="account_id", how="left")
        .with_columns(pl.col("invested").fill_null(0.0))
        .with_columns((pl.col("invested") + pl.col("cash")).alias("total"))
    )


@dataclass(frozen=True)
class FirmSummary:
    """The firm at a glance.

    Attributes
    ----------
    as_of, trade_date : ISO dates.
    totals : accounts, households, advisors, securities, models, targets, lots, positions, AUM (USD),
        cash (USD), transactions, pending orders, quarantined accounts.
    by_tax_status, by_status, by_target, by_advisor : frames of (key, accounts, aum) sorted by aum.
    customizations : restriction kind (and account settings such as cash needs and gain budgets) ->
        number of accounts that have one.
    """

    as_of: str
    trade_date: str
    totals: dict[str, float]
    by_tax_status: pl.DataFrame
    by_status: pl.DataFrame
    by_target: pl.DataFrame
    by_advisor: pl.DataFrame
    customizations: dict[str, int]


def firm_summary(book: Book) -> FirmSummary:
    """Summarize `book` (any validated book, not only the demo's)."""
    vals = _values(book)
    acc = book.accounts.join(vals.select("account_id", "total"), on="account_id", how="left")

    def by(col: str) -> pl.DataFrame:
        return (
            acc.with_columns(pl.col(col).fill_null("(none)") if col in acc.columns else pl.lit("(none)").alias(col))
            .group_by(col)
            .agg(pl.len().alias("accounts"), pl.col("total").sum().alias("aum"))
            .sort("aum", descending=True)
        )

    r = book.restrictions.filter(pl.col("account_id") != FIRM_WIDE)
    custom = {k: int(r.filter(pl.col("kind") == k)["account_id"].n_unique()) for k in ("never_buy", "never_sell", "screen", "sector_max", "asset_class_weight", "substitute")}
    custom["cash_need"] = int(acc.filter(pl.col("cash_need") > 0).height)
    custom["gain_budget"] = int(acc.filter(pl.col("gain_budget").is_not_null()).height)
    custom["min_cash_weight"] = int(acc.filter(pl.col("min_cash_weight") > 0).height)
    custom["firm_wide_restrictions"] = int(book.restrictions.filter(pl.col("account_id") == FIRM_WIDE).height)
    totals: dict[str, float] = {
        "accounts": acc.height,
        "households": int(acc["household_id"].n_unique()),
        "advisors": int(acc["advisor"].n_unique()) if "advisor" in acc.columns else 0,
        "securities": book.securities.height,
        "models": int(book.models["model_id"].n_unique()),
        "targets": int(book.targets["target_id"].n_unique()),
        "lots": book.lots.height,
        "positions": int(book.lots.select("account_id", "symbol").unique().height),
        "aum": float(vals["total"].sum()),
        "cash": float(vals["cash"].sum()),
        "transactions": book.transactions.height,
        "pending_orders": book.pending_orders.height,
        "quarantined": book.quarantined.height,
    }
    return FirmSummary(
        as_of=book.as_of.isoformat(),
        trade_date=book.trade_date.isoformat(),
        totals=totals,
        by_tax_status=by("tax_status"),
        by_status=by("status"),
        by_target=by("target_id"),
        by_advisor=by("advisor"),
        customizations=custom,
    )


def book_statistics(book: Book) -> dict[str, float]:
    """Shape statistics of a book's lots, accounts and customizations (fractions in [0, 1]).

    - lots_per_position: mean lots per (account, symbol);
    - share_lots_at_loss: lots whose value at the as_of close is below their basis (taxable accounts);
    - share_lots_short_term: lots not long-term at the trade date (taxable accounts);
    - share_lots_wash_adjusted: lots whose `acquired` differs from `purchase_date` (a wash-sale carry-over);
    - share_<kind>: accounts with at least one restriction of that kind; share_cash_need; share_gain_budget
      (of taxable accounts); share_legacy_concentrated (accounts with one stock over 15% of value);
    - share_taxable / share_tax_deferred / share_tax_exempt; households_<k>: share of households of k accounts;
    - recent_loss_sales / recent_buys: transactions in the 30 days before the trade date.
    """
    lots = book.lots.join(book.accounts.select("account_id", "tax_status"), on="account_id")
    prices = book.prices.select("symbol", "close")
    taxable = lots.filter(pl.col("tax_status") == "taxable").join(prices, on="symbol")
    n_acc = book.accounts.height
    out: dict[str, float] = {}
    pos = lots.group_by("account_id", "symbol").len()
    out["lots_per_position"] = float(pos["len"].mean() or 0.0)
    out["max_lots_per_position"] = float(pos["len"].max() or 0)
    out["lots_per_account"] = lots.height / max(1, n_acc)
    out["share_lots_at_loss"] = float((taxable["shares"] * taxable["close"] < taxable["cost_basis"]).mean() or 0.0)
    lt = is_long_term(taxable["acquired"].to_numpy().astype("datetime64[D]"), book.trade_date)
    out["share_lots_short_term"] = float(1.0 - lt.mean()) if len(lt) else 0.0
    out["share_lots_wash_adjusted"] = float((taxable["acquired"] != taxable["purchase_date"]).mean() or 0.0)
    r = book.restrictions.filter(pl.col("account_id") != FIRM_WIDE)
    for k in ("never_buy", "never_sell", "screen", "sector_max", "asset_class_weight", "substitute"):
        out[f"share_{k}"] = r.filter(pl.col("kind") == k)["account_id"].n_unique() / max(1, n_acc)
    acc = book.accounts
    out["share_cash_need"] = acc.filter(pl.col("cash_need") > 0).height / max(1, n_acc)
    n_tax = acc.filter(pl.col("tax_status") == "taxable").height
    out["share_gain_budget"] = acc.filter(pl.col("gain_budget").is_not_null() & (pl.col("tax_status") == "taxable")).height / max(1, n_tax)
    for s in ("taxable", "tax_deferred", "tax_exempt"):
        out[f"share_{s}"] = acc.filter(pl.col("tax_status") == s).height / max(1, n_acc)
    hh = acc.group_by("household_id").len()
    for k in (1, 2, 3, 4):
        out[f"households_{k}"] = hh.filter(pl.col("len") == k).height / max(1, hh.height)
    out["households_max"] = float(hh["len"].max() or 0)
    vals = _values(book)
    pv = (
        book.lots.join(book.securities.select("symbol", "type"), on="symbol")
        .filter(pl.col("type") == "equity")
        .join(prices, on="symbol")
        .group_by("account_id", "symbol")
        .agg((pl.col("shares") * pl.col("close")).sum().alias("v"))
        .join(vals.select("account_id", "total"), on="account_id")
        .filter(pl.col("v") > 0.15 * pl.col("total"))
    )
    out["share_legacy_concentrated"] = pv["account_id"].n_unique() / max(1, n_acc)
    since = book.trade_date - dt.timedelta(days=30)
    recent = book.transactions.filter(pl.col("date") >= since)
    out["recent_loss_sales"] = float(recent.filter((pl.col("side") == "sell") & (pl.col("realized_gain") < 0)).height)
    out["recent_buys"] = float(recent.filter(pl.col("side") == "buy").height)
    out["pending_orders"] = float(book.pending_orders.height)
    return out
