"""The day's wash-sale blocks and per-lot tax view (`overlay_core.tax.blocks.tax_state`).

Rules: DATA_CONTRACT "What every line obeys" (a) and (b); IRC §1091(a) (30 days before or after,
"acquired ... substantially identical"); Rev. Rul. 2008-5 (an IRA purchase washes the owner's loss);
Publication 550 "Wash Sales" (a spouse's purchase counts).
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest
from taxkit import make_book

from overlay_core.tax.blocks import tax_state

D = dt.date
T = D(2026, 11, 27)


def _loss(account: str, day: dt.date, symbol: str = "XYZ", gain: float = -100.0) -> dict:
    return {"account_id": account, "date": day, "symbol": symbol, "side": "sell", "shares": 10.0, "price": 10.0, "realized_gain": gain}


def test_buy_block_window_edges_day_30_and_31() -> None:
    # Loss on T-30: a purchase on T is within 30 days after the sale (IRC §1091(a), both ends inclusive): blocked.
    # Loss on T-31: a purchase on T is 31 days after: not a wash sale, not blocked.
    for days, blocked in ((30, True), (31, False), (0, True), (1, True)):
        b = make_book(trade_date=T, accounts=[{"account_id": "A"}], prices={"XYZ": 10.0}, transactions=[_loss("A", T - dt.timedelta(days=days))])
        ts = tax_state(b)
        assert ts.is_buy_blocked("A", "XYZ") is blocked, days


def test_buy_block_across_year_end() -> None:
    t = D(2027, 1, 5)
    b = make_book(trade_date=t, accounts=[{"account_id": "A"}], prices={"XYZ": 10.0}, transactions=[_loss("A", D(2026, 12, 6))])
    assert tax_state(b).is_buy_blocked("A", "XYZ")  # 2026-12-06 + 30 = 2027-01-05
    b = make_book(trade_date=t, accounts=[{"account_id": "A"}], prices={"XYZ": 10.0}, transactions=[_loss("A", D(2026, 12, 5))])
    assert not tax_state(b).is_buy_blocked("A", "XYZ")


def test_buy_block_household_ira_and_wash_group() -> None:
    accounts = [
        {"account_id": "A", "household_id": "H"},
        {"account_id": "S", "household_id": "H"},  # spouse's account
        {"account_id": "IRA", "household_id": "H", "tax_status": "tax_deferred"},
        {"account_id": "X", "household_id": "OTHER"},
    ]
    secs = [{"symbol": "SPY", "wash_group": "SP500"}, {"symbol": "IVV", "wash_group": "SP500"}, {"symbol": "QQQ"}]
    b = make_book(
        trade_date=T,
        accounts=accounts,
        securities=secs,
        prices={"SPY": 1.0, "IVV": 1.0, "QQQ": 1.0},
        transactions=[_loss("A", T - dt.timedelta(days=3), "SPY"), _loss("IRA", T - dt.timedelta(days=3), "QQQ")],
    )
    ts = tax_state(b)
    for acct in ("A", "S", "IRA"):  # rule (b): accounts of any tax status of the household
        assert ts.account(acct).buy_blocked(["SPY", "IVV", "QQQ"]).tolist() == [True, True, False], acct
    assert not ts.is_buy_blocked("X", "SPY")  # another household
    # a loss realized inside the IRA is not a recognized loss: it blocks nothing
    assert not ts.is_buy_blocked("A", "QQQ")
    reason = ts.account("S").buy_block_reasons["IVV"]
    assert "SP500" in reason and "2026-12-25" in reason  # loss 11-24 + 31 days


def test_pending_loss_sale_blocks_buys() -> None:
    lots = [
        {"account_id": "A", "lot_id": "L1", "symbol": "XYZ", "shares": 10.0, "cost_basis": 200.0, "acquired": D(2025, 1, 1)},
        {"account_id": "A", "lot_id": "L2", "symbol": "ABC", "shares": 10.0, "cost_basis": 50.0, "acquired": D(2025, 1, 1)},
        {"account_id": "A", "lot_id": "L3", "symbol": "DEF", "shares": 10.0, "cost_basis": 500.0, "acquired": D(2025, 1, 1)},
    ]
    pend = [
        {"account_id": "A", "symbol": "XYZ", "side": "sell", "shares": 5.0, "lot_id": "L1"},  # at 10 vs 20: loss
        {"account_id": "A", "symbol": "ABC", "side": "sell", "shares": 5.0},  # FIFO lot L2 at 10 vs 5: gain
        {"account_id": "A", "symbol": "DEF", "side": "sell", "shares": 1.0, "est_realized_gain": 5.0},  # file says gain
    ]
    b = make_book(trade_date=T, accounts=[{"account_id": "A"}], lots=lots, prices={"XYZ": 10.0, "ABC": 10.0, "DEF": 10.0}, pending_orders=pend)
    ts = tax_state(b)
    assert ts.account("A").buy_blocked(["XYZ", "ABC", "DEF"]).tolist() == [True, False, False]
    acct = ts.account("A")
    assert dict(zip(acct.lot_id, acct.available_shares)) == {"L1": 5.0, "L2": 5.0, "L3": 9.0}


def test_loss_sale_block_rule_a() -> None:
    accounts = [
        {"account_id": "A", "household_id": "H"},
        {"account_id": "IRA", "household_id": "H", "tax_status": "tax_exempt"},
        {"account_id": "B", "household_id": "H2"},
    ]
    old = D(2024, 5, 1)
    lots = [
        {"account_id": "A", "lot_id": "old", "symbol": "XYZ", "shares": 10.0, "cost_basis": 300.0, "acquired": old},
        {"account_id": "A", "lot_id": "new", "symbol": "XYZ", "shares": 5.0, "cost_basis": 150.0, "acquired": T - dt.timedelta(days=30)},
        {"account_id": "A", "lot_id": "abc", "symbol": "ABC", "shares": 5.0, "cost_basis": 150.0, "acquired": old},
        {"account_id": "A", "lot_id": "def", "symbol": "DEF", "shares": 5.0, "cost_basis": 150.0, "acquired": old},
        {"account_id": "A", "lot_id": "ghi", "symbol": "GHI", "shares": 5.0, "cost_basis": 150.0, "acquired": old},
        {"account_id": "A", "lot_id": "jkl", "symbol": "JKL", "shares": 5.0, "cost_basis": 150.0, "acquired": old},
        {"account_id": "A", "lot_id": "jkl2", "symbol": "JKL", "shares": 5.0, "cost_basis": 150.0, "acquired": T - dt.timedelta(days=31)},
        # IRA bought ABC in the window: an IRA acquisition washes the taxable loss (permanently)
        {"account_id": "IRA", "lot_id": "i1", "symbol": "ABC", "shares": 1.0, "cost_basis": None, "acquired": T - dt.timedelta(days=2)},
        # another household's purchase does not count
        {"account_id": "B", "lot_id": "b1", "symbol": "DEF", "shares": 1.0, "cost_basis": 1.0, "acquired": T - dt.timedelta(days=2)},
        # a recent lot that a pending order sells in full does not count
        {"account_id": "A", "lot_id": "ghi2", "symbol": "GHI", "shares": 2.0, "cost_basis": 10.0, "acquired": T - dt.timedelta(days=5)},
    ]
    pend = [
        {"account_id": "A", "symbol": "GHI", "side": "sell", "shares": 2.0, "lot_id": "ghi2"},
        {"account_id": "B", "symbol": "JKL", "side": "buy", "shares": 1.0},  # other household
    ]
    b = make_book(trade_date=T, accounts=accounts, lots=lots, prices={s: 1.0 for s in ("XYZ", "ABC", "DEF", "GHI", "JKL")}, pending_orders=pend)
    ts = tax_state(b)
    a = ts.account("A")
    got = dict(zip(a.lot_id, a.loss_sale_blocked))
    assert got == {
        "old": True,  # 'new' was bought on T-30 (inside the window)
        "new": False,  # a lot is not its own replacement
        "abc": True,  # the IRA's purchase
        "def": False,
        "ghi": False,
        "ghi2": False,
        "jkl": False,  # jkl2 bought T-31: outside
        "jkl2": False,
    }
    assert not ts.account("IRA").loss_sale_blocked.any()  # no wash sale on a sale inside an IRA
    assert "XYZ" in ts.lots.filter(pl.col("lot_id") == "old")["loss_sale_reason"][0]
    # every lot is at a loss at price 1: sale_blocked = blocked and at a loss
    assert dict(zip(a.lot_id, a.sale_blocked)) == got


def test_pending_buy_and_unrepresented_buy_transaction_block() -> None:
    lots = [
        {"account_id": "A", "lot_id": "1", "symbol": "XYZ", "shares": 10.0, "cost_basis": 300.0, "acquired": D(2024, 1, 1)},
        {"account_id": "A", "lot_id": "2", "symbol": "ABC", "shares": 10.0, "cost_basis": 300.0, "acquired": D(2024, 1, 1)},
        {"account_id": "A", "lot_id": "3", "symbol": "DEF", "shares": 10.0, "cost_basis": 300.0, "acquired": D(2024, 1, 1)},
        {"account_id": "A", "lot_id": "4", "symbol": "DEF", "shares": 10.0, "cost_basis": 300.0, "acquired": T - dt.timedelta(days=9)},
    ]
    tx = [
        # bought and already sold again (not in lots): still counts under the contract's rule (a)
        {"account_id": "A", "date": T - dt.timedelta(days=10), "symbol": "ABC", "side": "buy", "shares": 1.0, "price": 30.0},
        {"account_id": "A", "date": T - dt.timedelta(days=8), "symbol": "ABC", "side": "sell", "shares": 1.0, "price": 30.0, "realized_gain": 0.0},
        # the buy that created lot 4: represented by the lot, so lot 4 is not blocked by its own purchase
        {"account_id": "A", "date": T - dt.timedelta(days=9), "symbol": "DEF", "side": "buy", "shares": 10.0, "price": 30.0, "lot_id": "4"},
    ]
    pend = [{"account_id": "A", "symbol": "XYZ", "side": "buy", "shares": 1.0}]
    b = make_book(trade_date=T, accounts=[{"account_id": "A"}], lots=lots, prices={"XYZ": 20.0, "ABC": 20.0, "DEF": 20.0}, transactions=tx, pending_orders=pend)
    a = tax_state(b).account("A")
    assert dict(zip(a.lot_id, a.loss_sale_blocked)) == {"1": True, "2": True, "3": True, "4": False}


def test_terms_gains_and_tax_per_share_use_uploaded_adjusted_values() -> None:
    # Lot "w" carries a custodian wash adjustment: basis 120 (100 + 20 disallowed) and acquired moved back
    # to 2025-11-01 though it was purchased on 2026-11-20. Never re-adjusted: the term comes from acquired
    # (long-term from 2026-11-02 -> long at T), the look-back from purchase_date (inside the window).
    lots = [
        {"account_id": "A", "lot_id": "w", "symbol": "XYZ", "shares": 10.0, "cost_basis": 120.0, "acquired": D(2025, 11, 1), "purchase_date": D(2026, 11, 20)},
        {"account_id": "A", "lot_id": "s", "symbol": "XYZ", "shares": 4.0, "cost_basis": 60.0, "acquired": D(2025, 11, 27)},
    ]
    b = make_book(trade_date=T, accounts=[{"account_id": "A", "st_rate": 0.40, "lt_rate": 0.25}], lots=lots, prices={"XYZ": 11.0})
    ts = tax_state(b)
    a = ts.account("A")
    assert a.lot_id.tolist() == ["s", "w"]  # ordered by purchase_date (2025-11-27, 2026-11-20)
    # s: bought 2025-11-27, long-term from 2026-11-28: short at T, 1 day to go
    assert a.long_term.tolist() == [False, True]
    assert a.days_to_long_term.tolist() == [1, 0]
    # s: 11 - 60/4 = -4/share, short: -4 x 0.40 = -1.6; w: 11 - 120/10 = -1/share, long: -1 x 0.25 = -0.25
    np.testing.assert_allclose(a.gain_per_share, [-4.0, -1.0])
    np.testing.assert_allclose(a.tax_per_share, [-1.6, -0.25])
    # w was purchased on T-7 (purchase_date, not its adjusted acquired): it blocks a loss sale of s, not of itself
    assert a.loss_sale_blocked.tolist() == [True, False]


def test_account_accessor_alignment_and_empty_account() -> None:
    lots = [
        {"account_id": acct, "lot_id": f"{acct}{i}", "symbol": sym, "shares": 1.0 + i, "cost_basis": 10.0 * (i + 1), "acquired": D(2020, 1, 1 + i)}
        for acct in ("B", "A", "C")
        for i, sym in enumerate(("ZZZ", "AAA", "MMM"))
    ]
    b = make_book(trade_date=T, accounts=[{"account_id": x} for x in ("A", "B", "C", "EMPTY")], lots=lots, prices={"ZZZ": 1.0, "AAA": 2.0, "MMM": 3.0})
    ts = tax_state(b)
    for acct in ("A", "B", "C"):
        a = ts.account(acct)
        frame = ts.lots.filter(pl.col("account_id") == acct)
        assert a.lot_id.tolist() == frame["lot_id"].to_list()
        np.testing.assert_allclose(a.shares, frame["shares"].to_numpy())
        assert a.symbol.tolist() == ["AAA", "MMM", "ZZZ"]
    e = ts.account("EMPTY")
    assert e.n_lots == 0 and e.shares.shape == (0,) and e.buy_blocked(["AAA"]).tolist() == [False]
    with pytest.raises(KeyError):
        ts.account("NOPE")
    with pytest.raises(ValueError):
        ts.account("A").shares[0] = 5.0  # read-only views: the optimizer cannot corrupt the shared state


def test_untaxed_lots_without_dates_first_in_the_book() -> None:
    # A tax-deferred account's lot with no basis and no acquired sorts first (account "A" < "B"):
    # its term is null, days_to_long_term null (-1 in arrays), tax 0, never blocked.
    lots = [
        {"account_id": "A", "lot_id": "i", "symbol": "XYZ", "shares": 1.0, "cost_basis": None, "acquired": None},
        {"account_id": "B", "lot_id": "t", "symbol": "XYZ", "shares": 1.0, "cost_basis": 5.0, "acquired": D(2020, 1, 2)},
    ]
    b = make_book(trade_date=T, accounts=[{"account_id": "A", "tax_status": "tax_deferred"}, {"account_id": "B"}], lots=lots, prices={"XYZ": 10.0})
    ts = tax_state(b)
    assert ts.lots["term"].to_list() == [None, "long"]
    assert ts.lots["days_to_long_term"].to_list() == [None, 0]
    a = ts.account("A")
    assert a.days_to_long_term.tolist() == [-1] and a.tax_per_share.tolist() == [0.0] and not a.long_term[0]
    assert ts.account("B").tax_per_share.tolist() == [pytest.approx(5.0 * 0.20)]


def test_empty_book() -> None:
    b = make_book(trade_date=T, accounts=[{"account_id": "A"}])
    ts = tax_state(b)
    assert ts.lots.height == 0 and ts.buy_blocks.height == 0 and ts.account("A").n_lots == 0
