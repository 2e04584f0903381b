"""The exception tree of the project, and the `Problem` record that data errors carry.

Every error a user can cause derives from `OverlayError`; the CLI turns them into a readable
message and an exit code, never a traceback.

- `DataError`: a bad input file. Carries every `Problem` found at once. Fix the file and rerun.
  - `UploadRefused`: the daily upload has book-level problems (exit code 2).
- `ConfigError`: a bad setting or `policy.toml` key outside the upload's own validation.
- `OptimizationError`: an account's problem could not be solved; says which named constraints
  conflict and whether retrying can help.
- `StoreError`: the DuckDB store is locked, corrupt or of an unknown schema version.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Iterable, Sequence


class Level(str, Enum):
    """How serious a problem is, in the data contract's terms."""

    BOOK = "book"  # refuses the whole upload
    ACCOUNT = "account"  # quarantines the account and its household
    WARNING = "warning"  # reported, nothing refused


@dataclass(frozen=True, slots=True)
class Problem:
    """One violation found in an input file.

    Parameters
    ----------
    file : the file name as given (e.g. ``lots.csv``).
    row : 1-based data row (header excluded) or a key such as ``account A1``; ``None`` for the whole file.
    column : the column concerned; ``None`` for the whole row or file.
    found : what was found, as shown to the user.
    expected : what was expected instead.
    level : book, account or warning.
    account_id : the account quarantined by an account-level problem.
    """

    file: str
    row: int | str | None
    column: str | None
    found: str
    expected: str
    level: Level = Level.BOOK
    account_id: str | None = None

    def where(self) -> str:
        parts = [self.file]
        if self.row is not None:
            parts.append(f"row {self.row}" if isinstance(self.row, int) else str(self.row))
        if self.column is not None:
            parts.append(f"column {self.column!r}")
        return ", ".join(parts)

    def __str__(self) -> str:
        return f"{self.where()}: found {self.found}; expected {self.expected}"


def format_problems(problems: Iterable[Problem], limit: int | None = 200) -> str:
    problems = list(problems)
    shown = problems if limit is None else problems[:limit]
    lines = [f"  - {p}" for p in shown]
    if limit and len(problems) > limit:
        lines.append(f"  ... and {len(problems) - limit} more")
    return "\n".join(lines)


class OverlayError(Exception):
    """Base of every error the project raises on purpose."""

    exit_code: int = 1
    retry_can_help: bool = False


class DataError(OverlayError):
    """An input file is wrong; `problems` lists every violation found."""

    exit_code = 2

    def __init__(self, message: str, problems: Sequence[Problem] = ()) -> None:
        self.problems = tuple(problems)
        text = message
        if self.problems:
            text += "\n" + format_problems(self.problems)
        super().__init__(text)
        self.message = message


class UploadRefused(DataError):
    """The daily upload has book-level problems: nothing was loaded or stored."""


class ConfigError(OverlayError):
    """A setting is wrong (command-line option, environment, policy key outside the upload)."""

    exit_code = 2


class OptimizationError(OverlayError):
    """An account could not be optimized.

    ``conflicts`` names the constraints that cannot hold together.
    """

    def __init__(self, message: str, conflicts: Sequence[str] = (), retry_can_help: bool = False) -> None:
        super().__init__(message)
        self.conflicts = tuple(conflicts)
        self.retry_can_help = retry_can_help


class StoreError(OverlayError):
    """The store cannot be used (locked by another writer, corrupt, unknown schema version)."""

    exit_code = 4

    def __init__(self, message: str, retry_can_help: bool = False) -> None:
        super().__init__(message)
        self.retry_can_help = retry_can_help
