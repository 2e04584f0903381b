"""The day loop and book-level what-ifs (issue 8): `overlay simulate`, the cascade with orders.

- `fills.apply_fills(book, orders, *, fill_prices, next_as_of, ...) -> Book` (pure) and `fills.fill_day`
  (the same, with the day's fill record): pending orders and the day's orders executed at the trade
  date's closes; lots, bases and wash-sale adjustments from the tax engine's ledger; cash, flows,
  transactions, year-to-date gains, prices and history rolled to the next day.
- `review.default_review_fn(store=..., workers=..., kind=...) -> ReviewFn`: the daily review of the
  whole book (`review.daily.review_book`) as the loop and the cascade call it,
  `ReviewFn = Callable[[Book], ReviewOutput]`.
- `loop.simulate(upload_or_book, *, days, out_dir, prices=None, seed=0, store=None, review_fn=None, ...)
  -> SimulationResult`: review, write the day's folder, fill, roll; N days.
- `cascade_orders.cascade_with_orders(book, change, ...) -> CascadeOrders`: the review as a dry run on a
  changed book, per affected account and summarized by target and advisor.

See docs/simulate.md.
"""

from __future__ import annotations

from overlay_core.simulate.fills import FillError, Fills, apply_fills, fill_day
from overlay_core.simulate.loop import SimulationResult, simulate
from overlay_core.simulate.review import ReviewFn, ReviewOutput, default_review_fn, optimizer_review

__all__ = [
    "FillError",
    "Fills",
    "ReviewFn",
    "ReviewOutput",
    "SimulationResult",
    "apply_fills",
    "default_review_fn",
    "fill_day",
    "optimizer_review",
    "simulate",
]
