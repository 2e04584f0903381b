"""The independent trade-file checker is itself checked: a correct trade file passes, and breaking each
rule of the contract once is caught with the right violation kind.

The upload is tests/checker/data/mini_upload (see its README.md): made so that every rule has a line to
break. Orders are written through the real `overlay_core.export.write_trade_file` (so the correct file
also checks the exporter), file-level breaks are edits of the written text.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path
from typing import Callable

import polars as pl
import pytest

from overlay_core.export import write_trade_file
from overlay_core.upload import read_upload

from trade_checker import KINDS, Violation, check_trade_file, check_trades_against_book, long_term_from

UPLOAD = Path(__file__).parent / "data" / "mini_upload"
AS_OF = dt.date(2026, 11, 20)
TYPES = {"QQQ": "etf", "QQQM": "etf", "AAA": "equity", "BBB": "equity", "VTI": "etf", "ITOT": "etf", "SCHB": "etf", "TOB": "equity", "OIL": "equity",
         "RST": "equity", "VFIAX": "mutual_fund", "BND1": "bond", "MMF": "cash_equivalent"}
PRICE = {"QQQ": 350.0, "QQQM": 180.0, "AAA": 120.0, "BBB": 110.0, "VTI": 280.0, "ITOT": 100.0, "SCHB": 50.0, "TOB": 40.0, "OIL": 80.0, "RST": 10.0,
         "VFIAX": 400.0, "BND1": 98.5, "MMF": 1.0}


def sell(acct: str, sym: str, shares: float, lot: str, gain: float | None = None, term: str | None = None,
         reason: str = "rebalance") -> dict:
    return {"account_id": acct, "symbol": sym, "side": "SELL", "shares": shares, "est_price": PRICE[sym], "lot_id": lot,
            "est_realized_gain": gain, "term": term, "reason": reason}


def buy(acct: str, sym: str, shares: float, reason: str = "rebalance") -> dict:
    return {"account_id": acct, "symbol": sym, "side": "BUY", "shares": shares, "est_price": PRICE[sym], "lot_id": None,
            "est_realized_gain": None, "term": None, "reason": reason}


# Gains and terms derived by hand from lots.csv (trade date 2026-11-23).
CORRECT = {
    "t1_l1": sell("T1", "AAA", 90, "L1", 90 * 120 - 90 * 150, "long", "tax_loss_harvest"),  # -2700, acquired 2024-01-10
    "t1_l2": sell("T1", "AAA", 30, "L2", 30 * 120 - 30 * 100, "short"),  # the lot's remainder after the pending 20
    "t1_l4": sell("T1", "BBB", 30, "L4", 3300 - 3000, "short"),  # acquired 2025-11-23: long only from 2026-11-24
    "t1_schb": buy("T1", "SCHB", 20),
    "t1_mmf": buy("T1", "MMF", 100.125),  # cash equivalent: 3 decimals; 100.125 x 1 -> 100.12 (half-even)
    "i1_il1": sell("I1", "AAA", 10, "IL1"),  # IRA: no gain, no term
    "i1_bnd": buy("I1", "BND1", 10),  # trade_increment 5
    "t2_tl1": sell("T2", "OIL", 5, "TL1", 400 - 250, "long"),  # 20 held - 15 pending (no lot) = 5 left
    "t2_schb": buy("T2", "SCHB", 8),
}


def write(tmp: Path, orders: dict[str, dict]) -> Path:
    frame = pl.DataFrame(list(orders.values()), infer_schema_length=None)
    return write_trade_file(frame, tmp, as_of=AS_OF, run_id="RUN-1", trade_date=dt.date(2026, 11, 23), security_types=TYPES,
                            trade_increments={"BND1": 5.0})


def rewrite_ok(path: Path) -> None:
    data = path.read_bytes()
    rows = len(data.decode().splitlines()) - 1
    path.with_name(path.name + ".ok").write_text(f"rows={rows}\nsha256={hashlib.sha256(data).hexdigest()}\n")


def edit_text(path: Path, fn: Callable[[list[str]], list[str]], *, fix_ok: bool = True) -> None:
    lines = path.read_text().splitlines()
    path.write_text("\n".join(fn(lines)) + "\n")
    if fix_ok:
        rewrite_ok(path)


@pytest.fixture(scope="module")
def book():
    return read_upload(UPLOAD)


def kinds(violations: list[Violation]) -> set[str]:
    return {v.kind for v in violations}


def test_the_correct_file_passes(tmp_path: Path) -> None:
    path = write(tmp_path, CORRECT)
    found = check_trade_file(UPLOAD, path)
    assert found == [], "\n".join(map(str, found))


def test_header_only_file_passes(tmp_path: Path, book) -> None:
    path = write(tmp_path, {})
    assert path.read_text().count("\n") == 1
    assert check_trades_against_book(book, path) == []


def with_(**changes: dict | None) -> dict[str, dict]:
    out = dict(CORRECT)
    for k, v in changes.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = v
    return out


ORDER_MUTATIONS: dict[str, tuple[dict[str, dict], str, str]] = {
    # name: (orders, expected kind, the account of the flagged line)
    "oversell a lot": (with_(t1_l2=sell("T1", "AAA", 40, "L2", 800, "short")), "oversell_lot", "T1"),
    "short sale": (with_(t2_tl1=sell("T2", "OIL", 10, "TL1", 300, "long")), "short_sale", "T2"),
    "wrong term": (with_(t1_l4=sell("T1", "BBB", 30, "L4", 300, "long")), "term", "T1"),
    "wrong realized gain": (with_(t1_l4=sell("T1", "BBB", 30, "L4", 300.02, "short")), "realized_gain", "T1"),
    "buy of never-buy": (with_(t2_bbb=buy("T2", "BBB", 1)), "never_buy", "T2"),
    "buy of screened": (with_(t2_tob=buy("T2", "TOB", 1)), "screened", "T2"),
    "buy of substituted-away": (with_(t2_vti=buy("T2", "VTI", 1)), "substituted_away", "T2"),
    "firm-wide restricted buy": (with_(t2_rst=buy("T2", "RST", 1)), "firm_restricted", "T2"),
    "sell of never-sell": (with_(t2_tl2=sell("T2", "AAA", 5, "TL2", 600 - 400, "long")), "never_sell", "T2"),
    # T1 sells VFIAX at a loss; I1 (same household) bought VFIAX on 2026-11-12
    "wash (a) via recent purchase": (with_(t1_l8=sell("T1", "VFIAX", 3, "L8", 1200 - 1500, "long", "tax_loss_harvest")),
                                     "wash_sale_a", "T1"),
    # I1 buys AAA in this file while T1 sells AAA at a loss: the loss sale is the flagged line
    "wash (a) via same-file buy in another household account": (with_(i1_aaa=buy("I1", "AAA", 1)), "wash_sale_a", "T1"),
    # T1 sold ITOT at a loss on 2026-11-10; VTI is the same wash group: the IRA may not buy it
    "wash (b) IRA repurchase after household loss": (with_(i1_vti=buy("I1", "VTI", 1)), "wash_sale_b", "I1"),
    # I1 has a pending buy of ITOT, the wash group of VTI: T1 may not sell VTI at a loss
    "wash (a) via a pending buy in another household account": (
        with_(t1_l3=sell("T1", "VTI", 40, "L3", 11200 - 12000, "long", "tax_loss_harvest")), "wash_sale_a", "T1"),
    # T2 has a pending loss sale of QQQ (no est_realized_gain given: the lot is at a loss): no QQQM buy
    "wash (b) after a pending loss sale": (with_(t2_qqqm=buy("T2", "QQQM", 1)), "wash_sale_b", "T2"),
    # cash: 0 + pending sells 15 OIL x 80 + 4 QQQ x 350 + this file's 400 = 3000 < 80 x 50
    "cash negative": (with_(t2_schb=buy("T2", "SCHB", 80)), "cash", "T2"),
    "line for a hold account": (with_(hold=sell("HOLD1", "AAA", 10, "HL1", 200, "long")), "hold_account", "HOLD1"),
    "fractional shares of an ETF": (with_(t1_schb=buy("T1", "SCHB", 20.5)), "granularity", "T1"),
    "fractional mutual-fund shares beyond 3 decimals": (with_(t1_mmf=buy("T1", "MMF", 100.1255)), "granularity", "T1"),
    "bond off its trade increment": (with_(i1_bnd=buy("I1", "BND1", 12)), "granularity", "I1"),
    "part of a fractional lot, off the grid": (with_(t2_tl4=sell("T2", "SCHB", 2.5, "TL4", 125 - 100, "long")), "granularity", "T2"),
    "unknown lot": (with_(t1_l99=sell("T1", "AAA", 5, "L99")), "unknown_lot", "T1"),
    "lot of another symbol": (with_(t1_l1=sell("T1", "AAA", 5, "L3", -10, "long")), "unknown_lot", "T1"),
}


@pytest.mark.parametrize("name", list(ORDER_MUTATIONS))
def test_each_broken_rule_is_caught(tmp_path: Path, book, name: str) -> None:
    orders, kind, account = ORDER_MUTATIONS[name]
    found = check_trades_against_book(book, write(tmp_path, orders))
    assert kinds(found) == {kind}, "\n".join(map(str, found))
    assert {v.account_id for v in found} == {account}


def _value_col(lines: list[str], fn: Callable[[list[str]], None], row: int = 1) -> list[str]:
    cells = lines[row].split(",")
    fn(cells)
    lines[row] = ",".join(cells)
    return lines


TEXT_MUTATIONS: dict[str, tuple[Callable[[Path], None], str]] = {
    "wrong est_value cent": (
        lambda p: edit_text(p, lambda ls: _value_col(ls, lambda c: c.__setitem__(8, f"{float(c[8]) + 0.01:.2f}"))), "est_value"),
    "est_value not in cents": (
        lambda p: edit_text(p, lambda ls: _value_col(ls, lambda c: c.__setitem__(8, c[8] + "0"))), "est_value"),
    "est_price is not the close": (
        lambda p: edit_text(p, lambda ls: _value_col(ls, lambda c: (c.__setitem__(7, "121"), c.__setitem__(8, f"{float(c[6]) * 121:.2f}")))),
        "est_price"),
    "bad sort order": (lambda p: edit_text(p, lambda ls: [ls[0], ls[2], ls[1], *ls[3:]]), "sort_order"),
    "bad .ok sha": (lambda p: p.with_name(p.name + ".ok").write_text(f"rows=9\nsha256={'0' * 64}\n"), "ok_file"),
    "bad .ok count": (lambda p: edit_text(p, lambda ls: ls[:-1]) or None, "ok_file"),
    "missing .ok": (lambda p: p.with_name(p.name + ".ok").unlink(), "ok_file"),
    "unknown reason": (lambda p: edit_text(p, lambda ls: _value_col(ls, lambda c: c.__setitem__(12, "because"))), "reason"),
    "columns out of order": (lambda p: edit_text(p, lambda ls: [ls[0].replace("as_of,trade_date", "trade_date,as_of"), *ls[1:]]),
                             "header"),
}


@pytest.mark.parametrize("name", list(TEXT_MUTATIONS))
def test_each_broken_file_rule_is_caught(tmp_path: Path, book, name: str) -> None:
    mutate, kind = TEXT_MUTATIONS[name]
    path = write(tmp_path, CORRECT)
    if name == "bad .ok count":
        # drop the last line but keep the old .ok: rows and sha both disagree
        lines = path.read_text().splitlines()
        path.write_text("\n".join(lines[:-1]) + "\n")
    else:
        mutate(path)
    found = check_trades_against_book(book, path)
    assert kinds(found) == {kind}, "\n".join(map(str, found))


def test_every_kind_is_documented() -> None:
    used = {k for _, k, _ in ORDER_MUTATIONS.values()} | {k for _, k in TEXT_MUTATIONS.values()}
    assert used <= set(KINDS)


@pytest.mark.parametrize(
    ("acquired", "first_long_day"),
    [
        (dt.date(2025, 1, 5), dt.date(2026, 1, 6)),
        (dt.date(2024, 2, 28), dt.date(2025, 3, 1)),  # start day Feb 29 -> anniversary Mar 1
        (dt.date(2024, 2, 29), dt.date(2025, 3, 1)),  # start day Mar 1
        (dt.date(2025, 12, 31), dt.date(2027, 1, 1)),
    ],
)
def test_long_term_from(acquired: dt.date, first_long_day: dt.date) -> None:
    assert long_term_from(acquired) == first_long_day


# Lines that look close to a break but obey the contract: the checker must not flag them.
CORRECT_VARIANTS: dict[str, dict[str, dict]] = {
    # the only recent SCHB purchase is the lot being sold (and its buy transaction names it)
    "loss sale of the recently bought lot itself": with_(t1_l6=sell("T1", "SCHB", 20, "L6", 1000 - 1100, "short", "tax_loss_harvest"),
                                                         t1_schb=None),
    # I1 sells its recent VFIAX lot in full in this file, so it no longer washes T1's VFIAX loss
    "recent lot sold in full by this file": with_(i1_il2=sell("I1", "VFIAX", 5, "IL2"),
                                                  t1_l8=sell("T1", "VFIAX", 3, "L8", -300, "long", "tax_loss_harvest")),
    # a lot's exact remainder may be off the type's grid (TL4 holds 7.5 SCHB from reinvested dividends)
    "closing a lot with its exact remainder": with_(t2_tl4=sell("T2", "SCHB", 7.5, "TL4", 375 - 300, "long")),
    # T2 is another household: H1's ITOT loss does not block it
    "other household buys the loss's wash group": with_(t2_vti=None, t2_schb=buy("T2", "ITOT", 8)),
    # a gain sale of a recently acquired wash group is no wash sale
    "gain sale while the household buys": with_(t1_l1=None, i1_aaa=buy("I1", "AAA", 1)),
}


@pytest.mark.parametrize("name", list(CORRECT_VARIANTS))
def test_correct_variants_pass(tmp_path: Path, book, name: str) -> None:
    found = check_trades_against_book(book, write(tmp_path, CORRECT_VARIANTS[name]))
    assert found == [], "\n".join(map(str, found))
