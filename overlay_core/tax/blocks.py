"""The day's tax view of a whole book: wash-sale blocks, terms and tax per share, for the optimizer and review.

`tax_state(book)` is computed once per day for the whole book (vectorized with polars/numpy; no Python
loop over lots or accounts), and `TaxState.account(account_id)` hands the optimizer numpy arrays aligned
to one account's lots in O(1) (the partition is computed once).

What the upload gives is authoritative: a lot's `cost_basis` and `acquired` already include the
custodian's wash-sale adjustments and are **never adjusted again** here. `purchase_date` (the real trade
date; defaults to `acquired`) drives the 30-day look-back; `acquired` drives the term.

Rules (docs/DATA_CONTRACT "What every line obeys", IRC §1091(a), Publication 550 "Wash Sales"):

(a) **loss_sale_blocked** (per lot, taxable accounts only): selling the lot at a loss on the trade date
    would be washed because the household acquired shares of the lot's wash group within the 30 days
    before the trade date (both ends inclusive: ``trade_date - 30 <= date <= trade_date``). Counted:
    lots by `purchase_date` (any account of the household, any tax status) except the lot itself and
    except lots that pending orders sell in full; buy `transactions` not already represented by a lot
    (same account, symbol and date, and same `lot_id` when the transaction gives one); pending buys
    (dated the trade date). A sale in a tax-deferred/tax-exempt account is never a wash sale (no loss is
    recognized there), so those lots are never blocked.
(b) **buy_blocked** (per account and symbol, accounts of *any* tax status): a taxable account of the
    household realized a loss in the symbol's wash group within the 30 days before the trade date (a
    sell `transaction` with `realized_gain < 0`, or a pending sell of a taxable account whose
    `est_realized_gain < 0` — or, where that is empty, whose relieved lots are at a loss at today's close).

Pending orders are treated as filled on the trade date at today's close: a pending sell naming a lot
relieves it; one without `lot_id` relieves the account's lots of that symbol FIFO by `purchase_date`
(the IRS default when shares are not identified). `available_shares` is what is left to sell.

The trade file's own lines (what the optimizer proposes) are *not* known here: the optimizer must also
keep (a) "nor of a wash group that this file buys in any account of the household" — see
`TaxState.household_of` and `AccountTax.wash_group`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Iterable, Mapping

import numpy as np
import polars as pl

from overlay_core.book import Book
from overlay_core.tax.holding import days_to_long_term_array, is_long_term

#: the wash-sale window, calendar days on each side of a sale (IRC §1091(a)), both ends inclusive
WINDOW_DAYS = 30

_LOT_KEY = ["account_id", "lot_id"]


@dataclass(frozen=True)
class AccountTax:
    """One account's tax arrays, aligned to its lots (all arrays of shape (n_lots,)).

    Lots are ordered by symbol, then `purchase_date`, then `lot_id`. Money is USD (float64, full
    precision); dates are ``datetime64[D]``.

    Attributes
    ----------
    account_id, household_id, tax_status : the account's identity; `taxable` is ``tax_status == "taxable"``.
    st_rate, lt_rate : the account's combined marginal rates (fractions).
    lot_id, symbol, wash_group : object arrays of str.
    shares : the uploaded shares.
    available_shares : shares left after pending sells (what the trade file may still sell).
    cost_basis : the lot's total basis (NaN where empty: tax-deferred/exempt accounts).
    basis_per_share : cost_basis / shares.
    price : today's close (NaN where the symbol has no price).
    acquired, purchase_date : ``datetime64[D]`` (NaT where empty).
    long_term : bool, the term of a sale on the trade date (False where `acquired` is unknown).
    days_to_long_term : int64, calendar days from the trade date until long-term (0 if long; -1 unknown).
    gain_per_share : price - basis_per_share (NaN where the basis is unknown).
    tax_per_share : gain_per_share x (lt_rate if long_term else st_rate) in taxable accounts (< 0 is a
        tax benefit); 0 in tax-deferred/exempt accounts.
    loss_sale_blocked : bool, rule (a): a sale at a loss today would be a wash sale.
    buy_blocked_symbols : symbols whose purchase today is blocked by rule (b) (includes every symbol of
        the blocked wash groups that `securities` knows).
    buy_block_reasons : symbol -> reason text.
    """

    account_id: str
    household_id: str
    tax_status: str
    st_rate: float
    lt_rate: float
    lot_id: np.ndarray
    symbol: np.ndarray
    wash_group: np.ndarray
    shares: np.ndarray
    available_shares: np.ndarray
    cost_basis: np.ndarray
    basis_per_share: np.ndarray
    price: np.ndarray
    acquired: np.ndarray
    purchase_date: np.ndarray
    long_term: np.ndarray
    days_to_long_term: np.ndarray
    gain_per_share: np.ndarray
    tax_per_share: np.ndarray
    loss_sale_blocked: np.ndarray
    buy_blocked_symbols: frozenset[str] = frozenset()
    buy_block_reasons: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def taxable(self) -> bool:
        return self.tax_status == "taxable"

    @property
    def n_lots(self) -> int:
        return int(self.shares.shape[0])

    @property
    def sale_blocked(self) -> np.ndarray:
        """bool (n_lots,): a sale at today's close would be a washed loss (blocked and at a loss)."""
        return self.loss_sale_blocked & (self.gain_per_share < 0)

    def buy_blocked(self, symbols: Iterable[str]) -> np.ndarray:
        """bool array aligned to `symbols`: rule (b) forbids buying it today in this account."""
        blocked = self.buy_blocked_symbols
        return np.fromiter((s in blocked for s in symbols), dtype=bool)


