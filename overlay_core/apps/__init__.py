"""The apps' side of the engine: data shaping for the notebooks in `notebooks/` (issue 10).

Each notebook is thin: UI cells, a few calls into these modules, view cells. Everything with a loop or
a data-dependent branch is here, where it is tested (tests/apps/). See docs/apps.md.

- `source`: where an app's book comes from (``OVERLAY_UPLOAD``, ``OVERLAY_STORE``'s read-only snapshot,
  or the demo book), `open_app_store`, `attempt` (a user's mistake as a message without paths);
- `ipc`: edit a model or blend -> `Change`, ``CHANGE.csv`` bytes, allocation before/after, the
  cascade's trades (`ipc_models`);
- `whatif`: a prospect's lots or a book account, settings -> plan, gain-budget curve, multi-year
  schedule (`advisor_whatif`);
- `dashboard`: a review run of the store as frames to filter and chart (`daily_review`);
- `demo_store`: a store holding a real review run of the demo book (for the dashboard without setup);
- `book_ops`: household sub-books, orders applied as filled, a book moved forward in time.
"""
