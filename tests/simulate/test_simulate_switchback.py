"""The switch back after a loss harvest, over days, on a small synthetic book with a controlled price path.

Household H: T1 (taxable, 1.0M USD) and I1 (IRA, 0.2M USD), both on target DIX = A 2.5%, C 2.5%, MKT 55%,
BND 38%, cash 2%. A and B are two stocks of one sector (different wash groups, correlated: B is A's
only legal substitute); T1's A lot (385 shares, basis 100, bought 2026-03-02) is at 65 on 2026-06-01.

Day 1 (as_of 2026-06-01, trade date 2026-06-02) T1 harvests A (-13,475 USD) and buys B. A contribution
to I1 on 2026-06-04 makes it buy; it may not buy A (rule (b): its household lost on A within 30 days), so
it buys B. The window ends 2026-07-02 (the sale + 30); the first trade date a purchase of A no longer
washes the loss is 2026-07-06 (2026-07-03 is the Independence Day holiday).

- worth it: B drifts 0.05%/day below A, so T1's B is at a small loss after the window; switching back
  saves tracking error and realizes a small loss: both accounts sell B and buy A on 2026-07-06.
- not worth it: B rises 1.5%/day against A (a ~35% short-term gain on T1's B after the window): the
  IRA (no tax) switches back, T1 keeps its B (the short-term tax exceeds the tracking error it saves).
"""

from __future__ import annotations

import datetime as dt
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from overlay_core.calendar import next_business_day
from overlay_core.market.prices import FramePriceSource
from overlay_core.simulate import simulate
from overlay_core.upload import read_upload

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "checker"))
from trade_checker import check_trade_file  # noqa: E402

AS_OF = dt.date(2026, 6, 1)
HARVEST_DATE = dt.date(2026, 6, 2)  # the trade date of day 1
WINDOW_END = HARVEST_DATE + dt.timedelta(days=30)  # 2026-07-02: the last day a purchase washes the loss
FIRST_FREE = dt.date(2026, 7, 6)  # the first business day after the window (2026-07-03 is a holiday)
DAYS = 24  # reviewed days: as_of 2026-06-01 .. 2026-07-06 (trade dates 2026-06-02 .. 2026-07-07)
CLOSE0 = {"A": 65.0, "B": 50.0, "C": 200.0, "MKT": 500.0, "BND": 80.0}
PX = dict(date=pl.Date, symbol=pl.String, close=pl.Float64)


def _bdays_before(end: dt.date, n: int) -> list[dt.date]:
    out, d = [end], end
    while len(out) < n:
        d -= dt.timedelta(days=1)
        if d.weekday() < 5:
            out.append(d)
    return out[::-1]


def _bdays_after(start: dt.date, n: int) -> list[dt.date]:
    out, d = [], start
    for _ in range(n):
        d = next_business_day(d)
        out.append(d)
    return out


def _history(seed: int = 7, n: int = 320) -> pl.DataFrame:
    """320 business days of closes ending at AS_OF: A and B share a market and a sector factor (specific
    volatility 14% each, so A - B has ~20%/yr of tracking volatility); A falls 35% over the last 60 days."""
    rng = np.random.default_rng(seed)
    t = n - 1
    fm = rng.normal(0, 0.16 / np.sqrt(252), t)
    sector = rng.normal(0, 0.10 / np.sqrt(252), t)

    def e(vol: float) -> np.ndarray:
        return rng.normal(0, vol / np.sqrt(252), t)

    r = {"A": fm + sector + e(0.14), "B": fm + sector + e(0.14), "C": 0.8 * fm + e(0.20), "MKT": fm + e(0.01), "BND": -0.05 * fm + e(0.05)}
    r["A"][-60:] += np.log(0.65) / 60
    rows = []
    for s, x in r.items():
        lv = np.concatenate([[0.0], np.cumsum(x)])
        rows += [(d, s, float(p)) for d, p in zip(_bdays_before(AS_OF, n), CLOSE0[s] * np.exp(lv - lv[-1]))]
    return pl.DataFrame(rows, schema=PX, orient="row")


