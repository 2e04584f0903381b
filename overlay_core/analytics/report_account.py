"""One account's one-page HTML report from the store: taxes saved, gains against the budget, the review
evidence (every day reviewed, the decision and its reason) and every trade explained.

`account_report(store, account_id)` -> `AccountReport` (the frames); `render_account(report)` -> HTML
(great-tables tables, altair charts rendered to inline SVG: no network, `charts` module).

Figures:

- **losses harvested**: the sum over the stored runs of the evidence's ``losses_harvested`` (USD);
- **tax saved by harvesting**: over every stored SELL of the account at a loss, ``-est_realized_gain x``
  the account's rate of the line's term (short: ``st_rate``, long: ``lt_rate``) — the tax those losses
  offset at the stated rates;
- **gains deferred**: the embedded (unrealized) gain of the account's lots on the latest upload, and the
  tax on it at the long-term rate: tax not paid (yet) because those lots were not sold;
- **gains year to date**: ``ytd_realized_st + ytd_realized_lt`` of the latest upload, plus the latest
  run's proposed net gain, against ``gain_budget``.
"""

from __future__ import annotations

import datetime as dt
import html
import json
from dataclasses import dataclass
from typing import Any

import altair as alt
import polars as pl
from great_tables import GT

from overlay_core.analytics import charts
from overlay_core.book import Book
from overlay_core.calendar import business_days
from overlay_core.contract import REASONS
from overlay_core.errors import ConfigError
from overlay_core.tax.holding import is_long_term


@dataclass(frozen=True)
class AccountReport:
    """What the account page shows (frames from the store, figures in USD and fractions)."""

    account_id: str
    book: Book
    account: dict[str, Any]
    history: pl.DataFrame
    orders: pl.DataFrame
    kpis: dict[str, float]
    missing_days: tuple[dt.date, ...]


def _text(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, str):
        try:
            x = json.loads(v)
        except (ValueError, TypeError):
            return v
        return x if isinstance(x, str) else json.dumps(x)[:500]
    return str(v)


def account_report(store: Any, account_id: str, *, max_runs: int = 250) -> AccountReport:
    """Gather the account's report from an open `Store` (the latest upload holding the account).

    Raises
    ------
    ConfigError : the account has no stored review and is in no stored upload.
    """
    hist = store.account_history(account_id)
    hist = hist.filter(pl.col("kind") != "backtest") if hist.height else hist
    uploads = store.uploads()
    if uploads.height == 0:
        raise ConfigError(f"account {account_id}: the store {store.path} holds no upload; load one first")
    book = None
    for r in uploads.sort("as_of", descending=True).iter_rows(named=True):
        b = store.load_upload(upload_id=r["upload_id"])
        if account_id in set(b.accounts["account_id"].to_list()):
            book = b
            break
    if book is None and hist.height == 0:
        raise ConfigError(f"account {account_id!r}: not in any stored upload and never reviewed (store {store.path})")
    if book is None:
        book = store.load_upload(upload_id=uploads.sort("as_of")["upload_id"][-1])
    acc_rows = book.accounts.filter(pl.col("account_id") == account_id)
    account = acc_rows.row(0, named=True) if acc_rows.height else {"account_id": account_id, "st_rate": book.policy.rebalance.st_rate, "lt_rate": book.policy.rebalance.lt_rate}
    st_rate = float(account.get("st_rate") or book.policy.rebalance.st_rate)
    lt_rate = float(account.get("lt_rate") or book.policy.rebalance.lt_rate)

    hist = hist.sort("as_of").tail(max_runs)
    frames = []
    for rid in hist["run_id"].unique(maintain_order=True).to_list():
        o = store.run_orders(rid)
        if o.height:
            frames.append(o.filter(pl.col("account_id") == account_id))
    orders = pl.concat(frames, how="diagonal_relaxed") if frames else pl.DataFrame(schema={"as_of": pl.Date(), "symbol": pl.String(), "side": pl.String(), "shares": pl.Float64(), "est_value": pl.Float64(), "est_realized_gain": pl.Float64(), "term": pl.String(), "reason": pl.String(), "run_id": pl.String()})

    loss = orders.filter((pl.col("side") == "SELL") & (pl.col("est_realized_gain") < 0)) if orders.height else orders
    saved = float(loss.select((-pl.col("est_realized_gain") * pl.when(pl.col("term") == "long").then(lt_rate).otherwise(st_rate)).sum()).item()) if loss.height else 0.0
    px = book.price_map
    lots = book.lots.filter(pl.col("account_id") == account_id)
    gains = [(q * px.get(s, 0.0) - (b or 0.0)) for s, q, b in lots.select("symbol", "shares", "cost_basis").iter_rows()]
    longs = is_long_term(lots["acquired"].to_numpy().astype("datetime64[D]"), book.trade_date) if lots.height else []
    embedded = float(sum(gains))
    deferred_tax = float(sum(g * (lt_rate if lg else st_rate) for g, lg in zip(gains, longs) if g > 0))
    value = float(account.get("cash") or 0.0) + float(sum(q * px.get(s, 0.0) for s, q in lots.select("symbol", "shares").iter_rows()))
    ytd = float(account.get("ytd_realized_st") or 0.0) + float(account.get("ytd_realized_lt") or 0.0)
    last_gain = float(orders.filter(pl.col("as_of") == orders["as_of"].max())["est_realized_gain"].fill_null(0.0).sum()) if orders.height else 0.0
    kpis = {
        "value": value,
        "losses_harvested": float(hist["losses_harvested"].fill_null(0.0).sum()) if hist.height else 0.0,
        "tax_saved": saved,
        "embedded_gain": embedded,
        "tax_deferred": deferred_tax,
        "ytd_realized": ytd,
        "proposed_gain": last_gain,
        "gain_budget": float(account["gain_budget"]) if account.get("gain_budget") is not None else float("nan"),
        "days_reviewed": float(hist["as_of"].n_unique()) if hist.height else 0.0,
    }
    missing: tuple[dt.date, ...] = ()
    if hist.height:
        span = business_days(hist["as_of"].min(), hist["as_of"].max())
        seen = set(hist["as_of"].to_list())
        missing = tuple(d for d in span if d not in seen)
    return AccountReport(account_id, book, account, hist, orders, kpis, missing)


