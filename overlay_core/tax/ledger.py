"""The tax ledger: replay trades with lot relief and the wash-sale rule (IRC §1091, §1223(3); Publication 550
"Wash Sales"; Rev. Rul. 2008-5 for IRAs). Every convention is listed and justified in docs/tax.md.

Two ways in:

- `replay(transactions)`: a whole history (the `overlay ledger` command). Rows are applied in date order,
  rows of one date in file order.
- `Ledger`: the same engine, incremental (the simulation): `Ledger.from_lots(lots, ...)` then
  `ledger.apply(trades, date=...)` day after day; `ledger.lots()` / `ledger.realized()` at any time.
  `realize(lots, trades, ...)` is the one-shot form.

The wash-sale rule as implemented (per household and wash group — "substantially identical" = same
symbol or same wash group):

- A loss sale (a lot relieved at a loss, in a **taxable** account) is washed by replacement shares
  acquired in the household within 30 calendar days before or after the sale (both ends inclusive).
- Replacement candidates are matched **in acquisition order**: first shares held at the sale that were
  bought in the 30 days before it (the look-back), then shares bought in the 30 days after it, as they
  are bought (the look-forward). Shares sold before the loss sale, or in the same sale, are not
  replacements; neither is the lot sold nor any other share of the very purchase being sold. A share
  absorbs at most one disallowed loss. Losses are matched in date order, losses of one date in file order.
- Partial replacement by share count: the loss of the replaced shares is disallowed (pro rata per
  share), the rest allowed. A replacement lot used only in part is split: the original id ``N`` becomes
  ``N.1`` (the part that absorbed the loss) and ``N.2`` (the rest), later splits ``N.3``, ... all with
  ``parent_lot_id = N``.
- A replacement in a taxable account takes the disallowed loss into its basis and the sold shares'
  holding period (its `acquired` moves back by the days the sold shares were held, not counting days
  where both were held); a replacement in a tax-deferred or tax-exempt account disallows the loss
  **permanently** (no basis adjustment anywhere).
- Chains: a replacement that absorbed a loss and is later sold at a loss is washed again by other shares.

Money is float64 at full precision inside; it is rounded half-even to cents once, when written
(`write_ledger`, `money_str`).
"""

from __future__ import annotations

import csv
import io
import datetime as dt
import math
import os
import tempfile
from collections import deque
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import polars as pl

from overlay_core.contract import SYMBOL_RE, TAX_STATUSES
from overlay_core.errors import DataError, Problem
from overlay_core.tax.holding import long_term_date
from overlay_core.tax.relief import METHODS, Method, relief_order

WINDOW_DAYS = 30
DEFAULT_ACCOUNT = "default"
_SHARE_EPS = 1e-9  # shares below this are zero
_MONEY_EPS = 1e-7  # a gain above -1e-7 USD is not a loss (float noise)

REALIZED_COLUMNS = (
    "account_id",
    "sale_date",
    "symbol",
    "lot_id",
    "parent_lot_id",
    "shares",
    "proceeds",
    "cost_basis",
    "gain_loss",
    "disallowed_loss",
    "term",
    "acquired",
    "disallowed_permanent",
    "row",
)
LOTS_COLUMNS = (
    "account_id",
    "lot_id",
    "parent_lot_id",
    "symbol",
    "shares",
    "cost_basis",
    "acquired",
    "wash_adjustment",
    "purchase_date",
)
_MONEY_COLS = {"proceeds", "cost_basis", "gain_loss", "disallowed_loss", "disallowed_permanent", "wash_adjustment"}


# ------------------------------------------------------------------------------------------------
# internal state
# ------------------------------------------------------------------------------------------------


class _Lot:
    __slots__ = (
        "account_id", "lot_id", "parent", "symbol", "key", "taxable", "shares", "basis", "acquired",
        "purchase", "seq", "sub", "origin", "absorbed", "adj",
    )

    def __init__(self, account_id: str, lot_id: str, symbol: str, key: tuple[str, str], taxable: bool, shares: float,
                 basis: float, acquired: int, purchase: int, seq: int, origin: int, absorbed: bool = False, adj: float = 0.0) -> None:
        self.account_id = account_id
        self.lot_id = lot_id
        self.parent = lot_id
        self.symbol = symbol
        self.key = key  # (household_id, wash_group)
        self.taxable = taxable
        self.shares = shares
        self.basis = basis  # total basis, USD
        self.acquired = acquired  # holding-period date (ordinal), wash-adjusted
        self.purchase = purchase  # real purchase date (ordinal)
        self.seq = seq  # creation order
        self.sub = 0  # piece number after splits (0 = never split)
        self.origin = origin  # id of the purchase the shares come from
        self.absorbed = absorbed  # has absorbed a disallowed loss (a share absorbs at most one)
        self.adj = adj  # wash-sale adjustment included in basis, USD


class _Realized:
    __slots__ = ("account_id", "sale", "symbol", "lot_id", "parent", "shares", "proceeds", "basis", "disallowed",
                 "permanent", "long", "acquired", "row")

    def __init__(self, account_id: str, sale: int, symbol: str, lot_id: str, parent: str, shares: float, proceeds: float,
                 basis: float, long: bool, acquired: int, row: int | None) -> None:
        self.account_id = account_id
        self.sale = sale
        self.symbol = symbol
        self.lot_id = lot_id
        self.parent = parent
        self.shares = shares
        self.proceeds = proceeds
        self.basis = basis
        self.disallowed = 0.0
        self.permanent = 0.0
        self.long = long
        self.acquired = acquired
        self.row = row

    @property
    def gain(self) -> float:
        return self.proceeds - self.basis


