"""The audit of one account on one day, from the store alone.

`audit_account(store, as_of=D, account_id=A)` -> `AccountAudit`: the run that reviewed the account that
day (the latest run of the day that has a row for it, or the `run_id` given), the inputs hash and
upload id, the code version and settings of that run, the account's record in the stored upload, its
target (the blended target and its own customized target, recomputed from the stored upload with
`targets.account_targets`), the customizations applied (its restriction rows and the firm-wide ones,
and every adjustment the target builder made), the decision with its reasons and error, the
explanation, and the orders with their explanations.

`rerun_orders(store, audit)` reruns the stored inputs (`Store.load_upload(upload_id=...)` -> the whole
book's review, nothing stored) and returns the account's orders, which must equal the stored ones
(the review is deterministic for the same inputs, settings and code).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any, Mapping

import polars as pl

from overlay_core.contract import FIRM_WIDE
from overlay_core.errors import OverlayError


class AuditError(OverlayError):
    """Nothing to audit: no run of that day, or the account was not reviewed in it."""

    exit_code = 2


@dataclass(frozen=True)
class AccountAudit:
    """What the store says about one account on one day (module docstring).

    Attributes
    ----------
    run : the run's row (`Store.run_info`): run_id, kind, as_of, trade_date, upload_id, input_hash,
        code_version, settings (dict), status, summary, ...
    account : the account's row of the stored upload (target_id, tax_status, cash, status, cash_need, ...).
    target : frame [symbol, weight] of the account's target as blended from its models (before customization).
    own_target : frame [symbol, weight] of the account's own (customized) target; empty if refused.
    customizations : frame [account_id, kind, value, limit]: the account's and the firm-wide restrictions.
    adjustments : frame [kind, detail]: what the target builder did with them (incl. refusals).
    result : the account's stored result row (decision, reasons, figures, error, explanation, ...).
    orders : the account's stored order lines (trade file columns, explanation).
    """

    run: Mapping[str, Any]
    account: Mapping[str, Any]
    target: pl.DataFrame
    own_target: pl.DataFrame
    customizations: pl.DataFrame
    adjustments: pl.DataFrame
    result: Mapping[str, Any]
    orders: pl.DataFrame
    warnings: tuple[str, ...] = field(default=())

    @property
    def account_id(self) -> str:
        return str(self.account["account_id"])

    @property
    def decision(self) -> str:
        return str(self.result.get("decision"))


def find_run(store: Any, *, as_of: dt.date, account_id: str, run_id: str | None = None) -> str:
    """The run that reviewed `account_id` on `as_of`: `run_id` if given, else the latest run of that day
    (by start time) with a result row for the account."""
    if run_id is not None:
        info = store.run_info(run_id)
        if info["as_of"] != as_of:
            raise AuditError(f"run {run_id} is of {info['as_of']}, not {as_of}; give the run's as_of or another --run")
        return run_id
    runs = store.runs(as_of=as_of)
    if runs.height == 0:
        raise AuditError(f"no run of {as_of} in the store {store.path}; the days stored are: "
                         f"{', '.join(sorted({str(d) for d in store.runs()['as_of'].to_list()})) or 'none'}")
    for rid in runs.sort("started_at", descending=True)["run_id"].to_list():
        if account_id in store.done_accounts(rid):
            return str(rid)
    raise AuditError(f"account {account_id!r} was not reviewed on {as_of}: no run of that day ({', '.join(runs['run_id'].to_list())}) "
                     "has a row for it; check the account id")


def audit_account(store: Any, *, as_of: dt.date, account_id: str, run_id: str | None = None) -> AccountAudit:
    """Everything the store holds about one account's review on one day (module docstring)."""
    from overlay_core.targets import account_targets
    from overlay_core.targets.blend import blend_targets

    rid = find_run(store, as_of=as_of, account_id=account_id, run_id=run_id)
    info = store.run_info(rid)
    res = store.run_results(rid).filter(pl.col("account_id") == account_id)
    result = res.row(0, named=True) if res.height else {}
    orders = store.run_orders(rid).filter(pl.col("account_id") == account_id)
    book = store.load_upload(upload_id=info["upload_id"])
    acc = book.accounts.filter(pl.col("account_id") == account_id)
    warnings: list[str] = []
    if acc.height == 0:
        q = book.quarantined.filter(pl.col("account_id") == account_id)
        account: dict[str, Any] = {"account_id": account_id, "quarantined": q["reason"].item() if q.height else "not in the upload"}
        target = own = pl.DataFrame(schema={"symbol": pl.String, "weight": pl.Float64})
        adjustments = pl.DataFrame(schema={"kind": pl.String, "detail": pl.String})
    else:
        account = acc.row(0, named=True)
        target = blend_targets(book).filter(pl.col("target_id") == account["target_id"]).select("symbol", "weight").sort("weight", descending=True)
        try:
            from overlay_core.targets import risk_model

            at = account_targets(book, risk=risk_model(book), account_ids=[account_id])
            own = at.weights.filter(pl.col("account_id") == account_id).select("symbol", "weight").sort("weight", descending=True)
            adjustments = pl.concat([
                at.adjustments.filter(pl.col("account_id") == account_id).select("kind", pl.col("detail").cast(pl.String)),
                at.refused.filter(pl.col("account_id") == account_id).select(pl.lit("refused").alias("kind"), pl.col("reason").alias("detail")),
            ])
        except OverlayError as exc:  # the target could not be rebuilt: say so, keep the rest of the audit
            own = pl.DataFrame(schema={"symbol": pl.String, "weight": pl.Float64})
            adjustments = pl.DataFrame({"kind": ["error"], "detail": [str(exc)]})
            warnings.append(f"the account's target could not be rebuilt: {exc}")
    custom = book.restrictions.filter((pl.col("account_id") == account_id) | (pl.col("account_id") == FIRM_WIDE))
    return AccountAudit(run=info, account=account, target=target, own_target=own, customizations=custom, adjustments=adjustments,
                        result=result, orders=orders, warnings=tuple(warnings))


