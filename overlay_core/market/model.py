"""The market model's parameters: factors, asset classes, sectors (frozen, with documented defaults).

The simulator (`simulator.py`) draws daily **log** returns from a factor model

    r_i,t = d_i + sum_k b_ik f_k,t + g_i s_sector(i),t + e_i,t

- `f_market`: the US equity market factor, a GJR-GARCH(1,1) process with Student-t innovations
  (volatility clustering, fat tails, a leverage effect: falls raise volatility more than rises). Its
  conditional volatility is the **common volatility regime** that also scales every other factor and the
  idiosyncratic noise (``vol_ratio_t ** exponent``), so correlations and dispersion rise in a crash.
- macro / style factors (`size`, `value`, `rates`, `credit`, `muni`, `inflation`, `intl`, `em`, `reit`,
  `commodity`), jointly Gaussian with the correlations of `MarketModel.factor_correlations`
  (innovations correlated with the market's standardized shock). The `rates`, `credit` and `muni`
  factors are the return of a duration-1 position to a yield / spread change (``-dy``), so a bond
  fund's exposure to them is its duration.
- one factor per equity sector (stocks, and funds given a sector), independent of the others.
- idiosyncratic noise: Student-t with a per-security stochastic volatility (a log-AR(1)).

Every per-security parameter (beta, sector loading, idiosyncratic volatility, style loadings) is drawn
from a generator seeded by (seed, the security's name), so adding a security to a universe never
changes the others' paths.

Units: volatilities and premia are annual fractions (0.17 = 17 %/year), converted with 252 days.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Mapping

TRADING_DAYS = 252

#: The macro / style factors, in the order of the correlation matrix (the market first).
FACTORS: tuple[str, ...] = (
    "market",
    "size",
    "value",
    "rates",
    "credit",
    "muni",
    "inflation",
    "intl",
    "em",
    "reit",
    "commodity",
)


@dataclass(frozen=True, slots=True)
class AssetClassParams:
    """How the securities of one asset class load on the factors.

    Parameters
    ----------
    exposures : factor name -> mean loading (the market beta is ``exposures["market"]``). For the
        ``rates``/``credit``/``muni`` factors the loading is a duration in years.
    carry : annual drift above the risk-free rate that is not a factor premium (a bond fund's yield
        spread over cash, net of expected losses); 0 for equities.
    idio_vol_stock : median annual idiosyncratic volatility of a single stock (``type == "equity"``).
    idio_vol_fund : annual idiosyncratic volatility of a fund (etf, mutual_fund, bond, cash_equivalent):
        what makes two funds of one class tracking *different* indexes differ (legal substitutes).
    idio_dispersion : cross-sectional standard deviation of log idiosyncratic volatility (stocks; the
        normal draw is clipped at +-2 standard deviations).
    beta_dispersion : cross-sectional standard deviation of a stock's market beta around the mean.
    default_price : the median starting price when none is given (stocks: drawn log-normally around it).
    """

    exposures: Mapping[str, float]
    carry: float = 0.0
    idio_vol_stock: float = 0.25
    idio_vol_fund: float = 0.02
    idio_dispersion: float = 0.35
    beta_dispersion: float = 0.2
    default_price: float = 50.0


@dataclass(frozen=True, slots=True)
class SectorParams:
    """An equity sector: the mean market beta of its stocks and its own factor's annual volatility.

    ``value`` is the sector's mean loading on the value factor (positive = value-like).
    """

    beta: float = 1.0
    vol: float = 0.10
    value: float = 0.0


def _ac(**kw: object) -> AssetClassParams:
    exposures = MappingProxyType(dict(kw.pop("exposures")))  # type: ignore[arg-type]
    return AssetClassParams(exposures=exposures, **kw)  # type: ignore[arg-type]


#: Default asset classes (names as in the demo book's `ASSET_CLASSES`, plus a few common extras).
DEFAULT_ASSET_CLASSES: Mapping[str, AssetClassParams] = MappingProxyType(
    {
        # US equities: single stocks load on the market and their sector; funds on the market only.
        "us_large_cap": _ac(exposures={"market": 1.0, "size": -0.1}, idio_vol_stock=0.22, idio_dispersion=0.55, idio_vol_fund=0.015, default_price=80.0),
        "us_large_growth": _ac(exposures={"market": 1.05, "size": -0.1, "value": -0.5}, idio_vol_stock=0.24, idio_vol_fund=0.02, default_price=80.0),
        "us_large_value": _ac(exposures={"market": 0.95, "size": -0.1, "value": 0.5}, idio_vol_stock=0.21, idio_vol_fund=0.02, default_price=60.0),
        "us_mid_cap": _ac(exposures={"market": 1.05, "size": 0.5}, idio_vol_stock=0.28, idio_vol_fund=0.02, default_price=60.0),
        "us_small_cap": _ac(exposures={"market": 1.1, "size": 1.0}, idio_vol_stock=0.35, idio_vol_fund=0.025, default_price=40.0),
        "intl_developed": _ac(exposures={"market": 0.85, "intl": 1.0}, idio_vol_stock=0.25, idio_vol_fund=0.02, default_price=50.0),
        "emerging_markets": _ac(exposures={"market": 0.9, "intl": 0.7, "em": 1.0}, idio_vol_stock=0.32, idio_vol_fund=0.03, default_price=40.0),
        "reit": _ac(exposures={"market": 0.75, "reit": 1.0, "rates": 3.0}, idio_vol_stock=0.22, idio_vol_fund=0.025, default_price=60.0),
        "commodities": _ac(exposures={"market": 0.25, "commodity": 1.0, "inflation": 2.0}, carry=-0.01, idio_vol_fund=0.04, default_price=25.0),
        # Bonds: exposure to `rates` (and `credit`/`muni`) is the duration; `carry` the yield over cash.
        "treasury_short": _ac(exposures={"rates": 1.9}, carry=0.002, idio_vol_fund=0.002, default_price=50.0),
        "treasury_intermediate": _ac(exposures={"rates": 6.0}, carry=0.006, idio_vol_fund=0.004, default_price=60.0),
        "treasury_long": _ac(exposures={"rates": 16.5}, carry=0.012, idio_vol_fund=0.01, default_price=90.0),
        "us_aggregate_bond": _ac(exposures={"rates": 6.2, "credit": 1.5}, carry=0.008, idio_vol_fund=0.004, default_price=75.0),
        "investment_grade_corp": _ac(exposures={"rates": 7.0, "credit": 7.0, "market": 0.03}, carry=0.012, idio_vol_fund=0.006, default_price=100.0),
        "high_yield": _ac(exposures={"rates": 2.5, "credit": 12.0, "market": 0.2}, carry=0.025, idio_vol_fund=0.012, default_price=80.0),
        "municipal": _ac(exposures={"rates": 4.0, "muni": 6.0}, carry=0.003, idio_vol_fund=0.004, default_price=100.0),
        "tips": _ac(exposures={"rates": 5.5, "inflation": 2.0}, carry=0.003, idio_vol_fund=0.004, default_price=100.0),
        "intl_bond": _ac(exposures={"rates": 5.0, "intl": 0.05}, carry=0.002, idio_vol_fund=0.008, default_price=50.0),
        # Money market: no risk at all; accrues at the risk-free rate (or a stable $1.00 NAV).
        "cash": _ac(exposures={}, idio_vol_fund=0.0, default_price=1.0),
    }
)

#: Other spellings accepted for an asset class (after lower-casing and turning spaces/dashes into "_").
ASSET_CLASS_ALIASES: Mapping[str, str] = MappingProxyType(
    {
        "us_equity": "us_large_cap",
        "us_large": "us_large_cap",
        "large_cap": "us_large_cap",
        "us_stocks": "us_large_cap",
        "domestic_equity": "us_large_cap",
        "us_growth": "us_large_growth",
        "us_value": "us_large_value",
        "mid_cap": "us_mid_cap",
        "small_cap": "us_small_cap",
        "intl_equity": "intl_developed",
        "international": "intl_developed",
        "international_equity": "intl_developed",
        "developed_ex_us": "intl_developed",
        "em": "emerging_markets",
        "emerging": "emerging_markets",
        "em_equity": "emerging_markets",
        "real_estate": "reit",
        "reits": "reit",
        "commodity": "commodities",
        "gold": "commodities",
        "short_bond": "treasury_short",
        "short_treasury": "treasury_short",
        "intermediate_treasury": "treasury_intermediate",
        "intermediate_bond": "treasury_intermediate",
        "long_bond": "treasury_long",
        "long_treasury": "treasury_long",
        "us_aggregate": "us_aggregate_bond",
        "aggregate_bond": "us_aggregate_bond",
        "core_bond": "us_aggregate_bond",
        "bond": "us_aggregate_bond",
        "bonds": "us_aggregate_bond",
        "fixed_income": "us_aggregate_bond",
        "corporate_bond": "investment_grade_corp",
        "ig_corporate": "investment_grade_corp",
        "investment_grade": "investment_grade_corp",
        "muni": "municipal",
        "munis": "municipal",
        "municipal_bond": "municipal",
        "inflation_protected": "tips",
        "hy": "high_yield",
        "junk": "high_yield",
        "international_bond": "intl_bond",
        "global_bond": "intl_bond",
        "money_market": "cash",
        "cash_equivalent": "cash",
        "mmf": "cash",
    }
)

#: GICS sectors (and common other spellings, matched case-insensitively).
DEFAULT_SECTORS: Mapping[str, SectorParams] = MappingProxyType(
    {
        "information technology": SectorParams(beta=1.2, vol=0.13, value=-0.5),
        "communication services": SectorParams(beta=1.0, vol=0.11, value=-0.2),
        "consumer discretionary": SectorParams(beta=1.1, vol=0.09, value=-0.2),
        "consumer staples": SectorParams(beta=0.7, vol=0.09, value=0.2),
        "energy": SectorParams(beta=0.85, vol=0.20, value=0.5),
        "financials": SectorParams(beta=1.15, vol=0.13, value=0.6),
        "health care": SectorParams(beta=0.8, vol=0.10, value=0.0),
        "industrials": SectorParams(beta=1.05, vol=0.08, value=0.2),
        "materials": SectorParams(beta=1.05, vol=0.11, value=0.3),
        "real estate": SectorParams(beta=0.85, vol=0.13, value=0.3),
        "utilities": SectorParams(beta=0.5, vol=0.12, value=0.4),
    }
)
SECTOR_ALIASES: Mapping[str, str] = MappingProxyType(
    {
        "technology": "information technology",
        "tech": "information technology",
        "it": "information technology",
        "communications": "communication services",
        "telecommunication services": "communication services",
        "telecom": "communication services",
        "consumer cyclical": "consumer discretionary",
        "consumer defensive": "consumer staples",
        "financial": "financials",
        "financial services": "financials",
        "healthcare": "health care",
        "industrial": "industrials",
        "basic materials": "materials",
        "realestate": "real estate",
        "utility": "utilities",
    }
)
#: Parameters of a sector the model does not know (it still gets its own factor).
UNKNOWN_SECTOR = SectorParams(beta=1.0, vol=0.10, value=0.0)

#: Annual volatility of each macro / style factor in a calm regime (the market's is `market_vol`).
DEFAULT_FACTOR_VOLS: Mapping[str, float] = MappingProxyType(
    {
        "size": 0.08,
        "value": 0.08,
        "rates": 0.0085,  # yield changes: 85 bp/year
        "credit": 0.0040,  # IG spread changes: 40 bp/year
        "muni": 0.0035,  # muni-treasury spread changes
        "inflation": 0.0045,  # breakeven changes
        "intl": 0.10,
        "em": 0.14,
        "reit": 0.14,
        "commodity": 0.17,
    }
)
#: Annual premium (expected log-return contribution before the variance correction) per unit loading.
DEFAULT_FACTOR_PREMIA: Mapping[str, float] = MappingProxyType(
    {"size": 0.01, "value": 0.01, "em": 0.01, "reit": 0.0, "intl": 0.0, "commodity": 0.0}
)
#: How strongly each factor's volatility follows the market's volatility regime (0 = not at all).
DEFAULT_REGIME_EXPONENTS: Mapping[str, float] = MappingProxyType(
    {
        "size": 0.5,
        "value": 0.5,
        "rates": 0.2,
        "credit": 1.0,
        "muni": 0.6,
        "inflation": 0.5,
        "intl": 0.8,
        "em": 0.8,
        "reit": 0.8,
        "commodity": 0.5,
    }
)
#: Correlations of the factors' standardized innovations (pairs not listed: 0). `rates` is -dy, so
#: corr(market, rates) < 0 means yields rise with stocks (bonds fall with them); < 0 here: flight to quality.
DEFAULT_FACTOR_CORRELATIONS: tuple[tuple[str, str, float], ...] = (
    ("market", "rates", -0.15),
    ("market", "credit", 0.45),
    ("market", "size", 0.15),
    ("market", "commodity", 0.05),
    ("rates", "muni", -0.2),
    ("inflation", "commodity", 0.35),
    ("intl", "em", 0.3),
    ("credit", "muni", 0.2),
)


@dataclass(frozen=True)
class MarketModel:
    """All parameters of the simulated market, with calibrated defaults (docs/market.md).

    Parameters
    ----------
    risk_free : annual risk-free rate (continuously compounded); money market funds accrue it.
    market_premium : annual expected excess return of the market factor (arithmetic).
    market_vol : long-run annual volatility of the market factor.
    garch_alpha, garch_gamma, garch_beta : GJR-GARCH(1,1) of the market factor,
        ``h_t = w + (alpha + gamma * [e_{t-1} < 0]) e_{t-1}^2 + beta h_{t-1}``;
        persistence ``alpha + gamma / 2 + beta`` must be < 1.
    market_df : degrees of freedom of the market's Student-t innovations (> 2).
    regime_persistence, regime_vol : a slow volatility regime on top of the GARCH: the market's
        log-volatility gets a log-AR(1) component with this daily persistence (0.997: a half-life of
        about 230 days) and this stationary standard deviation (calm eras like 1993-95 and stressed ones
        like 2000-02 or 2008-09 that GARCH alone, with its ~1-2 month memory, does not make).
    market_ma1 : MA(1) coefficient of the market factor's daily returns (< 0: a part of each day's move
        reverts the next day: the S&P 500's lag-1 autocorrelation over 1990-2022 was -0.082; the daily variance is
        kept, the 21-day variance shrinks by about ``(1 + theta)^2 / (1 + theta^2)``).
    max_vol_ratio : cap on the market's conditional volatility over its long-run level (4.5 x 20 % = 90 %
        annualized, about the peaks of October 2008 and March 2020).
    idio_df : degrees of freedom of the idiosyncratic Student-t noise (> 2).
    idio_regime_exponent : idiosyncratic volatility scales with ``vol_ratio_t ** idio_regime_exponent``.
    sector_regime_exponent : the same for the sector factors.
    idio_sv_persistence : daily AR(1) coefficient of each security's log idiosyncratic volatility.
    idio_sv_vol : stationary standard deviation of that log volatility.
    alpha_dispersion : cross-sectional standard deviation of a stock's own annual drift (its "alpha",
        zero on average): what makes some stocks trend up or down for decades.
    tracking_error : annual volatility of a fund's deviation from the index it tracks (same `tracks` or
        `wash_group`: substantially identical funds correlate at about 0.9999).
    stable_nav_money_market : if True, `cash` securities keep their starting price (a $1.00 NAV whose
        yield is paid out); if False (default) their price accrues the risk-free rate (total return,
        like every other simulated series).
    asset_classes, sectors, factor_vols, factor_premia, regime_exponents, factor_correlations : see the
        module-level defaults.
    """

    risk_free: float = 0.03
    market_premium: float = 0.06
    market_vol: float = 0.20
    garch_alpha: float = 0.02
    garch_gamma: float = 0.11
    garch_beta: float = 0.915
    market_df: float = 7.0
    regime_persistence: float = 0.997
    regime_vol: float = 0.38
    max_vol_ratio: float = 4.5
    market_ma1: float = -0.085
    idio_df: float = 3.1
    idio_regime_exponent: float = 0.5
    sector_regime_exponent: float = 0.7
    idio_sv_persistence: float = 0.985
    idio_sv_vol: float = 0.45
    alpha_dispersion: float = 0.03
    tracking_error: float = 0.002
    stable_nav_money_market: bool = False
    asset_classes: Mapping[str, AssetClassParams] = field(default_factory=lambda: DEFAULT_ASSET_CLASSES)
    sectors: Mapping[str, SectorParams] = field(default_factory=lambda: DEFAULT_SECTORS)
    factor_vols: Mapping[str, float] = field(default_factory=lambda: DEFAULT_FACTOR_VOLS)
    factor_premia: Mapping[str, float] = field(default_factory=lambda: DEFAULT_FACTOR_PREMIA)
    regime_exponents: Mapping[str, float] = field(default_factory=lambda: DEFAULT_REGIME_EXPONENTS)
    factor_correlations: tuple[tuple[str, str, float], ...] = DEFAULT_FACTOR_CORRELATIONS

    def asset_class(self, name: str) -> AssetClassParams | None:
        """The parameters of an asset class by any accepted spelling, or None if unknown."""
        key = normalize_name(name)
        key = ASSET_CLASS_ALIASES.get(key, key)
        return self.asset_classes.get(key)

    def canonical_asset_class(self, name: str) -> str | None:
        key = normalize_name(name)
        key = ASSET_CLASS_ALIASES.get(key, key)
        return key if key in self.asset_classes else None

    def sector(self, name: str) -> SectorParams:
        """The parameters of a sector by any accepted spelling (unknown sectors: `UNKNOWN_SECTOR`)."""
        key = canonical_sector(name)
        return self.sectors.get(key, UNKNOWN_SECTOR)


def normalize_name(name: str) -> str:
    """Lower-case, trimmed, with spaces, dashes and slashes turned into underscores."""
    return re.sub(r"[\s\-/]+", "_", name.strip().lower())


def canonical_sector(name: str) -> str:
    key = re.sub(r"\s+", " ", name.strip().lower().replace("_", " "))
    return SECTOR_ALIASES.get(key, key)
