"""Option parsing shared by the commands."""

from __future__ import annotations

import datetime as dt

import typer


def parse_day(value: str | None, option: str) -> dt.date | None:
    """An ISO date given on the command line (``YYYY-MM-DD`` exactly), or None."""
    if value is None:
        return None
    try:
        if len(value) != 10:
            raise ValueError(value)
        return dt.date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"found {value!r}; expected a date YYYY-MM-DD", param_hint=option) from None
