from __future__ import annotations

import polars as pl
import pytest

from overlay_core.contract import CASH
from overlay_core.policy import DriftPolicy
from overlay_core.targets.drift import compute_drift, drift
from overlay_core.targets import account_targets, risk_model

from targetkit import make_book

SEC = make_book(accounts=[]).securities


def frames(w: dict[str, float], t: dict[str, float]) -> tuple[pl.DataFrame, pl.DataFrame]:
    f = lambda d: pl.DataFrame({"account_id": ["A"] * len(d), "symbol": list(d), "weight": list(d.values())})  # noqa: E731
    return f(w), f(t)


def test_security_and_class_drift_and_bands() -> None:
    w, t = frames({"AAA": 0.50, "BND": 0.30, CASH: 0.20}, {"AAA": 0.40, "VTI": 0.10, "BND": 0.45, CASH: 0.05})
    d = compute_drift(w, t, SEC, DriftPolicy(asset_class_band_abs=0.05, asset_class_band_rel=0.25, security_drift_max=0.03))
    sec = {s: (dr, b) for _, s, _, _, dr, b in d.securities.rows()}
    assert sec["AAA"][0] == pytest.approx(0.10) and sec["AAA"][1]
    assert sec["VTI"][0] == pytest.approx(-0.10) and sec["VTI"][1]
    assert sec[CASH][0] == pytest.approx(0.15)
    cls = {c: (dr, band, b) for _, c, _, _, dr, band, b in d.asset_classes.rows()}
    assert cls["us_equity"][0] == pytest.approx(0.0) and not cls["us_equity"][2]
    assert cls["bond"][1] == pytest.approx(0.1125)  # 0.25 x 0.45 > 0.05
    assert cls["bond"][0] == pytest.approx(-0.15) and cls["bond"][2]
    s = d.summary.row(0, named=True)
    assert s["max_abs_drift"] == pytest.approx(0.15)
    assert s["asset_class_breaches"] == 2 and s["security_breaches"] == 4
    assert s["needs_rebalance"] and s["tracking_error"] is None


@pytest.mark.parametrize("trigger, expected", [("asset_class", False), ("security", True), ("any", True)])
def test_trigger(trigger: str, expected: bool) -> None:
    # a swap inside one class: the class is on target, the securities are not
    w, t = frames({"AAA": 0.5, "AAB": 0.5}, {"AAA": 0.45, "AAB": 0.55})
    d = compute_drift(w, t, SEC, DriftPolicy(trigger=trigger, security_drift_max=0.03))
    assert d.summary["needs_rebalance"].to_list() == [expected]


def test_drift_of_the_book_with_tracking_error() -> None:
    book = make_book(
        accounts=[dict(account_id="A1", target_id="T2", cash=0.0), dict(account_id="A2", target_id="T2", cash=0.0)],
        lots=[("A1", "VTI", 100), ("A2", "VTI", 50), ("A2", "VXUS", 30), ("A2", "BND", 20)],
        restrictions=[("A2", "asset_class_weight", "us_equity", 0.99)],  # refused: no drift row
    )
    r = risk_model(book)
    at = account_targets(book)
    d = drift(book, at, risk=r)
    assert d.summary["account_id"].to_list() == ["A1"]
    te = d.summary["tracking_error"][0]
    syms = list(at.of("A1"))
    assert te == pytest.approx(r.tracking_error([1.0 if s == "VTI" else 0.0 for s in syms], list(at.of("A1").values()), syms))
