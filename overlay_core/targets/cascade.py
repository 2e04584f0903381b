"""The target-level cascade: preview a change to models or blends on every account that follows it.

A change (`CHANGE.csv`) is one of:

- ``model_id, symbol, weight``: the complete new weights of each model named (a new weight vector, a
  product swap: every symbol the model should hold after the change; symbols left out leave the model);
- ``target_id, model_id, weight``: the complete new blend of each target named.

Weights follow the upload's rules (>= 0, summing to 1 within the policy's ``weight_tolerance``, then
renormalized). Every problem is reported at once in a `DataError` naming the file, row and column.

`cascade(book, change)` finds exactly the accounts whose target contains a changed model, or whose
target is a changed target, and computes for each, **without committing anything** (the book is not
modified; a changed copy is used): the old and new account target (customizations applied), the drift
and tracking error of today's holdings against each, and how much the target moved (one-way: half the
sum of absolute weight changes). The summary aggregates by target and advisor.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

import polars as pl

from overlay_core.book import Book
from overlay_core.contract import CASH, SYMBOL_RE
from overlay_core.errors import DataError, Level, Problem
from overlay_core.holdings import holdings as compute_holdings
from overlay_core.targets.blend import blend
from overlay_core.targets.customize import AccountTargets, account_targets
from overlay_core.targets.drift import compute_drift
from overlay_core.targets.risk import RiskModel

MODEL_COLUMNS = ("model_id", "symbol", "weight")
TARGET_COLUMNS = ("target_id", "model_id", "weight")

ACCOUNT_COLUMNS = (
    "account_id",
    "target_id",
    "advisor",
    "value",
    "te_before",
    "te_after",
    "max_drift_before",
    "max_drift_after",
    "class_breaches_before",
    "class_breaches_after",
    "security_breaches_before",
    "security_breaches_after",
    "needs_rebalance_before",
    "needs_rebalance_after",
    "target_change",
    "error",
)
SUMMARY_COLUMNS = (
    "target_id",
    "advisor",
    "accounts",
    "value",
    "te_before_mean",
    "te_after_mean",
    "te_after_max",
    "needs_rebalance_before",
    "needs_rebalance_after",
    "target_change_mean",
    "errors",
)


@dataclass(frozen=True)
class Change:
    """A validated change.

    Attributes
    ----------
    kind : ``models`` (new model weights) or ``targets`` (new blends).
    rows : frame [model_id, symbol, weight] or [target_id, model_id, weight], renormalized.
    source : the file it came from (for messages).
    """

    kind: Literal["models", "targets"]
    rows: pl.DataFrame
    source: str = "CHANGE.csv"

    @property
    def ids(self) -> list[str]:
        col = "model_id" if self.kind == "models" else "target_id"
        return sorted(set(self.rows[col].to_list()))


def parse_change(raw: pl.DataFrame, book: Book, *, source: str = "CHANGE.csv") -> Change:
    """Validate a change given as a frame of strings (or numbers) against the book.

    Raises
    ------
    DataError : listing every problem (file, row, column, found, expected).
    """
    problems: list[Problem] = []

    def bad(row: int | None, col: str | None, found: str, expected: str) -> None:
        problems.append(Problem(source, row, col, found, expected, Level.BOOK))

    cols = [c.strip() for c in raw.columns]
    raw = raw.rename(dict(zip(raw.columns, cols)))
    if set(MODEL_COLUMNS) <= set(cols) and "target_id" not in cols:
        kind: Literal["models", "targets"] = "models"
        key_cols = ("model_id", "symbol")
    elif set(TARGET_COLUMNS) <= set(cols) and "symbol" not in cols:
        kind = "targets"
        key_cols = ("target_id", "model_id")
    else:
        raise DataError(
            f"{source}: unknown layout",
            [Problem(source, None, None, f"columns {', '.join(cols) or '(none)'}",
                     "either model_id, symbol, weight (new model weights) or target_id, model_id, weight (new blends)")],
        )
    if raw.height == 0:
        raise DataError(f"{source}: no change", [Problem(source, None, None, "no data rows", "at least one row")])
    known_models = set(book.models["model_id"].to_list())
    known_targets = set(book.targets["target_id"].to_list())
    known_symbols = set(book.securities["symbol"].to_list())
    rows: list[tuple[str, str, float]] = []
    seen: dict[tuple[str, str], int] = {}
    for n, rec in enumerate(raw.select(*key_cols, "weight").iter_rows(), start=1):
        a = "" if rec[0] is None else str(rec[0]).strip()
        b = "" if rec[1] is None else str(rec[1]).strip()
        ok = True
        if not a:
            bad(n, key_cols[0], "an empty value", f"a {key_cols[0]}")
            ok = False
        if not b:
            bad(n, key_cols[1], "an empty value", f"a {key_cols[1]}")
            ok = False
        try:
            wt = float(str(rec[2]).strip()) if rec[2] is not None else math.nan
        except ValueError:
            wt = math.nan
        if not math.isfinite(wt) or wt < 0:
            bad(n, "weight", repr(rec[2]), "a finite number >= 0")
            ok = False
        if kind == "models":
            if a and a not in known_models:
                bad(n, "model_id", repr(a), f"a model of the upload ({', '.join(sorted(known_models))}): no account follows a new model")
                ok = False
            if b and b != CASH and not SYMBOL_RE.match(b):
                bad(n, "symbol", repr(b), "a symbol matching [A-Z0-9./-]+ or $CASH")
                ok = False
            elif b and b != CASH and b not in known_symbols:
                bad(n, "symbol", repr(b), "a security of the upload's securities table")
                ok = False
        else:
            if a and a not in known_targets:
                bad(n, "target_id", repr(a), f"a target of the upload ({', '.join(sorted(known_targets))})")
                ok = False
            if b and b not in known_models:
                bad(n, "model_id", repr(b), f"a model of the upload ({', '.join(sorted(known_models))})")
                ok = False
        if a and b:
            if (a, b) in seen:
                bad(n, ", ".join(key_cols), f"{a}, {b} again (first at row {seen[(a, b)]})", "one row per key")
                ok = False
            else:
                seen[(a, b)] = n
        if ok:
            rows.append((a, b, wt))
    frame = pl.DataFrame(rows, schema={key_cols[0]: pl.String, key_cols[1]: pl.String, "weight": pl.Float64}, orient="row")
    tol = book.policy.validation.weight_tolerance
    if frame.height:
        sums = frame.group_by(key_cols[0]).agg(pl.col("weight").sum().alias("s")).sort(key_cols[0])
        for ident, s in sums.iter_rows():
            if abs(s - 1.0) > tol:
                bad(None, "weight", f"weights of {key_cols[0]} {ident} summing to {s:.6f}", f"a sum of 1 within {tol:g}")
    if problems:
        raise DataError(f"{source}: the change is refused", problems)
    frame = frame.with_columns(pl.col("weight") / pl.col("weight").sum().over(key_cols[0]))
    return Change(kind=kind, rows=frame, source=source)


def read_change(path: str | Path, book: Book) -> Change:
    """Read and validate `CHANGE.csv` (or ``.parquet``) against the book (see `parse_change`)."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise DataError(f"cannot read {p}", [Problem(p.name, None, None, exc.strerror or str(exc), "a readable file")]) from None
    try:
        if p.suffix.lower() == ".parquet":
            raw = pl.read_parquet(io.BytesIO(data)).cast(pl.String)
        else:
            text = data.decode("utf-8-sig")
            raw = pl.read_csv(io.StringIO(text), infer_schema=False)
    except Exception as exc:  # noqa: BLE001 - any parser failure is the user's file
        raise DataError(f"cannot parse {p.name}", [Problem(p.name, None, None, str(exc).splitlines()[0], "a CSV file with a header row")]) from None
    return parse_change(raw, book, source=p.name)


