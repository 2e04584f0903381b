"""The risk model: a statistical factor model estimated from the upload's ``price_history``.

Method (documented in docs/targets.md)
--------------------------------------
1. Daily log returns ``r = diff(log close)`` of every security over the last ``lookback_days`` returns
   ending at `as_of` (policy ``[risk]``; a return is missing when either close is).
2. Securities with at least ``min_history_days`` returns in the window are *estimated*: their returns
   are demeaned (over the days observed) and missing days set to 0; the matrix ``X`` (T x n) is split by
   SVD, ``X = U S V'``. The first ``k = n_factors`` right singular vectors are the loadings
   ``B = V[:, :k]``, the factor returns are ``f = X B = U_k S_k``, and ``F = diag(S_k^2 / (T - 1))``. A
   security with missing days gets its loadings by least squares of its observed returns on ``f`` over
   those days instead (zero-filled days would understate its exposure). The specific variance ``d`` is
   the variance of the residual ``X - f B'`` over the days observed, floored at ``specific_var_floor``
   (annualized).
3. Every other security (short or no history) is *proxied* by its peers: loadings = the mean loadings
   of the estimated securities of the same asset class and sector (same asset class if none share the
   sector; all estimated securities if none share the class), specific variance = the peers' median.
4. Everything is annualized x 252. ``$CASH`` has zero loadings and zero variance.
5. Without enough history to estimate anything (fewer than 2 return days or no estimated security),
   the model is diagonal: ``k = 0`` and ``d`` = a default variance by security type
   (`DEFAULT_VOL`), said in `notes`.

``Sigma = B F B' + diag(d)``; the ex-ante tracking error of weights ``w`` against target ``t`` is
``sqrt((w - t)' Sigma (w - t))`` (annualized fraction). Estimation for 500 securities x 504 days takes
tens of milliseconds; `risk_model(book)` caches one model per upload and policy.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np
import polars as pl

from overlay_core.book import Book
from overlay_core.contract import CASH
from overlay_core.errors import DataError, Problem
from overlay_core.policy import RiskPolicy

TRADING_DAYS = 252
#: annualized volatility by security type for the diagonal fallback model (no usable history)
DEFAULT_VOL: Mapping[str, float] = {
    "equity": 0.30,
    "etf": 0.18,
    "mutual_fund": 0.15,
    "bond": 0.06,
    "cash_equivalent": 0.005,
}


@dataclass(frozen=True, eq=False)
class RiskModel:
    """Sigma = B F B' + diag(d) over `symbols` (annualized; ``$CASH`` implicit with zero risk).

    Attributes
    ----------
    as_of : the day the model was estimated for.
    symbols : tuple of n securities.
    B : array (n, k) factor loadings.
    F : array (k, k) factor covariance (diagonal for the PCA model).
    d : array (n,) specific variances.
    proxied : securities whose loadings and specific variance are peer proxies.
    method : a one-line description of how the model was made.
    notes : anything the caller should know (fallbacks).
    """

    as_of: dt.date
    symbols: tuple[str, ...]
    B: np.ndarray
    F: np.ndarray
    d: np.ndarray
    proxied: tuple[str, ...] = ()
    method: str = ""
    notes: tuple[str, ...] = ()
    index: Mapping[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.index:
            object.__setattr__(self, "index", {s: i for i, s in enumerate(self.symbols)})
        for name in ("B", "F", "d"):
            a = np.array(getattr(self, name), float)
            a.setflags(write=False)
            object.__setattr__(self, name, a)

    @property
    def k(self) -> int:
        return int(self.B.shape[1])

    def _rows(self, symbols: Sequence[str]) -> np.ndarray:
        """Row of each symbol in the model; -1 for ``$CASH``. Unknown symbols raise `DataError`."""
        rows = np.empty(len(symbols), dtype=np.int64)
        unknown = []
        for j, s in enumerate(symbols):
            if s == CASH:
                rows[j] = -1
                continue
            i = self.index.get(s)
            if i is None:
                unknown.append(s)
                rows[j] = -1
            else:
                rows[j] = i
        if unknown:
            raise DataError(
                "symbols unknown to the risk model",
                [Problem("securities", None, "symbol", s, "a security of the upload's securities table") for s in unknown],
            )
        return rows

    def factor_form(self, symbols: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The factor form for `symbols` in that order (``$CASH`` -> zero row, zero variance).

        Returns
        -------
        B : array (len(symbols), k); F : array (k, k); d : array (len(symbols),). All annualized.
        """
        rows = self._rows(symbols)
        cash = rows < 0
        B = self.B[np.where(cash, 0, rows)] if len(rows) else np.zeros((0, self.k))
        d = self.d[np.where(cash, 0, rows)] if len(rows) else np.zeros(0)
        B = np.where(cash[:, None], 0.0, B)
        d = np.where(cash, 0.0, d)
        return B, np.array(self.F), d

    def cov(self, symbols: Sequence[str]) -> np.ndarray:
        """The full covariance matrix (len(symbols), len(symbols)), annualized."""
        B, F, d = self.factor_form(symbols)
        return B @ F @ B.T + np.diag(d)

    def tracking_error(self, w: np.ndarray | Sequence[float], t: np.ndarray | Sequence[float], symbols: Sequence[str]) -> float:
        """Ex-ante annualized tracking error sqrt((w - t)' Sigma (w - t)) of weights `w` vs target `t`
        (arrays aligned with `symbols`)."""
        a = np.asarray(w, float) - np.asarray(t, float)
        B, F, d = self.factor_form(symbols)
        y = B.T @ a
        return float(np.sqrt(max(float(y @ F @ y + np.dot(d, a * a)), 0.0)))

    def tracking_errors(self, weights: pl.DataFrame, targets: pl.DataFrame, *, key: str = "account_id") -> pl.DataFrame:
        """Tracking error of many portfolios at once.

        Parameters
        ----------
        weights, targets : frames [key, symbol, weight]; a symbol missing on one side has weight 0.

        Returns
        -------
        frame [key, tracking_error] with one row per key of either frame.
        """
        rows = pl.concat(
            [
                weights.select(key, "symbol", "weight"),
                targets.select(key, "symbol", (-pl.col("weight")).alias("weight")),
            ]
        ).filter(pl.col("symbol") != CASH)
        keys = pl.concat([weights.select(key), targets.select(key)]).unique().sort(key).with_row_index("_r")
        idx = pl.DataFrame({"symbol": list(self.symbols), "_c": np.arange(len(self.symbols), dtype=np.uint32)})
        rows = rows.join(idx, on="symbol", how="left").join(keys, on=key, how="left")
        missing = rows.filter(pl.col("_c").is_null())["symbol"].unique().sort().to_list()
        if missing:
            self._rows(missing)  # raises the DataError naming them
        A = np.zeros((keys.height, len(self.symbols)))
        np.add.at(A, (rows["_r"].to_numpy(), rows["_c"].to_numpy()), rows["weight"].to_numpy())
        Y = A @ self.B
        te2 = np.einsum("ij,jk,ik->i", Y, self.F, Y) + (A * A) @ self.d
        return pl.DataFrame({key: keys[key], "tracking_error": np.sqrt(np.maximum(te2, 0.0))})

    def volatility(self, symbols: Sequence[str]) -> np.ndarray:
        """Annualized volatility of each symbol, shape (len(symbols),)."""
        B, F, d = self.factor_form(symbols)
        return np.sqrt(np.einsum("ij,jk,ik->i", B, F, B) + d)

    # ---- persistence ------------------------------------------------------------------------------
    def to_frames(self) -> dict[str, pl.DataFrame]:
        """The model as frames (for the store): ``exposures`` [symbol, proxied, specific_var, f0..f{k-1}],
        ``factor_cov`` [factor, f0..f{k-1}], ``meta`` [key, value]."""
        fac = [f"f{j}" for j in range(self.k)]
        prox = set(self.proxied)
        exposures = pl.DataFrame(
            {
                "symbol": list(self.symbols),
                "proxied": [s in prox for s in self.symbols],
                "specific_var": self.d,
                **{f: self.B[:, j] for j, f in enumerate(fac)},
            },
            schema={"symbol": pl.String, "proxied": pl.Boolean, "specific_var": pl.Float64, **{f: pl.Float64 for f in fac}},
        )
        factor_cov = pl.DataFrame(
            {"factor": fac, **{f: self.F[:, j] for j, f in enumerate(fac)}},
            schema={"factor": pl.String, **{f: pl.Float64 for f in fac}},
        )
        meta = pl.DataFrame(
            {
                "key": ["as_of", "method"] + ["note"] * len(self.notes),
                "value": [self.as_of.isoformat(), self.method, *self.notes],
            }
        )
        return {"exposures": exposures, "factor_cov": factor_cov, "meta": meta}

    @classmethod
    def from_frames(cls, frames: Mapping[str, pl.DataFrame]) -> RiskModel:
        """The inverse of `to_frames`."""
        exposures, factor_cov, meta = frames["exposures"], frames["factor_cov"], frames["meta"]
        fac = [c for c in factor_cov.columns if c != "factor"]
        m = {k: v for k, v in meta.filter(pl.col("key") != "note").iter_rows()}
        B = exposures.select(fac).to_numpy() if fac else np.zeros((exposures.height, 0))
        F = factor_cov.select(fac).to_numpy() if fac else np.zeros((0, 0))
        return cls(
            as_of=dt.date.fromisoformat(m["as_of"]),
            symbols=tuple(exposures["symbol"].to_list()),
            B=B.reshape(exposures.height, len(fac)),
            F=F.reshape(len(fac), len(fac)),
            d=exposures["specific_var"].to_numpy(),
            proxied=tuple(exposures.filter(pl.col("proxied"))["symbol"].to_list()),
            method=m.get("method", ""),
            notes=tuple(meta.filter(pl.col("key") == "note")["value"].to_list()),
        )


