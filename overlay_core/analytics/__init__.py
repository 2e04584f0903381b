"""Analytics: the tax-alpha backtest, tax-savings and drift/dispersion reports (docs/analytics.md).

- `backtest.run_backtest(source, *, settings, strategies, universe, book_target)` -> `Backtest` (`.results()`,
  `.by_year()`, `.account_results()`), `BacktestSettings`; `book_target.BookTarget`: an upload's target;
- `strategies`: `optimizer(...)`, `naive`, `buy_and_hold`, `heuristic(...)` (each ``Book -> orders``),
  `substitute_for`;
- `accounting`: `annual_tax`, `allowed_by_term`, `account_figures`, `summarize`, `by_year`;
- `dispersion`: drift and dispersion of a stored run; `report_account` / `report_book`: one-page HTML.
"""

from __future__ import annotations

from overlay_core.analytics.accounting import Carry, annual_tax, summarize
from overlay_core.analytics.backtest import Backtest, BacktestSettings, run_backtest
from overlay_core.analytics.book_target import BookTarget
from overlay_core.analytics.strategies import STRATEGIES, buy_and_hold, heuristic, naive, optimizer, substitute_for

__all__ = [
    "Backtest",
    "BacktestSettings",
    "BookTarget",
    "Carry",
    "STRATEGIES",
    "annual_tax",
    "buy_and_hold",
    "heuristic",
    "naive",
    "optimizer",
    "run_backtest",
    "substitute_for",
    "summarize",
]
