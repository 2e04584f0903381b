"""The book's one-page HTML report from the store: drift distribution, accounts outside their bands,
dispersion across accounts of the same target (now and over time) and what drives it.

`book_report(store)` -> `BookReport`; `render_book(report)` -> HTML (no network: `charts` module).
The latest upload is the book; drift and tracking error are recomputed on it (`targets.drift`); the
dispersion over time reads the stored review runs (`dispersion.dispersion_over_time`).
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any

import altair as alt
import polars as pl
from great_tables import GT

from overlay_core.analytics import charts
from overlay_core.analytics.dispersion import book_drift, dispersion_drivers, dispersion_over_time, driver_summary, weight_dispersion
from overlay_core.book import Book
from overlay_core.errors import ConfigError
from overlay_core.targets.drift import Drift


@dataclass(frozen=True)
class BookReport:
    book: Book
    drift: Drift
    by_target: pl.DataFrame
    drivers: pl.DataFrame
    driver_summary: pl.DataFrame
    over_time: pl.DataFrame
    latest_run: pl.DataFrame


def book_report(store: Any, *, last_runs: int = 30) -> BookReport:
    """Gather the book's report from an open `Store` (its latest upload and review runs)."""
    uploads = store.uploads()
    if uploads.height == 0:
        raise ConfigError(f"the store {store.path} holds no upload; load one (overlay load / overlay demo) first")
    book = store.load_upload(as_of=uploads["as_of"].max())
    d = book_drift(book)
    drivers = dispersion_drivers(book, d)
    runs = store.runs()
    reviews = runs.filter(pl.col("kind").is_in(["review", "simulation"])) if runs.height else runs
    latest = store.run_results(reviews.sort("as_of")["run_id"][-1]) if reviews.height else pl.DataFrame()
    return BookReport(
        book=book,
        drift=d,
        by_target=weight_dispersion(book, d),
        drivers=drivers,
        driver_summary=driver_summary(drivers),
        over_time=dispersion_over_time(store, last=last_runs),
        latest_run=latest,
    )


def render_book(r: BookReport) -> str:
    """The one-page HTML (no script, no external reference)."""
    s = r.drift.summary
    n = s.height
    outside = s.filter(pl.col("needs_rebalance"))
    kpi = [
        ("Accounts", f"{n:,}"),
        ("Targets", f"{r.by_target.height:,}"),
        ("Outside their bands", f"{outside.height:,} ({outside.height / n:.1%})" if n else "0"),
        ("Median tracking error", f"{s['tracking_error'].median():.2%}" if n and s["tracking_error"].null_count() < n else "n/a"),
        ("Median max drift", f"{s['max_abs_drift'].median():.2%}" if n else "n/a"),
    ]
    if r.latest_run.height:
        counts = r.latest_run.group_by("decision").agg(pl.len()).sort("decision")
        kpi.append(("Latest review", ", ".join(f"{dcs} {c}" for dcs, c in counts.iter_rows())))
    sections = ["<div class=\"grid\">" + "".join(f"<div class=\"kpi\">{html.escape(a)}<b>{html.escape(b)}</b></div>" for a, b in kpi) + "</div>"]

    dist = s.select("max_abs_drift", "tracking_error", "needs_rebalance")
    h1 = alt.Chart(dist).mark_bar().encode(
        x=alt.X("max_abs_drift:Q", bin=alt.Bin(maxbins=30), title="largest |security drift|", axis=alt.Axis(format="%")),
        y=alt.Y("count():Q", title="accounts"),
        color=alt.Color("needs_rebalance:N", title="outside bands"),
    ).properties(width=420, height=200, title="Drift distribution")
    h2 = alt.Chart(dist.drop_nulls("tracking_error")).mark_bar().encode(
        x=alt.X("tracking_error:Q", bin=alt.Bin(maxbins=30), title="ex-ante tracking error", axis=alt.Axis(format="%")),
        y=alt.Y("count():Q", title="accounts"),
    ).properties(width=420, height=200, title="Tracking error distribution")
    sections.append(charts.chart_block(alt.hconcat(h1, h2)))

    out_t = outside.join(r.drivers.select("account_id", "target_id", "cash_weight", "customizations", "gain_share"), on="account_id", how="left").sort("max_abs_drift", descending=True)
    if out_t.height:
        gt = GT(out_t.select("account_id", "target_id", "max_abs_drift", "max_class_drift", "asset_class_breaches", "security_breaches", "tracking_error", "cash_weight", "customizations", "gain_share").head(25)).fmt_percent(
            ["max_abs_drift", "max_class_drift", "tracking_error", "cash_weight", "gain_share"], decimals=2
        )
        sections.append(charts.table_block(gt, title=f"Accounts outside their bands ({outside.height}; the 25 farthest)"))

    gt = GT(r.by_target).fmt_percent(["weight_spread", "weight_spread_max", "te_p10", "te_p50", "te_p90", "drift_p50", "drift_p90"], decimals=2).tab_source_note(
        "weight_spread: mean over the target's securities of the standard deviation of the weight across its accounts."
    )
    sections.append(charts.table_block(gt, title="Dispersion across accounts of the same target"))

    ot = r.over_time
    if ot.height and ot["as_of"].n_unique() > 1:
        base = alt.Chart(ot).encode(x=alt.X("as_of:T", title=None), color=alt.Color("target_id:N"))
        c1 = (base.mark_area(opacity=0.15).encode(y=alt.Y("te_p10:Q", title="tracking error p10-p90, median", axis=alt.Axis(format="%")), y2="te_p90:Q") + base.mark_line().encode(y="te_p50:Q")).properties(width=420, height=220, title="Tracking error across accounts, over time")
        c2 = base.mark_line(point=True).encode(y=alt.Y("return_std:Q", title="std of holding returns across accounts", axis=alt.Axis(format="%"))).properties(width=420, height=220, title="Return dispersion, over time")
        sections.append(charts.chart_block(alt.hconcat(c1, c2)))
    else:
        sections.append("<p class=\"note\">Dispersion over time needs at least two stored review days.</p>")

    gt = GT(r.driver_summary).fmt_percent(["te_with", "te_median_with", "te_without", "te_median_without"], decimals=2).tab_source_note(
        "Mean and median ex-ante tracking error of the accounts with and without each driver (latest upload)."
    )
    sections.append(charts.table_block(gt, title="What drives dispersion"))
    return charts.page("Book: drift and dispersion", sections, subtitle=f"as of {r.book.as_of}, {n:,} accounts")
