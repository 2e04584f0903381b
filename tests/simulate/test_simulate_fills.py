"""apply_fills / fill_day: invariants (hypothesis) and hand-checked cases on the fixture upload."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from overlay_core.calendar import next_business_day
from overlay_core.simulate.fills import FillError, apply_fills, fill_day
from overlay_core.upload import read_upload

FILL = dt.date(2026, 11, 23)  # the fixture's trade date


@pytest.fixture(scope="module")
def book(fixture_upload_dir):
    return read_upload(fixture_upload_dir)


def _orders(rows: list[tuple[str, str, str, float, str | None]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema={"account_id": pl.String, "symbol": pl.String, "side": pl.String, "shares": pl.Float64, "lot_id": pl.String}, orient="row")


def _prices(book, factor: float = 1.0) -> dict[str, float]:
    return {s: c * factor for s, c in book.price_map.items()}


def _bps(book, symbol: str) -> float:
    return book.securities.filter(pl.col("symbol") == symbol)["cost_bps"].item() * 1e-4


@st.composite
def day_orders(draw, book):
    """Random legal orders: sales of parts or all of some lots (no lot twice), buys of any security,
    fill prices within +-10% of today's closes, and flows that never overdraw."""
    rows = []
    pend_sold = set()
    for r in book.lots.iter_rows(named=True):
        if (r["account_id"], r["lot_id"]) in pend_sold:
            continue
        kind = draw(st.sampled_from(["keep", "keep", "all", "part"]))
        if kind == "all":
            rows.append((r["account_id"], r["symbol"], "SELL", r["shares"], r["lot_id"]))
        elif kind == "part" and r["shares"] > 1:
            rows.append((r["account_id"], r["symbol"], "SELL", float(draw(st.integers(1, int(r["shares"]) - 1))), r["lot_id"]))
    symbols = book.securities["symbol"].to_list()
    for a in book.accounts["account_id"].to_list():
        for _ in range(draw(st.integers(0, 3))):
            rows.append((a, draw(st.sampled_from(symbols)), "BUY", float(draw(st.integers(1, 40))), None))
    factors = draw(st.lists(st.floats(0.9, 1.1), min_size=len(symbols), max_size=len(symbols)))
    px = {s: book.price_map[s] * f for s, f in zip(symbols, factors)}
    flows = [(a, float(draw(st.integers(0, 5000)))) for a in book.accounts["account_id"].to_list() if draw(st.booleans())]
    return _orders(rows), px, pl.DataFrame(flows, schema={"account_id": pl.String, "amount": pl.Float64}, orient="row")


