"""The backtest's progress (`on_period`) in one process and with the accounts split over worker processes."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from overlay_core.analytics.backtest import BacktestSettings, _Progress, run_backtest
from overlay_core.errors import DataError
from overlay_core.market.history import load_real_history
from overlay_core.market.prices import FramePriceSource

SYMS = ("AAPL", "MSFT", "XOM", "KO")
STRATS = ("heuristic", "buy_and_hold")


@pytest.fixture(scope="module")
def source() -> FramePriceSource:
    return FramePriceSource(load_real_history(symbols=list(SYMS), start=dt.date(1999, 6, 1), end=dt.date(2000, 6, 30)))


def _check_calls(calls: list[tuple[str, int, int]], n: int) -> None:
    """Strategies in the order run, each with k increasing (strictly) up to n."""
    assert [c[0] for c in calls] == sorted((c[0] for c in calls), key=STRATS.index)
    for name in STRATS:
        ks = [k for s, k, m in calls if s == name]
        assert ks, name
        assert all(m == n for s, _, m in calls if s == name)
        assert all(a < b for a, b in zip(ks, ks[1:])), (name, ks)
        assert 1 <= ks[0] and ks[-1] == n, (name, ks)


def test_progress_with_workers_reaches_n_and_records_are_identical(source) -> None:
    # 3 accounts over 2 workers: groups of 2 and 1 accounts, so the workers go at different speeds
    s = BacktestSettings(start=dt.date(2000, 1, 1), end=dt.date(2000, 6, 30), frequency="monthly", accounts=3, symbols=SYMS)
    one: list[tuple[str, int, int]] = []
    two: list[tuple[str, int, int]] = []
    a = run_backtest(source, settings=s, strategies=STRATS, on_period=lambda *c: one.append(c))
    b = run_backtest(source, settings=s, strategies=STRATS, on_period=lambda *c: two.append(c), workers=2)
    n = len(a.dates) - 1
    assert n == 6
    # one process: every period of every strategy
    assert one == [(name, k, n) for name in STRATS for k in range(1, n + 1)]
    # two workers: the same contract, each call one of the one-process calls
    _check_calls(two, n)
    assert set(two) <= set(one)
    assert two[-1] == (STRATS[-1], n, n)
    assert_frame_equal(a.periods, b.periods)
    assert_frame_equal(a.finals, b.finals)
    assert_frame_equal(a.orders, b.orders)
    # each strategy's final book (the store's upload of the run): the workers' books merged
    assert list(b.final_books) == list(STRATS)
    for name in STRATS:
        fa, fb = a.final_books[name], b.final_books[name]
        assert (fa.as_of, fa.trade_date, fa.policy) == (fb.as_of, fb.trade_date, fb.policy)
        for f in ("accounts", "lots", "transactions", "restrictions", "pending_orders", "quarantined", "prices", "price_history", "models", "targets", "securities"):
            assert_frame_equal(getattr(fa, f), getattr(fb, f))
    assert a.final_books["heuristic"].lots["account_id"].n_unique() == 3


def test_a_failing_worker_raises_its_error_with_progress_on(source) -> None:
    s = BacktestSettings(start=dt.date(2000, 1, 1), end=dt.date(2000, 3, 31), frequency="monthly", accounts=2, symbols=("AAPL", "NOPE"))
    calls: list = []
    with pytest.raises(DataError, match="unknown symbol.*NOPE"):
        run_backtest(source, settings=s, strategies=STRATS, on_period=lambda *c: calls.append(c), workers=2)
    assert calls == []


def test_combined_progress_is_the_slowest_workers() -> None:
    calls: list[tuple[str, int, int]] = []
    p = _Progress(["a", "b"], 2, lambda *c: calls.append(c))
    p.take((0, "a", 1, 3))
    p.take((0, "a", 2, 3))
    assert calls == []  # group 1 has done nothing yet
    p.take((1, "a", 1, 3))
    assert calls == [("a", 1, 3)]
    p.take((1, "a", 2, 3))
    p.take((1, "a", 3, 3))
    p.take((1, "b", 1, 3))
    assert calls == [("a", 1, 3), ("a", 2, 3)]  # group 0 is at a 2/3
    p.take((0, "a", 3, 3))
    p.take((0, "b", 1, 3))
    assert calls[2:] == [("a", 3, 3), ("b", 1, 3)]
    p.take((1, "b", 2, 3))
    p.take((1, "b", 3, 3))
    p.take((1, None, 0, 0))
    p.take((0, "b", 3, 3))  # b 2/3 skipped: both groups passed it
    p.take((0, None, 0, 0))
    assert calls[4:] == [("b", 3, 3)]
    assert all(p.done)


def test_cli_default_workers_one_per_core_capped_by_accounts(monkeypatch) -> None:
    from overlay_core.cli import backtest as cli

    monkeypatch.setattr(cli.os, "cpu_count", lambda: 2)
    assert cli.default_workers(None, 20) == 2
    assert cli.default_workers(None, 1) == 1  # one account: this process
    assert cli.default_workers(0, 20) == 0 and cli.default_workers(3, 20) == 3  # as given
    monkeypatch.setattr(cli.os, "cpu_count", lambda: None)
    assert cli.default_workers(None, 20) == 1
