"""Review a random book with the real engine, write the real trade file, check it independently, and
count the hard situations that occurred. Shared by tests/reliability and benchmarks/soak_random_books.py.

`review_and_check(book, out_dir) -> Outcome`: the review is `overlay_core.review.daily.review_book` when
it exists (dry run, in this process), else `overlay_core.simulate.review.optimizer_review` (the whole-book
review of the day loop); the orders go through `overlay_core.export.write_trade_file`; the file is checked
by tests/checker/trade_checker.py (which imports nothing of the engine but the upload reader).

Situations counted (`SITUATIONS`), from the book and the review's own evidence:

- ``household_wash``: a taxable account whose target wants more of a wash group (target weight above
  its current weight by > 1 point) in which *another* taxable account of its household realized a loss
  in the 30 days (a transaction or a pending loss sale): rule (b) blocks that buy.
- ``ira_repurchase``: the same for a tax-deferred or tax-exempt account (an IRA may not buy back).
- ``gain_budget_binding``: a taxable account with a gain budget whose optimum has the budget binding or
  relaxed, or realizes exactly its allowance (within $1).
- ``conflict_refused``: an account with contradictory customizations that the engine refused (decision
  ``error`` or quarantined, naming the customization).
- ``conflict_relaxed``: an account with customizations (restrictions) that could not all hold and were
  relaxed in the contract's order (``relaxed`` names a family other than the cash need).
- ``cash_need_infeasible``: an account whose cash need could not be met (``cash_need`` relaxed: partly
  met), or that could not be reviewed because of it.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from overlay_core.book import Book
from overlay_core.export import write_trade_file

_CHECKER = Path(__file__).resolve().parents[1] / "checker"
if str(_CHECKER) not in sys.path:
    sys.path.insert(0, str(_CHECKER))
from trade_checker import Violation, check_trades_against_book  # noqa: E402

SITUATIONS: tuple[str, ...] = (
    "household_wash",
    "ira_repurchase",
    "gain_budget_binding",
    "conflict_refused",
    "conflict_relaxed",
    "cash_need_infeasible",
)
WINDOW = 30


@dataclass
class Outcome:
    """One reviewed and checked book.

    violations : the checker's findings (must be empty). counts : `SITUATIONS` -> occurrences.
    errors : account_id -> the reason of every account with decision ``error`` (quarantines included).
    accounts, orders : counts. review : the name of the review function used.
    """

    violations: list[Violation]
    counts: Counter[str]
    errors: dict[str, str]
    accounts: int
    orders: int
    review: str
    decisions: Counter[str] = field(default_factory=Counter)


def review_fn() -> tuple[str, Any]:
    """The whole-book review to use: `review_book` (issue 7) when it exists, else `optimizer_review`.

    ``OVERLAY_RELIABILITY_REVIEW=optimizer_review`` (or ``review_book``) forces one.
    """
    want = os.environ.get("OVERLAY_RELIABILITY_REVIEW", "auto")
    if want in ("auto", "review_book"):
        try:
            from overlay_core.review.daily import review_book
        except ImportError:
            if want == "review_book":
                raise
        else:
            return "review_book", lambda book, out_dir: review_book(
                book, store=None, out_dir=None, workers=0, dry_run=True, progress=False
            )
    from overlay_core.simulate.review import optimizer_review

    return "optimizer_review", lambda book, out_dir: optimizer_review(book, workers=0)


def write_orders(book: Book, orders: pl.DataFrame, out_dir: Path, run_id: str) -> Path:
    sec = book.securities
    return write_trade_file(
        orders,
        out_dir,
        as_of=book.as_of,
        run_id=run_id or "dry",
        trade_date=book.trade_date,
        security_types=dict(zip(sec["symbol"].to_list(), sec["type"].to_list())),
        trade_increments={s: v for s, v in zip(sec["symbol"].to_list(), sec["trade_increment"].to_list()) if v is not None},
    )


def review_and_check(book: Book, out_dir: Path) -> Outcome:
    """Review `book` (dry run), write its trade file into `out_dir`, check it, count the situations."""
    name, fn = review_fn()
    out = fn(book, out_dir)
    path = write_orders(book, out.orders, out_dir, out.run_id)
    violations = check_trades_against_book(book, path)
    res = out.results
    errors = {a: (e or "") for a, d, e in zip(res["account_id"], res["decision"], res["error"]) if d == "error"}
    return Outcome(
        violations=violations,
        counts=situations(book, res),
        errors=errors,
        accounts=res.height,
        orders=out.orders.height,
        review=name,
        decisions=Counter(res["decision"].to_list()),
    )


def _losses(book: Book) -> dict[str, set[tuple[str, str]]]:
    """household -> {(wash group, account that realized the loss)} within the window (taxable accounts)."""
    start = book.trade_date - dt.timedelta(days=WINDOW)
    acc = book.accounts
    taxable = set(acc.filter(pl.col("tax_status") == "taxable")["account_id"].to_list())
    hh = dict(zip(acc["account_id"].to_list(), acc["household_id"].to_list()))
    grp = dict(zip(book.securities["symbol"].to_list(), book.securities["wash_group"].to_list()))
    out: dict[str, set[tuple[str, str]]] = {}
    t = book.transactions.filter(
        (pl.col("side") == "sell") & (pl.col("realized_gain") < 0) & (pl.col("date") >= start) & (pl.col("date") <= book.trade_date)
    )
    p = book.pending_orders.filter((pl.col("side") == "sell") & (pl.col("est_realized_gain") < 0))
    for a, s in list(zip(t["account_id"], t["symbol"])) + list(zip(p["account_id"], p["symbol"])):
        if a in taxable and a in hh:
            out.setdefault(hh[a], set()).add((grp.get(s) or s, a))
    return out


def _target_group_weights(book: Book) -> dict[str, dict[str, float]]:
    """target_id -> wash group -> weight (models blended)."""
    grp = dict(zip(book.securities["symbol"].to_list(), book.securities["wash_group"].to_list()))
    m = book.models.filter(pl.col("symbol") != "$CASH")
    out: dict[str, dict[str, float]] = {}
    for t, mid, w in book.targets.iter_rows():
        d = out.setdefault(t, {})
        for s, x in m.filter(pl.col("model_id") == mid).select("symbol", "weight").iter_rows():
            g = grp.get(s) or s
            d[g] = d.get(g, 0.0) + w * x
    return out


def situations(book: Book, results: pl.DataFrame) -> Counter[str]:
    """Count `SITUATIONS` in one reviewed book (module docstring)."""
    c: Counter[str] = Counter({k: 0 for k in SITUATIONS})
    res = {r["account_id"]: r for r in results.to_dicts()}
    acc = book.accounts
    price = book.price_map
    grp = dict(zip(book.securities["symbol"].to_list(), book.securities["wash_group"].to_list()))
    value: dict[str, float] = dict(zip(acc["account_id"].to_list(), acc["cash"].to_list()))
    gval: dict[tuple[str, str], float] = {}
    for a, s, sh in book.lots.select("account_id", "symbol", "shares").iter_rows():
        v = sh * price.get(s, 0.0)
        value[a] = value.get(a, 0.0) + v
        key = (a, grp.get(s) or s)
        gval[key] = gval.get(key, 0.0) + v
    customized = set(book.restrictions.filter(pl.col("account_id") != "*")["account_id"].to_list())
    losses = _losses(book)
    tgw = _target_group_weights(book)
    for r in acc.to_dicts():
        a = r["account_id"]
        rr = res.get(a)
        if rr is None or rr["decision"] not in ("trade", "no_trade") or r["status"] != "active":
            continue
        V = value.get(a, 0.0)
        for g, loser in losses.get(r["household_id"], ()):
            if loser == a or V <= 0:
                continue
            want = tgw.get(r["target_id"], {}).get(g, 0.0) - gval.get((a, g), 0.0) / V
            if want > 0.01:
                c["household_wash" if r["tax_status"] == "taxable" else "ira_repurchase"] += 1
        text = str(rr.get("explanation") or "")
        relaxed = [x for x in str(rr.get("relaxed") or "").split(";") if x]
        if r["tax_status"] == "taxable" and r["gain_budget"] is not None:
            allowance = r["gain_budget"] - (r["ytd_realized_st"] or 0.0) - (r["ytd_realized_lt"] or 0.0)
            net = rr.get("net_realized_gain")
            binding_line = next((ln for ln in text.splitlines() if ln.strip().startswith("binding:")), "")
            if "gain_budget" in relaxed or "gain_budget" in binding_line or (net is not None and abs(net - allowance) <= 1.0):
                c["gain_budget_binding"] += 1
        if a in customized and any(x != "cash_need" for x in relaxed):
            c["conflict_relaxed"] += 1
        if "cash_need" in relaxed:
            c["cash_need_infeasible"] += 1
    for a, rr in res.items():
        if rr["decision"] != "error":
            continue
        msg = str(rr.get("error") or "").lower()
        if any(k in msg for k in ("restriction", "substitute", "never_buy", "never_sell", "screen", "asset_class", "sector", "customiz")):
            c["conflict_refused"] += 1
        if "cash need" in msg or "cash_need" in msg:
            c["cash_need_infeasible"] += 1
    return c