def _basis(lots: pl.DataFrame) -> float:
    return float(lots["cost_basis"].fill_null(0.0).sum())


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_fills_conserve_shares_cash_and_basis(book, data):
    orders, px, flows = data.draw(day_orders(book))
    before = {k: getattr(book, k).clone() for k in ("lots", "accounts", "transactions", "pending_orders", "prices")}
    f = fill_day(book, orders, fill_prices=px, next_as_of=FILL, flows=flows)
    nb = f.book
    # pure: the input book is unchanged
    for k, v in before.items():
        assert_frame_equal(getattr(book, k), v)
    fills = f.fills
    # shares: old lots + buys - sells = new lots, per account and symbol
    signed = fills.select("account_id", "symbol", pl.when(pl.col("side") == "buy").then(pl.col("shares")).otherwise(-pl.col("shares")).alias("q"))
    expect = (
        pl.concat([book.lots.select("account_id", "symbol", pl.col("shares").alias("q")), signed])
        .group_by("account_id", "symbol")
        .agg(pl.col("q").sum())
        .filter(pl.col("q").abs() > 1e-9)
        .sort("account_id", "symbol")
    )
    got = nb.lots.group_by("account_id", "symbol").agg(pl.col("shares").sum().alias("q")).sort("account_id", "symbol")
    assert_frame_equal(got, expect, check_exact=False, abs_tol=1e-6)
    # no negative or empty lot, ids unique per account
    assert (nb.lots["shares"] > 0).all()
    assert nb.lots.select("account_id", "lot_id").is_unique().all()
    # cash: old + sells - buys (costs included) + flows - cash needs paid = new, and never negative
    cash_delta = fills.select(
        "account_id",
        pl.when(pl.col("side") == "sell").then(pl.col("shares") * pl.col("price") - pl.col("cost")).otherwise(-(pl.col("shares") * pl.col("price") + pl.col("cost"))).alias("d"),
    )
    parts = pl.concat(
        [
            book.accounts.select("account_id", pl.col("cash").alias("d")),
            cash_delta,
            flows.select("account_id", pl.col("amount").alias("d")),
            f.cash_paid.select("account_id", (-pl.col("paid")).alias("d")),
        ]
    )
    want = parts.group_by("account_id").agg(pl.col("d").sum()).sort("account_id")
    have = nb.accounts.select("account_id", pl.col("cash").alias("d")).sort("account_id")
    assert_frame_equal(have, want, check_exact=False, abs_tol=1e-6)
    assert (nb.accounts["cash"] >= 0).all()
    # basis: old - relieved + bought (with cost) + wash adjustments carried into replacement lots = new
    r = f.realized
    bought = float(fills.filter(pl.col("side") == "buy").select(pl.col("shares") * pl.col("price") + pl.col("cost")).sum().item() or 0.0)
    # realized rows are of taxable accounts only; the others' relieved basis is the lots' own
    sold_all = fill_day(book, orders, fill_prices=px, next_as_of=FILL, flows=flows).realized  # deterministic
    assert_frame_equal(sold_all, r)
    relieved_taxable = float(r["cost_basis"].sum()) if r.height else 0.0
    adj = float((r["disallowed_loss"] - r["disallowed_permanent"]).sum()) if r.height else 0.0
    untaxed = book.accounts.filter(pl.col("tax_status") != "taxable")["account_id"].to_list()
    old_u, new_u = book.lots.filter(pl.col("account_id").is_in(untaxed)), nb.lots.filter(pl.col("account_id").is_in(untaxed))
    bought_u = float(fills.filter((pl.col("side") == "buy") & pl.col("account_id").is_in(untaxed)).select(pl.col("shares") * pl.col("price") + pl.col("cost")).sum().item() or 0.0)
    # untaxed lots: an empty basis stays empty; a known one is relieved pro rata (checked through the total)
    old_t, new_t = book.lots.filter(~pl.col("account_id").is_in(untaxed)), nb.lots.filter(~pl.col("account_id").is_in(untaxed))
    assert _basis(new_t) == pytest.approx(_basis(old_t) - relieved_taxable + (bought - bought_u) + adj, abs=1e-6)
    assert _basis(new_u) <= _basis(old_u) + bought_u + 1e-6
    # the day's trades appended with realized gains on taxable sells
    tx_new = nb.transactions.filter(pl.col("date") == FILL)
    assert tx_new.height == fills.height
    taxable_sells = tx_new.filter((pl.col("side") == "sell") & ~pl.col("account_id").is_in(untaxed))
    assert taxable_sells["realized_gain"].null_count() == 0
    assert tx_new.filter(pl.col("side") == "buy")["realized_gain"].null_count() == tx_new.filter(pl.col("side") == "buy").height
    assert nb.as_of == FILL and nb.trade_date == next_business_day(FILL)
    assert nb.pending_orders.height == 0