@dataclass(frozen=True)
class TaxState:
    """The book's tax view at the trade date. Build with `tax_state(book)`.

    Attributes
    ----------
    trade_date : the date holding periods and the windows are evaluated at.
    lots : one row per (account_id, lot_id), sorted by account_id, symbol, purchase_date, lot_id:
        account_id, lot_id, symbol, wash_group, household_id, tax_status, shares, available_shares,
        sold_in_full_by_pending, cost_basis, basis_per_share, acquired, purchase_date, price, term
        ("short"/"long"/null), days_to_long_term (null if unknown), gain_per_share, tax_per_share,
        loss_sale_blocked, loss_sale_reason (null when not blocked).
    buy_blocks : only the blocked pairs: account_id, symbol, wash_group, household_id, loss_date (latest
        loss in the window), blocked_until (first day a purchase no longer washes it: loss_date + 31),
        loss (sum of the window's losses of the group in the household, USD, < 0), reason.
    losses : the losses behind rule (b): household_id, wash_group, account_id, symbol, date, loss, source
        ("transaction" row n / "pending" row n).
    acquisitions : the acquisitions behind rule (a): household_id, wash_group, account_id, symbol, date,
        shares, source ("lot <id>", "transaction row n", "pending row n"), lot_id (null unless a lot).
    """

    trade_date: dt.date
    lots: pl.DataFrame
    buy_blocks: pl.DataFrame
    losses: pl.DataFrame
    acquisitions: pl.DataFrame
    _accounts: Mapping[str, tuple[str, str, float, float]] = field(repr=False)
    _slices: Mapping[str, tuple[int, int]] = field(repr=False)
    _arrays: Mapping[str, np.ndarray] = field(repr=False)
    _blocked: Mapping[str, frozenset[str]] = field(repr=False)
    _block_reasons: Mapping[str, Mapping[str, str]] = field(repr=False)

    def account(self, account_id: str) -> AccountTax:
        """The account's arrays (views into the book-wide arrays: do not write to them). O(1).

        Raises KeyError for an account not in the book.
        """
        hh, status, st, lt = self._accounts[account_id]
        lo, hi = self._slices.get(account_id, (0, 0))
        a = self._arrays
        return AccountTax(
            account_id=account_id,
            household_id=hh,
            tax_status=status,
            st_rate=st,
            lt_rate=lt,
            **{k: v[lo:hi] for k, v in a.items()},
            buy_blocked_symbols=self._blocked.get(account_id, frozenset()),
            buy_block_reasons=self._block_reasons.get(account_id, MappingProxyType({})),
        )

    def household_of(self, account_id: str) -> str:
        return self._accounts[account_id][0]

    def is_buy_blocked(self, account_id: str, symbol: str) -> bool:
        return symbol in self._blocked.get(account_id, frozenset())

    def account_ids(self) -> list[str]:
        return list(self._accounts)


