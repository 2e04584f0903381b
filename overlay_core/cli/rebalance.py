"""`overlay rebalance UPLOAD_DIR --account ID --out DIR`: one account's orders and why.

Writes ``DIR/trades_<as_of>.csv`` (the data contract's trade file, atomically, with its ``.ok``) holding
that account's order lines, and prints the account's explanation. Exit 0 when the run completes (an
account that cannot be optimized gets decision ``error`` and a header-only file), 2 when the upload is
refused or the account is not in the upload.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Optional

import polars as pl
import typer
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table

from overlay_core.cli._options import parse_day
from overlay_core.cli._app import app, console, report_error
from overlay_core.errors import ConfigError, OverlayError
from overlay_core.optimize.explain import ORDER_SCHEMA, Explanation, Proposal


def orders_table(orders: pl.DataFrame, limit: int = 200) -> Table:
    table = Table(title="Order lines")
    for col in ("side", "symbol", "shares", "est_value", "lot_id", "est_realized_gain", "term", "reason"):
        table.add_column(col, justify="right" if col in ("shares", "est_value", "est_realized_gain") else "left")
    for r in orders.head(limit).iter_rows(named=True):
        gain = r["est_realized_gain"]
        table.add_row(
            r["side"],
            escape(r["symbol"]),
            f"{r['shares']:,.3f}".rstrip("0").rstrip("."),
            f"{r['est_value']:,.2f}",
            r["lot_id"] or "",
            "" if gain is None else f"{gain:,.2f}",
            r["term"] or "",
            r["reason"],
        )
    if orders.height > limit:
        table.caption = f"... and {orders.height - limit} more"
    return table


@app.command()
def rebalance(
    upload_dir: Path = typer.Argument(..., help="The upload folder."),
    account: str = typer.Option(..., "--account", help="The account to rebalance."),
    out: Path = typer.Option(..., "--out", help="The folder for trades_<as_of>.csv (created if missing)."),
    as_of: Optional[str] = typer.Option(None, "--as-of", help="The prices' date YYYY-MM-DD (default: as_of.txt)."),
    trade_date: Optional[str] = typer.Option(None, "--trade-date", help="The day the orders execute (default: the next NYSE business day)."),
    solver: Optional[str] = typer.Option(None, "--solver", help="clarabel, ecos or scs (default: the policy's)."),
    run_id: Optional[str] = typer.Option(None, "--run-id", help="The run id written on every line (default: a new one)."),
) -> None:
    """Optimize one account tax-aware and lot by lot; write its trade file and print the explanation."""
    from overlay_core.export import write_trade_file
    from overlay_core.optimize.build import rebalance_account
    from overlay_core.targets import account_targets, risk_model
    from overlay_core.tax import tax_state
    from overlay_core.upload import read_upload

    day = parse_day(as_of, "--as-of")
    trade = parse_day(trade_date, "--trade-date")
    if solver is not None and solver not in ("clarabel", "ecos", "scs"):
        raise typer.BadParameter(f"found {solver!r}; expected clarabel, ecos or scs", param_hint="--solver")
    try:
        book = read_upload(upload_dir, as_of=day, trade_date=trade)
        quarantined = dict(zip(book.quarantined["account_id"].to_list(), book.quarantined["reason"].to_list()))
        if account in quarantined:
            ex = Explanation(account, "error", "the account is quarantined", 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0, 0.0, 0.0, 0.0, diagnosis=quarantined[account])
            proposal = Proposal(account, pl.DataFrame(schema=ORDER_SCHEMA), ex)
        elif account not in set(book.account_ids()):
            raise ConfigError(f"--account {account!r}: not an account of {upload_dir}/accounts (found {len(book.account_ids())} accounts)")
        else:
            with console.status(f"optimizing {account}"):
                risk = risk_model(book)
                targets = account_targets(book, risk=risk, account_ids=[account])
                tax = tax_state(book)
                proposal = rebalance_account(book, account, targets=targets, risk=risk, tax_state=tax, solver=solver)
        sec = book.securities
        types = dict(zip(sec["symbol"].to_list(), sec["type"].to_list()))
        incs = {s: v for s, v in zip(sec["symbol"].to_list(), sec["trade_increment"].to_list()) if v is not None}
        path = write_trade_file(
            proposal.orders,
            out,
            as_of=book.as_of,
            run_id=run_id or uuid.uuid4().hex[:12],
            trade_date=book.trade_date,
            security_types=types,
            trade_increments=incs,
        )
    except OverlayError as exc:
        raise typer.Exit(report_error(exc)) from None
    ex = proposal.explanation
    style = {"trade": "green", "no_trade": "cyan", "held": "yellow", "error": "red"}.get(ex.decision, "white")
    console.print(Panel(escape(ex.text()), title=f"{account}: {ex.decision}", border_style=style))
    if proposal.orders.height:
        console.print(orders_table(proposal.orders))
    console.print(f"wrote {proposal.orders.height} line(s) to {path}")
