import marimo

__generated_with = "0.25.2"
app = marimo.App(width="medium", app_title="Advisor what-if: a prospect's transition")

with app.setup:
    import altair as alt
    import marimo as mo
    import polars as pl

    from overlay_core.apps import whatif
    from overlay_core.apps.source import attempt, load_source
    from overlay_core.targets import risk_model


@app.cell
def _():
    mo.md("""
    # What-if: a prospect's transition

    Upload a prospect's tax lots (CSV with the data contract's `lots` columns: `lot_id, symbol,
    shares, cost_basis, acquired` and optionally `purchase_date`, `account_id`) or pick an account of
    the book; choose a target and customizations; see the transition plan the optimizer proposes, the
    tax cost against tracking error, and a multi-year schedule. Nothing is stored.
    """)
    return


@app.cell
def _():
    loaded = attempt(load_source)
    mo.stop(not loaded.ok, mo.callout(mo.md(f"**The book could not be read.**\n\n```\n{loaded.error}\n```"), kind="danger"))
    book = loaded.value.book
    risk = risk_model(book)
    mo.md(f"Book: **{loaded.value.label}**")
    return book, risk


@app.cell
def _(book):
    prospect_file = mo.ui.file(filetypes=[".csv"], max_size=whatif.MAX_PROSPECT_BYTES, label="Prospect's lots (CSV, at most 5 MB)")
    _ids = book.accounts["account_id"].to_list()
    account = mo.ui.dropdown(_ids, value=whatif.showcase_account(book), label="or an account of the book", searchable=True)
    mo.hstack([prospect_file, account], justify="start", gap=2)
    return account, prospect_file


@app.cell
def _(account, book, prospect_file):
    is_prospect = bool(prospect_file.value)
    start = whatif.account_settings(book, account.value)
    _targets = sorted(set(book.targets["target_id"].to_list()))
    target = mo.ui.dropdown(_targets, value=start.target_id, label="Target")
    tax_status = mo.ui.dropdown(["taxable", "tax_deferred", "tax_exempt"], value=start.tax_status, label="Tax status (prospect)", disabled=not is_prospect)
    cash = mo.ui.number(0, 1e9, step=1000, value=0.0, label="Cash, USD (prospect)", disabled=not is_prospect)
    use_budget = mo.ui.checkbox(value=start.gain_budget is not None, label="Gain budget")
    budget = mo.ui.number(0, 1e9, step=1000, value=float(start.gain_budget or 10_000.0), label="USD this year")
    cash_need = mo.ui.number(0, 1e9, step=1000, value=start.cash_need, label="Cash need, USD")
    _tags = sorted({t for s in book.securities["tags"].drop_nulls().to_list() for t in s.split(";") if t})
    _syms = sorted(book.securities["symbol"].to_list())
    screens = mo.ui.multiselect(_tags, value=list(start.screens), label="Screens")
    never_buy = mo.ui.multiselect(_syms, value=[s for s in start.never_buy if s in _syms], label="Never buy")
    never_sell = mo.ui.multiselect(_syms, value=[s for s in start.never_sell if s in _syms], label="Never sell")
    mo.vstack(
        [
            mo.hstack([target, tax_status, cash], justify="start"),
            mo.hstack([use_budget, budget, cash_need], justify="start"),
            mo.hstack([screens, never_buy, never_sell], justify="start"),
        ]
    )
    return budget, cash, cash_need, is_prospect, never_buy, never_sell, screens, start, target, tax_status, use_budget


@app.cell
def _(book, start, target):
    _ranges = whatif.customizable_classes(book, target.value)
    _given = {c: w for c, w in start.asset_class_weights.items() if c in _ranges} if target.value == start.target_id else {}
    custom_class = mo.ui.dropdown(["(none)"] + list(_ranges), value=next(iter(_given), "(none)"), label="Custom asset-class weight")
    ranges = _ranges
    given_weights = _given
    custom_class
    return custom_class, given_weights, ranges


@app.cell
def _(custom_class, given_weights, ranges):
    _lo, _hi = ranges.get(custom_class.value, (0.0, 0.0))
    custom_weight = mo.ui.slider(_lo, max(_hi, _lo + 1e-4), step=0.005, value=given_weights.get(custom_class.value, (_lo + _hi) / 2), label=f"weight (IPC range {_lo:.1%} to {_hi:.1%})", show_value=True, disabled=custom_class.value == "(none)")
    custom_weight
    return (custom_weight,)


@app.cell
def _(account, book, budget, cash, cash_need, custom_class, custom_weight, is_prospect, never_buy, never_sell, prospect_file, screens, target, tax_status, use_budget):
    settings = whatif.Settings(
        target_id=target.value,
        tax_status=tax_status.value,
        cash=float(cash.value or 0.0) if is_prospect else None,
        gain_budget=float(budget.value or 0.0) if use_budget.value else None,
        cash_need=float(cash_need.value or 0.0),
        screens=tuple(screens.value),
        never_buy=tuple(never_buy.value),
        never_sell=tuple(never_sell.value),
        asset_class_weights={} if custom_class.value == "(none)" else {custom_class.value: float(custom_weight.value)},
    )
    if is_prospect:
        _upload = prospect_file.value[0]
        _lots = attempt(whatif.read_prospect_lots, _upload.contents, name=_upload.name)
        mo.stop(not _lots.ok, mo.callout(mo.md(f"**The prospect's file is refused.**\n\n```\n{_lots.error}\n```"), kind="danger"))
        _made = attempt(whatif.prospect_book, book, _lots.value, settings)
        who = whatif.PROSPECT_ID
    else:
        _made = attempt(whatif.account_book, book, account.value, settings)
        who = account.value
    mo.stop(not _made.ok, mo.callout(mo.md(f"**The what-if is refused.**\n\n```\n{_made.error}\n```"), kind="danger"))
    wbook = _made.value
    return who, wbook


