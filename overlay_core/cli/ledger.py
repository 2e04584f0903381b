"""`overlay ledger TRANSACTIONS.csv --out DIR [--method ...]`: replay a trade history into a tax record.

Writes ``DIR/realized.csv`` (one row per lot relieved, with the wash-sale disallowance) and ``DIR/lots.csv``
(the open lots, loadable as the upload's `lots` table). Conventions: docs/tax.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import polars as pl
import typer
from rich.table import Table

from overlay_core.cli._app import app, console
from overlay_core.errors import DataError, Problem
from overlay_core.tax.ledger import money_str, read_transactions, replay, write_ledger
from overlay_core.tax.relief import Method


def _read_wash_groups(path: Path) -> dict[str, str]:
    df = read_transactions(path)
    missing = [c for c in ("symbol", "wash_group") if c not in df.columns]
    if missing:
        raise DataError(f"{path.name}: missing columns", [Problem(path.name, None, c, "no such column", "the columns symbol and wash_group") for c in missing])
    out: dict[str, str] = {}
    for sym, g in zip(df["symbol"].to_list(), df["wash_group"].to_list()):
        if sym:
            out[sym.strip()] = (g or "").strip() or sym.strip()
    return out


@app.command()
def ledger(
    transactions: Path = typer.Argument(..., help="The trade history CSV (date, symbol, side, shares, price or amount, ...)."),
    out: Path = typer.Option(..., "--out", help="Folder to write realized.csv and lots.csv into (created if needed)."),
    method: Method = typer.Option(Method.FIFO, "--method", help="Lot relief of a sale row without lot_id (specific falls back to fifo)."),
    wash_groups: Optional[Path] = typer.Option(
        None, "--wash-groups", help="CSV with symbol,wash_group (e.g. the upload's securities.csv): substantially identical symbols."
    ),
    st_rate: float = typer.Option(0.37, "--st-rate", help="Short-term rate for --method tax_optimal (a row's st_rate column wins)."),
    lt_rate: float = typer.Option(0.20, "--lt-rate", help="Long-term rate for --method tax_optimal (a row's lt_rate column wins)."),
) -> None:
    """Replay a transaction history with lot relief and the wash-sale rule; write the tax record."""
    groups = _read_wash_groups(wash_groups) if wash_groups is not None else None
    df = read_transactions(transactions)
    result = replay(df, method=method, wash_groups=groups, st_rate=st_rate, lt_rate=lt_rate, file=transactions.name)
    realized_path, lots_path = write_ledger(result, out)
    r = result.realized
    table = Table(title=f"Ledger of {transactions.name} ({method.value})")
    table.add_column("item")
    table.add_column("value", justify="right")
    gain = float(r["gain_loss"].sum()) if r.height else 0.0
    disallowed = float(r["disallowed_loss"].sum()) if r.height else 0.0
    permanent = float(r["disallowed_permanent"].sum()) if r.height else 0.0
    short = float(r.filter(pl.col("term") == "short")["gain_loss"].sum() + r.filter(pl.col("term") == "short")["disallowed_loss"].sum()) if r.height else 0.0
    long_ = float(r.filter(pl.col("term") == "long")["gain_loss"].sum() + r.filter(pl.col("term") == "long")["disallowed_loss"].sum()) if r.height else 0.0
    for k, v in (
        ("lots relieved", f"{r.height:,}"),
        ("open lots", f"{result.lots.height:,}"),
        ("gain/loss before wash sales", money_str(gain)),
        ("disallowed losses", money_str(disallowed)),
        ("  of which permanent (IRA replacement)", money_str(permanent)),
        ("recognized short-term", money_str(short)),
        ("recognized long-term", money_str(long_)),
    ):
        table.add_row(k, v)
    console.print(table)
    console.print(f"wrote {realized_path} and {lots_path}")
