from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest

from overlay_core.contract import CASH
from overlay_core.errors import DataError
from overlay_core.policy import RiskPolicy
from overlay_core.targets import RiskModel, estimate_risk_model, risk_model

from targetkit import AS_OF, make_book, price_history


def test_factor_model_is_psd_and_cash_is_riskless() -> None:
    book = make_book(accounts=[])
    r = risk_model(book)
    syms = list(r.symbols) + [CASH]
    C = r.cov(syms)
    assert C.shape == (len(syms), len(syms))
    assert np.allclose(C, C.T)
    assert np.linalg.eigvalsh(C).min() > -1e-12
    assert np.all(C[-1] == 0) and np.all(C[:, -1] == 0)
    B, F, d = r.factor_form(["AAA", CASH])
    assert B.shape == (2, r.k) and F.shape == (r.k, r.k) and d.shape == (2,)
    assert np.all(B[1] == 0) and d[1] == 0


def test_volatility_matches_the_sample_and_tracking_error_the_formula() -> None:
    book = make_book(accounts=[])
    r = estimate_risk_model(book.price_history, book.securities, as_of=AS_OF, policy=RiskPolicy(n_factors=13))
    # with as many factors as securities - 1 the model reproduces the sample variances closely
    wide = book.price_history.pivot(on="symbol", index="date", values="close").sort("date")
    rets = np.diff(np.log(wide.select(r.symbols).to_numpy()), axis=0)
    sample = rets.var(axis=0, ddof=1) * 252
    assert np.allclose(np.diag(r.cov(r.symbols)), sample, rtol=0.02)
    w = np.array([0.5, 0.2, 0.3])
    t = np.array([0.3, 0.3, 0.4])
    syms = ["AAA", "VTI", CASH]
    a = w - t
    assert r.tracking_error(w, t, syms) == pytest.approx(float(np.sqrt(a @ r.cov(syms) @ a)), rel=1e-12)
    assert r.tracking_error(t, t, syms) == 0.0


def test_tracking_errors_of_many_accounts_match_one_by_one() -> None:
    book = make_book(accounts=[])
    r = risk_model(book)
    wts = pl.DataFrame({"account_id": ["A", "A", "B", "B"], "symbol": ["AAA", CASH, "VTI", "BND"], "weight": [0.6, 0.4, 0.5, 0.5]})
    tgt = pl.DataFrame({"account_id": ["A", "A", "B"], "symbol": ["AAB", CASH, "VTI"], "weight": [0.5, 0.5, 1.0]})
    te = dict(r.tracking_errors(wts, tgt).iter_rows())
    assert te["A"] == pytest.approx(r.tracking_error([0.6, 0.0, 0.4], [0.0, 0.5, 0.5], ["AAA", "AAB", CASH]), rel=1e-12)
    assert te["B"] == pytest.approx(r.tracking_error([0.5, 0.5], [1.0, 0.0], ["VTI", "BND"]), rel=1e-12)


def test_short_history_gets_a_peer_proxy() -> None:
    book = make_book(accounts=[])
    ph = book.price_history.filter((pl.col("symbol") != "AAF") | (pl.col("date") > AS_OF - dt.timedelta(days=30)))
    r = estimate_risk_model(ph, book.securities, as_of=AS_OF, policy=RiskPolicy(min_history_days=100))
    assert r.proxied == ("AAF",)
    peer = r.symbols.index("AAE")  # the only other health-care stock
    assert np.allclose(r.B[r.symbols.index("AAF")], r.B[peer])
    assert r.d[r.symbols.index("AAF")] == pytest.approx(r.d[peer])
    assert any("peer proxies" in n for n in r.notes)


def test_no_history_falls_back_to_a_diagonal_model() -> None:
    book = make_book(accounts=[], history=False)
    r = risk_model(book)
    assert r.k == 0
    assert r.volatility(["AAA", "BND", "MMF"]) == pytest.approx([0.30, 0.18, 0.005])
    assert "diagonal" in r.method


def test_only_history_up_to_as_of_is_used() -> None:
    book = make_book(accounts=[])
    later = price_history(list(book.securities["symbol"]), days=10, seed=99).with_columns(pl.col("date") + dt.timedelta(days=30))
    r1 = estimate_risk_model(book.price_history, book.securities, as_of=AS_OF)
    r2 = estimate_risk_model(pl.concat([book.price_history, later]), book.securities, as_of=AS_OF)
    assert np.allclose(r1.cov(r1.symbols), r2.cov(r2.symbols))


def test_frames_round_trip() -> None:
    r = risk_model(make_book(accounts=[]))
    r2 = RiskModel.from_frames(r.to_frames())
    assert r2.symbols == r.symbols and r2.as_of == r.as_of and r2.proxied == r.proxied and r2.notes == r.notes
    assert np.array_equal(r2.B, r.B) and np.array_equal(r2.F, r.F) and np.array_equal(r2.d, r.d)


def test_unknown_symbol_is_a_clear_error() -> None:
    r = risk_model(make_book(accounts=[]))
    with pytest.raises(DataError, match="unknown to the risk model"):
        r.cov(["AAA", "NOPE"])


def test_cached_per_upload() -> None:
    book = make_book(accounts=[])
    book = book.__class__(**{**book.__dict__, "input_hash": "abc"})
    assert risk_model(book) is risk_model(book)


def test_partial_history_is_regressed_on_the_factors_not_zero_filled() -> None:
    book = make_book(accounts=[])
    ph = book.price_history.filter((pl.col("symbol") != "AAA") | (pl.col("date") > AS_OF - dt.timedelta(days=150)))
    r = estimate_risk_model(ph, book.securities, as_of=AS_OF, policy=RiskPolicy(n_factors=3, min_history_days=100))
    assert "AAA" not in r.proxied
    wide = ph.filter(pl.col("symbol").is_in(["AAA", "AAB"])).pivot(on="symbol", index="date", values="close").sort("date").drop_nulls()
    ra, rb = (np.diff(np.log(wide[s].to_numpy())) for s in ("AAA", "AAB"))
    C = r.cov(["AAA", "AAB"])
    assert np.sqrt(C[0, 0]) == pytest.approx(ra.std(ddof=1) * np.sqrt(252), rel=0.1)
    assert C[0, 1] / np.sqrt(C[0, 0] * C[1, 1]) == pytest.approx(np.corrcoef(ra, rb)[0, 1], abs=0.05)
