"""`overlay targets UPLOAD_DIR --out FILE.csv`: every account's own target, and refused customizations.

Writes ``account_id, symbol, weight`` (``$CASH`` included, weights at full precision, summing to 1 per
account; sorted by account_id, symbol) and prints the accounts whose customization was refused, with
why (they get ``decision = error`` in the review). Exit 0 when the run completes, 2 on a refused upload.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Optional

import polars as pl
import typer
from rich.table import Table

from overlay_core.cli._app import app, console, report_error
from overlay_core.cli.load import parse_day
from overlay_core.errors import OverlayError


def write_csv_atomic(frame: pl.DataFrame, path: Path) -> None:
    """Write `frame` as CSV to `path` via a temporary file and a rename (never a partial file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            frame.write_csv(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def refused_table(refused: pl.DataFrame, limit: int = 200) -> Table:
    table = Table(title="Refused customizations (decision = error)")
    for col in ("account", "target", "why"):
        table.add_column(col, overflow="fold")
    for account_id, target_id, reason in refused.head(limit).iter_rows():
        table.add_row(account_id, target_id or "", reason)
    if refused.height > limit:
        table.caption = f"... and {refused.height - limit} more"
    return table


@app.command()
def targets(
    upload_dir: Path = typer.Argument(..., help="The upload folder."),
    out: Path = typer.Option(..., "--out", help="The CSV to write: account_id, symbol, weight."),
    as_of: Optional[str] = typer.Option(None, "--as-of", help="The prices' date YYYY-MM-DD (default: as_of.txt)."),
    trade_date: Optional[str] = typer.Option(None, "--trade-date", help="The day the orders execute (default: the next NYSE business day)."),
) -> None:
    """Write every account's own target (blend + customization) and print refused customizations."""
    from overlay_core.targets import account_targets, risk_model
    from overlay_core.upload import read_upload

    day = parse_day(as_of, "--as-of")
    trade = parse_day(trade_date, "--trade-date")
    try:
        book = read_upload(upload_dir, as_of=day, trade_date=trade)
        result = account_targets(book, risk=risk_model(book))
        write_csv_atomic(result.weights, out)
    except OverlayError as exc:
        raise typer.Exit(report_error(exc)) from None
    n_ok = result.cash_weight.height
    n_refused = result.refused["account_id"].n_unique()
    table = Table(title=f"Targets of {book.as_of}")
    table.add_column("item")
    table.add_column("value", justify="right")
    table.add_row("accounts with a target", f"{n_ok:,}")
    table.add_row("customizations refused", f"{n_refused:,}", style="bold yellow" if n_refused else None)
    table.add_row("quarantined at load", f"{book.quarantined.height:,}")
    table.add_row("adjustments recorded", f"{result.adjustments.height:,}")
    table.add_row("rows written", f"{result.weights.height:,}")
    console.print(table)
    if n_refused:
        console.print(refused_table(result.refused))
    console.print(f"wrote {out}")
