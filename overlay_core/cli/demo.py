"""`overlay demo [UPLOAD_DIR]`: the main job on the embedded demo book (or any upload).

Loads the book, prints a brief summary of the firm (`overlay_core.demo.summary.firm_summary`), then runs
the daily review of every account (`overlay_core.review.daily.review_book`, as `overlay review` does)
with the store at its default path (or ``--store``), writes the trade, review and block files to
``./out/demo`` (or ``--out``; folders are created), and prints the review summary and where the files are.
Works in a fresh clone with no setup. ``--summary-only`` prints the full firm summary and reviews nothing.

With the embedded demo book, the store first receives the firm's 20 past daily reviews shipped in
``data/demo_history`` (`overlay_core.demo.pipeline.import_history`: seconds, once; a second run finds
them there), so the dashboards and reports have a history on the first run. ``--no-history`` skips it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import polars as pl
import typer
from rich.console import Group
from rich.table import Table

from overlay_core.cli._options import parse_day
from overlay_core.cli._app import app, console
from overlay_core.demo.summary import FirmSummary, firm_summary


def _frame_table(df: pl.DataFrame, title: str, key: str, limit: int = 25) -> Table:
    t = Table(title=title)
    t.add_column(key)
    t.add_column("accounts", justify="right")
    t.add_column("AUM (USD m)", justify="right")
    for k, n, aum in df.head(limit).iter_rows():
        t.add_row(str(k), f"{n:,}", f"{aum / 1e6:,.1f}")
    if df.height > limit:
        t.caption = f"... and {df.height - limit} more"
    return t


def render_firm_summary(s: FirmSummary) -> Group:
    """Rich tables of a `FirmSummary` (totals, breakdowns, customizations)."""
    tot = Table(title=f"The firm as of {s.as_of} (trade date {s.trade_date})")
    tot.add_column("item")
    tot.add_column("value", justify="right")
    for k, v in s.totals.items():
        tot.add_row(k.replace("_", " "), f"{v:,.2f}" if k in ("aum", "cash") else f"{int(v):,}")
    cust = Table(title="Customizations (accounts)")
    cust.add_column("kind")
    cust.add_column("accounts", justify="right")
    for k, v in s.customizations.items():
        cust.add_row(k.replace("_", " "), f"{v:,}")
    return Group(
        tot,
        _frame_table(s.by_tax_status, "By tax status", "tax status"),
        _frame_table(s.by_status, "By status", "status"),
        _frame_table(s.by_target, "By target", "target"),
        _frame_table(s.by_advisor, "By advisor", "advisor"),
        cust,
    )


@app.command()
def demo(
    upload_dir: Optional[Path] = typer.Argument(None, help="An upload folder (default: the embedded demo book)."),
    as_of: Optional[str] = typer.Option(None, "--as-of", help="The prices' date (default: the upload's as_of.txt)."),
    trade_date: Optional[str] = typer.Option(None, "--trade-date", help="The trade date (default: next NYSE business day)."),
    store: Optional[Path] = typer.Option(None, "--store", help="The DuckDB store (default: $OVERLAY_STORE or ./overlay_store/overlay.duckdb)."),
    out: Path = typer.Option(Path("out/demo"), "--out", help="The folder for the trade, review and block files."),
    workers: Optional[int] = typer.Option(None, "--workers", min=0, help="Local worker processes (default: one per core)."),
    scheduler: Optional[str] = typer.Option(None, "--scheduler", help="A Dask scheduler tcp://HOST:PORT (default: local)."),
    fresh: bool = typer.Option(False, "--fresh", help="Start a new attempt instead of resuming the day's stored run."),
    summary_only: bool = typer.Option(False, "--summary-only", help="Only print the firm summary (no review)."),
    history: bool = typer.Option(True, "--history/--no-history", help="Import the embedded demo's 20 past daily reviews into the store first."),
) -> None:
    """The main job on the demo firm: review every account, write the day's files, print the summary."""
    from overlay_core.cli._app import report_error
    from overlay_core.cli.review import render_files, render_review_summary
    from overlay_core.demo.generate import demo_upload_dir
    from overlay_core.errors import OverlayError
    from overlay_core.review.daily import review_book
    from overlay_core.store import Store
    from overlay_core.upload import read_upload

    folder = upload_dir or demo_upload_dir()
    try:
        with console.status(f"Loading {folder} ..."):
            book = read_upload(folder, as_of=parse_day(as_of, "--as-of"), trade_date=parse_day(trade_date, "--trade-date"))
        s = firm_summary(book)
        if summary_only:
            console.print(render_firm_summary(s))
            return
        console.print(render_firm_brief(s))
        with Store.open(store) as st:
            if history and upload_dir is None:
                _import_history(st, book)
            result = review_book(book, store=st, out_dir=out, workers=workers, scheduler=scheduler, fresh=fresh, progress=True)
            where = st.path
    except OverlayError as exc:
        raise typer.Exit(report_error(exc)) from None
    console.print(render_review_summary(result, as_of=book.as_of))
    console.print("files:\n" + render_files(result) + f"\n  {'store':<12} {where} (run {result.run_id})")


def _import_history(st, book) -> None:  # noqa: ANN001 - a Store and a Book
    """Import the shipped history into the store (a line says what happened); a refusal is a warning."""
    from overlay_core.demo.pipeline import import_history
    from overlay_core.errors import StoreError

    try:
        with console.status("Importing the demo's history ..."):
            status, s = import_history(st, book)
    except StoreError as exc:
        console.print(f"[yellow]history not imported:[/yellow] {exc}")
        return
    if status == "imported":
        console.print(
            f"history: imported {len(s.runs)} past daily reviews ({s.as_of[0]} to {s.as_of[-1]}) into the store "
            f"in {s.seconds:.1f} s"
        )
    elif status == "present":
        console.print(f"history: the store already holds the {len(s.skipped_runs)} past daily reviews")
    elif status == "missing":
        console.print("history: none shipped with this installation (data/demo_history is missing); reviewing today only")


def render_firm_brief(s: FirmSummary) -> Table:
    """One table: the firm's totals (the brief form of `render_firm_summary`)."""
    tot = Table(title=f"The demo firm as of {s.as_of} (trade date {s.trade_date})")
    tot.add_column("item")
    tot.add_column("value", justify="right")
    for k, v in s.totals.items():
        tot.add_row(k.replace("_", " "), f"{v:,.2f}" if k in ("aum", "cash") else f"{int(v):,}")
    return tot