def _write_book(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "as_of.txt").write_text(f"{AS_OF}\n")
    (folder / "securities.csv").write_text(
        "symbol,asset_class,type,name,sector,tags,wash_group,cost_bps,trade_increment\n"
        "A,us_equity,equity,Alpha Corp,technology,,,3,\n"
        "B,us_equity,equity,Beta Corp,technology,,,3,\n"
        "C,us_equity,equity,Gamma Corp,health_care,,,3,\n"
        "MKT,us_equity,etf,Market ETF,,,,1,\n"
        "BND,us_bond,etf,Bond ETF,,,,1,\n"
    )
    (folder / "prices.csv").write_text("symbol,close,date\n" + "".join(f"{s},{c:.2f},{AS_OF}\n" for s, c in CLOSE0.items()))
    _history().write_csv(folder / "price_history.csv", date_format="%Y-%m-%d")
    (folder / "models.csv").write_text("model_id,symbol,weight\nDI,A,0.025\nDI,C,0.025\nDI,MKT,0.55\nDI,BND,0.38\nDI,$CASH,0.02\n")
    (folder / "targets.csv").write_text("target_id,model_id,weight\nDIX,DI,1.0\n")
    (folder / "accounts.csv").write_text(
        "account_id,target_id,tax_status,cash,household_id,status,st_rate,lt_rate\n"
        "T1,DIX,taxable,20000.00,H,active,0.37,0.20\n"
        "I1,DIX,tax_deferred,9000.00,H,active,,\n"
    )
    (folder / "lots.csv").write_text(
        "account_id,lot_id,symbol,shares,cost_basis,acquired,purchase_date\n"
        "T1,L1,A,385,38500.00,2026-03-02,\n"
        "T1,L2,C,125,18750.00,2020-01-06,\n"
        "T1,L3,MKT,1100,440000.00,2019-01-07,\n"
        "T1,L4,BND,4750,370500.00,2021-01-04,\n"
        "I1,L2,C,25,,,2025-01-02\n"
        "I1,L3,MKT,220,,,2025-01-02\n"
        "I1,L4,BND,950,,,2025-01-02\n"
    )
    (folder / "restrictions.csv").write_text("account_id,kind,value,limit\n")
    (folder / "transactions.csv").write_text("account_id,date,symbol,side,shares,price,lot_id,realized_gain\n")
    (folder / "pending_orders.csv").write_text("account_id,symbol,side,shares,lot_id,est_realized_gain\n")
    return folder


def _path(b_drift: float, *, seed: int = 3) -> FramePriceSource:
    """Closes of the fill days: A and B share a common random walk (0.4%/day); B drifts `b_drift` per day
    against A; C, MKT and BND stay at their closes."""
    rng = np.random.default_rng(seed)
    dates = _bdays_after(AS_OF, DAYS + 1)
    common = np.cumsum(rng.normal(0, 0.004, len(dates)))
    rows = []
    for k, d in enumerate(dates):
        rows += [(d, "A", CLOSE0["A"] * float(np.exp(common[k]))), (d, "B", CLOSE0["B"] * float(np.exp(common[k] + b_drift * (k + 1))))]
        rows += [(d, s, CLOSE0[s]) for s in ("C", "MKT", "BND")]
    return FramePriceSource(pl.DataFrame(rows, schema=PX, orient="row"), name="switchback path")


def _run(tmp: Path, b_drift: float):
    up = _write_book(tmp / "upload")
    flows = pl.DataFrame({"date": [dt.date(2026, 6, 4)], "account_id": ["I1"], "amount": [20000.0]})
    return simulate(up, days=DAYS, out_dir=tmp / "out", prices=_path(b_drift), flows=flows)


@pytest.fixture(scope="module")
def worth_it(tmp_path_factory):
    return _run(tmp_path_factory.mktemp("switch_worth"), -0.0005)


@pytest.fixture(scope="module")
def not_worth_it(tmp_path_factory):
    return _run(tmp_path_factory.mktemp("switch_not"), 0.015)


def _trades(run) -> pl.DataFrame:
    parts = []
    for d in run.day_dirs:
        as_of = d.name.removeprefix("day_")
        t = pl.read_csv(d / f"trades_{as_of}.csv", infer_schema=False)
        parts.append(t.with_columns(pl.col("trade_date").str.to_date(), pl.col("shares", "est_realized_gain").cast(pl.Float64)))
    return pl.concat(parts)


