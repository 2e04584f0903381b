"""The demo firm: a realistic, fictional wealth-management book generated from a seed.

`generate_book` builds a whole upload (securities, models, targets, policy, accounts, lots from
replayed histories, restrictions, transactions, pending orders, price history); `demo_upload_dir`
returns the embedded 1,000-account demo upload in `data/demo/`. See `docs/demo_book.md`.
"""

from __future__ import annotations
