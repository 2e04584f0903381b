"""Each account's holdings after its pending orders, vectorized over the whole book.

The data contract treats `pending_orders` as filled on the trade date at today's close: a pending BUY
adds shares and spends ``shares x close`` of cash, a pending SELL removes shares and adds
``shares x close`` of cash. `holdings(book)` applies them to `lots` and `accounts.cash` and values
every position at today's close (`prices.close`).

Conventions
-----------
- ``$CASH`` is one row per account: ``shares`` = cash in USD, ``price`` = 1.0, asset class ``cash``.
- ``weight`` = ``value / account value`` (cash included). An account whose value is not > 0 gets
  weight 1.0 on ``$CASH`` and 0 elsewhere (nothing to weigh).
- A pending SELL larger than the position leaves 0 shares (never a short position); the tax engine and
  the upload reader report such orders.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from overlay_core.book import Book
from overlay_core.contract import CASH
from overlay_core.errors import DataError, Level, Problem

#: a net position smaller than this many shares is treated as closed (float noise of pending sells)
SHARES_EPS = 1e-9

POSITIONS_SCHEMA: dict[str, pl.DataType] = {
    "account_id": pl.String(),
    "symbol": pl.String(),
    "shares": pl.Float64(),
    "price": pl.Float64(),
    "value": pl.Float64(),
    "weight": pl.Float64(),
}


@dataclass(frozen=True)
class Holdings:
    """Positions of every account of a book after pending orders.

    Attributes
    ----------
    positions : frame [account_id, symbol, shares, price, value, weight], one row per held symbol and
        one ``$CASH`` row per account; sorted by account_id, symbol.
    totals : frame [account_id, value, cash], one row per account of the book (USD).
    """

    positions: pl.DataFrame
    totals: pl.DataFrame

    @property
    def weights(self) -> pl.DataFrame:
        """Frame [account_id, symbol, weight] (``$CASH`` included)."""
        return self.positions.select("account_id", "symbol", "weight")

    def by_asset_class(self, securities: pl.DataFrame) -> pl.DataFrame:
        """Weights by asset class: frame [account_id, asset_class, weight] (``$CASH`` is class ``cash``)."""
        return group_weights(self.weights, securities, by="asset_class")

    def by_sector(self, securities: pl.DataFrame) -> pl.DataFrame:
        """Weights by sector: frame [account_id, sector, weight]; securities without a sector (and cash)
        are left out."""
        return group_weights(self.weights, securities, by="sector").filter(pl.col("sector").is_not_null())


def group_weights(weights: pl.DataFrame, securities: pl.DataFrame, *, by: str, key: str = "account_id") -> pl.DataFrame:
    """Sum security weights by a column of `securities` (``asset_class`` or ``sector``).

    Parameters
    ----------
    weights : frame [key, symbol, weight].
    securities : the book's securities (symbol, asset_class, sector, ...).
    by : the column of `securities` to group by; ``$CASH`` gets asset class ``cash`` (sector null).
    key : the column identifying one weight vector (``account_id`` or ``target_id``).

    Returns
    -------
    frame [key, by, weight], sorted by key then `by`.
    """
    attrs = securities.select("symbol", by)
    cash_value = "cash" if by == "asset_class" else None
    cash_row = pl.DataFrame({"symbol": [CASH], by: [cash_value]}, schema={"symbol": pl.String, by: pl.String})
    attrs = pl.concat([attrs.filter(pl.col("symbol") != CASH), cash_row])
    return (
        weights.join(attrs, on="symbol", how="left")
        .group_by(key, by)
        .agg(pl.col("weight").sum())
        .sort(key, by, nulls_last=True)
    )


def holdings(book: Book) -> Holdings:
    """Every account's positions after pending orders, at today's close.

    Parameters
    ----------
    book : the day's book.

    Returns
    -------
    Holdings. Raises `DataError` if a held or pending symbol has no price (the upload reader
    quarantines such accounts, so this only happens on a hand-built book).
    """
    accounts = book.accounts.select("account_id", "cash")
    ids = accounts.select("account_id")
    lot_shares = (
        book.lots.join(ids, on="account_id", how="semi")
        .group_by("account_id", "symbol")
        .agg(pl.col("shares").sum())
    )
    pending = book.pending_orders.join(ids, on="account_id", how="semi").select(
        "account_id",
        "symbol",
        pl.when(pl.col("side") == "buy").then(pl.col("shares")).otherwise(-pl.col("shares")).alias("shares"),
    )
    prices = book.prices.select("symbol", pl.col("close").alias("price"))
    net = (
        pl.concat([lot_shares, pending])
        .group_by("account_id", "symbol")
        .agg(pl.col("shares").sum())
        .join(prices, on="symbol", how="left")
    )
    missing = net.filter(pl.col("price").is_null())
    if missing.height:
        problems = [
            Problem("prices", f"account {a}", "symbol", s, "a close for every held or pending symbol", Level.ACCOUNT, a)
            for a, s in missing.select("account_id", "symbol").iter_rows()
        ]
        raise DataError("held or pending symbols without a price", problems)
    pending_cash = (
        pending.join(prices, on="symbol", how="left")
        .group_by("account_id")
        .agg((-(pl.col("shares") * pl.col("price"))).sum().alias("pending_cash"))
    )
    cash = (
        accounts.join(pending_cash, on="account_id", how="left")
        .select("account_id", (pl.col("cash") + pl.col("pending_cash").fill_null(0.0)).alias("cash"))
    )
    securities_rows = net.filter(pl.col("shares") > SHARES_EPS).select(
        "account_id", "symbol", "shares", "price", (pl.col("shares") * pl.col("price")).alias("value")
    )
    cash_rows = cash.select(
        "account_id",
        pl.lit(CASH).alias("symbol"),
        pl.col("cash").alias("shares"),
        pl.lit(1.0).alias("price"),
        pl.col("cash").alias("value"),
    )
    rows = pl.concat([securities_rows, cash_rows])
    totals = (
        rows.group_by("account_id")
        .agg(pl.col("value").sum())
        .join(cash, on="account_id", how="left")
        .sort("account_id")
    )
    positions = (
        rows.join(totals.select("account_id", pl.col("value").alias("_total")), on="account_id", how="left")
        .with_columns(
            pl.when(pl.col("_total") > 0)
            .then(pl.col("value") / pl.col("_total"))
            .when(pl.col("symbol") == CASH)
            .then(1.0)
            .otherwise(0.0)
            .alias("weight")
        )
        .drop("_total")
        .sort("account_id", "symbol")
        .cast(POSITIONS_SCHEMA)  # type: ignore[arg-type]
    )
    return Holdings(positions=positions, totals=totals.select("account_id", "value", "cash"))
