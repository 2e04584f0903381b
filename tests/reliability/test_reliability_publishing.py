"""Read-only publishing, the server side (the browser side and the read-only Store object are
tests/apps): the served app sends no notebook code, shows no secret (store path, password) in its pages
or logs, cannot write to the store, and the what-if prospect file is parsed as data only.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from overlay_core.errors import DataError
from overlay_core.store import Store, snapshot_path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from strategies import BookSpec, upload_book  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "notebooks" / "daily_review.py"
PASSWORD = "s3cret-Pa55-for-the-test"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str, timeout: float = 10) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8", "replace")


@pytest.fixture(scope="module")
def store_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from overlay_core.review.daily import review_book

    tmp = tmp_path_factory.mktemp("pub")
    book = upload_book(BookSpec(seed=5, n_securities=8, scenarios=("plain", "pending", "conflict") * 10), tmp / "upload")
    path = tmp / "very-secret-folder" / "overlay.duckdb"
    with Store.open(path) as st:
        review_book(book, store=st, out_dir=None, workers=0, progress=False)
    return path


def _code_lines(nb: Path) -> list[str]:
    """Distinctive source lines of the notebook (long enough not to appear by chance)."""
    return [ln.strip() for ln in nb.read_text().splitlines() if len(ln.strip()) > 40 and not ln.strip().startswith(("#", '"', "'"))]


def test_served_app_sends_no_code_and_no_secret(store_path: Path, tmp_path: Path) -> None:
    if not NOTEBOOK.exists():
        pytest.skip("notebooks/daily_review.py is absent")
    pw = tmp_path / "pw.txt"
    pw.write_text(PASSWORD + "\n")
    before = {p.name: p.stat().st_mtime_ns for p in store_path.parent.iterdir()}
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("OVERLAY_STORE", "OVERLAY_UPLOAD")}
    env["OVERLAY_CACHE_DIR"] = str(tmp_path / "cache")
    log = tmp_path / "app.log"
    with log.open("w") as fh:
        proc = subprocess.Popen(
            [sys.executable, "-c", "from overlay_core.cli import main; main()", "app", "daily_review", "--port", str(port),
             "--password-file", str(pw), "--store", str(store_path)],
            stdout=fh, stderr=subprocess.STDOUT, env=env, start_new_session=True,
        )
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(120):
            try:
                if _get(base + "/health", timeout=2)[0] == 200:
                    break
            except OSError:
                pass
            time.sleep(0.5)
        else:
            pytest.fail("the app did not start: " + log.read_text()[-2000:])
        status, anon = _get(base + "/")
        assert status in (200, 401, 403)
        assert "Daily review" not in anon or status == 200  # without the password: a login page at most
        # log in through marimo's own login form (a session cookie), as a viewer does
        import http.cookiejar
        import urllib.parse

        jar = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        m = re.search(r'<form[^>]*action="([^"]*)"', anon)
        action = urllib.parse.urljoin(base + "/", m.group(1) if m else "/auth/login")
        wrong = opener.open(urllib.request.Request(action, data=urllib.parse.urlencode({"password": "wrong"}).encode(), method="POST"), timeout=10)
        assert "Daily review" not in wrong.read().decode("utf-8", "replace")  # wrong password: still the login page
        with opener.open(urllib.request.Request(action, data=urllib.parse.urlencode({"password": PASSWORD}).encode(), method="POST"), timeout=10) as r:
            page = r.read().decode("utf-8", "replace")
        if "Daily review" not in page:
            with opener.open(base + "/", timeout=10) as r:
                page = r.read().decode("utf-8", "replace")
        assert "Daily review" in page and "marimo" in page, page[-800:]  # the app's page itself
        for line in _code_lines(NOTEBOOK):
            assert line not in page, f"notebook code sent to the viewer: {line!r}"
        assert "dashboard.list_runs" not in page and "open_app_store" not in page
        for secret in (PASSWORD, str(store_path), "very-secret-folder"):
            assert secret not in page and secret not in anon, f"{secret!r} shown in the page"
        # marimo's edit endpoints refuse a viewer, even with the password
        req = urllib.request.Request(base + "/api/kernel/save", data=b"{}", method="POST", headers={"Content-Type": "application/json"})
        try:
            code = urllib.request.urlopen(req, timeout=5).status
        except urllib.error.HTTPError as e:
            code = e.code
        assert code in (401, 403, 404, 405)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    text = log.read_text()
    assert PASSWORD not in text, "the password was logged"
    assert "very-secret-folder" not in text, "the store path was logged"
    # the store was not written by the app (the snapshot is opened read-only; the store file untouched)
    after = {p.name: p.stat().st_mtime_ns for p in store_path.parent.iterdir()}
    assert after == before


def test_the_snapshot_the_apps_open_refuses_writes(store_path: Path, tmp_path: Path) -> None:
    from overlay_core.apps.source import open_app_store

    copy = tmp_path / "s" / "overlay.duckdb"
    copy.parent.mkdir()
    shutil.copy(store_path, copy)
    shutil.copy(snapshot_path(store_path), snapshot_path(copy))
    sha = snapshot_path(copy).read_bytes()
    with open_app_store(copy) as s:
        assert s.read_only
        with pytest.raises(Exception, match="(?i)read.only"):
            s._connection().execute("INSERT INTO runs SELECT * FROM runs")
    assert snapshot_path(copy).read_bytes() == sha


MALICIOUS: dict[str, tuple[bytes, str]] = {
    "formula in the symbol": (b"lot_id,symbol,shares,cost_basis,acquired\nL1,=HYPERLINK(\"http://x\"),10,900,2024-01-02\n", "symbol"),
    "huge number": (b"lot_id,symbol,shares,cost_basis,acquired\nL1,WA,1e400,900,2024-01-02\n", "shares"),
    "huge basis": (b"lot_id,symbol,shares,cost_basis,acquired\nL1,WA,10,-1e308,2024-01-02\n", "cost_basis"),
    "path as a symbol": (b"lot_id,symbol,shares,cost_basis,acquired\nL1,../../etc/passwd,10,900,2024-01-02\n", "symbol"),
    "path as a date": (b"lot_id,symbol,shares,cost_basis,acquired\nL1,WA,10,900,/etc/passwd\n", "acquired"),
    "NaN shares": (b"lot_id,symbol,shares,cost_basis,acquired\nL1,WA,NaN,900,2024-01-02\n", "shares"),
}


@pytest.mark.parametrize("name", list(MALICIOUS))
def test_malicious_prospect_files_are_refused_as_data(name: str, tmp_path: Path) -> None:
    from overlay_core.apps import whatif as W

    book = upload_book(BookSpec(seed=9, n_securities=6, scenarios=("plain",) * 3), tmp_path / "upload")
    data, column = MALICIOUS[name]
    with pytest.raises(DataError) as ei:
        W.prospect_book(book, W.read_prospect_lots(data), W.Settings(target_id="BAL"))
    text = str(ei.value)
    assert re.search(rf"column '{column}'", text), text
    assert "root:" not in text  # nothing was read from a path


def test_oversized_prospect_file_is_refused_before_parsing() -> None:
    from overlay_core.apps import whatif as W

    big = b"lot_id,symbol,shares,cost_basis,acquired\n" + b"L1,WA,10,900,2024-01-02\n" * (W.MAX_PROSPECT_BYTES // 20)
    with pytest.raises(DataError, match="at most 5,242,880 bytes"):
        W.read_prospect_lots(big)
