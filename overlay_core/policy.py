"""The investment policy committee's firm-wide policy (`policy.toml`), with defaults when absent.

Every key is documented in `docs/policy.md`; `DEFAULT_POLICY_TOML` below is the annotated default
file. Unknown keys and wrong types are book-level problems of `policy.toml` (the upload is refused).

Sections
--------
[validation]   weight_tolerance, max_quarantine_share
[rebalance]    cash_floor, min_trade_value, st_rate, lt_rate, cost_bps, risk_aversion,
               turnover_penalty_bps, no_churn_threshold_bps, lt_wait_days, max_turnover, solver
[drift]        asset_class_band_abs, asset_class_band_rel, security_drift_max, trigger
[data_check]   max_price_jump, max_stale_days, max_value_jump
[risk]         lookback_days, n_factors, min_history_days, specific_var_floor
[review]       te_trigger, harvest_trigger, switch_back_days
[targets.<target_id>.ranges]   asset class -> [low, high] allowed for custom asset-class weights
[approved]     asset class -> list of approved alternative symbols (legal substitutes)
"""

from __future__ import annotations

import json
import math
import tomllib
from dataclasses import dataclass, field, fields, replace
from types import MappingProxyType
from typing import Any, Mapping

from overlay_core.errors import Level, Problem

POLICY_FILE = "policy.toml"


@dataclass(frozen=True, slots=True)
class ValidationPolicy:
    #: a model's or target's weights must sum to 1 within this; inside it they are renormalized (warning)
    weight_tolerance: float = 1e-4
    #: if more than this share of accounts is quarantined, the whole upload is refused
    max_quarantine_share: float = 0.05


@dataclass(frozen=True, slots=True)
class RebalancePolicy:
    #: firm-wide floor on every account's cash weight
    cash_floor: float = 0.005
    #: default minimum value of a net order of one symbol, USD (account's `min_trade_value` overrides)
    min_trade_value: float = 100.0
    #: default combined marginal rates when an account gives none
    st_rate: float = 0.37
    lt_rate: float = 0.20
    #: default one-way trading cost when a security gives no `cost_bps`
    cost_bps: float = 5.0
    #: weight of tracking error² (annualized variance) against the tax and cost terms (USD per USD of account)
    risk_aversion: float = 30.0
    #: a small penalty on traded value, in bps, that breaks ties toward fewer trades
    turnover_penalty_bps: float = 1.0
    #: an account trades only if the proposal improves its objective by more than this, in bps of value
    no_churn_threshold_bps: float = 2.0
    #: no short-term gain is realized on a lot that turns long-term within this many days
    lt_wait_days: int = 30
    #: the largest one-sided turnover per day for a gradual transition (1.0 = no limit)
    max_turnover: float = 1.0
    #: default solver: clarabel, ecos or scs
    solver: str = "clarabel"


@dataclass(frozen=True, slots=True)
class DriftPolicy:
    #: an asset class breaches its band when |weight - target| exceeds this absolute amount ...
    asset_class_band_abs: float = 0.05
    #: ... or this share of its target weight (whichever is larger)
    asset_class_band_rel: float = 0.25
    #: a security breaches when |weight - target| exceeds this
    security_drift_max: float = 0.03
    #: which breach makes an account trade: "asset_class", "security" or "any"
    trigger: str = "any"


@dataclass(frozen=True, slots=True)
class DataCheckPolicy:
    #: a close that moved by more than this fraction since the previous stored day holds its accounts
    max_price_jump: float = 0.40
    #: a price whose `date` is older than this many business days is stale
    max_stale_days: int = 3
    #: an account whose value moved more than this with no transactions is held
    max_value_jump: float = 0.30


@dataclass(frozen=True, slots=True)
class RiskPolicy:
    #: daily returns used to estimate the risk model: at most this many, ending at `as_of`
    lookback_days: int = 504
    #: statistical (PCA) factors of the risk model
    n_factors: int = 8
    #: a security with fewer daily returns than this in the window gets a peer proxy
    min_history_days: int = 126
    #: the smallest annualized specific variance of a security (0.0001 = 1% specific volatility)
    specific_var_floor: float = 0.0001


