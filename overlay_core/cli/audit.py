"""`overlay audit --as-of D --account ID [--store PATH] [--run RUN_ID]`: one account's review of one day,
from the store alone (inputs hash, settings, code version, target and customizations, decision, orders
and their explanations). Reads the published snapshot when there is one (never blocks the daily writer).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Optional

import typer

from overlay_core.cli._app import app, console, report_error
from overlay_core.errors import ConfigError, OverlayError


@app.command()
def audit(
    as_of: str = typer.Option(..., "--as-of", help="The review day (YYYY-MM-DD)."),
    account: str = typer.Option(..., "--account", help="The account."),
    store: Optional[Path] = typer.Option(None, "--store", help="The store (default: $OVERLAY_STORE or ./overlay_store/overlay.duckdb)."),
    run: Optional[str] = typer.Option(None, "--run", help="A run id of that day (default: the latest run that reviewed the account)."),
) -> None:
    """Show, from the store alone, how one account was reviewed on one day and why."""
    from overlay_core.audit import audit_account, audit_text
    from overlay_core.store import Store, default_store_path, snapshot_path

    try:
        try:
            day = dt.date.fromisoformat(as_of)
        except ValueError:
            raise ConfigError(f"--as-of: found {as_of!r}; expected a date YYYY-MM-DD") from None
        path = Path(store) if store else default_store_path()
        opener = Store.open_snapshot if snapshot_path(path).is_file() else (lambda p: Store.open(p, read_only=True))
        with opener(path) as st:
            a = audit_account(st, as_of=day, account_id=account, run_id=run)
    except OverlayError as exc:
        raise typer.Exit(report_error(exc)) from None
    console.print(audit_text(a), markup=False, highlight=False, soft_wrap=True)
