"""The daily review of the whole book (issue 7): every account reviewed, decided with reasons, stored.

`review_book(book, store=..., out_dir=...)` is what the central rebalancing group runs every business day
(`overlay review`, `overlay demo`):

1. **data checks** against the previous stored day (`Store.previous_upload` -> `load_upload`,
   `datacheck.check_data`): the accounts concerned are ``held`` with reason ``data_check``;
2. **every account reviewed** with the day's targets (`targets.account_targets`), drift and tracking
   error (`targets.drift`), cash needs, harvestable losses (`tax.tax_state`), restriction breaches and
   model changes since the previous stored upload, and a decision whether it needs trades today
   (`screen`); accounts on hold -> ``held``; quarantined accounts and refused customizations ->
   ``error`` with the reason; accounts with no reason to trade -> ``no_trade`` (``within_bands``);
3. the accounts that need trades are **optimized** (`review.optimizer.HouseholdReview`: the optimizer's
   rebalance, the accounts of a household one after the other so no trade of one washes a loss of
   another) through `driver.review_accounts` (local pool or Dask; one bad account is its own ``error``);
4. **files**: ``DIR/trades_<as_of>.csv`` (+ ``.ok``), ``DIR/review_<as_of>.csv`` (every account),
   ``DIR/blocks_<as_of>.csv`` (+ allocations) via `overlay_core.export`;
5. **evidence**: the upload is saved, the run begun (deterministic id from the inputs, the settings =
   the policy + the review's options, and the code version), every account's result, solver statistics,
   orders and explanation stored batch by batch, the run finished with the summary. A rerun of the day
   resumes the stored run (nothing redone unless ``fresh``) and writes the files from the store, so the
   trade file of a resumed run holds every account's orders.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Callable, Mapping

import polars as pl

from overlay_core.book import Book
from overlay_core.policy import ReviewPolicy
from overlay_core.review.datacheck import DataCheck, account_values, check_data
from overlay_core.review.driver import RESULT_SCHEMA, batch_frames, review_accounts
from overlay_core.review.optimizer import ORDERS_SCHEMA, DayInputs, HouseholdReview, ReviewOutput
from overlay_core.review.partition import DEFAULT_MIN_ACCOUNTS
from overlay_core.review.runner import BatchResult, RunStats

_REVIEW_DEFAULTS = ReviewPolicy()

#: the review's triggers (fractions): an account trades when any applies (see `screen`). These are the
#: defaults of the policy's ``[review]`` keys (`overlay_core.policy.ReviewPolicy`), which the screen uses.
TE_TRIGGER = _REVIEW_DEFAULTS.te_trigger  # annualized ex-ante tracking error above 2%
HARVEST_TRIGGER = _REVIEW_DEFAULTS.harvest_trigger  # harvestable (not wash-blocked) losses above 0.5% of the account value
MODEL_CHANGE_TOL = 1e-9  # a target weight that moved more than this is a model change
#: calendar days after a wash-sale window ends during which an account underweight the freed group is
#: optimized (the switch back from a harvest's substitute; `switch_back_candidates`)
SWITCH_BACK_DAYS = _REVIEW_DEFAULTS.switch_back_days
#: the reasons an account is optimized (in this order in its `reasons`)
TRIGGERS = ("liquidate", "restriction", "cash_need", "model_change", "drift", "tracking_error", "harvestable_losses", "switch_back")
NOT_TRADED = ("within_bands", "below_no_churn_threshold", "at_optimum")

SCREEN_SCHEMA: dict[str, pl.DataType] = {
    "account_id": pl.String(),
    "decision": pl.String(),  # optimize | no_trade | held | error
    "reasons": pl.List(pl.String()),
    "drift": pl.Float64(),
    "tracking_error": pl.Float64(),
    "harvestable": pl.Float64(),
    "detail": pl.String(),
}


@dataclass(frozen=True)
class Screen:
    """The review of every account before any optimization.

    Attributes
    ----------
    accounts : frame `SCREEN_SCHEMA`, one row per account of the book and per quarantined account:
        decision ``optimize`` (with its trigger reasons), ``no_trade`` (``within_bands``), ``held``
        (``account_on_hold`` or ``data_check``: detail) or ``error`` (``quarantined`` /
        ``customization_refused``: detail); drift = largest |weight - target| (fraction),
        tracking_error (annualized), harvestable = harvestable losses (USD, >= 0).
    model_change : account_id -> symbols whose target weight moved since the previous upload.
    data : the `DataCheck` behind the ``data_check`` holds.
    switch_back : account_id -> the wash groups it is offered to switch back to that its order lines'
        reason names (`switch_back_candidates`' groups, signal 2's narrowed: `_switch_back`).
    switch_back_lots : account_id -> lot ids of the substitutes held for them (`switch_back_substitutes`).
        Both only name the order lines' reason ``switch_back`` (passed to the optimizer's problem).
    """

    accounts: pl.DataFrame
    model_change: Mapping[str, tuple[str, ...]]
    data: DataCheck
    switch_back: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: MappingProxyType({}))
    switch_back_lots: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: MappingProxyType({}))

    def ids(self, decision: str) -> list[str]:
        return self.accounts.filter(pl.col("decision") == decision)["account_id"].to_list()


def _model_changes(book: Book, previous: Book | None) -> dict[str, tuple[str, ...]]:
    """account_id -> symbols of its target (blended model) whose weight moved since `previous`."""
    from overlay_core.targets.blend import blend_targets

    if previous is None:
        return {}
    now = blend_targets(book).select("target_id", "symbol", pl.col("weight").alias("w1"))
    try:
        before = blend_targets(previous).select("target_id", "symbol", pl.col("weight").alias("w0"))
    except Exception:  # an earlier upload the blender cannot read changes nothing today
        return {}
    moved = (
        now.join(before, on=["target_id", "symbol"], how="full", coalesce=True)
        .filter((pl.col("w1").fill_null(0.0) - pl.col("w0").fill_null(0.0)).abs() > MODEL_CHANGE_TOL)
        .group_by("target_id")
        .agg(pl.col("symbol").sort())
    )
    by_target = {t: tuple(s) for t, s in moved.iter_rows()}
    prev_target = dict(previous.accounts.select("account_id", "target_id").iter_rows())
    out: dict[str, tuple[str, ...]] = {}
    for a, t in book.accounts.select("account_id", "target_id").iter_rows():
        if a in prev_target and prev_target[a] != t:
            out[a] = tuple(sorted(set(now.filter(pl.col("target_id") == t)["symbol"].to_list())))
        elif t in by_target:
            out[a] = by_target[t]
    return out


def switch_back_candidates(book: Book, tax: Any, weights: pl.DataFrame, *, days: int = SWITCH_BACK_DAYS) -> pl.DataFrame:
    """Accounts that may switch back to a security whose wash-sale window ended in the last `days` days.

    After a loss harvest of a wash group, rule (b) blocks its purchase in every account of the household
    for 30 days; the accounts hold a substitute (or cash) meanwhile. Once the window has ended, going back
    to the target's security may be worth its tax and cost (the substitute is off-target: tracking error),
    but the move is usually too small for the bands or the 2% tracking-error trigger -- so without this
    the account would keep the substitute until some other trigger fires.

    "Freed today" below means: the first day a purchase no longer washes (the day + 31) is the trade
    date or one of the `days` - 1 calendar days before it. An account is a candidate for wash group ``g``
    when its target holds ``g``, it is underweight ``g`` by more than its minimum trade, the tax engine
    does not block ``g`` today (no later loss of the group in the window: `tax.buy_blocks`), and either

    1. a taxable account of its household sold a security of ``g`` at a loss (a sell `transactions` row
       with ``realized_gain < 0``) on a day freed today; or
    2. (the upload's transactions need only reach 30 days back, so the sale may be missing) the account
       holds a lot bought on a day freed today, of a wash group it holds above its target (the
       substitute, bought on the harvest day or while ``g`` was blocked), in ``g``'s asset class.

    Parameters
    ----------
    book : the day's book. tax : `tax.TaxState` of the book (`tax_state(book)`).
    weights : frame [account_id, symbol, weight, target] (every held or targeted symbol, as fractions of
        the account value: `targets.drift(...).securities`).
    days : how long after the window the account is offered the switch back (calendar days; < 1: never).

    Returns
    -------
    frame [account_id, switch_back (list of wash groups, sorted)], only candidate accounts.
    The optimizer decides whether switching back pays (its objective: tracking error against the tax of
    selling the substitute and the trading cost, and the no-churn threshold).
    """
    return _switch_back(book, tax, weights, days=days)[0]


#: `switch_back_substitutes`' frame
SUBSTITUTE_LOTS_SCHEMA: dict[str, pl.DataType] = {"account_id": pl.String(), "lot_id": pl.String(), "symbol": pl.String(), "wash_group": pl.String()}


def switch_back_substitutes(book: Book, tax: Any, weights: pl.DataFrame, *, days: int = SWITCH_BACK_DAYS) -> pl.DataFrame:
    """The harvest substitute lots a switch back would sell: signal 2 of `switch_back_candidates`.

    A lot of a candidate account bought on a day freed today (its date + 31 is the trade date or one of
    the `days` - 1 calendar days before), of a wash group the account holds above its target, in the
    asset class and sector (both empty for a fund) of one of the groups the reason names (signal 1's
    groups, and signal 2's sharing asset class and sector with such a lot). Used only to name the sale
    of such a lot ``switch_back`` in the trade file (`optimize.explain.line_reasons`); the optimizer
    decides. (`switch_back_candidates`' signal 2 itself, which only decides whether the account is
    optimized, also counts other lots bought that day above target, e.g. an ETF bought with the cash.)

    Returns
    -------
    frame `SUBSTITUTE_LOTS_SCHEMA` [account_id, lot_id, symbol, wash_group], sorted.
    """
    return _switch_back(book, tax, weights, days=days)[1]


def _switch_back(book: Book, tax: Any, weights: pl.DataFrame, *, days: int) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """(`switch_back_candidates`, `switch_back_substitutes`, the groups the reason names): one pass.

    The third frame [account_id, switch_back] is the candidates' groups the order lines' reason
    ``switch_back`` names (`Screen.switch_back`): signal 1's, and signal 2's in the asset class and
    sector of one of the account's substitute lots."""
    out_schema = {"account_id": pl.String(), "switch_back": pl.List(pl.String())}
    none = pl.DataFrame(schema=out_schema), pl.DataFrame(schema=SUBSTITUTE_LOTS_SCHEMA), pl.DataFrame(schema=out_schema)
    td = book.trade_date
    if days < 1:
        return none
    from overlay_core.tax.blocks import WINDOW_DAYS

    lo = td - dt.timedelta(days=days - 1)

    def freed(col: str) -> pl.Expr:
        first_free = pl.col(col) + pl.duration(days=WINDOW_DAYS + 1)
        return (first_free >= lo) & (first_free <= td)

    acc = book.accounts.select(
        "account_id", pl.coalesce(pl.col("household_id"), pl.col("account_id")).alias("hh"), pl.col("tax_status").fill_null("taxable")
    )
    taxable = acc.filter(pl.col("tax_status") == "taxable").select("account_id", "hh")
    lost = book.transactions.filter((pl.col("side") == "sell") & (pl.col("realized_gain") < 0) & freed("date")).join(taxable, on="account_id", how="inner")
    bought = book.lots.filter(freed("purchase_date"))
    if not lost.height and not bought.height:
        return none
    sec = book.securities.select("symbol", pl.coalesce(pl.col("wash_group"), pl.col("symbol")).alias("g"), "asset_class", "sector")
    min_trade = book.policy.rebalance.min_trade_value
    groups = (
        weights.join(sec, on="symbol", how="left")
        .with_columns(pl.coalesce(pl.col("g"), pl.col("symbol")).alias("g"))
        .group_by("account_id", "g")
        .agg(
            pl.col("weight").fill_null(0.0).sum().alias("w"),
            pl.col("target").fill_null(0.0).sum().alias("t"),
            pl.col("asset_class").drop_nulls().first().alias("asset_class"),
            pl.col("sector").drop_nulls().first().alias("sector"),
        )
        .join(acc.select("account_id", "hh"), on="account_id", how="inner")
    )
    still = tax.buy_blocks.select("account_id", pl.col("wash_group").alias("g")).unique()
    under = (
        groups.filter(pl.col("t") > 0)
        .join(still, on=["account_id", "g"], how="anti")
        .join(account_values(book), on="account_id", how="left")
        .join(book.accounts.select("account_id", "min_trade_value"), on="account_id", how="left")
        .filter((pl.col("t") - pl.col("w")) * pl.col("value").fill_null(0.0) > pl.col("min_trade_value").fill_null(min_trade))
    )
    by_loss = under.join(
        lost.join(sec, on="symbol", how="left").select("hh", pl.coalesce(pl.col("g"), pl.col("symbol")).alias("g")).unique(),
        on=["hh", "g"],
        how="semi",
    )
    # the substitute lots: bought on a day freed today, of a group held above target (with its asset class)
    sub_lots = (
        bought.join(sec.select("symbol", "g", "sector"), on="symbol", how="inner")
        .select("account_id", "lot_id", "symbol", "g", "sector")
        .join(groups.filter(pl.col("w") > pl.col("t")).select("account_id", "g", "asset_class"), on=["account_id", "g"], how="inner")
    )
    subs = sub_lots.select("account_id", "asset_class").unique()
    by_lot = under.join(subs, on=["account_id", "asset_class"], how="semi")
    both = pl.concat([by_loss.select("account_id", "g"), by_lot.select("account_id", "g")]).unique()
    cands = both.group_by("account_id").agg(pl.col("g").sort().alias("switch_back")).select(
        pl.col("account_id").cast(pl.String), pl.col("switch_back").cast(pl.List(pl.String))
    ).sort("account_id")
    # what the order lines' reason names (narrower than the trigger, which only asks "optimize today?"):
    # signal 2 flags every underweight group of the substitute's asset class, so a group it alone flags
    # is named only when it shares the asset class and the sector (both empty for a fund) of one of the
    # account's substitute lots -- the builder's rule for a legal substitute; signal 1's groups are named
    # as they are. A substitute lot is named when it shares asset class and sector with a named group.
    key = ["account_id", "asset_class", "sector"]
    lot_keys = sub_lots.select(key).unique()
    named = pl.concat([
        by_loss.select("account_id", "g", "asset_class", "sector"),
        by_lot.join(lot_keys, on=key, how="semi", nulls_equal=True).select("account_id", "g", "asset_class", "sector"),
    ]).unique()
    reason_groups = named.group_by("account_id").agg(pl.col("g").sort().alias("switch_back")).select(
        pl.col("account_id").cast(pl.String), pl.col("switch_back").cast(pl.List(pl.String))
    ).sort("account_id")
    lots = (
        sub_lots.join(named.select(key).unique(), on=key, how="semi", nulls_equal=True)
        .select(pl.col("account_id").cast(pl.String), pl.col("lot_id").cast(pl.String), pl.col("symbol").cast(pl.String), pl.col("g").cast(pl.String).alias("wash_group"))
        .unique()
        .sort("account_id", "lot_id")
    )
    return cands, lots, reason_groups


def triggers_of(
    book: Book,
    *,
    te_trigger: float | None = None,
    harvest_trigger: float | None = None,
    switch_back_days: int | None = None,
) -> tuple[float, float, int]:
    """The screen's (te_trigger, harvest_trigger, switch_back_days): each given value, else the book's
    policy (``[review]`` of ``policy.toml``; its defaults 0.02, 0.005 and 7 when the file has none)."""
    pol = book.policy.review
    return (
        pol.te_trigger if te_trigger is None else float(te_trigger),
        pol.harvest_trigger if harvest_trigger is None else float(harvest_trigger),
        pol.switch_back_days if switch_back_days is None else int(switch_back_days),
    )


def screen(
    book: Book,
    inputs: DayInputs,
    *,
    previous: Book | None = None,
    data: DataCheck | None = None,
    te_trigger: float | None = None,
    harvest_trigger: float | None = None,
    switch_back_days: int | None = None,
) -> Screen:
    """Review every account (vectorized over the book) and decide which need the optimizer today.

    Triggers (any one makes the account ``optimize``; all that apply are its reasons):
    ``liquidate`` (status), ``restriction`` (holds a security its restrictions exclude: screen,
    firm-wide restricted list, substituted away), ``cash_need`` (a cash need, or cash below its minimum),
    ``model_change`` (its target moved since the previous stored upload), ``drift`` (the policy's
    ``[drift]`` bands), ``tracking_error`` (> `te_trigger`), ``harvestable_losses`` (taxable, unrealized
    losses of lots not blocked by the wash-sale rule > `harvest_trigger` x value and > the minimum trade),
    ``switch_back`` (the wash-sale window of a group its target holds ended in the last `switch_back_days`
    calendar days and the account is underweight it: `switch_back_candidates`).

    `te_trigger`, `harvest_trigger` and `switch_back_days` default (None) to the book's policy, keys
    ``review.te_trigger`` (0.02), ``review.harvest_trigger`` (0.005) and ``review.switch_back_days`` (7)
    of ``policy.toml``; a value given here overrides the policy.
    """
    from overlay_core.targets.drift import drift as compute_drift

    te_trigger, harvest_trigger, switch_back_days = triggers_of(
        book, te_trigger=te_trigger, harvest_trigger=harvest_trigger, switch_back_days=switch_back_days
    )

    data = data if data is not None else check_data(book, previous)
    targets, risk, tax = inputs.targets, inputs.risk, inputs.tax
    acc = book.accounts.select("account_id", "status", "tax_status", "cash", "cash_need", "min_cash_weight", "min_trade_value")
    drifts = compute_drift(book, targets, risk=risk)
    dr = drifts.summary.select("account_id", pl.col("max_abs_drift").alias("drift"), "tracking_error", "needs_rebalance")
    switch, switch_lots, switch_named = _switch_back(book, tax, drifts.securities, days=switch_back_days)
    values = account_values(book)
    lots = tax.lots
    harvest = (
        lots.filter(
            (pl.col("tax_status") == "taxable") & (pl.col("gain_per_share") < 0) & ~pl.col("loss_sale_blocked").fill_null(False)
        )
        .group_by("account_id")
        .agg(harvestable=-(pl.col("gain_per_share") * pl.col("available_shares")).sum())
    )
    blocked = targets.blocked.filter(pl.col("reason") != "never_buy")
    held_syms = book.lots.select("account_id", "symbol").unique()
    breach = held_syms.join(blocked, on=["account_id", "symbol"], how="semi").group_by("account_id").agg(pl.len().alias("n_breach"))
    mc = _model_changes(book, previous)
    floor = book.policy.rebalance.cash_floor
    min_trade = book.policy.rebalance.min_trade_value
    df = (
        acc.join(dr, on="account_id", how="left")
        .join(values, on="account_id", how="left")
        .join(harvest, on="account_id", how="left")
        .join(breach, on="account_id", how="left")
        .join(switch, on="account_id", how="left")
        .with_columns(
            pl.col("harvestable").fill_null(0.0),
            pl.col("n_breach").fill_null(0),
            pl.col("account_id").is_in(list(mc)).alias("model_change"),
        )
    )
    refused = (
        targets.refused.group_by("account_id").agg(pl.col("reason").sort().str.join("; ").alias("refused"))
        if targets.refused.height
        else pl.DataFrame(schema={"account_id": pl.String(), "refused": pl.String()})
    )
    held = data.held.select("account_id", pl.col("detail").alias("data_detail"))
    df = df.join(refused, on="account_id", how="left").join(held, on="account_id", how="left")
    rows: list[dict[str, Any]] = []
    for r in df.iter_rows(named=True):
        value = r["value"] or 0.0
        reasons: list[str] = []
        detail = None
        if r["refused"] is not None:
            decision, reasons, detail = "error", ["customization_refused"], f"customization refused: {r['refused']}"
        elif (r["status"] or "active") == "hold":
            decision, reasons = "held", ["account_on_hold"]
        elif r["data_detail"] is not None:
            decision, reasons, detail = "held", [f"data_check: {r['data_detail']}"], r["data_detail"]
        else:
            min_cash = max(floor, r["min_cash_weight"] or 0.0) * value
            trig = {
                "liquidate": r["status"] == "liquidate",
                "restriction": r["n_breach"] > 0,
                "cash_need": (r["cash_need"] or 0.0) > 0 or (r["cash"] or 0.0) < min_cash - 0.005,
                "model_change": bool(r["model_change"]),
                "drift": bool(r["needs_rebalance"]) or r["needs_rebalance"] is None,
                "tracking_error": (r["tracking_error"] or 0.0) > te_trigger,
                "harvestable_losses": r["tax_status"] == "taxable"
                and r["harvestable"] > max(harvest_trigger * value, r["min_trade_value"] or min_trade),
                "switch_back": bool(r["switch_back"]),
            }
            reasons = [k for k in TRIGGERS if trig[k]]
            decision = "optimize" if reasons else "no_trade"
            if not reasons:
                reasons = ["within_bands"]
            elif trig["switch_back"]:
                detail = f"wash-sale window ended for {', '.join(r['switch_back'])}: the switch back is offered"
        rows.append(
            {
                "account_id": r["account_id"],
                "decision": decision,
                "reasons": reasons,
                "drift": r["drift"],
                "tracking_error": r["tracking_error"],
                "harvestable": r["harvestable"],
                "detail": detail,
            }
        )
    q = book.quarantined
    for a, why in zip(q["account_id"].to_list(), q["reason"].to_list()) if q.height else ():
        rows.append({"account_id": a, "decision": "error", "reasons": ["quarantined"], "drift": None, "tracking_error": None,
                     "harvestable": None, "detail": f"quarantined: {why}"})
    frame = pl.DataFrame(rows, schema=SCREEN_SCHEMA) if rows else pl.DataFrame(schema=SCREEN_SCHEMA)
    back = {a: tuple(g) for a, g in switch_named.iter_rows()}
    back_lots = {a: tuple(f["lot_id"].to_list()) for (a,), f in switch_lots.group_by("account_id", maintain_order=True)} if switch_lots.height else {}
    return Screen(
        accounts=frame.sort("account_id"), model_change=MappingProxyType(mc), data=data,
        switch_back=MappingProxyType(back), switch_back_lots=MappingProxyType(back_lots),
    )


def _screen_results(s: Screen, book: Book) -> pl.DataFrame:
    """The result rows of the accounts decided without the optimizer (no_trade, held, error)."""
    f = s.accounts.filter(pl.col("decision") != "optimize")
    return pl.DataFrame(
        {
            "account_id": f["account_id"],
            "decision": f["decision"],
            "reasons": f["reasons"].list.join(";"),
            "drift_before": f["drift"],
            "drift_after": f["drift"],
            "te_before": f["tracking_error"],
            "te_after": f["tracking_error"],
            "est_tax": pl.Series([0.0] * f.height, dtype=pl.Float64),
            "losses_harvested": pl.Series([0.0] * f.height, dtype=pl.Float64),
            "n_orders": pl.Series([0] * f.height, dtype=pl.Int64),
            "turnover": pl.Series([0.0] * f.height, dtype=pl.Float64),
            "error": [d if k == "error" else None for k, d in zip(f["decision"].to_list(), f["detail"].to_list())],
            "seconds": pl.Series([0.0] * f.height, dtype=pl.Float64),
            "explanation": f["detail"],
        },
        schema_overrides={"error": pl.String(), "explanation": pl.String()},
    ) if f.height else pl.DataFrame(schema=RESULT_SCHEMA)


def settings_of(book: Book, options: Mapping[str, Any]) -> dict[str, Any]:
    """The run's settings: the policy (as a plain dict) and the review's options."""

    def plain(x: Any) -> Any:
        if dataclasses.is_dataclass(x) and not isinstance(x, type):
            return {f.name: plain(getattr(x, f.name)) for f in dataclasses.fields(x)}
        if isinstance(x, Mapping):
            return {str(k): plain(v) for k, v in x.items()}
        if isinstance(x, (list, tuple, set, frozenset)):
            return [plain(v) for v in (sorted(x, key=str) if isinstance(x, (set, frozenset)) else x)]
        return x

    return {"policy": plain(book.policy), "review": dict(options)}


def _orders_frame(parts: list[pl.DataFrame]) -> pl.DataFrame:
    if not parts:
        return pl.DataFrame(schema=ORDERS_SCHEMA)
    return pl.concat(
        [o.select([pl.col(c).cast(t) if c in o.columns else pl.lit(None, dtype=t).alias(c) for c, t in ORDERS_SCHEMA.items()]) for o in parts]
    )


def summarize(results: pl.DataFrame, orders: pl.DataFrame, seconds: float) -> dict[str, Any]:
    """The run's summary: counts by decision and by not-traded reason, orders, turnover, tax, wall time."""
    dec = {k: int(v) for k, v in results.group_by("decision").len().iter_rows()} if results.height else {}
    not_traded: dict[str, int] = {}
    for why in results.filter(pl.col("decision") == "no_trade")["reasons"].to_list():
        parts = (why or "").split(";")
        key = next((p for p in parts if p in NOT_TRADED), parts[-1] if parts else "")
        not_traded[key] = not_traded.get(key, 0) + 1
    held: dict[str, int] = {}
    for why in results.filter(pl.col("decision") == "held")["reasons"].to_list():
        key = (why or "").split(";")[0].split(":")[0]
        held[key] = held.get(key, 0) + 1
    traded_value = float(orders["est_value"].abs().sum()) if orders.height else 0.0
    return {
        "accounts": results.height,
        "decisions": {k: dec.get(k, 0) for k in ("trade", "no_trade", "held", "error")},
        "not_traded_by_reason": dict(sorted(not_traded.items())),
        "held_by_reason": dict(sorted(held.items())),
        "orders": orders.height,
        "buy_value": float(orders.filter(pl.col("side") == "BUY")["est_value"].sum()) if orders.height else 0.0,
        "sell_value": float(orders.filter(pl.col("side") == "SELL")["est_value"].sum()) if orders.height else 0.0,
        "traded_value": traded_value,
        "mean_turnover_traded": float(results.filter(pl.col("decision") == "trade")["turnover"].mean() or 0.0)
        if "turnover" in results.columns else 0.0,
        "est_tax": float(results["est_tax"].fill_null(0.0).sum()) if "est_tax" in results.columns else 0.0,
        "losses_harvested": float(results["losses_harvested"].fill_null(0.0).sum()) if "losses_harvested" in results.columns else 0.0,
        "wall_seconds": seconds,
    }


@dataclass
class _Collect:
    results: list[pl.DataFrame] = field(default_factory=list)
    orders: list[pl.DataFrame] = field(default_factory=list)


def review_book(
    book: Book,
    *,
    store: Any | None,
    out_dir: Path | str | None,
    workers: int | None = None,
    scheduler: str | None = None,
    fresh: bool = False,
    dry_run: bool = False,
    progress: bool = True,
    previous: Book | None = None,
    te_trigger: float | None = None,
    harvest_trigger: float | None = None,
    min_accounts: int = DEFAULT_MIN_ACCOUNTS,
    kind: str = "review",
    on_batch: Callable[[BatchResult], None] | None = None,
) -> ReviewOutput:
    """Review every account of `book` (module docstring); write the day's files; store the evidence.

    Parameters
    ----------
    book : the day's validated book (`upload.read_upload`).
    store : an open writable `overlay_core.store.Store`, or None (nothing stored).
    out_dir : the folder of trades/review/blocks files (created), or None (no files).
    workers, scheduler : local worker processes (``None``: one per core; ``0``: in this process), or a
        Dask scheduler ``tcp://HOST:PORT``.
    fresh : start a new attempt of an already stored run instead of resuming it.
    dry_run : neither store nor write anything (the output is returned only).
    previous : the previous day's book for the data checks and model changes (default: the store's
        previous upload, if any).
    te_trigger, harvest_trigger : the review's triggers (`screen`); None (default): the policy's
        ``review.te_trigger`` / ``review.harvest_trigger``. The values used are recorded in the run's settings.
    min_accounts : the fewest accounts of a batch (`partition.partition_book`); results do not depend on it.
    on_batch : called with each optimized batch once it is stored (e.g. a log line).

    Returns
    -------
    ReviewOutput: orders (every account, also those stored by a killed earlier attempt), results (one
    row per account incl. held and error), run_id, seconds, and stats (the summary, the run's counters,
    solver time, the file paths).
    """
    from overlay_core import __version__
    from overlay_core.targets import account_targets, risk_model
    from overlay_core.tax import tax_state

    t0 = time.perf_counter()
    if dry_run:
        store, out_dir = None, None
    if previous is None and store is not None:
        prev_id = store.previous_upload(book.as_of)
        previous = store.load_upload(upload_id=prev_id) if prev_id else None
    data = check_data(book, previous)
    risk = risk_model(book)
    targets = account_targets(book, risk=risk)
    tax = tax_state(book)
    inputs = DayInputs(risk=risk, targets=targets, tax=tax)
    te_trigger, harvest_trigger, _ = triggers_of(book, te_trigger=te_trigger, harvest_trigger=harvest_trigger)
    s = screen(book, inputs, previous=previous, data=data, te_trigger=te_trigger, harvest_trigger=harvest_trigger)
    t_screen = time.perf_counter() - t0

    # what decides the results (batching does not: a resumed run may use other batches)
    options = {"te_trigger": te_trigger, "harvest_trigger": harvest_trigger,
               "previous_upload": None if previous is None else previous.input_hash}
    if store is not None:
        upload_id = store.save_upload(book)
        run_id = store.begin_run(
            upload_id=upload_id, as_of=book.as_of, trade_date=book.trade_date, input_hash=book.input_hash,
            code_version=f"overlay-core {__version__}", settings=settings_of(book, options), kind=kind, fresh=fresh,
        )
    else:
        run_id = f"dry-{book.as_of:%Y%m%d}-{(book.input_hash or 'book')[:12]}"

    pre = _screen_results(s, book)
    to_optimize = set(s.ids("optimize"))
    if store is not None and pre.height:
        done = store.done_accounts(run_id)
        store.save_accounts(run_id, pre.filter(~pl.col("account_id").is_in(list(done))))
    reasons = {a: tuple(r) for a, r in s.accounts.filter(pl.col("decision") == "optimize").select("account_id", "reasons").iter_rows()}
    fn = HouseholdReview(
        model_change={a: v for a, v in s.model_change.items() if a in to_optimize},
        reasons=reasons,
        switch_back={a: v for a, v in s.switch_back.items() if a in to_optimize},
        switch_back_lots={a: v for a, v in s.switch_back_lots.items() if a in to_optimize},
        inputs=None if scheduler else inputs,  # Dask pickles the function per task: workers compute their own
    )
    got = _Collect()
    stats = RunStats()

    def collect(b: BatchResult) -> None:
        r, o = batch_frames(b, run_id=run_id, as_of=book.as_of, trade_date=book.trade_date)
        got.results.append(r)
        if o is not None:
            got.orders.append(o)
        if on_batch is not None:
            on_batch(b)

    skip = {a for a in book.account_ids() if a not in to_optimize}
    t1 = time.perf_counter()
    review_accounts(book, fn, store=store, run_id=run_id if store is not None else None, skip=skip, scheduler=scheduler,
                    workers=workers, min_accounts=min_accounts, progress=progress, stats=stats, on_batch=collect)
    t_opt = time.perf_counter() - t1

    if store is not None:  # every account of the run, also those an earlier attempt stored
        results = store.run_results(run_id)
        stored_orders = store.run_orders(run_id)
        orders = _orders_frame([stored_orders]) if stored_orders.height else _orders_frame([])
        if got.results and "seconds" not in results.columns:  # this attempt's per-account wall times
            now = pl.concat([r.select("account_id", "seconds") for r in got.results])
            results = results.join(now, on="account_id", how="left")
    else:
        results = pl.concat([pre, *got.results], how="diagonal_relaxed") if (pre.height or got.results) else pl.DataFrame(schema=RESULT_SCHEMA)
        orders = _orders_frame(got.orders)
    results = results.sort("account_id")
    orders = orders.sort("account_id", maintain_order=True)
    paths: dict[str, str] = {}
    if out_dir is not None:
        paths = {k: str(v) for k, v in write_files(book, results, orders, out_dir, run_id=run_id).items()}
    seconds = time.perf_counter() - t0
    summary = summarize(results, orders, seconds)
    solve = float(results["solve_seconds"].fill_null(0.0).sum()) if "solve_seconds" in results.columns else 0.0
    run_stats = {
        "run_id": run_id,
        "batches": stats.batches,
        "optimized_now": stats.accounts,
        "resumed": len(to_optimize) - stats.accounts,
        "worker_seconds": stats.worker_seconds,
        "solver_seconds": solve,
        "screen_seconds": t_screen,
        "optimize_wall_seconds": t_opt,
        "workers": sorted(stats.workers),
        "retried_batches": stats.retried_batches,
        "lost_batches": stats.lost_batches,
        "data_check_findings": s.data.findings.height,
        "files": paths,
    }
    if store is not None:
        store.finish_run(run_id, {**summary, **{k: v for k, v in run_stats.items() if k != "workers"}})
    return ReviewOutput(orders=orders, results=results, run_id=run_id, seconds=seconds,
                        stats=MappingProxyType({**summary, **run_stats}))


def write_files(book: Book, results: pl.DataFrame, orders: pl.DataFrame, out_dir: Path | str, *, run_id: str) -> dict[str, Path]:
    """Write the day's trade file (+ .ok), review file and block files; return their paths."""
    from overlay_core.export import write_blocks_file, write_review_file, write_trade_file

    sec = book.securities
    types = dict(zip(sec["symbol"].to_list(), sec["type"].to_list()))
    incs = {s: v for s, v in zip(sec["symbol"].to_list(), sec["trade_increment"].to_list()) if v is not None}
    o = orders.with_columns(run_id=pl.lit(run_id), as_of=pl.lit(book.as_of), trade_date=pl.lit(book.trade_date))
    trades = write_trade_file(o, out_dir, as_of=book.as_of, run_id=run_id, trade_date=book.trade_date, security_types=types, trade_increments=incs)
    review = write_review_file(results, out_dir, as_of=book.as_of)
    blocks, alloc = write_blocks_file(o, out_dir, as_of=book.as_of, trade_date=book.trade_date, security_types=types, trade_increments=incs)
    return {"trades": trades, "review": review, "blocks": blocks, "allocations": alloc}
