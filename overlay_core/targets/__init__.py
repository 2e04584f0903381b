"""Targets: model blends, account customization, the risk model, drift and the target-level cascade.

Public API (see docs/targets.md):

- `blend_targets(book)`, `blend(models, targets)`, `asset_allocation(weights, securities)` (blend.py)
- `account_targets(book, *, risk=None, account_ids=None, target_weights=None, positions=None)
  -> AccountTargets` (customize.py)
- `RiskModel`, `estimate_risk_model(...)`, `risk_model(book)` (risk.py)
- `overlay_core.targets.drift.drift(book, targets, *, positions=None, risk=None) -> Drift`, `compute_drift`
- `overlay_core.targets.cascade.read_change(path, book) -> Change`, `parse_change`, `apply_change`,
  `cascade(book, change, *, risk=None) -> CascadeResult`

(`drift` and `cascade` are imported from their modules: the functions share the modules' names.)
"""

from __future__ import annotations

from overlay_core.targets.blend import asset_allocation, blend, blend_targets
from overlay_core.targets.customize import AccountTargets, account_targets, legal_substitutes
from overlay_core.targets.risk import RiskModel, estimate_risk_model, risk_model
from overlay_core.targets.universe import Universe, build_universe, universe_of

__all__ = [
    "AccountTargets",
    "RiskModel",
    "Universe",
    "account_targets",
    "asset_allocation",
    "blend",
    "blend_targets",
    "build_universe",
    "estimate_risk_model",
    "legal_substitutes",
    "risk_model",
    "universe_of",
]
