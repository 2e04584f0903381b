"""First render and control-change times of the published apps in a real browser (headless chromium).

    python benchmarks/bench_apps.py [--repeat 2] [--source store|demo]

Each app is served with ``overlay app NAME`` (the same harness as tests/apps), loaded in a fresh page;
we time page load -> key output visible (first render), then one control change -> output changed.
``--source store`` (default) reads a store holding the daily review of the households of the first 40
demo accounts (its upload is those 41 accounts, which every app then works on); ``--source demo`` lets
ipc_models and advisor_whatif read the demo upload folder (CSV, 1,000 accounts) and daily_review build
its demo store on first use.
Prints one line per app and measurement (best and worst of the repeats), in seconds.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "apps"))

from appkit import CHROMIUM, CHROMIUM_ARGS, STORE_ACCOUNTS, served  # noqa: E402


def _changed(loc, before: str, timeout: float = 60.0) -> None:  # noqa: ANN001
    end = time.monotonic() + timeout
    while loc.inner_text() == before:
        if time.monotonic() > end:
            raise RuntimeError("no change")
        time.sleep(0.02)


def ipc_models(page, url: str) -> tuple[float, float]:  # noqa: ANN001
    t0 = time.perf_counter()
    page.goto(url, wait_until="domcontentloaded")
    line = page.get_by_text(re.compile("accounts follow the change")).first
    line.wait_for(timeout=120_000)
    page.locator("marimo-vega canvas, .vega-embed canvas").first.wait_for(timeout=120_000)
    first = time.perf_counter() - t0
    before = line.inner_text()
    sel = page.locator("marimo-dropdown select")
    t1 = time.perf_counter()
    sel.nth(1).select_option(index=1)
    sel.nth(2).select_option(label="VOO")
    _changed(line, before)
    return first, time.perf_counter() - t1


def advisor_whatif(page, url: str) -> tuple[float, float]:  # noqa: ANN001
    t0 = time.perf_counter()
    page.goto(url, wait_until="domcontentloaded")
    page.get_by_text(re.compile(r"The transition plan for")).first.wait_for(timeout=120_000)
    page.locator("marimo-vega canvas, .vega-embed canvas").first.wait_for(timeout=120_000)
    first = time.perf_counter() - t0
    plan = page.locator("pre").filter(has_text="tracking error").first
    before = plan.inner_text()
    target = page.locator("marimo-dropdown select").first
    other = next(v for v in target.locator("option").all_inner_texts() if v != target.input_value())
    t1 = time.perf_counter()
    target.select_option(label=other)
    _changed(plan, before)
    return first, time.perf_counter() - t1


def daily_review(page, url: str) -> tuple[float, float]:  # noqa: ANN001
    t0 = time.perf_counter()
    page.goto(url, wait_until="domcontentloaded")
    line = page.get_by_text(re.compile(r"Showing \d+ of \d+")).first
    line.wait_for(timeout=300_000)
    page.locator("marimo-vega canvas, .vega-embed canvas").first.wait_for(timeout=120_000)
    first = time.perf_counter() - t0
    before = line.inner_text()
    box = page.locator("marimo-text input").first
    t1 = time.perf_counter()
    box.fill("A00001")
    box.press("Enter")
    _changed(line, before)
    return first, time.perf_counter() - t1


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--source", choices=("store", "demo"), default="store")
    ap.add_argument("--screenshots", type=Path, default=None, help="save a 1280x860 screenshot of each app (after the change) here")
    args = ap.parse_args()
    if not CHROMIUM.exists():
        sys.exit("/usr/bin/chromium is absent: apt-get install -y chromium")
    from playwright.sync_api import sync_playwright

    tmp = Path(tempfile.mkdtemp(prefix="bench_apps-"))
    env = {k: v for k, v in os.environ.items() if k not in ("OVERLAY_STORE", "OVERLAY_UPLOAD")}
    env["OVERLAY_CACHE_DIR"] = str(tmp / "cache")
    (tmp / "cache").mkdir()
    store = None
    if args.source == "store":
        from overlay_core.apps.demo_store import build_review_store
        from overlay_core.demo.generate import demo_upload_dir
        from overlay_core.upload import read_upload

        store = tmp / "store" / "overlay.duckdb"
        build_review_store(store, read_upload(demo_upload_dir()), accounts=STORE_ACCOUNTS)
    print(f"source: {args.source}; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        for name, fn in (("ipc_models", ipc_models), ("advisor_whatif", advisor_whatif), ("daily_review", daily_review)):
            firsts, changes = [], []
            for _ in range(args.repeat):
                with served(name, env, store=store, timeout=300) as (url, _proc):
                    ctx = browser.new_context(viewport={"width": 1280, "height": 860})
                    page = ctx.new_page()
                    f, c = fn(page, url)
                    if args.screenshots is not None:
                        args.screenshots.mkdir(parents=True, exist_ok=True)
                        anchor = {"ipc_models": "New asset allocation", "advisor_whatif": "The transition plan for"}.get(name)
                        page.set_viewport_size({"width": 1280, "height": 3000})
                        page.wait_for_timeout(3000)
                        y = 0.0
                        if anchor:
                            box = page.get_by_text(anchor).first.bounding_box()
                            y = max(0.0, box["y"] - 10) if box else 0.0
                        page.screenshot(path=str(args.screenshots / f"{name}.png"), clip={"x": 0, "y": y, "width": 1280, "height": 860})
                    ctx.close()
                firsts.append(f)
                changes.append(c)
            print(f"{name:15s} first render {min(firsts):6.2f}-{max(firsts):6.2f} s   control change {min(changes):5.2f}-{max(changes):5.2f} s")
        browser.close()


if __name__ == "__main__":
    main()
