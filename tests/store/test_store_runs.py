"""Runs and evidence: deterministic ids, idempotent per-account saves, resume after a kill, history per account."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import textwrap

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from storekit import AS_OF, make_book
from overlay_core.contract import TRADE_FILE_COLUMNS
from overlay_core.errors import StoreError
from overlay_core.store import ORDER_COLUMNS, RESULT_COLUMNS, Store, run_base_id

SETTINGS = {"solver": "clarabel", "workers": 2, "as_of": AS_OF, "symbols": ("AAA", "BBB")}


def _begin(s: Store, book, **kw) -> str:
    args = dict(upload_id=book.input_hash[:16], as_of=book.as_of, trade_date=book.trade_date,
                input_hash=book.input_hash, code_version="0.1.0+abc", settings=SETTINGS)
    args.update(kw)
    return s.begin_run(**args)


def _results(ids: list[str], decision: str = "no_trade", **extra) -> pl.DataFrame:
    df = pl.DataFrame({"account_id": ids, "decision": [decision] * len(ids),
                       "reasons": [["drift", "tlh"]] * len(ids), "drift_before": [0.031] * len(ids),
                       "n_orders": [0] * len(ids)})
    return df.with_columns(**{k: pl.lit(v) for k, v in extra.items()})


def _orders(run_id: str, account: str, n: int, side: str = "SELL") -> pl.DataFrame:
    return pl.DataFrame({
        "run_id": [run_id] * n, "as_of": [AS_OF] * n, "trade_date": [AS_OF + dt.timedelta(days=3)] * n,
        "account_id": [account] * n, "symbol": [f"S{i}" for i in range(n)], "side": [side] * n,
        "shares": [float(i + 1) for i in range(n)], "est_price": [10.5] * n,
        "est_value": [10.5 * (i + 1) for i in range(n)], "lot_id": [f"L{i}" if side == "SELL" else None for i in range(n)],
        "est_realized_gain": [-1.25] * n, "term": ["short"] * n, "reason": ["tax_loss_harvest"] * n,
    })


@pytest.fixture()
def stored(store_path, book):
    with Store.open(store_path) as s:
        s.save_upload(book)
    return store_path


def test_run_ids_are_deterministic_and_a_rerun_resumes(stored, book):
    with Store.open(stored) as s:
        run = _begin(s, book)
        assert run.startswith("review-20260102-") and len(run) == len("review-20260102-") + 12
        assert run == run_base_id(kind="review", upload_id=book.input_hash[:16], as_of=book.as_of,
                                  trade_date=book.trade_date, input_hash=book.input_hash, code_version="0.1.0+abc",
                                  settings=dict(reversed(list(SETTINGS.items()))))  # key order does not matter
        assert _begin(s, book) == run  # same inputs: the same run, resumed
        other = _begin(s, book, settings={**SETTINGS, "solver": "ecos"})
        assert other != run
        assert _begin(s, book, kind="simulate").startswith("simulate-20260102-")
        fresh = _begin(s, book, fresh=True)
        assert fresh == run + "-2"
        assert _begin(s, book) == fresh  # resuming picks the latest attempt
        runs = s.runs(AS_OF)
        row = runs.filter(pl.col("run_id") == run).row(0, named=True)
        assert row["resumes"] == 1 and row["status"] == "open" and row["attempt"] == 1
        assert json.loads(row["settings"]) == {"as_of": "2026-01-02", "solver": "clarabel", "symbols": ["AAA", "BBB"],
                                               "workers": 2}
        assert s.runs(dt.date(2020, 1, 1)).height == 0


def test_begin_run_checks_the_upload(stored, book):
    with Store.open(stored) as s:
        with pytest.raises(StoreError, match="names upload 'nope', which is not stored; save_upload"):
            _begin(s, book, upload_id="nope")
        with pytest.raises(StoreError, match="gives as_of 2026-01-05, but upload .* is of as_of 2026-01-02"):
            _begin(s, book, as_of=dt.date(2026, 1, 5))


def test_results_and_orders_round_trip_and_are_idempotent(stored, book):
    with Store.open(stored) as s:
        run = _begin(s, book)
        res = _results(["A1", "A2"], "trade", explanation={"why": "drift"}, objective_terms=3)
        orders = pl.concat([_orders(run, "A1", 3), _orders(run, "A2", 1, "BUY")])
        assert s.save_accounts(run, res, orders) == 2
        assert s.done_accounts(run) == {"A1", "A2"}
        # saving the same accounts again stores nothing more, even with different values (first write wins)
        assert s.save_accounts(run, _results(["A1", "A2"], "error"), _orders(run, "A1", 5)) == 0
        assert s.save_orders(run, _orders(run, "A2", 7)) == 0
        got = s.run_results(run)
        assert got["account_id"].to_list() == ["A1", "A2"] and got["decision"].to_list() == ["trade", "trade"]
        assert got["reasons"].to_list() == ["drift;tlh", "drift;tlh"]
        assert got.columns == ["run_id", *RESULT_COLUMNS, "saved_at"]
        assert json.loads(got["explanation"][0]) == {"why": "drift"}
        assert json.loads(got["detail"][0]) == {"objective_terms": 3}  # unknown columns kept in detail
        back = s.run_orders(run)
        assert back.columns == list(ORDER_COLUMNS) and tuple(back.columns[:13]) == TRADE_FILE_COLUMNS
        assert_frame_equal(back.select(TRADE_FILE_COLUMNS), orders.select(TRADE_FILE_COLUMNS), check_dtypes=False)
        assert back["lot_id"].to_list() == ["L0", "L1", "L2", None]


def test_results_and_orders_in_separate_calls_and_orders_without_run_id(stored, book):
    with Store.open(stored) as s:
        run = _begin(s, book)
        assert s.save_account_results(run, _results(["A1"])) == 1
        assert s.save_account_results(run, _results(["A1", "A2"]).with_columns(run_id=pl.lit(run))) == 1
        assert "run_id" not in (s.run_results(run)["detail"][1] or "")
        with pytest.raises(StoreError, match="rows carry run_id 'other'"):
            s.save_account_results(run, _results(["A3"]).with_columns(run_id=pl.lit("other")))
        no_run_col = _orders(run, "A1", 2).drop("run_id").with_columns(pl.col("as_of").cast(pl.String))
        assert s.save_orders(run, no_run_col) == 2
        assert s.run_orders(run)["run_id"].to_list() == [run, run]
        assert s.run_orders(run)["as_of"].to_list() == [AS_OF, AS_OF]


@pytest.mark.parametrize(
    "frame, message",
    [
        (pl.DataFrame({"account_id": ["A1"]}), "column 'decision' is missing"),
        (pl.DataFrame({"account_id": ["A1"], "decision": ["maybe"]}), "account A1: decision 'maybe'; expected one of"),
        (pl.DataFrame({"account_id": ["A1", "A1"], "decision": ["trade", "trade"]}), "account_id repeated .*A1"),
        (pl.DataFrame({"account_id": [None], "decision": ["trade"]}, schema={"account_id": pl.String, "decision": pl.String}),
         "account_id is empty on 1 row"),
        (pl.DataFrame({"account_id": ["A1"], "decision": ["trade"], "turnover": ["lots"]}),
         "column 'turnover' has type String, expected Float64"),
    ],
)
def test_bad_results_are_refused_with_the_reason(stored, book, frame, message):
    with Store.open(stored) as s:
        run = _begin(s, book)
        with pytest.raises(StoreError, match=message):
            s.save_account_results(run, frame)
        assert s.done_accounts(run) == set()


def test_bad_orders_are_refused_and_a_batch_is_all_or_nothing(stored, book):
    with Store.open(stored) as s:
        run = _begin(s, book)
        with pytest.raises(StoreError, match="column.s. missing: symbol"):
            s.save_orders(run, _orders(run, "A1", 1).drop("symbol"))
        with pytest.raises(StoreError, match="side 'HOLD'; expected SELL or BUY"):
            s.save_orders(run, _orders(run, "A1", 1, "HOLD"))
        with pytest.raises(StoreError, match="rows carry run_id 'other'"):
            s.save_orders(run, _orders("other", "A1", 1))
        # orders of an account with no result in the batch: the whole batch (results too) is refused
        with pytest.raises(StoreError, match=r"account\(s\) A2 have orders but no result row"):
            s.save_accounts(run, _results(["A1"]), pl.concat([_orders(run, "A1", 1), _orders(run, "A2", 1)]))
        assert s.done_accounts(run) == set() and s.run_orders(run).height == 0
        with pytest.raises(StoreError, match="no run 'missing'; start it with Store.begin_run"):
            s.save_account_results("missing", _results(["A1"]))


def test_finish_history_and_evidence_across_days(store_path):
    days = [dt.date(2026, 1, 2), dt.date(2026, 1, 5), dt.date(2026, 1, 6)]
    with Store.open(store_path) as s:
        for i, day in enumerate(days):
            b = make_book(day, tag=f"d{i}")
            s.save_upload(b)
            run = _begin(s, b)
            decision = ["no_trade", "trade", "held"][i]
            s.save_accounts(run, _results(["A1", "A2"], decision),
                            _orders(run, "A1", 2) if decision == "trade" else None)
            s.finish_run(run, {"accounts": 2, "wall_s": 1.5 + i})
        s.finish_run(run, {"accounts": 2, "wall_s": 9.0})  # a rerun's finish is appended, the last one shown
        hist = s.account_history("A1")
        assert hist["as_of"].to_list() == days
        assert hist["decision"].to_list() == ["no_trade", "trade", "held"]
        assert hist.columns[:6] == ["account_id", "as_of", "trade_date", "run_id", "kind", "started_at"]
        runs = s.runs()
        assert runs["status"].to_list() == ["finished"] * 3
        assert runs["accounts"].to_list() == [2, 2, 2] and runs["orders"].to_list() == [0, 2, 0]
        assert runs["traded"].to_list() == [0, 2, 0]
        assert json.loads(runs["summary"][2]) == {"accounts": 2, "wall_s": 9.0}
        assert s.account_history("nobody").height == 0
        info = s.run_info(run)
        assert info["summary"] == {"accounts": 2, "wall_s": 9.0} and info["settings"]["solver"] == "clarabel"
        assert info["code_version"] == "0.1.0+abc" and info["as_of"] == days[-1]
        with pytest.raises(StoreError, match="no run 'nope'"):
            s.run_info("nope")
    with Store.open_snapshot(store_path) as r:  # finish_run published: readers see the evidence
        assert r.runs()["status"].to_list() == ["finished"] * 3


WRITER = textwrap.dedent(
    """
    import sys, time, datetime as dt
    import polars as pl
    from overlay_core.store import Store
    path, upload_id = sys.argv[1], sys.argv[2]
    s = Store.open(path)
    run = s.begin_run(upload_id=upload_id, as_of=dt.date(2026, 1, 2), trade_date=dt.date(2026, 1, 5),
                      input_hash="h", code_version="t", settings={})
    for b in range(100):
        ids = [f"X{b:03d}-{i}" for i in range(5)]
        res = pl.DataFrame({"account_id": ids, "decision": ["trade"] * 5})
        orders = pl.DataFrame({"account_id": ids * 2, "as_of": [dt.date(2026, 1, 2)] * 10,
                               "trade_date": [dt.date(2026, 1, 5)] * 10, "symbol": ["S"] * 10, "side": ["BUY"] * 10,
                               "shares": [1.0] * 10, "est_price": [1.0] * 10, "est_value": [1.0] * 10,
                               "lot_id": [None] * 10, "est_realized_gain": [None] * 10, "term": [None] * 10,
                               "reason": ["rebalance"] * 10}, schema_overrides={"lot_id": pl.String,
                               "est_realized_gain": pl.Float64, "term": pl.String})
        s.save_accounts(run, res, orders)
        print(run, b, flush=True)
        time.sleep(0.02)
    """
)


def test_a_run_killed_midway_resumes_with_nothing_lost_or_duplicated(stored, book):
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(stored), book.input_hash[:16]], stdout=subprocess.PIPE,
                            text=True)
    try:
        lines = [proc.stdout.readline().split() for _ in range(4)]
    finally:
        os.kill(proc.pid, signal.SIGKILL)  # the whole process, mid-run
        proc.wait(timeout=30)
    run = lines[0][0]
    with Store.open(stored) as s:
        done = s.done_accounts(run)
        assert len(done) >= 20 and len(done) % 5 == 0  # whole batches only
        orders = s.run_orders(run)
        assert set(orders["account_id"]) == done and orders.height == 2 * len(done)  # never a half-stored account
        # resume: the same run id, skipping what is done
        again = s.begin_run(upload_id=book.input_hash[:16], as_of=AS_OF, trade_date=dt.date(2026, 1, 5),
                            input_hash="h", code_version="t", settings={})
        assert again == run
        all_ids = [f"X{b:03d}-{i}" for b in range(100) for i in range(5)]
        todo = [a for a in all_ids if a not in done]
        assert s.save_accounts(run, pl.DataFrame({"account_id": all_ids, "decision": ["trade"] * 500})) == len(todo)
        s.finish_run(run, {"accounts": 500})
        res = s.run_results(run)
        assert res.height == 500 and res["account_id"].n_unique() == 500
        assert s.runs(AS_OF).row(0, named=True)["resumes"] == 1