def apply_change(book: Book, change: Change) -> Book:
    """A copy of `book` with the change applied (the given book is not modified)."""
    if change.kind == "models":
        models = pl.concat(
            [
                book.models.filter(~pl.col("model_id").is_in(change.ids)),
                change.rows.with_columns(pl.lit(None, pl.String).alias("provider")).select(book.models.columns).cast(book.models.schema),
            ]
        )
        return replace(book, models=models)
    targets = pl.concat(
        [
            book.targets.filter(~pl.col("target_id").is_in(change.ids)),
            change.rows.select(book.targets.columns).cast(book.targets.schema),
        ]
    )
    return replace(book, targets=targets)


def affected_targets(book: Book, change: Change) -> list[str]:
    """The targets a change reaches: those blending a changed model, or the changed targets."""
    if change.kind == "models":
        return sorted(set(book.targets.filter(pl.col("model_id").is_in(change.ids))["target_id"].to_list()))
    return change.ids


@dataclass(frozen=True)
class CascadeResult:
    """The preview of a change.

    Attributes
    ----------
    change : the change.
    targets : the affected target ids.
    accounts : frame with `ACCOUNT_COLUMNS`, one row per follower (``error`` says why an account has no
        old or new target, e.g. a customization refused under the new target).
    summary : frame with `SUMMARY_COLUMNS`, one row per target and advisor.
    before, after : the followers' account targets before and after.
    """

    change: Change
    targets: tuple[str, ...]
    accounts: pl.DataFrame
    summary: pl.DataFrame
    before: AccountTargets
    after: AccountTargets