def estimate_risk_model(
    price_history: pl.DataFrame,
    securities: pl.DataFrame,
    *,
    as_of: dt.date,
    policy: RiskPolicy | None = None,
) -> RiskModel:
    """Estimate the statistical factor model (see the module docstring).

    Parameters
    ----------
    price_history : frame [date, symbol, close].
    securities : the book's securities (symbol, asset_class, type, sector).
    as_of : only closes on or before this day are used.
    policy : the ``[risk]`` settings (defaults when None).

    Returns
    -------
    RiskModel over every security of `securities` (sorted by symbol).
    """
    policy = policy or RiskPolicy()
    sec = securities.filter(pl.col("symbol") != CASH).sort("symbol")
    symbols = tuple(sec["symbol"].to_list())
    n = len(symbols)
    classes = sec["asset_class"].to_list()
    sectors = sec["sector"].to_list() if "sector" in sec.columns else [None] * n
    types = sec["type"].to_list()

    idx = pl.DataFrame({"symbol": list(symbols), "_c": np.arange(n, dtype=np.int64)})
    ph = price_history.filter((pl.col("date") <= as_of) & (pl.col("close") > 0)).join(idx, on="symbol", how="inner")
    dates = ph["date"].unique().sort().tail(policy.lookback_days + 1)
    T = len(dates) - 1
    X = np.full((max(T, 0), n), np.nan)
    if T >= 1:
        ph = ph.filter(pl.col("date") >= dates[0]).with_columns((pl.col("date").rank("dense") - 1).cast(pl.Int64).alias("_d"))
        P = np.full((len(dates), n), np.nan)
        P[ph["_d"].to_numpy(), ph["_c"].to_numpy()] = ph["close"].to_numpy()
        with np.errstate(invalid="ignore", divide="ignore"):
            X = np.diff(np.log(P), axis=0)
    obs = np.isfinite(X)
    counts = obs.sum(axis=0) if T >= 1 else np.zeros(n, int)
    est = counts >= max(policy.min_history_days, 2)
    n_est = int(est.sum())
    k = int(min(policy.n_factors, max(n_est - 1, 0), max(T - 1, 0)))

    notes: list[str] = []
    if n_est == 0 or T < 2:
        d = np.array([DEFAULT_VOL.get(t, 0.2) ** 2 for t in types], float)
        notes.append(
            f"no security has {policy.min_history_days} daily returns on or before {as_of}: "
            "diagonal model with default volatilities by security type"
        )
        return RiskModel(
            as_of=as_of,
            symbols=symbols,
            B=np.zeros((n, 0)),
            F=np.zeros((0, 0)),
            d=d,
            proxied=symbols,
            method="diagonal fallback (no usable price history)",
            notes=tuple(notes),
        )

    Xe = X[:, est]
    Oe = obs[:, est]
    mean = np.where(Oe, Xe, 0.0).sum(axis=0) / Oe.sum(axis=0)
    Xc = np.where(Oe, Xe - mean, 0.0)
    U_, S, Vt = np.linalg.svd(Xc, full_matrices=False)
    Be = Vt[:k].T.copy()  # (n_est, k)
    F = np.diag(S[:k] ** 2 / (T - 1)) * TRADING_DAYS
    fr = U_[:, :k] * S[:k]  # factor returns (T, k) = Xc @ Be
    # a security with missing days: its loadings by regression on the factor returns of the days observed
    # (for a complete history this equals its row of V; zero-filled days would understate its exposure)
    for j in np.flatnonzero(~Oe.all(axis=0)):
        o = Oe[:, j]
        if k:
            Be[j] = np.linalg.lstsq(fr[o], Xc[o, j], rcond=None)[0]
    resid = Xc - fr @ Be.T
    dof = np.maximum(Oe.sum(axis=0) - 1, 1)
    de = np.maximum(np.where(Oe, resid, 0.0).__pow__(2).sum(axis=0) / dof * TRADING_DAYS, policy.specific_var_floor)

    B = np.zeros((n, k))
    d = np.zeros(n)
    est_idx = np.flatnonzero(est)
    B[est_idx] = Be
    d[est_idx] = de
    cls_arr = np.array(classes, dtype=object)
    sec_arr = np.array(sectors, dtype=object)
    proxied = []
    for i in np.flatnonzero(~est):
        same_class = est & (cls_arr == classes[i])
        peers = same_class & (sec_arr == sectors[i]) if sectors[i] is not None else np.zeros(n, bool)
        if not peers.any():
            peers = same_class
        if not peers.any():
            peers = est
        B[i] = B[peers].mean(axis=0)
        d[i] = float(np.median(d[peers]))
        proxied.append(symbols[i])
    if proxied:
        notes.append(f"{len(proxied)} securities with fewer than {policy.min_history_days} daily returns use peer proxies")
    return RiskModel(
        as_of=as_of,
        symbols=symbols,
        B=B,
        F=F,
        d=d,
        proxied=tuple(proxied),
        method=f"statistical factor model: PCA of {T} daily log returns, {k} factors, x{TRADING_DAYS}",
        notes=tuple(notes),
    )


_CACHE: dict[tuple[object, ...], RiskModel] = {}
_CACHE_SIZE = 4


def risk_model(book: Book) -> RiskModel:
    """The book's risk model, estimated once per (upload, as_of, ``[risk]`` policy) and cached.

    A book without an `input_hash` (built by hand, not read from an upload) is never cached.
    """
    if not book.input_hash:
        return estimate_risk_model(book.price_history, book.securities, as_of=book.as_of, policy=book.policy.risk)
    key = (book.input_hash, book.as_of, book.policy.risk)
    model = _CACHE.get(key)
    if model is None:
        model = estimate_risk_model(book.price_history, book.securities, as_of=book.as_of, policy=book.policy.risk)
        if len(_CACHE) >= _CACHE_SIZE:
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[key] = model
    return model
