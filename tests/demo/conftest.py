"""Fixtures of the demo tests: one small generated book (session-wide), written and read back."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from overlay_core.book import Book
from overlay_core.demo.generate import generate_book, write_book

SMALL_ACCOUNTS = 60
SMALL_SEED = 11
SMALL_AS_OF = dt.date(2026, 11, 25)


@pytest.fixture(scope="session")
def small_params() -> dict[str, object]:
    """The arguments of `small_book` (tests import no module of their folder)."""
    return {"n_accounts": SMALL_ACCOUNTS, "seed": SMALL_SEED, "as_of": SMALL_AS_OF, "history_years": 5}


@pytest.fixture(scope="session")
def small_book() -> Book:
    return generate_book(n_accounts=SMALL_ACCOUNTS, seed=SMALL_SEED, as_of=SMALL_AS_OF, history_years=5)


@pytest.fixture(scope="session")
def small_upload(small_book: Book, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_book(small_book, tmp_path_factory.mktemp("demo_small"))
