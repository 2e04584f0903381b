"""Charts and pages that need no network: altair specs rendered by vl-convert to SVG/PNG, inlined.

Choice (docs/analytics.md "Reports offline"): every chart is rendered **to SVG at build time** with
`vl_convert.vegalite_to_svg` and written into the HTML page itself. The page then holds no script at all
(vl-convert could also give the Vega/Vega-Lite/vega-embed JavaScript as one offline bundle,
`vl_convert.javascript_bundle()`, ~0.9 MB per page; static SVG is smaller, prints, and renders in any
browser with scripts off). PNG files come from `vl_convert.vegalite_to_png`.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Iterable

import altair as alt
import polars as pl
import vl_convert as vlc

#: the palette of strategies (stable across charts)
STRATEGY_COLORS = {"optimizer": "#1f77b4", "heuristic": "#ff7f0e", "naive": "#2ca02c", "buy_and_hold": "#7f7f7f", "target": "#9467bd"}

CSS = """
body { font-family: -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; margin: 24px; color: #222; max-width: 1100px; }
h1 { font-size: 22px; margin-bottom: 2px; } h2 { font-size: 16px; margin-top: 22px; border-bottom: 1px solid #ddd; }
.sub { color: #666; font-size: 12px; } .grid { display: flex; flex-wrap: wrap; gap: 16px; }
.kpi { border: 1px solid #ddd; border-radius: 6px; padding: 8px 12px; min-width: 150px; }
.kpi b { display: block; font-size: 18px; } .chart svg { max-width: 100%; height: auto; }
.note { font-size: 12px; color: #555; }
"""


def _spec(chart: alt.TopLevelMixin) -> dict:
    return chart.to_dict()


def to_svg(chart: alt.TopLevelMixin) -> str:
    """The chart as an SVG document (string), rendered offline."""
    return vlc.vegalite_to_svg(_spec(chart))


def save_png(chart: alt.TopLevelMixin, path: str | Path, *, scale: float = 2.0) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(vlc.vegalite_to_png(_spec(chart), scale=scale))
    return path


def page(title: str, sections: Iterable[str], *, subtitle: str = "") -> str:
    """A complete HTML page (inline CSS; no script, no external link)."""
    body = "\n".join(sections)
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>"
        f"<h1>{html.escape(title)}</h1><div class=\"sub\">{html.escape(subtitle)}</div>{body}</body></html>"
    )


def chart_block(chart: alt.TopLevelMixin, *, title: str = "") -> str:
    svg = to_svg(chart)
    if svg.startswith("<?xml"):
        svg = svg.split("?>", 1)[1]
    head = f"<h2>{html.escape(title)}</h2>" if title else ""
    return f"{head}<div class=\"chart\">{svg}</div>"


def table_block(gt_table, *, title: str = "") -> str:  # noqa: ANN001 - a great_tables.GT
    head = f"<h2>{html.escape(title)}</h2>" if title else ""
    return head + gt_table.as_raw_html()


def save_html(chart: alt.TopLevelMixin, path: str | Path, *, title: str) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page(title, [chart_block(chart)]), encoding="utf-8")
    return path


def wealth_chart(periods: pl.DataFrame, finals: pl.DataFrame, *, baseline: str = "buy_and_hold") -> alt.Chart:
    """Each strategy's mean account value (after the taxes it paid) relative to the baseline's, over time
    (0 % = the baseline; the value of every strategy is on the same dates)."""
    end = finals.select("strategy", "account_id", "date", "value")
    df = pl.concat([periods.select("strategy", "account_id", "date", "value"), end])
    df = df.group_by("strategy", "date").agg(pl.col("value").mean()).sort("strategy", "date")
    base = df.filter(pl.col("strategy") == baseline).select("date", pl.col("value").alias("_b"))
    if base.height:
        df = df.join(base, on="date").with_columns((pl.col("value") / pl.col("_b") - 1.0).alias("relative")).drop("_b")
        y = alt.Y("relative:Q", title=f"after-tax wealth vs {baseline.replace('_', ' ')}", axis=alt.Axis(format="%"))
        title = f"After-tax wealth relative to {baseline.replace('_', ' ')} (mean account)"
    else:
        y = alt.Y("value:Q", title="USD", scale=alt.Scale(type="log"))
        title = "After-tax wealth (mean account, USD)"
    dom = [s for s in STRATEGY_COLORS if s in set(df["strategy"].to_list())]
    return (
        alt.Chart(df)
        .mark_line()
        .encode(
            x=alt.X("date:T", title=None),
            y=y,
            color=alt.Color("strategy:N", scale=alt.Scale(domain=dom, range=[STRATEGY_COLORS[s] for s in dom])),
        )
        .properties(width=640, height=260, title=title)
    )


def by_year_chart(by_year: pl.DataFrame, *, baseline: str = "buy_and_hold") -> alt.Chart:
    """Bars: each strategy's after-tax return minus the baseline's, per year."""
    base = by_year.filter(pl.col("strategy") == baseline).select("year", pl.col("after_tax_return").alias("_b"))
    df = by_year.filter(pl.col("strategy") != baseline).join(base, on="year").with_columns((pl.col("after_tax_return") - pl.col("_b")).alias("excess"))
    dom = [s for s in STRATEGY_COLORS if s in set(df["strategy"].to_list())]
    return (
        alt.Chart(df)
        .mark_bar()
        .encode(
            x=alt.X("year:O", title=None),
            y=alt.Y("excess:Q", title="after-tax return minus buy and hold", axis=alt.Axis(format="%")),
            color=alt.Color("strategy:N", scale=alt.Scale(domain=dom, range=[STRATEGY_COLORS[s] for s in dom])),
            xOffset="strategy:N",
        )
        .properties(width=720, height=240, title="Tax alpha by year (no liquidation)")
    )


def frontier_chart(frontier: pl.DataFrame) -> alt.HConcatChart | alt.LayerChart:
    """Tax alpha (and, when given, its tax-benefit part) against realized tracking error: the optimizer's
    points labelled by risk aversion, and the heuristic's."""
    df = frontier.with_columns(pl.col("label").cast(pl.String)).sort("strategy", "tracking_error")
    dom = [s for s in STRATEGY_COLORS if s in set(df["strategy"].to_list())]

    def panel(col: str, title: str) -> alt.LayerChart:
        base = alt.Chart(df).encode(
            x=alt.X("tracking_error:Q", title="realized tracking error (annualized)", axis=alt.Axis(format="%")),
            y=alt.Y(f"{col}:Q", title=title, axis=alt.Axis(format="%")),
            color=alt.Color("strategy:N", scale=alt.Scale(domain=dom, range=[STRATEGY_COLORS[s] for s in dom])),
            order="tracking_error:Q",
        )
        return (base.mark_line(point=True) + base.mark_text(dx=8, dy=-6, fontSize=10).encode(text="label:N")).properties(width=380, height=280, title=title)

    if "tax_benefit" in df.columns:
        return alt.hconcat(panel("tax_alpha", "tax alpha (per year)"), panel("tax_benefit", "tax benefit part (per year)"))
    return panel("tax_alpha", "tax alpha (per year)")
