"""A seeded simulator of daily closes from a factor model (see `model.py` and docs/market.md).

`simulate_prices` returns the long frame (date, symbol, close) of a universe over NYSE business days;
`simulate_returns` the underlying matrix of daily log returns. Both are deterministic for a seed, and a
security's path depends only on (seed, its own parameters, its tracking group, the number of days): adding
or removing other securities leaves it unchanged.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Mapping, Sequence

import numpy as np
import polars as pl
from scipy.signal import lfilter

from overlay_core import calendar as nyse
from overlay_core.contract import SECURITY_TYPES
from overlay_core.errors import ConfigError, DataError, Problem
from overlay_core.market.model import FACTORS, TRADING_DAYS, MarketModel, canonical_sector

UNIVERSE = "universe"  # the name used in Problems about the universe frame


# --------------------------------------------------------------------------------------------------
# calendar
# --------------------------------------------------------------------------------------------------


@lru_cache(maxsize=8)
def _exchange_calendar(name: str, first_year: int, last_year: int):  # type: ignore[no-untyped-def]
    import exchange_calendars as xc

    try:
        return xc.get_calendar(name, start=f"{first_year}-01-01", end=f"{last_year}-12-31")
    except Exception as exc:  # unknown name, or a range the library refuses
        raise ConfigError(f"calendar {name!r} from {first_year} to {last_year} is not available: {exc}") from exc


def _sessions(first: dt.date, last: dt.date, calendar: str) -> list[dt.date]:
    """The sessions of `calendar` in [first, last]: `overlay_core.calendar` for XNYS inside its range,
    else `exchange_calendars` directly (cached per calendar and span of years)."""
    if calendar == "XNYS":
        nyse_range = nyse._nyse()
        if nyse_range.first_session.date() <= first and last <= nyse_range.last_session.date():
            return nyse.business_days(first, last)
    import pandas as pd

    cal = _exchange_calendar(calendar, min(first.year, 1990) - 1, max(last.year + 1, 2030))
    return [ts.date() for ts in cal.sessions_in_range(pd.Timestamp(first), pd.Timestamp(last))]


def _span(days: int) -> dt.timedelta:
    """Calendar days that surely hold `days` sessions (5 a week, minus up to ~10 holidays a year)."""
    return dt.timedelta(days=int(days * 7 / 5 * 1.05) + 20)


def simulation_dates(start: dt.date, days: int, *, calendar: str = "XNYS") -> list[dt.date]:
    """The first `days` business days of `calendar` on or after `start`.

    XNYS inside `overlay_core.calendar`'s range uses `overlay_core.calendar.business_days`; other
    calendars and ranges beyond it (e.g. 40 simulated years from today) use `exchange_calendars`
    directly, whose holiday rules extend to any year.
    """
    if days < 1:
        raise ConfigError(f"days: found {days}; expected at least 1")
    out = _sessions(start, start + _span(days), calendar)
    if len(out) < days:  # pragma: no cover - the span always holds enough sessions
        raise ConfigError(f"calendar {calendar!r} has only {len(out)} sessions from {start}; expected {days}")
    return out[:days]


def simulation_start(end: dt.date, *, days: int, calendar: str = "XNYS") -> dt.date:
    """The start date such that `days` business days of `calendar` end on `end` (or the last session before it).

    ``simulation_dates(simulation_start(end, days=n), n)[-1] == end`` when `end` is a business day.
    """
    if days < 1:
        raise ConfigError(f"days: found {days}; expected at least 1")
    out = _sessions(end - _span(days), end, calendar)
    if len(out) < days:  # pragma: no cover - the span always holds enough sessions
        raise ConfigError(f"calendar {calendar!r} has only {len(out)} sessions before {end}; expected {days}")
    return out[-days]


# --------------------------------------------------------------------------------------------------
# seeding
# --------------------------------------------------------------------------------------------------


def _key(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little")


def _rng(seed: int, purpose: str, name: str = "") -> np.random.Generator:
    """A generator for one purpose and one name, independent of every other (seed, purpose, name)."""
    return np.random.default_rng([seed, _key(purpose), _key(name)])


def _std_t(rng: np.random.Generator, df: float, size: int | tuple[int, ...]) -> np.ndarray:
    """Student-t draws scaled to unit variance."""
    return rng.standard_t(df, size=size) * math.sqrt((df - 2.0) / df)


# --------------------------------------------------------------------------------------------------
# the universe
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Security:
    symbol: str
    asset_class: str  # canonical
    type: str
    sector: str | None  # canonical sector key
    group: str  # the tracking group (tracks / wash_group / the symbol itself)


def _read_universe(universe: pl.DataFrame, model: MarketModel) -> list[_Security]:
    problems: list[Problem] = []
    for col in ("symbol", "asset_class", "type"):
        if col not in universe.columns:
            problems.append(Problem(UNIVERSE, None, col, "no such column", "a column 'symbol', 'asset_class' and 'type'"))
    if problems:
        raise DataError(f"the universe lacks required columns (it has {universe.columns})", problems)
    cols = {c: universe[c].cast(pl.String).to_list() if c in universe.columns else [None] * universe.height for c in ("symbol", "asset_class", "type", "sector", "tracks", "wash_group")}
    seen: dict[str, int] = {}
    out: list[_Security] = []
    known = ", ".join(sorted(model.asset_classes))
    for i in range(universe.height):
        row = i + 1
        sym = cols["symbol"][i]
        if sym is None or not sym.strip():
            problems.append(Problem(UNIVERSE, row, "symbol", "an empty symbol", "a symbol"))
            continue
        if sym in seen:
            problems.append(Problem(UNIVERSE, row, "symbol", f"{sym!r} again (first at row {seen[sym]})", "unique symbols"))
            continue
        seen[sym] = row
        ac_raw = cols["asset_class"][i]
        ac = model.canonical_asset_class(ac_raw) if ac_raw else None
        if ac is None:
            problems.append(Problem(UNIVERSE, row, "asset_class", repr(ac_raw), f"one of {known} (or an alias, docs/market.md)"))
        typ = (cols["type"][i] or "").strip().lower()
        if typ not in SECURITY_TYPES:
            problems.append(Problem(UNIVERSE, row, "type", repr(cols["type"][i]), f"one of {', '.join(SECURITY_TYPES)}"))
        sec_raw = cols["sector"][i]
        sector = canonical_sector(sec_raw) if sec_raw and sec_raw.strip() else None
        group = next((g.strip() for g in (cols["tracks"][i], cols["wash_group"][i]) if g is not None and g.strip()), sym)
        if ac is not None and typ in SECURITY_TYPES:
            out.append(_Security(sym, ac, typ, sector, group))
    if problems:
        raise DataError(f"the universe has {len(problems)} problem(s)", problems)
    return out


# --------------------------------------------------------------------------------------------------
# the factor paths
# --------------------------------------------------------------------------------------------------


def _correlation(model: MarketModel) -> np.ndarray:
    idx = {f: k for k, f in enumerate(FACTORS)}
    c = np.eye(len(FACTORS))
    for a, b, rho in model.factor_correlations:
        if a not in idx or b not in idx:
            raise ConfigError(f"factor_correlations: found factor pair ({a!r}, {b!r}); expected names among {FACTORS}")
        c[idx[a], idx[b]] = c[idx[b], idx[a]] = rho
    if np.linalg.eigvalsh(c).min() <= 1e-9:
        raise ConfigError("factor_correlations: the correlation matrix is not positive definite")
    return c


def _market_regime(z: np.ndarray, model: MarketModel) -> np.ndarray:
    """GJR-GARCH(1,1) conditional variance ratio h_t / h_bar for standardized shocks z (shape (T,))."""
    a, g, b = model.garch_alpha, model.garch_gamma, model.garch_beta
    persistence = a + g / 2 + b
    if not (a >= 0 and g >= 0 and b >= 0 and persistence < 1):
        raise ConfigError(f"GARCH parameters: persistence alpha + gamma/2 + beta = {persistence:.4f}; expected < 1 and all >= 0")
    w = 1.0 - persistence  # in units of the long-run variance
    cap = model.max_vol_ratio**2
    ratio = np.empty(z.shape[0])
    h = 1.0
    for t, zt in enumerate(z.tolist()):
        ratio[t] = h
        e2 = h * zt * zt
        h = w + (a + (g if zt < 0 else 0.0)) * e2 + b * h
        if h > cap:
            h = cap
    return ratio


@dataclass(frozen=True, slots=True)
class _Factors:
    macro: np.ndarray  # (n_returns, len(FACTORS)) daily log returns of the factors
    vol_ratio: np.ndarray  # (n_returns,) the market's conditional vol over its long-run level
    cov: np.ndarray  # (len(FACTORS), len(FACTORS)) long-run annual covariance of the factors


def _factors(seed: int, n: int, model: MarketModel) -> _Factors:
    corr = _correlation(model)
    chol = np.linalg.cholesky(corr)
    rng = _rng(seed, "macro")
    x = rng.standard_normal((n, len(FACTORS))) @ chol.T
    df = model.market_df
    if df <= 2:
        raise ConfigError(f"market_df: found {df}; expected > 2")
    z_m = x[:, 0] * np.sqrt((df - 2.0) / rng.chisquare(df, size=n))  # unit-variance Student-t, correlated with x
    h = _market_regime(z_m, model)
    ratio = np.sqrt(h)
    if model.regime_vol > 0:
        phi, sd = model.regime_persistence, model.regime_vol
        if not 0 <= phi < 1:
            raise ConfigError(f"regime_persistence: found {phi}; expected 0 <= value < 1")
        eta = rng.standard_normal(n)
        slow = lfilter([sd * math.sqrt(1 - phi * phi)], [1.0, -phi], eta, zi=[phi * sd * float(rng.standard_normal())])[0]
        ratio = np.minimum(ratio * np.exp(slow - sd * sd), model.max_vol_ratio)  # E[ratio^2] stays ~1
    vols = np.array([model.market_vol] + [model.factor_vols.get(f, 0.0) for f in FACTORS[1:]])
    exps = np.array([1.0] + [model.regime_exponents.get(f, 0.0) for f in FACTORS[1:]])
    daily = vols / math.sqrt(TRADING_DAYS)
    x[:, 0] = z_m
    macro = x * daily * ratio[:, None] ** exps
    theta = model.market_ma1
    if theta != 0.0:  # MA(1): part of each day's market move reverts the next day (variance kept)
        shock = macro[:, 0].copy()
        macro[1:, 0] += theta * shock[:-1]
        macro[:, 0] /= math.sqrt(1.0 + theta * theta)
    cov = corr * np.outer(vols, vols)
    return _Factors(macro=macro, vol_ratio=ratio, cov=cov)


# --------------------------------------------------------------------------------------------------
# simulate
# --------------------------------------------------------------------------------------------------


def simulate_returns(
    universe: pl.DataFrame,
    *,
    days: int,
    seed: int,
    model: MarketModel | None = None,
) -> tuple[list[str], np.ndarray]:
    """Daily log returns of every security of `universe`.

    Parameters
    ----------
    universe : frame with columns ``symbol``, ``asset_class``, ``type`` and optionally ``sector``,
        ``tracks``, ``wash_group`` (see `simulate_prices`).
    days : number of returns to draw (a price path of ``days + 1`` closes).
    seed : any non-negative integer.
    model : the market's parameters (default `MarketModel()`).

    Returns
    -------
    (symbols, returns) : the universe's symbols in order, and an array of shape (days, n_symbols) of
        daily log returns.
    """
    model = model or MarketModel()
    if seed < 0:
        raise ConfigError(f"seed: found {seed}; expected a non-negative integer")
    if model.idio_df <= 2:
        raise ConfigError(f"idio_df: found {model.idio_df}; expected > 2")
    secs = _read_universe(universe, model)
    n = days
    fac = _factors(seed, n, model)
    f_index = {f: k for k, f in enumerate(FACTORS)}
    sqrt_d = math.sqrt(TRADING_DAYS)

    # one "underlying" per tracking group, built from its first member (by symbol)
    groups: dict[str, _Security] = {}
    for s in sorted(secs, key=lambda s: s.symbol):
        groups.setdefault(s.group, s)
    gnames = list(groups)
    u = len(gnames)
    loadings = np.zeros((u, len(FACTORS)))
    sector_of: list[str | None] = []
    sector_load = np.zeros(u)
    idio_vol = np.zeros(u)  # annual
    stochastic = np.zeros(u, dtype=bool)
    carry = np.zeros(u)
    cash = np.zeros(u, dtype=bool)
    z_idio = np.empty((u, n))  # one contiguous row per underlying
    eta = np.empty((u, n))
    v0 = np.zeros(u)
    for j, g in enumerate(gnames):
        s = groups[g]
        ac = model.asset_classes[s.asset_class]
        rng = _rng(seed, "underlying", g)
        draws = rng.standard_normal(7)
        for f, b in ac.exposures.items():
            loadings[j, f_index[f]] = b
        carry[j] = ac.carry
        cash[j] = s.asset_class == "cash"
        sp = model.sector(s.sector) if s.sector else None
        mkt = ac.exposures.get("market", 0.0)
        if s.type == "equity":
            beta_mean = mkt * (sp.beta if sp else 1.0)
            loadings[j, f_index["market"]] = float(np.clip(beta_mean + ac.beta_dispersion * draws[0], 0.1 * mkt, 2.5 * max(mkt, 0.1)))
            loadings[j, f_index["value"]] += (sp.value if sp else 0.0) + 0.4 * draws[1]
            loadings[j, f_index["size"]] += 0.3 * draws[2]
            sector_load[j] = float(np.clip(1.0 + 0.3 * draws[3], 0.3, 2.0)) if sp else 0.0
            idio_vol[j] = ac.idio_vol_stock * math.exp(ac.idio_dispersion * float(np.clip(draws[4], -2.0, 2.0)))
            stochastic[j] = True
            carry[j] += model.alpha_dispersion * draws[6]
        else:
            if sp is not None:  # a sector fund
                loadings[j, f_index["market"]] = mkt * sp.beta
                loadings[j, f_index["value"]] += sp.value
                sector_load[j] = 1.0
            idio_vol[j] = ac.idio_vol_fund
        sector_of.append(s.sector if sp else None)
        v0[j] = model.idio_sv_vol * draws[5]
        z_idio[j] = _std_t(rng, model.idio_df, n)
        eta[j] = rng.standard_normal(n)

    # systematic part
    r = loadings @ fac.macro.T  # (u, n)
    sectors = sorted({s for s in sector_of if s is not None})
    regime_sector = fac.vol_ratio ** model.sector_regime_exponent
    sector_var = np.zeros(u)
    for name in sectors:
        rows = [j for j in range(u) if sector_of[j] == name]
        vol = model.sector(name).vol
        path = _rng(seed, "sector", name).standard_normal(n) * (vol / sqrt_d) * regime_sector
        r[rows] += sector_load[rows, None] * path[None, :]
        sector_var[rows] = (sector_load[rows] * vol) ** 2

    # idiosyncratic part: Student-t x market regime x (stocks) a stochastic log-volatility
    z_idio *= (idio_vol / sqrt_d)[:, None] * (fac.vol_ratio ** model.idio_regime_exponent)[None, :]
    if stochastic.any() and model.idio_sv_vol > 0:
        phi, sv = model.idio_sv_persistence, model.idio_sv_vol
        rows = np.flatnonzero(stochastic)
        logv = lfilter([sv * math.sqrt(1 - phi * phi)], [1.0, -phi], eta[rows], axis=1, zi=(phi * v0[rows])[:, None])[0]
        logv -= sv * sv
        z_idio[rows] *= np.exp(logv, out=logv)
    r += z_idio

    # drift: risk-free + premia + carry - variance / 2 (so the expected simple return is the premium)
    premia = np.array([model.market_premium] + [model.factor_premia.get(f, 0.0) for f in FACTORS[1:]])
    var = np.einsum("uf,fg,ug->u", loadings, fac.cov, loadings) + sector_var + idio_vol**2
    mu = model.risk_free + loadings @ premia + carry - 0.5 * var
    if model.stable_nav_money_market:
        mu[cash] = 0.0
    r += (mu / TRADING_DAYS)[:, None]

    # each security: its underlying + (for a tracking group) a small tracking noise
    col_of = {g: j for j, g in enumerate(gnames)}
    out = r[[col_of[s.group] for s in secs]]  # (n_symbols, n), a copy
    te = model.tracking_error / sqrt_d
    for i, s in enumerate(secs):
        if s.group != s.symbol and te > 0 and s.asset_class != "cash":
            out[i] += _rng(seed, "tracking", s.symbol).standard_normal(n) * te
    return [s.symbol for s in secs], out.T


def default_start_price(symbol: str, asset_class: str, *, seed: int, model: MarketModel | None = None) -> float:
    """The starting close used when none is given: 1.00 for cash, else log-normal around the class's
    `default_price` (sd 0.5 in logs), rounded to cents."""
    model = model or MarketModel()
    key = model.canonical_asset_class(asset_class)
    if key is None:
        raise DataError(f"unknown asset class {asset_class!r}", [Problem(UNIVERSE, symbol, "asset_class", repr(asset_class), f"one of {', '.join(sorted(model.asset_classes))}")])
    ac = model.asset_classes[key]
    if key == "cash":
        return 1.0
    z = float(_rng(seed, "price", symbol).standard_normal())
    return round(ac.default_price * math.exp(0.5 * z), 2)


def simulate_prices(
    universe: pl.DataFrame,
    *,
    start: dt.date,
    days: int,
    seed: int,
    start_prices: Mapping[str, float] | None = None,
    calendar: str = "XNYS",
    model: MarketModel | None = None,
) -> pl.DataFrame:
    """Simulated daily closes of every security of `universe` over `days` business days from `start`.

    Parameters
    ----------
    universe : one row per security with columns ``symbol`` (unique), ``asset_class`` (a class of
        `MarketModel.asset_classes` or an alias, docs/market.md), ``type`` (the contract's security
        types; ``equity`` = a single stock, with a drawn beta, sector loading and idiosyncratic
        volatility; any other type = a fund with its class's exposures) and optionally ``sector``
        (GICS names; a stock or a sector fund loads on that sector's factor), ``tracks`` and
        ``wash_group``: securities with the same ``tracks`` value (or, where ``tracks`` is absent or
        empty, the same ``wash_group``) follow **one underlying index** plus a tracking noise of
        `MarketModel.tracking_error` (correlation ~0.9999); the underlying takes the parameters of
        the group's first member by symbol. Funds of one class tracking different
        indexes (legal substitutes) correlate at ~0.99 (their `idio_vol_fund`).
    start : the first date (rolled forward to a business day); its close is the start price.
    days : number of business days (rows per symbol), >= 1.
    seed : any non-negative integer; the result is identical for identical inputs.
    start_prices : symbol -> the close on the first day (> 0); others get `default_start_price`.
    calendar : an `exchange_calendars` name; "XNYS" (NYSE) by default.
    model : the market's parameters (default `MarketModel()`).

    Returns
    -------
    pl.DataFrame with columns date (Date), symbol (String), close (Float64, > 0, unrounded), of
    ``days * n_symbols`` rows ordered by date, then by the universe's row order.
    """
    model = model or MarketModel()
    dates = simulation_dates(start, days, calendar=calendar)
    symbols, r = simulate_returns(universe, days=days - 1, seed=seed, model=model)
    classes = dict(zip(universe["symbol"].cast(pl.String).to_list(), universe["asset_class"].cast(pl.String).to_list()))
    given = dict(start_prices or {})
    problems = []
    p0 = np.empty(len(symbols))
    for i, s in enumerate(symbols):
        if s in given:
            v = given[s]
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
                problems.append(Problem("start_prices", s, "close", repr(v), "a finite price > 0"))
                continue
            p0[i] = float(v)
        else:
            p0[i] = default_start_price(s, classes[s], seed=seed, model=model)
    if problems:
        raise DataError("bad start prices", problems)
    growth = np.zeros((days, len(symbols)))
    if days > 1:
        np.cumsum(r, axis=0, out=growth[1:])
    close = p0 * np.exp(growth)  # the first row is exactly p0
    n = len(symbols)
    return pl.DataFrame(
        {
            "date": pl.Series("date", dates, dtype=pl.Date).gather(np.repeat(np.arange(days), n)),
            "symbol": pl.Series("symbol", symbols, dtype=pl.String).gather(np.tile(np.arange(n), days)),
            "close": close.ravel(),
        }
    )


def universe_frame(rows: Sequence[tuple[str, str, str, str | None]]) -> pl.DataFrame:
    """A small universe frame from (symbol, asset_class, type, sector) tuples (a convenience for tests,
    notebooks and the calibration)."""
    return pl.DataFrame(
        {
            "symbol": [r[0] for r in rows],
            "asset_class": [r[1] for r in rows],
            "type": [r[2] for r in rows],
            "sector": [r[3] for r in rows],
        },
        schema={"symbol": pl.String, "asset_class": pl.String, "type": pl.String, "sector": pl.String},
    )
