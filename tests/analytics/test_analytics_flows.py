"""Backtest cash flows (withdrawals through the cash need, contributions) and an upload's target."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from overlay_core.analytics.accounting import account_figures, allowed_by_term
from overlay_core.analytics.backtest import BacktestSettings, run_backtest
from overlay_core.analytics.book_target import BookTarget
from overlay_core.analytics.strategies import raise_pro_rata
from overlay_core.contract import MODELS, SECURITIES, TARGETS, schema
from overlay_core.errors import ConfigError
from overlay_core.market.history import load_real_history
from overlay_core.market.prices import FramePriceSource
from overlay_core.policy import Policy

SYMS = ("AAPL", "MSFT", "XOM", "CVX", "KO", "PEP")
ALL = ("optimizer", "naive", "buy_and_hold", "heuristic")


@pytest.fixture(scope="module")
def frame() -> pl.DataFrame:
    return load_real_history(symbols=list(SYMS), start=dt.date(1999, 6, 1), end=dt.date(2001, 9, 28))


@pytest.fixture(scope="module")
def settings() -> BacktestSettings:
    # 2000-2001: a bear market (losses to harvest) and a year end (taxes settled, refunds)
    return BacktestSettings(start=dt.date(2000, 1, 1), frequency="monthly", accounts=2, withdrawal=3_000.0, withdrawal_rate=0.06, contribution=1_000.0, symbols=SYMS)


@pytest.fixture(scope="module")
def bt(frame, settings):
    return run_backtest(FramePriceSource(frame), settings=settings)


def _residuals(bt) -> dict[tuple[str, str], float]:
    out = {}
    for (s, a), p in bt.periods.group_by("strategy", "account_id"):
        p = p.sort("date")
        end = bt.finals.filter((pl.col("strategy") == s) & (pl.col("account_id") == a))["value"][0]
        v = p["value"].to_numpy()
        nxt = np.append(v[1:], end)
        resid = nxt - (v + p["pnl"].to_numpy() - p["cost"].to_numpy() - p["tax"].to_numpy() + p["flow"].to_numpy())
        out[(s, a)] = float(np.abs(resid).max() / v.max())
    return out


def test_accounting_balances_with_withdrawals(bt) -> None:
    """cash + market value at the next mark = previous + returns + flows - taxes - costs, every period,
    with a withdrawal (amount + rate) and a contribution on every flow date; cash never negative."""
    res = _residuals(bt)
    assert len(res) == 8
    assert max(res.values()) < 1e-9, res
    assert (bt.periods["cash"] >= 0).all()
    for b in bt.final_books.values():
        assert (b.accounts["cash"] >= 0).all()
    # flow = contribution - the withdrawal paid
    p = bt.periods.filter(pl.col("date") > bt.dates[0])
    assert ((p["flow"] - (1_000.0 - p["withdrawn"])).abs() < 1e-9).all()


def test_every_strategy_raises_each_withdrawal(bt, settings) -> None:
    """Each flow date asks amount + rate/12 x value; each strategy pays it (what whole shares and the
    fill-price move leave short is paid the next period), selling holdings to do so."""
    for s in ALL:
        p = bt.periods.filter(pl.col("strategy") == s).sort("account_id", "date")
        for a, pa in p.group_by("account_id"):
            # the rate applies to the value after a tax refund is credited (the record's value is before it)
            v = (pa["value"] + (-pa["tax_due"]).clip(lower_bound=0.0)).to_numpy()[1:]
            asked = (settings.withdrawal + settings.withdrawal_rate / 12 * v).sum()
            fin = bt.finals.filter((pl.col("strategy") == s) & (pl.col("account_id") == a[0])).row(0, named=True)
            paid = float(pa["withdrawn"].sum())
            assert paid + fin["withdrawal_unpaid"] == pytest.approx(asked, rel=1e-9), (s, a)
            # only the last period's shortfall (fill prices above the estimates) can be left
            assert fin["withdrawal_unpaid"] < 0.5 * asked / (len(pa) - 1), (s, a, fin["withdrawal_unpaid"])
        assert p.filter(pl.col("date") > bt.dates[1])["sold"].sum() > 0, s


def test_buy_and_hold_withdraws_pro_rata(bt) -> None:
    """Buy and hold sells every holding in proportion (its weights stay the drifted index's): its
    tracking error stays small, and each withdrawal's sells are spread over all six stocks."""
    o = bt.orders.filter((pl.col("strategy") == "buy_and_hold") & (pl.col("side") == "SELL"))
    assert o.height > 0
    per_day = o.group_by("as_of", "account_id").agg(pl.col("symbol").n_unique().alias("n"))
    assert (per_day["n"] == len(SYMS)).all()
    r = {x["strategy"]: x for x in bt.results().iter_rows(named=True)}
    assert r["buy_and_hold"]["tracking_error"] < 0.01


def test_taxes_on_withdrawal_sales_match_the_tax_engine(bt, settings) -> None:
    """Taxes settled each year + the last year's = the engine's allowed gains x the rates, for every
    strategy, buy and hold included (its only sales are withdrawals)."""
    for s in ALL:
        rz = bt.realized.filter(pl.col("strategy") == s)
        for a in ("A001", "A002"):
            st_g, lt_g = allowed_by_term(rz.filter(pl.col("account_id") == a))
            want = settings.st_rate * st_g + settings.lt_rate * lt_g
            p = bt.periods.filter((pl.col("strategy") == s) & (pl.col("account_id") == a))
            fin = bt.finals.filter((pl.col("strategy") == s) & (pl.col("account_id") == a))
            assert float(p["tax_due"].sum()) + float(fin["tax_final"][0]) == pytest.approx(want, abs=1e-6), (s, a)
    assert bt.realized.filter(pl.col("strategy") == "buy_and_hold").height > 0


def test_annual_schedule_and_cap(frame) -> None:
    """``annual``: one withdrawal, on the first rebalance of the new year; a withdrawal above the value
    is capped at it (the account is sold out, cash stays >= 0)."""
    s = BacktestSettings(start=dt.date(2000, 6, 1), end=dt.date(2001, 3, 1), frequency="monthly", symbols=SYMS, withdrawal_rate=0.5, flow_schedule="annual")
    bt = run_backtest(FramePriceSource(frame), settings=s, strategies=("naive", "buy_and_hold"))
    w = bt.periods.filter(pl.col("withdrawn") > 0.03 * pl.col("value"))  # (a shortfall is paid the month after)
    assert set(w["date"].to_list()) == {dt.date(2001, 1, 2)}
    for s_ in ("naive", "buy_and_hold"):
        row = w.filter(pl.col("strategy") == s_).row(0, named=True)
        asked = 0.5 * row["value"]
        assert 0.97 * asked < row["withdrawn"] <= asked + 1e-6, s_
        # what the account sold is about the withdrawal (not more: the target already leaves the need in cash)
        assert row["sold"] < 1.05 * asked, s_
    assert max(_residuals(bt).values()) < 1e-9
    big = replace(s, withdrawal=5e6, withdrawal_rate=0.0)
    bt2 = run_backtest(FramePriceSource(frame), settings=big, strategies=("buy_and_hold",))
    p = bt2.periods.sort("date")
    assert p.filter(pl.col("date") == dt.date(2001, 1, 2))["withdrawn"][0] > 0.95 * p.filter(pl.col("date") == dt.date(2001, 1, 2))["value"][0]
    assert bt2.final_books["buy_and_hold"].lots.height == 0
    assert (bt2.periods["cash"] >= 0).all() and max(_residuals(bt2).values()) < 1e-9


def test_raise_pro_rata_lot_orders(bt) -> None:
    book = bt.final_books["buy_and_hold"]
    held = book.lots.filter(pl.col("account_id") == "A001")
    px = book.price_map
    mv = {s: float(g["shares"].sum()) * px[s] for (s,), g in held.group_by("symbol")}
    rows = raise_pro_rata(book, "A001", 10_000.0, lot_order="hifo")
    got = {}
    for s, side, q, lot, _ in rows:
        assert side == "SELL"
        got[s] = got.get(s, 0.0) + q * px[s]
    total = sum(mv.values())
    assert sum(got.values()) >= 10_000.0
    for s in mv:  # each symbol in proportion, within one share
        assert abs(got[s] - 10_000.0 * mv[s] / total) <= px[s] + 1e-6
    # hifo: within a symbol, the lots sold have the highest basis per share
    for s in {r[0] for r in rows}:
        lots = held.filter(pl.col("symbol") == s).with_columns((pl.col("cost_basis") / pl.col("shares")).alias("b")).sort("b", descending=True)
        sold = [r[3] for r in rows if r[0] == s]
        assert sold == lots["lot_id"].to_list()[: len(sold)]
    fifo = raise_pro_rata(book, "A001", 10_000.0, lot_order="fifo")
    assert {r[0] for r in fifo} == {r[0] for r in rows}
    with pytest.raises(ValueError, match="lot_order"):
        raise_pro_rata(book, "A001", 1.0, lot_order="lifo")


def test_after_tax_return_is_time_weighted() -> None:
    """Without flows the after-tax return is final wealth / initial (annualized); a withdrawal that
    leaves the returns unchanged leaves it unchanged."""
    periods = pl.DataFrame({
        "date": [dt.date(2020, 1, 1), dt.date(2021, 1, 1)], "value": [100.0, 110.0], "tax": [0.0, 2.0], "flow": [0.0, 0.0],
        "target_return": [0.1, 0.1], "pnl": [10.0, 11.0], "sold": [0.0, 0.0], "losses_harvested": [0.0, 0.0], "cost": [0.0, 0.0],
    })
    fin = {"value": 119.0, "tax_final": 1.0, "liquidation_tax": 3.0, "initial": 100.0, "years": 2.0}
    f = account_figures(periods, fin, periods_per_year=1.0)
    assert f["after_tax_return"] == pytest.approx((118.0 / 100.0) ** 0.5 - 1.0)
    assert f["after_tax_return_liquidated"] == pytest.approx((115.0 / 100.0) ** 0.5 - 1.0)
    # the same growth with half the account withdrawn at the second mark
    w = periods.with_columns(pl.Series("value", [100.0, 110.0]), pl.Series("flow", [0.0, -55.0]), pl.Series("tax", [0.0, 1.0]))
    f2 = account_figures(w, {**fin, "value": 59.5, "tax_final": 0.5}, periods_per_year=1.0)
    assert f2["after_tax_return"] == pytest.approx(((110.0 - 0.0) / 100.0 * (59.5 + 55.0) / 110.0 * 59.0 / 59.5) ** 0.5 - 1.0)


def test_flow_settings_are_checked() -> None:
    with pytest.raises(ConfigError, match="--withdrawal: found -1"):
        BacktestSettings(withdrawal=-1.0).check()
    with pytest.raises(ConfigError, match="--withdrawal-rate: found 1.5"):
        BacktestSettings(withdrawal_rate=1.5).check()
    with pytest.raises(ConfigError, match="--flow-schedule: found 'weekly'"):
        BacktestSettings(flow_schedule="weekly").check()  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="--contribution: found -5"):
        BacktestSettings(contribution=-5.0).check()


