"""The review's output files: the trade file (to the OMS), the review file and the block orders.

Every file is written atomically: a temporary file in the same folder, flushed and fsynced, then
`os.replace`d over the final name (and the folder fsynced), so a reader sees either the previous
complete file or the new complete file, never a partial one. See `docs/trade_file.md`.

- `write_trade_file` -> ``trades_<as_of>.csv`` exactly as the data contract's "The trade file" says,
  plus ``trades_<as_of>.csv.ok`` (``rows=<n>`` and ``sha256=<hex of the csv bytes>``).
- `write_review_file` -> ``review_<as_of>.csv``, one row per account.
- `write_blocks_file` -> ``blocks_<as_of>.csv`` (one block per symbol and side: buys and sells are
  aggregated separately, never netted across clients) and ``blocks_<as_of>_allocations.csv`` (each
  block's allocation back to accounts).

Money is rounded half-even to cents here, at output, with `decimal.Decimal` on the exact decimal text
of the numbers written (so ``est_value`` can be re-derived from the file's own ``shares`` and
``est_price`` columns, digit for digit).
"""

from __future__ import annotations

import csv
import datetime as dt
import errno
import hashlib
import io
import math
import os
import tempfile
from collections import defaultdict
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import polars as pl

from overlay_core.contract import REASONS, TRADE_FILE_COLUMNS, TRADE_SIDES
from overlay_core.errors import OverlayError

CENT = Decimal("0.01")
#: decimals kept for a quantity that is not on its type's grid (a SELL closing a lot's exact remainder)
SHARES_DECIMALS = 8
WHOLE_TYPES = ("equity", "etf")
MILLI_TYPES = ("mutual_fund", "cash_equivalent")
#: a quantity within this of its type's grid is snapped to the grid (float noise such as 10.000000001)
GRID_TOLERANCE = 1e-6

REVIEW_FILE_COLUMNS: tuple[str, ...] = (
    "account_id",
    "decision",
    "reasons",
    "drift_before",
    "drift_after",
    "te_before",
    "te_after",
    "est_tax",
    "losses_harvested",
    "n_orders",
    "turnover",
    "error",
)
DECISIONS: tuple[str, ...] = ("trade", "no_trade", "held", "error")

BLOCK_FILE_COLUMNS: tuple[str, ...] = (
    "block_id",
    "as_of",
    "trade_date",
    "symbol",
    "side",
    "shares",
    "est_price",
    "est_value",
    "n_accounts",
    "n_lines",
)
ALLOCATION_FILE_COLUMNS: tuple[str, ...] = (
    "block_id",
    "symbol",
    "side",
    "account_id",
    "shares",
    "est_value",
    "n_lines",
)


class ExportError(OverlayError):
    """The orders or results handed to a writer break the output contract (an engine bug, not a user's)."""

    exit_code = 1


class OutputWriteError(OverlayError, OSError):
    """An output file could not be written (disk full, file too large, permission, missing device).

    Nothing was committed: the file at the path is the previous complete one (or absent), and the
    temporary file was removed. Also an `OSError` (errno kept), so callers catching `OSError` still do.
    """

    exit_code = 1

    def __init__(self, path: Path, exc: OSError) -> None:
        hint = {
            errno.ENOSPC: "the disk is full: free space",
            errno.EFBIG: "the file exceeds the size this process may write: raise the limit",
            errno.EDQUOT: "the disk quota is exceeded: free space",
            errno.EACCES: "permission denied: make the folder writable",
            errno.EROFS: "the file system is read-only: choose another --out folder",
        }.get(exc.errno or 0, "fix the cause")
        msg = (f"cannot write {path}: {exc.strerror or exc} (errno {exc.errno}); nothing was written there (the previous "
               f"file, if any, is unchanged); {hint} and rerun")
        OSError.__init__(self, exc.errno, msg)
        self.args = (msg,)
        self.path = path

    def __str__(self) -> str:
        return str(self.args[0])


# --------------------------------------------------------------------------------------------------
# numbers as text


def decimal_text(x: float | int | Decimal | str) -> Decimal:
    """The exact decimal of a number's shortest round-trip text (``0.1`` -> ``Decimal('0.1')``)."""
    if isinstance(x, Decimal):
        return x
    if isinstance(x, str):
        return Decimal(x)
    if isinstance(x, bool) or not math.isfinite(float(x)):
        raise ExportError(f"not a finite number: {x!r}")
    return Decimal(repr(float(x))) if isinstance(x, float) else Decimal(int(x))


