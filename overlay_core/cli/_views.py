"""Rich renderings shared by the commands (problem tables, summaries)."""

from __future__ import annotations

from typing import Iterable, Mapping

from rich.table import Table

from overlay_core.errors import Problem


def problems_table(problems: Iterable[Problem], title: str = "Problems", limit: int = 200) -> Table:
    table = Table(title=title, show_lines=False)
    for col in ("level", "file", "row / key", "column", "found", "expected"):
        table.add_column(col, overflow="fold")
    problems = list(problems)
    for p in problems[:limit]:
        table.add_row(p.level.value, p.file, "" if p.row is None else str(p.row), p.column or "", p.found, p.expected)
    if len(problems) > limit:
        table.caption = f"... and {len(problems) - limit} more"
    return table


def mapping_table(values: Mapping[str, object], title: str, key: str = "item", value: str = "value") -> Table:
    table = Table(title=title)
    table.add_column(key)
    table.add_column(value, justify="right")
    for k, v in values.items():
        table.add_row(str(k), f"{v:,}" if isinstance(v, (int, float)) else str(v))
    return table
