"""The advisor's what-if: a prospect (uploaded lots) or a demo account, a target, customizations ->
the transition plan, the tax cost against tracking error, and a multi-year transition schedule.

Data flow (the notebook `notebooks/advisor_whatif.py` calls these):

1. `read_prospect_lots(data, ...)` -> the prospect's lots as raw text (size-limited, CSV parsed as data
   only; the contract's ``lots`` columns); `prospect_book(book, lots, settings)` validates them with the
   upload's own reader (`upload.read_upload` on a one-account upload) and returns a one-household
   `Book`; `account_book(book, account_id, settings)` does the same for an account of the book;
2. `plan(book, account_id, risk=...)` -> the optimizer's `Proposal` (orders with reasons, explanation);
3. `gain_budget_curve(book, account_id, budgets, risk=...)` -> tax cost and tracking error per budget;
4. `transition_schedule(book, account_id, risk=..., years=..., passes_per_year=...)` -> the plan repeated
   over time (orders filled at today's prices, lots aging, the gain budget per calendar year).
"""

from __future__ import annotations

import io
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Iterable, Mapping

import polars as pl

from overlay_core.apps.book_ops import add_realized, advance, apply_orders, household_book
from overlay_core.book import Book
from overlay_core.contract import FIRM_WIDE, LOTS, TAX_STATUSES
from overlay_core.errors import ConfigError, DataError, Problem, UploadRefused
from overlay_core.optimize.explain import Proposal
from overlay_core.targets.risk import RiskModel

#: the largest prospect file accepted (bytes)
MAX_PROSPECT_BYTES = 5 * 1024 * 1024
#: the account id a prospect gets
PROSPECT_ID = "PROSPECT"

CURVE_COLUMNS = ("gain_budget", "decision", "n_orders", "turnover", "net_realized_gain", "est_tax", "te_before", "te_after", "relaxed")
SCHEDULE_COLUMNS = (
    "step", "trade_date", "year", "decision", "n_orders", "turnover", "net_realized_gain",
    "losses_harvested", "est_tax", "te_before", "te_after",
)


@dataclass(frozen=True)
class Settings:
    """The what-if account's settings (the contract's ``accounts`` and ``restrictions`` fields).

    Attributes
    ----------
    target_id : the target to follow. tax_status : taxable | tax_deferred | tax_exempt.
    cash : settled cash, USD (prospects; an account of the book keeps its own cash when None).
    gain_budget : the most net realized gain allowed this calendar year, USD (None: no budget).
    cash_need : cash to raise, USD. screens : screen tags. never_buy, never_sell : symbols.
    asset_class_weights : asset class -> custom weight (within the IPC's range for the target).
    """

    target_id: str
    tax_status: str = "taxable"
    cash: float | None = None
    gain_budget: float | None = None
    cash_need: float = 0.0
    screens: tuple[str, ...] = ()
    never_buy: tuple[str, ...] = ()
    never_sell: tuple[str, ...] = ()
    asset_class_weights: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))

    def restrictions(self, account_id: str) -> pl.DataFrame:
        rows = (
            [(account_id, "screen", t, None) for t in self.screens]
            + [(account_id, "never_buy", s, None) for s in self.never_buy]
            + [(account_id, "never_sell", s, None) for s in self.never_sell]
            + [(account_id, "asset_class_weight", c, float(w)) for c, w in self.asset_class_weights.items()]
        )
        return pl.DataFrame(
            rows, schema={"account_id": pl.String, "kind": pl.String, "value": pl.String, "limit": pl.Float64}, orient="row"
        )


def ipc_range(book: Book, target_id: str, asset_class: str) -> tuple[float, float] | None:
    """The IPC's allowed custom weight of `asset_class` in `target_id` (None: not customizable)."""
    r = book.policy.ranges.get(target_id, {})
    return r.get(asset_class)


def customizable_classes(book: Book, target_id: str) -> dict[str, tuple[float, float]]:
    """Asset classes the IPC lets an account customize in `target_id`, with their ranges (sorted)."""
    return dict(sorted(book.policy.ranges.get(target_id, {}).items()))