def _accounts(book: Book) -> pl.DataFrame:
    """account_id, household_id, tax_status, st_rate, lt_rate, with the reader's defaults re-applied."""
    reb = book.policy.rebalance
    a = book.accounts
    hh = pl.coalesce(pl.col("household_id"), pl.col("account_id")) if "household_id" in a.columns else pl.col("account_id")
    st = pl.col("st_rate").fill_null(reb.st_rate) if "st_rate" in a.columns else pl.lit(reb.st_rate)
    lt = pl.col("lt_rate").fill_null(reb.lt_rate) if "lt_rate" in a.columns else pl.lit(reb.lt_rate)
    return a.select(
        "account_id",
        hh.alias("household_id"),
        pl.col("tax_status").fill_null("taxable"),
        st.cast(pl.Float64).alias("st_rate"),
        lt.cast(pl.Float64).alias("lt_rate"),
    )


def _symbols(book: Book) -> pl.DataFrame:
    """symbol -> wash_group (a symbol is its own group where `securities` gives none or does not know it),
    `_g` an integer code of the group, and today's `price`."""
    sec = book.securities
    known = sec.select("symbol", (pl.col("wash_group") if "wash_group" in sec.columns else pl.lit(None, dtype=pl.String)).alias("wash_group"))
    seen = pl.concat(
        [book.lots.select("symbol"), book.transactions.select("symbol"), book.pending_orders.select("symbol"), book.prices.select("symbol")],
        how="vertical",
    ).unique()
    table = (
        pl.concat([known, seen.join(known, on="symbol", how="anti").with_columns(pl.lit(None, dtype=pl.String).alias("wash_group"))], how="vertical")
        .with_columns(pl.coalesce(pl.col("wash_group"), pl.col("symbol")).alias("wash_group"))
        .with_columns(pl.col("wash_group").rank("dense").cast(pl.Int64).alias("_g"))
        .join(book.prices.select("symbol", pl.col("close").alias("price")), on="symbol", how="left")
    )
    return table


def _households(accts: pl.DataFrame, *others: pl.DataFrame) -> pl.DataFrame:
    """account_id -> household_id, tax_status, rates and `_h`, an integer code of the household; accounts
    unknown to `accounts` (seen only in lots, transactions or pending orders) are their own taxable
    household."""
    ids = pl.concat([o.select("account_id") for o in others], how="vertical").unique()
    missing = ids.join(accts, on="account_id", how="anti").with_columns(
        pl.col("account_id").alias("household_id"),
        pl.lit("taxable").alias("tax_status"),
        pl.lit(None, dtype=pl.Float64).alias("st_rate"),
        pl.lit(None, dtype=pl.Float64).alias("lt_rate"),
    )
    return pl.concat([accts, missing.select(accts.columns)], how="vertical").with_columns(
        pl.col("household_id").rank("dense").cast(pl.Int64).alias("_h")
    )


