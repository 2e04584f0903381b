from __future__ import annotations

from overlay_core import __version__
from overlay_core.cli._app import app, console


@app.command()
def version() -> None:
    """Print the engine's version."""
    console.print(f"overlay-core {__version__}")