def cents(x: float | int | Decimal | str) -> Decimal:
    """`x` rounded half-even to cents."""
    return decimal_text(x).quantize(CENT, rounding=ROUND_HALF_EVEN)


def _plain(d: Decimal) -> str:
    """A decimal as plain text without exponent or trailing zeros (``Decimal('10.500')`` -> ``'10.5'``)."""
    if d == 0:
        return "0"
    text = format(d.normalize(), "f")
    return text


def format_money(x: float | int | Decimal | str | None) -> str:
    """Cents, half-even, always two decimals (``1234.5`` -> ``'1234.50'``); ``None`` -> empty."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return ""
    d = cents(x)
    return format(d + 0, "f") if d != 0 else "0.00"


def format_price(x: float) -> str:
    """A close as its shortest round-trip decimal text (``123.45`` -> ``'123.45'``)."""
    return _plain(decimal_text(x))


def format_shares(x: float | Decimal | str, *, type: str | None = None, increment: float | None = None) -> str:
    """Shares as text without float noise.

    A quantity within `GRID_TOLERANCE` of its type's grid is written on the grid: whole shares for
    ``equity``/``etf``, 3 decimals for ``mutual_fund``/``cash_equivalent``, multiples of `increment`
    for ``bond``. Anything else (a SELL closing a lot's exact remainder, or an unknown type) keeps
    `SHARES_DECIMALS` decimals, trailing zeros dropped.
    """
    d = decimal_text(x)
    if type in WHOLE_TYPES:
        grid = d.quantize(Decimal(1), rounding=ROUND_HALF_EVEN)
        if abs(d - grid) <= Decimal(repr(GRID_TOLERANCE)):
            return _plain(grid)
    elif type in MILLI_TYPES:
        grid = d.quantize(Decimal("0.001"), rounding=ROUND_HALF_EVEN)
        if abs(d - grid) <= Decimal(repr(GRID_TOLERANCE)):
            return _plain(grid)
    elif type == "bond" and increment:
        inc = decimal_text(increment)
        grid = (d / inc).quantize(Decimal(1), rounding=ROUND_HALF_EVEN) * inc
        if abs(d - grid) <= Decimal(repr(GRID_TOLERANCE)) * max(inc, Decimal(1)):
            return _plain(grid)
    return _plain(d.quantize(Decimal(1).scaleb(-SHARES_DECIMALS), rounding=ROUND_HALF_EVEN))


# --------------------------------------------------------------------------------------------------
# atomic writing


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def atomic_write_bytes(path: Path, data: bytes) -> Path:
    """Write `data` to `path` atomically: temp file in the same folder, fsync, `os.replace`, fsync folder.

    On any failure the temporary file is removed and `path` is left as it was; an `OSError` (disk
    full, file too large, ...) becomes an `OutputWriteError` naming `path`.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise OutputWriteError(path, exc) from exc
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        if isinstance(exc, OSError) and not isinstance(exc, OverlayError):
            raise OutputWriteError(path, exc) from exc
        raise
    _fsync_dir(path.parent)
    return path


def _csv_bytes(header: Sequence[str], rows: Iterable[Sequence[str]]) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue().encode("utf-8")


def _iso(day: dt.date | str) -> str:
    return day.isoformat() if isinstance(day, dt.date) else str(day)


def _records(frame: pl.DataFrame | Iterable[Mapping[str, Any]] | Iterable[Any]) -> list[dict[str, Any]]:
    if isinstance(frame, pl.DataFrame):
        return frame.to_dicts()
    out: list[dict[str, Any]] = []
    for r in frame:
        if isinstance(r, Mapping):
            out.append(dict(r))
        elif hasattr(r, "__dataclass_fields__"):
            out.append({k: getattr(r, k) for k in r.__dataclass_fields__})
        else:
            raise ExportError(f"cannot read a row of type {type(r).__name__}; expected a mapping or a dataclass")
    return out


def _empty(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v)) or v == ""


# --------------------------------------------------------------------------------------------------
# the trade file


def trade_sort_key(account_id: str, side: str, symbol: str, lot_id: str) -> tuple[str, int, str, str]:
    """The contract's order: account_id, side (SELL first), symbol, lot_id, compared as strings."""
    return (account_id, 0 if side == "SELL" else 1, symbol, lot_id)


