"""The data contract as data: every table of the daily upload, its columns, types and enums.

This module is the single place that says what the upload looks like (`docs/data_contract.md` is its
prose). The reader (`upload.py`) validates against it; the book (`book.py`) holds frames of exactly
the normalized schemas below; the trade file (`export.py`) writes `TRADE_FILE_COLUMNS`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

import polars as pl

CASH = "$CASH"
SYMBOL_RE = re.compile(r"^[A-Z0-9./-]+$")

SECURITY_TYPES = ("equity", "etf", "mutual_fund", "bond", "cash_equivalent")
TAX_STATUSES = ("taxable", "tax_deferred", "tax_exempt")
ACCOUNT_STATUSES = ("active", "hold", "liquidate")
RESTRICTION_KINDS = ("never_buy", "never_sell", "screen", "sector_max", "asset_class_weight", "substitute")
SIDES = ("buy", "sell")
TRADE_SIDES = ("SELL", "BUY")
REASONS = (
    "restriction",
    "cash_raise",
    "substitution",
    "model_change",
    "transition",
    "switch_back",  # added: the way back from a harvest's substitute after the wash-sale window (docs/trade_file.md)
    "tax_loss_harvest",
    "rebalance",
)
FIRM_WIDE = "*"  # restrictions.account_id for the firm-wide restricted list

Kind = Literal["str", "symbol", "float", "date", "enum"]


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    kind: Kind
    required: bool = True
    enum: tuple[str, ...] = ()
    #: an empty cell is allowed (for a required column: the column must exist, values may be empty)
    nullable: bool = False


@dataclass(frozen=True, slots=True)
class Table:
    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...] = ()
    #: the file must be present in the upload folder
    required_file: bool = True

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.required)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)


def _c(name: str, kind: Kind = "str", required: bool = True, enum: tuple[str, ...] = (), nullable: bool | None = None) -> Column:
    return Column(name, kind, required, enum, (not required) if nullable is None else nullable)


SECURITIES = Table(
    "securities",
    (
        _c("symbol", "symbol"),
        _c("asset_class"),
        _c("type", "enum", enum=SECURITY_TYPES),
        _c("name", required=False),
        _c("sector", required=False),
        _c("tags", required=False),
        _c("wash_group", required=False),
        _c("cost_bps", "float", required=False),
        _c("trade_increment", "float", required=False),
    ),
    key=("symbol",),
)
PRICES = Table("prices", (_c("symbol", "symbol"), _c("close", "float"), _c("date", "date", required=False)), key=("symbol",))
PRICE_HISTORY = Table(
    "price_history",
    (_c("date", "date"), _c("symbol", "symbol"), _c("close", "float")),
    key=("date", "symbol"),
    required_file=False,
)
MODELS = Table(
    "models",
    (_c("model_id"), _c("symbol", "symbol"), _c("weight", "float"), _c("provider", required=False)),
    key=("model_id", "symbol"),
)
TARGETS = Table("targets", (_c("target_id"), _c("model_id"), _c("weight", "float")), key=("target_id", "model_id"))
ACCOUNTS = Table(
    "accounts",
    (
        _c("account_id"),
        _c("target_id"),
        _c("tax_status", "enum", enum=TAX_STATUSES),
        _c("cash", "float"),
        _c("household_id", required=False),
        _c("status", "enum", required=False, enum=ACCOUNT_STATUSES),
        _c("st_rate", "float", required=False),
        _c("lt_rate", "float", required=False),
        _c("min_cash_weight", "float", required=False),
        _c("min_trade_value", "float", required=False),
        _c("cash_need", "float", required=False),
        _c("gain_budget", "float", required=False),
        _c("ytd_realized_st", "float", required=False),
        _c("ytd_realized_lt", "float", required=False),
        _c("advisor", required=False),
    ),
    key=("account_id",),
)
LOTS = Table(
    "lots",
    (
        _c("account_id"),
        _c("lot_id"),
        _c("symbol", "symbol"),
        _c("shares", "float"),
        _c("cost_basis", "float", nullable=True),  # may be empty for tax-deferred/exempt accounts
        _c("acquired", "date", nullable=True),  # idem
        _c("purchase_date", "date", required=False),
    ),
    key=("account_id", "lot_id"),
)
RESTRICTIONS = Table(
    "restrictions",
    (
        _c("account_id"),
        _c("kind", "enum", enum=RESTRICTION_KINDS),
        _c("value"),
        _c("limit", "float", required=False),
    ),
    required_file=False,
)
TRANSACTIONS = Table(
    "transactions",
    (
        _c("account_id"),
        _c("date", "date"),
        _c("symbol", "symbol"),
        _c("side", "enum", enum=SIDES),
        _c("shares", "float"),
        _c("price", "float"),
        _c("lot_id", required=False),
        _c("realized_gain", "float", required=False),
    ),
    required_file=False,
)
PENDING_ORDERS = Table(
    "pending_orders",
    (
        _c("account_id"),
        _c("symbol", "symbol"),
        _c("side", "enum", enum=SIDES),
        _c("shares", "float"),
        _c("lot_id", required=False),
        _c("est_realized_gain", "float", required=False),
    ),
    required_file=False,
)

TABLES: dict[str, Table] = {
    t.name: t
    for t in (SECURITIES, PRICES, PRICE_HISTORY, MODELS, TARGETS, ACCOUNTS, LOTS, RESTRICTIONS, TRANSACTIONS, PENDING_ORDERS)
}

_POLARS: dict[Kind, pl.DataType] = {
    "str": pl.String(),
    "symbol": pl.String(),
    "enum": pl.String(),
    "float": pl.Float64(),
    "date": pl.Date(),
}


def schema(table: Table) -> dict[str, pl.DataType]:
    """The normalized polars schema of a table in the `Book` (every column, optional ones included)."""
    return {c.name: _POLARS[c.kind] for c in table.columns}


def empty_frame(table: Table) -> pl.DataFrame:
    return pl.DataFrame(schema=schema(table))


# The trade file (to the OMS), in column order.
TRADE_FILE_COLUMNS: tuple[str, ...] = (
    "run_id",
    "as_of",
    "trade_date",
    "account_id",
    "symbol",
    "side",
    "shares",
    "est_price",
    "est_value",
    "lot_id",
    "est_realized_gain",
    "term",
    "reason",
)

#: the polars schema of trade lines inside the engine (floats unrounded; the export rounds them)
TRADE_FILE_SCHEMA: dict[str, pl.DataType] = {
    "run_id": pl.String(),
    "as_of": pl.Date(),
    "trade_date": pl.Date(),
    "account_id": pl.String(),
    "symbol": pl.String(),
    "side": pl.String(),
    "shares": pl.Float64(),
    "est_price": pl.Float64(),
    "est_value": pl.Float64(),
    "lot_id": pl.String(),
    "est_realized_gain": pl.Float64(),
    "term": pl.String(),
    "reason": pl.String(),
}