@app.cell
def _(risk, wbook, who):
    proposal = whatif.plan(wbook, who, risk=risk)
    _e = proposal.explanation
    _kind = {"trade": "success", "no_trade": "info", "held": "warn", "error": "danger"}.get(_e.decision, "neutral")
    mo.vstack(
        [
            mo.md(f"## The transition plan for {who}"),
            mo.hstack(
                [
                    mo.stat(_e.decision.replace("_", " "), label="decision"),
                    mo.stat(f"{_e.n_orders}", label="order lines"),
                    mo.stat(f"{_e.turnover:.1%}", label="turnover"),
                    mo.stat(f"{_e.net_realized_gain:,.0f}", label="net realized gain, USD"),
                    mo.stat(f"{_e.est_tax:,.0f}", label="estimated tax, USD"),
                    mo.stat(f"{_e.te_before:.2%} → {_e.te_after:.2%}", label="tracking error"),
                ]
            ),
            mo.callout(mo.md(f"```\n{_e.text()}\n```"), kind=_kind),
        ]
    )
    return (proposal,)


@app.cell
def _(proposal, risk, wbook, who):
    _alloc = whatif.plan_allocation(wbook, who, proposal, risk=risk)
    _long = _alloc.unpivot(index="asset_class", on=["today", "after", "target"], variable_name="when", value_name="weight")
    _chart = (
        alt.Chart(_long)
        .mark_bar()
        .encode(
            x=alt.X("weight:Q", axis=alt.Axis(format="%")),
            y=alt.Y("asset_class:N", title=None, sort=_alloc["asset_class"].to_list()),
            yOffset=alt.YOffset("when:N", sort=["today", "after", "target"]),
            color=alt.Color("when:N", sort=["today", "after", "target"], scale=alt.Scale(range=["#9aa5b1", "#1f77b4", "#2ca02c"])),
            tooltip=["asset_class", "when", alt.Tooltip("weight:Q", format=".2%")],
        )
        .properties(width=460, title="Asset allocation: today, after the plan, and the account's target")
    )
    mo.vstack(
        [
            mo.ui.altair_chart(_chart),
            mo.ui.table(proposal.orders.drop("as_of", "trade_date", "account_id"), label="Orders, with their reasons", selection=None, page_size=12),
            mo.download(whatif.proposal_csv(proposal), filename=f"proposal_{who}.csv", mimetype="text/csv", label="Download the proposal (CSV)"),
        ]
    )
    return


@app.cell
def _():
    years = mo.ui.slider(1, 5, value=3, label="Years", show_value=True)
    explore = mo.ui.run_button(label="Compute the tax / tracking-error curve and the schedule", kind="success")
    mo.vstack([mo.md("## Tax cost against tracking error, and the schedule"), mo.hstack([years, explore], justify="start")])
    return explore, years


@app.cell
def _(explore, risk, wbook, who, years):
    mo.stop(not explore.value, mo.md("_Click the button: each point re-optimizes the account (about 0.1 s each)._"))
    curve = whatif.gain_budget_curve(wbook, who, whatif.default_budgets(wbook, who), risk=risk)
    passes, _orders = whatif.transition_schedule(wbook, who, risk=risk, years=years.value)
    by_year = whatif.schedule_by_year(passes)
    _curve = curve.with_columns(pl.col("gain_budget").cast(pl.String).fill_null("no budget").alias("budget"))
    _c1 = (
        alt.Chart(_curve)
        .mark_line(point=True)
        .encode(
            x=alt.X("te_after:Q", axis=alt.Axis(format=".2%"), title="tracking error after the plan"),
            y=alt.Y("est_tax:Q", title="estimated tax, USD"),
            order="te_after:Q",
            tooltip=["budget", alt.Tooltip("est_tax:Q", format=",.0f"), alt.Tooltip("te_after:Q", format=".2%"), "n_orders", "relaxed"],
        )
        .properties(width=380, height=260, title="Tax against tracking error (one point per gain budget)")
    )
    _c2 = (
        alt.Chart(passes)
        .mark_line(point=True)
        .encode(
            x=alt.X("trade_date:T", title="review"),
            y=alt.Y("te_after:Q", axis=alt.Axis(format=".2%"), title="tracking error after the review"),
            tooltip=["step", "trade_date", alt.Tooltip("te_after:Q", format=".2%"), alt.Tooltip("est_tax:Q", format=",.0f"), "n_orders"],
        )
        .properties(width=380, height=260, title="Transition schedule (quarterly reviews at today's prices)")
    )
    mo.vstack(
        [
            mo.hstack([_c1, _c2]),
            mo.ui.table(by_year, label="Schedule by calendar year", selection=None),
            mo.ui.table(curve, label="Curve points", selection=None),
        ]
    )
    return


if __name__ == "__main__":
    app.run()
