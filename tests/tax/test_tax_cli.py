"""`overlay ledger`: files written, rounding at output, loadable lots, errors naming the row (exit 2)."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from overlay_core.cli import main
from overlay_core.contract import LOTS


def _run(argv: list[str]) -> int:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    return int(exc.value.code or 0)


def test_ledger_command_writes_realized_and_lots(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "tx.csv"
    # 3 sh bought for 10.00 (3.333.../sh); 1 sold for 2.005: loss 1.32833..., rounded once at output
    src.write_text(
        "\ufeffdate,account_id,symbol,side,shares,amount,lot_id\n"
        "2025-01-02,A,X,buy,3,10.00,L1\n"
        "2025-02-03,A,X,sell,1,2.005,L1\n"
        "2025-02-10,A,X,buy,2,4.00,L2\n",
        encoding="utf-8",
    )
    code = _run(["ledger", str(src), "--out", str(tmp_path / "out"), "--method", "hifo"])
    assert code == 0
    realized = (tmp_path / "out" / "realized.csv").read_text().splitlines()
    assert realized[0] == "account_id,sale_date,symbol,lot_id,parent_lot_id,shares,proceeds,cost_basis,gain_loss,disallowed_loss,term,acquired,disallowed_permanent,row"
    # proceeds 2.005 -> 2.00 (half-even), basis 3.3333 -> 3.33, loss -1.32833 -> -1.33, fully replaced
    assert realized[1] == "A,2025-02-03,X,L1,L1,1,2.00,3.33,-1.33,1.33,short,2025-01-02,0.00,2"
    lots = pl.read_csv(tmp_path / "out" / "lots.csv", infer_schema=False)
    assert lots.columns[:8] == ["account_id", "lot_id", "parent_lot_id", "symbol", "shares", "cost_basis", "acquired", "wash_adjustment"]
    # every column of the contract's lots table is there (the file loads as `lots`)
    assert set(c.name for c in LOTS.columns) <= set(lots.columns)
    # L2 (2 sh for 4.00) absorbed 1 share's loss and split: L2.1 (1 sh, 2.00 + 1.3283 = 3.33), L2.2 (1 sh, 2.00)
    assert lots.select("lot_id", "parent_lot_id", "shares", "cost_basis", "wash_adjustment").rows() == [
        ("L1", "L1", "2", "6.67", "0.00"),
        ("L2.1", "L2", "1", "3.33", "1.33"),
        ("L2.2", "L2", "1", "2.00", "0.00"),
    ]
    assert "disallowed losses" in capsys.readouterr().out


def test_ledger_command_bad_input_exits_2_naming_the_row(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "tx.csv"
    src.write_text("date,symbol,side,shares,price\n2025-01-02,X,buy,10,10\n2025-01-03,X,sell,12,10\n")
    assert _run(["ledger", str(src), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "tx.csv" in err and "row 2" in err and "at most the 10" in err
    assert not (tmp_path / "out" / "realized.csv").exists()


def test_ledger_command_wash_groups_file(tmp_path: Path) -> None:
    src = tmp_path / "tx.csv"
    src.write_text("date,symbol,side,shares,price\n2025-01-02,SPY,buy,10,50\n2025-05-01,SPY,sell,10,40\n2025-05-15,IVV,buy,10,41\n")
    groups = tmp_path / "securities.csv"
    groups.write_text("symbol,asset_class,type,wash_group\nSPY,equity,etf,SP500\nIVV,equity,etf,SP500\n")
    assert _run(["ledger", str(src), "--out", str(tmp_path / "o"), "--wash-groups", str(groups)]) == 0
    row = pl.read_csv(tmp_path / "o" / "realized.csv", infer_schema=False).row(0, named=True)
    assert row["disallowed_loss"] == "100.00"


def test_ledger_command_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(["ledger", str(tmp_path / "nope.csv"), "--out", str(tmp_path / "o")]) == 2
    assert "nope.csv" in capsys.readouterr().err