def tax_state(book: Book, *, window_days: int = WINDOW_DAYS) -> TaxState:
    """Compute the book's tax view at `book.trade_date` (see the module docstring for the rules).

    Parameters
    ----------
    book : the validated book (lots, accounts, securities, prices, transactions, pending_orders).
    window_days : the wash-sale window (30 by IRC §1091; a parameter only for tests and what-ifs).

    Returns
    -------
    TaxState. Vectorized over the whole book (one sort of the lots, joins on integer keys): call it
    once per day.
    """
    td = book.trade_date
    start = td - dt.timedelta(days=window_days)
    accts = _accounts(book)
    hh = _households(accts, book.lots, book.transactions, book.pending_orders)
    syms = _symbols(book)
    n_groups = int(syms["_g"].max() or 0) + 1
    hg = (pl.col("_h") * n_groups + pl.col("_g")).alias("_hg")

    def tag(df: pl.DataFrame) -> pl.DataFrame:
        """Add household, status, wash group and the integer (household, group) key to rows with account_id, symbol."""
        return (
            df.join(hh.select("account_id", "household_id", "tax_status", "_h"), on="account_id", how="left", maintain_order="left")
            .join(syms.select("symbol", "wash_group", "_g"), on="symbol", how="left", maintain_order="left")
            .with_columns(hg)
        )

    lots = book.lots
    pdate = pl.coalesce(pl.col("purchase_date"), pl.col("acquired")) if "purchase_date" in lots.columns else pl.col("acquired")
    lots = (
        lots.select(
            "account_id",
            "lot_id",
            "symbol",
            pl.col("shares").cast(pl.Float64),
            pl.col("cost_basis").cast(pl.Float64),
            "acquired",
            pdate.alias("purchase_date"),
        )
        .sort("account_id", "symbol", "purchase_date", "lot_id", nulls_last=True)
        .with_row_index("_i")
        .join(hh, on="account_id", how="left", maintain_order="left")
        .join(syms, on="symbol", how="left", maintain_order="left")
        .with_columns(hg, (pl.col("cost_basis") / pl.col("shares")).alias("basis_per_share"))
    )

    # ---- pending orders: relieve lots (named, then FIFO by purchase_date) ---------------------------
    pend = book.pending_orders.with_row_index("pending_row", offset=1)
    psell = pend.filter(pl.col("side") == "sell")
    named = psell.filter(pl.col("lot_id").is_not_null()).group_by(_LOT_KEY).agg(pl.col("shares").sum().alias("named_sold"))
    unnamed = psell.filter(pl.col("lot_id").is_null()).group_by("account_id", "symbol").agg(pl.col("shares").sum().alias("unnamed_sold"))
    if named.height:
        lots = lots.join(named, on=_LOT_KEY, how="left", maintain_order="left").with_columns(pl.col("named_sold").fill_null(0.0))
    else:
        lots = lots.with_columns(pl.lit(0.0).alias("named_sold"))
    lots = lots.with_columns((pl.col("shares") - pl.col("named_sold")).clip(lower_bound=0.0).alias("_avail"))
    if unnamed.height:
        # FIFO relief only where an unnamed pending sell exists (the lots are already in FIFO order)
        fifo = (
            lots.select("_i", "account_id", "symbol", "_avail")
            .join(unnamed, on=["account_id", "symbol"], how="inner", maintain_order="left")
            .with_columns(pl.col("_avail").cum_sum().over("account_id", "symbol").alias("_cum"))
            .with_columns((pl.col("unnamed_sold") - (pl.col("_cum") - pl.col("_avail"))).clip(lower_bound=0.0).alias("_fifo"))
            .with_columns(pl.min_horizontal("_fifo", "_avail").alias("_fifo"))
            .select("_i", "_fifo")
        )
        lots = lots.join(fifo, on="_i", how="left", maintain_order="left").with_columns(pl.col("_fifo").fill_null(0.0))
    else:
        lots = lots.with_columns(pl.lit(0.0).alias("_fifo"))
    lots = lots.with_columns((pl.col("_avail") - pl.col("_fifo")).alias("available_shares")).with_columns(
        (pl.col("available_shares") <= 1e-9 * pl.max_horizontal(pl.col("shares"), pl.lit(1.0))).alias("sold_in_full_by_pending")
    )
    relieved = lots.filter((pl.col("named_sold") > 0) | (pl.col("_fifo") > 0))

    # ---- rule (b): losses realized by taxable accounts in the window --------------------------------
    tx = tag(book.transactions.with_row_index("tx_row", offset=1)).filter((pl.col("date") >= start) & (pl.col("date") <= td))
    loss_cols = ["household_id", "wash_group", "account_id", "symbol", "date", "loss", "source"]
    tx_losses = tx.filter((pl.col("side") == "sell") & (pl.col("tax_status") == "taxable") & (pl.col("realized_gain") < 0)).select(
        "household_id",
        "wash_group",
        "account_id",
        "symbol",
        "date",
        pl.col("realized_gain").alias("loss"),
        pl.format("transaction row {}", pl.col("tx_row")).alias("source"),
    )
    ps = tag(psell)
    # estimated gain of each pending sell where the file gives none: its named lot, or its FIFO relief
    lot_gain = relieved.select("account_id", "lot_id", "symbol", (pl.col("price") - pl.col("basis_per_share")).alias("_gps"), "_fifo")
    named_est = ps.filter(pl.col("lot_id").is_not_null()).join(lot_gain.select("account_id", "lot_id", "_gps"), on=_LOT_KEY, how="left").with_columns(
        (pl.col("shares") * pl.col("_gps")).alias("_est")
    )
    fifo_est = (
        lot_gain.filter(pl.col("_fifo") > 0)
        .group_by("account_id", "symbol")
        .agg((pl.col("_fifo") * pl.col("_gps")).filter(pl.col("_gps") < 0).sum().alias("_fifo_loss"))
    )
    unnamed_est = ps.filter(pl.col("lot_id").is_null()).join(fifo_est, on=["account_id", "symbol"], how="left").with_columns(pl.col("_fifo_loss").alias("_est"))
    ps_est = pl.concat([named_est.select(ps.columns + ["_est"]), unnamed_est.select(ps.columns + ["_est"])], how="vertical")
    pend_losses = (
        ps_est.with_columns(pl.coalesce(pl.col("est_realized_gain"), pl.col("_est")).alias("loss"))
        .filter((pl.col("tax_status") == "taxable") & (pl.col("loss") < 0))
        .select(
            "household_id",
            "wash_group",
            "account_id",
            "symbol",
            pl.lit(td).alias("date"),
            "loss",
            pl.format("pending row {}", pl.col("pending_row")).alias("source"),
        )
    )
    losses = pl.concat([tx_losses.select(loss_cols), pend_losses.select(loss_cols)], how="vertical").sort("household_id", "wash_group", "date", "source")

    loss_groups = losses.group_by("household_id", "wash_group").agg(
        pl.col("date").max().alias("loss_date"),
        pl.col("loss").sum().alias("loss"),
        pl.len().alias("n_losses"),
        pl.col("account_id").sort_by("date").last().alias("_acct"),
    )
    buy_blocks = (
        loss_groups.join(syms.select("symbol", "wash_group"), on="wash_group", how="inner")
        .join(hh.select("account_id", "household_id"), on="household_id", how="inner")
        .with_columns((pl.col("loss_date") + pl.duration(days=window_days + 1)).alias("blocked_until"))
        .with_columns(
            pl.format(
                "wash sale (b): the household realized a loss of {} in wash group {} ({} sale(s), latest {} in account {}); buying before {} would wash it",
                pl.col("loss").round(2),
                pl.col("wash_group"),
                pl.col("n_losses"),
                pl.col("loss_date"),
                pl.col("_acct"),
                pl.col("blocked_until"),
            ).alias("reason")
        )
        .select("account_id", "symbol", "wash_group", "household_id", "loss_date", "blocked_until", "loss", "reason")
        .sort("account_id", "symbol")
    )

    # ---- rule (a): acquisitions by the household in the window --------------------------------------
    acq_cols = ["household_id", "wash_group", "account_id", "symbol", "date", "shares", "source", "lot_id", "_hg"]
    in_window = (pl.col("purchase_date") >= start) & (pl.col("purchase_date") <= td) & ~pl.col("sold_in_full_by_pending")
    lots = lots.with_columns(in_window.fill_null(False).alias("_self"))
    lot_acq = lots.filter(pl.col("_self")).select(
        "household_id",
        "wash_group",
        "account_id",
        "symbol",
        pl.col("purchase_date").alias("date"),
        "shares",
        pl.format("lot {}", pl.col("lot_id")).alias("source"),
        "lot_id",
        "_hg",
    )
    tx_buys = tx.filter(pl.col("side") == "buy")
    recent_lots = lots.filter((pl.col("purchase_date") >= start) & (pl.col("purchase_date") <= td)).select(
        "account_id", "symbol", pl.col("purchase_date").alias("date"), pl.col("lot_id").alias("_lot")
    )
    represented = (
        tx_buys.select("tx_row", "account_id", "symbol", "date", "lot_id")
        .join(recent_lots, on=["account_id", "symbol", "date"], how="inner")
        .filter(pl.col("lot_id").is_null() | (pl.col("lot_id") == pl.col("_lot")))
        .select("tx_row")
        .unique()
    )
    tx_acq = tx_buys.join(represented, on="tx_row", how="anti").select(
        "household_id",
        "wash_group",
        "account_id",
        "symbol",
        "date",
        "shares",
        pl.format("transaction row {}", pl.col("tx_row")).alias("source"),
        pl.lit(None, dtype=pl.String).alias("lot_id"),
        "_hg",
    )
    pend_acq = tag(pend.filter(pl.col("side") == "buy")).select(
        "household_id",
        "wash_group",
        "account_id",
        "symbol",
        pl.lit(td).alias("date"),
        "shares",
        pl.format("pending row {}", pl.col("pending_row")).alias("source"),
        pl.lit(None, dtype=pl.String).alias("lot_id"),
        "_hg",
    )
    acquisitions = pl.concat([lot_acq.select(acq_cols), tx_acq.select(acq_cols), pend_acq.select(acq_cols)], how="vertical").sort(
        "household_id", "wash_group", "date", "source"
    )
    acq_groups = acquisitions.group_by("_hg").agg(pl.len().alias("_n_acq"), pl.col("date").max().alias("_latest_acq"))
    acquisitions = acquisitions.drop("_hg")

    lots = (
        lots.join(acq_groups, on="_hg", how="left", maintain_order="left")
        .with_columns(pl.col("_n_acq").fill_null(0), pl.col("_self").cast(pl.Int64))
        .with_columns(((pl.col("tax_status") == "taxable") & ((pl.col("_n_acq") - pl.col("_self")) > 0)).alias("loss_sale_blocked"))
        .with_columns(
            pl.when(pl.col("loss_sale_blocked"))
            .then(
                pl.format(
                    "wash sale (a): the household acquired wash group {} within the 30 days before {} ({} other acquisition(s), latest {})",
                    pl.col("wash_group"),
                    pl.lit(td),
                    pl.col("_n_acq") - pl.col("_self"),
                    pl.col("_latest_acq"),
                )
            )
            .otherwise(None)
            .alias("loss_sale_reason")
        )
    )

    # ---- terms, gains and tax per share (numpy, vectorized) -----------------------------------------
    acquired = lots["acquired"].to_numpy().astype("datetime64[D]")
    long_term = is_long_term(acquired, td)
    dtl = days_to_long_term_array(acquired, td)
    price = lots["price"].to_numpy().astype(np.float64)
    bps = lots["basis_per_share"].to_numpy().astype(np.float64)
    gain_ps = price - bps
    taxable = (lots["tax_status"] == "taxable").to_numpy()
    st_rate = lots["st_rate"].fill_null(book.policy.rebalance.st_rate).to_numpy().astype(np.float64)
    lt_rate = lots["lt_rate"].fill_null(book.policy.rebalance.lt_rate).to_numpy().astype(np.float64)
    rate = np.where(long_term, lt_rate, st_rate)
    tax_ps = np.where(taxable, gain_ps * rate, 0.0)
    known = ~np.isnat(acquired)
    lots = lots.with_columns(
        pl.when(pl.Series(known)).then(pl.when(pl.Series(long_term)).then(pl.lit("long")).otherwise(pl.lit("short"))).otherwise(None).alias("term"),
        pl.Series("days_to_long_term", dtl, dtype=pl.Int64),
        pl.Series("gain_per_share", gain_ps, dtype=pl.Float64, nan_to_null=False),
        pl.Series("tax_per_share", tax_ps, dtype=pl.Float64, nan_to_null=False),
    ).with_columns(pl.when(pl.col("term").is_null()).then(None).otherwise(pl.col("days_to_long_term")).alias("days_to_long_term"))
    out_cols = [
        "account_id", "lot_id", "symbol", "wash_group", "household_id", "tax_status", "shares", "available_shares",
        "sold_in_full_by_pending", "cost_basis", "basis_per_share", "acquired", "purchase_date", "price", "term",
        "days_to_long_term", "gain_per_share", "tax_per_share", "loss_sale_blocked", "loss_sale_reason",
    ]
    lots = lots.select(out_cols)

    arrays = {
        "lot_id": lots["lot_id"].to_numpy(),
        "symbol": lots["symbol"].to_numpy(),
        "wash_group": lots["wash_group"].to_numpy(),
        "shares": lots["shares"].to_numpy().astype(np.float64),
        "available_shares": lots["available_shares"].to_numpy().astype(np.float64),
        "cost_basis": lots["cost_basis"].to_numpy().astype(np.float64),
        "basis_per_share": bps,
        "price": price,
        "acquired": acquired,
        "purchase_date": lots["purchase_date"].to_numpy().astype("datetime64[D]"),
        "long_term": long_term,
        "days_to_long_term": dtl,
        "gain_per_share": gain_ps,
        "tax_per_share": tax_ps,
        "loss_sale_blocked": lots["loss_sale_blocked"].to_numpy().astype(bool),
    }
    for arr in arrays.values():
        arr.flags.writeable = False

    # account partitions: the lots are sorted by account, so each account is one contiguous slice
    acct_col = lots["account_id"]
    starts = np.flatnonzero(acct_col.ne(acct_col.shift(1)).fill_null(True).to_numpy())
    ends = np.append(starts[1:], lots.height)
    slices = dict(zip(acct_col.gather(starts).to_list(), zip(starts.tolist(), ends.tolist())))
    acc_map = {a: (h, s, float(st), float(lt)) for a, h, s, st, lt in accts.iter_rows()}
    blocked: dict[str, frozenset[str]] = {}
    reasons: dict[str, Mapping[str, str]] = {}
    if buy_blocks.height:
        for a, bsyms, rs in buy_blocks.group_by("account_id").agg(pl.col("symbol"), pl.col("reason")).iter_rows():
            blocked[a] = frozenset(bsyms)
            reasons[a] = MappingProxyType(dict(zip(bsyms, rs)))

    return TaxState(
        trade_date=td,
        lots=lots,
        buy_blocks=buy_blocks,
        losses=losses,
        acquisitions=acquisitions,
        _accounts=MappingProxyType(acc_map),
        _slices=MappingProxyType(slices),
        _arrays=MappingProxyType(arrays),
        _blocked=MappingProxyType(blocked),
        _block_reasons=MappingProxyType(reasons),
    )
