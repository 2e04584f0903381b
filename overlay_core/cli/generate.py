"""`overlay generate --accounts N [--seed S] [--as-of D] --out DIR`: write a demo firm's upload of any size.

The book (securities, models, targets, policy.toml, accounts with replayed lot histories, restrictions,
transactions, pending orders, price history, as_of.txt) is described in docs/demo_book.md.

With ``--history-days N`` the book is generated N NYSE business days before the as_of and reviewed
day by day up to it (`overlay_core.demo.pipeline.build_demo`): the upload written is the book of the
as_of, and ``--history-out`` receives the store export of the N daily reviews (`store.export_runs`).
The embedded demo is made so:

    overlay generate --out data/demo --history-days 20 --history-out data/demo_history --workers 2
"""

from __future__ import annotations

import datetime as dt
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
    workers: int = typer.Option(1, "--workers", min=1, help="Processes for the histories, the ledger replay and the reviews."),
    history_days: int = typer.Option(0, "--history-days", min=0, help="Daily reviews before the as_of to simulate and export (0: none)."),
    history_out: Optional[Path] = typer.Option(None, "--history-out", help="Folder of the reviews' store export (default: OUT_history)."),
) -> None:
    """Generate a realistic demo firm's daily upload (deterministic for a seed)."""
    if fmt not in ("csv", "parquet"):
        raise typer.BadParameter(f"found {fmt!r}; expected csv or parquet", param_hint="--format")
    day = parse_day(as_of, "--as-of") or DEMO_AS_OF
    if history_days:
        if fmt != "csv":
            raise typer.BadParameter("a history is written with a CSV upload only", param_hint="--format")
        _generate_with_history(out, history_out or out.with_name(out.name + "_history"), accounts=accounts, seed=seed, as_of=day,
                               years=years, workers=workers, days=history_days)
        return
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


def _generate_with_history(out: Path, history_out: Path, *, accounts: int, seed: int, as_of: dt.date, years: int, workers: int, days: int) -> None:
    import os

    from overlay_core.cli._app import report_error
    from overlay_core.demo.pipeline import build_demo, history_start
    from overlay_core.errors import OverlayError

    t0 = time.perf_counter()
    c0 = os.times()
    start = history_start(as_of, days)
    console.print(f"Generating {accounts:,} accounts (seed {seed}) as of {start}, then {days} daily reviews to {as_of} ...")

    def on_day(row: dict) -> None:
        console.print(
            f"  day {row['day']:>2} {row['as_of']}: {row['traded']:,} of {row['accounts']:,} accounts traded, "
            f"{row['orders']:,} orders, turnover {row['turnover']:.2%} ({row['day_seconds']:.0f} s)"
        )

    try:
        built = build_demo(upload_out=out, history_out=history_out, n_accounts=accounts, seed=seed, as_of=as_of,
                           history_days=days, history_years=years, workers=workers, on_day=on_day)
    except OverlayError as exc:
        raise typer.Exit(report_error(exc)) from None
    c1 = os.times()
    cpu = (c1.user + c1.system + c1.children_user + c1.children_system) - (c0.user + c0.system + c0.children_user + c0.children_system)
    size = sum(p.stat().st_size for p in history_out.iterdir() if p.is_file())
    b = built.book
    console.print(
        f"Wrote {out} (as of {b.as_of}, trade date {b.trade_date}: {b.accounts.height:,} accounts, {b.lots.height:,} lots) "
        f"and {history_out} ({len(built.run_ids)} review runs, {size / 1e6:.1f} MB)."
    )
    stages = ", ".join(f"{k} {v:.1f} s" for k, v in built.timings.items())
    console.print(f"{stages}; total {time.perf_counter() - t0:.1f} s wall, {cpu:.1f} s CPU (this process and its workers)")