class _Loss:
    __slots__ = ("rec", "sale", "expires", "loss_ps", "remaining", "held", "origin")

    def __init__(self, rec: _Realized, sale: int, expires: int, loss_ps: float, remaining: float, held: int, origin: int) -> None:
        self.rec = rec
        self.sale = sale
        self.expires = expires
        self.loss_ps = loss_ps  # disallowed loss per replaced share (> 0)
        self.remaining = remaining  # loss shares not yet matched to a replacement
        self.held = held  # days the sold shares were held (sale - acquired)
        self.origin = origin


@dataclass(frozen=True, slots=True)
class SalePart:
    """One row of a sale: `shares` of `lot_id` (or of the lots the method picks when None).

    `amount` is the gross value (shares x price); `commission` is taken off the proceeds.
    """

    shares: float
    amount: float
    lot_id: str | None = None
    commission: float = 0.0
    row: int | None = None


def _ord(d: dt.date) -> int:
    return d.toordinal()


def _date(o: int) -> dt.date:
    return dt.date.fromordinal(o)


_LTD_CACHE: dict[int, int] = {}


def _long_term_ord(acquired: int) -> int:
    v = _LTD_CACHE.get(acquired)
    if v is None:
        v = _LTD_CACHE[acquired] = long_term_date(dt.date.fromordinal(acquired)).toordinal()
    return v


