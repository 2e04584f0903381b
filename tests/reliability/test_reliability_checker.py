"""The checker is checked: it imports nothing of the engine but the upload reader, and every violation kind
it knows is produced by at least one mutation of a correct trade file (tests/checker's mutations plus the
file-level ones added here: unknown account/symbol, bad side, shares <= 0, a BUY naming a lot, a field
inconsistent with the file, a file named for another day).
"""

from __future__ import annotations

import ast
import shutil
import sys
from pathlib import Path

import pytest

CHECKER_DIR = Path(__file__).resolve().parents[1] / "checker"
sys.path.insert(0, str(CHECKER_DIR))
import test_checker_mutations as tm  # noqa: E402
from trade_checker import KINDS, check_trades_against_book  # noqa: E402

ALLOWED_ENGINE_IMPORTS = {"overlay_core.upload"}
ALLOWED_THIRD_PARTY = {"polars"}


def _imports(path: Path) -> list[tuple[str, int]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out: list[tuple[str, int]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(a.name, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                out.append(("." * node.level + (node.module or ""), node.lineno))
            else:
                out.append((node.module or "", node.lineno))
    return out


def test_checker_imports_nothing_of_the_engine_but_the_upload_reader() -> None:
    found = _imports(CHECKER_DIR / "trade_checker.py")
    engine = {m for m, _ in found if m.split(".")[0] == "overlay_core"}
    assert engine <= ALLOWED_ENGINE_IMPORTS, f"the checker imports engine modules {sorted(engine - ALLOWED_ENGINE_IMPORTS)}"
    stdlib = set(sys.stdlib_module_names)
    other = {m for m, _ in found if m.split(".")[0] not in stdlib | {"overlay_core", "__future__"} | ALLOWED_THIRD_PARTY}
    assert not other, f"the checker imports {sorted(other)}"
    assert not any(m.startswith(".") for m, _ in found), "relative imports"


def test_the_import_test_can_fail(tmp_path: Path) -> None:
    bad = tmp_path / "trade_checker.py"
    bad.write_text((CHECKER_DIR / "trade_checker.py").read_text() + "\nfrom overlay_core.tax import tax_state\n")
    engine = {m for m, _ in _imports(bad) if m.startswith("overlay_core")}
    assert engine - ALLOWED_ENGINE_IMPORTS == {"overlay_core.tax"}


def _cell(path: Path, row: int, col: int, value: str) -> None:
    tm.edit_text(path, lambda ls: tm._value_col(ls, lambda c: c.__setitem__(col, value), row=row))


def _row_of(path: Path, account: str, symbol: str) -> int:
    for i, line in enumerate(path.read_text().splitlines()):
        c = line.split(",")
        if i and c[3] == account and c[4] == symbol:
            return i
    raise LookupError((account, symbol))


EXTRA: dict[str, tuple[object, str]] = {
    "unknown account": (lambda p: _cell(p, _row_of(p, "T2", "SCHB"), 3, "ZZ9"), "unknown_account"),
    "unknown symbol": (lambda p: _cell(p, _row_of(p, "T2", "SCHB"), 4, "NOPE"), "unknown_symbol"),
    "$CASH as a symbol": (lambda p: _cell(p, _row_of(p, "T2", "SCHB"), 4, "$CASH"), "unknown_symbol"),
    "lowercase side": (lambda p: _cell(p, _row_of(p, "T2", "SCHB"), 5, "buy"), "side"),
    "zero shares": (lambda p: (_cell(p, _row_of(p, "T2", "SCHB"), 6, "0"), _cell(p, _row_of(p, "T2", "SCHB"), 8, "0.00")), "shares"),
    "a BUY naming a lot": (lambda p: _cell(p, _row_of(p, "T2", "SCHB"), 9, "TL1"), "lot_on_buy"),
    "as_of of another day": (lambda p: _cell(p, 1, 1, "2026-11-19"), "field"),
}


@pytest.mark.parametrize("name", list(EXTRA))
def test_each_extra_break_is_caught(tmp_path: Path, name: str) -> None:
    from overlay_core.upload import read_upload

    book = read_upload(tm.UPLOAD)
    mutate, kind = EXTRA[name]
    path = tm.write(tmp_path, tm.CORRECT)
    assert check_trades_against_book(book, path) == []
    mutate(path)  # type: ignore[operator]
    found = check_trades_against_book(book, path)
    assert kind in tm.kinds(found), "\n".join(map(str, found))


def test_a_file_named_for_another_day_is_caught(tmp_path: Path) -> None:
    from overlay_core.upload import read_upload

    book = read_upload(tm.UPLOAD)
    path = tm.write(tmp_path, tm.CORRECT)
    other = path.with_name("trades_2026-11-19.csv")
    shutil.copy(path, other)
    shutil.copy(path.with_name(path.name + ".ok"), other.with_name(other.name + ".ok"))
    assert "file" in tm.kinds(check_trades_against_book(book, other))


def test_every_kind_is_produced_by_a_mutation() -> None:
    produced = {k for _, k, _ in tm.ORDER_MUTATIONS.values()} | {k for _, k in tm.TEXT_MUTATIONS.values()} | {k for _, k in EXTRA.values()} | {"file"}
    missing = set(KINDS) - produced
    assert not missing, f"violation kinds no mutation produces: {sorted(missing)}"
    # the contract's household, wash-group, IRA and pending-order rules each have their own mutation
    names = " | ".join(tm.ORDER_MUTATIONS)
    for rule in ("wash (a) via recent purchase", "wash (a) via same-file buy in another household account",
                 "wash (a) via a pending buy in another household account", "wash (b) IRA repurchase after household loss",
                 "wash (b) after a pending loss sale", "oversell a lot", "short sale"):
        assert rule in names
