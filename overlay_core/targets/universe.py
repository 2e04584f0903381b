"""The security universe as dense numpy arrays (one index per symbol, ``$CASH`` last).

Customization, drift and the cascade work on dense weight vectors of length ``n + 1`` over this
index: the book's securities sorted by symbol, then ``$CASH``. Attributes are integer codes so that
"same asset class and sector" is one vectorized comparison.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np
import polars as pl

from overlay_core.book import Book
from overlay_core.contract import CASH

CASH_CLASS = "cash"


@dataclass(frozen=True, eq=False)
class Universe:
    """Securities of a book as arrays, shape (N,) with N = number of securities + 1 (``$CASH`` last).

    Attributes
    ----------
    symbols : tuple of N symbols.
    index : symbol -> position.
    asset_class : int codes into `asset_classes` (``$CASH`` -> ``cash``).
    sector : int codes into `sectors`; -1 = no sector (and ``$CASH``).
    wash_group : int codes; equal codes are substantially identical.
    sec_type : tuple of N security types (``cash`` for ``$CASH``).
    has_price : bool, a close exists today (``$CASH`` True).
    tags : tag -> bool mask of the securities carrying it.
    """

    symbols: tuple[str, ...]
    index: Mapping[str, int]
    asset_class: np.ndarray
    asset_classes: tuple[str, ...]
    sector: np.ndarray
    sectors: tuple[str, ...]
    wash_group: np.ndarray
    sec_type: tuple[str, ...]
    is_equity: np.ndarray
    has_price: np.ndarray
    tags: Mapping[str, np.ndarray] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return len(self.symbols)

    @property
    def cash(self) -> int:
        return len(self.symbols) - 1

    def class_code(self, asset_class: str) -> int:
        try:
            return self.asset_classes.index(asset_class)
        except ValueError:
            return -2

    def sector_code(self, sector: str) -> int:
        try:
            return self.sectors.index(sector)
        except ValueError:
            return -2

    def mask_of(self, symbols: Sequence[str]) -> np.ndarray:
        m = np.zeros(self.n, bool)
        for s in symbols:
            i = self.index.get(s)
            if i is not None:
                m[i] = True
        return m

    def dense(self, symbols: Sequence[str], weights: Sequence[float] | np.ndarray) -> np.ndarray:
        """A dense vector (N,) from sparse (symbol, weight); unknown symbols raise KeyError."""
        v = np.zeros(self.n)
        idx = np.fromiter((self.index[s] for s in symbols), dtype=np.int64, count=len(symbols))
        np.add.at(v, idx, np.asarray(weights, float))
        return v


def _codes(values: list[str | None]) -> tuple[np.ndarray, tuple[str, ...]]:
    names = tuple(sorted({v for v in values if v is not None}))
    lookup = {v: i for i, v in enumerate(names)}
    return np.array([lookup[v] if v is not None else -1 for v in values], dtype=np.int64), names


def build_universe(securities: pl.DataFrame, prices: pl.DataFrame) -> Universe:
    """The universe of `securities` (sorted by symbol) plus ``$CASH``."""
    sec = securities.filter(pl.col("symbol") != CASH).sort("symbol")
    symbols = tuple(sec["symbol"].to_list()) + (CASH,)
    classes = sec["asset_class"].to_list() + [CASH_CLASS]
    sectors = (sec["sector"].to_list() if "sector" in sec.columns else [None] * sec.height) + [None]
    washes = (sec["wash_group"].to_list() if "wash_group" in sec.columns else [None] * sec.height)
    washes = [w if w else s for w, s in zip(washes, sec["symbol"].to_list())] + [CASH]
    types = tuple(sec["type"].to_list()) + ("cash",)
    ac, ac_names = _codes(classes)
    sc, sc_names = _codes(sectors)
    wg, _ = _codes(washes)
    priced = set(prices["symbol"].to_list())
    has_price = np.array([s in priced for s in symbols[:-1]] + [True])
    tag_masks: dict[str, np.ndarray] = {}
    raw_tags = sec["tags"].to_list() if "tags" in sec.columns else [None] * sec.height
    for i, t in enumerate(raw_tags):
        if not t:
            continue
        for tag in {x.strip() for x in t.split(";") if x.strip()}:
            tag_masks.setdefault(tag, np.zeros(len(symbols), bool))[i] = True
    return Universe(
        symbols=symbols,
        index={s: i for i, s in enumerate(symbols)},
        asset_class=ac,
        asset_classes=ac_names,
        sector=sc,
        sectors=sc_names,
        wash_group=wg,
        sec_type=types,
        is_equity=np.array([t == "equity" for t in types]),
        has_price=has_price,
        tags=tag_masks,
    )


def universe_of(book: Book) -> Universe:
    return build_universe(book.securities, book.prices)