class Ledger:
    """The incremental tax ledger of a set of households (see the module docstring for the rules).

    Parameters
    ----------
    method : default lot relief of a sale that names no lot (``specific`` falls back to FIFO).
    wash_groups : symbol -> wash group (a symbol absent is its own group).
    accounts : account_id -> (household_id, tax_status); accounts first seen in a trade default to
        their own household and ``taxable`` unless `register_account` was called.
    st_rate, lt_rate : the rates ``tax_optimal`` uses (per account via `register_account`).
    file : the input's name, for error messages.

    Events must be applied in date order (`DataError` otherwise); within a date, in call order.
    """

    def __init__(
        self,
        *,
        method: Method | str = Method.FIFO,
        wash_groups: Mapping[str, str] | None = None,
        accounts: Mapping[str, tuple[str, str]] | None = None,
        st_rate: float = 0.37,
        lt_rate: float = 0.20,
        window_days: int = WINDOW_DAYS,
        file: str = "transactions",
    ) -> None:
        self.method = Method(method)
        self.window = int(window_days)
        self.file = file
        self._groups: dict[str, str] = dict(wash_groups or {})
        self._accounts: dict[str, tuple[str, str]] = {}
        self._rates: dict[str, tuple[float, float]] = {}
        self._default_rates = (float(st_rate), float(lt_rate))
        for a, (hh, status) in (accounts or {}).items():
            self.register_account(a, household_id=hh, tax_status=status)
        self._open: dict[tuple[str, str], list[_Lot]] = {}  # (account, symbol) -> open lots
        self._names: dict[tuple[str, str], _Lot] = {}  # (account, current lot id) -> lot
        self._pieces: dict[tuple[str, str], list[_Lot]] = {}  # (account, original id) -> its pieces
        self._ids: dict[str, set[str]] = {}  # every lot id used per account
        self._split_count: dict[tuple[str, str], int] = {}
        self._recent: dict[tuple[str, str], list[_Lot]] = {}  # (household, group) -> lots by acquisition
        self._pending: dict[tuple[str, str], deque[_Loss]] = {}
        self._realized: list[_Realized] = []
        self._seq = 0
        self._today = -(10**9)
        self._day_buys: dict[tuple[str, int], int] = {}

    # ---- set-up -----------------------------------------------------------------------------------
    def register_account(
        self,
        account_id: str,
        *,
        household_id: str | None = None,
        tax_status: str = "taxable",
        st_rate: float | None = None,
        lt_rate: float | None = None,
        row: int | None = None,
    ) -> None:
        """Declare an account's household and tax status (and rates for ``tax_optimal``).

        Raises `DataError` if the account was declared before with another household or status.
        """
        hh = household_id or account_id
        if tax_status not in TAX_STATUSES:
            self._fail(row, "tax_status", repr(tax_status), f"one of {', '.join(TAX_STATUSES)}")
        prev = self._accounts.get(account_id)
        if prev is not None and prev != (hh, tax_status):
            self._fail(
                row,
                "household_id" if prev[0] != hh else "tax_status",
                f"account {account_id} as ({hh}, {tax_status})",
                f"the same household and tax status on every row of the account: first seen as ({prev[0]}, {prev[1]})",
            )
        self._accounts[account_id] = (hh, tax_status)
        if st_rate is not None or lt_rate is not None:
            self._rates[account_id] = (
                self._default_rates[0] if st_rate is None else float(st_rate),
                self._default_rates[1] if lt_rate is None else float(lt_rate),
            )

    def group_of(self, symbol: str) -> str:
        return self._groups.get(symbol, symbol)

    @classmethod
    def from_lots(
        cls,
        lots: pl.DataFrame,
        *,
        accounts: pl.DataFrame | None = None,
        wash_groups: Mapping[str, str] | pl.DataFrame | None = None,
        method: Method | str = Method.FIFO,
        window_days: int = WINDOW_DAYS,
    ) -> Ledger:
        """A ledger opened with authoritative lots (the contract's `lots` table; extra columns ignored).

        Their `cost_basis` and `acquired` are taken as given (custodian wash adjustments included, never
        applied again). A lot whose `acquired` differs from its `purchase_date` is taken to have absorbed
        a disallowed loss already (a share absorbs at most one). Lots with an empty basis (tax-deferred/
        exempt accounts) get basis 0; an empty `acquired` defaults to `purchase_date`.

        `accounts` (the contract's `accounts` frame) gives household_id, tax_status and st/lt rates;
        `wash_groups` a symbol -> group mapping or the `securities` frame.
        """
        if isinstance(wash_groups, pl.DataFrame):
            sec = wash_groups
            wash_groups = {
                s: (g if g else s)
                for s, g in zip(sec["symbol"].to_list(), (sec["wash_group"] if "wash_group" in sec.columns else sec["symbol"]).to_list())
            }
        led = cls(method=method, wash_groups=wash_groups, window_days=window_days, file="lots")
        if accounts is not None:
            cols = accounts.columns
            for r in accounts.iter_rows(named=True):
                led.register_account(
                    r["account_id"],
                    household_id=r.get("household_id") if "household_id" in cols else None,
                    tax_status=r.get("tax_status") or "taxable",
                    st_rate=r.get("st_rate") if "st_rate" in cols else None,
                    lt_rate=r.get("lt_rate") if "lt_rate" in cols else None,
                )
        pdate = pl.coalesce(pl.col("purchase_date"), pl.col("acquired")) if "purchase_date" in lots.columns else pl.col("acquired")
        rows = (
            lots.with_row_index("_row", offset=1)
            .with_columns(pdate.alias("_pdate"))
            .with_columns(pl.coalesce(pl.col("acquired"), pl.col("_pdate")).alias("_acq"))
            .sort("_pdate", "_row", nulls_last=True)
        )
        for r in rows.iter_rows(named=True):
            if r["_pdate"] is None:
                led._fail(r["_row"], "acquired", "empty acquired and purchase_date", "a date to order the lot")
            acct = r["account_id"]
            hh, status = led._account(acct)
            sym = r["symbol"]
            led._seq += 1
            lot = _Lot(
                acct, str(r["lot_id"]), sym, (hh, led.group_of(sym)), status == "taxable", float(r["shares"]),
                float(r["cost_basis"] or 0.0), _ord(r["_acq"]), _ord(r["_pdate"]), led._seq, led._seq,
                absorbed=r["_acq"] != r["_pdate"],
            )
            led._register_lot(lot, r["_row"])
        return led

    # ---- events -----------------------------------------------------------------------------------
    def buy(
        self,
        date: dt.date,
        account_id: str,
        symbol: str,
        shares: float,
        amount: float,
        *,
        lot_id: str | None = None,
        commission: float = 0.0,
        row: int | None = None,
    ) -> str:
        """Acquire `shares` of `symbol` for `amount` (+ `commission`, both added to basis). Returns the lot id.

        Without `lot_id` the new lot is named ``YYYYMMDD-k`` (k-th buy of the account that day; stable).
        The new shares replace, in order, the household's pending losses of the wash group from the 30
        days before (look-forward matching).
        """
        d = self._advance(date, row)
        hh, status = self._account(account_id)
        if lot_id is None or lot_id == "":
            k = self._day_buys.get((account_id, d), 0)
            used = self._ids.get(account_id, ())
            while True:
                k += 1
                lot_id = f"{date:%Y%m%d}-{k}"
                if lot_id not in used:
                    break
            self._day_buys[(account_id, d)] = k
        self._seq += 1
        lot = _Lot(account_id, lot_id, symbol, (hh, self.group_of(symbol)), status == "taxable", float(shares),
                   float(amount) + float(commission), d, d, self._seq, self._seq)
        self._register_lot(lot, row)
        self._match_forward(lot, d)
        return lot_id

    def sell(
        self,
        date: dt.date,
        account_id: str,
        symbol: str,
        parts: Sequence[SalePart],
        *,
        method: Method | str | None = None,
    ) -> list[int]:
        """One sale of `symbol` in `account_id`, made of one or more parts (rows); returns realized indices.

        Each part relieves its named lot (or its pieces, if a wash sale split it) or, with no lot named,
        the open lots in the order of `method` (default: the ledger's). All parts are relieved first, so
        shares sold in the same sale are never each other's replacements; then each lot relieved at a loss
        (taxable accounts) goes through the wash-sale matching.
        """
        d = self._advance(date, parts[0].row if parts else None)
        hh, status = self._account(account_id)
        m = Method(method) if method is not None else self.method
        recs: list[tuple[_Realized, int]] = []
        for part in parts:
            if part.lot_id:
                lots = self._find(account_id, part.lot_id, symbol, d, part.row)
            else:
                lots = self._ordered(account_id, symbol, m, d, part)
            held = sum(l.shares for l in lots)
            if part.shares > held + _SHARE_EPS * max(1.0, held):
                what = f"lot {part.lot_id}" if part.lot_id else f"{symbol} in account {account_id}"
                self._fail(part.row, "shares", f"a sale of {part.shares:g} shares of {what}", f"at most the {held:g} shares held")
            left = part.shares
            net = part.amount - part.commission
            for lot in lots:
                if left <= _SHARE_EPS:
                    break
                q = lot.shares if left >= lot.shares - _SHARE_EPS * max(1.0, lot.shares) else left
                rec = self._relieve(lot, q, net * q / part.shares, d, part.row)
                recs.append((rec, lot.origin))
                left -= q
        first = len(self._realized) - len(recs)
        if status == "taxable":
            for rec, origin in recs:
                if rec.gain < -_MONEY_EPS:
                    self._wash_loss(rec, origin, (hh, self.group_of(symbol)), d)
        return list(range(first, len(self._realized)))

    def apply(self, trades: pl.DataFrame, *, date: dt.date | None = None, method: Method | str | None = None) -> None:
        """Apply a day's fills: columns account_id, symbol, side (buy/sell, any case), shares, and price
        (or est_price, or amount); optional lot_id, commission, date (else `date`).

        Rows are applied in frame order; consecutive sell rows of one account and symbol form one sale.
        Fits the trade file directly (``side`` = SELL/BUY, ``est_price``).

        Raises `DataError` naming the row: bad values are found before anything is applied; a replay
        error (a sale beyond a lot, an unknown lot) leaves the rows before it applied — discard the
        ledger then.
        """
        cols = trades.columns
        price_col = "price" if "price" in cols else ("est_price" if "est_price" in cols else None)
        rows: list[dict[str, Any]] = []

        def number(v: Any, i: int, col: str, *, positive: bool) -> float:
            try:
                x = float(v)
            except (TypeError, ValueError):
                x = math.nan
            if not math.isfinite(x) or x < 0 or (positive and x == 0):
                self._fail(i, col, repr(v), "a finite number > 0" if positive else "a finite number >= 0")
            return x

        for i, r in enumerate(trades.iter_rows(named=True), start=1):
            day = r.get("date") or date
            if isinstance(day, str):
                try:
                    day = dt.date.fromisoformat(day)
                except ValueError:
                    self._fail(i, "date", repr(day), "an ISO date YYYY-MM-DD")
            elif isinstance(day, dt.datetime):
                day = day.date()
            if not isinstance(day, dt.date):
                self._fail(i, "date", "no date", "a date column or the date argument")
            side = str(r.get("side") or "").lower()
            if side not in ("buy", "sell"):
                self._fail(i, "side", repr(r.get("side")), "buy or sell (any case)")
            shares = number(r.get("shares"), i, "shares", positive=True)
            if "amount" in cols and r.get("amount") is not None:
                amount = number(r["amount"], i, "amount", positive=False)
            elif price_col is not None:
                amount = shares * number(r.get(price_col), i, price_col, positive=True)
            else:
                self._fail(i, "price", "no price or amount", "a price, est_price or amount column")
            rows.append(
                {
                    "row": i, "date": day, "account_id": r["account_id"], "symbol": r["symbol"], "side": side,
                    "shares": shares, "amount": amount, "lot_id": r.get("lot_id") or None,
                    "commission": number(r.get("commission") or 0.0, i, "commission", positive=False),
                }
            )
        self._apply_rows(rows, method=method)

    # ---- results ----------------------------------------------------------------------------------
    def realized(self) -> pl.DataFrame:
        """One row per lot relieved (`REALIZED_COLUMNS`), full precision, in event order.

        ``gain_loss`` is before the wash-sale adjustment; ``disallowed_loss`` >= 0 is the part not
        deductible now (it includes ``disallowed_permanent``, the part lost to a tax-deferred/exempt
        replacement); ``acquired`` is the holding-period-adjusted date of the lot sold; ``row`` the input row.
        """
        R = self._realized
        return pl.DataFrame(
            {
                "account_id": [r.account_id for r in R],
                "sale_date": [_date(r.sale) for r in R],
                "symbol": [r.symbol for r in R],
                "lot_id": [r.lot_id for r in R],
                "parent_lot_id": [r.parent for r in R],
                "shares": [r.shares for r in R],
                "proceeds": [r.proceeds for r in R],
                "cost_basis": [r.basis for r in R],
                "gain_loss": [r.proceeds - r.basis for r in R],
                "disallowed_loss": [r.disallowed for r in R],
                "term": ["long" if r.long else "short" for r in R],
                "acquired": [_date(r.acquired) for r in R],
                "disallowed_permanent": [r.permanent for r in R],
                "row": [r.row for r in R],
            },
            schema={
                "account_id": pl.String, "sale_date": pl.Date, "symbol": pl.String, "lot_id": pl.String,
                "parent_lot_id": pl.String, "shares": pl.Float64, "proceeds": pl.Float64, "cost_basis": pl.Float64,
                "gain_loss": pl.Float64, "disallowed_loss": pl.Float64, "term": pl.String, "acquired": pl.Date,
                "disallowed_permanent": pl.Float64, "row": pl.Int64,
            },
        )

    def lots(self) -> pl.DataFrame:
        """The open lots (`LOTS_COLUMNS`), sorted by account, symbol, purchase date, creation, piece.

        Loads as the contract's `lots` table (``purchase_date`` is the real trade date for the look-back).
        """
        L = sorted(
            (l for lots in self._open.values() for l in lots if l.shares > _SHARE_EPS),
            key=lambda l: (l.account_id, l.symbol, l.purchase, l.seq, l.sub),
        )
        return pl.DataFrame(
            {
                "account_id": [l.account_id for l in L],
                "lot_id": [l.lot_id for l in L],
                "parent_lot_id": [l.parent for l in L],
                "symbol": [l.symbol for l in L],
                "shares": [l.shares for l in L],
                "cost_basis": [l.basis for l in L],
                "acquired": [_date(l.acquired) for l in L],
                "wash_adjustment": [l.adj for l in L],
                "purchase_date": [_date(l.purchase) for l in L],
            },
            schema={
                "account_id": pl.String, "lot_id": pl.String, "parent_lot_id": pl.String, "symbol": pl.String,
                "shares": pl.Float64, "cost_basis": pl.Float64, "acquired": pl.Date, "wash_adjustment": pl.Float64,
                "purchase_date": pl.Date,
            },
        )

    def pending_losses(self) -> pl.DataFrame:
        """Losses still open to look-forward replacement (sale date, shares not yet matched, expiry)."""
        rows = [
            (l.rec.account_id, l.rec.symbol, l.rec.lot_id, _date(l.sale), l.remaining, l.loss_ps, _date(l.expires))
            for q in self._pending.values()
            for l in q
            if l.remaining > _SHARE_EPS and l.expires >= self._today
        ]
        return pl.DataFrame(
            rows,
            schema={"account_id": pl.String, "symbol": pl.String, "lot_id": pl.String, "sale_date": pl.Date,
                    "unmatched_shares": pl.Float64, "loss_per_share": pl.Float64, "window_ends": pl.Date},
            orient="row",
        )

    # ---- internals --------------------------------------------------------------------------------
    def _fail(self, row: int | None, column: str | None, found: str, expected: str) -> None:
        raise DataError(
            f"{self.file}: cannot replay row {row}" if row is not None else f"{self.file}: cannot replay",
            [Problem(self.file, row, column, found, expected)],
        )

    def _advance(self, date: dt.date, row: int | None) -> int:
        d = _ord(date)
        if d < self._today:
            self._fail(row, "date", f"{date} after {_date(self._today)}", "events in date order")
        self._today = d
        return d

    def _account(self, account_id: str) -> tuple[str, str]:
        info = self._accounts.get(account_id)
        if info is None:
            info = self._accounts[account_id] = (account_id, "taxable")
        return info

    def _register_lot(self, lot: _Lot, row: int | None) -> None:
        used = self._ids.setdefault(lot.account_id, set())
        if lot.lot_id in used:
            self._fail(row, "lot_id", f"lot_id {lot.lot_id!r} already used in account {lot.account_id}", "a lot_id unique within its account")
        used.add(lot.lot_id)
        opened = self._open.setdefault((lot.account_id, lot.symbol), [])
        opened.append(lot)
        if len(opened) > 1 and (opened[-2].purchase, opened[-2].seq) > (lot.purchase, lot.seq):
            opened.sort(key=lambda l: (l.purchase, l.seq, l.sub))  # keep FIFO order
        self._names[(lot.account_id, lot.lot_id)] = lot
        self._pieces[(lot.account_id, lot.lot_id)] = [lot]
        rec = self._recent.setdefault(lot.key, [])
        if rec and (rec[-1].purchase, rec[-1].seq) > (lot.purchase, lot.seq):
            rec.append(lot)
            rec.sort(key=lambda l: (l.purchase, l.seq, l.sub))
        else:
            rec.append(lot)

    def _find(self, account_id: str, lot_id: str, symbol: str, d: int, row: int | None) -> list[_Lot]:
        lot = self._names.get((account_id, lot_id))
        if lot is not None and lot.lot_id == lot_id:
            lots = [lot]
        else:
            lots = self._pieces.get((account_id, lot_id), [])
            if not lots:
                self._fail(row, "lot_id", f"lot {lot_id!r}, unknown in account {account_id} at {_date(d)}", "a lot bought earlier in the same account")
        if lots[0].symbol != symbol:
            self._fail(row, "symbol", f"{symbol} for lot {lot_id!r} of {lots[0].symbol}", "the symbol of the lot sold")
        open_lots = [l for l in lots if l.shares > _SHARE_EPS]
        if not open_lots:
            self._fail(row, "lot_id", f"lot {lot_id!r} already sold in full", "an open lot")
        return open_lots

    def _ordered(self, account_id: str, symbol: str, m: Method, d: int, part: SalePart) -> list[_Lot]:
        opened = self._open.get((account_id, symbol), ())
        if m in (Method.FIFO, Method.SPECIFIC):
            # open lists are kept in FIFO order (purchase date, creation, piece): take the prefix needed
            out: list[_Lot] = []
            need = part.shares
            for l in opened:
                out.append(l)
                need -= l.shares
                if need <= _SHARE_EPS:
                    break
            return out
        lots = [l for l in opened if l.shares > _SHARE_EPS]
        if len(lots) <= 1:
            return lots
        pdate = np.fromiter((l.purchase for l in lots), np.int64, len(lots))
        seq = np.fromiter((l.seq * 1_000_000 + l.sub for l in lots), np.int64, len(lots))
        bps = np.fromiter((l.basis / l.shares for l in lots), np.float64, len(lots))
        if m is Method.HIFO:
            order = relief_order(m, purchase_date=pdate, seq=seq, basis_per_share=bps)
        else:
            lt = np.fromiter((d >= _long_term_ord(l.acquired) for l in lots), bool, len(lots))
            st_rate, lt_rate = self._rates.get(account_id, self._default_rates)
            price = part.amount / part.shares if part.shares > 0 else 0.0
            order = relief_order(m, purchase_date=pdate, seq=seq, basis_per_share=bps, long_term=lt, price=price, st_rate=st_rate, lt_rate=lt_rate)
        return [lots[i] for i in order]

    def _relieve(self, lot: _Lot, q: float, proceeds: float, d: int, row: int | None) -> _Realized:
        frac = q / lot.shares
        basis = lot.basis * frac
        rec = _Realized(lot.account_id, d, lot.symbol, lot.lot_id, lot.parent, q, proceeds, basis, d >= _long_term_ord(lot.acquired), lot.acquired, row)
        self._realized.append(rec)
        if frac >= 1.0 - 1e-12:
            lot.shares = 0.0
            lot.basis = 0.0
            lot.adj = 0.0
            opened = self._open[(lot.account_id, lot.symbol)]
            opened.remove(lot)
        else:
            lot.shares -= q
            lot.basis -= basis
            lot.adj -= lot.adj * frac
        return rec

    def _split(self, lot: _Lot, q: float) -> _Lot:
        """Split `q` shares off `lot` (which keeps them); return the remainder, a new piece after it."""
        frac = q / lot.shares
        rest = _Lot(lot.account_id, lot.lot_id, lot.symbol, lot.key, lot.taxable, lot.shares - q, lot.basis * (1 - frac),
                    lot.acquired, lot.purchase, lot.seq, lot.origin, lot.absorbed, lot.adj * (1 - frac))
        rest.parent = lot.parent
        lot.shares = q
        lot.basis *= frac
        lot.adj *= frac
        key = (lot.account_id, lot.parent)
        used = self._ids[lot.account_id]
        n = self._split_count.get(key, 0)
        if lot.sub == 0:  # first split of the original: it becomes <id>.1
            n += 1
            while f"{lot.parent}.{n}" in used:
                n += 1
            lot.lot_id = f"{lot.parent}.{n}"
            lot.sub = n
            used.add(lot.lot_id)
            self._names[(lot.account_id, lot.lot_id)] = lot
        n += 1
        while f"{lot.parent}.{n}" in used:
            n += 1
        rest.lot_id = f"{lot.parent}.{n}"
        rest.sub = n
        used.add(rest.lot_id)
        self._split_count[key] = n
        self._names[(rest.account_id, rest.lot_id)] = rest
        pieces = self._pieces[key]
        pieces.insert(pieces.index(lot) + 1, rest)
        opened = self._open[(lot.account_id, lot.symbol)]
        opened.insert(opened.index(lot) + 1, rest)
        recent = self._recent[lot.key]
        try:
            recent.insert(recent.index(lot) + 1, rest)
        except ValueError:  # pruned from the look-back already: the rest is older than any window
            pass
        return rest

    def _absorb(self, piece: _Lot, loss: _Loss) -> None:
        amount = piece.shares * loss.loss_ps
        loss.rec.disallowed += amount
        piece.absorbed = True
        if piece.taxable:
            piece.basis += amount
            piece.adj += amount
            # §1223(3): the replacement's holding period includes the sold shares' (days not already
            # counted: when the replacement was bought before the sale, the overlap counts once)
            overlap = max(0, loss.sale - piece.acquired)
            piece.acquired -= max(0, loss.held - overlap)
        else:
            loss.rec.permanent += amount

    def _take(self, cand: _Lot, loss: _Loss) -> _Lot | None:
        """Match `cand` against `loss`; returns the unmatched rest of `cand` (a new piece) or None."""
        q = min(cand.shares, loss.remaining)
        rest = None
        if cand.shares - q > _SHARE_EPS * max(1.0, cand.shares):
            rest = self._split(cand, q)
        else:
            q = cand.shares
        self._absorb(cand, loss)
        loss.remaining -= q
        if loss.remaining < _SHARE_EPS:
            loss.remaining = 0.0
        return rest

    def _wash_loss(self, rec: _Realized, origin: int, key: tuple[str, str], d: int) -> None:
        loss = _Loss(rec, d, d + self.window, -rec.gain / rec.shares, rec.shares, d - rec.acquired, origin)
        recent = self._recent.get(key)
        if recent:
            cutoff = d - self.window
            # compact: lots bought before the window, sold in full or already absorbed can never again
            # be replacements (dates only move forward; a share absorbs at most one loss)
            recent[:] = [c for c in recent if c.purchase >= cutoff and c.shares > _SHARE_EPS and not c.absorbed]
            i = 0
            while i < len(recent) and loss.remaining > 0.0:
                c = recent[i]
                if c.shares > _SHARE_EPS and not c.absorbed and c.origin != origin:
                    self._take(c, loss)  # a rest, if any, is inserted at i + 1 and skipped (loss exhausted)
                i += 1
        if loss.remaining > 0.0:
            self._pending.setdefault(key, deque()).append(loss)

    def _match_forward(self, lot: _Lot, d: int) -> None:
        pend = self._pending.get(lot.key)
        if not pend:
            return
        while pend and (pend[0].remaining <= 0.0 or pend[0].expires < d):
            pend.popleft()
        piece: _Lot | None = lot
        for loss in pend:
            if piece is None:
                break
            if loss.remaining <= 0.0 or loss.expires < d or loss.origin == piece.origin:
                continue
            piece = self._take(piece, loss)
        while pend and pend[0].remaining <= 0.0:
            pend.popleft()

    def _apply_rows(self, rows: list[dict[str, Any]], *, method: Method | str | None = None) -> None:
        i = 0
        n = len(rows)
        while i < n:
            r = rows[i]
            if r["side"] == "buy":
                self.buy(r["date"], r["account_id"], r["symbol"], r["shares"], r["amount"], lot_id=r["lot_id"], commission=r["commission"], row=r["row"])
                i += 1
                continue
            j = i + 1
            while j < n and rows[j]["side"] == "sell" and rows[j]["date"] == r["date"] and rows[j]["account_id"] == r["account_id"] and rows[j]["symbol"] == r["symbol"]:
                j += 1
            parts = [SalePart(x["shares"], x["amount"], x["lot_id"], x["commission"], x["row"]) for x in rows[i:j]]
            self.sell(r["date"], r["account_id"], r["symbol"], parts, method=method)
            i = j