def test_partial_and_full_sales_and_a_buy_by_hand(book):
    orders = _orders(
        [
            ("A200", "BND", "SELL", 100.0, "L3"),  # partial: 300 -> 200 shares, basis pro rata
            ("A200", "VEA", "SELL", 200.0, "L4"),  # the exact remainder closes the lot
            ("A200", "VTI", "BUY", 10.0, None),
        ]
    )
    px = _prices(book, 1.0)
    nb = apply_fills(book, orders, fill_prices=px, next_as_of=FILL)
    lots = nb.lots.filter(pl.col("account_id") == "A200")
    l3 = lots.filter(pl.col("lot_id") == "L3").row(0, named=True)
    assert l3["shares"] == 200 and l3["cost_basis"] == pytest.approx(22500.0 * 200 / 300)
    assert lots.filter(pl.col("lot_id") == "L4").height == 0
    new = lots.filter(pl.col("symbol") == "VTI").row(0, named=True)
    bps = _bps(book, "VTI")
    assert new["lot_id"] == "20261123-VTI-1"
    assert new["acquired"] == new["purchase_date"] == FILL
    assert new["cost_basis"] == pytest.approx(10 * 300.0 * (1 + bps))
    # cash: 2500 + sales net of cost - the buy with cost
    sells = 100 * 73.0 * (1 - _bps(book, "BND")) + 200 * 52.0 * (1 - _bps(book, "VEA"))
    cash = nb.accounts.filter(pl.col("account_id") == "A200")["cash"].item()
    assert cash == pytest.approx(2500.0 + sells - 10 * 300.0 * (1 + bps))
    # realized gains on the two sales (taxable), from the lots' basis per share
    tx = nb.transactions.filter((pl.col("date") == FILL) & (pl.col("account_id") == "A200")).sort("symbol")
    g = dict(zip(tx["symbol"].to_list(), tx["realized_gain"].to_list()))
    assert g["BND"] == pytest.approx(100 * 73.0 * (1 - _bps(book, "BND")) - 7500.0)
    assert g["VEA"] == pytest.approx(200 * 52.0 * (1 - _bps(book, "VEA")) - 9200.0)
    assert g["VTI"] is None
    # ytd: A200 had none; short-term BND (acquired 2025-12-15), long-term VEA
    acc = nb.accounts.filter(pl.col("account_id") == "A200").row(0, named=True)
    assert acc["ytd_realized_st"] == pytest.approx(g["BND"])
    assert acc["ytd_realized_lt"] == pytest.approx(g["VEA"])


def test_pending_orders_become_trades_and_ids_are_stable(book):
    # the fixture's pending order: A101 buys 20 BND (tax-deferred) -> a new lot, no pending order left
    nb = apply_fills(book, None, fill_prices=_prices(book, 1.01), next_as_of=FILL)
    assert nb.pending_orders.height == 0
    new = nb.lots.filter((pl.col("account_id") == "A101") & (pl.col("symbol") == "BND")).sort("lot_id")
    assert new["lot_id"].to_list() == ["20261123-BND-1", "L1"]
    assert new.filter(pl.col("lot_id") == "L1")["cost_basis"].to_list() == [None]  # an empty basis stays empty
    again = apply_fills(book, None, fill_prices=_prices(book, 1.01), next_as_of=FILL)
    assert_frame_equal(nb.lots, again.lots)
    # a second BUY of the same symbol the same day gets the next id
    nb2 = apply_fills(book, _orders([("A101", "BND", "BUY", 1.0, None)]), fill_prices=_prices(book), next_as_of=FILL)
    ids = nb2.lots.filter((pl.col("account_id") == "A101") & (pl.col("symbol") == "BND"))["lot_id"].to_list()
    assert sorted(ids) == ["20261123-BND-1", "20261123-BND-2", "L1"]