def read_prospect_lots(data: bytes, *, name: str = "prospect.csv", max_bytes: int = MAX_PROSPECT_BYTES) -> pl.DataFrame:
    """A prospect's lots file as text columns (nothing is evaluated: CSV parsed as data only).

    The file holds the contract's ``lots`` columns (``account_id`` optional: a prospect is one
    account). Types, dates, symbols and values are checked by `prospect_book` with the upload's reader.

    Raises
    ------
    DataError : larger than `max_bytes`, empty, not UTF-8, not CSV, a required column missing, or several
        account ids.
    """
    def refuse(found: str, expected: str, column: str | None = None) -> DataError:
        return DataError(f"{name} is refused", [Problem(name, None, column, found, expected)])

    if len(data) > max_bytes:
        raise refuse(f"{len(data):,} bytes", f"at most {max_bytes:,} bytes ({max_bytes / 2**20:g} MB)")
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    if not data.strip():
        raise refuse("an empty file", "a CSV file with a header row and one row per lot")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise refuse(f"bytes that are not UTF-8 at byte {exc.start}", "UTF-8 text") from None
    try:
        raw = pl.read_csv(io.StringIO(text), infer_schema=False, truncate_ragged_lines=False)
    except Exception as exc:  # noqa: BLE001 - any parser failure is the user's file
        raise refuse(f"malformed CSV ({str(exc).splitlines()[0][:160]})", "RFC 4180 CSV, comma-separated, one header row") from None
    raw = raw.rename({c: c.strip() for c in raw.columns})
    required = [c for c in LOTS.required if c != "account_id"]
    problems = [Problem(name, "header", c, "no such column", f"the lots column {c!r} (columns: {', '.join(LOTS.names)})") for c in required if c not in raw.columns]
    if problems:
        raise DataError(f"{name} is refused", problems)
    if raw.height == 0:
        raise refuse("no lot rows", "one row per tax lot")
    if "account_id" in raw.columns:
        ids = sorted({str(v).strip() for v in raw["account_id"].drop_nulls().to_list() if str(v).strip()})
        if len(ids) > 1:
            raise refuse(f"{len(ids)} account ids ({', '.join(ids[:5])})", "one prospect account per file", "account_id")
    keep = [c for c in LOTS.names if c in raw.columns]
    return raw.select(keep)


def prospect_book(book: Book, lots: pl.DataFrame, settings: Settings, *, account_id: str = PROSPECT_ID) -> Book:
    """The book's day with one account: the prospect holding `lots` (from `read_prospect_lots`).

    The lots, the account row and its restrictions are validated by `upload.read_upload` on a
    one-account upload (the book's securities, prices, models, targets and policy): every problem is
    listed at once, naming the row and column of the prospect's file.

    Raises
    ------
    DataError : the prospect's file or settings are refused.
    """
    from overlay_core.upload import read_upload

    if settings.tax_status not in TAX_STATUSES:
        raise ConfigError(f"tax status {settings.tax_status!r}; expected one of {', '.join(TAX_STATUSES)}")
    accounts = pl.DataFrame(
        {
            "account_id": [account_id],
            "target_id": [settings.target_id],
            "tax_status": [settings.tax_status],
            "cash": [float(settings.cash or 0.0)],
            "household_id": [account_id],
            "status": ["active"],
            "cash_need": [float(settings.cash_need)],
            "gain_budget": [settings.gain_budget],
            "advisor": ["(prospect)"],
        },
        schema_overrides={"gain_budget": pl.Float64},
    )
    lots_out = lots.with_columns(pl.lit(account_id).alias("account_id")).select(
        "account_id", *[c for c in lots.columns if c != "account_id"]
    )
    restrictions = pl.concat(
        [book.restrictions.filter(pl.col("account_id") == FIRM_WIDE), settings.restrictions(account_id)]
    )
    with tempfile.TemporaryDirectory(prefix="overlay-prospect-") as tmp:
        folder = Path(tmp)
        for name, df in (
            ("securities", book.securities),
            ("prices", book.prices),
            ("models", book.models),
            ("targets", book.targets),
            ("accounts", accounts),
            ("restrictions", restrictions),
        ):
            df.write_csv(folder / f"{name}.csv", date_format="%Y-%m-%d", null_value="", float_precision=None)
        lots_out.write_csv(folder / "lots.csv", null_value="")
        try:
            small = read_upload(folder, as_of=book.as_of, trade_date=book.trade_date, policy_override=book.policy)
        except UploadRefused as exc:
            problems = [
                replace(p, file="prospect.csv" if p.file == "lots.csv" else ("settings" if p.file in ("accounts.csv", "restrictions.csv") else p.file))
                for p in exc.problems
                if not (p.file == "accounts.csv" and "quarantined" in p.found)
            ]
            raise DataError("the prospect is refused", problems or list(exc.problems)) from None
    return replace(
        book,
        accounts=small.accounts,
        lots=small.lots,
        restrictions=small.restrictions,
        transactions=book.transactions.clear(),
        pending_orders=book.pending_orders.clear(),
        warnings=small.warnings,
    )


