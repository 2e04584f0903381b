"""Encodings the store needs: canonical JSON, the policy back from its dict, exact polars schemas."""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import io
import json
import math
from pathlib import PurePath
from types import MappingProxyType
from typing import Any, Mapping

import polars as pl

from overlay_core.errors import StoreError
from overlay_core.policy import DataCheckPolicy, DriftPolicy, Policy, RebalancePolicy, ValidationPolicy


def _plain(obj: Any) -> Any:
    """`json.dumps` default: dates, paths, enums, sets, mappings, dataclasses and numpy scalars as JSON."""
    if isinstance(obj, (dt.datetime, dt.date)):
        return obj.isoformat()
    if isinstance(obj, enum.Enum):
        return obj.value
    if isinstance(obj, PurePath):
        return str(obj)
    if isinstance(obj, (set, frozenset)):
        return sorted(obj, key=repr)
    if isinstance(obj, (tuple, list)):
        return list(obj)
    if isinstance(obj, (Mapping, MappingProxyType)):
        return dict(obj)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}
    if hasattr(obj, "item") and callable(obj.item):  # numpy scalar
        return obj.item()
    if hasattr(obj, "tolist") and callable(obj.tolist):  # numpy array
        return obj.tolist()
    raise TypeError(f"{type(obj).__name__} is not JSON-serializable")


def to_json(value: Any, *, what: str) -> str:
    """Canonical JSON (sorted keys, no spaces): equal values give equal text, hence equal hashes."""
    try:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), default=_plain, allow_nan=True)
    except (TypeError, ValueError) as exc:
        raise StoreError(f"cannot store {what} as JSON: {exc}") from exc


def cell_json(value: Any) -> str | None:
    """One cell of an `explanation`/`detail` column: a string is taken as JSON text already, None stays None."""
    if value is None:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, pl.Series):
        value = value.to_list()
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=_plain)


def policy_from_dict(d: Mapping[str, Any]) -> Policy:
    """The inverse of `Policy.to_dict()`."""
    sections = {
        "validation": ValidationPolicy,
        "rebalance": RebalancePolicy,
        "drift": DriftPolicy,
        "data_check": DataCheckPolicy,
    }
    kwargs: dict[str, Any] = {}
    for name, cls in sections.items():
        if name in d:
            kwargs[name] = cls(**d[name])
    ranges = {
        t: MappingProxyType({k: (float(v[0]), float(v[1])) for k, v in spec.get("ranges", {}).items()})
        for t, spec in d.get("targets", {}).items()
    }
    approved = {k: tuple(v) for k, v in d.get("approved", {}).items()}
    return Policy(ranges=MappingProxyType(ranges), approved=MappingProxyType(approved), **kwargs)


def schema_blob(df: pl.DataFrame) -> bytes:
    """The frame's exact schema (names, order, dtypes) as an empty Arrow IPC file."""
    buf = io.BytesIO()
    df.clear().write_ipc(buf, compression="uncompressed")
    return buf.getvalue()


def schema_from_blob(blob: bytes) -> pl.Schema:
    return pl.read_ipc(io.BytesIO(blob)).schema