# ------------------------------------------------------------------------------------------------
# whole-history replay (the `overlay ledger` command)
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LedgerResult:
    """The tax record of a replayed history: `realized` (REALIZED_COLUMNS) and open `lots` (LOTS_COLUMNS),
    money at full precision (round with `write_ledger` / `money_str`)."""

    realized: pl.DataFrame
    lots: pl.DataFrame


_REQUIRED = ("date", "symbol", "side", "shares")
_OPTIONAL = ("price", "amount", "lot_id", "account_id", "household_id", "tax_status", "commission", "wash_group", "st_rate", "lt_rate")


def read_transactions(path: str | os.PathLike[str]) -> pl.DataFrame:
    """Read a ledger input CSV as strings (UTF-8, BOM accepted); `replay` validates it.

    Raises `DataError` if the file cannot be read.
    """
    p = Path(path)
    try:
        text = p.read_bytes().decode("utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read {p}", [Problem(p.name, None, None, str(exc), "a readable UTF-8 CSV file")]) from exc
    try:
        return pl.read_csv(io.StringIO(text), infer_schema=False)
    except (pl.exceptions.PolarsError, ValueError) as exc:
        raise DataError(f"cannot parse {p}", [Problem(p.name, None, None, str(exc).splitlines()[0], "an RFC 4180 CSV with one header row")]) from exc