def _reviews(run) -> pl.DataFrame:
    return pl.concat(
        [pl.read_csv(d / f"review_{d.name.removeprefix('day_')}.csv", infer_schema=False).with_columns(pl.lit(d.name[4:]).str.to_date().alias("as_of")) for d in run.day_dirs],
        how="diagonal_relaxed",
    )


def _checker_and_window(run) -> pl.DataFrame:
    """Every day's file passes the independent checker; no buy of A in the household inside the window."""
    for d in run.day_dirs:
        v = check_trade_file(d, d / f"trades_{d.name.removeprefix('day_')}.csv")
        assert v == [], f"{d.name}: {[str(x) for x in v[:5]]}"
    assert run.days["forward_wash_risk"].sum() == 0
    t = _trades(run)
    harvest = t.filter((pl.col("account_id") == "T1") & (pl.col("symbol") == "A") & (pl.col("side") == "SELL"))
    assert harvest["trade_date"].to_list() == [HARVEST_DATE] and harvest["shares"].sum() == 385
    assert harvest["est_realized_gain"].sum() == pytest.approx(-13475.0) and set(harvest["reason"]) == {"tax_loss_harvest"}
    # day 1 buys the substitute; the IRA, wanting A after its contribution, buys B instead (rule (b))
    assert t.filter((pl.col("trade_date") == HARVEST_DATE) & (pl.col("account_id") == "T1") & (pl.col("symbol") == "B") & (pl.col("side") == "BUY")).height == 1
    assert t.filter((pl.col("account_id") == "I1") & (pl.col("symbol") == "B") & (pl.col("side") == "BUY") & (pl.col("trade_date") <= WINDOW_END)).height == 1
    early = t.filter((pl.col("symbol") == "A") & (pl.col("side") == "BUY") & (pl.col("trade_date") <= WINDOW_END))
    assert early.height == 0, early.to_dicts()
    # no line is a switch back before the window has ended (the harvest day's B buy is the harvest's replacement)
    assert t.filter((pl.col("reason") == "switch_back") & (pl.col("trade_date") <= WINDOW_END)).height == 0
    day1_b = t.filter((pl.col("trade_date") == HARVEST_DATE) & (pl.col("account_id") == "T1") & (pl.col("symbol") == "B"))
    assert day1_b["reason"].to_list() == ["tax_loss_harvest"]
    # the same from the book's own record of fills (every account of the household)
    tx = run.book.transactions.filter((pl.col("symbol") == "A") & (pl.col("side") == "buy"))
    assert tx.filter(pl.col("date") <= WINDOW_END).height == 0
    return t


def test_switch_back_on_the_first_day_allowed_when_worth_it(worth_it):
    t = _checker_and_window(worth_it)
    back = t.filter(pl.col("trade_date") > WINDOW_END)
    # both accounts sell B and buy A on the first business day after the window
    for acct in ("T1", "I1"):
        buy_a = back.filter((pl.col("account_id") == acct) & (pl.col("symbol") == "A") & (pl.col("side") == "BUY"))
        sell_b = back.filter((pl.col("account_id") == acct) & (pl.col("symbol") == "B") & (pl.col("side") == "SELL"))
        assert buy_a["trade_date"].to_list() == [FIRST_FREE], (acct, buy_a.to_dicts())
        assert sell_b["trade_date"].unique().to_list() == [FIRST_FREE], (acct, sell_b.to_dicts())
    # T1 sells all of its B, at a small loss (B drifted below its cost), and buys back about its A target
    t1_b = back.filter((pl.col("account_id") == "T1") & (pl.col("symbol") == "B"))
    assert t1_b["shares"].sum() == 137 and t1_b["est_realized_gain"].sum() < 0
    final = worth_it.book.lots.group_by("account_id", "symbol").agg(pl.col("shares").sum())
    held = {(a, s): q for a, s, q in final.iter_rows()}
    assert ("T1", "B") not in held and held[("T1", "A")] >= 370
    assert held.get(("I1", "B"), 0) <= 2 and held[("I1", "A")] >= 80
    # the review offered the switch back (trigger switch_back) and the tracking error fell
    rv = _reviews(worth_it)
    day = rv.filter((pl.col("account_id") == "T1") & (pl.col("as_of") == dt.date(2026, 7, 2))).row(0, named=True)
    assert day["decision"] == "trade" and day["reasons"].startswith("switch_back")
    assert float(day["te_after"]) < 0.25 * float(day["te_before"])
    # the trade file says why: the sale of the substitute B and the buy of A are the switch back after the
    # harvest (reason switch_back, before tax_loss_harvest: T1's B is sold at a loss), in both accounts
    first = back.filter(pl.col("trade_date") == FIRST_FREE)
    for acct in ("T1", "I1"):
        ab = first.filter((pl.col("account_id") == acct) & pl.col("symbol").is_in(["A", "B"]))
        assert ab.height >= 2 and set(ab["reason"]) == {"switch_back"}, (acct, ab.select("symbol", "side", "reason").rows())
    assert first.filter(~pl.col("symbol").is_in(["A", "B"]) & (pl.col("reason") == "switch_back")).height == 0
    assert day["reasons"].split(";").count("switch_back") == 1  # the screen's trigger and the lines' reason, once
    print("T1 switch back:", day["te_before"], "->", day["te_after"], "; orders", back.filter(pl.col("account_id") == "T1").select("symbol", "side", "shares", "est_realized_gain").rows())


