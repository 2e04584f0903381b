"""A store holding a real review run of (part of) a book, for the dashboard when no store is configured.

`build_review_store(path, book, accounts=N)` saves the upload and one ``review`` run made of real
optimizer proposals (`optimize.build.rebalance_account` for each account of the sampled households,
through the review driver `review.review_accounts`, in this process), then publishes the snapshot. It
uses only the store's public API, so the dashboard reads it exactly as it reads the daily review's runs.

`ensure_demo_store()` builds it once for the embedded demo book into ``$OVERLAY_CACHE_DIR/demo_store``
(default ``~/.cache/overlay/demo_store``), atomically (a folder renamed into place), and returns the path.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Mapping

import polars as pl

from overlay_core.book import Book
from overlay_core.optimize.explain import Proposal
from overlay_core.review.driver import AccountReview, review_accounts
from overlay_core.store import Store

#: accounts in the demo store's run (whole households: a few more)
DEMO_ACCOUNTS = 120
CODE_VERSION = "apps-demo"


def proposal_review(proposal: Proposal, *, drift_before: float | None = None) -> AccountReview:
    """An optimizer `Proposal` as the review's per-account evidence (`review.AccountReview`).

    ``reasons``: the order lines' reasons for a trade (e.g. ``rebalance``, ``tax_loss_harvest``);
    ``no_churn`` or ``at_optimum`` for no trade; ``hold`` for a held account; ``optimizer_error`` for an
    error. The explanation is kept as JSON.
    """
    e = proposal.explanation
    if e.decision == "trade":
        reasons = tuple(sorted(e.reasons)) or ("rebalance",)
    elif e.decision == "no_trade":
        reasons = ("no_churn",) if "no-churn" in e.why else ("at_optimum",)
    elif e.decision == "held":
        reasons = ("hold",)
    else:
        reasons = ("optimizer_error",)
    explanation = {
        "why": e.why,
        "text": e.text(),
        "binding": list(e.binding),
        "relaxed": list(e.relaxed),
        "diagnosis": e.diagnosis,
        "notes": list(e.notes),
        "net_realized_gain": e.net_realized_gain,
        "cash_before": e.cash_before,
        "cash_after": e.cash_after,
    }
    orders = proposal.orders.drop("as_of", "trade_date", "account_id") if proposal.orders.height else None
    return AccountReview(
        decision=e.decision,
        reasons=reasons,
        drift_before=drift_before,
        te_before=e.te_before,
        te_after=e.te_after,
        est_tax=e.est_tax,
        losses_harvested=e.losses_harvested,
        turnover=e.turnover,
        error=(e.diagnosis or e.why) if e.decision == "error" else None,
        orders=orders,
        extra={"solver": e.solver, "solve_seconds": e.solve_ms / 1e3, "explanation": json.dumps(explanation)},
    )


def sample_households(book: Book, accounts: int | None) -> list[str]:
    """Accounts of whole households, households taken in id order until at least `accounts` accounts
    (all when None)."""
    acc = book.accounts.sort("household_id", "account_id")
    if accounts is None or accounts >= acc.height:
        return acc["account_id"].to_list()
    sizes = acc.group_by("household_id", maintain_order=True).len()
    cum = sizes["len"].cum_sum()
    n_hh = int((cum < accounts).sum()) + 1
    hh = sizes["household_id"].head(n_hh)
    return acc.filter(pl.col("household_id").is_in(hh.implode()))["account_id"].to_list()


def build_review_store(path: str | Path, book: Book, *, accounts: int | None = DEMO_ACCOUNTS, settings: Mapping[str, object] | None = None) -> str:
    """Save `book` and a finished review run of `accounts` of its accounts (whole households) into the
    store at `path`; publish the snapshot. Returns the run id.
    """
    from overlay_core.apps.book_ops import household_book
    from overlay_core.optimize.build import rebalance_account
    from overlay_core.targets import account_targets, risk_model
    from overlay_core.targets.drift import drift
    from overlay_core.tax import tax_state

    ids = sample_households(book, accounts)
    sub = household_book(book, ids)
    risk = risk_model(book)
    at = account_targets(sub, risk=risk)
    ts = tax_state(sub)
    d = drift(sub, at, risk=risk).summary
    drift0 = dict(zip(d["account_id"].to_list(), d["max_abs_drift"].to_list()))

    def review_household(shared: Book, account_ids: tuple[str, ...]) -> dict[str, AccountReview]:
        return {
            a: proposal_review(rebalance_account(shared, a, targets=at, risk=risk, tax_state=ts), drift_before=drift0.get(a))
            for a in account_ids
        }

    with Store.open(path) as store:
        upload_id = store.save_upload(book)
        run_id = store.begin_run(
            upload_id=upload_id,
            as_of=book.as_of,
            trade_date=book.trade_date,
            input_hash=book.input_hash,
            code_version=CODE_VERSION,
            settings={"accounts": len(ids), "sample": "whole households in id order", **dict(settings or {})},
            kind="review",
        )
        review_accounts(sub, review_household, store=store, run_id=run_id, workers=0, progress=False)
        res = store.run_results(run_id)
        counts = res.group_by("decision").len()
        store.finish_run(run_id, {"accounts": res.height, **{f"decision_{k}": int(v) for k, v in counts.iter_rows()}})
    return run_id


def demo_store_dir() -> Path:
    """Where `ensure_demo_store` keeps the demo store (``$OVERLAY_CACHE_DIR/demo_store``)."""
    cache = Path(os.environ.get("OVERLAY_CACHE_DIR", Path.home() / ".cache" / "overlay")).expanduser()
    return cache / "demo_store"


def ensure_demo_store(*, accounts: int | None = DEMO_ACCOUNTS) -> Path:
    """The demo store's path (``.../demo_store/overlay.duckdb``), built once from the embedded demo book."""
    from overlay_core.demo.generate import demo_upload_dir
    from overlay_core.upload import read_upload

    folder = demo_store_dir()
    path = folder / "overlay.duckdb"
    if (folder / "overlay.snapshot.duckdb").is_file():
        return path
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="demo_store.tmp-", dir=folder.parent))
    try:
        build_review_store(tmp / "overlay.duckdb", read_upload(demo_upload_dir()), accounts=accounts)
        try:
            os.rename(tmp, folder)
        except OSError:  # another process built it first
            if not (folder / "overlay.snapshot.duckdb").is_file():
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return path
