"""What-if edits of a `Book` for the apps: a household's sub-book, and orders applied as if filled.

Both return a new `Book` (frozen; the given one is never modified). They change no rule of the engine:
the optimizer, the tax engine and the targets run unchanged on the result.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from typing import Iterable

import polars as pl

from overlay_core.book import Book
from overlay_core.contract import FIRM_WIDE
from overlay_core.errors import ConfigError


def household_book(book: Book, account_ids: Iterable[str]) -> Book:
    """The book cut down to the households of `account_ids` (every account of each household kept).

    The securities, prices, price history, models, targets, policy and firm-wide restrictions stay, so
    targets, risk and the wash-sale rule (household-wide) give the same answer for these accounts as on
    the whole book, at a fraction of the cost.

    Raises
    ------
    ConfigError : an account is not in the book.
    """
    wanted = list(dict.fromkeys(account_ids))
    acc = book.accounts
    unknown = sorted(set(wanted) - set(acc["account_id"].to_list()))
    if unknown:
        raise ConfigError(f"account(s) {', '.join(unknown[:5])} not in the book's accounts ({acc.height} accounts)")
    hh = acc.filter(pl.col("account_id").is_in(wanted))["household_id"].unique()
    keep = acc.filter(pl.col("household_id").is_in(hh.implode()))["account_id"]
    ids = keep.implode()

    def cut(df: pl.DataFrame) -> pl.DataFrame:
        return df.filter(pl.col("account_id").is_in(ids))

    return replace(
        book,
        accounts=cut(acc),
        lots=cut(book.lots),
        restrictions=book.restrictions.filter(pl.col("account_id").is_in(ids) | (pl.col("account_id") == FIRM_WIDE)),
        transactions=cut(book.transactions),
        pending_orders=cut(book.pending_orders),
    )


def apply_orders(book: Book, orders: pl.DataFrame, *, lot_prefix: str = "N") -> Book:
    """The book after `orders` filled at their ``est_price`` on the book's trade date.

    A SELL relieves its lot (``lot_id``; the lot leaves when nothing is left) and adds its value to the
    account's cash; a BUY opens a lot (``<lot_prefix><trade date><n>``, acquired and purchased on the trade
    date, basis = value) and spends its value. The fills are also recorded as ``transactions`` (with the
    realized gain of taxable sells), so the wash-sale look-back of a later day sees them. Pending orders
    are left as they are.

    Parameters
    ----------
    orders : frame with the trade file's columns ``account_id, symbol, side, shares, est_price, lot_id,
        est_realized_gain`` (as `optimize.build.rebalance_account` returns).

    Raises
    ------
    ConfigError : a SELL names a lot the account does not have, or sells more than the lot holds.
    """
    if orders.height == 0:
        return book
    td = book.trade_date
    sells = orders.filter(pl.col("side") == "SELL")
    buys = orders.filter(pl.col("side") == "BUY")
    lots = book.lots
    if sells.height:
        relief = sells.group_by("account_id", "lot_id").agg(pl.col("shares").sum().alias("_sold"))
        joined = relief.join(lots.select("account_id", "lot_id", "shares"), on=["account_id", "lot_id"], how="left")
        missing = joined.filter(pl.col("shares").is_null())
        if missing.height:
            r = missing.row(0, named=True)
            raise ConfigError(f"SELL of lot {r['lot_id']!r} of account {r['account_id']}: no such lot")
        over = joined.filter(pl.col("_sold") > pl.col("shares") * (1 + 1e-12) + 1e-9)
        if over.height:
            r = over.row(0, named=True)
            raise ConfigError(f"SELL of {r['_sold']} shares of lot {r['lot_id']!r} of account {r['account_id']}: the lot holds {r['shares']}")
        lots = (
            lots.join(relief, on=["account_id", "lot_id"], how="left")
            .with_columns(
                (pl.col("_sold").fill_null(0.0) / pl.col("shares")).alias("_frac"),
                (pl.col("shares") - pl.col("_sold").fill_null(0.0)).alias("_left"),
            )
            .filter(pl.col("_left") > 1e-9)
            .with_columns(
                pl.col("_left").alias("shares"),
                (pl.col("cost_basis") * (1 - pl.col("_frac"))).alias("cost_basis"),
            )
            .select(book.lots.columns)
        )
    if buys.height:
        new = buys.with_row_index("_n", offset=1).select(
            "account_id",
            (pl.lit(f"{lot_prefix}{td:%Y%m%d}-") + pl.col("_n").cast(pl.String)).alias("lot_id"),
            "symbol",
            pl.col("shares").cast(pl.Float64),
            (pl.col("shares") * pl.col("est_price")).alias("cost_basis"),
            pl.lit(td).alias("acquired"),
            pl.lit(td).alias("purchase_date"),
        )
        lots = pl.concat([lots, new.cast(lots.schema)])  # type: ignore[arg-type]
    flows = orders.group_by("account_id").agg(
        (pl.when(pl.col("side") == "SELL").then(1.0).otherwise(-1.0) * pl.col("shares") * pl.col("est_price")).sum().alias("_flow")
    )
    accounts = (
        book.accounts.join(flows, on="account_id", how="left")
        .with_columns((pl.col("cash") + pl.col("_flow").fill_null(0.0)).alias("cash"))
        .select(book.accounts.columns)
    )
    tx = orders.select(
        "account_id",
        pl.lit(td).alias("date"),
        "symbol",
        pl.col("side").str.to_lowercase().alias("side"),
        pl.col("shares").cast(pl.Float64),
        pl.col("est_price").alias("price"),
        "lot_id",
        pl.col("est_realized_gain").alias("realized_gain"),
    )
    transactions = pl.concat([book.transactions, tx.cast(book.transactions.schema)])  # type: ignore[arg-type]
    return replace(book, lots=lots, accounts=accounts, transactions=transactions)


def advance(book: Book, *, days: int) -> Book:
    """The same book dated `days` calendar days later (prices unchanged; pending orders dropped): lots age
    (terms), the wash-sale look-back moves on, and the year's realized gains restart at 0 when the
    trade date enters a new calendar year.

    Used by the what-if transition schedule, which plans at today's prices (no market forecast).
    """
    step = dt.timedelta(days=days)
    as_of, trade_date = book.as_of + step, book.trade_date + step
    accounts = book.accounts
    if trade_date.year != book.trade_date.year:
        accounts = accounts.with_columns(pl.lit(0.0).alias("ytd_realized_st"), pl.lit(0.0).alias("ytd_realized_lt"))
    return replace(book, as_of=as_of, trade_date=trade_date, accounts=accounts, pending_orders=book.pending_orders.clear())


def add_realized(book: Book, orders: pl.DataFrame) -> Book:
    """The book with the orders' realized gains (taxable SELLs, by term) added to ``ytd_realized_st/lt``."""
    if orders.height == 0:
        return book
    g = orders.filter(pl.col("est_realized_gain").is_not_null()).group_by("account_id").agg(
        pl.col("est_realized_gain").filter(pl.col("term") == "short").sum().alias("_st"),
        pl.col("est_realized_gain").filter(pl.col("term") == "long").sum().alias("_lt"),
    )
    accounts = (
        book.accounts.join(g, on="account_id", how="left")
        .with_columns(
            (pl.col("ytd_realized_st").fill_null(0.0) + pl.col("_st").fill_null(0.0)).alias("ytd_realized_st"),
            (pl.col("ytd_realized_lt").fill_null(0.0) + pl.col("_lt").fill_null(0.0)).alias("ytd_realized_lt"),
        )
        .select(book.accounts.columns)
    )
    return replace(book, accounts=accounts)