def rerun_orders(store: Any, audit: AccountAudit) -> pl.DataFrame:
    """Rerun the stored inputs of the audited run (the whole book, nothing stored) and return the account's
    orders (trade file columns), to compare with `audit.orders`."""
    from overlay_core.simulate.review import CODE_VERSION as SIMULATE_CODE_VERSION
    from overlay_core.simulate.review import optimizer_review

    book = store.load_upload(upload_id=audit.run["upload_id"])
    if audit.run.get("code_version") == SIMULATE_CODE_VERSION:  # a run of the day loop's optimizer review
        out = optimizer_review(book, workers=0)
    else:
        from overlay_core.review.daily import review_book

        out = review_book(book, store=None, out_dir=None, workers=0, dry_run=True, progress=False)
    return out.orders.filter(pl.col("account_id") == audit.account_id)


def _explanation_text(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, str):
        try:
            parsed = json.loads(v)
        except ValueError:
            return v
        return parsed if isinstance(parsed, str) else json.dumps(parsed, indent=1)
    return str(v)


def audit_text(a: AccountAudit) -> str:
    """The audit as plain text (what `overlay audit` prints)."""
    r = a.run
    lines = [
        f"account {a.account_id} on {r['as_of']} (trade date {r['trade_date']})",
        f"run           : {r['run_id']} ({r['kind']}, {r['status']})",
        f"inputs hash   : {r['input_hash']}",
        f"upload id     : {r['upload_id']}",
        f"code version  : {r['code_version']}",
        f"settings      : {json.dumps(r['settings'], sort_keys=True, default=str)}",
        "account       : " + ", ".join(f"{k}={v}" for k, v in a.account.items() if v is not None and k != "account_id"),
        "target (blended from its models): " + ", ".join(f"{s} {w:.4f}" for s, w in a.target.iter_rows()),
        "own target (customized)         : " + (", ".join(f"{s} {w:.4f}" for s, w in a.own_target.iter_rows()) or "none"),
        "customizations: " + ("; ".join(f"{acc}:{k}={v}" + ("" if lim is None else f" limit {lim}") for acc, k, v, lim in
                                        a.customizations.select("account_id", "kind", "value", "limit").iter_rows()) or "none"),
    ]
    lines += [f"  applied: {k}: {d}" for k, d in a.adjustments.iter_rows()]
    res = a.result
    lines.append(f"decision      : {res.get('decision')}  reasons: {res.get('reasons') or ''}")
    if res.get("error"):
        lines.append(f"error         : {res['error']}")
    expl = _explanation_text(res.get("explanation"))
    if expl:
        lines.append("explanation   :")
        lines += ["  " + ln for ln in expl.splitlines()]
    lines.append(f"orders        : {a.orders.height}")
    for o in a.orders.to_dicts():
        gain = "" if o.get("est_realized_gain") is None else f" gain {o['est_realized_gain']:.2f} {o.get('term') or ''}"
        lot = f" lot {o['lot_id']}" if o.get("lot_id") else ""
        lines.append(f"  {o['side']} {o['shares']:g} {o['symbol']} @ {o['est_price']:g} = {o['est_value']:.2f}{lot}{gain} ({o.get('reason')})")
        if o.get("explanation"):
            lines.append(f"    why: {_explanation_text(o['explanation'])}")
    lines += [f"warning: {w}" for w in a.warnings]
    return "\n".join(lines)
