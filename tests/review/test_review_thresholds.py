"""The review screen's thresholds are policy keys (``[review]`` of ``policy.toml``).

``review.te_trigger`` (0.02), ``review.harvest_trigger`` (0.005) and ``review.switch_back_days`` (7):
changing a key in the upload's ``policy.toml`` changes which accounts the screen sends to the optimizer;
a bad value refuses the upload with a message naming the file, the key, what was found and what was
expected; each key is documented.

The book is the checker's mini upload (tests/checker/data/mini_upload: T1 taxable with harvestable
losses, I1 an IRA, T2 with a restriction breach, HOLD1 on hold), copied with a ``policy.toml`` whose
``[drift]`` bands are wide open, so that tracking error and harvestable losses are the triggers left.
"""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import polars as pl
import pytest

from overlay_core.errors import UploadRefused
from overlay_core.policy import DEFAULT_POLICY, ReviewPolicy, parse_policy, policy_to_toml
from overlay_core.review.daily import HARVEST_TRIGGER, SWITCH_BACK_DAYS, TE_TRIGGER, review_book, screen, triggers_of
from overlay_core.review.datacheck import account_values
from overlay_core.review.optimizer import DayInputs
from overlay_core.targets import account_targets, risk_model
from overlay_core.tax import tax_state
from overlay_core.upload import read_upload

ROOT = Path(__file__).resolve().parents[2]
MINI = ROOT / "tests" / "checker" / "data" / "mini_upload"
WIDE_DRIFT = "[drift]\nasset_class_band_abs = 1.0\nsecurity_drift_max = 1.0\n"


def _upload(tmp: Path, review: str) -> Path:
    d = tmp / f"upload_{abs(hash(review))}"
    shutil.copytree(MINI, d)
    (d / "policy.toml").write_text(WIDE_DRIFT + "[review]\n" + review)
    return d


def _screen(folder: Path, **kw) -> pl.DataFrame:
    book = read_upload(folder)
    risk = risk_model(book)
    s = screen(book, DayInputs(risk=risk, targets=account_targets(book, risk=risk), tax=tax_state(book)), **kw)
    return s.accounts.join(account_values(book), on="account_id", how="left")


def _optimized(df: pl.DataFrame) -> set[str]:
    return set(df.filter(pl.col("decision") == "optimize")["account_id"].to_list())


def _reasons(df: pl.DataFrame) -> dict[str, list[str]]:
    return dict(df.select("account_id", "reasons").iter_rows())


def test_defaults_are_todays_values() -> None:
    assert DEFAULT_POLICY.review == ReviewPolicy(te_trigger=0.02, harvest_trigger=0.005, switch_back_days=7)
    assert (TE_TRIGGER, HARVEST_TRIGGER, SWITCH_BACK_DAYS) == (0.02, 0.005, 7)
    pol, problems = parse_policy("")
    assert problems == [] and pol.review == ReviewPolicy()


def test_te_trigger_key_changes_which_accounts_are_screened_in(tmp_path: Path) -> None:
    low = _screen(_upload(tmp_path, "te_trigger = 0.05\nharvest_trigger = 1.0\n"))
    high = _screen(_upload(tmp_path, "te_trigger = 0.08\nharvest_trigger = 1.0\n"))
    te = dict(low.select("account_id", "tracking_error").iter_rows())
    assert 0.05 < te["I1"] < 0.08 < te["T1"]  # the book's facts the test stands on
    assert {"I1", "T1"} <= _optimized(low)
    assert "T1" in _optimized(high) and "I1" not in _optimized(high)
    assert _reasons(high)["I1"] == ["within_bands"]
    assert "tracking_error" in _reasons(low)["I1"] and "tracking_error" in _reasons(high)["T1"]
    # every account's tracking_error reason is exactly "TE above the key"
    for df, trig in ((low, 0.05), (high, 0.08)):
        for a, d, r, t in df.select("account_id", "decision", "reasons", "tracking_error").iter_rows():
            if d in ("optimize", "no_trade"):
                assert ("tracking_error" in r) == (t > trig), (a, trig, t, r)
    # the restriction breach (T2) and the hold (HOLD1) do not depend on the key
    assert _reasons(low)["T2"] == _reasons(high)["T2"] and _reasons(high)["HOLD1"] == ["account_on_hold"]