def cascade(book: Book, change: Change, *, risk: RiskModel | None = None) -> CascadeResult:
    """Preview `change` on every account that follows it (nothing is committed; see module docstring).

    Parameters
    ----------
    book : the day's book.
    change : from `read_change` / `parse_change`.
    risk : the risk model (for tracking errors); ``None`` leaves them null.
    """
    tids = affected_targets(book, change)
    followers_frame = book.accounts.filter(pl.col("target_id").is_in(tids))
    followers = followers_frame["account_id"].to_list()
    new_book = apply_change(book, change)
    hold = compute_holdings(book)
    # only the followers' positions matter (holdings are cheap; they are computed for the book once)
    old_tw = blend(book.models, book.targets.filter(pl.col("target_id").is_in(tids)))
    new_tw = blend(new_book.models, new_book.targets.filter(pl.col("target_id").is_in(tids)))
    before = account_targets(book, risk=risk, account_ids=followers, target_weights=old_tw, positions=hold)
    after = account_targets(new_book, risk=risk, account_ids=followers, target_weights=new_tw, positions=hold)
    pol = book.policy.drift
    d0 = compute_drift(hold.weights, before.weights, book.securities, pol, risk=risk).summary
    d1 = compute_drift(hold.weights, after.weights, book.securities, pol, risk=risk).summary

    def side(d: pl.DataFrame, suffix: str) -> pl.DataFrame:
        return d.select(
            "account_id",
            pl.col("tracking_error").alias(f"te_{suffix}"),
            pl.col("max_abs_drift").alias(f"max_drift_{suffix}"),
            pl.col("asset_class_breaches").alias(f"class_breaches_{suffix}"),
            pl.col("security_breaches").alias(f"security_breaches_{suffix}"),
            pl.col("needs_rebalance").alias(f"needs_rebalance_{suffix}"),
        )

    moved = (
        pl.concat(
            [
                before.weights.select("account_id", "symbol", (-pl.col("weight")).alias("weight")),
                after.weights,
            ]
        )
        .join(before.weights.select("account_id").unique(), on="account_id", how="semi")
        .join(after.weights.select("account_id").unique(), on="account_id", how="semi")
        .group_by("account_id", "symbol")
        .agg(pl.col("weight").sum())
        .group_by("account_id")
        .agg((pl.col("weight").abs().sum() / 2).alias("target_change"))
    )
    errors = pl.concat(
        [
            before.refused.select("account_id", ("before: " + pl.col("reason")).alias("error")),
            after.refused.select("account_id", ("after: " + pl.col("reason")).alias("error")),
        ]
    ).group_by("account_id", maintain_order=True).agg(pl.col("error").str.join("; "))
    advisor = pl.col("advisor") if "advisor" in followers_frame.columns else pl.lit(None, pl.String)
    accounts = (
        followers_frame.select("account_id", "target_id", advisor.alias("advisor"))
        .join(hold.totals.select("account_id", "value"), on="account_id", how="left")
        .join(side(d0, "before"), on="account_id", how="left")
        .join(side(d1, "after"), on="account_id", how="left")
        .join(moved, on="account_id", how="left")
        .join(errors, on="account_id", how="left")
        .select(ACCOUNT_COLUMNS)
        .sort("account_id")
    )
    summary = (
        accounts.group_by("target_id", "advisor")
        .agg(
            pl.len().cast(pl.Int64).alias("accounts"),
            pl.col("value").sum(),
            pl.col("te_before").mean().alias("te_before_mean"),
            pl.col("te_after").mean().alias("te_after_mean"),
            pl.col("te_after").max().alias("te_after_max"),
            pl.col("needs_rebalance_before").sum().cast(pl.Int64),
            pl.col("needs_rebalance_after").sum().cast(pl.Int64),
            pl.col("target_change").mean().alias("target_change_mean"),
            pl.col("error").is_not_null().sum().cast(pl.Int64).alias("errors"),
        )
        .select(SUMMARY_COLUMNS)
        .sort("target_id", "advisor", nulls_last=True)
    )
    return CascadeResult(change=change, targets=tuple(tids), accounts=accounts, summary=summary, before=before, after=after)
