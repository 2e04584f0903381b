"""`overlay cascade UPLOAD_DIR --change CHANGE.csv --out DIR`: preview a model or blend change.

Nothing is committed: the change is applied to a copy of the day's book. Writes
``DIR/cascade_accounts.csv`` (one row per account that follows a changed model or target: old and new
drift and tracking error) and ``DIR/cascade_summary.csv`` (by target and advisor), and prints the
summary. Exit 0 when the run completes, 2 on a refused upload or a refused change file.

``--with-orders`` then runs the review as a dry run on the changed book (nothing stored) and adds,
per affected account, its orders, turnover, realized gain, tax and tracking error after
(``cascade_orders_accounts.csv``, ``cascade_orders_summary.csv``, ``cascade_orders.csv``; see
`overlay_core.simulate.cascade_orders`). The target-level answer is printed first.
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
    return "" if x is None else f"{100 * x:.1f}%"


def _usd(x: float | None) -> str:
    x = x or 0.0
    for unit, size in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(x) >= size:
            return f"{x / size:,.1f}{unit}"
    return f"{x:,.0f}"


def summary_table(summary: pl.DataFrame, title: str) -> Table:
    """The cascade summary, one row per target and advisor (compact: fits 80 columns)."""
    table = Table(title=title, caption="TE: mean ex-ante tracking error of today's holdings; moved: mean one-way change of the target")
    for col, justify in (
        ("target", "left"),
        ("advisor", "left"),
        ("accts", "right"),
        ("value", "right"),
        ("TE now", "right"),
        ("TE new", "right"),
        ("rebal now", "right"),
        ("rebal new", "right"),
        ("moved", "right"),
        ("err", "right"),
    ):
        table.add_column(col, justify=justify, overflow="fold")  # type: ignore[arg-type]
    for r in summary.iter_rows(named=True):
        table.add_row(
            r["target_id"],
            r["advisor"] or "",
            f"{r['accounts']:,}",
            _usd(r["value"]),
            _pct(r["te_before_mean"]),
            _pct(r["te_after_mean"]),
            f"{r['needs_rebalance_before']:,}",
            f"{r['needs_rebalance_after']:,}",
            _pct(r["target_change_mean"]),
            f"{r['errors']:,}",
        )
    return table


def money_to_cents(frame: pl.DataFrame) -> pl.DataFrame:
    """The ``value`` column rounded half-even to cents (at output only)."""
    return frame.with_columns(pl.col("value").round(2, mode="half_to_even"))


@app.command()
def cascade(
    upload_dir: Path = typer.Argument(..., help="The upload folder."),
    change: Path = typer.Option(..., "--change", help="CHANGE.csv: model_id,symbol,weight (new model weights) or target_id,model_id,weight (new blends)."),
    out: Path = typer.Option(..., "--out", help="The folder for cascade_accounts.csv and cascade_summary.csv."),
    as_of: Optional[str] = typer.Option(None, "--as-of", help="The prices' date YYYY-MM-DD (default: as_of.txt)."),
    trade_date: Optional[str] = typer.Option(None, "--trade-date", help="The day the orders execute (default: the next NYSE business day)."),
    with_orders: bool = typer.Option(False, "--with-orders", help="Also run the review as a dry run on the changed targets: orders, turnover, gains, tax and TE per account (nothing stored)."),
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
        write_csv_atomic(money_to_cents(result.accounts), out / "cascade_accounts.csv")
        write_csv_atomic(money_to_cents(result.summary), out / "cascade_summary.csv")
    except OverlayError as exc:
        raise typer.Exit(report_error(exc)) from None
    what = "models" if ch.kind == "models" else "targets"
    title = f"Cascade of changed {what} {', '.join(ch.ids)} -> targets {', '.join(result.targets) or '(none)'}"
    console.print(summary_table(result.summary, title))
    console.print(f"{result.accounts.height:,} account(s) follow the change; wrote {out / 'cascade_accounts.csv'} and {out / 'cascade_summary.csv'}")
    if with_orders:
        from overlay_core.cli._cascade_orders import run_orders_phase

        try:
            run_orders_phase(book, ch, result, out, console)
        except OverlayError as exc:
            raise typer.Exit(report_error(exc)) from None
