"""Helpers of the daily-review tests: one generated upload per session, and a review of it.

The book is `overlay_core.demo.generate_book` (a realistic mix of ETF-model accounts and direct
indexes, households, customizations, pending orders), written as an upload folder, plus one account
made invalid (a lot with negative shares) so the upload quarantines it (and its household), and one
whose customization is refused (a cycle of substitutions).
"""

from __future__ import annotations

import csv
from functools import lru_cache
from pathlib import Path

from overlay_core.book import Book
from overlay_core.upload import read_upload

N_ACCOUNTS = 150
SEED = 3
BAD_ACCOUNT = "A000150"
#: an account whose customization is refused (a cycle of substitutions)
REFUSED_ACCOUNT = "A000010"


@lru_cache(maxsize=None)
def upload(root: str) -> Path:
    """Write the session's upload under `root` once; return its folder."""
    from overlay_core.demo.generate import generate_book, write_book

    folder = Path(root) / "upload"
    if not (folder / "accounts.csv").exists():
        write_book(generate_book(n_accounts=N_ACCOUNTS, seed=SEED, price_history_days=300), folder)
        with (folder / "lots.csv").open() as f:
            header = next(csv.reader(f))
        row = {c: "" for c in header} | {"account_id": BAD_ACCOUNT, "lot_id": "BAD1", "symbol": "SPY", "shares": "-5",
                                          "cost_basis": "100", "acquired": "2024-01-02"}
        with (folder / "lots.csv").open("a", newline="") as f:
            csv.writer(f).writerow([row[c] for c in header])
        with (folder / "restrictions.csv").open() as f:
            header = next(csv.reader(f))
        with (folder / "restrictions.csv").open("a", newline="") as f:
            for value in ("AAPL>MSFT", "MSFT>AAPL"):
                r = {c: "" for c in header} | {"account_id": REFUSED_ACCOUNT, "kind": "substitute", "value": value}
                csv.writer(f).writerow([r[c] for c in header])
    return folder


@lru_cache(maxsize=None)
def book(root: str) -> Book:
    return read_upload(upload(root))
