import marimo

__generated_with = "0.25.2"
app = marimo.App(width="medium", app_title="IPC: models, blends and the cascade")

with app.setup:
    import altair as alt
    import marimo as mo
    import polars as pl

    from overlay_core.apps import ipc
    from overlay_core.apps.source import attempt, load_source
    from overlay_core.targets import risk_model
    from overlay_core.targets.cascade import cascade


@app.cell
def _():
    mo.md("""
    # Models, blends and the cascade

    Pick a model (its security weights) or a target (its blend of models), edit the weights or swap
    one product for another, and see the new asset allocation and what the change would do to every
    account that follows it. Nothing is committed: download the change as `CHANGE.csv` for
    `overlay cascade` and the IPC's minutes.
    """)
    return


@app.cell
def _():
    loaded = attempt(load_source)
    mo.stop(not loaded.ok, mo.callout(mo.md(f"**The book could not be read.**\n\n```\n{loaded.error}\n```"), kind="danger"))
    source = loaded.value
    book = source.book
    risk = risk_model(book)
    mo.md(f"Book: **{source.label}** · {book.accounts.height:,} accounts · {book.securities.height} securities")
    return book, risk


@app.cell
def _(book):
    kind = mo.ui.dropdown({"a model (security weights)": "models", "a target (blend of models)": "targets"}, value="a model (security weights)", label="Edit")
    kind
    return (kind,)


@app.cell
def _(book, kind):
    _ids = sorted(set(book.models["model_id"].to_list() if kind.value == "models" else book.targets["target_id"].to_list()))
    ident = mo.ui.dropdown(_ids, value=_ids[0], label="Model" if kind.value == "models" else "Target", searchable=True)
    ident
    return (ident,)


@app.cell
def _(book, ident, kind):
    current = ipc.editable_weights(book, kind.value, ident.value)
    key = "symbol" if kind.value == "models" else "model_id"
    _pool = sorted(book.securities["symbol"].to_list()) if kind.value == "models" else sorted(set(book.models["model_id"].to_list()))
    swap_from = mo.ui.dropdown(["(none)"] + current[key].to_list(), value="(none)", label="Swap out")
    swap_to = mo.ui.dropdown(["(none)"] + _pool, value="(none)", label="for")
    editor = mo.ui.data_editor(current, label="Weights (edit a weight; they are renormalized to sum to 1)", editable_columns=["weight"])
    mo.vstack([mo.hstack([swap_from, swap_to], justify="start"), editor])
    return current, editor, key, swap_from, swap_to


@app.cell
def _(book, editor, ident, key, kind, swap_from, swap_to):
    _edited = ipc.product_swap(pl.DataFrame(editor.value), swap_from.value, swap_to.value, key=key)
    made = attempt(ipc.change_from_edit, book, kind.value, ident.value, _edited)
    mo.stop(not made.ok, mo.callout(mo.md(f"**The edit is refused.**\n\n```\n{made.error}\n```"), kind="warn"))
    change = made.value
    return (change,)


@app.cell
def _(book, change):
    allocation = ipc.allocation_comparison(book, change)
    _long = allocation.unpivot(index=["target_id", "asset_class"], on=["before", "after"], variable_name="when", value_name="weight")
    _chart = (
        alt.Chart(_long)
        .mark_bar()
        .encode(
            x=alt.X("weight:Q", axis=alt.Axis(format="%"), title="weight"),
            y=alt.Y("asset_class:N", title=None),
            yOffset=alt.YOffset("when:N", sort=["before", "after"]),
            color=alt.Color("when:N", sort=["before", "after"], scale=alt.Scale(range=["#9aa5b1", "#1f77b4"])),
            column=alt.Column("target_id:N", title=None),
            tooltip=["target_id", "asset_class", "when", alt.Tooltip("weight:Q", format=".2%")],
        )
        .properties(width=220, height=alt.Step(7), title="Asset allocation of the affected targets, before and after")
    )
    mo.vstack([mo.md(f"## New asset allocation\nThe change reaches target(s) **{', '.join(sorted(set(allocation['target_id'].to_list()))) or '(none)'}**."), mo.ui.altair_chart(_chart)])
    return (allocation,)


@app.cell
def _(allocation):
    mo.ui.table(allocation.filter(pl.col("delta").abs() > 1e-9), label="Asset classes that move", selection=None, format_mapping={c: "{:.2%}" for c in ("before", "after", "delta")})
    return


