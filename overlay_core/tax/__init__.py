"""The tax engine: holding periods, lot relief, the wash-sale ledger and the day's wash-sale blocks.

Modules (one concept each):

- `holding`: holding period and term (`long_term_date`, `term_at`, vectorized `is_long_term`).
- `relief`: lot relief methods (specific, fifo, hifo, tax_optimal).
- `ledger`: replay of a transaction history with the wash-sale rule (`replay`, incremental `Ledger`,
  `realize` for the simulation).
- `blocks`: the book's tax view at the trade date for the optimizer and the review (`tax_state`).

Conventions and citations: docs/tax.md.
"""

from __future__ import annotations

from overlay_core.tax.blocks import AccountTax, TaxState, tax_state
from overlay_core.tax.holding import days_to_long_term, is_long_term, long_term_date, long_term_dates, term_at
from overlay_core.tax.ledger import Ledger, LedgerResult, SalePart, money_str, read_transactions, realize, replay, write_ledger
from overlay_core.tax.relief import METHODS, Method, relief_order

__all__ = [
    "METHODS",
    "Ledger",
    "LedgerResult",
    "Method",
    "SalePart",
    "money_str",
    "read_transactions",
    "realize",
    "relief_order",
    "replay",
    "write_ledger",
    "AccountTax",
    "TaxState",
    "tax_state",
    "days_to_long_term",
    "is_long_term",
    "long_term_date",
    "long_term_dates",
    "term_at",
]