def account_book(book: Book, account_id: str, settings: Settings | None = None) -> Book:
    """The household of `account_id` with the account's settings replaced by `settings` (target, gain
    budget, cash need; its own restrictions replaced by the settings'; ``cash`` and ``tax_status`` kept
    unless given: tax status is the registration's, so only a prospect may choose it).

    Raises
    ------
    ConfigError : the account is not in the book.
    """
    sub = household_book(book, [account_id])
    if settings is None:
        return sub
    me = pl.col("account_id") == account_id
    accounts = sub.accounts.with_columns(
        pl.when(me).then(pl.lit(settings.target_id)).otherwise(pl.col("target_id")).alias("target_id"),
        pl.when(me).then(pl.lit(settings.gain_budget, pl.Float64)).otherwise(pl.col("gain_budget")).alias("gain_budget"),
        pl.when(me).then(pl.lit(float(settings.cash_need))).otherwise(pl.col("cash_need")).alias("cash_need"),
    )
    if settings.cash is not None:
        accounts = accounts.with_columns(pl.when(me).then(pl.lit(float(settings.cash))).otherwise(pl.col("cash")).alias("cash"))
    restrictions = pl.concat(
        [sub.restrictions.filter(~me), settings.restrictions(account_id).cast(sub.restrictions.schema)]  # type: ignore[arg-type]
    )
    return replace(sub, accounts=accounts, restrictions=restrictions)


def account_settings(book: Book, account_id: str) -> Settings:
    """An account's current settings (to start a what-if from)."""
    rows = book.accounts.filter(pl.col("account_id") == account_id)
    if rows.height != 1:
        raise ConfigError(f"account {account_id!r} is not in the book's accounts")
    a = rows.row(0, named=True)
    r = book.restrictions.filter(pl.col("account_id") == account_id)

    def vals(kind: str) -> tuple[str, ...]:
        return tuple(sorted(r.filter(pl.col("kind") == kind)["value"].to_list()))

    acw = {v: float(l) for v, l in r.filter(pl.col("kind") == "asset_class_weight").select("value", "limit").iter_rows() if l is not None}
    return Settings(
        target_id=a["target_id"],
        tax_status=a["tax_status"],
        cash=None,
        gain_budget=a["gain_budget"],
        cash_need=float(a["cash_need"] or 0.0),
        screens=vals("screen"),
        never_buy=vals("never_buy"),
        never_sell=vals("never_sell"),
        asset_class_weights=MappingProxyType(acw),
    )


def unrealized_gains(book: Book, account_id: str) -> tuple[float, float]:
    """(gains, losses) of the account's lots at today's close, USD (losses as a positive number; lots
    without a basis count as neither)."""
    lots = book.lots.filter(pl.col("account_id") == account_id).join(book.prices.select("symbol", "close"), on="symbol", how="left")
    g = lots.select((pl.col("shares") * pl.col("close") - pl.col("cost_basis")).alias("g")).drop_nulls()["g"]
    return float(g.filter(g > 0).sum()), float(-g.filter(g < 0).sum())


def default_budgets(book: Book, account_id: str, *, points: int = 6) -> list[float | None]:
    """Gain budgets for `gain_budget_curve`: `points` steps from 0 to the account's unrealized gains
    (rounded to 100 USD), then None (no budget)."""
    gains, _ = unrealized_gains(book, account_id)
    top = max(gains, 1000.0)
    steps = sorted({round(top * k / (points - 1), -2) for k in range(points)}) if points > 1 else [0.0]
    return [float(x) for x in steps] + [None]


