"""The `overlay` command. One module per command in this package; importing it registers the command.

Every non-underscore module here is imported at start-up, so adding a command is adding a module.
"""

from __future__ import annotations

import importlib
import pkgutil

from overlay_core.cli._app import app, main

for _mod in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
    if not _mod.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_mod.name}")

__all__ = ["app", "main"]