# --------------------------------------------------------------------------------------------------
# an upload's target
# --------------------------------------------------------------------------------------------------


def _small_target(frame: pl.DataFrame, *, solo: bool = False) -> BookTarget:
    """Two models (a 4-stock model and a 2-stock one) blended 70/30 (target ``mix``), or the 4-stock
    model alone (``solo``), in an upload's own tables; the 6 stocks' sectors pair them up as harvest
    substitutes."""
    sectors = {"AAPL": "Information Technology", "MSFT": "Information Technology", "XOM": "Energy", "CVX": "Energy", "KO": "Consumer Staples", "PEP": "Consumer Staples"}
    rows = [{"symbol": s, "asset_class": "us_large_cap", "type": "equity", "sector": sectors[s], "wash_group": s, "cost_bps": 3.0} for s in SYMS]
    sec = pl.DataFrame([{k: r.get(k) for k in schema(SECURITIES)} for r in rows], schema=schema(SECURITIES), orient="row")
    models = pl.DataFrame(
        [{k: r.get(k) for k in schema(MODELS)} for r in (
            {"model_id": "core", "symbol": "AAPL", "weight": 0.4}, {"model_id": "core", "symbol": "XOM", "weight": 0.3},
            {"model_id": "core", "symbol": "KO", "weight": 0.2}, {"model_id": "core", "symbol": "MSFT", "weight": 0.1},
            {"model_id": "pair", "symbol": "CVX", "weight": 0.5}, {"model_id": "pair", "symbol": "PEP", "weight": 0.5},
        )],
        schema=schema(MODELS), orient="row",
    )
    targets = pl.DataFrame(
        [{k: r.get(k) for k in schema(TARGETS)} for r in ({"target_id": "mix", "model_id": "core", "weight": 0.7}, {"target_id": "mix", "model_id": "pair", "weight": 0.3})],
        schema=schema(TARGETS), orient="row",
    )
    if solo:
        targets = pl.DataFrame([{k: {"target_id": "solo", "model_id": "core", "weight": 1.0}.get(k) for k in schema(TARGETS)}], schema=schema(TARGETS), orient="row")
    return BookTarget(target_id="solo" if solo else "mix", name="test", targets=targets, models=models.filter(pl.col("model_id").is_in(targets["model_id"].to_list())), securities=sec, policy=Policy(), history=frame)