def _as_text(df: pl.DataFrame, c: str) -> pl.Expr:
    """Column `c` as stripped text, empty -> null (typed columns are cast)."""
    if c not in df.columns:
        return pl.lit(None, dtype=pl.String).alias(c)
    e = pl.col(c) if df.schema[c] == pl.String else pl.col(c).cast(pl.String)
    e = e.str.strip_chars()
    return pl.when(e == "").then(None).otherwise(e).alias(c)


def _validate(df: pl.DataFrame, file: str, wash_groups: Mapping[str, str] | None) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """Check every row at once (vectorized); return the rows, typed, in replay order, and symbol -> group."""
    problems: list[Problem] = []
    cols = set(df.columns)
    for c in _REQUIRED:
        if c not in cols:
            problems.append(Problem(file, None, c, "no such column", f"the columns {', '.join(_REQUIRED)} and price or amount"))
    if "price" not in cols and "amount" not in cols:
        problems.append(Problem(file, None, "price", "neither price nor amount", "a price or an amount column"))
    if problems:
        raise DataError(f"{file}: missing columns", problems)
    names = _REQUIRED + _OPTIONAL
    raw = df.select([_as_text(df, c) for c in names]).with_row_index("row", offset=1)
    num = {c: pl.col(c).cast(pl.Float64, strict=False) for c in ("shares", "price", "amount", "commission", "st_rate", "lt_rate")}
    t = raw.with_columns(
        pl.col("date").str.to_date("%Y-%m-%d", strict=False).alias("_date"),
        pl.col("side").str.to_lowercase().alias("_side"),
        *[e.alias(f"_{c}") for c, e in num.items()],
    )
    checks: list[tuple[str, pl.Expr, str]] = [
        ("date", pl.col("_date").is_null(), "an ISO date YYYY-MM-DD"),
        ("symbol", pl.col("symbol").is_null() | ~pl.col("symbol").str.contains(SYMBOL_RE.pattern), "a symbol matching [A-Z0-9./-]+"),
        ("side", ~pl.col("_side").is_in(["buy", "sell"]).fill_null(False), "buy or sell"),
        ("shares", ~(pl.col("_shares").is_finite() & (pl.col("_shares") > 0)).fill_null(False), "a finite number > 0"),
        (
            "tax_status",
            pl.col("tax_status").is_not_null() & ~pl.col("tax_status").is_in(list(TAX_STATUSES)),
            f"one of {', '.join(TAX_STATUSES)}",
        ),
    ]
    for c, positive in (("price", True), ("amount", False), ("commission", False), ("st_rate", False), ("lt_rate", False)):
        ok = pl.col(f"_{c}").is_finite() & ((pl.col(f"_{c}") > 0) if positive else (pl.col(f"_{c}") >= 0))
        checks.append((c, pl.col(c).is_not_null() & ~ok.fill_null(False), "a finite number > 0" if positive else "a finite number >= 0"))
    checks.append(("price", pl.col("price").is_null() & pl.col("amount").is_null(), "a price or the trade's total amount"))
    flagged = t.with_columns([cond.alias(f"_bad{i}") for i, (_, cond, _) in enumerate(checks)])
    bad_any = pl.any_horizontal([pl.col(f"_bad{i}") for i in range(len(checks))])
    for r in flagged.filter(bad_any).iter_rows(named=True):
        for i, (c, _, expected) in enumerate(checks):
            if r[f"_bad{i}"]:
                found = "neither price nor amount" if expected.startswith("a price or") else ("empty" if r[c] is None else repr(r[c]))
                problems.append(Problem(file, r["row"], c, found, expected))
    # one wash group per symbol, and none against the mapping given
    mapping = dict(wash_groups or {})
    groups: dict[str, str] = {}
    first: dict[str, int] = {}
    for row, sym, g in t.filter(pl.col("wash_group").is_not_null() & pl.col("symbol").is_not_null()).select("row", "symbol", "wash_group").iter_rows():
        mapped = mapping.get(sym)
        if mapped is not None and g != mapped:
            problems.append(Problem(file, row, "wash_group", f"{g!r} for {sym}", f"the wash group {mapped!r} of the mapping given"))
        elif sym in groups and groups[sym] != g:
            problems.append(Problem(file, row, "wash_group", f"{g!r} for {sym}", f"{groups[sym]!r} as on row {first[sym]} (one group per symbol)"))
        elif sym not in groups:
            groups[sym], first[sym] = g, row
    if problems:
        problems.sort(key=lambda p: (p.row if isinstance(p.row, int) else 0))
        raise DataError(f"{file}: {len(problems)} bad value(s)", problems)
    typed = t.select(
        "row",
        pl.col("_date").alias("date"),
        "symbol",
        pl.col("_side").alias("side"),
        pl.col("_shares").alias("shares"),
        pl.coalesce(pl.col("_amount"), pl.col("_shares") * pl.col("_price")).alias("amount"),
        "lot_id",
        pl.col("account_id").fill_null(DEFAULT_ACCOUNT),
        "household_id",
        pl.col("tax_status").fill_null("taxable"),
        pl.col("_commission").fill_null(0.0).alias("commission"),
        pl.col("_st_rate").alias("st_rate"),
        pl.col("_lt_rate").alias("lt_rate"),
    ).sort("date", "row")  # rows of one date stay in file order
    # dates out of order within a lot's life: a sale of a lot bought later
    buys = (
        typed.filter((pl.col("side") == "buy") & pl.col("lot_id").is_not_null())
        .group_by("account_id", "lot_id")
        .agg(pl.col("date").first().alias("_bought"), pl.col("row").first().alias("_brow"))
    )
    early = (
        typed.filter((pl.col("side") == "sell") & pl.col("lot_id").is_not_null())
        .join(buys, on=["account_id", "lot_id"], how="inner")
        .filter(pl.col("_bought") > pl.col("date"))
        .sort("row")
    )
    for r in early.iter_rows(named=True):
        problems.append(
            Problem(file, r["row"], "date", f"a sale of lot {r['lot_id']!r} on {r['date']}", f"a date on or after its purchase on {r['_bought']} (row {r['_brow']})")
        )
    if problems:
        raise DataError(f"{file}: dates out of order within a lot's life", problems)
    mapping.update(groups)
    return typed.to_dicts(), mapping


