"""The tax-alpha backtest: accounts driven through a price history by the day loop, one strategy at a time.

`run_backtest(source, settings=BacktestSettings(...), strategies=...)` -> `Backtest`.

Each strategy's accounts start with cash on the first rebalance day and go through the same day loop:

1. the day's `Book` (built once at the start, then the previous period's `simulate.fills.fill_day`
   output, given the source's closes of the days after the fill up to this rebalance day, its price
   history cut to the risk model's window): as_of = the rebalance day, trade date = the next day of
   the source;
2. at the first rebalance of a year, the previous year's tax (`accounting.annual_tax` on the tax
   engine's realized rows at the stated rates) is settled: a refund is credited to cash, a tax due is
   set as the account's ``cash_need``, which every strategy raises and the day loop pays out after the
   fills; on a flow date a withdrawal is added to the ``cash_need`` the same way (the contract's
   withdrawal mechanism) and a contribution is credited after the fills;
3. the strategy's orders (``Book -> orders``, `strategies`) are filled by `simulate.fills.fill_day`
   at the trade date's close: the tax engine's lots and wash-sale rule, trading costs, cash guard,
   transactions and year-to-date gains — the same machinery as `overlay simulate`;
4. the period is recorded: value before the trades, the P&L of the holdings over the two segments
   (as_of -> trade date -> next as_of), costs, tax paid, flows, realized gains by term, losses
   harvested, the target's return.

The target of every account is one model: ``target="index"`` (default) is a capitalization-like index
of the universe — equal weights on the first day, then drifting with prices (fixed share counts), so that
buy and hold tracks it exactly, as an index fund would; ``target="equal"`` rebalances to equal weights
(buy and hold drifts away from it).

No look-ahead: the book of day *t* holds closes up to *t* only (prices, price history); the fill
price is the next day's close, used only by the day loop.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import asdict, dataclass, field, replace
from typing import Callable, Iterable, Literal, Mapping, Sequence

import numpy as np
import polars as pl

from overlay_core.analytics.accounting import Carry, Offset, account_figures, annual_tax, by_year, summarize
from overlay_core.analytics.book_target import BookTarget
from overlay_core.analytics.strategies import STRATEGIES, Strategy, by_name
from overlay_core.book import Book
from overlay_core.contract import ACCOUNTS, FIRM_WIDE, LOTS, MODELS, PENDING_ORDERS, PRICE_HISTORY, PRICES, RESTRICTIONS, SECURITIES, TARGETS, TRANSACTIONS, empty_frame, schema
from overlay_core.errors import ConfigError, DataError, Problem
from overlay_core.market.prices import PriceSource
from overlay_core.optimize.explain import ORDER_SCHEMA
from overlay_core.policy import Policy
from overlay_core.tax.holding import term_at

Frequency = Literal["daily", "weekly", "monthly"]
FREQUENCIES: tuple[str, ...] = ("daily", "weekly", "monthly")
PERIODS_PER_YEAR = {"daily": 252.0, "weekly": 52.0, "monthly": 12.0}
TARGET_ID = "T"
MODEL_ID = "INDEX"
TARGETS_KINDS: tuple[str, ...] = ("index", "equal", "fixed")
FLOW_SCHEDULES: tuple[str, ...] = ("period", "annual")

PERIOD_SCHEMA = {
    "strategy": pl.String(), "account_id": pl.String(), "date": pl.Date(), "trade_date": pl.Date(),
    "value": pl.Float64(), "cash": pl.Float64(), "pnl": pl.Float64(), "cost": pl.Float64(), "tax": pl.Float64(),
    "tax_due": pl.Float64(), "flow": pl.Float64(), "withdrawn": pl.Float64(), "sold": pl.Float64(), "bought": pl.Float64(),
    "realized_st": pl.Float64(), "realized_lt": pl.Float64(), "losses_harvested": pl.Float64(),
    "target_return": pl.Float64(), "n_orders": pl.Int64(),
}


@dataclass(frozen=True)
class BacktestSettings:
    """What a backtest runs (every option keyword-only, defaults of the issue's real-history study).

    start, end : the window (inclusive; default: the source's span, the start moved forward until the
        book has ``min_history_days`` of history for the risk model).
    frequency : ``daily``, ``weekly`` (first trading day of each week) or ``monthly`` (first of each month).
    accounts : accounts per strategy (taxable, each its own household); account *k* (0-based) starts
        with ``initial_cash x (1 + k / accounts)`` USD, so whole-share rounding differs a little.
    st_rate, lt_rate : combined marginal rates on short/long-term gains.
    offset : ``outside`` or ``carry`` (`accounting.annual_tax`).
    target : ``index`` or ``equal`` (module docstring); with a `book_target`, ``index`` (its models drift
        with prices) or ``fixed`` (its models' weights as uploaded).
    symbols : the universe (default: every symbol of the source but the ``SP500`` index; with a book
        target, its universe).
    contribution : USD added to each account on every flow date (>= 0).
    withdrawal : USD taken out of each account on every flow date (>= 0).
    withdrawal_rate : share of the account's value taken out per year (in [0, 1)): on each flow date of
        the ``period`` schedule ``withdrawal_rate / periods per year`` of the value on that day, on the
        ``annual`` schedule ``withdrawal_rate`` of it. A withdrawal (amount + rate) is capped at the
        value less the tax due. It is set as the account's ``cash_need`` (the contract's withdrawal
        mechanism): each strategy raises it by its own rule and the day loop pays it out after the fills
        (tax first, then the withdrawal; what is short stays due to the next period).
    flow_schedule : ``period`` (every rebalance after the first) or ``annual`` (the first rebalance of
        each calendar year after the start).
    book_target_id : the upload target backtested (set by `run_backtest` from its ``book_target``).
    cost_bps : one-way trading cost. cash_floor : minimum cash weight.
    risk_aversion : the optimizer's ``[rebalance] risk_aversion`` (None: the policy default).
    threshold : the heuristic's harvest threshold (loss over basis).
    min_history_days : business days of history the first book needs (the risk model's minimum).
    """

    start: dt.date | None = None
    end: dt.date | None = None
    frequency: Frequency = "monthly"
    accounts: int = 1
    initial_cash: float = 1_000_000.0
    st_rate: float = 0.35
    lt_rate: float = 0.15
    offset: Offset = "outside"
    target: Literal["index", "equal"] = "index"
    symbols: tuple[str, ...] | None = None
    contribution: float = 0.0
    withdrawal: float = 0.0
    withdrawal_rate: float = 0.0
    flow_schedule: Literal["period", "annual"] = "period"
    book_target_id: str | None = None
    cost_bps: float = 5.0
    cash_floor: float = 0.005
    risk_aversion: float | None = None
    threshold: float = 0.10
    min_history_days: int = 126

    def check(self) -> None:
        """Raise `ConfigError` naming the option for a bad setting."""
        if self.frequency not in FREQUENCIES:
            raise ConfigError(f"--frequency: found {self.frequency!r}; expected one of {', '.join(FREQUENCIES)}")
        if self.accounts < 1:
            raise ConfigError(f"--accounts: found {self.accounts}; expected >= 1")
        for name in ("st_rate", "lt_rate"):
            v = getattr(self, name)
            if not 0.0 <= v < 1.0:
                raise ConfigError(f"--{name.replace('_', '-')}: found {v}; expected a fraction in [0, 1)")
        if self.offset not in ("outside", "carry"):
            raise ConfigError(f"offset: found {self.offset!r}; expected 'outside' or 'carry'")
        if self.target not in TARGETS_KINDS:
            raise ConfigError(f"target: found {self.target!r}; expected one of {', '.join(TARGETS_KINDS)}")
        if self.contribution < 0:
            raise ConfigError(f"--contribution: found {self.contribution}; expected >= 0 (a withdrawal is --withdrawal or --withdrawal-rate)")
        if self.withdrawal < 0:
            raise ConfigError(f"--withdrawal: found {self.withdrawal}; expected USD >= 0 (the amount taken out on each flow date)")
        if not 0.0 <= self.withdrawal_rate < 1.0:
            raise ConfigError(f"--withdrawal-rate: found {self.withdrawal_rate}; expected a fraction of the value per year in [0, 1)")
        if self.flow_schedule not in FLOW_SCHEDULES:
            raise ConfigError(f"--flow-schedule: found {self.flow_schedule!r}; expected one of {', '.join(FLOW_SCHEDULES)}")
        if self.initial_cash <= 0:
            raise ConfigError(f"initial_cash: found {self.initial_cash}; expected > 0")
        if self.start and self.end and self.start >= self.end:
            raise ConfigError(f"--start {self.start} is not before --end {self.end}")


@dataclass(frozen=True)
class Backtest:
    """A backtest's records.

    periods : one row per strategy, account and rebalance day (`PERIOD_SCHEMA`; USD except returns).
    finals : strategy, account_id, value, tax_final (the last year's tax), liquidation_tax, initial, years.
    orders : every order line, with its strategy (`ORDER_SCHEMA` + strategy).
    realized : the tax engine's realized rows, with strategy.
    timings : strategy -> seconds.
    """

    settings: BacktestSettings
    periods: pl.DataFrame
    finals: pl.DataFrame
    orders: pl.DataFrame
    realized: pl.DataFrame
    dates: tuple[dt.date, ...]
    timings: Mapping[str, float] = field(default_factory=dict)
    #: each strategy's book after the last fills (as of the last date)
    final_books: Mapping[str, Book] = field(default_factory=dict)

    @property
    def periods_per_year(self) -> float:
        return PERIODS_PER_YEAR[self.settings.frequency]

    def account_results(self) -> pl.DataFrame:
        """One row per strategy and account: `accounting.account_figures`."""
        rows = []
        for (s, a), p in self.periods.group_by("strategy", "account_id", maintain_order=True):
            fin = self.finals.filter((pl.col("strategy") == s) & (pl.col("account_id") == a)).row(0, named=True)
            rows.append({"strategy": s, "account_id": a, **account_figures(p, fin, periods_per_year=self.periods_per_year)})
        return pl.DataFrame(rows)

    def results(self) -> pl.DataFrame:
        """One row per strategy (`accounting.summarize`), strategies in the order run."""
        return summarize(self.account_results())

    def by_year(self) -> pl.DataFrame:
        return by_year(self.periods, self.finals)


# --------------------------------------------------------------------------------------------------
# market data
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Market:
    dates: list[dt.date]
    symbols: list[str]
    close: np.ndarray  # (days, n)

    def frame_at(self, i: int) -> pl.DataFrame:
        return pl.DataFrame({"symbol": self.symbols, "close": self.close[i], "date": [self.dates[i]] * len(self.symbols)}, schema=schema(PRICES))

    def prices_at(self, i: int) -> dict[str, float]:
        return dict(zip(self.symbols, self.close[i].tolist()))

    def history(self, i: int, days: int) -> pl.DataFrame:
        return self.rows(max(0, i - days + 1), i)

    def rows(self, lo: int, hi: int) -> pl.DataFrame:
        """The closes of days ``lo..hi`` (inclusive) as `PRICE_HISTORY` rows, day by day."""
        i = hi
        n = len(self.symbols)
        k = i + 1 - lo
        return pl.DataFrame(
            {
                "date": pl.Series(np.repeat(np.array(self.dates[lo : i + 1], dtype="datetime64[D]"), n)).cast(pl.Date),
                "symbol": self.symbols * k,
                "close": self.close[lo : i + 1].reshape(-1),
            },
            schema=schema(PRICE_HISTORY),
        )


def _market(source: PriceSource, symbols: Sequence[str], start: dt.date | None, end: dt.date | None) -> _Market:
    known = set(source.symbols())
    missing = [s for s in symbols if s not in known]
    if missing:
        raise DataError(f"{source.name}: unknown symbol(s) {', '.join(missing)}", [Problem(source.name, None, "symbol", repr(s), "a symbol of the price source") for s in missing])
    frame = source.closes(list(symbols), [d for d in source.dates() if end is None or d <= end], missing="ffill")
    wide = frame.pivot(on="symbol", index="date", values="close").sort("date")
    dates = wide["date"].to_list()
    return _Market(dates, list(symbols), wide.select(list(symbols)).to_numpy().astype(float))


def schedule(dates: Sequence[dt.date], frequency: str) -> list[int]:
    """Indices of the rebalance days among `dates` (the last date is never one: it has no next day)."""
    out = []
    for i, d in enumerate(dates[:-1]):
        if i == 0 or frequency == "daily":
            out.append(i)
        elif frequency == "weekly" and d.isocalendar()[:2] != dates[i - 1].isocalendar()[:2]:
            out.append(i)
        elif frequency == "monthly" and (d.year, d.month) != (dates[i - 1].year, dates[i - 1].month):
            out.append(i)
    return out


# --------------------------------------------------------------------------------------------------
# the book
# --------------------------------------------------------------------------------------------------


def _frame(table, rows: list[dict]) -> pl.DataFrame:
    sch = schema(table)
    return pl.DataFrame([{k: r.get(k) for k in sch} for r in rows], schema=sch, orient="row") if rows else pl.DataFrame(schema=sch)


def _sector_of(symbols: Sequence[str], universe: pl.DataFrame | None) -> dict[str, str | None]:
    if universe is not None and "sector" in universe.columns:
        return dict(zip(universe["symbol"].to_list(), universe["sector"].to_list()))
    from overlay_core.market.history import REAL_SECTORS

    return {s: REAL_SECTORS.get(s) for s in symbols}


def _policy(settings: BacktestSettings, base: Policy | None = None) -> Policy:
    """The backtest's policy: `base` (an upload's, or the defaults) with the settings' rates, cost, cash
    floor and risk aversion, and no daily turnover cap (a transition tool: every strategy invests its
    funding cash on the first day)."""
    p = base or Policy()
    reb = replace(p.rebalance, st_rate=settings.st_rate, lt_rate=settings.lt_rate, cost_bps=settings.cost_bps, cash_floor=settings.cash_floor, max_turnover=1.0)
    if settings.risk_aversion is not None:
        reb = replace(reb, risk_aversion=float(settings.risk_aversion))
    return replace(p, rebalance=reb)


def _target_weights(settings: BacktestSettings, m: _Market, i0: int, i: int) -> dict[str, float]:
    n = len(m.symbols)
    if settings.target == "equal":
        return {s: 1.0 / n for s in m.symbols}
    rel = m.close[i] / m.close[i0]
    w = rel / rel.sum()
    return dict(zip(m.symbols, w.tolist()))


def _models(weights: Mapping[str, float]) -> pl.DataFrame:
    return _frame(MODELS, [{"model_id": MODEL_ID, "symbol": s, "weight": w} for s, w in weights.items()])


def _rel(settings: BacktestSettings, m: _Market, i0: int, i: int) -> dict[str, float] | None:
    """symbol -> close on day i / close on day i0 (a drifting target), or None (``fixed``)."""
    if settings.target == "fixed":
        return None
    return dict(zip(m.symbols, (m.close[i] / m.close[i0]).tolist()))


def _target_models(settings: BacktestSettings, m: _Market, i0: int, i: int, bt: BookTarget | None) -> pl.DataFrame:
    """The models frame of the book of day i (the built-in index, or the upload target's models)."""
    if bt is None:
        return _models(_target_weights(settings, m, i0, i))
    return bt.models_at(_rel(settings, m, i0, i))


def _target_flat(settings: BacktestSettings, m: _Market, i0: int, i: int, bt: BookTarget | None) -> dict[str, float]:
    """symbol -> the target's weight on day i (``$CASH`` included for a book target)."""
    if bt is None:
        return _target_weights(settings, m, i0, i)
    return bt.flat_weights(_rel(settings, m, i0, i))


def initial_book(
    settings: BacktestSettings,
    m: _Market,
    i: int,
    trade_i: int,
    *,
    universe: pl.DataFrame | None = None,
    history_days: int = 505,
    account_indices: Sequence[int] | None = None,
    book_target: BookTarget | None = None,
) -> Book:
    """The first day's book: the accounts hold only cash; the target is the universe's index, or the
    upload target `book_target` (its securities rows, models, target and policy).

    `account_indices` (0-based, default all of ``settings.accounts``) picks the accounts of this book (a
    worker's share when the accounts are split over processes)."""
    if book_target is not None:
        sec = book_target.securities.filter(pl.col("symbol").is_in(m.symbols))
        target_id = book_target.target_id
        targets = book_target.targets
        policy = _policy(settings, book_target.policy)
    else:
        sectors = _sector_of(m.symbols, universe)
        ac = dict(zip(universe["symbol"].to_list(), universe["asset_class"].to_list())) if universe is not None and "asset_class" in universe.columns else {}
        sec = _frame(SECURITIES, [{"symbol": s, "asset_class": ac.get(s, "us_large_cap"), "type": "equity", "sector": sectors.get(s), "wash_group": s} for s in m.symbols])
        target_id = TARGET_ID
        targets = _frame(TARGETS, [{"target_id": TARGET_ID, "model_id": MODEL_ID, "weight": 1.0}])
        policy = _policy(settings)
    accounts = _frame(
        ACCOUNTS,
        [
            {
                "account_id": f"A{k + 1:03d}", "target_id": target_id, "tax_status": "taxable",
                "cash": settings.initial_cash * (1.0 + k / settings.accounts), "household_id": f"A{k + 1:03d}", "status": "active",
                "st_rate": settings.st_rate, "lt_rate": settings.lt_rate, "min_cash_weight": 0.0, "cash_need": 0.0,
                "ytd_realized_st": 0.0, "ytd_realized_lt": 0.0,
            }
            for k in (range(settings.accounts) if account_indices is None else account_indices)
        ],
    )
    return Book(
        as_of=m.dates[i],
        trade_date=m.dates[trade_i],
        policy=policy,
        securities=sec,
        prices=m.frame_at(i),
        price_history=m.history(i, history_days),
        models=_target_models(settings, m, i, i, book_target),
        targets=targets,
        accounts=accounts,
        lots=empty_frame(LOTS),
        restrictions=empty_frame(RESTRICTIONS),
        transactions=empty_frame(TRANSACTIONS),
        pending_orders=empty_frame(PENDING_ORDERS),
        source="backtest",
    )


def _holdings(book: Book) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {a: {} for a in book.accounts["account_id"].to_list()}
    lots = book.lots
    for a, s, q in zip(lots["account_id"].to_list(), lots["symbol"].to_list(), lots["shares"].to_list()):
        h = out[a]
        h[s] = h.get(s, 0.0) + q
    return out


def _values(book: Book, px: Mapping[str, float], *, holdings: Mapping[str, Mapping[str, float]] | None = None) -> dict[str, float]:
    """Cash + the holdings at `px` per account (`holdings`: `_holdings(book)` if already known)."""
    cash = dict(zip(book.accounts["account_id"].to_list(), book.accounts["cash"].to_list()))
    h_all = _holdings(book) if holdings is None else holdings
    return {a: float(cash[a]) + sum(q * px[s] for s, q in h.items()) for a, h in h_all.items()}


def _per_account(frame: pl.DataFrame, aggs: Mapping[str, pl.Expr]) -> dict[str, dict[str, float]]:
    """account_id -> {name: value} of `aggs` over the rows of each account (empty frame: {})."""
    if frame.height == 0:
        return {}
    g = frame.group_by("account_id").agg(**aggs)
    return {r["account_id"]: r for r in g.iter_rows(named=True)}


def _liquidation_gains(book: Book, px: Mapping[str, float], on: dt.date) -> dict[str, tuple[float, float]]:
    out: dict[str, tuple[float, float]] = {a: (0.0, 0.0) for a in book.accounts["account_id"].to_list()}
    for a, s, q, b, acq in book.lots.select("account_id", "symbol", "shares", "cost_basis", "acquired").iter_rows():
        g = q * px[s] - (b or 0.0)
        st, lt = out[a]
        if acq is not None and term_at(acq, on) == "long":
            lt += g
        else:
            st += g
        out[a] = (st, lt)
    return out


# --------------------------------------------------------------------------------------------------
# the engine
# --------------------------------------------------------------------------------------------------


def _resolve(strategies: Iterable[str | tuple[str, Strategy]], settings: BacktestSettings) -> list[tuple[str, Strategy]]:
    out = []
    for s in strategies:
        if isinstance(s, tuple):
            out.append(s)
        else:
            out.append((s, by_name(s, risk_aversion=settings.risk_aversion, threshold=settings.threshold)))
    return out


def run_backtest(
    source: PriceSource,
    *,
    settings: BacktestSettings = BacktestSettings(),
    strategies: Iterable[str | tuple[str, Strategy]] = STRATEGIES,
    universe: pl.DataFrame | None = None,
    on_period: Callable[[str, int, int], None] | None = None,
    workers: int = 0,
    book_target: BookTarget | None = None,
    _account_indices: Sequence[int] | None = None,
) -> Backtest:
    """Run every strategy through the source's history (module docstring).

    Parameters
    ----------
    source : closes (a `market.PriceSource`); symbols without a close on a day take their last close.
    settings : `BacktestSettings`.
    strategies : names from `strategies.STRATEGIES` and/or ``(name, Book -> orders)`` pairs.
    universe : optional securities frame (symbol, asset_class, sector) for the universe.
    on_period : progress, called in this process as ``on_period(strategy, k, n)``: period *k* (1-based)
        of the *n* rebalances of `strategy` is done; the strategies come in the order run, each with
        *k* increasing up to *n*. With ``workers > 1`` each worker reports its periods to this process
        through a queue and *k* is that of the slowest worker (every account has finished period *k*
        of `strategy`; a *k* all workers passed at once is not repeated, so some *k* may be skipped).
    workers : ``> 1`` splits the accounts over that many processes (each account is its own household and
        the target does not depend on the accounts, so the split changes no figure); strategies must then
        be given by name. Each strategy's final book is then the workers' books merged (`_merge_books`).
    book_target : an upload's target (`book_target.BookTarget`): the accounts hold that target, the
        books its models (drifting with ``target="index"``, as uploaded with ``"fixed"``), securities
        and policy; the universe defaults to its own. `source` is then usually ``book_target.price_source()``.

    Raises
    ------
    ConfigError : a bad setting. DataError : unknown symbols, or too short a history.
    """
    from overlay_core.simulate.fills import fill_day

    settings.check()
    if book_target is not None:
        if settings.target == "equal":
            raise ConfigError("--target equal: a book target's weights are its models'; expected index (drifting) or fixed")
        if settings.book_target_id not in (None, book_target.target_id):
            raise ConfigError(f"book_target_id: found {settings.book_target_id!r}; the book target is {book_target.target_id!r}")
        settings = replace(settings, book_target_id=book_target.target_id)
    elif settings.target == "fixed" or settings.book_target_id is not None:
        raise ConfigError("--target fixed / a book target id needs an upload's target (--book DIR --book-target ID)")
    strategies = tuple(strategies)
    if workers > 1 and settings.accounts > 1 and _account_indices is None:
        return _run_parallel(source, settings=settings, strategies=strategies, universe=universe, workers=workers, book_target=book_target, on_period=on_period)
    if settings.symbols:
        symbols = list(settings.symbols)
        if book_target is not None:
            need = sorted(set(book_target.models["symbol"].to_list()) - {"$CASH"} - set(symbols))
            if need:
                raise ConfigError(f"--symbols: the target {book_target.target_id}'s models hold {len(need)} symbol(s) not listed: {', '.join(need[:10])}; expected every symbol of its models (or no --symbols)")
    elif book_target is not None:
        symbols = [s for s in book_target.symbols() if s in set(source.symbols())]
    else:
        symbols = [s for s in source.symbols() if s != "SP500"]
    m = _market(source, symbols, settings.start, settings.end)
    first = next((i for i, d in enumerate(m.dates) if (settings.start is None or d >= settings.start) and i >= settings.min_history_days - 1), None)
    if first is None or first >= len(m.dates) - 2:
        raise DataError(
            f"{source.name}: too short a history for a backtest from {settings.start or m.dates[0]}",
            [Problem(source.name, None, "date", f"{len(m.dates)} days up to {m.dates[-1] if m.dates else None}", f">= {settings.min_history_days} days of history before the start, and 2 days after it")],
        )
    days = m.dates[first:]
    reb = [first + j for j in schedule(days, settings.frequency)]
    last = len(m.dates) - 1
    policy = _policy(settings, book_target.policy if book_target is not None else None)
    hist_days = policy.risk.lookback_days + 1
    years = (m.dates[last] - m.dates[reb[0]]).days / 365.25

    periods: list[dict] = []
    finals: list[dict] = []
    all_orders: list[pl.DataFrame] = []
    all_realized: list[pl.DataFrame] = []
    timings: dict[str, float] = {}
    final_books: dict[str, Book] = {}
    for name, strat in _resolve(strategies, settings):
        t0 = time.perf_counter()
        book = initial_book(settings, m, reb[0], reb[0] + 1, universe=universe, history_days=hist_days, account_indices=_account_indices, book_target=book_target)
        initial = dict(zip(book.accounts["account_id"].to_list(), book.accounts["cash"].to_list()))
        realized_year: dict[str, list[float]] = {a: [0.0, 0.0] for a in initial}
        carry: dict[str, Carry] = {a: Carry() for a in initial}
        owed_tax: dict[str, float] = {a: 0.0 for a in initial}  # the tax part of the account's cash_need
        for k, i in enumerate(reb):
            t = i + 1
            nxt = reb[k + 1] if k + 1 < len(reb) else last
            px_a, px_t, px_n = m.prices_at(i), m.prices_at(t), m.prices_at(nxt)
            ids = book.accounts["account_id"].to_list()
            # taxes of the year just ended: refund now, or a cash need the strategies raise
            tax_due = {a: 0.0 for a in ids}
            if k > 0 and m.dates[i].year != m.dates[reb[k - 1]].year:
                for a in ids:
                    st, lt = realized_year[a]
                    tax_due[a], carry[a] = annual_tax(st, lt, st_rate=settings.st_rate, lt_rate=settings.lt_rate, offset=settings.offset, carry=carry[a])
                    realized_year[a] = [0.0, 0.0]
            refund = {a: -min(v, 0.0) for a, v in tax_due.items()}
            for a in ids:
                owed_tax[a] += max(tax_due[a], 0.0)
            flow_day = k > 0 and (settings.flow_schedule == "period" or m.dates[i].year != m.dates[reb[k - 1]].year)
            contrib = settings.contribution if flow_day else 0.0
            flow = {a: contrib for a in ids}
            acc = book.accounts.with_columns(
                (pl.col("cash") + pl.col("account_id").replace_strict(refund, return_dtype=pl.Float64)).alias("cash"),
                (pl.col("cash_need").fill_null(0.0) + pl.col("account_id").replace_strict({a: max(v, 0.0) for a, v in tax_due.items()}, return_dtype=pl.Float64)).alias("cash_need"),
            )
            book = replace(book, accounts=acc)
            # the lots are the previous fills' (a refund or a cash need changes only the accounts)
            hold_before = _holdings(book) if k == 0 else hold_after
            values = _values(book, px_a, holdings=hold_before)  # after the refund
            if flow_day and (settings.withdrawal > 0 or settings.withdrawal_rate > 0):
                # a withdrawal is a cash need (the contract's mechanism), capped at what the account holds
                rate = settings.withdrawal_rate / (PERIODS_PER_YEAR[settings.frequency] if settings.flow_schedule == "period" else 1.0)
                need_now = dict(zip(acc["account_id"].to_list(), acc["cash_need"].to_list()))
                wd = {a: max(min(settings.withdrawal + rate * values[a], values[a] - float(need_now[a] or 0.0)), 0.0) for a in ids}
                book = replace(book, accounts=acc.with_columns(
                    (pl.col("cash_need") + pl.col("account_id").replace_strict(wd, return_dtype=pl.Float64)).alias("cash_need"),
                ))
            orders = strat(book)
            flows = pl.DataFrame({"account_id": list(flow), "amount": list(flow.values())}, schema={"account_id": pl.String(), "amount": pl.Float64()}) if contrib else None
            # the closes after the fill day up to the next rebalance day: the next book's prices and history
            f = fill_day(book, orders, fill_prices=px_t, next_as_of=m.dates[nxt], flows=flows, price_history_append=m.rows(t + 1, nxt) if nxt > t else None)
            hold_after = _holdings(f.book)
            paid = dict(zip(f.cash_paid["account_id"].to_list(), f.cash_paid["paid"].to_list()))
            fills = f.fills
            rz = f.realized
            if rz.height:
                all_realized.append(rz.with_columns(pl.lit(name).alias("strategy")))
            if orders.height:
                all_orders.append(orders.with_columns(pl.lit(name).alias("strategy")))
            # per-account aggregates of the day's fills and realized rows (one pass each)
            fagg = _per_account(fills.with_columns((pl.col("shares") * pl.col("price")).alias("_v")), {
                "cost": pl.col("cost").sum(),
                "sold": pl.col("_v").filter(pl.col("side") == "sell").sum(),
                "bought": pl.col("_v").filter(pl.col("side") == "buy").sum(),
            })
            ragg = _per_account(rz.with_columns((pl.col("gain_loss") + pl.col("disallowed_loss")).alias("_a")) if rz.height else rz, {
                "st": pl.col("_a").filter(pl.col("term") == "short").sum(),
                "lt": pl.col("_a").filter(pl.col("term") == "long").sum(),
                "harvested": -pl.col("_a").filter(pl.col("gain_loss") < 0).sum(),
            })
            n_orders = dict(orders.group_by("account_id").len().iter_rows()) if orders.height else {}
            cash_of = dict(zip(book.accounts["account_id"].to_list(), book.accounts["cash"].to_list()))
            tw = _target_flat(settings, m, reb[0], i, book_target)
            target_ret = float(sum(w * (px_n[s] / px_a[s] - 1.0) for s, w in tw.items() if s in px_a))  # $CASH: 0
            for a in ids:
                fa = fagg.get(a, {})
                ra = ragg.get(a, {})
                st, lt = float(ra.get("st") or 0.0), float(ra.get("lt") or 0.0)
                realized_year[a][0] += st
                realized_year[a][1] += lt
                pnl = sum(q * (px_t[s] - px_a[s]) for s, q in hold_before[a].items()) + sum(q * (px_n[s] - px_t[s]) for s, q in hold_after[a].items())
                # the day loop paid the cash need: the tax owed first, then the withdrawal
                tax_paid = min(paid.get(a, 0.0), owed_tax[a])
                owed_tax[a] -= tax_paid
                withdrawn = paid.get(a, 0.0) - tax_paid
                periods.append({
                    "strategy": name, "account_id": a, "date": m.dates[i], "trade_date": m.dates[t],
                    "value": values[a] - refund[a], "cash": float(cash_of[a]),
                    "pnl": pnl, "cost": float(fa.get("cost") or 0.0),
                    "tax": tax_paid - refund[a], "tax_due": tax_due[a], "flow": flow[a] - withdrawn, "withdrawn": withdrawn,
                    "sold": float(fa.get("sold") or 0.0), "bought": float(fa.get("bought") or 0.0),
                    "realized_st": st, "realized_lt": lt, "losses_harvested": max(float(ra.get("harvested") or 0.0), 0.0),
                    "target_return": target_ret,
                    "n_orders": int(n_orders.get(a, 0)),
                })
            # the next book: the day loop's output (closes up to the next rebalance day), its history cut
            # to the risk model's window, the target's model of that day, the source's next day to trade
            nb = f.book
            tnext = min(nxt + 1, last)
            book = replace(
                nb,
                price_history=nb.price_history.filter(pl.col("date") >= m.dates[max(0, nxt - hist_days + 1)]),
                models=_target_models(settings, m, reb[0], nxt, book_target),
                trade_date=m.dates[tnext],
            )
            if on_period is not None:
                on_period(name, k + 1, len(reb))
        # the end: the last year's tax (and what is left of a cash need), then liquidation
        px_e = m.prices_at(last)
        values = _values(book, px_e, holdings=hold_after)
        liq = _liquidation_gains(book, px_e, m.dates[last])
        for a in book.accounts["account_id"].to_list():
            st, lt = realized_year[a]
            need_left = float(book.accounts.filter(pl.col("account_id") == a)["cash_need"].fill_null(0.0)[0])
            owed = owed_tax[a]
            tax_final, c2 = annual_tax(st, lt, st_rate=settings.st_rate, lt_rate=settings.lt_rate, offset=settings.offset, carry=carry[a])
            tax_liq, _ = annual_tax(st + liq[a][0], lt + liq[a][1], st_rate=settings.st_rate, lt_rate=settings.lt_rate, offset=settings.offset, carry=carry[a])
            finals.append({
                "strategy": name, "account_id": a, "date": m.dates[last], "value": values[a], "tax_final": tax_final + owed,
                "liquidation_tax": tax_liq - tax_final, "initial": float(initial[a]), "years": years,
                "unrealized_st": liq[a][0], "unrealized_lt": liq[a][1], "withdrawal_unpaid": max(need_left - owed, 0.0),
            })
        timings[name] = time.perf_counter() - t0
        final_books[name] = book
    orders_df = pl.concat(all_orders, how="vertical_relaxed") if all_orders else pl.DataFrame(schema={**ORDER_SCHEMA, "strategy": pl.String()})
    realized_df = pl.concat(all_realized, how="vertical_relaxed") if all_realized else pl.DataFrame()
    return Backtest(
        settings=settings,
        periods=pl.DataFrame(periods, schema=PERIOD_SCHEMA),
        finals=pl.DataFrame(finals),
        orders=orders_df,
        realized=realized_df,
        dates=tuple(m.dates[i] for i in reb) + (m.dates[last],),
        timings=timings,
        final_books=final_books,
    )


#: the queue a worker process reports its periods to (set by `_init_worker`; None: no progress wanted)
_PROGRESS_QUEUE = None


def _init_worker(queue) -> None:
    """A worker process's initializer: keep the parent's progress queue (a queue is passed to a spawned
    process only at its start, not with a task)."""
    global _PROGRESS_QUEUE
    _PROGRESS_QUEUE = queue
    if queue is not None:
        # never block this process's exit on messages nobody reads (the parent stops reading when a worker fails)
        queue.cancel_join_thread()


def _worker(args: tuple) -> Backtest:
    source, settings, strategies, universe, indices, book_target, group = args
    queue = _PROGRESS_QUEUE
    report = None
    if queue is not None:
        def report(name: str, k: int, n: int) -> None:
            queue.put((group, name, k, n))
    bt = run_backtest(source, settings=settings, strategies=strategies, universe=universe, book_target=book_target, on_period=report, _account_indices=indices)
    if queue is not None:
        queue.put((group, None, 0, 0))  # done: the group's last message (a queue keeps one process's order)
    # the policy does not pickle (read-only mappings) and is the parent's own: `_run_parallel` puts it back
    return replace(bt, final_books={k: replace(b, policy=None) for k, b in bt.final_books.items()})


#: a book's frames with a row per account (or lot, transaction, order of an account): the workers' parts
#: are concatenated and put in the one-process order, stably (each account's rows keep their order)
_ACCOUNT_FRAMES: dict[str, tuple[str, ...]] = {
    "accounts": ("account_id",), "lots": ("account_id",), "restrictions": (), "transactions": ("date", "account_id"),
    "pending_orders": ("account_id",), "quarantined": ("account_id",),
}


def _merge_books(books: Sequence[Book], policy: Policy) -> Book:
    """One book from the workers' books of one strategy (each holding a share of the accounts): the
    account frames concatenated in the one-process order, the rest (prices, models, securities, days)
    the first's, which every worker shares, and `policy` (the run's, not sent back by the workers)."""
    first = books[0]
    merged = {}
    for name, by in _ACCOUNT_FRAMES.items():
        frames = [getattr(b, name) for b in books]
        out = pl.concat(frames, how="vertical_relaxed") if any(f.height for f in frames) else frames[0]
        if name == "restrictions" and out.height:
            # the firm-wide rows (every worker holds them alike), then the rows of each account
            wide = pl.col("account_id").is_null() | (pl.col("account_id") == FIRM_WIDE)
            out = pl.concat([frames[0].filter(wide), out.filter(~wide).sort("account_id", maintain_order=True)], how="vertical_relaxed")
        elif by and out.height:
            out = out.sort(list(by), maintain_order=True)
        merged[name] = out
    return replace(first, policy=policy, **merged)


class _Progress:
    """The parent's view of the workers' progress: each group's last (strategy index, k, n); the slowest
    group's (strategy, k, n) is passed to `on_period` each time it moves forward."""

    def __init__(self, strategies: Sequence[str], groups: int, on_period: Callable[[str, int, int], None]) -> None:
        self.names = list(strategies)
        self.index = {name: i for i, name in enumerate(self.names)}
        self.at = [(0, 0, 0)] * groups  # (strategy index, k, n); k = 0: nothing done yet
        self.done = [False] * groups
        self.shown = (0, 0)
        self.on_period = on_period

    def take(self, msg: tuple) -> None:
        group, name, k, n = msg
        if name is None:
            self.done[group] = True
            return
        self.at[group] = (self.index[name], k, n)
        s, k, n = min(self.at)
        if k > 0 and (s, k) > self.shown:
            self.shown = (s, k)
            self.on_period(self.names[s], k, n)


def _run_parallel(
    source: PriceSource, *, settings: BacktestSettings, strategies: tuple, universe: pl.DataFrame | None, workers: int,
    book_target: BookTarget | None = None, on_period: Callable[[str, int, int], None] | None = None,
) -> Backtest:
    """The accounts split round-robin over `workers` processes; the records concatenated in account order.
    With `on_period`, the workers report each period through a queue and this process calls `on_period`
    with the slowest worker's progress (`run_backtest`)."""
    import multiprocessing as mp
    import os
    import queue as queue_mod
    from concurrent.futures import FIRST_EXCEPTION, ProcessPoolExecutor, wait

    if any(not isinstance(s, str) for s in strategies):
        raise ConfigError("workers > 1: give the strategies by name (functions cannot be sent to worker processes)")
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    n = min(workers, settings.accounts)
    groups = [list(range(g, settings.accounts, n)) for g in range(n)]
    # spawn, not fork: a forked child of a process that used polars' thread pool can deadlock
    ctx = mp.get_context("spawn")
    q = ctx.Queue() if on_period is not None else None
    tasks = [(source, settings, strategies, universe, g, book_target, i) for i, g in enumerate(groups)]
    with ProcessPoolExecutor(max_workers=n, mp_context=ctx, initializer=_init_worker, initargs=(q,)) as ex:
        futures = [ex.submit(_worker, t) for t in tasks]
        if q is not None:
            prog = _Progress(strategies, n, on_period)
            while not all(prog.done):
                try:
                    prog.take(q.get(timeout=0.2))
                    continue
                except queue_mod.Empty:
                    pass
                finished, _ = wait(futures, timeout=0, return_when=FIRST_EXCEPTION)
                if any(f.exception() is not None for f in finished):
                    break  # a worker failed: its error is raised below
                if len(finished) == len(futures):
                    # every result is in: what is left of the queue is on its way (its feeder thread)
                    try:
                        while not all(prog.done):
                            prog.take(q.get(timeout=5.0))
                    except queue_mod.Empty:
                        pass
                    break
        parts = [f.result() for f in futures]
    if q is not None:
        q.close()
    order = {name: i for i, name in enumerate(s for s in strategies)}

    def cat(frames: list[pl.DataFrame], by: list[str]) -> pl.DataFrame:
        frames = [f for f in frames if f.height]
        if not frames:
            return frames and frames[0] or pl.DataFrame()
        out = pl.concat(frames, how="vertical_relaxed")
        key = out["strategy"].replace_strict(order, return_dtype=pl.Int64).alias("_o")
        return out.with_columns(key).sort(["_o", *by], maintain_order=True).drop("_o")

    periods = cat([p.periods for p in parts], ["date", "account_id"])
    policy = _policy(settings, book_target.policy if book_target is not None else None)
    return Backtest(
        settings=settings,
        periods=periods if periods.height else parts[0].periods,
        finals=cat([p.finals for p in parts], ["account_id"]),
        orders=cat([p.orders for p in parts], ["as_of", "account_id"]) if any(p.orders.height for p in parts) else parts[0].orders,
        realized=cat([p.realized for p in parts], ["sale_date", "account_id"]) if any(p.realized.height for p in parts) else parts[0].realized,
        dates=parts[0].dates,
        timings={k: max(p.timings.get(k, 0.0) for p in parts) for k in parts[0].timings},
        final_books={k: _merge_books([p.final_books[k] for p in parts], policy) for k in parts[0].final_books},
    )


def settings_dict(settings: BacktestSettings) -> dict:
    """The settings as JSON-able values (for the store)."""
    d = asdict(settings)
    return {k: (v.isoformat() if isinstance(v, dt.date) else list(v) if isinstance(v, tuple) else v) for k, v in d.items()}
