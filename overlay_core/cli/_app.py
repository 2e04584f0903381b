"""The `overlay` command's Typer app and its error boundary.

Each command lives in its own module of `overlay_core.cli` and registers itself on `app`.
A user's mistake (any `OverlayError`) becomes a readable message and the error's exit code,
never a traceback.
"""

from __future__ import annotations

import sys

import typer
from rich.console import Console

from overlay_core.errors import DataError, OverlayError

app = typer.Typer(
    name="overlay",
    help="Holistic overlay portfolio manager: review every account of the book, every business day.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()


@app.callback()
def _root() -> None:
    """Holistic overlay portfolio manager: review every account of the book, every business day."""

err_console = Console(stderr=True)


def report_error(exc: OverlayError) -> int:
    if isinstance(exc, DataError) and exc.problems:
        from overlay_core.cli._views import problems_table

        err_console.print(f"[bold red]error:[/] {exc.message}")
        err_console.print(problems_table(exc.problems))
    else:
        err_console.print(f"[bold red]error:[/] {exc}")
    if getattr(exc, "retry_can_help", False):
        err_console.print("Retrying may help.")
    return exc.exit_code


def main(argv: list[str] | None = None) -> None:
    try:
        app(args=argv, standalone_mode=True)
    except OverlayError as exc:
        sys.exit(report_error(exc))
