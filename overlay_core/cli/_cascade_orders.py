"""The orders phase of `overlay cascade ... --with-orders` (called by `cli/cascade.py`).

Runs `simulate.cascade_orders.cascade_with_orders` (the review as a dry run on the changed book:
nothing stored), writes ``DIR/cascade_orders_accounts.csv`` (one row per affected account),
``DIR/cascade_orders_summary.csv`` (by target and advisor) and ``DIR/cascade_orders.csv`` (the dry
run's order lines; not a trade file: never send it to the OMS), and prints the summary.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
from rich.console import Console
from rich.table import Table

from overlay_core.book import Book
from overlay_core.targets.cascade import CascadeResult, Change

_MONEY = ("value", "traded_value", "realized_gain", "est_tax", "losses_harvested")


def _usd(x: float | None) -> str:
    x = x or 0.0
    for unit, size in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(x) >= size:
            return f"{x / size:,.1f}{unit}"
    return f"{x:,.0f}"


def _pct(x: float | None) -> str:
    return "" if x is None else f"{100 * x:.1f}%"


def orders_summary_table(summary: pl.DataFrame, title: str) -> Table:
    table = Table(title=title, caption="turn: traded value / value; gain, tax: the orders' estimates, USD; TE: mean after the trades")
    for col in ("target", "advisor", "accts", "trade", "orders", "traded", "turn", "gain", "tax", "TE", "err"):
        table.add_column(col, justify="left" if col in ("target", "advisor") else "right", overflow="fold")
    for r in summary.iter_rows(named=True):
        table.add_row(
            r["target_id"],
            r["advisor"] or "",
            f"{r['accounts']:,}",
            f"{r['trading']:,}",
            f"{r['n_orders']:,}",
            _usd(r["traded_value"]),
            _pct(r["turnover"]),
            _usd(r["realized_gain"]),
            _usd(r["est_tax"]),
            _pct(r["te_after_mean"]),
            f"{r['errors']:,}",
        )
    return table


def run_orders_phase(book: Book, change: Change, result: CascadeResult, out: Path, console: Console, *, workers: int | None | str = "auto") -> None:
    """The orders phase: dry-run review, files, summary table (raises OverlayError on a user's mistake)."""
    from overlay_core.cli.targets import write_csv_atomic
    from overlay_core.simulate.cascade_orders import cascade_with_orders

    n = result.accounts.height
    with console.status(f"orders phase: reviewing the households of {n:,} account(s) on the changed targets (dry run)"):
        co = cascade_with_orders(book, change, target_level=result, workers=workers)
    cents = [pl.col(c).round(2, mode="half_to_even") for c in _MONEY]
    write_csv_atomic(co.accounts.with_columns(cents), out / "cascade_orders_accounts.csv")
    write_csv_atomic(co.summary.with_columns(cents), out / "cascade_orders_summary.csv")
    write_csv_atomic(co.orders.with_columns(pl.col("est_value").round(2, mode="half_to_even")), out / "cascade_orders.csv")
    console.print(orders_summary_table(co.summary, f"Orders if the change were live (dry run {co.review.run_id}, nothing stored)"))
    console.print(
        f"orders phase: {co.orders.height:,} order line(s) for {int((co.accounts['decision'] == 'trade').sum()):,} account(s) in {co.seconds:.1f} s; "
        f"wrote {out / 'cascade_orders_accounts.csv'}, {out / 'cascade_orders_summary.csv'} and {out / 'cascade_orders.csv'}"
    )
