"""The daily review of the whole book (issue 7): data checks, batching, the local pool or Dask, resume.

- `datacheck.check_data(book, previous)` -> `DataCheck` (accounts held with reason ``data_check``);
- `partition.partition_book(book, ...)` / `partition_accounts(...)` -> `list[Batch]` (whole households,
  >= 25 accounts per batch, balanced by lots);
- `runner.run_batches(batches, fn, shared, scheduler=..., workers=..., on_batch=...)` -> `list[BatchResult]`
  (local `ProcessPoolExecutor` or Dask distributed; per-account failure isolation; crash retry);
- `driver.review_accounts(book, fn, store=..., run_id=...)`: the above plus storing each completed batch
  and skipping what a killed run already stored; `AccountReview` is what the per-account function returns.

See docs/review.md.
"""

from __future__ import annotations

from overlay_core.review.datacheck import DataCheck, account_values, check_data
from overlay_core.review.driver import AccountReview, batch_frames, review_accounts
from overlay_core.review.partition import Batch, estimate_work, partition_accounts, partition_book
from overlay_core.review.runner import (
    AccountOutcome,
    BatchResult,
    RunStats,
    outcomes_by_account,
    per_account,
    run_batch,
    run_batches,
    run_dask,
    run_inline,
    run_local,
)

__all__ = [
    "AccountOutcome",
    "AccountReview",
    "Batch",
    "BatchResult",
    "DataCheck",
    "RunStats",
    "account_values",
    "batch_frames",
    "check_data",
    "estimate_work",
    "outcomes_by_account",
    "partition_accounts",
    "partition_book",
    "per_account",
    "review_accounts",
    "run_batch",
    "run_batches",
    "run_dask",
    "run_inline",
    "run_local",
]
