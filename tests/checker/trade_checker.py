"""The independent trade-file checker: every line of a trade file against the data contract.

Written from `DATA_CONTRACT.md` alone ("The trade file" and "What every line obeys"). It imports
nothing of the engine but the upload reader (`overlay_core.upload.read_upload`) and the `Book` it
returns: holding periods, lot relief, households, wash groups, pending orders and cash are all
re-derived here with their own small helpers, so an engine bug cannot hide behind a shared helper.

Public API
----------
check_trade_file(upload_dir, trades_csv, *, as_of=None) -> list[Violation]
check_trades_against_book(book, trades_csv) -> list[Violation]
Violation(kind, line, account_id, symbol, message)
KINDS: every violation kind, with what it means.

Conventions chosen where the contract leaves room (documented in docs/trade_file.md):
- "within the 30 days before the trade date" = dates d with trade_date - 30 days <= d <= trade_date.
- a buy transaction is the purchase of the lot it names (`lot_id`); one without `lot_id` is taken
  to be the purchase of a lot of the same account and symbol whose `purchase_date` is its date, if
  there is one — so "not counting the lot being sold / lots sold in full" excludes it too.
- est_realized_gain is checked to within one cent (engines compute in floating point before
  rounding); est_value must equal the half-even cent of the exact product of the written texts.
- a pending sell that names no lot is taken to relieve the account's lots of that symbol first in,
  first out by purchase_date (the default when shares are not identified) for "sold in full" and for a
  lot's exact remainder; a lot is oversold only by this file plus the pending sells that name it (the
  account-level short-sale check counts every pending sell). Where the contract leaves room, the
  checker accepts either reading rather than flag a correct engine.
- cash >= 0 is checked exactly (Decimal) with est_value for this file's lines and shares x close
  (exact) for pending orders.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import math
from collections import defaultdict
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Iterable

import polars as pl

# The contract's own lists, restated here on purpose (not imported from the engine).
COLUMNS = (
    "run_id", "as_of", "trade_date", "account_id", "symbol", "side", "shares", "est_price", "est_value",
    "lot_id", "est_realized_gain", "term", "reason",
)
# switch_back: added to the contract's list (docs/trade_file.md, "more may be added, documented")
REASONS = ("restriction", "cash_raise", "substitution", "model_change", "transition", "switch_back", "tax_loss_harvest", "rebalance")
WHOLE = ("equity", "etf")
MILLI = ("mutual_fund", "cash_equivalent")
FIRM = "*"
CASH = "$CASH"
WINDOW_DAYS = 30
CENT = Decimal("0.01")
SHARE_TOL = Decimal("1e-8")

KINDS: dict[str, str] = {
    "file": "the file cannot be read, or is named for another day",
    "header": "the header is not the contract's columns in order",
    "ok_file": "the .ok file is missing, or its row count or sha256 does not match the csv",
    "sort_order": "rows are not sorted by account_id, side (SELL first), symbol, lot_id",
    "field": "a field is malformed or inconsistent with the file (run_id, as_of, trade_date, number text)",
    "unknown_account": "the account is not in the upload (or was quarantined)",
    "hold_account": "a line for an account with status hold",
    "unknown_symbol": "the symbol is not a security of the upload (or is $CASH)",
    "side": "side is not SELL or BUY",
    "shares": "shares <= 0",
    "granularity": "shares off the type's grid (whole / 3 decimals / trade_increment) and not a lot's exact remainder",
    "est_price": "est_price is not the upload's close",
    "est_value": "est_value is not shares x est_price rounded half-even to cents",
    "unknown_lot": "a SELL names no lot, or a lot that is not this account's lot of this symbol",
    "lot_on_buy": "a BUY names a lot",
    "oversell_lot": "the shares sold from a lot (this file and pending orders) exceed the lot",
    "short_sale": "the account's position in a symbol after this file and pending orders is negative",
    "realized_gain": "est_realized_gain wrong (taxable SELL), or not empty (BUY / non-taxable)",
    "term": "term wrong (taxable SELL), or not empty (BUY / non-taxable)",
    "reason": "reason is not one of the contract's values",
    "cash": "the account's cash after its orders and pending orders is negative",
    "never_buy": "a BUY of the account's never_buy symbol",
    "screened": "a BUY of a security carrying one of the account's screen tags",
    "substituted_away": "a BUY of FROM of a substitute FROM>TO restriction",
    "firm_restricted": "a BUY of a security on the firm-wide restricted list (account_id *)",
    "never_sell": "a SELL of a never_sell symbol",
    "wash_sale_a": "a loss SELL of a wash group the household acquired in the 30 days, or that this file buys in the household",
    "wash_sale_b": "a BUY of a wash group in which a taxable account of the household realized a loss in the 30 days",
}


@dataclass(frozen=True, slots=True)
class Violation:
    """One broken rule. `line` is the 1-based data row of the trade file (None: the whole file)."""

    kind: str
    line: int | None
    account_id: str | None
    symbol: str | None
    message: str

    def __str__(self) -> str:
        where = "file" if self.line is None else f"line {self.line}"
        return f"[{self.kind}] {where} {self.account_id or ''} {self.symbol or ''}: {self.message}"


# ------------------------------------------------------------------------------------------------
# small helpers of our own


def _dec(x: Any) -> Decimal:
    """Exact decimal of a number as written (float -> its shortest repr)."""
    if isinstance(x, Decimal):
        return x
    if isinstance(x, float):
        return Decimal(repr(x))
    return Decimal(str(x))


def _blank(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v)) or (isinstance(v, str) and v.strip() == "")


def long_term_from(acquired: dt.date) -> dt.date:
    """The first day a lot acquired on `acquired` is long-term: the first anniversary of the day after.

    A holding period starts the day after acquisition; held more than one year means sold on or after
    the anniversary of that start day. A start day of Feb 29 has its anniversary on Mar 1.
    """
    start = acquired + dt.timedelta(days=1)
    try:
        return start.replace(year=start.year + 1)
    except ValueError:  # Feb 29 -> no Feb 29 next year
        return dt.date(start.year + 1, 3, 1)


def _is_multiple(x: Decimal, step: Decimal) -> bool:
    if step <= 0:
        return True
    q = x / step
    return abs(q - q.to_integral_value()) <= Decimal("1e-9")


def _rows(frame: pl.DataFrame) -> list[dict[str, Any]]:
    return frame.to_dicts() if frame.height else []


# ------------------------------------------------------------------------------------------------
# the book, seen through the contract


@dataclass
class _World:
    as_of: dt.date
    trade_date: dt.date
    close: dict[str, float]
    sec_type: dict[str, str]
    increment: dict[str, float | None]
    wash_group: dict[str, str]
    tags: dict[str, frozenset[str]]
    account: dict[str, dict[str, Any]]
    household: dict[str, str]
    members: dict[str, list[str]]
    lots: dict[tuple[str, str], dict[str, Any]]
    lots_by_account: dict[str, list[dict[str, Any]]]
    restr: dict[str, list[dict[str, Any]]]
    firm: list[dict[str, Any]]
    transactions: list[dict[str, Any]]
    pending: list[dict[str, Any]]

    def group(self, symbol: str) -> str:
        return self.wash_group.get(symbol) or symbol


def _world(book: Any, relevant: set[str] | None = None) -> _World:
    """The book as plain dicts. `relevant`: the accounts whose lots are needed (with their households'
    accounts); None: every account."""
    secs = _rows(book.securities)
    close = {r["symbol"]: float(r["close"]) for r in _rows(book.prices)}
    wash_group = {r["symbol"]: (r.get("wash_group") or r["symbol"]) for r in secs}
    tags = {r["symbol"]: frozenset(t.strip() for t in (r.get("tags") or "").split(";") if t.strip()) for r in secs}
    inc = {}
    for r in secs:
        v = r.get("trade_increment")
        inc[r["symbol"]] = None if _blank(v) or float(v) <= 0 else float(v)
    accounts = {}
    household = {}
    members: dict[str, list[str]] = defaultdict(list)
    for r in _rows(book.accounts):
        a = dict(r)
        a["household_id"] = a.get("household_id") or a["account_id"]
        a["status"] = a.get("status") or "active"
        accounts[a["account_id"]] = a
        household[a["account_id"]] = a["household_id"]
        members[a["household_id"]].append(a["account_id"])
    lots = {}
    by_acct: dict[str, list[dict[str, Any]]] = defaultdict(list)
    lots_frame = book.lots
    if relevant is not None:
        hh_of = dict(zip(book.accounts["account_id"].to_list(), book.accounts["household_id"].to_list()))
        households = {hh_of.get(a) or a for a in relevant}
        keep = {a for a, h in hh_of.items() if (h or a) in households} | set(relevant)
        lots_frame = lots_frame.filter(pl.col("account_id").is_in(list(keep)))
    for r in _rows(lots_frame):
        lot = dict(r)
        lot["purchase_date"] = lot.get("purchase_date") or lot.get("acquired")
        lots[(lot["account_id"], str(lot["lot_id"]))] = lot
        by_acct[lot["account_id"]].append(lot)
    restr: dict[str, list[dict[str, Any]]] = defaultdict(list)
    firm = []
    for r in _rows(book.restrictions):
        (firm if r["account_id"] == FIRM else restr[r["account_id"]]).append(r)
    return _World(
        as_of=book.as_of,
        trade_date=book.trade_date,
        close=close,
        sec_type={r["symbol"]: r["type"] for r in secs},
        increment=inc,
        wash_group=wash_group,
        tags=tags,
        account=accounts,
        household=household,
        members=dict(members),
        lots=lots,
        lots_by_account=dict(by_acct),
        restr=dict(restr),
        firm=firm,
        transactions=_rows(book.transactions),
        pending=_rows(book.pending_orders),
    )


# ------------------------------------------------------------------------------------------------
# reading the file


@dataclass
class _Line:
    n: int
    raw: dict[str, str]
    account_id: str
    symbol: str
    side: str
    shares: Decimal | None
    price: Decimal | None
    value: Decimal | None
    lot_id: str
    gain: Decimal | None
    gain_text: str
    term: str


def _parse_num(text: str) -> Decimal | None:
    try:
        d = Decimal(text.strip())
    except (InvalidOperation, AttributeError):
        return None
    return d if d.is_finite() else None


def _read_file(path: Path, out: list[Violation]) -> tuple[list[str], list[_Line], bytes] | None:
    try:
        data = path.read_bytes()
    except OSError as exc:
        out.append(Violation("file", None, None, None, f"cannot read {path}: {exc}"))
        return None
    text = data.decode("utf-8-sig")
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        table = list(reader)
    except csv.Error as exc:
        out.append(Violation("file", None, None, None, f"{path.name}: not CSV ({exc})"))
        return None
    if not table:
        out.append(Violation("header", None, None, None, "empty file; expected at least the header"))
        return None
    header, body = table[0], table[1:]
    if tuple(header) != COLUMNS:
        out.append(Violation("header", None, None, None, f"header {header}; expected {list(COLUMNS)}"))
        return None
    lines = []
    for n, row in enumerate(body, start=1):
        if len(row) != len(COLUMNS):
            out.append(Violation("field", n, None, None, f"{len(row)} fields; expected {len(COLUMNS)}"))
            continue
        raw = dict(zip(COLUMNS, row))
        nums = {}
        for col in ("shares", "est_price", "est_value"):
            nums[col] = _parse_num(raw[col])
            if nums[col] is None:
                out.append(Violation("field", n, raw["account_id"], raw["symbol"], f"{col} {raw[col]!r} is not a number"))
        gain = None
        if raw["est_realized_gain"].strip():
            gain = _parse_num(raw["est_realized_gain"])
            if gain is None:
                out.append(Violation("field", n, raw["account_id"], raw["symbol"], f"est_realized_gain {raw['est_realized_gain']!r} is not a number"))
        lines.append(
            _Line(n, raw, raw["account_id"], raw["symbol"], raw["side"], nums["shares"], nums["est_price"], nums["est_value"],
                  raw["lot_id"], gain, raw["est_realized_gain"], raw["term"])
        )
    return header, lines, data


def _check_ok(path: Path, data: bytes, n_rows: int, out: list[Violation]) -> None:
    ok = path.with_name(path.name + ".ok")
    if not ok.exists():
        out.append(Violation("ok_file", None, None, None, f"{ok.name} is missing"))
        return
    fields: dict[str, str] = {}
    for line in ok.read_text(encoding="utf-8").splitlines():
        if "=" in line:
            k, v = line.split("=", 1)
            fields[k.strip()] = v.strip()
    sha = hashlib.sha256(data).hexdigest()
    if fields.get("rows") != str(n_rows):
        out.append(Violation("ok_file", None, None, None, f"{ok.name}: rows={fields.get('rows')!r}; the csv has {n_rows} rows"))
    if fields.get("sha256") != sha:
        out.append(Violation("ok_file", None, None, None, f"{ok.name}: sha256={fields.get('sha256')!r}; the csv's is {sha}"))


# ------------------------------------------------------------------------------------------------
# the checks


def check_trade_file(upload_dir: str | Path, trades_csv: str | Path, *, as_of: dt.date | None = None) -> list[Violation]:
    """Read the upload with `overlay_core.upload.read_upload` and check `trades_csv` against it."""
    from overlay_core.upload import read_upload

    book = read_upload(upload_dir) if as_of is None else read_upload(upload_dir, as_of=as_of)
    return check_trades_against_book(book, trades_csv)


def check_trades_against_book(book: Any, trades_csv: str | Path) -> list[Violation]:
    """Check every line of `trades_csv` against the contract, given the day's `Book`.

    Returns every violation found (an empty list: the file obeys the contract).
    """
    out: list[Violation] = []
    path = Path(trades_csv)
    expected_name = f"trades_{book.as_of.isoformat()}.csv"
    if path.name != expected_name:
        out.append(Violation("file", None, None, None, f"file name {path.name!r}; expected {expected_name!r}"))
    read = _read_file(path, out)
    if read is None:
        return out
    _, lines, data = read
    # lots matter only to SELL lines (the lot, positions, FIFO of pending sells, wash rule (a) in the household)
    w = _world(book, {ln.account_id for ln in lines if ln.side == "SELL"})
    _check_ok(path, data, len(lines), out)
    _check_sort(lines, out)
    _check_fields(w, lines, out)
    good = [ln for ln in lines if _line_basics(w, ln, out)]
    _check_lots_and_positions(w, good, out)
    _check_tax(w, good, out)
    _check_restrictions(w, good, out)
    _check_cash(w, good, out)
    _check_wash(w, good, out)
    return out


def _check_sort(lines: list[_Line], out: list[Violation]) -> None:
    def key(ln: _Line) -> tuple[str, int, str, str]:
        return (ln.account_id, 0 if ln.side == "SELL" else 1, ln.symbol, ln.lot_id)

    for prev, cur in zip(lines, lines[1:]):
        if key(cur) < key(prev):
            out.append(Violation("sort_order", cur.n, cur.account_id, cur.symbol, f"row {cur.n} sorts before row {prev.n}"))


def _check_fields(w: _World, lines: list[_Line], out: list[Violation]) -> None:
    run_ids = {ln.raw["run_id"] for ln in lines}
    for ln in lines:
        if not ln.raw["run_id"].strip():
            out.append(Violation("field", ln.n, ln.account_id, ln.symbol, "empty run_id"))
        if ln.raw["as_of"] != w.as_of.isoformat():
            out.append(Violation("field", ln.n, ln.account_id, ln.symbol, f"as_of {ln.raw['as_of']!r}; expected {w.as_of.isoformat()}"))
        if ln.raw["trade_date"] != w.trade_date.isoformat():
            out.append(Violation("field", ln.n, ln.account_id, ln.symbol, f"trade_date {ln.raw['trade_date']!r}; expected {w.trade_date.isoformat()}"))
        if ln.raw["reason"] not in REASONS:
            out.append(Violation("reason", ln.n, ln.account_id, ln.symbol, f"reason {ln.raw['reason']!r}; expected one of {', '.join(REASONS)}"))
    if len(run_ids) > 1:
        out.append(Violation("field", None, None, None, f"{len(run_ids)} run_ids in one file: {sorted(run_ids)}"))


def _line_basics(w: _World, ln: _Line, out: list[Violation]) -> bool:
    """Per-line checks that need no other line. False when the line cannot be checked further."""
    ok = True

    def bad(kind: str, msg: str) -> None:
        out.append(Violation(kind, ln.n, ln.account_id, ln.symbol, msg))

    acct = w.account.get(ln.account_id)
    if acct is None:
        bad("unknown_account", f"account {ln.account_id!r} is not in the upload's accounts (unknown or quarantined)")
        ok = False
    elif acct["status"] == "hold":
        bad("hold_account", f"account {ln.account_id!r} has status hold; expected no lines")
    if ln.symbol == CASH or ln.symbol not in w.sec_type:
        bad("unknown_symbol", f"symbol {ln.symbol!r} is not a security of the upload")
        ok = False
    if ln.side not in ("SELL", "BUY"):
        bad("side", f"side {ln.side!r}; expected SELL or BUY")
        ok = False
    if ln.shares is None or ln.price is None or ln.value is None:
        return False
    if ln.shares <= 0:
        bad("shares", f"shares {ln.raw['shares']}; expected > 0")
        ok = False
    if ln.symbol in w.close and float(ln.price) != w.close[ln.symbol]:
        bad("est_price", f"est_price {ln.raw['est_price']}; expected the close {w.close[ln.symbol]!r}")
    expected_value = (ln.shares * ln.price).quantize(CENT, rounding=ROUND_HALF_EVEN)
    if ln.value != expected_value or "." not in ln.raw["est_value"] or len(ln.raw["est_value"].split(".")[1]) != 2:
        bad("est_value", f"est_value {ln.raw['est_value']}; expected {expected_value} (= {ln.raw['shares']} x {ln.raw['est_price']}, half-even cents)")
    if ln.side == "BUY" and ln.lot_id:
        bad("lot_on_buy", f"BUY names lot {ln.lot_id!r}; expected an empty lot_id")
    return ok


def _pending_sold_from_lot(w: _World) -> dict[tuple[str, str], Decimal]:
    sold: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for p in w.pending:
        if p["side"] == "sell" and not _blank(p.get("lot_id")):
            sold[(p["account_id"], str(p["lot_id"]))] += _dec(p["shares"])
    return sold


def _fifo_pending_from_lot(w: _World) -> dict[tuple[str, str], Decimal]:
    """Shares of each lot relieved by pending sells that name no lot: first in, first out by purchase_date
    (the default when shares are not identified), after the pending sells that name their lot."""
    named = _pending_sold_from_lot(w)
    relieved: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for p in w.pending:
        if p["side"] != "sell" or not _blank(p.get("lot_id")):
            continue
        left = _dec(p["shares"])
        lots = sorted(
            (lot for lot in w.lots_by_account.get(p["account_id"], []) if lot["symbol"] == p["symbol"]),
            key=lambda lot: (lot["purchase_date"] or dt.date.min, str(lot["lot_id"])),
        )
        for lot in lots:
            key = (p["account_id"], str(lot["lot_id"]))
            free = _dec(lot["shares"]) - named.get(key, Decimal(0)) - relieved[key]
            take = min(free, left)
            if take > 0:
                relieved[key] += take
                left -= take
            if left <= 0:
                break
    return dict(relieved)


def _file_sold_from_lot(lines: Iterable[_Line]) -> dict[tuple[str, str], Decimal]:
    sold: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for ln in lines:
        if ln.side == "SELL" and ln.lot_id and ln.shares is not None:
            sold[(ln.account_id, ln.lot_id)] += ln.shares
    return sold


def _check_lots_and_positions(w: _World, lines: list[_Line], out: list[Violation]) -> None:
    pend = _pending_sold_from_lot(w)
    fifo = _fifo_pending_from_lot(w)
    file_sold = _file_sold_from_lot(lines)
    reported: set[tuple[str, str]] = set()
    for ln in lines:
        if ln.side == "SELL":
            lot = w.lots.get((ln.account_id, ln.lot_id)) if ln.lot_id else None
            if lot is None or lot["symbol"] != ln.symbol:
                what = "no lot_id" if not ln.lot_id else (
                    f"lot {ln.lot_id!r}, which is not a lot of this account" if lot is None
                    else f"lot {ln.lot_id!r}, which holds {lot['symbol']}")
                out.append(Violation("unknown_lot", ln.n, ln.account_id, ln.symbol, f"SELL names {what}"))
            else:
                key = (ln.account_id, ln.lot_id)
                total = file_sold[key] + pend.get(key, Decimal(0))
                if total > _dec(lot["shares"]) + SHARE_TOL and key not in reported:
                    reported.add(key)
                    out.append(Violation("oversell_lot", ln.n, ln.account_id, ln.symbol,
                                         f"lot {ln.lot_id!r} holds {lot['shares']} shares; this file sells {file_sold[key]} and pending orders {pend.get(key, 0)}"))
        _check_granularity(w, ln, pend, out, fifo)
    # positions: lots + pending buys - pending sells - this file's sells + this file's buys >= 0,
    # for every (account, symbol) this file sells
    touched: dict[tuple[str, str], _Line] = {}
    for ln in lines:
        if ln.side == "SELL" and ln.shares is not None:
            touched.setdefault((ln.account_id, ln.symbol), ln)
    pos: dict[tuple[str, str], Decimal] = {key: Decimal(0) for key in touched}
    for acct in {a for a, _ in touched}:
        for lot in w.lots_by_account.get(acct, []):
            if (acct, lot["symbol"]) in pos:
                pos[(acct, lot["symbol"])] += _dec(lot["shares"])
    for p in w.pending:
        if (p["account_id"], p["symbol"]) in pos:
            pos[(p["account_id"], p["symbol"])] += _dec(p["shares"]) * (1 if p["side"] == "buy" else -1)
    for ln in lines:
        if ln.shares is not None and (ln.account_id, ln.symbol) in pos:
            pos[(ln.account_id, ln.symbol)] += ln.shares * (1 if ln.side == "BUY" else -1)
    for key, ln in touched.items():
        if pos[key] < -SHARE_TOL:
            out.append(Violation("short_sale", ln.n, ln.account_id, ln.symbol,
                                 f"position after this file and pending orders is {pos[key]} shares; expected >= 0"))


def _check_granularity(
    w: _World, ln: _Line, pend: dict[tuple[str, str], Decimal], out: list[Violation], fifo: dict[tuple[str, str], Decimal] | None = None
) -> None:
    if ln.shares is None or ln.shares <= 0:
        return
    typ = w.sec_type.get(ln.symbol)
    if typ in WHOLE:
        on_grid, grid = ln.shares == ln.shares.to_integral_value(), "whole shares"
    elif typ in MILLI:
        on_grid, grid = ln.shares == ln.shares.quantize(Decimal("0.001")), "at most 3 decimals"
    elif typ == "bond" and w.increment.get(ln.symbol):
        inc = _dec(w.increment[ln.symbol])
        on_grid, grid = _is_multiple(ln.shares, inc), f"a multiple of {inc}"
    else:
        return
    if on_grid:
        return
    if ln.side == "SELL":
        lot = w.lots.get((ln.account_id, ln.lot_id))
        if lot is not None:
            remainder = _dec(lot["shares"]) - pend.get((ln.account_id, ln.lot_id), Decimal(0))
            fifo_part = (fifo or {}).get((ln.account_id, ln.lot_id), Decimal(0))
            if min(abs(ln.shares - remainder), abs(ln.shares - remainder + fifo_part)) <= SHARE_TOL:
                return
    out.append(Violation("granularity", ln.n, ln.account_id, ln.symbol, f"{typ} shares {ln.raw['shares']}; expected {grid}"))


def _expected_gain(w: _World, ln: _Line) -> Decimal | None:
    lot = w.lots.get((ln.account_id, ln.lot_id))
    if lot is None or ln.shares is None or ln.price is None or _blank(lot.get("cost_basis")) or not float(lot["shares"]) > 0:
        return None
    per_share = _dec(lot["cost_basis"]) / _dec(lot["shares"])
    return ln.shares * ln.price - ln.shares * per_share


def _check_tax(w: _World, lines: list[_Line], out: list[Violation]) -> None:
    for ln in lines:
        taxable = w.account[ln.account_id]["tax_status"] == "taxable"

        def bad(kind: str, msg: str) -> None:
            out.append(Violation(kind, ln.n, ln.account_id, ln.symbol, msg))

        if ln.side == "SELL" and taxable:
            lot = w.lots.get((ln.account_id, ln.lot_id))
            if lot is None or lot["symbol"] != ln.symbol:
                continue  # reported as unknown_lot
            exp = _expected_gain(w, ln)
            if exp is None:
                bad("realized_gain", f"lot {ln.lot_id!r} of a taxable account has no cost_basis")
            elif ln.gain is None:
                bad("realized_gain", f"empty est_realized_gain; expected {exp.quantize(CENT, rounding=ROUND_HALF_EVEN)}")
            elif abs(ln.gain - exp) > CENT or ln.gain != ln.gain.quantize(CENT):
                bad("realized_gain", f"est_realized_gain {ln.gain_text}; expected {exp.quantize(CENT, rounding=ROUND_HALF_EVEN)} (to cents)")
            if lot.get("acquired") is None:
                bad("term", f"lot {ln.lot_id!r} of a taxable account has no acquired date")
                continue
            expected_term = "long" if w.trade_date >= long_term_from(lot["acquired"]) else "short"
            if ln.term != expected_term:
                bad("term", f"term {ln.term!r}; expected {expected_term!r} (acquired {lot['acquired']}, long-term from "
                            f"{long_term_from(lot['acquired'])}, trade date {w.trade_date})")
        else:
            if ln.gain_text.strip():
                bad("realized_gain", f"est_realized_gain {ln.gain_text!r}; expected empty ({ln.side} in a {w.account[ln.account_id]['tax_status']} account)")
            if ln.term.strip():
                bad("term", f"term {ln.term!r}; expected empty ({ln.side} in a {w.account[ln.account_id]['tax_status']} account)")


def _restrictions_of(w: _World, account_id: str) -> list[tuple[dict[str, Any], bool]]:
    return [(r, False) for r in w.restr.get(account_id, [])] + [(r, True) for r in w.firm]


def _check_restrictions(w: _World, lines: list[_Line], out: list[Violation]) -> None:
    for ln in lines:
        for r, firm in _restrictions_of(w, ln.account_id):
            kind, value = r["kind"], str(r["value"]).strip()
            who = "firm-wide" if firm else "account"
            hit: str | None = None
            if ln.side == "BUY":
                if kind == "never_buy" and value == ln.symbol:
                    hit = "never_buy"
                elif kind == "screen" and value in w.tags.get(ln.symbol, frozenset()):
                    hit = "screened"
                elif kind == "substitute" and ">" in value and value.split(">", 1)[0].strip() == ln.symbol:
                    hit = "substituted_away"
            elif kind == "never_sell" and value == ln.symbol:
                hit = "never_sell"
            if hit is None:
                continue
            final = "firm_restricted" if firm and ln.side == "BUY" else hit
            out.append(Violation(final, ln.n, ln.account_id, ln.symbol, f"{ln.side} breaks the {who} restriction {kind} {value!r}"))


def _check_cash(w: _World, lines: list[_Line], out: list[Violation]) -> None:
    pending: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for p in w.pending:
        pending[p["account_id"]].append(p)
    mine: dict[str, list[_Line]] = defaultdict(list)
    for ln in lines:
        if ln.value is not None:
            mine[ln.account_id].append(ln)
    for acct in sorted(mine):
        cash = _dec(w.account[acct]["cash"])
        for p in pending.get(acct, []):
            if p["symbol"] not in w.close:
                continue
            amount = _dec(p["shares"]) * _dec(w.close[p["symbol"]])
            cash += amount if p["side"] == "sell" else -amount
        for ln in mine[acct]:
            cash += ln.value if ln.side == "SELL" else -ln.value  # type: ignore[operator]
        if cash < 0:
            out.append(Violation("cash", mine[acct][0].n, acct, None,
                                 f"cash after this file's orders and pending orders is {cash}; expected >= 0"))


def _in_window(w: _World, day: dt.date | None) -> bool:
    return day is not None and w.trade_date - dt.timedelta(days=WINDOW_DAYS) <= day <= w.trade_date


def _check_wash(w: _World, lines: list[_Line], out: list[Violation]) -> None:
    pend = _pending_sold_from_lot(w)
    fifo = _fifo_pending_from_lot(w)
    file_sold = _file_sold_from_lot(lines)
    # lots sold in full (this file or pending orders; a pending sell naming no lot relieves FIFO) do not
    # count as replacement purchases
    candidates = (set(file_sold) | set(pend) | set(fifo)) & set(w.lots)
    sold_in_full = {
        key for key in candidates
        if file_sold.get(key, Decimal(0)) + pend.get(key, Decimal(0)) + fifo.get(key, Decimal(0)) >= _dec(w.lots[key]["shares"]) - SHARE_TOL
    }
    rec = _recent(w, sold_in_full)
    file_buys: dict[tuple[str, str], list[_Line]] = defaultdict(list)  # (household, group) -> BUY lines
    for ln in lines:
        if ln.side == "BUY":
            file_buys[(w.household[ln.account_id], w.group(ln.symbol))].append(ln)

    # (a) loss sells
    for ln in lines:
        if ln.side != "SELL":
            continue
        lot = w.lots.get((ln.account_id, ln.lot_id))
        if lot is None or lot["symbol"] != ln.symbol:
            continue
        gain = _expected_gain(w, ln) if w.account[ln.account_id]["tax_status"] == "taxable" else None
        if gain is None:
            gain = ln.gain
        # the contract's test is on est_realized_gain, which is "to cents": a gain that rounds to 0.00 is no loss
        if gain is None or Decimal(str(gain)).quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN) >= 0:
            continue
        hh, grp = w.household[ln.account_id], w.group(ln.symbol)
        reasons = _household_acquisitions(w, hh, grp, (ln.account_id, ln.lot_id), rec)
        for b in file_buys.get((hh, grp), []):
            reasons.append(f"this file buys {b.symbol} in account {b.account_id} (row {b.n})")
        if reasons:
            out.append(Violation("wash_sale_a", ln.n, ln.account_id, ln.symbol,
                                 f"loss sale of wash group {grp!r} (household {hh}): " + "; ".join(reasons)))

    # (b) buys after a taxable loss in the household
    losses = _household_losses(w)
    for ln in lines:
        if ln.side != "BUY":
            continue
        hh, grp = w.household[ln.account_id], w.group(ln.symbol)
        found = losses.get((hh, grp))
        if found:
            out.append(Violation("wash_sale_b", ln.n, ln.account_id, ln.symbol,
                                 f"BUY of wash group {grp!r} after a taxable loss in household {hh}: " + "; ".join(found)))


@dataclass
class _Recent:
    """Acquisitions of the 30-day window, indexed by account (built once per file)."""

    buy_tx: dict[str, list[dict[str, Any]]]
    pending_buys: dict[str, list[dict[str, Any]]]
    #: (account, symbol, purchase_date) of lots sold in full: their lotless buy transactions do not count
    sold_purchases: set[tuple[str, str, Any]]
    sold_in_full: set[tuple[str, str]]


def _recent(w: _World, sold_in_full: set[tuple[str, str]]) -> _Recent:
    buy_tx: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for t in w.transactions:
        if t["side"] == "buy" and _in_window(w, t["date"]):
            buy_tx[t["account_id"]].append(t)
    pending_buys: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for p in w.pending:
        if p["side"] == "buy":
            pending_buys[p["account_id"]].append(p)
    sold_purchases = {(a, w.lots[(a, lid)]["symbol"], w.lots[(a, lid)]["purchase_date"]) for a, lid in sold_in_full}
    return _Recent(dict(buy_tx), dict(pending_buys), sold_purchases, sold_in_full)


def _household_acquisitions(w: _World, hh: str, grp: str, selling: tuple[str, str], rec: _Recent) -> list[str]:
    """The household's acquisitions of wash group `grp` in the window, but the lot being sold and lots sold in full."""
    found = []
    own = w.lots.get(selling)
    own_purchase = None if own is None else (selling[0], own["symbol"], own["purchase_date"])
    for acct in w.members.get(hh, []):
        for lot in w.lots_by_account.get(acct, []):
            key = (acct, str(lot["lot_id"]))
            if w.group(lot["symbol"]) != grp or key == selling or key in rec.sold_in_full:
                continue
            if _in_window(w, lot["purchase_date"]):
                found.append(f"lot {lot['lot_id']} of {acct} bought {lot['purchase_date']}")
        for t in rec.buy_tx.get(acct, []):
            if w.group(t["symbol"]) != grp:
                continue
            lid = None if _blank(t.get("lot_id")) else str(t["lot_id"])
            if lid is not None and ((acct, lid) == selling or (acct, lid) in rec.sold_in_full):
                continue
            if lid is None and ((acct, t["symbol"], t["date"]) in rec.sold_purchases or (acct, t["symbol"], t["date"]) == own_purchase):
                continue
            found.append(f"buy transaction of {t['symbol']} in {acct} on {t['date']}")
        for p in rec.pending_buys.get(acct, []):
            if w.group(p["symbol"]) == grp:
                found.append(f"pending buy of {p['symbol']} in {acct}")
    return found