def _money(x: float) -> str:
    return "n/a" if x != x else f"{x:,.0f} USD"


def render_account(r: AccountReport) -> str:
    """The one-page HTML (no script, no external reference)."""
    k = r.kpis
    budget = k["gain_budget"]
    used = k["ytd_realized"] + k["proposed_gain"]
    kpi = [
        ("Account value", _money(k["value"])),
        ("Losses harvested (all reviews)", _money(k["losses_harvested"])),
        ("Tax saved by harvesting", _money(k["tax_saved"])),
        ("Unrealized gain, net (deferred)", _money(k["embedded_gain"])),
        ("Tax deferred (on lots at a gain)", _money(k["tax_deferred"])),
        ("Gains realized YTD (latest proposal)", f"{_money(k['ytd_realized'])} ({k['proposed_gain']:+,.0f})"),
        ("Gain budget", "none" if budget != budget else f"{_money(budget)} ({used / budget:.0%} used)" if budget else _money(budget)),
        ("Days reviewed", f"{k['days_reviewed']:.0f}" + (f" ({len(r.missing_days)} business day(s) missing)" if r.missing_days else " (every business day)")),
    ]
    sections = ["<div class=\"grid\">" + "".join(f"<div class=\"kpi\">{html.escape(a)}<b>{html.escape(b)}</b></div>" for a, b in kpi) + "</div>"]
    h = r.history
    if h.height:
        te = h.select("as_of", pl.col("te_before").alias("before"), pl.col("te_after").alias("after")).unpivot(index="as_of", variable_name="when", value_name="te")
        ch = alt.Chart(te).mark_line(point=True).encode(
            x=alt.X("as_of:T", title=None), y=alt.Y("te:Q", title="tracking error", axis=alt.Axis(format="%")), color="when:N"
        ).properties(width=480, height=200, title="Tracking error before and after each review")
        lh = h.select("as_of", pl.col("losses_harvested").fill_null(0.0).cum_sum().alias("losses harvested (cumulative)"))
        ch2 = alt.Chart(lh).mark_area(opacity=0.6).encode(x=alt.X("as_of:T", title=None), y=alt.Y("losses harvested (cumulative):Q", title="USD")).properties(width=380, height=200, title="Losses harvested")
        sections.append(charts.chart_block(alt.hconcat(ch, ch2)))
        ev = h.select(
            "as_of", "decision", pl.col("reasons").fill_null(""), "te_before", "te_after", pl.col("n_orders").fill_null(0), "turnover",
            pl.col("est_tax").fill_null(0.0), pl.col("losses_harvested").fill_null(0.0), "run_id",
        ).sort("as_of", descending=True)
        gt = (
            GT(ev.head(60))
            .fmt_percent(["te_before", "te_after", "turnover"], decimals=2)
            .fmt_number(["est_tax", "losses_harvested"], decimals=0)
            .fmt_date("as_of", date_style="iso")
            .sub_missing(missing_text="")
            .tab_source_note("est_tax < 0 is a tax saving; every business day between the first and the last review should appear.")
        )
        sections.append(charts.table_block(gt, title=f"Review evidence ({h.height} reviews, latest first)"))
        if r.missing_days:
            sections.append(f"<p class=\"note\">Business days without a stored review: {html.escape(', '.join(map(str, r.missing_days[:30])))}</p>")
    else:
        sections.append("<p class=\"note\">No review of this account is stored yet.</p>")
    o = r.orders
    if o.height:
        tr = o.select(
            "as_of", "side", "symbol", "shares", "est_value", "est_realized_gain", pl.col("term").fill_null(""), "reason",
        ).sort("as_of", "side", "symbol", descending=[True, True, False])
        gt = (
            GT(tr.head(80))
            .fmt_number(["shares"], decimals=0)
            .fmt_number(["est_value", "est_realized_gain"], decimals=2)
            .fmt_date("as_of", date_style="iso")
            .sub_missing(missing_text="")
            .tab_source_note(f"reason: {', '.join(REASONS)} (the first that applies, in this order: docs/trade_file.md).")
        )
        sections.append(charts.table_block(gt, title=f"Trades ({o.height} lines, latest first)"))
        if h.height and "explanation" in h.columns:
            traded = set(o["as_of"].to_list())
            items = [
                f"<li><b>{d}</b> ({html.escape(str(dec))}): <pre class=\"note\" style=\"white-space:pre-wrap;margin:2px 0\">{html.escape(_text(e))}</pre></li>"
                for d, dec, e in h.sort("as_of", descending=True).select("as_of", "decision", "explanation").iter_rows()
                if d in traded and e
            ]
            if items:
                sections.append("<h2>Why each day's trades (the optimizer's explanation)</h2><ul>" + "".join(items[:40]) + "</ul>")
    a = r.account
    sub = f"target {a.get('target_id', '?')} - {a.get('tax_status', '?')} - household {a.get('household_id', '?')} - as of {r.book.as_of} - rates {float(a.get('st_rate') or 0):.0%} short / {float(a.get('lt_rate') or 0):.0%} long"
    return charts.page(f"Account {r.account_id}", sections, subtitle=sub)
