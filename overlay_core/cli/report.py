"""`overlay report account ID` and `overlay report book`: one-page HTML reports from the store."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from overlay_core.cli._app import app, console, report_error
from overlay_core.errors import OverlayError

report_app = typer.Typer(name="report", help="One-page HTML reports (no network needed to view them).", no_args_is_help=True)
app.add_typer(report_app, name="report")


def _open(store: Optional[Path]):  # noqa: ANN202 - a Store
    """The published snapshot if there is one (never blocks the daily writer), else the store read-only."""
    from overlay_core.store import Store, default_store_path, snapshot_path

    path = Path(store) if store else default_store_path()
    if snapshot_path(path).is_file():
        return Store.open_snapshot(path)
    return Store.open(path, read_only=True)


def _write(out: Path, text: str) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(out)


@report_app.command("account")
def account(
    account_id: str = typer.Argument(..., help="The account."),
    out: Path = typer.Option(..., "--out", help="The HTML file to write."),
    store: Optional[Path] = typer.Option(None, "--store", help="The store (default: $OVERLAY_STORE or ./overlay_store/overlay.duckdb)."),
) -> None:
    """Taxes saved, gains against the budget, every review and every trade explained, for one account."""
    from overlay_core.analytics.report_account import account_report, render_account

    try:
        with _open(store) as st:
            r = account_report(st, account_id)
        _write(out, render_account(r))
    except OverlayError as exc:
        raise typer.Exit(report_error(exc)) from None
    console.print(f"wrote {out} ({r.history.height} review(s), {r.orders.height} order line(s))")


@report_app.command("book")
def book(
    out: Path = typer.Option(..., "--out", help="The HTML file to write."),
    store: Optional[Path] = typer.Option(None, "--store", help="The store (default: $OVERLAY_STORE or ./overlay_store/overlay.duckdb)."),
    last: int = typer.Option(30, "--last", help="Review days shown in the dispersion over time."),
) -> None:
    """Drift distribution, accounts outside their bands, dispersion by target over time and its drivers."""
    from overlay_core.analytics.report_book import book_report, render_book

    try:
        with _open(store) as st:
            r = book_report(st, last_runs=last)
        _write(out, render_book(r))
    except OverlayError as exc:
        raise typer.Exit(report_error(exc)) from None
    console.print(f"wrote {out} ({r.drift.summary.height} accounts, {r.over_time['as_of'].n_unique() if r.over_time.height else 0} review day(s))")
