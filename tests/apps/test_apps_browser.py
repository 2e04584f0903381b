"""The published apps in a real browser (Debian chromium + Playwright): load, key outputs, no console
errors or failed requests, one control changed, a screenshot; the daily review behind a password.

Each app is started with ``overlay app NAME --port P`` in the background (stopped by its PID). The apps
read the test store's published snapshot (a real review run of demo households) so they start fast.
First-render and control-change times are printed (``pytest -s``) and recorded in docs/apps.md.
"""

from __future__ import annotations

import re
import time

import polars as pl
import pytest

from appkit import served

# A browser test is rerun once, and only when the page reported a transient transport error of one
# of marimo's streamed responses (seen once in CI while the other test worker loaded both cores; never
# reproduced in 5 runs under CPU load). Any other console error or failed request fails at once.
TRANSIENT = ["ERR_INCOMPLETE_CHUNKED_ENCODING"]
pytestmark = [pytest.mark.browser, pytest.mark.flaky(reruns=1, only_rerun=TRANSIENT)]

TIMEOUT = 60_000  # ms: a busy 2-core machine


def timing(app: str, what: str, seconds: float) -> None:
    print(f"\n[apps timing] {app}: {what} {seconds:.2f} s")


def wait_for_text(page, text: str | re.Pattern, timeout: int = TIMEOUT):  # noqa: ANN001, ANN201
    from playwright.sync_api import expect

    loc = page.get_by_text(text).first
    expect(loc).to_be_visible(timeout=timeout)
    return loc


def wait_changed(loc, before: str, timeout: float = TIMEOUT / 1000) -> str:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        now = loc.inner_text()
        if now != before:
            return now
        time.sleep(0.05)
    raise AssertionError(f"the output did not change from {before!r}")


def test_ipc_models_app(app_env, review_store, new_page, tmp_path):
    with served("ipc_models", app_env, store=review_store) as (url, _proc):
        w = new_page()
        page = w.page
        t0 = time.perf_counter()
        page.goto(url, wait_until="domcontentloaded")
        cascade_line = wait_for_text(page, re.compile(r"accounts follow the change"))
        page.locator("marimo-vega canvas, .vega-embed canvas").first.wait_for(timeout=TIMEOUT)
        timing("ipc_models", "first render (page load to cascade and chart)", time.perf_counter() - t0)
        before = cascade_line.inner_text()
        assert "move by 0.00%" in before  # nothing edited yet
        wait_for_text(page, "Download CHANGE.csv")
        # swap the model's first product for another: the cascade moves the targets
        selects = page.locator("marimo-dropdown select")
        swap_from, swap_to = selects.nth(1), selects.nth(2)
        first = swap_from.locator("option").nth(1).get_attribute("value")
        t1 = time.perf_counter()
        swap_from.select_option(index=1)
        swap_to.select_option(label="VOO")
        after = wait_changed(cascade_line, before)
        timing("ipc_models", "control change (swap -> new cascade)", time.perf_counter() - t1)
        assert "move by 0.00%" not in after, (first, after)
        # the expensive part, behind its run button
        page.get_by_role("button", name=re.compile("Optimize the followers")).click()
        t2 = time.perf_counter()
        wait_for_text(page, re.compile(r"optimized followers trade"))
        timing("ipc_models", "run button (optimize 30 followers)", time.perf_counter() - t2)
        page.screenshot(path=str(tmp_path / "ipc_models.png"), full_page=True)
        w.assert_clean()


def test_advisor_whatif_app(app_env, review_store, new_page, tmp_path, demo_book):
    with served("advisor_whatif", app_env, store=review_store) as (url, _proc):
        w = new_page()
        page = w.page
        t0 = time.perf_counter()
        page.goto(url, wait_until="domcontentloaded")
        wait_for_text(page, re.compile(r"The transition plan for A\d+"))
        page.locator("marimo-vega canvas, .vega-embed canvas").first.wait_for(timeout=TIMEOUT)
        timing("advisor_whatif", "first render (plan of the showcase account)", time.perf_counter() - t0)
        plan = page.locator("pre").filter(has_text="tracking error").first
        before = plan.inner_text()
        # another target: a new plan
        target = page.locator("marimo-dropdown select").first
        current = target.input_value()
        other = next(v for v in target.locator("option").all_inner_texts() if v != current)
        t1 = time.perf_counter()
        target.select_option(label=other)
        after = wait_changed(plan, before)
        timing("advisor_whatif", "control change (target -> new plan)", time.perf_counter() - t1)
        assert after != before
        # a prospect's file: parsed as data, validated, planned
        good = tmp_path / "prospect.csv"
        demo_book.lots.filter(pl.col("account_id") == "A000001").drop("account_id").write_csv(good, date_format="%Y-%m-%d")
        t2 = time.perf_counter()
        page.locator("marimo-file input[type=file]").set_input_files(str(good))
        wait_for_text(page, "The transition plan for PROSPECT")
        timing("advisor_whatif", "prospect upload -> plan", time.perf_counter() - t2)
        page.get_by_role("button", name=re.compile("Compute the tax")).click()
        t3 = time.perf_counter()
        wait_for_text(page, "Schedule by calendar year")
        timing("advisor_whatif", "run button (curve of 7 budgets + 3-year schedule)", time.perf_counter() - t3)
        page.screenshot(path=str(tmp_path / "advisor_whatif.png"), full_page=True)
        w.assert_clean()
        bad = tmp_path / "bad.csv"
        bad.write_text("lot_id,symbol,shares,cost_basis,acquired\nL1,AGG,-3,100,2024-01-02\n")
        page.locator("marimo-file input[type=file]").set_input_files(str(bad))
        wait_for_text(page, "The prospect is refused")
        wait_for_text(page, re.compile(r"prospect\.csv, row 1, column 'shares'"))


