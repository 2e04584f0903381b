"""The `overlay` command. One module per command in this package; importing it registers the command.

Every non-underscore module here is imported at start-up, so adding a command is adding a module.
"""

from __future__ import annotations

import importlib
import pkgutil

from overlay_core.cli import _app

for _mod in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
    if not _mod.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_mod.name}")

# Bound after the imports: a command module named like an attribute (``cli/app.py`` for `overlay app`)
# would otherwise shadow it as a package attribute.
app = _app.app
main = _app.main

__all__ = ["app", "main"]
