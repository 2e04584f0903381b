"""Fixtures of the tax tests; the helpers themselves live in `taxkit.py`."""

from __future__ import annotations

from typing import Callable

import pytest
from taxkit import make_book

from overlay_core.book import Book


@pytest.fixture
def book_factory() -> Callable[..., Book]:
    return make_book