def replay(
    transactions: pl.DataFrame,
    *,
    method: Method | str = Method.FIFO,
    wash_groups: Mapping[str, str] | None = None,
    st_rate: float = 0.37,
    lt_rate: float = 0.20,
    file: str = "transactions.csv",
) -> LedgerResult:
    """Replay a transaction history (columns as strings or typed; see docs/tax.md "overlay ledger").

    Columns: date, symbol, side, shares, and price or amount (the trade's gross total); optional lot_id,
    account_id (default ``default``), household_id (default the account), tax_status (default
    ``taxable``), commission (added to a buy's basis, taken off a sale's proceeds), wash_group (or the
    `wash_groups` mapping; a symbol without one is its own group), st_rate/lt_rate (per account, for
    ``tax_optimal``). Rows are applied in date order, rows of one date in file order.

    Raises `DataError` naming the row for bad values (every one at once), a sale of more shares than
    held, an unknown lot, or a lot sold before its purchase.
    """
    rows, groups = _validate(transactions, file, wash_groups)
    led = Ledger(method=method, wash_groups=groups, st_rate=st_rate, lt_rate=lt_rate, file=file)
    for x in rows:
        led.register_account(x["account_id"], household_id=x["household_id"], tax_status=x["tax_status"], st_rate=x["st_rate"], lt_rate=x["lt_rate"], row=x["row"])
    led._apply_rows(rows)
    return LedgerResult(realized=led.realized(), lots=led.lots())