def test_book_target_index_is_tracked_by_buy_and_hold(frame) -> None:
    """``index``: the upload's models drift with prices, so buy and hold tracks a one-model target;
    ``fixed``: the weights stay the uploaded ones and buy and hold drifts away. A blend of two models
    keeps the upload's blend weights (each model drifts inside). The accounts hold the upload's target."""
    bt_t = _small_target(frame)
    s = BacktestSettings(start=dt.date(2000, 1, 1), end=dt.date(2000, 12, 29), frequency="monthly", withdrawal_rate=0.04)
    a = run_backtest(bt_t.price_source(), settings=s, strategies=("buy_and_hold", "naive", "heuristic"), book_target=bt_t)
    assert a.settings.book_target_id == "mix"
    assert a.final_books["naive"].accounts["target_id"].to_list() == ["mix"]
    # day 1: buy and hold bought the blend's weights (0.7 x core + 0.3 x pair)
    o = a.orders.filter((pl.col("strategy") == "buy_and_hold") & (pl.col("as_of") == a.dates[0]))
    w = dict(zip(o["symbol"].to_list(), (o["est_value"] / o["est_value"].sum()).to_list()))
    assert w["AAPL"] == pytest.approx(0.28, abs=0.002) and w["CVX"] == pytest.approx(0.15, abs=0.002)
    assert max(_residuals(a).values()) < 1e-9
    r = {x["strategy"]: x for x in a.results().iter_rows(named=True)}
    assert r["naive"]["tracking_error"] < r["buy_and_hold"]["tracking_error"]  # the blend is rebalanced
    solo = _small_target(frame, solo=True)
    i = run_backtest(solo.price_source(), settings=s, strategies=("buy_and_hold",), book_target=solo)
    f = run_backtest(solo.price_source(), settings=replace(s, target="fixed"), strategies=("buy_and_hold",), book_target=solo)
    assert f.results()["tracking_error"][0] > 2 * i.results()["tracking_error"][0]
    with pytest.raises(ConfigError, match="--target equal"):
        run_backtest(bt_t.price_source(), settings=replace(s, target="equal"), book_target=bt_t)
    with pytest.raises(ConfigError, match="--target fixed"):
        run_backtest(bt_t.price_source(), settings=replace(s, target="fixed"))
    with pytest.raises(ConfigError, match="--symbols: the target mix's models hold 2 symbol"):
        run_backtest(bt_t.price_source(), settings=replace(s, symbols=("AAPL", "XOM", "KO", "MSFT")), book_target=bt_t)


