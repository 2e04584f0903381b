"""`overlay app NAME [--port P] [--host H] [--password-file F] [--store PATH] [--upload DIR]`: serve a
notebook as a read-only web app.

Runs ``marimo run notebooks/NAME.py --headless`` in a child process: the page shows the app's outputs
and controls, never its code (no ``--include-code``; marimo answers 401 on every edit endpoint).
``--password-file`` passes the file to marimo's ``--token-password-file`` (the password is never on a
command line, printed or logged: marimo's own start-up lines are passed through with any
``access_token`` redacted). ``--store`` / ``--upload`` set ``OVERLAY_STORE`` / ``OVERLAY_UPLOAD`` for
the app (docs/apps.md); the apps open only the store's published read-only snapshot.

Notebooks are found in ``$OVERLAY_NOTEBOOKS`` when set, else in the repository's ``notebooks/``
folder (next to the installed ``overlay_core`` package of an editable install).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO, Optional

import typer

from overlay_core.cli._app import app, console, report_error
from overlay_core.errors import ConfigError, OverlayError

NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")
_SECRET_RE = re.compile(r"(access_token=)[^\s&\"']+")


def notebooks_dir() -> Path:
    """Where the app notebooks are: ``$OVERLAY_NOTEBOOKS``, else ``<repository>/notebooks``."""
    env = os.environ.get("OVERLAY_NOTEBOOKS", "").strip()
    if env:
        return Path(env).expanduser()
    return Path(__file__).resolve().parents[2] / "notebooks"


def available_apps(folder: Path | None = None) -> list[str]:
    """The names `overlay app` can serve (notebooks/*.py)."""
    folder = folder or notebooks_dir()
    return sorted(p.stem for p in folder.glob("*.py") if NAME_RE.match(p.stem)) if folder.is_dir() else []


def notebook_path(name: str) -> Path:
    """The notebook of app `name` (no path: a bare name such as ``daily_review``).

    Raises
    ------
    ConfigError : not a bare name, or no such notebook (the message lists the apps).
    """
    folder = notebooks_dir()
    names = available_apps(folder)
    if not NAME_RE.match(name) or name not in names:
        raise ConfigError(f"app {name!r}: expected one of {', '.join(names) or '(none: no notebooks folder found; set OVERLAY_NOTEBOOKS)'}")
    return folder / f"{name}.py"


def marimo_command(path: Path, *, host: str, port: int, password_file: Path | None) -> list[str]:
    """The ``marimo run`` command line (holds no secret: the password stays in its file)."""
    cmd = [sys.executable, "-m", "marimo", "run", str(path), "--headless", "--host", host, "--port", str(port), "--no-skew-protection"]
    if password_file is not None:
        cmd += ["--token-password-file", str(password_file)]
    else:
        cmd += ["--no-token"]
    return cmd


def redact(line: str, secret: str | None = None) -> str:
    """A log line with any ``access_token=...`` and the password itself replaced by ``********``."""
    line = _SECRET_RE.sub(r"\1********", line)
    if secret:
        line = line.replace(secret, "********")
    return line


def _pump(stream: IO[str], out: IO[str], secret: str | None) -> None:
    for line in stream:
        out.write(redact(line, secret))
        out.flush()


def check_password_file(path: Path) -> str:
    """The password in `path` (stripped), checked to be usable; never shown.

    Raises
    ------
    ConfigError : the file is unreadable or empty.
    """
    try:
        secret = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"--password-file {path.name}: cannot be read ({getattr(exc, 'strerror', None) or type(exc).__name__})") from None
    if not secret:
        raise ConfigError(f"--password-file {path.name}: empty; expected the password on its first line")
    return secret


@app.command(name="app")
def serve_app(
    name: str = typer.Argument(..., help="The app: a notebook of notebooks/ (ipc_models, advisor_whatif, daily_review)."),
    port: int = typer.Option(2718, "--port", help="The port to listen on."),
    host: str = typer.Option("127.0.0.1", "--host", help="The interface to listen on (0.0.0.0: every interface)."),
    password_file: Optional[Path] = typer.Option(None, "--password-file", help="A file holding the password viewers must give (never printed)."),
    store: Optional[Path] = typer.Option(None, "--store", help="The store whose published snapshot the app reads (default: $OVERLAY_STORE)."),
    upload: Optional[Path] = typer.Option(None, "--upload", help="An upload folder the app works on (default: $OVERLAY_UPLOAD, else the demo book)."),
) -> None:
    """Serve a notebook as a read-only web app (marimo run; code not sent; optional password)."""
    try:
        path = notebook_path(name)
        secret = check_password_file(password_file) if password_file is not None else None
        if not 0 < port < 65536:
            raise ConfigError(f"--port {port}: expected 1-65535")
    except OverlayError as exc:
        raise typer.Exit(report_error(exc)) from None
    env = dict(os.environ)
    if store is not None:
        env["OVERLAY_STORE"] = str(store.expanduser().absolute())
    if upload is not None:
        env["OVERLAY_UPLOAD"] = str(upload.expanduser().absolute())
    cmd = marimo_command(path, host=host, port=port, password_file=password_file)
    console.print(f"serving [bold]{name}[/] on http://{host}:{port}/ (read-only{', password required' if secret else ''}); Ctrl-C stops it")
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
    pump = threading.Thread(target=_pump, args=(proc.stdout, sys.stdout, secret), daemon=True)
    pump.start()

    def _stop(signum: int, frame: object) -> None:  # noqa: ARG001
        proc.terminate()

    signal.signal(signal.SIGTERM, _stop)
    try:
        code = proc.wait()
    except KeyboardInterrupt:
        proc.terminate()
        code = proc.wait()
    pump.join(timeout=2)
    raise typer.Exit(0 if code in (0, -signal.SIGTERM, -signal.SIGINT) else code)
