"""Helpers of the apps' tests and benchmark: serve an app in the background, a watched browser page.

(A module of its own, not conftest.py: the test folders' conftest modules share one module name.)
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Iterator

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: accounts in the test store's review run (whole households)
STORE_ACCOUNTS = 40


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def served(name: str, env: dict[str, str], *, password_file: Path | None = None, store: Path | None = None, timeout: float = 60.0) -> Iterator[tuple[str, subprocess.Popen]]:
    """Start ``overlay app NAME --port P`` in the background, wait for /health, yield (url, process);
    stop it by its PID afterwards."""
    port = free_port()
    cmd = [sys.executable, "-c", "from overlay_core.cli import main; main()", "app", name, "--port", str(port)]
    if password_file is not None:
        cmd += ["--password-file", str(password_file)]
    if store is not None:
        cmd += ["--store", str(store)]
    log = open(Path(env["OVERLAY_CACHE_DIR"]) / f"{name}-{port}.log", "w+")
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                log.seek(0)
                raise RuntimeError(f"overlay app {name} exited with {proc.returncode}:\n{log.read()}")
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"overlay app {name} did not answer /health within {timeout} s")
            time.sleep(0.2)
        yield url, proc
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()
        log.seek(0)
        served.last_log = log.read()  # type: ignore[attr-defined]
        log.close()


class PageWatch:
    """A page with its console errors and failed requests collected."""

    def __init__(self, page) -> None:  # noqa: ANN001 - a playwright Page
        self.page = page
        self.console_errors: list[str] = []
        self.failed: list[str] = []
        page.on("console", lambda m: self.console_errors.append(f"{m.text} ({(m.location or {}).get('url', '')})") if m.type == "error" else None)
        page.on("pageerror", lambda e: self.console_errors.append(f"pageerror: {e}"))
        page.on("requestfailed", lambda r: self.failed.append(f"{r.method} {r.url}: {r.failure}"))
        page.on("response", lambda r: self.failed.append(f"{r.request.method} {r.url}: HTTP {r.status}") if r.status >= 400 else None)

    def assert_clean(self) -> None:
        assert self.console_errors == [], f"console errors: {self.console_errors}; failed requests: {self.failed}"
        assert self.failed == [], f"failed requests: {self.failed}"
