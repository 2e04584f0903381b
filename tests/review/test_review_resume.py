"""A killed review resumes from the store: nothing lost, nothing duplicated, no account half-stored."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from overlay_core.review.driver import AccountReview, batch_frames, review_accounts
from overlay_core.review.partition import partition_book
from overlay_core.review.runner import AccountOutcome, BatchResult, per_account
from overlay_core.store import Store

import review_helpers as h
from resume_script import begin

HERE = Path(__file__).resolve().parent


class Stop(Exception):
    pass


def _check_complete(store: Store, run_id: str, book) -> None:
    res = store.run_results(run_id)
    assert sorted(res["account_id"].to_list()) == sorted(book.account_ids())  # every account, exactly once
    assert set(res["decision"].to_list()) == {"no_trade"}
    import json

    values = {a: json.loads(d)["value"] for a, d in zip(res["account_id"].to_list(), res["detail"].to_list())}
    assert values == {a: h.holdings_value(book, a) for a in book.account_ids()}


def test_driver_stopped_midway_resumes_without_redoing_stored_accounts(tmp_path: Path) -> None:
    book = h.make_book(200, seed=5)
    batches = partition_book(book)
    with Store.open(tmp_path / "s.duckdb", publish=False) as store:
        run_id = begin(store, book)
        stored: list[int] = []

        def stop_after_two(r: BatchResult) -> None:
            stored.append(r.index)
            if len(stored) == 2:
                raise Stop("killed")

        with pytest.raises(Stop):
            review_accounts(book, per_account(h.value_review), store=store, run_id=run_id, workers=0, progress=False,
                            on_batch=stop_after_two)
        first = store.done_accounts(run_id)
        assert first == {a for b in batches if b.index in stored for a in b.account_ids}
        # the same inputs give the same run id: the rerun resumes it
        assert begin(store, book) == run_id
        again = review_accounts(book, per_account(h.value_review), store=store, run_id=run_id, workers=2, progress=False)
        redone = {o.account_id for r in again for o in r.outcomes}
        assert not redone & first and redone | first == set(book.account_ids())
        _check_complete(store, run_id, book)


def test_process_killed_midway_then_rerun_completes(tmp_path: Path) -> None:
    path = tmp_path / "s.duckdb"
    n, seed = 150, 9
    proc = subprocess.Popen([sys.executable, str(HERE / "resume_script.py"), str(path), str(n), str(seed)],
                            stdout=subprocess.PIPE, text=True)
    lines = []
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.append(line.strip())
        if len(lines) == 2:
            proc.kill()  # SIGKILL: no cleanup, no finally
            break
    proc.wait(timeout=60)
    assert proc.returncode != 0 and lines == [f"stored {i}" for i in (0, 1)]
    book = h.make_book(n, seed=seed)
    with Store.open(path, publish=False) as store:
        run_id = begin(store, book)
        done = store.done_accounts(run_id)
        assert 0 < len(done) < n
        again = review_accounts(book, per_account(h.value_review), store=store, run_id=run_id, workers=0, progress=False)
        assert not {o.account_id for r in again for o in r.outcomes} & done
        _check_complete(store, run_id, book)


def test_batch_frames_turn_failures_and_orders_into_store_rows() -> None:
    orders = pl.DataFrame({"symbol": ["S01"], "side": ["BUY"], "shares": [3.0], "est_price": [17.0], "est_value": [51.0],
                           "lot_id": [None], "est_realized_gain": [None], "term": [None], "reason": ["rebalance"]},
                          schema_overrides={"lot_id": pl.String, "est_realized_gain": pl.Float64, "term": pl.String})
    res = BatchResult(0, (
        AccountOutcome("A", True, AccountReview("trade", reasons=("drift",), orders=orders, extra={"solver": "clarabel"})),
        AccountOutcome("B", False, None, "ValueError: boom"),
        AccountOutcome("C", True, 3.5),
    ), 0.1)
    results, out = batch_frames(res, run_id="R", as_of=h.AS_OF, trade_date=h.TRADE_DATE)
    assert results.select("account_id", "decision", "n_orders", "error").rows() == [
        ("A", "trade", 1, None), ("B", "error", 0, "ValueError: boom"),
        ("C", "error", 0, "the review function returned float, not AccountReview")]
    assert results["solver"].to_list() == ["clarabel", None, None]
    assert out is not None and out.select("run_id", "account_id", "as_of").rows() == [("R", "A", h.AS_OF)]
