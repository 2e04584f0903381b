"""`overlay generate --accounts N [--seed S] [--as-of D] --out DIR`: write a demo firm's upload of any size.

The book (securities, models, targets, policy.toml, accounts with replayed lot histories, restrictions,
transactions, pending orders, price history, as_of.txt) is described in docs/demo_book.md.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

import typer

from overlay_core.cli._options import parse_day
from overlay_core.cli._app import app, console
from overlay_core.demo.generate import DEMO_AS_OF, DEMO_SEED, HISTORY_YEARS, generate_book, write_book


@app.command()
def generate(
    out: Path = typer.Option(..., "--out", help="Folder to write the upload into (created if absent)."),
    accounts: int = typer.Option(1000, "--accounts", min=1, help="Number of accounts (whole households of 1-4)."),
    seed: int = typer.Option(DEMO_SEED, "--seed", min=0, help="Seed of the market and every draw."),
    as_of: Optional[str] = typer.Option(None, "--as-of", help=f"The prices' date, a NYSE business day (default {DEMO_AS_OF})."),
    years: int = typer.Option(HISTORY_YEARS, "--years", min=2, help="Years of simulated history replayed per account."),
    fmt: str = typer.Option("csv", "--format", help="csv or parquet."),
    workers: int = typer.Option(1, "--workers", min=1, help="Processes for the histories and the ledger replay."),
) -> None:
    """Generate a realistic demo firm's daily upload (deterministic for a seed)."""
    if fmt not in ("csv", "parquet"):
        raise typer.BadParameter(f"found {fmt!r}; expected csv or parquet", param_hint="--format")
    day = parse_day(as_of, "--as-of") or DEMO_AS_OF
    t0 = time.perf_counter()
    with console.status(f"Generating {accounts:,} accounts (seed {seed}, as of {day})..."):
        book = generate_book(n_accounts=accounts, seed=seed, as_of=day, history_years=years, workers=workers)
        t1 = time.perf_counter()
        write_book(book, out, fmt=fmt)
    t2 = time.perf_counter()
    s = book.summary()
    console.print(
        f"Wrote {out}: {s['accounts']:,} accounts in {s['households']:,} households, {s['lots']:,} lots, "
        f"{book.transactions.height:,} transactions, {book.pending_orders.height:,} pending orders, "
        f"{book.price_history.height:,} price-history rows (as of {book.as_of}, trade date {book.trade_date})."
    )
    console.print(f"generate {t1 - t0:.1f} s, write {t2 - t1:.1f} s")
