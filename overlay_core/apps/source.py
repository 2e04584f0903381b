"""Where an app's data comes from: the embedded demo book, an upload folder, or a store's snapshot.

Settings (environment variables, read when a notebook starts; docs/apps.md):

- ``OVERLAY_UPLOAD``: an upload folder (read with `upload.read_upload`);
- ``OVERLAY_STORE``: a store (`store.Store`); apps open only its **published read-only snapshot**
  (`Store.open_snapshot`), so the daily review can write the store while they are open;
- neither: the embedded demo book (`demo.generate.demo_upload_dir`).

Pages never show a path: `Source.label` names the kind of source and its date only, and `safe_message`
strips paths from an error before a page shows it.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from overlay_core.book import Book
from overlay_core.errors import ConfigError, OverlayError, StoreError
from overlay_core.store import Store

UPLOAD_ENV = "OVERLAY_UPLOAD"
STORE_ENV = "OVERLAY_STORE"


@dataclass(frozen=True)
class Source:
    """The book an app works on and what it came from.

    Attributes
    ----------
    kind : ``demo``, ``upload`` or ``store``.
    book : the day's validated book.
    label : what a page may show (no path): e.g. ``demo book, as of 2026-11-25``.
    """

    kind: Literal["demo", "upload", "store"]
    book: Book
    label: str


def _env_path(name: str) -> Path | None:
    value = os.environ.get(name, "").strip()
    return Path(value).expanduser() if value else None


def configured_store() -> Path | None:
    """The store named by ``OVERLAY_STORE`` (None when unset or empty)."""
    return _env_path(STORE_ENV)


def open_app_store(path: str | Path | None = None) -> Store:
    """The published snapshot of the store at `path` (default ``OVERLAY_STORE``), opened read-only.

    Every write method of the returned `Store` raises `StoreError`, and DuckDB refuses writes too.

    Raises
    ------
    ConfigError : no store given and ``OVERLAY_STORE`` unset.
    StoreError : no snapshot published yet, or it cannot be opened.
    """
    p = Path(path) if path is not None else configured_store()
    if p is None:
        raise ConfigError(f"no store: set {STORE_ENV} to the store the daily review writes")
    return Store.open_snapshot(p)


def load_source(*, upload: str | Path | None = None, store: str | Path | None = None) -> Source:
    """The app's book: `upload` (or ``OVERLAY_UPLOAD``), else `store`'s latest upload (or
    ``OVERLAY_STORE``), else the embedded demo book.

    Raises
    ------
    UploadRefused : the upload folder is refused. StoreError : the store's snapshot cannot be read.
    """
    from overlay_core.upload import read_upload

    up = Path(upload) if upload is not None else _env_path(UPLOAD_ENV)
    if up is not None:
        book = read_upload(up)
        return Source("upload", book, f"upload folder {up.name}, as of {book.as_of.isoformat()}")
    st = Path(store) if store is not None else configured_store()
    if st is not None:
        with open_app_store(st) as s:
            book = s.load_upload()
        return Source("store", book, f"store snapshot, upload as of {book.as_of.isoformat()}")
    from overlay_core.demo.generate import demo_upload_dir

    book = read_upload(demo_upload_dir())
    return Source("demo", book, f"demo book, as of {book.as_of.isoformat()}")


_PATH_RE = re.compile(r"(?:[A-Za-z]:)?(?:~|\.{0,2})?(?:/[^\s/:;,'\"()]+){2,}/?")


def safe_message(exc: BaseException) -> str:
    """An error's message with file paths replaced by ``<path>`` (pages never show the store's path)."""
    text = str(exc) if isinstance(exc, OverlayError) else f"{type(exc).__name__}: {exc}"
    return _PATH_RE.sub("<path>", text)


__all__ = [
    "STORE_ENV",
    "UPLOAD_ENV",
    "Outcome",
    "Source",
    "StoreError",
    "attempt",
    "configured_store",
    "load_source",
    "open_app_store",
    "safe_message",
]


@dataclass(frozen=True)
class Outcome:
    """What `attempt` returns: the value, or the user's mistake as a message a page may show."""

    value: object = None
    error: str = ""

    @property
    def ok(self) -> bool:
        return not self.error


def attempt(fn, /, *args, **kwargs) -> Outcome:  # noqa: ANN001 - any callable
    """Call `fn`; an `OverlayError` (a user's mistake: a bad file, a refused edit) becomes
    ``Outcome(error=...)`` with every problem listed and paths removed. Other exceptions propagate."""
    from overlay_core.errors import DataError

    try:
        return Outcome(value=fn(*args, **kwargs))
    except DataError as exc:
        lines = [safe_message(exc)] if not exc.problems else [f"{exc.message}:"] + [f"- {p}" for p in exc.problems[:50]]
        return Outcome(error=_PATH_RE.sub("<path>", "\n".join(lines)))
    except OverlayError as exc:
        return Outcome(error=safe_message(exc))