def _household_losses(w: _World) -> dict[tuple[str, str], list[str]]:
    losses: dict[tuple[str, str], list[str]] = defaultdict(list)
    for t in w.transactions:
        acct = w.account.get(t["account_id"])
        if acct is None or acct["tax_status"] != "taxable" or t["side"] != "sell" or not _in_window(w, t["date"]):
            continue
        if not _blank(t.get("realized_gain")) and float(t["realized_gain"]) < 0:
            losses[(acct["household_id"], w.group(t["symbol"]))].append(f"{t['account_id']} sold {t['symbol']} at a loss on {t['date']}")
    for p in w.pending:
        acct = w.account.get(p["account_id"])
        if acct is None or acct["tax_status"] != "taxable" or p["side"] != "sell":
            continue
        gain = p.get("est_realized_gain")
        if _blank(gain) and not _blank(p.get("lot_id")):
            lot = w.lots.get((p["account_id"], str(p["lot_id"])))
            if lot is not None and not _blank(lot.get("cost_basis")) and p["symbol"] in w.close:
                sh = _dec(p["shares"])
                gain = sh * _dec(w.close[p["symbol"]]) - sh * _dec(lot["cost_basis"]) / _dec(lot["shares"])
        if not _blank(gain) and _dec(gain) < 0:
            losses[(acct["household_id"], w.group(p["symbol"]))].append(f"pending loss sale of {p['symbol']} in {p['account_id']}")
    return dict(losses)
