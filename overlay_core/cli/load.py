"""`overlay load UPLOAD_DIR`: read and validate the daily upload, show what it holds, and store it.

Exit codes (the data contract's): 0 a clean load, 2 a refused upload (nothing stored), 3 loaded with
quarantined accounts (stored; the quarantined accounts are listed).
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import polars as pl
import typer
from rich.table import Table

from overlay_core.book import Book
from overlay_core.cli._options import parse_day
from overlay_core.cli._app import app, console, report_error
from overlay_core.cli._views import problems_table
from overlay_core.errors import OverlayError
from overlay_core.upload import read_upload

EXIT_CLEAN = 0
EXIT_REFUSED = 2
EXIT_QUARANTINED = 3


def summary_table(book: Book) -> Table:
    """One table: the day, the counts of each table, the book's value and the input hash."""
    table = Table(title=f"Upload of {book.as_of} (trade date {book.trade_date})", show_header=True)
    table.add_column("item")
    table.add_column("value", justify="right")
    counts = book.summary()
    for key in ("securities", "models", "targets", "accounts", "households", "lots"):
        table.add_row(key, f"{counts[key]:,}")
    table.add_row("price history rows", f"{book.price_history.height:,}")
    table.add_row("restrictions", f"{book.restrictions.height:,}")
    table.add_row("transactions", f"{book.transactions.height:,}")
    table.add_row("pending orders", f"{book.pending_orders.height:,}")
    value = (
        book.lots.join(book.prices.select("symbol", "close"), on="symbol", how="left")
        .select((pl.col("shares") * pl.col("close")).sum())
        .item()
    ) or 0.0
    cash = book.accounts["cash"].sum() or 0.0
    table.add_row("securities value (USD)", f"{value:,.2f}")
    table.add_row("cash (USD)", f"{cash:,.2f}")
    table.add_row("book value (USD)", f"{value + cash:,.2f}")
    table.add_row("quarantined accounts", f"{counts['quarantined']:,}", style="bold yellow" if counts["quarantined"] else None)
    table.add_row("warnings", f"{counts['warnings']:,}", style="yellow" if counts["warnings"] else None)
    table.add_row("input hash", book.input_hash[:16])
    return table


def quarantine_table(book: Book, limit: int = 200) -> Table:
    table = Table(title="Quarantined accounts (decision = error)")
    for col in ("account", "household", "reason"):
        table.add_column(col, overflow="fold")
    for account_id, household_id, reason in book.quarantined.head(limit).iter_rows():
        table.add_row(account_id, household_id, reason)
    if book.quarantined.height > limit:
        table.caption = f"... and {book.quarantined.height - limit} more"
    return table


@app.command()
def load(
    upload_dir: Path = typer.Argument(..., help="The upload folder (NAME.csv or NAME.parquet per table, as_of.txt, policy.toml)."),
    as_of: Optional[str] = typer.Option(None, "--as-of", help="The prices' date YYYY-MM-DD (default: as_of.txt)."),
    trade_date: Optional[str] = typer.Option(None, "--trade-date", help="The day the orders execute (default: the next NYSE business day)."),
    store: Optional[Path] = typer.Option(None, "--store", help="The DuckDB store (default: $OVERLAY_STORE, else ./overlay_store/overlay.duckdb)."),
    no_store: bool = typer.Option(False, "--no-store", help="Validate and summarize only; store nothing."),
) -> None:
    """Read and validate the daily upload, print a summary, and store it as a version of its as_of.

    Exit 0 on a clean load, 2 on a refused upload (nothing is stored), 3 when accounts were quarantined.
    """
    day = parse_day(as_of, "--as-of")
    trade = parse_day(trade_date, "--trade-date")
    try:
        book = read_upload(upload_dir, as_of=day, trade_date=trade)
    except OverlayError as exc:
        raise typer.Exit(report_error(exc)) from None
    console.print(summary_table(book))
    if book.warnings:
        console.print(problems_table(book.warnings, title="Warnings"))
    if book.quarantined.height:
        console.print(quarantine_table(book))
    if not no_store:
        try:
            from overlay_core.store import Store

            with Store.open(store) as st:
                upload_id = st.save_upload(book)
                where = st.path
        except OverlayError as exc:
            raise typer.Exit(report_error(exc)) from None
        console.print(f"stored as upload [bold]{upload_id}[/] in {where}")
    if book.quarantined.height:
        console.print(f"[bold yellow]loaded with {book.quarantined.height} quarantined account(s)[/]")
        raise typer.Exit(EXIT_QUARANTINED)
    console.print("[bold green]loaded[/]")
