from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal
from typer.testing import CliRunner

from overlay_core.errors import DataError
from overlay_core.targets import risk_model
from overlay_core.targets.cascade import ACCOUNT_COLUMNS, SUMMARY_COLUMNS, cascade, parse_change, read_change

from targetkit import make_book

ACCOUNTS = [
    dict(account_id="A1", target_id="T1", cash=10_000.0, advisor="ann"),
    dict(account_id="A2", target_id="T1", cash=10_000.0, advisor="bob"),
    dict(account_id="A3", target_id="T2", cash=10_000.0, advisor="ann"),
    dict(account_id="A4", target_id="T3", cash=10_000.0, advisor="bob"),
]
LOTS = [("A1", "AAA", 50), ("A2", "VTI", 40), ("A3", "VTI", 60), ("A4", "BND", 30)]


def book():
    return make_book(accounts=ACCOUNTS, lots=LOTS)


def change(rows: dict[str, list]) -> pl.DataFrame:
    return pl.DataFrame({k: [str(x) for x in v] for k, v in rows.items()})


@pytest.mark.parametrize(
    "rows, followers",
    [
        ({"model_id": ["M_STK", "M_STK"], "symbol": ["AAA", "AAF"], "weight": [0.5, 0.5]}, ["A1", "A2"]),
        ({"model_id": ["M_ETF", "M_ETF"], "symbol": ["SCHB", "BND"], "weight": [0.6, 0.4]}, ["A1", "A2", "A3", "A4"]),
        ({"model_id": ["M_BND"], "symbol": ["AGG"], "weight": [1.0]}, ["A4"]),
        ({"target_id": ["T2", "T2"], "model_id": ["M_ETF", "M_BND"], "weight": [0.7, 0.3]}, ["A3"]),
    ],
)
def test_cascade_touches_exactly_the_followers(rows, followers) -> None:
    b = book()
    ch = parse_change(change(rows), b)
    res = cascade(b, ch, risk=risk_model(b))
    assert res.accounts["account_id"].to_list() == followers
    assert res.accounts.columns == list(ACCOUNT_COLUMNS)
    assert res.summary.columns == list(SUMMARY_COLUMNS)
    assert res.summary["accounts"].sum() == len(followers)
    assert (res.accounts["target_change"] > 0).all()
    assert res.accounts["te_before"].is_not_null().all() and res.accounts["te_after"].is_not_null().all()


def test_cascade_new_target_is_the_new_blend_and_nothing_is_committed() -> None:
    b = book()
    models0, targets0 = b.models.clone(), b.targets.clone()
    ch = parse_change(change({"model_id": ["M_STK"], "symbol": ["AAF"], "weight": [1.0]}), b)
    res = cascade(b, ch)
    assert_frame_equal(b.models, models0)
    assert_frame_equal(b.targets, targets0)
    new = res.after.of("A1")
    assert "AAA" not in new and new["AAF"] == pytest.approx(0.4)
    assert res.before.of("A1")["AAA"] == pytest.approx(0.12)
    # target_change: 0.4 of the account moved from five stocks to AAF
    assert res.accounts.filter(pl.col("account_id") == "A1")["target_change"][0] == pytest.approx(0.4)


def test_refused_after_the_change_is_reported_per_account() -> None:
    # a custom us_equity weight is fine under T2 today; the new blend holds no us_equity to rescale
    b = make_book(accounts=ACCOUNTS, lots=LOTS, restrictions=[("A3", "asset_class_weight", "us_equity", 0.5)])
    ch = parse_change(change({"target_id": ["T2"], "model_id": ["M_BND"], "weight": [1.0]}), b)
    res = cascade(b, ch)
    row = res.accounts.row(0, named=True)
    assert row["account_id"] == "A3"
    assert row["error"].startswith("after: asset_class_weight us_equity=0.5000: target 'T2' holds no 'us_equity'")
    assert res.summary["errors"].to_list() == [1]