@dataclass(frozen=True, slots=True)
class ReviewPolicy:
    #: the daily review's screen optimizes an account whose ex-ante tracking error (annualized) exceeds this
    te_trigger: float = 0.02
    #: ... or a taxable account whose harvestable losses (lots not blocked by the wash-sale rule) exceed this
    #: share of its value (and its minimum trade)
    harvest_trigger: float = 0.005
    #: ... or one underweight a wash group whose 30-day window ended within this many calendar days
    #: (the switch back from a harvest's substitute); 0 = never
    switch_back_days: int = 7


@dataclass(frozen=True, slots=True)
class Policy:
    validation: ValidationPolicy = field(default_factory=ValidationPolicy)
    rebalance: RebalancePolicy = field(default_factory=RebalancePolicy)
    drift: DriftPolicy = field(default_factory=DriftPolicy)
    data_check: DataCheckPolicy = field(default_factory=DataCheckPolicy)
    risk: RiskPolicy = field(default_factory=RiskPolicy)
    #: the daily review's screen (which accounts are optimized)
    review: ReviewPolicy = field(default_factory=ReviewPolicy)
    #: target_id -> asset class -> (low, high) allowed custom weight
    ranges: Mapping[str, Mapping[str, tuple[float, float]]] = field(default_factory=lambda: MappingProxyType({}))
    #: asset class -> approved alternative symbols; an asset class absent here approves every legal substitute
    approved: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: MappingProxyType({}))

    def to_dict(self) -> dict[str, Any]:
        """A plain dict (for hashing and storing the settings of a run)."""
        out: dict[str, Any] = {}
        for sec in _SECTIONS:
            obj = getattr(self, sec)
            out[sec] = {f.name: getattr(obj, f.name) for f in fields(obj)}
        out["targets"] = {t: {"ranges": {k: list(v) for k, v in r.items()}} for t, r in self.ranges.items()}
        out["approved"] = {k: list(v) for k, v in self.approved.items()}
        return out


_SECTIONS = {
    "validation": ValidationPolicy,
    "rebalance": RebalancePolicy,
    "drift": DriftPolicy,
    "data_check": DataCheckPolicy,
    "risk": RiskPolicy,
    "review": ReviewPolicy,
}
_ENUMS = {("rebalance", "solver"): ("clarabel", "ecos", "scs"), ("drift", "trigger"): ("asset_class", "security", "any")}
_FRACTIONS = {
    ("validation", "max_quarantine_share"),
    ("rebalance", "cash_floor"),
    ("rebalance", "st_rate"),
    ("rebalance", "lt_rate"),
    ("rebalance", "max_turnover"),
    ("drift", "asset_class_band_abs"),
    ("drift", "security_drift_max"),
    ("review", "te_trigger"),
    ("review", "harvest_trigger"),
}