def test_wash_sale_adjustment_comes_from_the_ledger(book):
    # A100 bought VTI (L8) on 2026-11-05; VTI is its own wash group. Selling another VTI lot at a loss
    # is washed by L8 (look-back); here the household (SMITH) sells L8 itself at a loss and A101 buys
    # VTI the same day: the tax-deferred purchase disallows the loss permanently (Rev. Rul. 2008-5).
    px = _prices(book)
    px["VTI"] = 250.0
    orders = _orders([("A100", "VTI", "SELL", 98.0, "L8"), ("A101", "VTI", "BUY", 2.0, None)])  # A101 can pay 2
    f = fill_day(book, orders, fill_prices=px, next_as_of=FILL)
    assert f.trimmed.height == 0
    r = f.realized.row(0, named=True)
    assert r["gain_loss"] < 0
    assert r["disallowed_loss"] == pytest.approx(-r["gain_loss"] * 2 / 98)
    assert r["disallowed_permanent"] == pytest.approx(r["disallowed_loss"])
    # recognized ytd: only the allowed part
    acc = f.book.accounts.filter(pl.col("account_id") == "A100").row(0, named=True)
    assert acc["ytd_realized_st"] == pytest.approx(-1200.0 + r["gain_loss"] + r["disallowed_loss"])
    # taxable replacement: the basis carries the disallowed loss
    orders2 = _orders([("A100", "VTI", "SELL", 98.0, "L8"), ("A400", "VTI", "BUY", 10.0, None)])
    book2 = replace(book, accounts=book.accounts.with_columns(pl.when(pl.col("account_id") == "A400").then(pl.lit("SMITH")).otherwise(pl.col("household_id")).alias("household_id")))
    f2 = fill_day(book2, orders2, fill_prices=px, next_as_of=FILL)
    new = f2.book.lots.filter((pl.col("account_id") == "A400") & (pl.col("symbol") == "VTI") & (pl.col("lot_id").str.starts_with("2026"))).row(0, named=True)
    dis = f2.realized.row(0, named=True)["disallowed_loss"]
    assert new["cost_basis"] == pytest.approx(10 * 250.0 * (1 + _bps(book, "VTI")) + dis)
    assert new["acquired"] < new["purchase_date"] == FILL  # the sold shares' holding period


def test_cash_guard_trims_buys_and_cash_need_is_paid(book):
    px = _prices(book, 1.05)  # prices rose 5% overnight
    orders = _orders([("A200", "VTI", "BUY", 8.0, None)])  # 8 x 300 = 2400 of 2500 at the estimate
    f = fill_day(book, orders, fill_prices=px, next_as_of=FILL)
    assert f.trimmed.height == 1 and f.trimmed["filled"].item() == 7.0
    assert f.book.accounts.filter(pl.col("account_id") == "A200")["cash"].item() >= 0
    # A400's cash need of 5000 is paid out of its 3000 cash: 2000 stays as the need
    a400 = f.book.accounts.filter(pl.col("account_id") == "A400").row(0, named=True)
    assert a400["cash"] == 0 and a400["cash_need"] == pytest.approx(2000.0)
    keep = fill_day(book, None, fill_prices=px, next_as_of=FILL, pay_cash_needs=False).book
    assert keep.accounts.filter(pl.col("account_id") == "A400")["cash"].item() == pytest.approx(3000.0)


def test_year_boundary_resets_ytd(book):
    b = replace(book, as_of=dt.date(2026, 12, 30), trade_date=dt.date(2026, 12, 31))
    nb = apply_fills(b, None, fill_prices=_prices(book), next_as_of=dt.date(2027, 1, 4))
    a100 = nb.accounts.filter(pl.col("account_id") == "A100").row(0, named=True)
    assert a100["ytd_realized_st"] == 0 and a100["ytd_realized_lt"] == 0
    assert nb.trade_date == dt.date(2027, 1, 5)


def test_errors_name_what_is_wrong(book):
    px = _prices(book)
    with pytest.raises(FillError, match="no close on 2026-11-23 for 1 symbol"):
        apply_fills(book, None, fill_prices={k: v for k, v in px.items() if k != "MO"}, next_as_of=FILL)
    with pytest.raises(FillError, match="before the book's trade date"):
        apply_fills(book, None, fill_prices=px, next_as_of=dt.date(2026, 11, 20))
    with pytest.raises(FillError, match=r"account\(s\) not in the book: ZZZ"):
        apply_fills(book, _orders([("ZZZ", "VTI", "BUY", 1.0, None)]), fill_prices=px, next_as_of=FILL)
    with pytest.raises(FillError, match="lot 'L9'"):
        apply_fills(book, _orders([("A200", "VTI", "SELL", 1.0, "L9")]), fill_prices=px, next_as_of=FILL)
    with pytest.raises(FillError, match="at most the 100 shares"):
        apply_fills(book, _orders([("A200", "MSFT", "SELL", 101.0, "L1")]), fill_prices=px, next_as_of=FILL)
    with pytest.raises(FillError, match="withdrawal of 9,999.00 USD"):
        apply_fills(book, None, fill_prices=px, next_as_of=FILL, flows=pl.DataFrame({"account_id": ["A300"], "amount": [-9999.0]}))
    with pytest.raises(FillError, match="transactions_days 30"):
        apply_fills(book, None, fill_prices=px, next_as_of=FILL, transactions_days=30)


