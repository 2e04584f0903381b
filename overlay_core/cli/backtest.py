"""`overlay backtest`: the tax-alpha backtest of the four strategies over a price history."""

from __future__ import annotations

import os
from pathlib import Path
from typing import List, Optional

import typer

from overlay_core.cli._options import parse_day
from overlay_core.cli._app import app, console, report_error
from overlay_core.errors import ConfigError, OverlayError


def default_workers(workers: int | None, accounts: int) -> int:
    """The processes a backtest of `accounts` accounts per strategy is split over: `workers` as given,
    else one per core (``os.cpu_count()``) capped by the accounts (1: this process)."""
    if workers is not None:
        return workers
    return max(1, min(os.cpu_count() or 1, accounts))


@app.command()
def backtest(
    out: Path = typer.Option(..., "--out", help="Folder for results.csv, by_year.csv and the charts (created)."),
    prices: Optional[Path] = typer.Option(None, "--prices", help="A price file (CSV/Parquet, long or wide); default: the real history 1990-2022."),
    start: Optional[str] = typer.Option(None, "--start", help="First day YYYY-MM-DD (default: the history's first day with enough history for the risk model)."),
    end: Optional[str] = typer.Option(None, "--end", help="Last day YYYY-MM-DD (default: the history's last)."),
    frequency: str = typer.Option("monthly", "--frequency", help="daily, weekly or monthly."),
    accounts: int = typer.Option(1, "--accounts", help="Accounts per strategy."),
    st_rate: float = typer.Option(0.35, "--st-rate", help="Short-term gains rate."),
    lt_rate: float = typer.Option(0.15, "--lt-rate", help="Long-term gains rate."),
    risk_aversion: Optional[List[float]] = typer.Option(None, "--risk-aversion", help="The optimizer's risk aversion; give it several times for the frontier (the first is the main run)."),
    offset: str = typer.Option("outside", "--offset", help="outside: losses offset outside gains the year realized; carry: carried forward."),
    target: str = typer.Option("index", "--target", help="index (the start weights drifting with prices), equal (rebalanced; not with --book) or fixed (a --book target's models as uploaded)."),
    threshold: float = typer.Option(0.10, "--threshold", help="The heuristic's harvest threshold (loss / basis)."),
    symbols: Optional[str] = typer.Option(None, "--symbols", help="Comma-separated universe (default: every stock of the prices)."),
    contribution: float = typer.Option(0.0, "--contribution", help="USD added to each account on every flow date (>= 0)."),
    withdrawal: float = typer.Option(0.0, "--withdrawal", help="USD taken out of each account on every flow date (>= 0), raised through the account's cash need."),
    withdrawal_rate: float = typer.Option(0.0, "--withdrawal-rate", help="Share of the account's value taken out per year (e.g. 0.04), spread over the flow dates."),
    flow_schedule: str = typer.Option("period", "--flow-schedule", help="Flow dates: period (every rebalance after the first) or annual (first rebalance of each year)."),
    book: Optional[Path] = typer.Option(None, "--book", help="An upload folder (e.g. data/demo): backtest one of its targets on its price history, with its securities and policy."),
    book_target: Optional[str] = typer.Option(None, "--book-target", help="The target_id of --book to hold (e.g. direct_index)."),
    store: Optional[Path] = typer.Option(None, "--store", help="The store to record the run in (default: $OVERLAY_STORE or ./overlay_store)."),
    no_store: bool = typer.Option(False, "--no-store", help="Do not record the run in the store."),
    workers: Optional[int] = typer.Option(
        None, "--workers", min=0,
        help="Processes the accounts are split over (default: one per core, at most one per account; 0 or 1: this process, "
        "which starts faster on a small run). The records are the same; the progress bar follows the slowest worker.",
    ),
) -> None:
    """Simulate the optimizer, a naive rebalance, buy and hold and a threshold harvest heuristic through
    history with the real day loop; write tax alpha and the other figures per strategy."""
    from rich.progress import Progress
    from rich.table import Table

    from overlay_core.analytics.backtest import BacktestSettings, run_backtest
    from overlay_core.analytics.outputs import frontier, results_table, store_backtest, write_outputs
    from overlay_core.market.prices import FramePriceSource, RealHistorySource

    ras = list(risk_aversion or [])
    bt_target = None
    try:
        if (book is None) != (book_target is None):
            raise ConfigError("--book and --book-target go together: an upload folder and one of its target_ids")
        if book is not None and prices is not None:
            raise ConfigError("--prices with --book: the book's own price_history is used; give one of them")
        settings = BacktestSettings(
            start=parse_day(start, "--start"), end=parse_day(end, "--end"), frequency=frequency,  # type: ignore[arg-type]
            accounts=accounts, st_rate=st_rate, lt_rate=lt_rate, offset=offset, target=target,  # type: ignore[arg-type]
            symbols=tuple(s.strip() for s in symbols.split(",") if s.strip()) if symbols else None,
            contribution=contribution, withdrawal=withdrawal, withdrawal_rate=withdrawal_rate, flow_schedule=flow_schedule,  # type: ignore[arg-type]
            risk_aversion=ras[0] if ras else None, threshold=threshold,
        )
        settings.check()
        if book is not None:
            from overlay_core.analytics.book_target import BookTarget
            from overlay_core.upload import read_upload

            bt_target = BookTarget.from_book(read_upload(book), str(book_target))
            source = bt_target.price_source()
        else:
            source = FramePriceSource.from_file(prices) if prices else RealHistorySource()
        with Progress(console=console, transient=True) as progress:
            task = progress.add_task("backtest", total=None)

            def tick(name: str, k: int, n: int) -> None:
                progress.update(task, description=f"{name} {k}/{n}", completed=k, total=n)

            bt = run_backtest(source, settings=settings, on_period=tick, workers=default_workers(workers, settings.accounts), book_target=bt_target)
            fr = None
            if len(ras) > 1:
                progress.update(task, description="frontier", completed=0, total=None)
                fr = frontier(source, settings=settings, risk_aversions=ras, book_target=bt_target)
        paths = write_outputs(bt, out, frontier_frame=fr)
        run_id = None if no_store else store_backtest(bt, store)
    except OverlayError as exc:
        raise typer.Exit(report_error(exc)) from None
    res = results_table(bt)
    what = f"target {bt_target.target_id} of {book}" if bt_target is not None else "index"
    table = Table(title=f"backtest {bt.dates[0]} .. {bt.dates[-1]}, {what}, {settings.frequency}, {settings.accounts} account(s) per strategy")
    cols = ("tax_alpha", "tax_alpha_liquidated", "after_tax_return", "pre_tax_return", "harvest_yield", "tracking_error", "turnover")
    table.add_column("strategy")
    for c in cols:
        table.add_column(c, justify="right")
    table.add_column("taxes_paid", justify="right")
    for r in res.iter_rows(named=True):
        table.add_row(r["strategy"], *[f"{r[c]:.2%}" for c in cols], f"{r['taxes_paid']:,.0f}")
    console.print(table)
    console.print(f"wrote {len(paths)} file(s) to {out}" + (f"; stored run {run_id}" if run_id else ""))