def login(page, url: str, password: str) -> None:  # noqa: ANN001
    page.goto(url, wait_until="domcontentloaded")
    page.locator("input#password").fill(password)
    page.get_by_role("button", name="Login").click()


def test_daily_review_app_with_password(app_env, review_store, new_page, tmp_path):
    pw_file = tmp_path / "password.txt"
    secret = "correct-horse-battery-9"
    pw_file.write_text(secret + "\n")
    with served("daily_review", app_env, store=review_store, password_file=pw_file) as (url, proc):
        # a wrong password is refused: back on the login form, no app
        wrong = new_page()
        login(wrong.page, url, "wrong-password")
        wrong.page.wait_for_load_state("domcontentloaded")
        assert "/auth/login" in wrong.page.url
        assert wrong.page.locator("input#password").is_visible()
        assert wrong.page.get_by_text("accounts reviewed").count() == 0
        # no page or API without logging in
        import urllib.error
        import urllib.request

        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(f"{url}/api/status", timeout=5)
        assert info.value.code in (401, 403)

        w = new_page()
        page = w.page
        t0 = time.perf_counter()
        login(page, url, secret)
        wait_for_text(page, "accounts reviewed")
        page.locator("marimo-vega canvas, .vega-embed canvas").first.wait_for(timeout=TIMEOUT)
        timing("daily_review", "first render (login to headline and charts)", time.perf_counter() - t0)
        wait_for_text(page, re.compile(r"As of 2026-11-25"))
        html = page.content()
        assert str(review_store.parent) not in html and secret not in html
        assert "open_app_store" not in html  # the code is not sent
        count = wait_for_text(page, re.compile(r"Showing \d+ of \d+"))
        before = count.inner_text()
        t1 = time.perf_counter()
        box = page.locator("marimo-text input").first
        box.fill("A00001")
        box.press("Enter")
        after = wait_changed(count, before)
        timing("daily_review", "control change (account filter -> headline)", time.perf_counter() - t1)
        assert after != before
        wait_for_text(page, re.compile(r"order line\(s\) and why|Account"))
        page.screenshot(path=str(tmp_path / "daily_review.png"), full_page=True)
        w.assert_clean()
    assert secret not in served.last_log  # type: ignore[attr-defined]


def test_daily_review_sees_a_review_written_while_open(app_env, tmp_path, new_page, demo_book):
    """A review writes the store while the app is open; the app reloads the new snapshot."""
    from overlay_core.apps.demo_store import build_review_store

    store = tmp_path / "live" / "overlay.duckdb"
    build_review_store(store, demo_book, accounts=3)
    with served("daily_review", app_env, store=store) as (url, _proc):
        w = new_page()
        page = w.page
        page.goto(url, wait_until="domcontentloaded")
        wait_for_text(page, "accounts reviewed")
        run_select = page.locator("marimo-dropdown select").first
        assert run_select.locator("option").count() == 1
        run2 = build_review_store(store, demo_book, accounts=3, fresh=True)  # the writer, while the app is open
        page.get_by_role("button", name=re.compile("Reload the published snapshot")).click()
        deadline = time.monotonic() + TIMEOUT / 1000
        while run_select.locator("option").count() < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert run_select.locator("option").count() == 2
        assert any(run2 in t for t in run_select.locator("option").all_inner_texts())
        w.assert_clean()


def test_tax_alpha_app(app_env, new_page, tmp_path):
    with served("tax_alpha", app_env) as (url, _proc):
        w = new_page()
        page = w.page
        t0 = time.perf_counter()
        page.goto(url, wait_until="domcontentloaded")
        wait_for_text(page, "Run a backtest")
        prompt = wait_for_text(page, re.compile(r"Click Run the backtest"))
        timing("tax_alpha", "first render (controls)", time.perf_counter() - t0)
        # one year only (a control change), then run
        start = page.locator("marimo-number input").first
        start.fill("2021")
        start.press("Enter")
        page.wait_for_timeout(500)
        assert prompt.is_visible()
        page.get_by_role("button", name="Run the backtest").click()
        t1 = time.perf_counter()
        wait_for_text(page, "optimizer: tax alpha per year", timeout=240_000)
        page.locator("marimo-vega canvas, .vega-embed canvas").first.wait_for(timeout=TIMEOUT)
        timing("tax_alpha", "run button (backtest 2021, monthly, 4 strategies)", time.perf_counter() - t1)
        wait_for_text(page, "Tax alpha and harvest yield by year")
        page.screenshot(path=str(tmp_path / "tax_alpha.png"), full_page=True)
        w.assert_clean()