def test_history_and_prices_roll(book):
    px = _prices(book, 1.02)
    nb = apply_fills(book, None, fill_prices=px, next_as_of=FILL)
    assert nb.prices["date"].unique().to_list() == [FILL]
    assert nb.price_history.height == book.price_history.height + book.prices.height
    last = nb.price_history.filter(pl.col("date") == FILL)
    assert dict(zip(last["symbol"], last["close"])) == pytest.approx(px)
    # transactions older than 60 days before the next trade date are trimmed, recent ones kept
    assert nb.transactions.filter(pl.col("date") == dt.date(2026, 11, 5)).height == 2


def test_a_buy_after_an_earlier_days_loss_is_reported(book):
    # A100 (SMITH) realized a loss on IVV (wash group sp500) on 2026-11-05; a VOO buy in the household
    # within 30 days would replace it: a fresh ledger cannot adjust it, so it is reported
    f = fill_day(book, _orders([("A100", "VOO", "BUY", 1.0, None)]), fill_prices=_prices(book), next_as_of=FILL)
    assert f.forward_wash_risk.rows() == [("A100", "VOO")]
    g = fill_day(book, _orders([("A100", "VEA", "BUY", 1.0, None)]), fill_prices=_prices(book), next_as_of=FILL)
    assert g.forward_wash_risk.height == 0


def test_closes_keep_their_own_dates_when_next_as_of_is_later(book):
    """The fill day's closes are the trade date's: history rows and prices carry the fill date, not
    `next_as_of`'s, when the next book is days later; closes appended up to `next_as_of` become the
    next book's prices, each symbol at its latest date."""
    later = dt.date(2026, 11, 27)  # the Friday after the fill (Thanksgiving between)
    px = _prices(book, 1.02)
    nb = apply_fills(book, None, fill_prices=px, next_as_of=later)
    assert nb.as_of == later and nb.trade_date == next_business_day(later)
    assert nb.prices["date"].unique().to_list() == [FILL]
    assert dict(zip(nb.prices["symbol"], nb.prices["close"])) == pytest.approx(px)
    assert nb.price_history.filter(pl.col("date") == later).height == 0
    filled = nb.price_history.filter(pl.col("date") == FILL)
    assert dict(zip(filled["symbol"], filled["close"])) == pytest.approx(px)
    # closes of the following days appended: the latest one of each symbol is the next book's price
    syms = book.prices["symbol"].to_list()
    app = pl.DataFrame(
        {"date": [dt.date(2026, 11, 24)] * len(syms) + [later] * (len(syms) - 1), "symbol": syms + syms[1:],
         "close": [px[s] * 1.01 for s in syms] + [px[s] * 1.03 for s in syms[1:]]},
        schema={"date": pl.Date, "symbol": pl.String, "close": pl.Float64},
    )
    nb2 = apply_fills(book, None, fill_prices=px, next_as_of=later, price_history_append=app)
    got = {s: (d, c) for s, c, d in nb2.prices.select("symbol", "close", "date").iter_rows()}
    assert got[syms[0]] == (dt.date(2026, 11, 24), pytest.approx(px[syms[0]] * 1.01))
    assert all(got[s] == (later, pytest.approx(px[s] * 1.03)) for s in syms[1:])
    assert nb2.prices["symbol"].to_list() == syms
    assert nb2.price_history.filter(pl.col("date") == FILL).height == len(syms)
    assert nb2.price_history.height == book.price_history.height + 3 * len(syms) - 1
    with pytest.raises(FillError, match="price_history_append: 1 row\\(s\\) after next_as_of 2026-11-27"):
        apply_fills(book, None, fill_prices=px, next_as_of=later, price_history_append=app.head(1).with_columns(pl.lit(dt.date(2026, 11, 30)).alias("date")))
