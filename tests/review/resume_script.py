"""Run by test_review_resume.py in a child process that the test kills with SIGKILL midway.

usage: python resume_script.py STORE_PATH N_ACCOUNTS SEED
Prints "stored <batch index>" after each batch is stored, then "done".
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import review_helpers as h  # noqa: E402

from overlay_core.review.driver import review_accounts  # noqa: E402
from overlay_core.review.runner import per_account  # noqa: E402
from overlay_core.store import Store  # noqa: E402


def slow_value_review(book, account_id):
    time.sleep(0.01)
    return h.value_review(book, account_id)


def begin(store: Store, book) -> str:
    upload_id = store.save_upload(book)
    return store.begin_run(upload_id=upload_id, as_of=book.as_of, trade_date=book.trade_date, input_hash=book.input_hash,
                           code_version="test", settings={"test": True})


if __name__ == "__main__":
    path, n, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    book = h.make_book(n, seed=seed)
    with Store.open(path, publish=False) as store:
        run_id = begin(store, book)
        review_accounts(book, per_account(slow_value_review), store=store, run_id=run_id, workers=0, progress=False,
                        on_batch=lambda r: print(f"stored {r.index}", flush=True))
    print("done", flush=True)
