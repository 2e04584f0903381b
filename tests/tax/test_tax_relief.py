"""Lot relief orders (Publication 550 "Identifying the shares sold"; Reg. §1.1012-1(c): FIFO by default)."""

from __future__ import annotations

import numpy as np
import pytest

from overlay_core.tax.relief import relief_order


def test_orders() -> None:
    pdate = np.array(["2024-01-02", "2023-01-02", "2025-01-02", "2023-01-02"], dtype="datetime64[D]")
    bps = np.array([50.0, 30.0, 45.0, 60.0])
    lt = np.array([True, True, False, True])
    assert relief_order("fifo", purchase_date=pdate).tolist() == [1, 3, 0, 2]  # ties by position
    assert relief_order("specific", purchase_date=pdate).tolist() == [1, 3, 0, 2]
    assert relief_order("hifo", purchase_date=pdate, basis_per_share=bps).tolist() == [3, 0, 2, 1]
    # price 40, st 0.37, lt 0.20: tax/share 0: -2.0, 1: +2.0, 2: -1.85, 3: -4.0
    order = relief_order("tax_optimal", purchase_date=pdate, basis_per_share=bps, long_term=lt, price=40.0, st_rate=0.37, lt_rate=0.20)
    assert order.tolist() == [3, 0, 2, 1]
    # zero rates (a tax-deferred account): every tax is 0 -> short-term first, then FIFO
    order = relief_order("tax_optimal", purchase_date=pdate, basis_per_share=bps, long_term=lt, price=40.0)
    assert order.tolist() == [2, 1, 3, 0]


def test_missing_inputs_and_bad_method() -> None:
    pdate = np.array(["2024-01-02"], dtype="datetime64[D]")
    with pytest.raises(ValueError, match="hifo needs basis_per_share"):
        relief_order("hifo", purchase_date=pdate)
    with pytest.raises(ValueError, match="tax_optimal needs"):
        relief_order("tax_optimal", purchase_date=pdate, basis_per_share=np.ones(1))
    with pytest.raises(ValueError):
        relief_order("lifo", purchase_date=pdate)
