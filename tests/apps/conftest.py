"""Fixtures of the apps' tests: the demo book, a store holding a real review run, a browser page."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from appkit import CHROMIUM, CHROMIUM_ARGS, STORE_ACCOUNTS, PageWatch


@pytest.fixture(scope="session")
def demo_book():
    from overlay_core.demo.generate import demo_upload_dir
    from overlay_core.upload import read_upload

    return read_upload(demo_upload_dir())


@pytest.fixture(scope="session")
def review_store(tmp_path_factory: pytest.TempPathFactory, demo_book) -> Path:
    """A store with the demo upload and one finished review run of real optimizer proposals."""
    from overlay_core.apps.demo_store import build_review_store

    path = tmp_path_factory.mktemp("store") / "overlay.duckdb"
    build_review_store(path, demo_book, accounts=STORE_ACCOUNTS)
    return path


@pytest.fixture(scope="session")
def app_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The environment of served apps and notebook scripts: a private cache folder, no user settings."""
    env = {k: v for k, v in os.environ.items() if k not in ("OVERLAY_STORE", "OVERLAY_UPLOAD")}
    env["OVERLAY_CACHE_DIR"] = str(tmp_path_factory.mktemp("cache"))
    return env


@pytest.fixture(scope="session")
def browser():
    if not CHROMIUM.exists():
        pytest.skip("/usr/bin/chromium is absent: install it with `apt-get install -y chromium` to run the browser tests")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def new_page(browser):
    contexts = []

    def make() -> PageWatch:
        ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
        contexts.append(ctx)
        return PageWatch(ctx.new_page())

    yield make
    for c in contexts:
        c.close()
