"""`overlay cascade UPLOAD_DIR --change CHANGE.csv --out DIR`: preview a model or blend change.

Nothing is committed: the change is applied to a copy of the day's book. Writes
``DIR/cascade_accounts.csv`` (one row per account that follows a changed model or target: old and new
drift and tracking error) and ``DIR/cascade_summary.csv`` (by target and advisor), and prints the
summary. Exit 0 when the run completes, 2 on a refused upload or a refused change file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import polars as pl
import typer
from rich.table import Table

from overlay_core.cli._app import app, console, report_error
from overlay_core.cli.load import parse_day
from overlay_core.cli.targets import write_csv_atomic
from overlay_core.errors import OverlayError


def _pct(x: float | None) -> str:
    return "" if x is None else f"{100 * x:.2f}%"


def summary_table(summary: pl.DataFrame, title: str) -> Table:
    table = Table(title=title)
    for col, justify in (
        ("target", "left"),
        ("advisor", "left"),
        ("accounts", "right"),
        ("value (USD)", "right"),
        ("TE before", "right"),
        ("TE after", "right"),
        ("to rebalance before", "right"),
        ("to rebalance after", "right"),
        ("target moved", "right"),
        ("errors", "right"),
    ):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for r in summary.iter_rows(named=True):
        table.add_row(
            r["target_id"],
            r["advisor"] or "",
            f"{r['accounts']:,}",
            f"{r['value'] or 0:,.2f}",
            _pct(r["te_before_mean"]),
            _pct(r["te_after_mean"]),
            f"{r['needs_rebalance_before']:,}",
            f"{r['needs_rebalance_after']:,}",
            _pct(r["target_change_mean"]),
            f"{r['errors']:,}",
        )
    return table


@app.command()
def cascade(
    upload_dir: Path = typer.Argument(..., help="The upload folder."),
    change: Path = typer.Option(..., "--change", help="CHANGE.csv: model_id,symbol,weight (new model weights) or target_id,model_id,weight (new blends)."),
    out: Path = typer.Option(..., "--out", help="The folder for cascade_accounts.csv and cascade_summary.csv."),
    as_of: Optional[str] = typer.Option(None, "--as-of", help="The prices' date YYYY-MM-DD (default: as_of.txt)."),
    trade_date: Optional[str] = typer.Option(None, "--trade-date", help="The day the orders execute (default: the next NYSE business day)."),
) -> None:
    """Preview a change to models or blends on every account that follows it (nothing is committed)."""
    from overlay_core.targets import risk_model
    from overlay_core.targets.cascade import cascade as run_cascade, read_change
    from overlay_core.upload import read_upload

    day = parse_day(as_of, "--as-of")
    trade = parse_day(trade_date, "--trade-date")
    try:
        book = read_upload(upload_dir, as_of=day, trade_date=trade)
        ch = read_change(change, book)
        result = run_cascade(book, ch, risk=risk_model(book))
        write_csv_atomic(result.accounts, out / "cascade_accounts.csv")
        write_csv_atomic(result.summary, out / "cascade_summary.csv")
    except OverlayError as exc:
        raise typer.Exit(report_error(exc)) from None
    what = "models" if ch.kind == "models" else "targets"
    title = f"Cascade of changed {what} {', '.join(ch.ids)} -> targets {', '.join(result.targets) or '(none)'}"
    console.print(summary_table(result.summary, title))
    console.print(f"{result.accounts.height:,} account(s) follow the change; wrote {out / 'cascade_accounts.csv'} and {out / 'cascade_summary.csv'}")
