"""`overlay simulate UPLOAD_DIR --days N [--prices FILE] [--seed S] [--store PATH] --out DIR`: the day loop.

Reviews day 1, fills its orders at the next business day's closes (from `--prices`, or the market
simulator seeded with `--seed`), rolls the book and repeats for N business days. Writes one folder per
reviewed day, ``DIR/day_<as_of>/``: that day's upload (CSV), ``trades_<as_of>.csv`` (+ ``.ok``) and
``review_<as_of>.csv``; stores every day's upload and review run (``--no-store``: nothing stored).
Prints a row per day as it completes and the totals. Exit 0 when the run completes, 2 on a refused
upload or a bad option, 4 when the store cannot be used.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import polars as pl
import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from overlay_core.cli._app import app, console, report_error
from overlay_core.cli.load import parse_day
from overlay_core.errors import OverlayError

_COLUMNS = (
    ("day", "right"),
    ("as_of", "left"),
    ("traded", "right"),
    ("orders", "right"),
    ("turn", "right"),
    ("realized", "right"),
    ("harvest", "right"),
    ("tax", "right"),
    ("TE", "right"),
    ("err", "right"),
)


def _usd(x: float | None) -> str:
    return "" if x is None else f"{x:,.0f}"


def _pct(x: float | None, digits: int = 2) -> str:
    return "" if x is None else f"{100 * x:.{digits}f}%"


def day_cells(r: dict[str, Any]) -> list[str]:
    return [
        str(r["day"]),
        f"{r['as_of']:%m-%d}",
        f"{r['traded']:,}/{r['accounts']:,}",
        f"{r['orders']:,}",
        _pct(r["turnover"]),
        _usd(r["realized_gain"]),
        _usd(r["losses_harvested"]),
        _usd(r["est_tax"]),
        _pct(r["median_te_after"]),
        f"{r['errors']:,}",
    ]


def days_table(days: pl.DataFrame, totals: dict[str, float], title: str) -> Table:
    """One row per simulated day and a totals row."""
    table = Table(title=title, caption=(
            "traded: accounts/reviewed; turn: traded value / book value (all: mean); realized, harvest: taxable "
            "fills, USD; tax: the review's estimate, USD; TE: median ex-ante tracking error after"
        ))
    for col, justify in _COLUMNS:
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for r in days.iter_rows(named=True):
        table.add_row(*day_cells(r))
    if totals:
        table.add_row(
            "all",
            f"{int(totals['days'])}d",
            f"{int(days['traded'].sum()):,}",
            f"{int(totals['orders']):,}",
            _pct(totals["mean_turnover"]),
            _usd(totals["realized_gain"]),
            _usd(totals["losses_harvested"]),
            _usd(totals["est_tax"]),
            "",
            f"{int(days['errors'].sum()):,}",
            style="bold",
        )
    return table


def read_flows(path: Path) -> pl.DataFrame:
    """A flows file: date (YYYY-MM-DD, the fill day), account_id, amount (USD, < 0 a withdrawal)."""
    from overlay_core.errors import DataError, Problem

    try:
        raw = pl.read_csv(path, infer_schema=False)
    except Exception as exc:  # noqa: BLE001 - any parser failure is the user's file
        raise DataError(f"cannot read flows file {path}", [Problem(str(path), None, None, str(exc).splitlines()[0], "a CSV file date,account_id,amount")]) from None
    missing = [c for c in ("date", "account_id", "amount") if c not in raw.columns]
    if missing:
        raise DataError(f"flows file {path}: missing columns", [Problem(str(path), None, c, "no such column", "columns date, account_id, amount") for c in missing])
    out = raw.select(
        pl.col("date").str.strip_chars().str.to_date("%Y-%m-%d", strict=False),
        pl.col("account_id").str.strip_chars(),
        pl.col("amount").str.strip_chars().cast(pl.Float64, strict=False),
    )
    bad = out.with_row_index("row", offset=1).filter(pl.col("date").is_null() | pl.col("amount").is_null() | ~pl.col("amount").is_finite())
    if bad.height:
        raise DataError(
            f"flows file {path}: {bad.height} bad row(s)",
            [Problem(str(path), int(r["row"]), "date/amount", "an empty or bad value", "a date YYYY-MM-DD and a finite amount") for r in bad.head(50).iter_rows(named=True)],
        )
    return out


@app.command()
def simulate(
    upload_dir: Path = typer.Argument(..., help="The upload folder of day 1."),
    days: int = typer.Option(..., "--days", help="Business days to review (>= 1)."),
    out: Path = typer.Option(..., "--out", help="The folder for the day_<as_of>/ folders (created if missing)."),
    prices: Optional[Path] = typer.Option(None, "--prices", help="A price file (CSV/Parquet, long or wide) for the fill days; default: the market simulator."),
    seed: int = typer.Option(0, "--seed", help="The market simulator's seed (without --prices)."),
    store: Optional[Path] = typer.Option(None, "--store", help="The DuckDB store (default: $OVERLAY_STORE, else ./overlay_store/overlay.duckdb)."),
    no_store: bool = typer.Option(False, "--no-store", help="Store nothing (the review runs as a dry run)."),
    flows: Optional[Path] = typer.Option(None, "--flows", help="Contributions/withdrawals CSV: date,account_id,amount (USD, < 0 a withdrawal)."),
    workers: int = typer.Option(0, "--workers", help="Local worker processes of each day's review (0: in this process)."),
    as_of: Optional[str] = typer.Option(None, "--as-of", help="The prices' date YYYY-MM-DD of day 1 (default: as_of.txt)."),
    trade_date: Optional[str] = typer.Option(None, "--trade-date", help="Day 1's trade date (default: the next NYSE business day)."),
) -> None:
    """Simulate N business days: review, trade at the next day's closes, roll the book, repeat."""
    from overlay_core.market.prices import FramePriceSource
    from overlay_core.simulate.loop import simulate as run_simulation
    from overlay_core.upload import read_upload

    if days < 1:
        raise typer.BadParameter(f"found {days}; expected at least 1", param_hint="--days")
    if workers < 0:
        raise typer.BadParameter(f"found {workers}; expected 0 or more", param_hint="--workers")
    day = parse_day(as_of, "--as-of")
    trade = parse_day(trade_date, "--trade-date")
    st = None
    try:
        book = read_upload(upload_dir, as_of=day, trade_date=trade)
        source = FramePriceSource.from_file(prices) if prices is not None else None
        flow_frame = read_flows(flows) if flows is not None else None
        if not no_store:
            from overlay_core.store import Store

            st = Store.open(store)
        progress = Progress(
            TextColumn("[bold]simulating"), BarColumn(), MofNCompleteColumn(), TextColumn("days"), TimeElapsedColumn(), console=console, transient=True
        )
        with progress:
            task = progress.add_task("days", total=days)

            def on_day(r: dict[str, Any]) -> None:
                progress.console.print(
                    f"day {r['day']} {r['as_of']}: {r['traded']:,}/{r['accounts']:,} traded, {r['orders']:,} orders, "
                    f"turnover {_pct(r['turnover'])}, realized {_usd(r['realized_gain'])}, harvested {_usd(r['losses_harvested'])}, "
                    f"TE {_pct(r['median_te_after'])}, {r['day_seconds']:.1f} s"
                )
                progress.advance(task)

            result = run_simulation(book, days=days, out_dir=out, prices=source, seed=seed, store=st, workers=workers, flows=flow_frame, on_day=on_day)
    except OverlayError as exc:
        raise typer.Exit(report_error(exc)) from None
    finally:
        if st is not None:
            st.close()
    src = f"prices from {prices}" if prices is not None else f"simulated market, seed {seed}"
    console.print(days_table(result.days, result.totals(), f"Simulation of {days} business day(s) from {book.as_of} ({src})"))
    t = result.totals()
    console.print(f"{t['day_seconds']:.1f} s in all ({t['review_seconds']:.1f} s reviewing)")
    console.print(f"wrote {len(result.day_dirs)} day folder(s) under {out}" + ("" if no_store else f"; runs stored in {store or 'the default store'}"))


__all__ = ["days_table", "read_flows", "simulate"]