def test_substitute_kept_when_its_short_term_gain_costs_more_than_the_tracking_error(not_worth_it):
    t = _checker_and_window(not_worth_it)
    # T1 never sells B (bought 2026-06-02, ~35% short-term gain after the window); it may buy A back
    assert t.filter((pl.col("account_id") == "T1") & (pl.col("symbol") == "B") & (pl.col("side") == "SELL")).height == 0
    held = {(a, s): q for a, s, q in not_worth_it.book.lots.group_by("account_id", "symbol").agg(pl.col("shares").sum()).iter_rows()}
    assert held[("T1", "B")] == 137
    # ... it was considered: offered the switch back on the first day allowed
    rv = _reviews(not_worth_it)
    day = rv.filter((pl.col("account_id") == "T1") & (pl.col("as_of") == dt.date(2026, 7, 2))).row(0, named=True)
    assert day["reasons"].startswith("switch_back"), day
    # the same substitute in the IRA of the same household (no tax) is switched back the same day: the
    # short-term tax is what keeps T1's B
    i1 = t.filter((pl.col("account_id") == "I1") & (pl.col("trade_date") == FIRST_FREE))
    assert i1.filter((pl.col("symbol") == "B") & (pl.col("side") == "SELL")).height >= 1
    assert i1.filter((pl.col("symbol") == "A") & (pl.col("side") == "BUY")).height == 1
    assert set(i1.filter(pl.col("symbol").is_in(["A", "B"]))["reason"]) == {"switch_back"}
    # T1's buy of A (from cash and another sale) is the switch back; its other lines keep their reasons
    t1 = t.filter((pl.col("account_id") == "T1") & (pl.col("trade_date") == FIRST_FREE))
    assert t1.filter((pl.col("symbol") == "A") & (pl.col("side") == "BUY"))["reason"].to_list() == ["switch_back"]
    assert t1.filter(pl.col("symbol") != "A").filter(pl.col("reason") == "switch_back").height == 0, t1.to_dicts()
    # the principled rule, in figures: selling T1's B would cost more tax than the tracking error it saves
    book = read_upload(next(d for d in not_worth_it.day_dirs if d.name == "day_2026-07-02"))
    assert book.trade_date == FIRST_FREE
    from overlay_core.targets import account_targets, risk_model

    risk = risk_model(book)
    lot = book.lots.filter((pl.col("account_id") == "T1") & (pl.col("symbol") == "B")).row(0, named=True)
    px = book.price_map
    gain = lot["shares"] * px["B"] - lot["cost_basis"]
    value = float(book.accounts.filter(pl.col("account_id") == "T1")["cash"].item()) + float(
        book.lots.filter(pl.col("account_id") == "T1").select(pl.col("shares") * pl.col("symbol").replace_strict(px, return_dtype=pl.Float64)).sum().item()
    )
    tw = account_targets(book, risk=risk).of("T1")
    syms = sorted(set(tw) - {"$CASH"} | {"B"})
    w = {s: float(book.lots.filter((pl.col("account_id") == "T1") & (pl.col("symbol") == s)).select(pl.col("shares").sum()).item() or 0.0) * px[s] / value for s in syms}
    cov = risk.cov(syms)
    act = np.array([w[s] - tw.get(s, 0.0) for s in syms])
    moved = act.copy()
    moved[syms.index("A")] += w["B"]
    moved[syms.index("B")] -= w["B"]
    saved = book.policy.rebalance.risk_aversion * (act @ cov @ act - moved @ cov @ moved)  # per USD of value
    tax = 0.37 * gain / value
    print(f"T1 B: gain {gain:,.0f} USD, tax {tax * 1e4:.1f} bps of value vs tracking error saved {saved * 1e4:.1f} bps")
    assert gain > 2000 and tax > saved > 0


