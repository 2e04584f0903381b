"""The demo with its history: a small `build_demo` (2 days) end to end through `overlay demo` on a fresh
store, and the shipped data/demo_history checked against data/demo."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from overlay_core.cli._app import app
from overlay_core.demo.pipeline import build_demo, demo_history_dir, history_dates, start_book
from overlay_core.store import Store, read_exported_upload, read_manifest
from overlay_core.upload import read_upload, write_upload

AS_OF = dt.date(2026, 11, 25)
SMALL = {"n_accounts": 12, "seed": 5, "as_of": AS_OF, "history_days": 2, "history_years": 2}
runner = CliRunner()


@pytest.fixture(scope="module")
def small_data(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    """A data folder (demo/ + demo_history/) made by `build_demo` on a 12-account book, 2 history days."""
    data = tmp_path_factory.mktemp("data")
    built = build_demo(upload_out=data / "demo", history_out=data / "demo_history", workers=0, **SMALL)
    return data, built


def test_the_history_ends_the_day_before_the_upload(small_data) -> None:
    data, built = small_data
    man = read_manifest(data / "demo_history")
    days = history_dates(AS_OF, 2)
    assert days == [dt.date(2026, 11, 23), dt.date(2026, 11, 24)]
    assert [dt.date.fromisoformat(r["as_of"]) for r in man["runs"]] == days
    assert {r["kind"] for r in man["runs"]} == {"review"}
    assert man["runs"][-1]["trade_date"] == AS_OF.isoformat()
    book = read_upload(data / "demo")
    assert (book.as_of, book.trade_date) == (AS_OF, dt.date(2026, 11, 27))
    assert book.quarantined.height == 0 and book.warnings == ()
    assert book.price_history["date"].max() == AS_OF  # the path through the as_of, the history days included
    res = pl.read_parquet(data / "demo_history" / "account_results.parquet")
    per_run = res.group_by("run_id").agg(pl.col("account_id").sort())
    assert per_run.height == 2 and all(ids == sorted(book.account_ids()) for ids in per_run["account_id"].to_list())
    assert built.days["as_of"].to_list() == days


def test_day_one_is_the_generator_start_book(small_data, tmp_path: Path) -> None:
    """The first history upload is exactly `start_book` written as an upload (same files, same hash)."""
    data, _ = small_data
    man = read_manifest(data / "demo_history")
    first = man["uploads"][0]
    write_upload(start_book(**SMALL), tmp_path / "day1")
    again = read_upload(tmp_path / "day1")
    assert again.as_of == dt.date.fromisoformat(first["as_of"])
    assert again.input_hash == first["input_hash"]
    shipped = read_exported_upload(data / "demo_history", first["upload_id"])
    for name in ("accounts", "lots", "prices", "restrictions", "transactions", "pending_orders"):
        assert getattr(shipped, name).equals(getattr(again, name)), name


def test_overlay_demo_imports_the_history_then_reviews_today(small_data, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from overlay_core.analytics.dispersion import dispersion_over_time
    from overlay_core.apps.dashboard import list_runs

    data, _ = small_data
    monkeypatch.setenv("OVERLAY_DATA_DIR", str(data))
    store = tmp_path / "st" / "overlay.duckdb"
    args = ["demo", "--store", str(store), "--out", str(tmp_path / "out"), "--workers", "0"]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    assert "imported 2 past daily reviews (2026-11-23 to 2026-11-24)" in " ".join(res.output.split())
    with Store.open_snapshot(store) as s:
        runs = list_runs(s)
        assert sorted(runs["as_of"].to_list()) == [*history_dates(AS_OF, 2), AS_OF]
        acc = read_upload(data / "demo").account_ids()[0]
        assert s.account_history(acc)["as_of"].to_list() == [*history_dates(AS_OF, 2), AS_OF]
        assert dispersion_over_time(s)["as_of"].n_unique() == 3
    again = runner.invoke(app, args)
    assert again.exit_code == 0, again.output
    assert "already holds the 2 past daily reviews" in " ".join(again.output.split())
    with Store.open_snapshot(store) as s:
        assert s.runs().height == 3
    alone = runner.invoke(app, ["demo", "--store", str(tmp_path / "st2.duckdb"), "--out", str(tmp_path / "o2"), "--workers", "0", "--no-history"])
    assert alone.exit_code == 0, alone.output
    with Store.open(tmp_path / "st2.duckdb", read_only=True) as s:
        assert s.runs()["as_of"].to_list() == [AS_OF]


def test_a_store_with_other_runs_on_those_days_gets_a_warning_and_today(small_data, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from overlay_core.review.daily import review_book

    data, _ = small_data
    monkeypatch.setenv("OVERLAY_DATA_DIR", str(data))
    store = tmp_path / "st.duckdb"
    day1 = read_exported_upload(data / "demo_history", read_manifest(data / "demo_history")["uploads"][0]["upload_id"])
    with Store.open(store) as s:
        review_book(day1, store=s, out_dir=None, workers=0, progress=False, te_trigger=0.5)  # other settings: another run
    res = runner.invoke(app, ["demo", "--store", str(store), "--out", str(tmp_path / "out"), "--workers", "0"])
    assert res.exit_code == 0, res.output
    assert "history not imported" in res.output and "Nothing was imported" in " ".join(res.output.split())
    with Store.open(store, read_only=True) as s:
        assert s.runs()["as_of"].to_list() == [day1.as_of, AS_OF]


# ---- the shipped history (data/demo_history) against the shipped upload (data/demo) ----------------


@pytest.fixture(scope="module")
def shipped() -> tuple[Path, dict]:
    folder = demo_history_dir()
    if folder is None:
        pytest.skip("data/demo_history is not present")
    return folder, read_manifest(folder)


def test_shipped_history_is_the_20_business_days_before_the_demo(shipped) -> None:
    from overlay_core.demo.generate import DEMO_AS_OF, demo_upload_dir

    folder, man = shipped
    book = read_upload(demo_upload_dir())
    assert book.as_of == DEMO_AS_OF
    days = history_dates(DEMO_AS_OF, 20)
    assert [dt.date.fromisoformat(r["as_of"]) for r in man["runs"]] == days
    assert [dt.date.fromisoformat(u["as_of"]) for u in man["uploads"]] == days
    assert {r["kind"] for r in man["runs"]} == {"review"} and man["runs"][-1]["trade_date"] == DEMO_AS_OF.isoformat()
    res = pl.read_parquet(folder / "account_results.parquet", columns=["run_id", "account_id"])
    ids = set(book.account_ids())
    for run_id, accounts in res.group_by("run_id").agg("account_id").iter_rows():
        assert set(accounts) == ids, run_id
    assert sum(f.stat().st_size for f in folder.iterdir()) < 15e6


@pytest.mark.slow
def test_shipped_day_one_is_reproducible(shipped, tmp_path: Path) -> None:
    """Regenerate the day-1 book from the seed: exactly the shipped upload (same hash). Re-review a few
    households of day 1 with today's code: the same decision for every account and exactly the same
    order lines (symbol, side, lot, shares, reason) as shipped. When a change to the review or the
    optimizer changes these orders, the shipped history is stale: regenerate it (docs/demo_book.md,
    about 4.5 minutes) in the same commit."""
    from overlay_core.apps.demo_store import sample_book
    from overlay_core.review.daily import review_book

    folder, man = shipped
    first = man["uploads"][0]
    write_upload(start_book(), tmp_path / "day1")
    day1 = read_upload(tmp_path / "day1")
    assert day1.input_hash == first["input_hash"]
    sub = sample_book(day1, 8)
    ids = sub.account_ids()
    out = review_book(sub, store=None, out_dir=None, workers=0, progress=False, dry_run=True)
    run1 = man["runs"][0]["run_id"]
    shipped_res = pl.read_parquet(folder / "account_results.parquet").filter((pl.col("run_id") == run1) & pl.col("account_id").is_in(ids))
    got_res = out.results.filter(pl.col("account_id").is_in(ids))
    assert dict(got_res.select("account_id", "decision").iter_rows()) == dict(shipped_res.select("account_id", "decision").iter_rows())
    want = pl.read_parquet(folder / "orders.parquet").filter((pl.col("run_id") == run1) & pl.col("account_id").is_in(ids))
    key = ["account_id", "symbol", "side", "lot_id", "shares", "reason"]
    got = out.orders.select(key).sort(key, nulls_last=True)
    want = want.select(key).sort(key, nulls_last=True)
    assert want.height > 0
    assert got.equals(want), (got.join(want, on=key, how="anti").head(10), want.join(got, on=key, how="anti").head(10))


def test_generate_with_history_writes_both_folders(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    res = runner.invoke(app, ["generate", "--accounts", "6", "--seed", "5", "--years", "2", "--history-days", "1", "--out", str(out)])
    assert res.exit_code == 0, res.output
    text = " ".join(res.output.split())
    assert "day 1 2026-11-24" in text and "(1 review runs" in text and "s CPU" in text
    assert read_upload(out).as_of == AS_OF
    assert [r["as_of"] for r in read_manifest(tmp_path / "demo_history")["runs"]] == ["2026-11-24"]
    bad = runner.invoke(app, ["generate", "--accounts", "6", "--history-days", "1", "--format", "parquet", "--out", str(tmp_path / "p")])
    assert bad.exit_code != 0 and not (tmp_path / "p").exists()
