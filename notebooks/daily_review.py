import marimo

__generated_with = "0.25.2"
app = marimo.App(width="full", app_title="Daily review")

with app.setup:
    import altair as alt
    import marimo as mo
    import polars as pl

    from overlay_core.apps import dashboard
    from overlay_core.apps.demo_store import ensure_demo_store
    from overlay_core.apps.source import attempt, configured_store, open_app_store


@app.cell
def _():
    reload = mo.ui.run_button(label="Reload the published snapshot")
    mo.hstack([mo.md("# Daily review"), reload], justify="space-between")
    return (reload,)


@app.cell
def _(reload):
    reload
    _path = configured_store()
    demo = _path is None
    if demo:
        _path = ensure_demo_store()
    opened = attempt(open_app_store, _path)
    mo.stop(not opened.ok, mo.callout(mo.md(f"**The store's snapshot could not be opened.**\n\n```\n{opened.error}\n```"), kind="danger"))
    store = opened.value
    runs = dashboard.list_runs(store)
    mo.stop(runs.height == 0, mo.callout(mo.md("The store holds no review run yet: run the daily review first."), kind="warn"))
    return demo, runs, store


@app.cell
def _(runs):
    _labels = {f"{r['as_of']} · {r['run_id']} ({r['status']})": r["run_id"] for r in runs.iter_rows(named=True)}
    run_pick = mo.ui.dropdown(_labels, value=next(iter(_labels)), label="Run")
    run_pick
    return (run_pick,)


@app.cell
def _(demo, run_pick, store):
    review = dashboard.load_review(store, run_pick.value)
    _r = review.run
    _note = " · demo store: a real review of a sample of the demo book's households" if demo else ""
    mo.md(f"As of **{_r['as_of']}**, trade date **{_r['trade_date']}** · run `{_r['run_id']}` ({_r.get('status', '')}){_note}")
    return (review,)


@app.cell
def _(review):
    _res = review.results
    advisors = mo.ui.multiselect(sorted(_res["advisor"].drop_nulls().unique().to_list()), label="Advisors (all when empty)")
    targets = mo.ui.multiselect(sorted(_res["target_id"].drop_nulls().unique().to_list()), label="Targets (all when empty)")
    account_filter = mo.ui.text(label="Account id contains", placeholder="e.g. A0001")
    mo.hstack([advisors, targets, account_filter], justify="start")
    return account_filter, advisors, targets


@app.cell
def _(account_filter, advisors, review, targets):
    results = dashboard.filter_results(review.results, advisors=advisors.value, targets=targets.value, account=account_filter.value)
    orders = review.orders.join(results.select("account_id"), on="account_id", how="semi")
    _h = dashboard.headline(results)
    _stats = mo.hstack(
        [
            mo.stat(f"{_h['accounts']:,}", label="accounts reviewed"),
            mo.stat(f"{_h['traded']:,}", label="traded"),
            mo.stat(f"{_h['not_traded']:,}", label="not traded"),
            mo.stat(f"{_h['held']:,}", label="held"),
            mo.stat(f"{_h['errors']:,}", label="errors"),
            mo.stat(f"{_h['orders']:,}", label="order lines"),
            mo.stat(f"{_h['losses_harvested']:,.0f}", label="losses harvested, USD"),
            mo.stat(f"{_h['est_tax']:,.0f}", label="estimated tax, USD"),
        ],
        widths="equal",
    )
    mo.vstack([mo.md(f"Showing **{results.height:,} of {review.results.height:,}** accounts of the run."), _stats])
    return orders, results


@app.cell
def _(orders, results):
    _why = dashboard.decision_reasons(results)
    _c1 = (
        alt.Chart(_why)
        .mark_bar()
        .encode(
            x=alt.X("accounts:Q"),
            y=alt.Y("reason:N", sort="-x", title=None),
            color=alt.Color("decision:N", scale=alt.Scale(domain=["trade", "no_trade", "held", "error"], range=["#2ca02c", "#1f77b4", "#ff7f0e", "#d62728"])),
            tooltip=["decision", "reason", "accounts"],
        )
        .properties(width=360, height=220, title="Traded or not, and why")
    )
    _byr = dashboard.orders_by_reason(orders)
    _c2 = (
        alt.Chart(_byr)
        .mark_bar()
        .encode(
            x=alt.X("value:Q", title="value, USD"),
            y=alt.Y("reason:N", title=None),
            color=alt.Color("side:N", scale=alt.Scale(domain=["SELL", "BUY"], range=["#d62728", "#2ca02c"])),
            tooltip=["reason", "side", "lines", alt.Tooltip("value:Q", format=",.0f")],
        )
        .properties(width=360, height=220, title="Orders by reason")
    )
    mo.hstack([_c1, _c2], justify="start")
    return


