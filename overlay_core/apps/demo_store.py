"""A store holding a real daily-review run of (part of) a book, for the dashboard when no store is set.

`build_review_store(path, book, accounts=N)` runs the daily review itself (`review.daily.review_book`,
in this process) on the households of the first N accounts and stores its evidence with the store's API,
then publishes the snapshot: the dashboard reads it exactly as it reads the production review's runs.

`ensure_demo_store()` builds it once for the embedded demo book into ``$OVERLAY_CACHE_DIR/demo_store``
(default ``~/.cache/overlay/demo_store``), atomically (a folder renamed into place), and returns the path.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import replace
from pathlib import Path

import polars as pl

from overlay_core.book import Book
from overlay_core.store import Store

#: accounts in the demo store's run (whole households: a few more)
DEMO_ACCOUNTS = 120


def sample_households(book: Book, accounts: int | None) -> list[str]:
    """Accounts of whole households, households taken in id order until at least `accounts` accounts
    (all when None)."""
    acc = book.accounts.sort("household_id", "account_id")
    if accounts is None or accounts >= acc.height:
        return acc["account_id"].to_list()
    sizes = acc.group_by("household_id", maintain_order=True).len()
    cum = sizes["len"].cum_sum()
    n_hh = int((cum < accounts).sum()) + 1
    hh = sizes["household_id"].head(n_hh)
    return acc.filter(pl.col("household_id").is_in(hh.implode()))["account_id"].to_list()


def sample_book(book: Book, accounts: int | None) -> Book:
    """The book cut to the households of its first `accounts` accounts (`sample_households`), as an
    upload of its own (``input_hash`` cleared: the store keys it by its content)."""
    from overlay_core.apps.book_ops import household_book

    if accounts is None or accounts >= book.accounts.height:
        return book
    return replace(household_book(book, sample_households(book, accounts)), input_hash="")


def build_review_store(path: str | Path, book: Book, *, accounts: int | None = DEMO_ACCOUNTS, fresh: bool = False) -> str:
    """Run the daily review (`review.daily.review_book`, no files, in this process) on the households of
    `accounts` accounts of `book` (all when None), storing its evidence in the store at `path` (created);
    publish the snapshot. ``fresh`` starts a new attempt of an already stored run. Returns the run id.
    """
    from overlay_core.review.daily import review_book

    sub = sample_book(book, accounts)
    with Store.open(path) as store:
        out = review_book(sub, store=store, out_dir=None, workers=0, progress=False, fresh=fresh)
    return out.run_id


def demo_store_dir() -> Path:
    """Where `ensure_demo_store` keeps the demo store (``$OVERLAY_CACHE_DIR/demo_store``)."""
    cache = Path(os.environ.get("OVERLAY_CACHE_DIR", Path.home() / ".cache" / "overlay")).expanduser()
    return cache / "demo_store"


def ensure_demo_store(*, accounts: int | None = DEMO_ACCOUNTS) -> Path:
    """The demo store's path (``.../demo_store/overlay.duckdb``), built once from the embedded demo book."""
    from overlay_core.demo.generate import demo_upload_dir
    from overlay_core.upload import read_upload

    folder = demo_store_dir()
    path = folder / "overlay.duckdb"
    if (folder / "overlay.snapshot.duckdb").is_file():
        return path
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="demo_store.tmp-", dir=folder.parent))
    try:
        build_review_store(tmp / "overlay.duckdb", read_upload(demo_upload_dir()), accounts=accounts)
        try:
            os.rename(tmp, folder)
        except OSError:  # another process built it first
            if not (folder / "overlay.snapshot.duckdb").is_file():
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return path