def _screen_of(book, **kw):
    from overlay_core.review.daily import screen
    from overlay_core.review.optimizer import DayInputs
    from overlay_core.targets import account_targets, risk_model
    from overlay_core.tax import tax_state

    risk = risk_model(book)
    return screen(book, DayInputs(risk=risk, targets=account_targets(book, risk=risk), tax=tax_state(book)), **kw)


def _screen(book, **kw):
    """Every account's screen decision and reasons on `book`."""
    s = _screen_of(book, **kw)
    return {a: (d, r) for a, d, r in s.accounts.select("account_id", "decision", "reasons").iter_rows()}


def _named(book, **kw):
    """What the screen hands the optimizer for the reason ``switch_back``: groups and substitute lots
    (as (account, symbol) of the lots)."""
    s = _screen_of(book, **kw)
    sym = {(a, l): x for a, l, x in book.lots.select("account_id", "lot_id", "symbol").iter_rows()}
    lots = {a: sorted(sym[(a, l)] for l in ids) for a, ids in s.switch_back_lots.items()}
    return dict(s.switch_back), lots


def test_the_screen_names_the_switch_back_groups_and_the_substitute_lots(worth_it):
    """The reason names A (the harvested group) and the B lots only. Signal 2's lot rule alone would also
    name the MKT lots bought on the harvest day (T1) and with the IRA's contribution (I1), held above
    target in A's asset class: their sale on the switch-back day would have read ``switch_back`` (seen
    before the sector check); the reason keeps the lots of the named groups' asset class and sector."""
    book = read_upload(next(d for d in worth_it.day_dirs if d.name == "day_2026-07-02"))
    groups, lots = _named(book)
    assert groups == {"T1": ("A",), "I1": ("A",)}, groups
    assert lots == {"T1": ["B"], "I1": ["B"]}, lots
    # the same from the substitute lots alone (the harvest's sale older than the transactions kept)
    recent = book.transactions.filter(pl.col("date") >= book.trade_date - dt.timedelta(days=30))
    assert _named(replace(book, transactions=recent)) == (groups, lots)
    # nothing to name without the trigger
    assert _named(book, switch_back_days=0) == ({}, {})
    # T1 underweight C (another sector of A's asset class): signal 2 offers C too (optimize today), but
    # no substitute lot shares C's sector, so the reason does not name it
    less_c = book.lots.with_columns(
        pl.when((pl.col("account_id") == "T1") & (pl.col("symbol") == "C")).then(pl.col("shares") * 0.4).otherwise(pl.col("shares")).alias("shares")
    )
    thin = replace(book, lots=less_c)
    from overlay_core.review.daily import switch_back_candidates
    from overlay_core.targets import account_targets, risk_model
    from overlay_core.targets.drift import drift
    from overlay_core.tax import tax_state

    risk = risk_model(thin)
    w = drift(thin, account_targets(thin, risk=risk), risk=risk).securities
    offered = dict(switch_back_candidates(thin, tax_state(thin), w).iter_rows())
    assert offered["T1"] == ["A", "C"], offered
    assert _named(thin) == (groups, lots)