def showcase_account(book: Book) -> str:
    """A taxable, active account with the largest unrealized gains (a transition worth planning); the
    first account when there is none."""
    acc = book.accounts.filter((pl.col("tax_status") == "taxable") & (pl.col("status") == "active"))
    if acc.height == 0:
        return book.accounts["account_id"][0]
    lots = book.lots.join(acc.select("account_id"), on="account_id", how="semi").join(book.prices.select("symbol", "close"), on="symbol")
    g = (
        lots.group_by("account_id")
        .agg((pl.col("shares") * pl.col("close") - pl.col("cost_basis")).sum().alias("g"))
        .sort("g", "account_id", descending=[True, False])
    )
    return g["account_id"][0] if g.height else acc["account_id"][0]


def plan(book: Book, account_id: str, *, risk: RiskModel) -> Proposal:
    """The optimizer's proposal for `account_id` on `book` (usually from `prospect_book`/`account_book`)."""
    from overlay_core.optimize.build import rebalance_account
    from overlay_core.targets.customize import account_targets
    from overlay_core.tax.blocks import tax_state

    at = account_targets(book, risk=risk, account_ids=[account_id])
    return rebalance_account(book, account_id, targets=at, risk=risk, tax_state=tax_state(book))


def plan_allocation(book: Book, account_id: str, proposal: Proposal, *, risk: RiskModel) -> pl.DataFrame:
    """The account's asset allocation today, after the proposal's orders, and its own target.

    Returns
    -------
    frame [asset_class, today, after, target] (fractions of the account's value; 0 where absent),
    sorted by target descending.
    """
    from overlay_core.holdings import holdings
    from overlay_core.targets.blend import asset_allocation
    from overlay_core.targets.customize import account_targets

    one = household_book(book, [account_id]) if book.accounts.height > 1 else book
    me = pl.col("account_id") == account_id
    today = holdings(one).by_asset_class(book.securities).filter(me).select("asset_class", pl.col("weight").alias("today"))
    after_book = apply_orders(one, proposal.orders)
    after = holdings(after_book).by_asset_class(book.securities).filter(me).select("asset_class", pl.col("weight").alias("after"))
    at = account_targets(one, risk=risk, account_ids=[account_id])
    target = asset_allocation(at.weights, book.securities, key="account_id").filter(me).select("asset_class", pl.col("weight").alias("target"))
    return (
        today.join(after, on="asset_class", how="full", coalesce=True)
        .join(target, on="asset_class", how="full", coalesce=True)
        .with_columns(pl.col("today", "after", "target").fill_null(0.0))
        .sort("target", "asset_class", descending=[True, False])
    )


def gain_budget_curve(book: Book, account_id: str, budgets: Iterable[float | None], *, risk: RiskModel) -> pl.DataFrame:
    """Tax cost against tracking error: the proposal for each gain budget (USD for the calendar year;
    None = no budget), everything else fixed.

    Returns
    -------
    frame with `CURVE_COLUMNS`, one row per budget in the order given (USD; te_* annualized fractions;
    ``relaxed`` the soft constraint families the optimizer had to relax, comma-separated, "" if none: a
    budget the account cannot keep -- e.g. because a drift band breach must be repaired -- shows
    ``gain_budget`` there and a net gain above the budget).
    """
    from overlay_core.optimize.build import rebalance_account
    from overlay_core.targets.customize import account_targets
    from overlay_core.tax.blocks import tax_state

    at = account_targets(book, risk=risk, account_ids=[account_id])
    ts = tax_state(book)
    me = pl.col("account_id") == account_id
    rows = []
    for b in budgets:
        bk = replace(book, accounts=book.accounts.with_columns(pl.when(me).then(pl.lit(b, pl.Float64)).otherwise(pl.col("gain_budget")).alias("gain_budget")))
        e = rebalance_account(bk, account_id, targets=at, risk=risk, tax_state=ts).explanation
        rows.append((b, e.decision, e.n_orders, e.turnover, e.net_realized_gain, e.est_tax, e.te_before, e.te_after, ", ".join(e.relaxed)))
    schema = {
        "gain_budget": pl.Float64, "decision": pl.String, "n_orders": pl.Int64, "turnover": pl.Float64,
        "net_realized_gain": pl.Float64, "est_tax": pl.Float64, "te_before": pl.Float64, "te_after": pl.Float64,
        "relaxed": pl.String,
    }
    return pl.DataFrame(rows, schema=schema, orient="row")


