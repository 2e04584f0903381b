"""Export of runs with their uploads to Parquet, import into another store: exact round trip, idempotent,
refusals that change nothing."""

from __future__ import annotations

import datetime as dt
import json

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from storekit import AS_OF, assert_books_equal, business_days, logical_dump, make_book
from overlay_core.errors import StoreError
from overlay_core.store import Store, export_runs, import_runs, read_exported_upload, read_manifest

DAYS = business_days(AS_OF, 3)


def _review(s: Store, book, kind: str = "review", tag: str = "") -> str:
    uid = s.save_upload(book)
    run = s.begin_run(upload_id=uid, as_of=book.as_of, trade_date=book.trade_date, input_hash=book.input_hash,
                      code_version="0.1.0+t", settings={"te_trigger": 0.01, "tag": tag}, kind=kind)
    res = pl.DataFrame({"account_id": ["A1", "A2"], "decision": ["trade", "no_trade"], "reasons": [["drift"], []],
                        "te_before": [0.02, 0.001], "n_orders": [1, 0], "explanation": ['{"why": "drift"}', None],
                        "extra_col": [1.5, 2.5]})
    orders = pl.DataFrame({
        "run_id": [run], "as_of": [book.as_of], "trade_date": [book.trade_date], "account_id": ["A1"], "symbol": ["AAA"],
        "side": ["SELL"], "shares": [1.0], "est_price": [10.0], "est_value": [10.0], "lot_id": ["L1"],
        "est_realized_gain": [-3.5], "term": ["long"], "reason": ["tax_loss_harvest"],
    })
    s.save_accounts(run, res, orders)
    s.finish_run(run, {"accounts": 2, "traded": 1})
    return run


@pytest.fixture()
def source(tmp_path):
    """A store with three days of reviews (each day's upload) and a backtest run."""
    path = tmp_path / "src" / "overlay.duckdb"
    with Store.open(path) as s:
        runs = [_review(s, make_book(d, tag=f"d{i}", n_days=8 + i)) for i, d in enumerate(DAYS)]
        _review(s, make_book(DAYS[-1], tag="bt"), kind="backtest")
    return path, runs


def _same_runs(a: Store, b: Store, run_ids: list[str]) -> None:
    cols = ["run_id", "kind", "as_of", "trade_date", "input_hash", "code_version", "settings", "attempt", "started_at",
            "finished_at", "status", "summary", "accounts", "traded", "errors", "orders"]
    ra = a.runs().filter(pl.col("run_id").is_in(run_ids)).select(cols).sort("run_id")
    rb = b.runs().filter(pl.col("run_id").is_in(run_ids)).select(cols).sort("run_id")
    assert_frame_equal(ra, rb)
    for r in run_ids:
        assert_frame_equal(a.run_results(r), b.run_results(r))
        assert_frame_equal(a.run_orders(r), b.run_orders(r))
        ua = a.run_info(r)["upload_id"]
        ub = b.run_info(r)["upload_id"]
        assert_books_equal(a.load_upload(upload_id=ua), b.load_upload(upload_id=ub))
    assert_frame_equal(a.account_history("A1").filter(pl.col("kind") == "review"), b.account_history("A1"))


def test_round_trip_is_exact(source, tmp_path):
    src, runs = source
    with Store.open(src, publish=False) as s:
        out = export_runs(s, tmp_path / "export", kinds=("review",))
    assert out.runs == tuple(runs) and out.as_of == tuple(DAYS) and len(out.uploads) == 3
    man = read_manifest(out.folder)
    assert [r["run_id"] for r in man["runs"]] == runs and man["tables"]["runs"]["rows"] == 3
    assert man["tables"]["orders"]["rows"] == 3 and {f.suffix for f in out.folder.iterdir()} == {".parquet", ".json"}
    with Store.open(tmp_path / "dst" / "overlay.duckdb") as d:
        got = import_runs(d, out.folder)
        assert got.runs == tuple(runs) and len(got.uploads) == 3 and got.skipped_runs == ()
        with Store.open(src, read_only=True) as s:
            _same_runs(s, d, runs)
        assert d.runs()["kind"].to_list() == ["review"] * 3  # the backtest was not exported
        for u in out.uploads:  # an upload read straight from the files is the one the import stored
            assert_books_equal(read_exported_upload(out.folder, u), d.load_upload(upload_id=u))
        with pytest.raises(StoreError, match="no upload 'nope'"):
            read_exported_upload(out.folder, "nope")


