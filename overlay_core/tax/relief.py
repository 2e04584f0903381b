"""Lot relief: which lots a sale relieves, in which order (Publication 550 "Identifying the shares sold";
Treas. Reg. §1.1012-1(c)).

Methods
-------
- ``specific``: the lot the sale names (specific identification). Without a named lot it falls back to
  FIFO — the IRS default when the shares sold are not adequately identified (Reg. §1.1012-1(c)(1)).
- ``fifo``: first in, first out by the lot's **original purchase date** (not the wash-adjusted
  holding-period date), ties by creation order.
- ``hifo``: highest basis per share first, ties FIFO.
- ``tax_optimal``: the order that minimizes the sale's tax at the account's rates: ascending tax per
  share, ``(price - basis_per_share) x (lt_rate if long-term else st_rate)``. Selling shares one by one,
  this greedy order is the exact minimum (each share's tax is independent of the others'). It gives
  short-term losses before long-term losses before the cheapest gains whenever the short-term loss per
  share x st_rate is at least the long-term loss per share x lt_rate; where a long-term loss saves more
  tax than a short-term one it comes first (the issue asks for "the order that minimizes tax").
  Ties: short-term before long-term, then FIFO.

A partial sale of a lot relieves basis per share: ``cost_basis x shares_sold / shares``.
"""

from __future__ import annotations

from enum import Enum

import numpy as np


class Method(str, Enum):
    SPECIFIC = "specific"
    FIFO = "fifo"
    HIFO = "hifo"
    TAX_OPTIMAL = "tax_optimal"


METHODS = tuple(m.value for m in Method)


def relief_order(
    method: Method | str,
    *,
    purchase_date: np.ndarray,
    seq: np.ndarray | None = None,
    basis_per_share: np.ndarray | None = None,
    long_term: np.ndarray | None = None,
    price: float | np.ndarray | None = None,
    st_rate: float = 0.0,
    lt_rate: float = 0.0,
) -> np.ndarray:
    """Indices of the lots in the order a sale relieves them.

    Parameters
    ----------
    method : one of `METHODS` (``specific`` here means "no lot named": FIFO).
    purchase_date : (n,) original purchase dates (``datetime64[D]`` or int ordinals).
    seq : (n,) creation order, the FIFO tie-break (default: position).
    basis_per_share : (n,) USD; needed for hifo and tax_optimal.
    long_term : (n,) bool, the term of a sale today; needed for tax_optimal.
    price : the sale price per share (scalar or (n,)); needed for tax_optimal.
    st_rate, lt_rate : the account's rates; needed for tax_optimal (0, 0 gives FIFO).

    Returns
    -------
    int64 array of shape (n,), a permutation of ``range(n)``.
    """
    m = Method(method)
    n = len(purchase_date)
    pdate = np.asarray(purchase_date)
    if pdate.dtype.kind == "M":
        pdate = pdate.astype("datetime64[D]").astype(np.int64)
    seq_a = np.arange(n) if seq is None else np.asarray(seq)
    if m in (Method.FIFO, Method.SPECIFIC):
        return np.lexsort((seq_a, pdate))
    if basis_per_share is None:
        raise ValueError(f"relief method {m.value} needs basis_per_share")
    bps = np.asarray(basis_per_share, dtype=np.float64)
    if m is Method.HIFO:
        return np.lexsort((seq_a, pdate, -bps))
    if long_term is None or price is None:
        raise ValueError("relief method tax_optimal needs long_term and price")
    lt = np.asarray(long_term, dtype=bool)
    tax = (np.asarray(price, dtype=np.float64) - bps) * np.where(lt, lt_rate, st_rate)
    return np.lexsort((seq_a, pdate, lt.astype(np.int8), tax))