def test_the_screen_offers_the_switch_back_only_after_the_window(worth_it):
    """Without the ``switch_back`` trigger the account holding the substitute stays ``within_bands`` after
    the window (tracking error 0.39% < 2%, no band breached) and is never optimized: the engine kept B
    for good (observed before the trigger existed). The trigger fires from the first trade date a
    purchase no longer washes the loss, for SWITCH_BACK_DAYS calendar days, in every account of the
    household underweight the freed group."""
    from overlay_core.review.daily import SWITCH_BACK_DAYS

    dirs = {d.name.removeprefix("day_"): d for d in worth_it.day_dirs}
    inside_book = read_upload(dirs["2026-07-01"])  # trade date 2026-07-02: the window's last day
    assert inside_book.trade_date == WINDOW_END
    assert all("switch_back" not in r for _, r in _screen(inside_book).values())
    book = read_upload(dirs["2026-07-02"])  # trade date 2026-07-06
    assert book.trade_date == FIRST_FREE
    first = _screen(book)
    assert first["T1"] == ("optimize", ["switch_back"]) and first["I1"] == ("optimize", ["switch_back"])
    without = _screen(book, switch_back_days=0)
    assert without["T1"] == ("no_trade", ["within_bands"]) and without["I1"] == ("no_trade", ["within_bands"])
    # offered for SWITCH_BACK_DAYS calendar days from the first day a purchase no longer washes the loss
    # (the sale + 31 = 2026-07-03, a holiday here); then only the ordinary triggers remain
    free_from = HARVEST_DATE + dt.timedelta(days=31)
    last = _screen(replace(book, trade_date=free_from + dt.timedelta(days=SWITCH_BACK_DAYS - 1)))
    assert "switch_back" in last["T1"][1] and "switch_back" in last["I1"][1]
    gone = _screen(replace(book, trade_date=free_from + dt.timedelta(days=SWITCH_BACK_DAYS)))
    assert "switch_back" not in gone["T1"][1], gone
    # the IRA's own substitute lot (bought while A was blocked) is freed later: it is offered until then
    ira_b = book.lots.filter((pl.col("account_id") == "I1") & (pl.col("symbol") == "B"))["purchase_date"].item()
    assert ira_b > HARVEST_DATE
    ira_last = ira_b + dt.timedelta(days=31 + SWITCH_BACK_DAYS - 1)
    assert "switch_back" in _screen(replace(book, trade_date=ira_last))["I1"][1]
    gone = _screen(replace(book, trade_date=ira_last + dt.timedelta(days=1)))
    assert all("switch_back" not in r for _, r in gone.values()), gone
    # a later loss of the group in the household keeps it blocked: no offer while the new window runs
    again = book.transactions.vstack(
        pl.DataFrame({"account_id": ["T1"], "date": [dt.date(2026, 6, 20)], "symbol": ["A"], "side": ["sell"], "shares": [1.0],
                      "price": [60.0], "lot_id": [None], "realized_gain": [-5.0]}).cast(book.transactions.schema)
    )
    assert all("switch_back" not in r for _, r in _screen(replace(book, transactions=again)).values())


def test_the_switch_back_is_offered_from_the_substitute_lots_without_old_transactions(worth_it):
    """The contract asks for 30 days of transactions only, so the harvest's sale may be missing once its
    window has ended: the substitute lot bought on a day whose window has just ended (above the account's
    target, in the asset class of the underweight group) is enough. Without either, nothing is offered."""
    book = read_upload(next(d for d in worth_it.day_dirs if d.name == "day_2026-07-02"))
    recent = book.transactions.filter(pl.col("date") >= book.trade_date - dt.timedelta(days=30))
    assert recent.filter((pl.col("symbol") == "A") & (pl.col("side") == "sell")).height == 0  # the sale is older
    short = replace(book, transactions=recent)
    got = _screen(short)
    assert got["T1"] == ("optimize", ["switch_back"]) and got["I1"] == ("optimize", ["switch_back"])
    # the lots of the harvest days bought earlier (none on a day freed in the last 7 days): no offer
    older = short.lots.with_columns(
        pl.when(pl.col("purchase_date") > AS_OF).then(pl.col("purchase_date") - pl.duration(days=20)).otherwise(pl.col("purchase_date")).alias("purchase_date")
    )
    assert all("switch_back" not in r for _, r in _screen(replace(short, lots=older)).values())
