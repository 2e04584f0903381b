"""The account and book reports: content from the store, and no network reference in the page."""

from __future__ import annotations

import re
from pathlib import Path

import polars as pl
import pytest

from overlay_core.analytics.report_account import account_report, render_account
from overlay_core.analytics.report_book import book_report, render_book
from overlay_core.errors import ConfigError
from overlay_core.store import Store

EXTERNAL = re.compile(r"""<(script|link|img|iframe)[^>]*(src|href)\s*=\s*["']?\s*(https?:)?//""", re.I)


def _no_network(page: str) -> None:
    assert not EXTERNAL.search(page), EXTERNAL.search(page)
    assert "<script" not in page.lower()
    assert not re.search(r"url\(\s*['\"]?https?://", page), "a CSS url() to the network"
    assert "@import" not in page


def test_account_report(report_store: Path) -> None:
    with Store.open(report_store, read_only=True) as st:
        r = account_report(st, "A001")
    assert r.history.height == 5  # every simulated day reviewed
    assert r.kpis["days_reviewed"] == 5
    assert r.missing_days == ()
    assert r.orders.height > 0  # day 1 invested the cash
    page = render_account(r)
    _no_network(page)
    assert "Account A001" in page and "Review evidence (5 reviews" in page
    assert page.count("<svg") >= 1
    # the tax saved is the stored loss sales at the account's rates (hand sum)
    loss = r.orders.filter((pl.col("side") == "SELL") & (pl.col("est_realized_gain") < 0))
    want = sum(-g * (0.15 if t == "long" else 0.35) for g, t in loss.select("est_realized_gain", "term").iter_rows())
    assert r.kpis["tax_saved"] == pytest.approx(want)


def test_account_report_unknown_account(report_store: Path) -> None:
    with Store.open(report_store, read_only=True) as st, pytest.raises(ConfigError, match="'NOPE': not in any stored upload"):
        account_report(st, "NOPE")


def test_book_report(report_store: Path) -> None:
    with Store.open(report_store, read_only=True) as st:
        r = book_report(st)
    assert r.drift.summary.height == 4
    assert r.by_target["accounts"].to_list() == [4]
    assert r.over_time["as_of"].n_unique() == 5
    # holding returns exist from the second day on, and differ across accounts only a little
    assert r.over_time["return_std"].drop_nulls().len() == 4
    drv = r.drivers.filter(pl.col("account_id") == "A002")
    assert drv["customizations"][0] == 1
    page = render_book(r)
    _no_network(page)
    assert "Dispersion across accounts of the same target" in page and page.count("<svg") >= 2


def test_report_cli(report_store: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    import overlay_core.cli  # noqa: F401 - registers every command
    from overlay_core.cli._app import app

    runner = CliRunner()
    out = tmp_path / "a.html"
    res = runner.invoke(app, ["report", "account", "A003", "--store", str(report_store), "--out", str(out)])
    assert res.exit_code == 0, res.output
    _no_network(out.read_text())
    res = runner.invoke(app, ["report", "book", "--store", str(report_store), "--out", str(tmp_path / "b.html")])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["report", "account", "ZZZ", "--store", str(report_store), "--out", str(out)])
    assert res.exit_code == 2 and "not in any stored upload" in res.output


@pytest.mark.browser
def test_reports_render_offline_in_a_browser(report_store: Path, tmp_path: Path) -> None:
    """Chromium with every network request aborted: the pages render their charts and tables."""
    if not Path("/usr/bin/chromium").exists():
        pytest.skip("no /usr/bin/chromium")
    pw = pytest.importorskip("playwright.sync_api")
    with Store.open(report_store, read_only=True) as st:
        pages = {"account": render_account(account_report(st, "A001")), "book": render_book(book_report(st))}
    args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"]
    with pw.sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=args)
        try:
            for name, html in pages.items():
                f = tmp_path / f"{name}.html"
                f.write_text(html)
                page = browser.new_page()
                requested: list[str] = []
                errors: list[str] = []

                def block(route, request) -> None:  # noqa: ANN001
                    requested.append(request.url)
                    route.abort()

                page.route(re.compile(r"^(https?|wss?)://"), block)
                page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
                page.goto(f.as_uri(), wait_until="load")
                svgs = page.locator("div.chart svg")
                assert svgs.count() >= 1
                box = svgs.first.bounding_box()
                assert box is not None and box["width"] > 100 and box["height"] > 50
                # the charts drew marks (paths), the tables have rows
                assert page.locator("div.chart svg path").count() > 5
                assert page.locator("table tr").count() > 3
                assert requested == [] and errors == []
                page.close()
        finally:
            browser.close()