def test_harvest_trigger_key_changes_which_accounts_are_screened_in(tmp_path: Path) -> None:
    low = _screen(_upload(tmp_path, "te_trigger = 1.0\nharvest_trigger = 0.01\n"))
    high = _screen(_upload(tmp_path, "te_trigger = 1.0\nharvest_trigger = 0.5\n"))
    row = low.filter(pl.col("account_id") == "T1").row(0, named=True)
    assert 0.01 < row["harvestable"] / row["value"] < 0.5 and row["harvestable"] > 100.0
    assert _reasons(low)["T1"] == ["harvestable_losses"] and "T1" in _optimized(low)
    assert _reasons(high)["T1"] == ["within_bands"] and "T1" not in _optimized(high)
    assert "I1" not in _optimized(low)  # an IRA harvests nothing, whatever the key


def test_an_argument_overrides_the_policy_key(tmp_path: Path) -> None:
    folder = _upload(tmp_path, "te_trigger = 0.08\nharvest_trigger = 1.0\nswitch_back_days = 3\n")
    book = read_upload(folder)
    assert triggers_of(book) == (0.08, 1.0, 3)
    assert triggers_of(book, te_trigger=0.05, switch_back_days=0) == (0.05, 1.0, 0)
    assert "I1" in _optimized(_screen(folder, te_trigger=0.05))
    assert "I1" not in _optimized(_screen(folder))


def test_the_daily_review_uses_the_policy_keys(tmp_path: Path) -> None:
    out = {}
    for te in (0.05, 0.08):
        book = read_upload(_upload(tmp_path, f"te_trigger = {te}\nharvest_trigger = 1.0\n"))
        res = review_book(book, store=None, out_dir=None, workers=0, dry_run=True, progress=False).results
        out[te] = dict(res.select("account_id", "reasons").iter_rows())
    assert out[0.08]["I1"] == "within_bands"
    assert out[0.05]["I1"] != "within_bands" and "tracking_error" in out[0.05]["I1"]


@pytest.mark.parametrize(
    "text, key, found, expected",
    [
        ("te_trigger = 2\n", "review.te_trigger", "2.0", "a fraction in [0, 1]"),
        ("harvest_trigger = -0.1\n", "review.harvest_trigger", "-0.1", "a finite number >= 0"),
        ('te_trigger = "2%"\n', "review.te_trigger", "'2%'", "a finite number >= 0"),
        ("switch_back_days = 2.5\n", "review.switch_back_days", "2.5", "a whole number >= 0"),
        ("tracking_error = 0.02\n", "review.tracking_error", "0.02", "one of the keys of [review]: te_trigger, harvest_trigger, switch_back_days"),
    ],
)
def test_a_bad_key_refuses_the_upload_naming_file_key_found_expected(tmp_path: Path, text: str, key: str, found: str, expected: str) -> None:
    with pytest.raises(UploadRefused) as err:
        read_upload(_upload(tmp_path, text))
    msg = str(err.value)
    assert f"policy.toml, {key}: found {found}; expected {expected}" in msg, msg


def test_review_keys_round_trip_and_are_documented() -> None:
    pol = replace(DEFAULT_POLICY, review=ReviewPolicy(te_trigger=0.03, harvest_trigger=0.01, switch_back_days=5))
    text = policy_to_toml(pol)
    assert "[review]" in text and "te_trigger = 0.03" in text
    again, problems = parse_policy(text)
    assert problems == [] and again == pol
    policy_md = (ROOT / "docs" / "policy.md").read_text()
    review_md = (ROOT / "docs" / "review.md").read_text()
    assert "`[review]`" in policy_md
    for name in ReviewPolicy.__dataclass_fields__:
        assert f"| `{name}` |" in policy_md, f"review.{name} is not documented in docs/policy.md"
        assert f"review.{name}" in review_md, f"review.{name} is not mentioned in docs/review.md"