def test_import_twice_adds_nothing(source, tmp_path):
    src, runs = source
    with Store.open(src, publish=False) as s:
        export_runs(s, tmp_path / "export", run_ids=runs[:2])
    dst = tmp_path / "dst" / "overlay.duckdb"
    with Store.open(dst) as d:
        assert len(import_runs(d, tmp_path / "export").runs) == 2
    before = logical_dump(dst)
    with Store.open(dst) as d:
        again = import_runs(d, tmp_path / "export")
    assert again.runs == () and again.uploads == () and again.skipped_runs == tuple(sorted(runs[:2]))
    assert logical_dump(dst) == before


def test_import_beside_other_uploads_keeps_every_book(source, tmp_path):
    """A target already holding uploads (other closes for the same dates, a later seq) loads both exactly."""
    src, runs = source
    with Store.open(src, publish=False) as s:
        export_runs(s, tmp_path / "export", kinds=("review",))
    other = make_book(DAYS[1] + dt.timedelta(days=7), tag="other", close_bump=1.25, n_days=12)
    with Store.open(tmp_path / "dst" / "overlay.duckdb") as d:
        d.save_upload(other)
        import_runs(d, tmp_path / "export")
        assert_books_equal(d.load_upload(upload_id=d.uploads().filter(pl.col("input_hash") == other.input_hash)["upload_id"][0]), other)
        with Store.open(src, read_only=True) as s:
            _same_runs(s, d, runs)


def test_a_store_with_other_runs_on_those_days_is_refused_unchanged(source, tmp_path):
    src, runs = source
    with Store.open(src, publish=False) as s:
        export_runs(s, tmp_path / "export", kinds=("review",))
    dst = tmp_path / "dst" / "overlay.duckdb"
    with Store.open(dst) as d:
        mine = _review(d, make_book(DAYS[1], tag="mine"), tag="mine")
    before = logical_dump(dst)
    with Store.open(dst) as d, pytest.raises(StoreError, match=rf"already holds 1 run.*{mine}.*Nothing was imported"):
        import_runs(d, tmp_path / "export")
    assert logical_dump(dst) == before


def test_an_altered_or_foreign_folder_is_refused(source, tmp_path):
    src, _ = source
    with Store.open(src, publish=False) as s:
        out = export_runs(s, tmp_path / "export")
    (out.folder / "orders.parquet").write_bytes(b"not parquet")
    with Store.open(tmp_path / "dst.duckdb") as d:
        with pytest.raises(StoreError, match="orders.parquet: sha256 differs"):
            import_runs(d, out.folder)
        with pytest.raises(StoreError, match="has no manifest.json"):
            import_runs(d, tmp_path)
        man = json.loads((out.folder / "manifest.json").read_text())
        (out.folder / "manifest.json").write_text(json.dumps({**man, "schema_version": 99}))
        with pytest.raises(StoreError, match="newer than"):
            import_runs(d, out.folder)
        assert d.runs().height == 0


def test_export_replaces_a_folder_whole_and_refuses_unknown_runs(source, tmp_path):
    src, runs = source
    folder = tmp_path / "export"
    folder.mkdir()
    (folder / "stale.parquet").write_bytes(b"x")
    with Store.open(src, publish=False) as s:
        export_runs(s, folder, run_ids=runs[:1])
        assert not (folder / "stale.parquet").exists()
        assert [r["run_id"] for r in read_manifest(folder)["runs"]] == runs[:1]
        with pytest.raises(StoreError, match="no run review-nope"):
            export_runs(s, tmp_path / "x", run_ids=["review-nope"])
        with pytest.raises(StoreError, match="no run to export"):
            export_runs(s, tmp_path / "x", kinds=("simulation",))
    assert not (tmp_path / "x").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