def transition_schedule(
    book: Book, account_id: str, *, risk: RiskModel, years: int = 3, passes_per_year: int = 4
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The transition over `years`: a review every ``365 // passes_per_year`` days, each pass's orders
    filled at today's prices (no market forecast), lots aging (short -> long term), the gain budget
    applying per calendar year (realized gains accumulate into ``ytd_realized_*``), the wash-sale rule
    seeing earlier passes' trades.

    Returns
    -------
    (passes, orders): passes with `SCHEDULE_COLUMNS` (one row per pass), and every pass's order lines
    (the trade file's columns plus ``step``).
    """
    from overlay_core.optimize.build import rebalance_account
    from overlay_core.targets.customize import account_targets
    from overlay_core.tax.blocks import tax_state

    if years < 1 or passes_per_year < 1:
        raise ConfigError(f"years={years}, passes_per_year={passes_per_year}; expected both >= 1")
    days = 365 // passes_per_year
    rows = []
    all_orders = []
    bk = book
    for step in range(1, years * passes_per_year + 1):
        at = account_targets(bk, risk=risk, account_ids=[account_id])
        p = rebalance_account(bk, account_id, targets=at, risk=risk, tax_state=tax_state(bk))
        e = p.explanation
        rows.append(
            (step, bk.trade_date, bk.trade_date.year, e.decision, e.n_orders, e.turnover, e.net_realized_gain,
             e.losses_harvested, e.est_tax, e.te_before, e.te_after)
        )
        if p.orders.height:
            all_orders.append(p.orders.with_columns(pl.lit(step).alias("step")))
            bk = add_realized(apply_orders(bk, p.orders), p.orders)
        bk = advance(bk, days=days)
    schema = {
        "step": pl.Int64, "trade_date": pl.Date, "year": pl.Int64, "decision": pl.String, "n_orders": pl.Int64,
        "turnover": pl.Float64, "net_realized_gain": pl.Float64, "losses_harvested": pl.Float64, "est_tax": pl.Float64,
        "te_before": pl.Float64, "te_after": pl.Float64,
    }
    passes = pl.DataFrame(rows, schema=schema, orient="row")
    orders = pl.concat(all_orders) if all_orders else pl.DataFrame()
    return passes, orders


def schedule_by_year(passes: pl.DataFrame) -> pl.DataFrame:
    """`transition_schedule` passes summed by calendar year: orders, turnover, realized gains, losses
    harvested, tax, and the tracking error at the year's last pass."""
    return (
        passes.sort("step")
        .group_by("year", maintain_order=True)
        .agg(
            pl.col("n_orders").sum(),
            pl.col("turnover").sum(),
            pl.col("net_realized_gain").sum(),
            pl.col("losses_harvested").sum(),
            pl.col("est_tax").sum(),
            pl.col("te_before").first(),
            pl.col("te_after").last(),
        )
    )


def proposal_csv(proposal: Proposal) -> bytes:
    """The proposal's order lines as CSV bytes (the trade file's columns without run_id; money rounded
    half-even to cents at output)."""
    out = proposal.orders.with_columns(
        pl.col("est_value").round(2, mode="half_to_even"), pl.col("est_realized_gain").round(2, mode="half_to_even")
    )
    buf = io.StringIO()
    out.write_csv(buf, date_format="%Y-%m-%d", null_value="")
    return buf.getvalue().encode("utf-8")


__all__ = [
    "CURVE_COLUMNS",
    "MAX_PROSPECT_BYTES",
    "PROSPECT_ID",
    "SCHEDULE_COLUMNS",
    "Settings",
    "account_book",
    "account_settings",
    "customizable_classes",
    "default_budgets",
    "showcase_account",
    "unrealized_gains",
    "gain_budget_curve",
    "ipc_range",
    "plan",
    "plan_allocation",
    "proposal_csv",
    "prospect_book",
    "read_prospect_lots",
    "schedule_by_year",
    "transition_schedule",
]
