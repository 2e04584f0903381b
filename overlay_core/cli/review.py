"""`overlay review UPLOAD_DIR --out DIR`: the daily review of the whole book.

Loads and validates the upload (refused -> exit 2, nothing stored), reviews every account
(`overlay_core.review.daily.review_book`: data checks, targets, drift, the optimizer where needed,
household wash-sale coordination), writes ``DIR/trades_<as_of>.csv`` (+ ``.ok``), ``DIR/review_<as_of>.csv``
and ``DIR/blocks_<as_of>.csv``, stores the run (``--store``, default `store.default_store_path()`), shows a
progress bar and prints the summary. Exit 0 when the run completes (errors are per account).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Group
from rich.table import Table

from overlay_core.cli._options import parse_day
from overlay_core.cli._app import app, console, err_console, report_error
from overlay_core.errors import OverlayError


def _usd(x: float) -> str:
    return f"{x:,.2f}"


def render_review_summary(out: Any, *, as_of: dt.date | None = None) -> Group:
    """Rich tables of a `ReviewOutput`'s summary (decisions, reasons, money, time)."""
    s = out.stats
    d = s.get("decisions", {})
    t = Table(title=f"Daily review{'' if as_of is None else f' of {as_of}'} — run {out.run_id}")
    t.add_column("item")
    t.add_column("value", justify="right")
    t.add_row("accounts reviewed", f"{s.get('accounts', 0):,}")
    t.add_row("traded", f"{d.get('trade', 0):,}")
    t.add_row("not traded", f"{d.get('no_trade', 0):,}")
    for k, v in s.get("not_traded_by_reason", {}).items():
        t.add_row(f"  … {k.replace('_', ' ')}", f"{v:,}")
    t.add_row("held", f"{d.get('held', 0):,}")
    for k, v in s.get("held_by_reason", {}).items():
        t.add_row(f"  … {k.replace('_', ' ')}", f"{v:,}")
    t.add_row("errors", f"{d.get('error', 0):,}")
    t.add_row("order lines", f"{s.get('orders', 0):,}")
    t.add_row("buys / sells (USD)", f"{_usd(s.get('buy_value', 0.0))} / {_usd(s.get('sell_value', 0.0))}")
    t.add_row("mean turnover of traded accounts", f"{s.get('mean_turnover_traded', 0.0):.2%}")
    t.add_row("estimated tax (USD)", _usd(s.get("est_tax", 0.0)))
    t.add_row("losses harvested (USD)", _usd(s.get("losses_harvested", 0.0)))
    if s.get("resumed"):
        t.add_row("accounts resumed from the store", f"{s['resumed']:,}")
    t.add_row("wall time", f"{out.seconds:,.1f} s")
    parts: list[Any] = [t]
    errs = out.results.filter(out.results["decision"] == "error") if out.results.height else out.results
    if errs.height:
        e = Table(title="Errors (per account; every other account completed)")
        e.add_column("account")
        e.add_column("error")
        for a, msg in errs.select("account_id", "error").head(20).iter_rows():
            e.add_row(a, (msg or "")[:160])
        if errs.height > 20:
            e.caption = f"... and {errs.height - 20} more (see the review file)"
        parts.append(e)
    return Group(*parts)


def render_files(out: Any) -> str:
    files = out.stats.get("files", {})
    return "\n".join(f"  {k:<12} {v}" for k, v in files.items())


def run_review(
    upload_dir: Path,
    *,
    out: Path,
    as_of: dt.date | None = None,
    trade_date: dt.date | None = None,
    store_path: Path | None = None,
    scheduler: str | None = None,
    workers: int | None = None,
    fresh: bool = False,
    min_batch: int = 25,
) -> Any:
    """Load `upload_dir`, open the store and run `review_book`; returns the `ReviewOutput` (raises OverlayError)."""
    from overlay_core.review.daily import review_book
    from overlay_core.store import Store
    from overlay_core.upload import read_upload

    with console.status(f"loading {upload_dir} ..."):
        book = read_upload(upload_dir, as_of=as_of, trade_date=trade_date)
    log = None
    if not err_console.is_terminal:  # a batch job's log: one line per stored batch

        def log(b: Any) -> None:
            err_console.print(f"stored batch {b.index}: {len(b.outcomes)} accounts", highlight=False)

    with Store.open(store_path) as store:
        return review_book(book, store=store, out_dir=out, workers=workers, scheduler=scheduler, fresh=fresh,
                           progress=True, min_accounts=min_batch, on_batch=log)


@app.command()
def review(
    upload_dir: Path = typer.Argument(..., help="The upload folder."),
    out: Path = typer.Option(..., "--out", help="The folder for trades/review/blocks files (created if missing)."),
    as_of: Optional[str] = typer.Option(None, "--as-of", help="The prices' date YYYY-MM-DD (default: as_of.txt)."),
    trade_date: Optional[str] = typer.Option(None, "--trade-date", help="The day the orders execute (default: the next NYSE business day)."),
    store: Optional[Path] = typer.Option(None, "--store", help="The DuckDB store (default: $OVERLAY_STORE or ./overlay_store/overlay.duckdb)."),
    scheduler: Optional[str] = typer.Option(None, "--scheduler", help="A Dask scheduler tcp://HOST:PORT (default: a local process pool)."),
    workers: Optional[int] = typer.Option(None, "--workers", min=0, help="Local worker processes (default: one per core; 0: in this process)."),
    fresh: bool = typer.Option(False, "--fresh", help="Start a new attempt instead of resuming the day's stored run."),
    min_batch: int = typer.Option(25, "--min-batch", min=1, help="The fewest accounts of a batch (whole households)."),
) -> None:
    """Review every account of the book: the trade file, the review file, the block orders, the evidence."""
    day = parse_day(as_of, "--as-of")
    trade = parse_day(trade_date, "--trade-date")
    try:
        result = run_review(upload_dir, out=out, as_of=day, trade_date=trade, store_path=store, scheduler=scheduler,
                            workers=workers, fresh=fresh, min_batch=min_batch)
    except OverlayError as exc:
        raise typer.Exit(report_error(exc)) from None
    console.print(render_review_summary(result))
    console.print("files:\n" + render_files(result))
