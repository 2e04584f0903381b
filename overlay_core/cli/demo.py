"""`overlay demo [UPLOAD_DIR]`: load the embedded demo book (or any upload) and print a summary of the firm.

Until the review exists this is all it does; the summary is `overlay_core.demo.summary.firm_summary`,
rendered by `render_firm_summary`, so the review can print the same.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Optional

import polars as pl
import typer
from rich.console import Group
from rich.table import Table

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
) -> None:
    """Load the demo firm's book and print a summary of the firm."""
    from overlay_core.demo.generate import demo_upload_dir
    from overlay_core.upload import read_upload

    def day(v: str | None, opt: str) -> dt.date | None:
        if v is None:
            return None
        try:
            return dt.date.fromisoformat(v)
        except ValueError:
            raise typer.BadParameter(f"found {v!r}; expected a date YYYY-MM-DD", param_hint=opt) from None

    folder = upload_dir or demo_upload_dir()
    with console.status(f"Loading {folder} ..."):
        book = read_upload(folder, as_of=day(as_of, "--as-of"), trade_date=day(trade_date, "--trade-date"))
    console.print(render_firm_summary(firm_summary(book)))
