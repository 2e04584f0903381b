"""Data checks against the previous stored day: suspicious data puts the accounts concerned on hold.

A split whose lots are not yet adjusted, a price feed error or a stale price must not produce mass
sales. Before any account is optimized, today's `Book` is compared with the previous stored day's
(`Store.previous_upload` / `load_upload`); accounts concerned are held for the day (decision ``held``,
reason ``data_check``) with a detail naming what was found. Thresholds are the policy's
``[data_check]`` section:

- **price jump**: ``|close / previous close - 1| > max_price_jump`` for a symbol priced both days;
- **stale price**: a ``prices.date`` more than ``max_stale_days`` NYSE business days before ``as_of``
  (a price without ``date`` is taken as of ``as_of``);
- **account value jump**: ``|value / previous value - 1| > max_value_jump`` with no transactions of
  the account dated after the previous day's as_of (a deposit or a trade explains a jump; nothing
  else does). Value = cash + shares x close of the lots, before pending orders, each day with its own
  data.

The accounts concerned by a symbol are those that hold it (lots or pending orders) and those whose
target contains it (they would buy it at a suspect price). All checks are vectorized over the book.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import polars as pl

from overlay_core import calendar
from overlay_core.book import Book
from overlay_core.policy import DataCheckPolicy

HOLD_REASON = "data_check"

FINDINGS_SCHEMA: dict[str, pl.DataType] = {
    "check": pl.String(),  # price_jump | stale_price | value_jump
    "symbol": pl.String(),
    "account_id": pl.String(),
    "today": pl.Float64(),
    "previous": pl.Float64(),
    "change": pl.Float64(),
    "detail": pl.String(),
}
HELD_SCHEMA: dict[str, pl.DataType] = {"account_id": pl.String(), "reason": pl.String(), "detail": pl.String()}


@dataclass(frozen=True)
class DataCheck:
    """The outcome of `check_data`.

    Attributes
    ----------
    findings : frame [check, symbol, account_id, today, previous, change, detail], one row per suspicious
        symbol (price_jump, stale_price) or account (value_jump).
    held : frame [account_id, reason, detail], one row per account held for the day (reason ``data_check``;
        detail lists every finding that concerns it, ``;``-separated); sorted by account_id.
    """

    findings: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=FINDINGS_SCHEMA))
    held: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=HELD_SCHEMA))

    @property
    def held_accounts(self) -> frozenset[str]:
        return frozenset(self.held["account_id"].to_list())


def account_values(book: Book) -> pl.DataFrame:
    """Each account's value before pending orders: cash + sum of lot shares x close.

    Returns
    -------
    frame [account_id, value] (USD), one row per account of `book.accounts`. A lot whose symbol has no
    price counts 0 (the upload quarantines such accounts).
    """
    pos = (
        book.lots.join(book.prices.select("symbol", "close"), on="symbol", how="left")
        .group_by("account_id")
        .agg(invested=(pl.col("shares") * pl.col("close").fill_null(0.0)).sum())
    )
    return (
        book.accounts.select("account_id", "cash")
        .join(pos, on="account_id", how="left")
        .select("account_id", value=pl.col("cash") + pl.col("invested").fill_null(0.0))
    )


def _accounts_of_symbols(book: Book, symbols: pl.DataFrame) -> pl.DataFrame:
    """[account_id, symbol, detail] for accounts that hold (lots, pending) or target each symbol."""
    held = pl.concat(
        [
            book.lots.select("account_id", "symbol"),
            book.pending_orders.select("account_id", "symbol"),
            book.accounts.select("account_id", "target_id")
            .join(book.targets.select("target_id", "model_id"), on="target_id")
            .join(book.models.select("model_id", "symbol"), on="model_id")
            .select("account_id", "symbol"),
        ]
    ).unique()
    return held.join(symbols.select("symbol", "detail"), on="symbol")


def check_data(
    book: Book,
    previous: Book | None,
    *,
    policy: DataCheckPolicy | None = None,
) -> DataCheck:
    """Compare `book` with the `previous` stored day's book; return the findings and the accounts to hold.

    Parameters
    ----------
    book : today's book.
    previous : the previous stored day's book, or None (the first day: only the stale-price check runs).
    policy : thresholds; default ``book.policy.data_check``.
    """
    pol = policy or book.policy.data_check
    findings: list[pl.DataFrame] = []

    # stale prices (no previous day needed)
    if "date" in book.prices.columns:
        dated = book.prices.filter(pl.col("date").is_not_null() & (pl.col("date") < book.as_of))
        if dated.height:
            lag = {d: _business_days_between(d, book.as_of) for d in dated["date"].unique().to_list()}
            stale = dated.with_columns(
                lag=pl.col("date").replace_strict(lag, return_dtype=pl.Int64)
            ).filter(pl.col("lag") > pol.max_stale_days)
            if stale.height:
                findings.append(
                    stale.select(
                        check=pl.lit("stale_price"),
                        symbol="symbol",
                        account_id=pl.lit(None, dtype=pl.String),
                        today="close",
                        previous=pl.lit(None, dtype=pl.Float64),
                        change=pl.col("lag").cast(pl.Float64),
                        detail=pl.format(
                            "stale price of {}: dated {}, {} business days before {} (max {})",
                            "symbol", pl.col("date").cast(pl.String), "lag", pl.lit(book.as_of.isoformat()),
                            pl.lit(pol.max_stale_days),
                        ),
                    )
                )

    if previous is not None:
        jumps = (
            book.prices.select("symbol", "close")
            .join(previous.prices.select("symbol", prev="close"), on="symbol")
            .with_columns(change=pl.col("close") / pl.col("prev") - 1.0)
            .filter(pl.col("change").abs() > pol.max_price_jump)
        )
        if jumps.height:
            findings.append(
                jumps.select(
                    check=pl.lit("price_jump"),
                    symbol="symbol",
                    account_id=pl.lit(None, dtype=pl.String),
                    today="close",
                    previous="prev",
                    change="change",
                    detail=pl.format(
                        "price of {} moved {}% ({} -> {}; max {}%)",
                        "symbol", (pl.col("change") * 100).round(1), "prev", "close", pl.lit(round(pol.max_price_jump * 100, 1)),
                    ),
                )
            )
        moved = (
            book.transactions.filter(pl.col("date") > previous.as_of).select("account_id").unique()
            if book.transactions.height
            else pl.DataFrame(schema={"account_id": pl.String})
        )
        values = (
            account_values(book)
            .join(account_values(previous).rename({"value": "prev"}), on="account_id")
            .filter(pl.col("prev") > 0)
            .with_columns(change=pl.col("value") / pl.col("prev") - 1.0)
            .filter(pl.col("change").abs() > pol.max_value_jump)
            .join(moved, on="account_id", how="anti")
        )
        if values.height:
            findings.append(
                values.select(
                    check=pl.lit("value_jump"),
                    symbol=pl.lit(None, dtype=pl.String),
                    account_id="account_id",
                    today="value",
                    previous="prev",
                    change="change",
                    detail=pl.format(
                        "account value moved {}% ({} -> {}) with no transactions since {} (max {}%)",
                        (pl.col("change") * 100).round(1), pl.col("prev").round(2), pl.col("value").round(2),
                        pl.lit(previous.as_of.isoformat()), pl.lit(round(pol.max_value_jump * 100, 1)),
                    ),
                )
            )

    if not findings:
        return DataCheck()
    found = pl.concat([f.cast(FINDINGS_SCHEMA) for f in findings]).sort("check", "symbol", "account_id", nulls_last=True)
    by_symbol = _accounts_of_symbols(book, found.filter(pl.col("symbol").is_not_null()))
    by_account = found.filter(pl.col("account_id").is_not_null()).select("account_id", "detail")
    held = (
        pl.concat([by_symbol.select("account_id", "detail"), by_account])
        .unique()
        .sort("account_id", "detail")
        .group_by("account_id", maintain_order=True)
        .agg(detail=pl.col("detail").str.join("; "))
        .select("account_id", reason=pl.lit(HOLD_REASON), detail="detail")
        .sort("account_id")
    )
    return DataCheck(findings=found, held=held.cast(HELD_SCHEMA))


def _business_days_between(day: dt.date, as_of: dt.date) -> int:
    """NYSE sessions strictly after `day` up to and including `as_of`."""
    return len([d for d in calendar.business_days(day, as_of) if d > day])