def _type_info(
    orders: pl.DataFrame, security_types: Mapping[str, str] | None, trade_increments: Mapping[str, float] | None
) -> tuple[dict[str, str], dict[str, float]]:
    types: dict[str, str] = dict(security_types or {})
    incs: dict[str, float] = dict(trade_increments or {})
    if "type" in orders.columns:
        for sym, typ in zip(orders["symbol"].to_list(), orders["type"].to_list()):
            if typ is not None:
                types.setdefault(sym, typ)
    if "trade_increment" in orders.columns:
        for sym, inc in zip(orders["symbol"].to_list(), orders["trade_increment"].to_list()):
            if inc is not None and not (isinstance(inc, float) and math.isnan(inc)):
                incs.setdefault(sym, inc)
    return types, incs


def trade_rows(
    orders: pl.DataFrame,
    *,
    as_of: dt.date | str,
    run_id: str | None = None,
    trade_date: dt.date | str | None = None,
    security_types: Mapping[str, str] | None = None,
    trade_increments: Mapping[str, float] | None = None,
) -> list[list[str]]:
    """The trade file's rows as text, sorted, in `TRADE_FILE_COLUMNS` order (see `write_trade_file`)."""
    if orders.height == 0:
        return []
    required = ("account_id", "symbol", "side", "shares", "est_price")
    missing = [c for c in required if c not in orders.columns]
    if missing:
        raise ExportError(f"orders: missing column(s) {', '.join(missing)}; found {', '.join(orders.columns) or 'none'}")
    if run_id is None and "run_id" not in orders.columns:
        raise ExportError("orders: no run_id column and no run_id= given")
    if trade_date is None and "trade_date" not in orders.columns:
        raise ExportError("orders: no trade_date column and no trade_date= given")
    types, incs = _type_info(orders, security_types, trade_increments)
    as_of_text = _iso(as_of)
    rows: list[tuple[tuple[str, int, str, str], list[str]]] = []
    for i, r in enumerate(_records(orders), start=1):
        where = f"orders row {i} (account {r.get('account_id')!r}, symbol {r.get('symbol')!r})"
        side = str(r["side"]).upper()
        if side not in TRADE_SIDES:
            raise ExportError(f"{where}: side {r['side']!r}; expected SELL or BUY")
        shares = r["shares"]
        if _empty(shares) or not float(shares) > 0:
            raise ExportError(f"{where}: shares {shares!r}; expected > 0")
        price = r["est_price"]
        if _empty(price) or not float(price) > 0:
            raise ExportError(f"{where}: est_price {price!r}; expected the close (> 0)")
        lot_id = "" if _empty(r.get("lot_id")) else str(r["lot_id"])
        if side == "SELL" and not lot_id:
            raise ExportError(f"{where}: a SELL without lot_id; expected the lot relieved")
        if side == "BUY" and lot_id:
            raise ExportError(f"{where}: a BUY with lot_id {lot_id!r}; expected empty")
        reason = "" if _empty(r.get("reason")) else str(r["reason"])
        if reason not in REASONS:
            raise ExportError(f"{where}: reason {reason!r}; expected one of {', '.join(REASONS)}")
        symbol = str(r["symbol"])
        shares_text = format_shares(shares, type=types.get(symbol), increment=incs.get(symbol))
        price_text = format_price(float(price))
        value = (Decimal(shares_text) * Decimal(price_text)).quantize(CENT, rounding=ROUND_HALF_EVEN)
        gain = r.get("est_realized_gain")
        term = "" if _empty(r.get("term")) else str(r["term"])
        if side == "BUY" and (not _empty(gain) or term):
            raise ExportError(f"{where}: a BUY with est_realized_gain/term; expected both empty")
        if term not in ("", "long", "short"):
            raise ExportError(f"{where}: term {term!r}; expected long, short or empty")
        if _empty(gain) != (term == ""):
            raise ExportError(f"{where}: est_realized_gain {gain!r} with term {term!r}; expected both or neither")
        account_id = str(r["account_id"])
        line = [
            str(run_id if run_id is not None else r["run_id"]),
            as_of_text,
            _iso(trade_date if trade_date is not None else r["trade_date"]),
            account_id,
            symbol,
            side,
            shares_text,
            price_text,
            format(value, "f"),
            lot_id,
            "" if _empty(gain) else format_money(gain),
            term,
            reason,
        ]
        rows.append((trade_sort_key(account_id, side, symbol, lot_id), line))
    rows.sort(key=lambda kv: kv[0])
    return [line for _, line in rows]