def parse_policy(text: str, file: str = POLICY_FILE) -> tuple[Policy, list[Problem]]:
    """Parse `policy.toml` text. Returns the policy (defaults where a key is absent or bad) and every problem."""
    problems: list[Problem] = []

    def bad(key: str, found: object, expected: str) -> None:
        problems.append(Problem(file, key, None, repr(found), expected, Level.BOOK))

    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        return Policy(), [Problem(file, None, None, f"invalid TOML ({exc})", "a TOML document", Level.BOOK)]

    kwargs: dict[str, Any] = {}
    for sec, cls in _SECTIONS.items():
        table = raw.pop(sec, {})
        if not isinstance(table, dict):
            bad(f"[{sec}]", table, "a table")
            continue
        defaults = cls()
        values: dict[str, Any] = {}
        for key, value in table.items():
            if key not in {f.name for f in fields(cls)}:
                bad(f"{sec}.{key}", value, f"one of the keys of [{sec}]: {', '.join(f.name for f in fields(cls))}")
                continue
            default = getattr(defaults, key)
            if isinstance(default, str):
                allowed = _ENUMS.get((sec, key), ())
                if not isinstance(value, str) or (allowed and value not in allowed):
                    bad(f"{sec}.{key}", value, f"one of {', '.join(allowed)}" if allowed else "a string")
                    continue
            elif isinstance(default, int) and not isinstance(default, bool) and not isinstance(default, float):
                if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                    bad(f"{sec}.{key}", value, "a whole number >= 0")
                    continue
            else:
                if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                    bad(f"{sec}.{key}", value, "a finite number >= 0")
                    continue
                value = float(value)
                if (sec, key) in _FRACTIONS and value > 1:
                    bad(f"{sec}.{key}", value, "a fraction in [0, 1]")
                    continue
            values[key] = value
        kwargs[sec] = replace(defaults, **values)

    ranges: dict[str, Mapping[str, tuple[float, float]]] = {}
    targets = raw.pop("targets", {})
    if not isinstance(targets, dict):
        bad("[targets]", targets, "a table of targets")
        targets = {}
    for target_id, spec in targets.items():
        if not isinstance(spec, dict) or set(spec) - {"ranges"} or not isinstance(spec.get("ranges", {}), dict):
            bad(f"targets.{target_id}", spec, "a table with only a 'ranges' table")
            continue
        per_class: dict[str, tuple[float, float]] = {}
        for asset_class, pair in spec.get("ranges", {}).items():
            ok = (
                isinstance(pair, list)
                and len(pair) == 2
                and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in pair)
                and 0 <= pair[0] <= pair[1] <= 1
            )
            if not ok:
                bad(f"targets.{target_id}.ranges.{asset_class}", pair, "[low, high] with 0 <= low <= high <= 1")
                continue
            per_class[asset_class] = (float(pair[0]), float(pair[1]))
        ranges[target_id] = MappingProxyType(per_class)

    approved: dict[str, tuple[str, ...]] = {}
    appr = raw.pop("approved", {})
    if not isinstance(appr, dict):
        bad("[approved]", appr, "a table of asset class -> list of symbols")
        appr = {}
    for asset_class, symbols in appr.items():
        if not isinstance(symbols, list) or not all(isinstance(s, str) for s in symbols):
            bad(f"approved.{asset_class}", symbols, "a list of symbols")
            continue
        approved[asset_class] = tuple(symbols)

    for key, value in raw.items():
        bad(key, value, f"one of the sections {', '.join(_SECTIONS)}, targets, approved")

    policy = Policy(ranges=MappingProxyType(ranges), approved=MappingProxyType(approved), **kwargs)
    return policy, problems


DEFAULT_POLICY = Policy()


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {value!r} as a TOML value")


def policy_to_toml(policy: Policy) -> str:
    """The policy as `policy.toml` text that `parse_policy` reads back to an equal `Policy`.

    Every key of every section is written (not only the ones that differ from the defaults), so the
    file says in full what the run used.
    """
    lines: list[str] = ["# overlay policy (written by overlay_core.policy.policy_to_toml)"]
    data = policy.to_dict()
    for sec in _SECTIONS:
        lines.append("")
        lines.append(f"[{sec}]")
        for key, value in data[sec].items():
            lines.append(f"{key} = {_toml_value(value)}")
    for target_id, spec in sorted(data["targets"].items()):
        lines.append("")
        lines.append(f"[targets.{json.dumps(target_id)}.ranges]")
        for asset_class, pair in sorted(spec["ranges"].items()):
            lines.append(f"{json.dumps(asset_class)} = {_toml_value(list(pair))}")
    if data["approved"]:
        lines.append("")
        lines.append("[approved]")
        for asset_class, symbols in sorted(data["approved"].items()):
            lines.append(f"{json.dumps(asset_class)} = {_toml_value(list(symbols))}")
    return "\n".join(lines) + "\n"
