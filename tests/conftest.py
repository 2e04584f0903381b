"""Shared test fixtures. Area-specific fixtures live in each area's own conftest (tests/<area>/conftest.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# One thread per process for BLAS: tests and benchmarks agree with production settings.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

ROOT = Path(__file__).resolve().parent.parent
FIXTURE_UPLOAD = ROOT / "tests" / "data" / "fixture_upload"


@pytest.fixture(scope="session")
def fixture_upload_dir() -> Path:
    """The hand-made upload of a few accounts (see tests/data/fixture_upload/README.md)."""
    return FIXTURE_UPLOAD
