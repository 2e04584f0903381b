"""The day loop on the fixture upload: every day's trade file checked independently, balances across
days, the wash-sale window over days, a legacy transition within its gain budget, no round trips."""

from __future__ import annotations

import datetime as dt
import sys
from dataclasses import replace
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from overlay_core.calendar import next_business_day
from overlay_core.simulate import simulate
from overlay_core.simulate.review import default_review_fn
from overlay_core.upload import read_upload

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "checker"))
from trade_checker import check_trade_file  # noqa: E402

DAYS = 14  # 2026-11-20 .. 2026-12-09: past the 30-day window of the 2026-11-05 harvest (ends 2026-12-05)
GROUP = {"VOO": "sp500", "IVV": "sp500"}


@pytest.fixture(scope="module")
def run(fixture_upload_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("sim")
    return simulate(fixture_upload_dir, days=DAYS, out_dir=out, seed=11)


def _trades(day_dir: Path) -> pl.DataFrame:
    as_of = day_dir.name.removeprefix("day_")
    raw = pl.read_csv(day_dir / f"trades_{as_of}.csv", infer_schema=False)
    return raw.with_columns(pl.col("shares", "est_price", "est_value").cast(pl.Float64))


def _all_trades(run) -> pl.DataFrame:
    return pl.concat([_trades(d).with_columns(pl.col("trade_date").str.to_date()) for d in run.day_dirs])


def test_every_day_passes_the_independent_checker(run):
    assert len(run.day_dirs) == DAYS
    for d in run.day_dirs:
        as_of = d.name.removeprefix("day_")
        violations = check_trade_file(d, d / f"trades_{as_of}.csv")
        assert violations == [], f"{d.name}: {[str(v) for v in violations[:5]]}"
        review = pl.read_csv(d / f"review_{as_of}.csv")
        assert review.height == 5 and review["decision"].is_in(["trade", "no_trade", "held", "error"]).all()
        assert (review["decision"] != "error").all()
    # business days on the NYSE calendar (Thanksgiving 2026-11-26 is skipped)
    dates = [dt.date.fromisoformat(d.name.removeprefix("day_")) for d in run.day_dirs]
    assert all(next_business_day(a) == b for a, b in zip(dates, dates[1:]))
    assert dt.date(2026, 11, 26) not in dates
    assert run.days["orders"].sum() > 0
    assert run.days["forward_wash_risk"].sum() == 0  # the review obeys rule (b) day after day


def test_shares_cash_and_basis_balance_across_days(run):
    books = [read_upload(d) for d in run.day_dirs]
    for k, (b0, b1) in enumerate(zip(books, books[1:])):
        f = run.fills[k]
        fills = f.fills
        signed = fills.select("account_id", "symbol", pl.when(pl.col("side") == "buy").then(pl.col("shares")).otherwise(-pl.col("shares")).alias("q"))
        want = (
            pl.concat([b0.lots.select("account_id", "symbol", pl.col("shares").alias("q")), signed])
            .group_by("account_id", "symbol").agg(pl.col("q").sum()).filter(pl.col("q").abs() > 1e-9).sort("account_id", "symbol")
        )
        got = b1.lots.group_by("account_id", "symbol").agg(pl.col("shares").sum().alias("q")).sort("account_id", "symbol")
        assert_frame_equal(got, want, check_exact=False, abs_tol=1e-6)
        delta = fills.group_by("account_id").agg(
            pl.when(pl.col("side") == "sell").then(pl.col("shares") * pl.col("price") - pl.col("cost")).otherwise(-(pl.col("shares") * pl.col("price") + pl.col("cost"))).sum().alias("d")
        )
        paid = dict(f.cash_paid.iter_rows())
        d = dict(delta.iter_rows())
        for a, c0 in b0.accounts.select("account_id", "cash").iter_rows():
            c1 = b1.accounts.filter(pl.col("account_id") == a)["cash"].item()
            assert c1 == pytest.approx(c0 + d.get(a, 0.0) - paid.get(a, 0.0), abs=1e-6), (k, a)
        r = f.realized
        relieved = float(r["cost_basis"].sum()) if r.height else 0.0
        adj = float((r["disallowed_loss"] - r["disallowed_permanent"]).sum()) if r.height else 0.0
        taxable = b0.accounts.filter(pl.col("tax_status") == "taxable")["account_id"].to_list()
        bought = fills.filter((pl.col("side") == "buy") & pl.col("account_id").is_in(taxable)).select(pl.col("shares") * pl.col("price") + pl.col("cost")).sum().item() or 0.0
        basis0 = b0.lots.filter(pl.col("account_id").is_in(taxable))["cost_basis"].sum()
        basis1 = b1.lots.filter(pl.col("account_id").is_in(taxable))["cost_basis"].sum()
        assert basis1 == pytest.approx(basis0 - relieved + bought + adj, abs=1e-4)
        assert b1.as_of == b0.trade_date


def test_harvested_group_not_bought_back_inside_the_window(run):
    """Rule (b) over days: after a household's loss sale of a wash group, no account of the household
    buys the group for 30 days. The 2026-11-05 IVV harvest (A100, household SMITH, replaced by VTI)
    may be switched back from 2026-12-06 on: if the run buys sp500 in SMITH, it is after the window."""
    books = {d.name: read_upload(d) for d in run.day_dirs}
    first = next(iter(books.values()))
    hh = dict(first.accounts.select("account_id", "household_id").iter_rows())
    group = dict(first.securities.select("symbol", "wash_group").iter_rows())
    tx = run.book.transactions.with_columns(
        pl.col("account_id").replace_strict(hh).alias("hh"), pl.col("symbol").replace_strict(group).alias("g")
    )
    taxable = set(first.accounts.filter(pl.col("tax_status") == "taxable")["account_id"].to_list())
    losses = tx.filter((pl.col("side") == "sell") & (pl.col("realized_gain") < 0) & pl.col("account_id").is_in(list(taxable)))
    buys = tx.filter(pl.col("side") == "buy")
    pairs = losses.join(buys, on=["hh", "g"], suffix="_buy").filter(
        (pl.col("date_buy") > pl.col("date")) & (pl.col("date_buy") <= pl.col("date") + pl.duration(days=30))
    )
    assert pairs.height == 0, pairs.select("account_id", "symbol", "date", "account_id_buy", "symbol_buy", "date_buy").to_dicts()
    sp = buys.filter((pl.col("hh") == "SMITH") & (pl.col("g") == "sp500"))
    assert sp.filter(pl.col("date") <= dt.date(2026, 12, 5)).height == 0
    # what the run shows after the window (reported by the test name in the docs; not forced)
    print("sp500 bought back in SMITH after the window:", sp.select("account_id", "symbol", "date", "shares").to_dicts())


def test_no_round_trip_within_30_days_unless_harvest_or_restriction(run):
    """No security is bought and then sold (or sold and bought back) by an account within 30 days,
    except on the account's harvest or restriction days: a line whose own reason is
    ``tax_loss_harvest``/``restriction``, or a sale on a day the account sells a lot at a loss or exits a
    restricted position (the optimizer rebalances the rest of the account around the harvest that day)."""
    t = _all_trades(run)
    # a harvest day is a day the account sells a lot at a loss, whatever the line's reason says (a step of
    # a transition that uses up the gain budget is named `transition` first, harvests included)
    loss_sale = (pl.col("side") == "SELL") & (pl.col("est_realized_gain").cast(pl.Float64, strict=False) < 0)
    special = (
        t.filter(pl.col("reason").is_in(["tax_loss_harvest", "restriction"]) | loss_sale)
        .select("account_id", pl.col("trade_date").alias("d_sell"))
        .unique()
        .with_columns(pl.lit(True).alias("special_day"))
    )
    sells = t.filter(pl.col("side") == "SELL").select("account_id", "symbol", pl.col("trade_date").alias("d_sell"), pl.col("reason").alias("r_sell"))
    buys = t.filter(pl.col("side") == "BUY").select("account_id", "symbol", pl.col("trade_date").alias("d_buy"), pl.col("reason").alias("r_buy"))
    pairs = (
        sells.join(buys, on=["account_id", "symbol"])
        .filter((pl.col("d_sell") - pl.col("d_buy")).dt.total_days().abs() <= 30)
        .join(special, on=["account_id", "d_sell"], how="left")
    )
    ok = ["tax_loss_harvest", "restriction"]
    bad = pairs.filter(~pl.col("r_sell").is_in(ok) & ~pl.col("r_buy").is_in(ok) & pl.col("special_day").is_null())
    assert bad.height == 0, [tuple(r.values()) for r in bad.head(8).to_dicts()]


def test_store_holds_every_day(fixture_upload_dir, tmp_path):
    from overlay_core.store import Store

    with Store.open(tmp_path / "s.duckdb", publish=False) as st:
        res = simulate(fixture_upload_dir, days=2, out_dir=tmp_path / "out", seed=1, store=st)
        runs = st.runs()
        assert sorted(runs["run_id"].to_list()) == sorted(res.run_ids)
        assert set(runs["kind"].to_list()) == {"simulation"}
        assert st.uploads().height == 2
        # the stored orders are the day's trade file lines
        day1 = _trades(res.day_dirs[0])
        assert st.run_orders(res.run_ids[0]).height == day1.height
    # the same seed gives the same files
    again = simulate(fixture_upload_dir, days=2, out_dir=tmp_path / "again", seed=1)
    for a, b in zip(res.day_dirs, again.day_dirs):
        assert_frame_equal(_trades(a).drop("run_id"), _trades(b).drop("run_id"))


def test_legacy_position_transitions_within_its_gain_budget(fixture_upload_dir, tmp_path):
    """A100 moves to the CONS target (no AAPL): its AAPL (400 shares, basis 20/share, 240 now) is a legacy
    position. With a 10% daily turnover limit and a 40,000 USD gain budget (1,300 used this year), it is
    transitioned over several days (at most 10% a day); each day's orders keep their estimated gains
    within the allowance left, and the year's recognized gains stay within the budget up to the price
    move between the estimate and the fill (fills are at the next day's close)."""
    book = read_upload(fixture_upload_dir)
    pol = book.policy
    book = replace(
        book,
        policy=replace(pol, rebalance=replace(pol.rebalance, max_turnover=0.10)),
        accounts=book.accounts.with_columns(
            pl.when(pl.col("account_id") == "A100").then(pl.lit("CONS")).otherwise(pl.col("target_id")).alias("target_id"),
            pl.when(pl.col("account_id") == "A100").then(pl.lit(40000.0)).otherwise(pl.col("gain_budget")).alias("gain_budget"),
        ),
    )
    res = simulate(book, days=5, out_dir=tmp_path / "out", seed=2)
    aapl, ytd = [], []
    for d in res.day_dirs:
        b = read_upload(d)
        aapl.append(b.lots.filter((pl.col("account_id") == "A100") & (pl.col("symbol") == "AAPL"))["shares"].sum())
        a = b.accounts.filter(pl.col("account_id") == "A100").row(0, named=True)
        ytd.append(a["ytd_realized_st"] + a["ytd_realized_lt"])
        violations = check_trade_file(d, d / f"trades_{d.name.removeprefix('day_')}.csv")
        assert violations == []
    final = res.book.accounts.filter(pl.col("account_id") == "A100").row(0, named=True)
    ytd.append(final["ytd_realized_st"] + final["ytd_realized_lt"])
    aapl.append(res.book.lots.filter((pl.col("account_id") == "A100") & (pl.col("symbol") == "AAPL"))["shares"].sum())
    # the review keeps each day's estimated gains within the allowance left (budget - year to date) ...
    for d, y in zip(res.day_dirs, ytd):
        est = _trades(d).filter(pl.col("account_id") == "A100")["est_realized_gain"].cast(pl.Float64).fill_null(0.0).sum()
        assert est <= max(40000.0 - y, 0.0) + 1.0, (d.name, y, est)
    # ... and the fills (at the next day's close, net of costs) stay within a price move of it
    assert all(y <= 40000.0 * 1.02 for y in ytd), ytd
    # the legacy AAPL is reduced and never bought back; the transition takes several days
    drops = [a - b for a, b in zip(aapl, aapl[1:])]
    assert all(x >= 0 for x in drops) and aapl[-1] < aapl[0], aapl
    transition_days = [d for d in res.day_dirs if (_trades(d).filter(pl.col("account_id") == "A100")["reason"] == "transition").any()]
    assert len(transition_days) >= 3
    # each day's one-sided turnover of A100 stays within the 10% limit (at the estimate)
    for d in res.day_dirs:
        t = _trades(d).filter(pl.col("account_id") == "A100")
        if t.height:
            review = pl.read_csv(d / f"review_{d.name.removeprefix('day_')}.csv").filter(pl.col("account_id") == "A100")
            assert review["turnover"].item() <= 0.10 * 1.01  # whole-share rounding room


def test_dry_run_review_stores_nothing_and_names_the_run(fixture_upload_dir):
    book = read_upload(fixture_upload_dir)
    out = default_review_fn()(book)
    assert out.run_id.startswith("dry-20261120-")
    assert out.results.height == 5
    assert set(out.orders["run_id"].unique().to_list()) <= {out.run_id}