def trade_file_name(as_of: dt.date | str) -> str:
    return f"trades_{_iso(as_of)}.csv"


def ok_text(data: bytes, n_rows: int) -> str:
    """The ``.ok`` file's content: ``rows=<n>`` and ``sha256=<hex>`` lines."""
    return f"rows={n_rows}\nsha256={hashlib.sha256(data).hexdigest()}\n"


def write_trade_file(
    orders: pl.DataFrame,
    out_dir: str | os.PathLike[str],
    *,
    as_of: dt.date | str,
    run_id: str | None = None,
    trade_date: dt.date | str | None = None,
    security_types: Mapping[str, str] | None = None,
    trade_increments: Mapping[str, float] | None = None,
) -> Path:
    """Write ``trades_<as_of>.csv`` and its ``.ok`` file atomically; return the csv's path.

    Parameters
    ----------
    orders : one row per order line; columns ``account_id, symbol, side, shares, est_price`` and
        optionally ``run_id, trade_date, lot_id, est_realized_gain, term, reason, type,
        trade_increment`` (any other column is ignored). ``shares`` and ``est_price`` are floats;
        ``est_value`` is always computed here as ``shares × est_price`` (the written texts),
        rounded half-even to cents.
    out_dir : the folder (created if missing).
    as_of : the upload's date (the file name and the ``as_of`` column).
    run_id, trade_date : fill those columns when `orders` has none (a given value wins).
    security_types : symbol -> type, for the shares grid (see `format_shares`); or a ``type`` column.
    trade_increments : symbol -> bond trade increment; or a ``trade_increment`` column.

    The old ``.ok`` (if any) is removed first, then the csv is replaced, then the new ``.ok`` is
    written: an ``.ok`` file always matches the csv beside it. A day without orders writes the header.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows = trade_rows(
        orders,
        as_of=as_of,
        run_id=run_id,
        trade_date=trade_date,
        security_types=security_types,
        trade_increments=trade_increments,
    )
    data = _csv_bytes(TRADE_FILE_COLUMNS, rows)
    path = out / trade_file_name(as_of)
    ok = path.with_name(path.name + ".ok")
    try:
        ok.unlink()
    except FileNotFoundError:
        pass
    atomic_write_bytes(path, data)
    atomic_write_bytes(ok, ok_text(data, len(rows)).encode("ascii"))
    return path


# --------------------------------------------------------------------------------------------------
# the review file


def _num(v: Any, digits: int = 6) -> str:
    if _empty(v):
        return ""
    f = float(v)
    if not math.isfinite(f):
        return ""
    return _plain(Decimal(repr(round(f, digits))))


def write_review_file(
    results: pl.DataFrame | Iterable[Mapping[str, Any]],
    out_dir: str | os.PathLike[str],
    *,
    as_of: dt.date | str,
) -> Path:
    """Write ``review_<as_of>.csv`` atomically (one row per account, sorted by account_id).

    Parameters
    ----------
    results : a frame or rows (mappings or dataclasses) with ``account_id`` and ``decision``
        (trade/no_trade/held/error) and optionally the other `REVIEW_FILE_COLUMNS`: ``reasons``
        (a string, or a list joined with ``;``), ``drift_before``/``drift_after`` (fractions),
        ``te_before``/``te_after`` (annualized fractions), ``est_tax`` and ``losses_harvested``
        (USD, written to cents), ``n_orders`` (int), ``turnover`` (fraction), ``error`` (message).
    """
    recs = _records(results)
    lines: list[list[str]] = []
    seen: set[str] = set()
    for i, r in enumerate(recs, start=1):
        if _empty(r.get("account_id")):
            raise ExportError(f"review results row {i}: no account_id")
        aid = str(r["account_id"])
        if aid in seen:
            raise ExportError(f"review results row {i}: account {aid!r} twice; expected one row per account")
        seen.add(aid)
        decision = r.get("decision")
        if decision not in DECISIONS:
            raise ExportError(f"review results row {i} (account {aid!r}): decision {decision!r}; expected one of {', '.join(DECISIONS)}")
        reasons = r.get("reasons")
        if isinstance(reasons, (list, tuple, pl.Series)):
            reasons = ";".join(str(x) for x in reasons)
        n_orders = r.get("n_orders")
        lines.append(
            [
                aid,
                str(decision),
                "" if _empty(reasons) else str(reasons),
                _num(r.get("drift_before")),
                _num(r.get("drift_after")),
                _num(r.get("te_before")),
                _num(r.get("te_after")),
                format_money(r.get("est_tax")),
                format_money(r.get("losses_harvested")),
                "0" if _empty(n_orders) else str(int(n_orders)),
                _num(r.get("turnover")),
                "" if _empty(r.get("error")) else str(r["error"]),
            ]
        )
    lines.sort(key=lambda line: line[0])
    path = Path(out_dir) / f"review_{_iso(as_of)}.csv"
    return atomic_write_bytes(path, _csv_bytes(REVIEW_FILE_COLUMNS, lines))


# --------------------------------------------------------------------------------------------------
# block orders


def write_blocks_file(
    orders: pl.DataFrame,
    out_dir: str | os.PathLike[str],
    *,
    as_of: dt.date | str,
    trade_date: dt.date | str | None = None,
    security_types: Mapping[str, str] | None = None,
    trade_increments: Mapping[str, float] | None = None,
) -> tuple[Path, Path]:
    """Write ``blocks_<as_of>.csv`` and ``blocks_<as_of>_allocations.csv`` atomically.

    One block per (symbol, side): BUY lines and SELL lines of a symbol make two separate blocks —
    never netted across clients. A block's ``shares`` and ``est_value`` are the exact sums of its
    lines' written ``shares`` and ``est_value`` (as in the trade file); ``block_id`` is
    ``<SIDE>-<symbol>``. The allocations file gives each account's share of each block (its lines
    summed over lots), so the allocations of a block sum exactly to the block.

    Returns
    -------
    (blocks path, allocations path)
    """
    if trade_date is None and "trade_date" not in orders.columns:
        raise ExportError("orders: no trade_date column and no trade_date= given")
    tmp_run = None if "run_id" in orders.columns else "-"
    rows = trade_rows(
        orders,
        as_of=as_of,
        run_id=tmp_run,
        trade_date=trade_date,
        security_types=security_types,
        trade_increments=trade_increments,
    )
    idx = {c: i for i, c in enumerate(TRADE_FILE_COLUMNS)}
    blocks: dict[tuple[str, str], dict[str, Any]] = {}
    alloc: dict[tuple[str, str, str], list[Decimal | int]] = defaultdict(lambda: [Decimal(0), Decimal(0), 0])
    for line in rows:
        sym, side, acct = line[idx["symbol"]], line[idx["side"]], line[idx["account_id"]]
        sh, val = Decimal(line[idx["shares"]]), Decimal(line[idx["est_value"]])
        b = blocks.setdefault(
            (sym, side),
            {"shares": Decimal(0), "value": Decimal(0), "accounts": set(), "lines": 0, "price": line[idx["est_price"]], "td": line[idx["trade_date"]]},
        )
        b["shares"] += sh
        b["value"] += val
        b["accounts"].add(acct)
        b["lines"] += 1
        a = alloc[(sym, side, acct)]
        a[0] += sh
        a[1] += val
        a[2] += 1
    as_of_text = _iso(as_of)
    order = sorted(blocks, key=lambda k: (0 if k[1] == "SELL" else 1, k[0]))
    block_lines = [
        [
            f"{side}-{sym}",
            as_of_text,
            blocks[(sym, side)]["td"],
            sym,
            side,
            _plain(blocks[(sym, side)]["shares"]),
            blocks[(sym, side)]["price"],
            format(blocks[(sym, side)]["value"], "f"),
            str(len(blocks[(sym, side)]["accounts"])),
            str(blocks[(sym, side)]["lines"]),
        ]
        for sym, side in order
    ]
    alloc_lines = [
        [f"{side}-{sym}", sym, side, acct, _plain(v[0]), format(v[1], "f"), str(v[2])]
        for (sym, side, acct), v in sorted(alloc.items(), key=lambda kv: (0 if kv[0][1] == "SELL" else 1, kv[0][0], kv[0][2]))
    ]
    out = Path(out_dir)
    p1 = atomic_write_bytes(out / f"blocks_{as_of_text}.csv", _csv_bytes(BLOCK_FILE_COLUMNS, block_lines))
    p2 = atomic_write_bytes(out / f"blocks_{as_of_text}_allocations.csv", _csv_bytes(ALLOCATION_FILE_COLUMNS, alloc_lines))
    return p1, p2
