"""Fixtures of the upload tests: a writable copy of the fixture upload and small editing helpers."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from overlay_core.book import Book
from overlay_core.errors import UploadRefused
from overlay_core.upload import read_upload

#: lets the fixture's five accounts quarantine a household without the share refusing the upload
LENIENT_POLICY = "[validation]\nmax_quarantine_share = 0.5\n\n[rebalance]\ncash_floor = 0.01\n"


class Upload:
    """A copy of the fixture upload in a temporary folder, edited one cell or row at a time."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def frame(self, table: str) -> pl.DataFrame:
        return pl.read_csv(self.path / f"{table}.csv", infer_schema=False)

    def write(self, table: str, df: pl.DataFrame) -> None:
        df.write_csv(self.path / f"{table}.csv")

    def set(self, table: str, row: int, column: str, value: str | None) -> None:
        """Set the cell of 1-based data `row` (the numbering of `Problem.row`)."""
        df = self.frame(table)
        if column not in df.columns:
            df = df.with_columns(pl.lit(None, dtype=pl.String).alias(column))
        values = df[column].to_list()
        values[row - 1] = value
        self.write(table, df.with_columns(pl.Series(column, values, dtype=pl.String)))

    def append(self, table: str, **values: Any) -> int:
        """Append a row (missing columns empty); returns its 1-based row number."""
        df = self.frame(table)
        row = {c: (None if values.get(c) is None else str(values[c])) for c in df.columns}
        self.write(table, pl.concat([df, pl.DataFrame([row], schema={c: pl.String for c in df.columns})]))
        return df.height + 1

    def drop_column(self, table: str, column: str) -> None:
        self.write(table, self.frame(table).drop(column))

    def raw(self, name: str, data: bytes) -> None:
        (self.path / name).write_bytes(data)

    def remove(self, name: str) -> None:
        (self.path / name).unlink()

    def lenient(self) -> None:
        """Allow up to half the accounts to be quarantined (policy.toml)."""
        (self.path / "policy.toml").write_text(LENIENT_POLICY)

    def read(self, **kwargs: Any) -> Book:
        return read_upload(self.path, **kwargs)

    def refused(self, **kwargs: Any) -> UploadRefused:
        with pytest.raises(UploadRefused) as info:
            read_upload(self.path, **kwargs)
        return info.value


@pytest.fixture
def upload(tmp_path: Path, fixture_upload_dir: Path) -> Upload:
    dest = tmp_path / "upload"
    shutil.copytree(fixture_upload_dir, dest, ignore=shutil.ignore_patterns("README.md"))
    return Upload(dest)
