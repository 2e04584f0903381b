"""The optimizer: tax-aware, lot-level rebalancing of one account (docs/optimize.md).

Modules, one concept each (data flows top to bottom):

- `problem`: `AccountProblem`, one account on one day as numpy arrays.
- `model`: the named objective terms and constraints (`formulate` -> `Formulation`).
- `fast`: the solver's matrices built directly (Clarabel, SCS, ECOS); `reference`: the cvxpy formulation.
- `solve`: `optimize_account` (elastic solves, relaxation in the contract's order, wash-sale two-pass).
- `rounding`: `round_orders` (tradable quantities, repair, polish, no churn), `check_orders`.
- `explain`: reasons, `Explanation`, `Proposal`; `propose`: problem -> proposal.
- `build`: `build_problem`, `rebalance_account`, `rebalance_household` from a `Book`.
- `synthetic`: random problems for tests and benchmarks.
"""

from __future__ import annotations

from overlay_core.optimize.explain import ORDER_COLUMNS, Explanation, Proposal
from overlay_core.optimize.problem import RELAXATION_ORDER, AccountProblem
from overlay_core.optimize.propose import propose
from overlay_core.optimize.rounding import Orders, check_orders, round_orders
from overlay_core.optimize.solve import Optimum, optimize_account

__all__ = [
    "ORDER_COLUMNS",
    "RELAXATION_ORDER",
    "AccountProblem",
    "Explanation",
    "Optimum",
    "Orders",
    "Proposal",
    "check_orders",
    "optimize_account",
    "propose",
    "round_orders",
]
