import marimo

__generated_with = "0.25.2"
app = marimo.App(width="medium", app_title="Tax alpha")

with app.setup:
    import marimo as mo
    import polars as pl

    from overlay_core.analytics import run_backtest
    from overlay_core.analytics.charts import by_year_chart, frontier_chart, wealth_chart
    from overlay_core.analytics.outputs import frontier, results_table
    from overlay_core.apps import backtests
    from overlay_core.apps.source import attempt, configured_store, open_app_store
    from overlay_core.market.prices import RealHistorySource


@app.cell
def _():
    mo.md("""
    # Tax alpha

    Backtests of the real day loop over the real price history (1990-2022, 20 stocks; docs/analytics.md):
    the optimizer against naive rebalancing, a harvesting heuristic and buy and hold of the same index.
    **Tax alpha** = the after-tax return per year minus buy and hold's. Run one below, or read the
    backtests `overlay backtest` stored.
    """)
    return


@app.cell
def _():
    _path = configured_store()
    stored = attempt(lambda: None if _path is None else backtests.stored_backtests(open_app_store(_path)))
    _runs = stored.value if stored.ok else None
    mo.stop(_runs is None or _runs.height == 0, mo.md("_No stored backtest (set `OVERLAY_STORE` to a store `overlay backtest --store` wrote)._"))
    stored_pick = mo.ui.dropdown(_runs["run_id"].to_list(), value=_runs["run_id"][0], label="Stored backtest")
    stored_pick
    return (stored_pick,)


@app.cell
def _(stored_pick):
    _store = open_app_store(configured_store())
    mo.ui.table(backtests.stored_results(_store, stored_pick.value), label="Stored results (fractions per year; tax saved/deferred USD per account)", selection=None)
    return


@app.cell
def _():
    start_year = mo.ui.number(1992, 2022, value=2019, label="From")
    end_year = mo.ui.number(1992, 2022, value=2021, label="to")
    frequency = mo.ui.dropdown(["monthly", "weekly"], value="monthly", label="Rebalance")
    accounts = mo.ui.slider(1, 3, value=1, label="Accounts per strategy", show_value=True)
    st_rate = mo.ui.slider(0.0, 0.5, step=0.01, value=0.35, label="Short-term rate", show_value=True)
    lt_rate = mo.ui.slider(0.0, 0.3, step=0.01, value=0.15, label="Long-term rate", show_value=True)
    run = mo.ui.run_button(label="Run the backtest", kind="success")
    mo.vstack([mo.md("## Run a backtest"), mo.hstack([start_year, end_year, frequency, accounts], justify="start"), mo.hstack([st_rate, lt_rate, run], justify="start")])
    return accounts, end_year, frequency, lt_rate, run, st_rate, start_year


@app.cell
def _(accounts, end_year, frequency, lt_rate, st_rate, start_year):
    made = attempt(backtests.settings_for, start_year=int(start_year.value), end_year=int(end_year.value), frequency=frequency.value,
                   accounts=int(accounts.value), st_rate=float(st_rate.value), lt_rate=float(lt_rate.value))
    mo.stop(not made.ok, mo.callout(mo.md(f"**Settings refused:** {made.error}"), kind="warn"))
    settings = made.value
    source = RealHistorySource()
    return settings, source


@app.cell
def _(run, settings, source):
    mo.stop(not run.value, mo.md("_Click **Run the backtest** (about 10-20 s for three years, monthly)._"))
    bt = run_backtest(source, settings=settings)
    _res = results_table(bt)
    _opt = _res.filter(pl.col("strategy") == "optimizer").row(0, named=True)
    mo.vstack(
        [
            mo.hstack(
                [
                    mo.stat(f"{_opt['tax_alpha']:.2%}", label="optimizer: tax alpha per year"),
                    mo.stat(f"{_opt['tax_alpha_liquidated']:.2%}", label="liquidated at the end"),
                    mo.stat(f"{_opt['harvest_yield']:.2%}", label="harvest yield per year"),
                    mo.stat(f"{_opt['tracking_error']:.2%}", label="tracking error"),
                ]
            ),
            mo.ui.table(backtests.results_view(_res), label="Per strategy (fractions per year; tax saved/deferred USD per account)", selection=None),
            wealth_chart(bt.periods, bt.finals),
            by_year_chart(bt.by_year()),
            mo.ui.table(backtests.tax_alpha_by_year(bt.by_year()), label="Tax alpha and harvest yield by year", selection=None),
        ]
    )
    return


@app.cell
def _():
    frontier_run = mo.ui.run_button(label="Compute the frontier (optimizer at 3 risk aversions + heuristic)")
    mo.vstack([mo.md("## The frontier of tax alpha against tracking error"), frontier_run])
    return (frontier_run,)


@app.cell
def _(frontier_run, settings, source):
    mo.stop(not frontier_run.value, mo.md("_About four backtests' time._"))
    _fr = frontier(source, settings=settings, risk_aversions=(0.3, 1.0, 10.0))
    mo.vstack([frontier_chart(_fr), mo.ui.table(_fr, selection=None)])
    return


if __name__ == "__main__":
    app.run()