@pytest.mark.parametrize(
    "rows, match",
    [
        ({"model_id": ["M_STK"], "symbol": ["AAA"], "weight": [0.9]}, "weights of model_id M_STK summing to 0.900000"),
        ({"model_id": ["NEW"], "symbol": ["AAA"], "weight": [1.0]}, "row 1, column 'model_id': found 'NEW'"),
        ({"model_id": ["M_STK"], "symbol": ["ZZZ"], "weight": [1.0]}, "row 1, column 'symbol': found 'ZZZ'"),
        ({"model_id": ["M_STK", "M_STK"], "symbol": ["AAA", "AAA"], "weight": [0.5, 0.5]}, "row 2, column 'model_id, symbol'"),
        ({"model_id": ["M_STK"], "symbol": ["AAA"], "weight": ["-1"]}, "column 'weight': found '-1'"),
        ({"model_id": ["M_STK"], "symbol": ["AAA"], "weight": ["x"]}, "column 'weight': found 'x'"),
        ({"target_id": ["T9"], "model_id": ["M_STK"], "weight": [1.0]}, "column 'target_id': found 'T9'"),
        ({"target_id": ["T1"], "model_id": ["M_NO"], "weight": [1.0]}, "column 'model_id': found 'M_NO'"),
        ({"account": ["x"], "weight": [1.0]}, "expected either model_id, symbol, weight"),
    ],
)
def test_bad_change_files_are_refused_with_row_and_column(rows, match) -> None:
    with pytest.raises(DataError, match=match):
        parse_change(change(rows), book())


def test_change_inside_tolerance_is_renormalized() -> None:
    ch = parse_change(change({"model_id": ["M_STK", "M_STK"], "symbol": ["AAA", "AAB"], "weight": [0.50004, 0.5]}), book())
    assert ch.rows["weight"].sum() == pytest.approx(1.0, abs=1e-15)


def test_read_change_csv_with_bom(tmp_path: Path) -> None:
    p = tmp_path / "CHANGE.csv"
    p.write_bytes("\ufeffmodel_id,symbol,weight\nM_STK,AAA,1\n".encode())
    ch = read_change(p, book())
    assert ch.kind == "models" and ch.ids == ["M_STK"]
    with pytest.raises(DataError, match="cannot read"):
        read_change(tmp_path / "missing.csv", book())


# ---- the commands, on the fixture upload ----------------------------------------------------------


def test_overlay_targets_and_cascade_commands(fixture_upload_dir: Path, tmp_path: Path) -> None:
    from overlay_core.cli import app

    runner = CliRunner()
    out = tmp_path / "targets.csv"
    r = runner.invoke(app, ["targets", str(fixture_upload_dir), "--out", str(out)])
    assert r.exit_code == 0, r.output
    t = pl.read_csv(out)
    assert t.columns == ["account_id", "symbol", "weight"]
    sums = t.group_by("account_id").agg(pl.col("weight").sum(), (pl.col("symbol") == "$CASH").sum().alias("c"))
    assert ((sums["weight"] - 1).abs() < 1e-12).all() and (sums["c"] == 1).all()

    models = pl.read_csv(fixture_upload_dir / "models.csv")
    mid = models["model_id"][0]
    sub = models.filter(pl.col("model_id") == mid)
    ch = tmp_path / "CHANGE.csv"
    sub.select("model_id", "symbol", "weight").write_csv(ch)
    r = runner.invoke(app, ["cascade", str(fixture_upload_dir), "--change", str(ch), "--out", str(tmp_path / "cas")])
    assert r.exit_code == 0, r.output
    acc = pl.read_csv(tmp_path / "cas" / "cascade_accounts.csv")
    assert acc.columns == list(ACCOUNT_COLUMNS)
    assert (acc["target_change"].abs() < 1e-12).all()  # the same weights: nothing moves
    assert (tmp_path / "cas" / "cascade_summary.csv").exists()

    bad = tmp_path / "BAD.csv"
    bad.write_text("model_id,symbol,weight\nNOPE,VTI,1\n")
    r = runner.invoke(app, ["cascade", str(fixture_upload_dir), "--change", str(bad), "--out", str(tmp_path / "x")])
    assert r.exit_code == 2


def test_overlay_targets_prints_refused_customizations(fixture_upload_dir: Path, tmp_path: Path) -> None:
    import shutil

    from overlay_core.cli import app

    up = tmp_path / "upload"
    shutil.copytree(fixture_upload_dir, up)
    acc = pl.read_csv(up / "accounts.csv")["account_id"][0]
    with (up / "restrictions.csv").open("a") as fh:
        fh.write(f"{acc},asset_class_weight,us_equity,0.99\n")
    r = CliRunner().invoke(app, ["targets", str(up), "--out", str(tmp_path / "t.csv")], env={"COLUMNS": "200"})
    assert r.exit_code == 0, r.output
    assert "Refused customizations" in r.output and acc in r.output
    assert "asset_class_weight us_equity=0.9900" in r.output
    assert acc not in pl.read_csv(tmp_path / "t.csv")["account_id"].to_list()