def test_book_target_from_the_demo_upload() -> None:
    """The demo's direct-index target: its 142 stocks and every other US large-cap security (harvest
    candidates), the upload's securities rows and policy; an unknown target is refused with the list."""
    from overlay_core.demo.generate import demo_upload_dir
    from overlay_core.upload import read_upload

    book = read_upload(demo_upload_dir())
    t = BookTarget.from_book(book, "direct_index")
    in_model = set(book.models.filter(pl.col("model_id") == "large_cap_direct_index")["symbol"].to_list())
    in_model.discard("$CASH")
    assert len(in_model) == 142 and in_model <= set(t.symbols())
    assert set(t.securities["asset_class"].to_list()) == {"us_large_cap"}
    assert t.flat_weights(None)["AAPL"] == pytest.approx(book.models.filter((pl.col("model_id") == "large_cap_direct_index") & (pl.col("symbol") == "AAPL"))["weight"][0])
    assert sum(t.flat_weights({s: 2.0 if s == "AAPL" else 1.0 for s in t.symbols()}).values()) == pytest.approx(1.0)
    # it goes to worker processes (--workers): the policy survives pickling
    import pickle

    u = pickle.loads(pickle.dumps(t))
    assert u.policy == t.policy and u.models.equals(t.models) and u.securities.equals(t.securities)
    with pytest.raises(ConfigError, match="--book-target: found 'nope'; expected a target_id of .*direct_index"):
        BookTarget.from_book(book, "nope")


def test_cli_book_target_and_withdrawal(tmp_path: Path) -> None:
    import overlay_core.cli  # noqa: F401 - registers every command
    from overlay_core.cli._app import app
    from overlay_core.demo.generate import demo_upload_dir

    out = tmp_path / "out"
    res = CliRunner().invoke(app, [
        "backtest", "--book", str(demo_upload_dir()), "--book-target", "direct_index", "--start", "2024-01-01", "--end", "2024-02-15",
        "--accounts", "1", "--withdrawal-rate", "0.04", "--out", str(out), "--no-store",
    ])
    assert res.exit_code == 0, res.output
    assert "target direct_index" in res.output
    p = pl.read_parquet(out / "periods.parquet")
    assert set(p["strategy"].to_list()) == set(ALL)
    assert (p.filter(pl.col("date") > p["date"].min())["withdrawn"] > 0).all()
    res = CliRunner().invoke(app, ["backtest", "--book", str(demo_upload_dir()), "--out", str(out)])
    assert res.exit_code == 2 and "--book and --book-target go together" in " ".join(res.output.split())