def realize(
    lots: pl.DataFrame,
    trades: pl.DataFrame,
    *,
    trade_date: dt.date,
    accounts: pl.DataFrame | None = None,
    wash_groups: Mapping[str, str] | pl.DataFrame | None = None,
    method: Method | str = Method.FIFO,
) -> LedgerResult:
    """Apply one day's fills to authoritative lots: the new lots and the realized rows (with terms).

    One-shot form of ``Ledger.from_lots(...).apply(...)``: buys get stable ids (``YYYYMMDD-k``), sells
    relieve their `lot_id` (or `method` order), the wash-sale rule is applied among today's trades and
    against the lots bought in the 30 days before (by `purchase_date`). Losses realized on *earlier*
    days are not known to a fresh ledger: a simulation should keep one `Ledger` for its whole run.
    """
    led = Ledger.from_lots(lots, accounts=accounts, wash_groups=wash_groups, method=method)
    led.file = "trades"
    led.apply(trades, date=trade_date)
    return LedgerResult(realized=led.realized(), lots=led.lots())


# ------------------------------------------------------------------------------------------------
# output
# ------------------------------------------------------------------------------------------------

_CENT = Decimal("0.01")
_MICRO = Decimal("0.000001")


def money_str(x: float) -> str:
    """Round USD half-even to cents, once, for output.

    The float is first read at its shortest exact decimal (`repr`) and snapped to micro-dollars, which
    removes binary noise (e.g. 2.675 computed as 2.67499999999 is read as 2.675), then rounded half-even
    to cents. ``-0.00`` is written ``0.00``.
    """
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return ""
    d = Decimal(repr(float(x))).quantize(_MICRO, rounding=ROUND_HALF_EVEN).quantize(_CENT, rounding=ROUND_HALF_EVEN)
    if d == 0:
        d = Decimal("0.00")
    return str(d)


