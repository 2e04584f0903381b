"""The day loop and book-level what-ifs (issue 8): `overlay simulate`, the cascade with orders.

- `fills.apply_fills(book, orders, *, fill_prices, next_as_of, ...) -> Book` (pure) and `fills.fill_day`
  (the same, with the day's fill record): pending orders and the day's orders executed at the trade
  date's closes; lots, bases and wash-sale adjustments from the tax engine's ledger; cash, flows,
  transactions, year-to-date gains, prices and history rolled to the next day.
- `review.optimizer_review(book, *, store, workers, ...) -> ReviewOutput`: the whole book's review
  (every account, households coordinated for the wash-sale rule) through the review driver;
  `ReviewFn = Callable[[Book], ReviewOutput]` is what the loop and the cascade call.
- `loop.simulate(upload_or_book, *, days, out_dir, prices=None, seed=0, store=None, review_fn=None, ...)
  -> SimulationResult`: review, write the day's folder, fill, roll; N days.
- `cascade_orders.cascade_with_orders(book, change, ...) -> CascadeOrders`: the review as a dry run on a
  changed book, per affected account and summarized by target and advisor.

See docs/simulate.md.
"""

from __future__ import annotations

from overlay_core.simulate.fills import FillError, Fills, apply_fills, fill_day
from overlay_core.simulate.loop import SimulationResult, simulate
from overlay_core.simulate.review import ReviewFn, ReviewOutput, account_review, default_review_fn, optimizer_review, review_household

__all__ = [
    "FillError",
    "Fills",
    "ReviewFn",
    "ReviewOutput",
    "SimulationResult",
    "account_review",
    "apply_fills",
    "default_review_fn",
    "fill_day",
    "optimizer_review",
    "review_household",
    "simulate",
]