@app.cell
def _(results):
    _d = dashboard.drift_distribution(results)
    _c1 = (
        alt.Chart(_d)
        .mark_bar()
        .encode(
            x=alt.X("drift_before:Q", bin=alt.Bin(maxbins=30), axis=alt.Axis(format="%"), title="largest absolute drift before the review"),
            y=alt.Y("count():Q", title="accounts"),
            color=alt.Color("decision:N", scale=alt.Scale(domain=["trade", "no_trade", "held", "error"], range=["#2ca02c", "#1f77b4", "#ff7f0e", "#d62728"])),
        )
        .properties(width=360, height=220, title="Drift distribution")
    )
    _disp = dashboard.dispersion_by_target(results)
    _c2 = (
        alt.Chart(_disp)
        .mark_rule(strokeWidth=3)
        .encode(
            y=alt.Y("target_id:N", title=None),
            x=alt.X("te_p10:Q", axis=alt.Axis(format=".1%"), title="tracking error after the review (p10 to p90, dot: median)"),
            x2="te_p90:Q",
            tooltip=["target_id", "accounts", alt.Tooltip("te_p10:Q", format=".2%"), alt.Tooltip("te_p50:Q", format=".2%"), alt.Tooltip("te_p90:Q", format=".2%")],
        )
        .properties(width=360, height=220, title="Dispersion by target")
    )
    _dots = alt.Chart(_disp).mark_point(filled=True, size=60, color="black").encode(y="target_id:N", x="te_p50:Q")
    mo.hstack([_c1, _c2 + _dots], justify="start")
    return


@app.cell
def _(results):
    _err = dashboard.errors(results)
    mo.ui.table(_err, label=f"Errors and infeasible accounts ({_err.height})", selection=None, page_size=5) if _err.height else mo.md("No account is in error.")
    return


@app.cell
def _(results):
    table = mo.ui.table(
        results.drop("explanation"),
        label="Accounts (select one for the drill-down)",
        selection="single",
        page_size=10,
        format_mapping={"value": "{:,.0f}", "drift_before": "{:.2%}", "te_before": "{:.2%}", "te_after": "{:.2%}", "turnover": "{:.2%}", "est_tax": "{:,.0f}", "losses_harvested": "{:,.0f}"},
    )
    table
    return (table,)


@app.cell
def _(results, table):
    _sel = pl.DataFrame(table.value)
    _ids = results["account_id"].to_list()
    mo.stop(not _ids, mo.md("No account matches the filters."))
    drill = mo.ui.dropdown(_ids, value=_sel["account_id"][0] if _sel.height else _ids[0], label="Account", searchable=True)
    drill
    return (drill,)


@app.cell
def _(drill, review):
    _row, _orders = dashboard.account_detail(review, drill.value)
    _ex = _row["explanation"]
    mo.vstack(
        [
            mo.md(f"### {_row['account_id']} · {_row['advisor'] or ''} · {_row['target_id'] or ''} · {_row['decision'].replace('_', ' ')}"),
            mo.callout(mo.md(f"```\n{_ex.get('text') or _row.get('error') or _row.get('reasons') or ''}\n```"), kind="danger" if _row["decision"] == "error" else "neutral"),
            mo.ui.table(_orders, label=f"{_orders.height} order line(s) and why", selection=None, page_size=10, wrapped_columns=["explanation"], format_mapping={"shares": "{:,.3f}", "est_value": "{:,.2f}", "est_realized_gain": "{:,.2f}"}),
        ]
    )
    return


if __name__ == "__main__":
    app.run()