def shares_str(x: float) -> str:
    """Shares to at most 9 decimals, trailing zeros dropped."""
    s = f"{float(x):.9f}".rstrip("0").rstrip(".")
    return "0" if s in ("", "-0") else s


def _cell(col: str, v: Any) -> str:
    if v is None:
        return ""
    if col in _MONEY_COLS:
        return money_str(v)
    if col == "shares":
        return shares_str(v)
    return str(v)


def write_csv(df: pl.DataFrame, path: Path) -> None:
    """Write `df` atomically (temporary file then rename), money rounded to cents."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh, lineterminator="\n")
            w.writerow(df.columns)
            for r in df.iter_rows():
                w.writerow([_cell(c, v) for c, v in zip(df.columns, r)])
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_ledger(result: LedgerResult, out_dir: str | os.PathLike[str]) -> tuple[Path, Path]:
    """Write ``realized.csv`` and ``lots.csv`` into `out_dir` (created if needed); returns their paths."""
    out = Path(out_dir)
    realized = out / "realized.csv"
    lots = out / "lots.csv"
    write_csv(result.realized, realized)
    write_csv(result.lots, lots)
    return realized, lots


__all__ = [
    "DEFAULT_ACCOUNT",
    "LOTS_COLUMNS",
    "METHODS",
    "REALIZED_COLUMNS",
    "Ledger",
    "LedgerResult",
    "SalePart",
    "money_str",
    "read_transactions",
    "realize",
    "replay",
    "write_ledger",
]
