"""The validated, immutable book of one day: what `upload.read_upload` returns and everything else reads.

Frames hold exactly the normalized schemas of `contract.schema(...)`, plus these fill-ins done by the
reader (so no later stage re-derives a default):

- `securities.wash_group` = `symbol` where empty; `securities.cost_bps` = the policy default where empty;
  `securities.tags` stays the raw `;`-separated string (use `Book.tags_of`).
- `accounts.household_id` = `account_id` where empty; `status` = `active`; `st_rate`/`lt_rate` = the
  policy defaults; `min_cash_weight`, `cash_need`, `ytd_realized_st`, `ytd_realized_lt` = 0;
  `min_trade_value` = the policy default; `gain_budget` stays null (no budget).
- `lots.purchase_date` = `acquired` where empty.
- models' and targets' weights are renormalized to sum to 1 (inside the tolerance, with a warning).

Quarantined accounts (and every account of their household) are removed from `accounts`, `lots`,
`restrictions` (account rows), `transactions` and `pending_orders`, and listed in `quarantined`
(account_id, household_id, reason). The review reports them with decision `error`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Mapping

import polars as pl

from overlay_core.errors import Problem
from overlay_core.policy import Policy


@dataclass(frozen=True)
class Book:
    as_of: dt.date
    trade_date: dt.date
    policy: Policy
    securities: pl.DataFrame
    prices: pl.DataFrame
    price_history: pl.DataFrame
    models: pl.DataFrame
    targets: pl.DataFrame
    accounts: pl.DataFrame
    lots: pl.DataFrame
    restrictions: pl.DataFrame
    transactions: pl.DataFrame
    pending_orders: pl.DataFrame
    #: sha256 over the upload's files (names and bytes) and the as_of/trade_date used
    input_hash: str = ""
    #: accounts quarantined: account_id, household_id, reason
    quarantined: pl.DataFrame = field(
        default_factory=lambda: pl.DataFrame(schema={"account_id": pl.String, "household_id": pl.String, "reason": pl.String})
    )
    #: warnings found while loading (renormalized weights, unknown restriction symbols, ...)
    warnings: tuple[Problem, ...] = ()
    #: the folder the upload was read from, if any
    source: str | None = None

    @property
    def price_map(self) -> Mapping[str, float]:
        return MappingProxyType(dict(zip(self.prices["symbol"].to_list(), self.prices["close"].to_list())))

    @staticmethod
    def tags_of(tags: str | None) -> frozenset[str]:
        if not tags:
            return frozenset()
        return frozenset(t.strip() for t in tags.split(";") if t.strip())

    def account_ids(self) -> list[str]:
        return self.accounts["account_id"].to_list()

    def summary(self) -> dict[str, int]:
        return {
            "securities": self.securities.height,
            "models": self.models["model_id"].n_unique(),
            "targets": self.targets["target_id"].n_unique(),
            "accounts": self.accounts.height,
            "households": self.accounts["household_id"].n_unique(),
            "lots": self.lots.height,
            "quarantined": self.quarantined.height,
            "warnings": len(self.warnings),
        }
