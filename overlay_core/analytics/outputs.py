"""A backtest's outputs: the frontier, the files of `overlay backtest`, and the store.

- `frontier(source, settings=..., risk_aversions=...)` -> one row per optimizer point and the heuristic;
- `write_outputs(bt, out, frontier=None)` -> the files written (results.csv, by_year.csv, accounts.csv,
  charts as PNG and HTML);
- `store_backtest(bt, store)` -> run_id: the optimizer's final book as an upload, a run of kind
  ``backtest`` with one result row per strategy (figures in ``detail``) and every order line.
"""

from __future__ import annotations


from dataclasses import replace
from pathlib import Path
from typing import Callable, Sequence

import polars as pl

from overlay_core.analytics import charts
from overlay_core.analytics.book_target import BookTarget
from overlay_core.analytics.backtest import Backtest, BacktestSettings, run_backtest, settings_dict
from overlay_core.market.prices import PriceSource

RESULT_ORDER = (
    "strategy", "tax_alpha", "tax_alpha_liquidated", "tax_benefit", "active_return", "after_tax_return", "after_tax_return_liquidated", "pre_tax_return",
    "target_return", "harvest_yield", "tracking_error", "turnover", "taxes_paid", "liquidation_tax", "tax_saved",
    "tax_deferred", "costs", "final_value", "final_wealth", "final_wealth_liquidated",
)


def results_table(bt: Backtest) -> pl.DataFrame:
    r = bt.results()
    return r.select([c for c in RESULT_ORDER if c in r.columns] + [c for c in r.columns if c not in RESULT_ORDER])


def frontier(
    source: PriceSource,
    *,
    settings: BacktestSettings,
    risk_aversions: Sequence[float] = (0.3, 1.0, 3.0, 10.0),
    on_point: Callable[[str], None] | None = None,
    book_target: BookTarget | None = None,
) -> pl.DataFrame:
    """Tax alpha against realized tracking error: the optimizer at each risk aversion, the heuristic once.

    Columns: strategy, label, risk_aversion, tax_alpha, tax_alpha_liquidated, tracking_error, turnover,
    harvest_yield, after_tax_return. `book_target`: as for `run_backtest`.
    """
    rows = []
    base = run_backtest(source, settings=settings, strategies=("buy_and_hold", "heuristic"), book_target=book_target)
    r = base.results()
    h = r.filter(pl.col("strategy") == "heuristic").row(0, named=True)
    rows.append({**{k: h[k] for k in ("tax_alpha", "tax_alpha_liquidated", "tax_benefit", "active_return", "tracking_error", "turnover", "harvest_yield", "after_tax_return")}, "strategy": "heuristic", "label": f"{settings.threshold:.0%}", "risk_aversion": None})
    b = r.filter(pl.col("strategy") == "buy_and_hold").row(0, named=True)
    for ra in risk_aversions:
        bt = run_backtest(source, settings=replace(settings, risk_aversion=float(ra)), strategies=("optimizer",), book_target=book_target)
        o = bt.account_results().mean().row(0, named=True)
        rows.append({
            "strategy": "optimizer", "label": f"{ra:g}", "risk_aversion": float(ra),
            "tax_alpha": o["after_tax_return"] - b["after_tax_return"],
            "tax_alpha_liquidated": o["after_tax_return_liquidated"] - b["after_tax_return_liquidated"],
            "tax_benefit": (o["after_tax_return"] - o["pre_tax_return"]) - (b["after_tax_return"] - b["pre_tax_return"]),
            "active_return": o["pre_tax_return"] - b["pre_tax_return"],
            **{k: o[k] for k in ("tracking_error", "turnover", "harvest_yield", "after_tax_return")},
        })
        if on_point is not None:
            on_point(f"risk aversion {ra:g}")
    return pl.DataFrame(rows).select("strategy", "label", "risk_aversion", "tax_alpha", "tax_alpha_liquidated", "tax_benefit", "active_return", "tracking_error", "turnover", "harvest_yield", "after_tax_return")


def write_outputs(bt: Backtest, out: str | Path, *, frontier_frame: pl.DataFrame | None = None) -> list[Path]:
    """Write results.csv (one row per strategy), by_year.csv, accounts.csv, periods.parquet, and the
    charts (wealth, tax alpha by year, frontier when given) as PNG and offline HTML. Returns the paths."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    res = results_table(bt)
    res.write_csv(out / "results.csv", float_precision=6)
    paths.append(out / "results.csv")
    by = bt.by_year()
    by.write_csv(out / "by_year.csv", float_precision=6)
    paths.append(out / "by_year.csv")
    bt.account_results().write_csv(out / "accounts.csv", float_precision=6)
    paths.append(out / "accounts.csv")
    bt.periods.write_parquet(out / "periods.parquet")
    bt.finals.write_parquet(out / "finals.parquet")
    paths += [out / "periods.parquet", out / "finals.parquet"]
    figs = [("wealth", charts.wealth_chart(bt.periods, bt.finals), "Wealth after tax"), ("tax_alpha_by_year", charts.by_year_chart(by), "Tax alpha by year")]
    if frontier_frame is not None:
        frontier_frame.write_csv(out / "frontier.csv", float_precision=6)
        paths.append(out / "frontier.csv")
        figs.append(("frontier", charts.frontier_chart(frontier_frame), "Frontier"))
    for name, ch, title in figs:
        paths.append(charts.save_png(ch, out / f"{name}.png"))
        paths.append(charts.save_html(ch, out / f"{name}.html", title=title))
    return paths


def store_backtest(bt: Backtest, store_path: str | Path | None) -> str:
    """Store the backtest as a run of kind ``backtest`` (module docstring); returns its run_id."""
    from overlay_core import __version__
    from overlay_core.store import Store

    book = bt.final_books.get("optimizer") or next(iter(bt.final_books.values()))
    res = results_table(bt)
    with Store.open(store_path) as st:
        upload_id = st.save_upload(book)
        run_id = st.begin_run(
            upload_id=upload_id, as_of=book.as_of, trade_date=book.trade_date, input_hash=upload_id,
            code_version=__version__, settings={"backtest": settings_dict(bt.settings)}, kind="backtest",
        )
        rows = pl.DataFrame({
            "account_id": [f"backtest:{s}" for s in res["strategy"].to_list()],
            "decision": ["no_trade"] * res.height,
            "reasons": ["backtest"] * res.height,
            "turnover": res["turnover"],
        }).hstack(res.drop("turnover"))
        st.save_account_results(run_id, rows)
        st.finish_run(run_id, {"strategies": res["strategy"].to_list(), "start": str(bt.dates[0]), "end": str(bt.dates[-1]), "frequency": bt.settings.frequency})
    return run_id