@app.cell
def _(book, change, risk):
    preview = cascade(book, change, risk=risk)
    _te = ipc.te_long(preview.accounts)
    _chart = (
        alt.Chart(_te)
        .mark_bar()
        .encode(
            x=alt.X("tracking_error:Q", axis=alt.Axis(format=".1%"), title="mean ex-ante tracking error of today's holdings"),
            y=alt.Y("target_id:N", title=None),
            yOffset=alt.YOffset("when:N", sort=["before", "after"]),
            color=alt.Color("when:N", sort=["before", "after"], scale=alt.Scale(range=["#9aa5b1", "#d62728"])),
            tooltip=["target_id", "when", alt.Tooltip("tracking_error:Q", format=".2%")],
        )
        .properties(width=420, title="Tracking error against the old and the new target")
    )
    _n = preview.accounts.height
    _moved = preview.accounts["target_change"].mean() if _n else 0.0
    mo.vstack(
        [
            mo.md(f"## The cascade\n**{_n:,} accounts** follow the change; their targets move by **{(_moved or 0.0):.2%}** on average (one way)."),
            _chart,
            mo.ui.table(
                preview.summary,
                label="By target and advisor",
                selection=None,
                page_size=10,
                format_mapping={"value": "{:,.0f}", "te_before_mean": "{:.2%}", "te_after_mean": "{:.2%}", "te_after_max": "{:.2%}", "target_change_mean": "{:.2%}"},
            ),
        ]
    )
    return (preview,)


@app.cell
def _(preview):
    limit = mo.ui.slider(5, 200, value=30, step=5, label="Followers to optimize (evenly spread)", show_value=True)
    optimize = mo.ui.run_button(label="Optimize the followers under the new targets", kind="success")
    mo.vstack([mo.md(f"### Orders, turnover, realized gains and tax\nThe optimizer runs on the followers (about 50 ms each; {preview.accounts.height:,} in all)."), mo.hstack([limit, optimize], justify="start")])
    return limit, optimize


@app.cell
def _(book, change, limit, optimize, risk):
    mo.stop(not optimize.value, mo.md("_Click **Optimize the followers** to see the orders the change would cause._"))
    trades = ipc.cascade_trades(book, change, risk=risk, limit=limit.value)
    by_advisor = ipc.trade_summary(trades)
    _fmt = {c: "{:,.0f}" for c in ("traded_value", "net_realized_gain", "losses_harvested", "est_tax")} | {c: "{:.2%}" for c in ("turnover", "turnover_mean", "te_before", "te_after", "te_before_mean", "te_after_mean")}
    _chart = (
        alt.Chart(trades)
        .mark_circle(size=70, opacity=0.7)
        .encode(
            x=alt.X("turnover:Q", axis=alt.Axis(format="%"), title="turnover (one side)"),
            y=alt.Y("est_tax:Q", title="estimated tax, USD (< 0: a saving)"),
            color=alt.Color("target_id:N"),
            tooltip=["account_id", "advisor", "decision", "n_orders", alt.Tooltip("est_tax:Q", format=",.0f"), alt.Tooltip("turnover:Q", format=".1%")],
        )
        .properties(width=520, height=260, title=f"{trades.height} followers: tax against turnover")
    )
    mo.vstack(
        [
            mo.md(
                f"**{int((trades['decision'] == 'trade').sum())} of {trades.height}** optimized followers trade: "
                f"{int(trades['n_orders'].sum()):,} order lines, {trades['traded_value'].sum():,.0f} USD traded, "
                f"net realized gain {trades['net_realized_gain'].sum():,.0f} USD, estimated tax {trades['est_tax'].sum():,.0f} USD."
            ),
            _chart,
            mo.ui.table(by_advisor, label="By target and advisor", selection=None, page_size=10, format_mapping=_fmt),
            mo.ui.table(trades, label="Each optimized follower", selection=None, page_size=10, format_mapping=_fmt),
        ]
    )
    return


@app.cell
def _(change):
    mo.vstack(
        [
            mo.md("## The change as a file\n`overlay cascade UPLOAD_DIR --change CHANGE.csv --out DIR` reads it back to the same change."),
            mo.download(ipc.change_csv(change), filename="CHANGE.csv", mimetype="text/csv", label="Download CHANGE.csv"),
            mo.ui.table(change.rows, label="CHANGE.csv", selection=None, page_size=8),
        ]
    )
    return


if __name__ == "__main__":
    app.run()
