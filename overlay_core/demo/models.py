"""The demo firm's models, targets (blends of models) and the IPC's `policy.toml`.

Eleven models: five strategic ETF allocations (conservative -> aggressive), a large-cap direct index
of all 142 stocks, an ESG model, two third-party models (with `provider`), an income model, a
municipal income model and a core fixed-income model. Nine targets blend them. The policy's ranges
for custom asset-class weights are each target's own allocation +/- a band, and the approved
alternatives list the legal substitutes the IPC allows per asset class.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Mapping

import polars as pl

from overlay_core.contract import CASH
from overlay_core.demo.universe import EQUITY_CLASSES, Universe

FIRM_PROVIDER = "Firm IPC"

# Strategic allocations: equity share by risk level; the split inside equity and fixed income.
_STRATEGIC_EQUITY = {
    "strategic_conservative": 0.20,
    "strategic_moderate_conservative": 0.40,
    "strategic_moderate": 0.60,
    "strategic_growth": 0.80,
    "strategic_aggressive": 0.95,
}
_EQUITY_SPLIT = {"VOO": 0.52, "IJH": 0.08, "IJR": 0.07, "VEA": 0.20, "IEMG": 0.08, "VNQ": 0.05}
_FIXED_SPLIT = {"AGG": 0.42, "SHY": 0.14, "SCHP": 0.10, "TLT": 0.08, "LQD": 0.12, "USHY": 0.08, "BNDX": 0.06}

_FIXED_MODELS: dict[str, tuple[str, dict[str, float]]] = {
    "esg_core": (
        FIRM_PROVIDER,
        {"ESGU": 0.38, "ESGV": 0.10, "ESGD": 0.17, "ESGE": 0.07, "EAGG": 0.25, "VTIP": 0.02, CASH: 0.01},
    ),
    "northbridge_multi_asset": (
        "Northbridge Research",
        {
            "SCHX": 0.33, "SCHA": 0.06, "SCHF": 0.13, "SCHE": 0.05, "SCHH": 0.03, "BCI": 0.02,
            "SCHZ": 0.20, "VGSH": 0.06, "SPIP": 0.04, "VCIT": 0.04, "JNK": 0.02, "SWVXX": 0.01, CASH: 0.01,
        },
    ),
    "income": (
        FIRM_PROVIDER,
        {
            "AGG": 0.20, "LQD": 0.15, "USHY": 0.15, "VYM": 0.15, "VNQ": 0.10, "TIP": 0.05, "BNDX": 0.05,
            "SWVXX": 0.05, "VBTLX": 0.08, CASH: 0.02,
        },
    ),
    "muni_income": (
        FIRM_PROVIDER,
        {"VTEB": 0.35, "MUB": 0.25, "VWIUX": 0.20, "SUB": 0.10, "SWVXX": 0.08, CASH: 0.02},
    ),
    "core_fixed_income": (
        FIRM_PROVIDER,
        {"AGG": 0.40, "SHY": 0.15, "SCHP": 0.10, "TLT": 0.10, "LQD": 0.10, "BNDX": 0.05, "USHY": 0.05, "SWVXX": 0.03, CASH: 0.02},
    ),
}

# Meridian's dividend model: 30 dividend payers equally weighted, plus SCHD and cash.
_MERIDIAN_STOCKS = (
    "JNJ", "PG", "KO", "PEP", "XOM", "CVX", "JPM", "HD", "MRK", "ABBV", "PFE", "VZ", "T", "MO", "PM",
    "MCD", "WMT", "CSCO", "IBM", "TXN", "UPS", "MMM", "NEE", "DUK", "SO", "O", "AMGN", "BMY", "CAT", "LMT",
)

#: target_id -> {model_id: blend weight}
TARGETS: dict[str, dict[str, float]] = {
    "conservative": {"strategic_conservative": 0.70, "income": 0.30},
    "balanced": {"strategic_moderate": 0.60, "northbridge_multi_asset": 0.40},
    "balanced_dividend": {"strategic_moderate_conservative": 0.50, "meridian_dividend": 0.30, "core_fixed_income": 0.20},
    "growth_di": {"strategic_growth": 0.50, "large_cap_direct_index": 0.50},
    "aggressive_di": {"strategic_aggressive": 0.30, "large_cap_direct_index": 0.70},
    "tax_managed_di": {"large_cap_direct_index": 0.60, "muni_income": 0.40},
    "esg_balanced": {"esg_core": 0.80, "core_fixed_income": 0.20},
    "income": {"income": 0.70, "core_fixed_income": 0.30},
    "direct_index": {"large_cap_direct_index": 1.00},
}
#: targets that hold individual stocks (only for accounts large enough for a direct index)
STOCK_TARGETS = frozenset({"growth_di", "aggressive_di", "tax_managed_di", "direct_index", "balanced_dividend"})
#: targets meant for taxable accounts only (municipal bonds)
TAXABLE_ONLY_TARGETS = frozenset({"tax_managed_di"})

#: half-width of the IPC's allowed range around each asset class's target weight
RANGE_BAND = 0.10


def _direct_index_weights(universe: Universe) -> dict[str, float]:
    """Market-cap weights over all stocks, damped (cap^0.8) so no tiny weights; 1% cash."""
    meta = universe.meta.filter(pl.col("market_cap").is_not_null())
    caps = meta["market_cap"].to_numpy() ** 0.8
    w = caps / caps.sum() * 0.99
    out = {s: float(x) for s, x in zip(meta["symbol"].to_list(), w)}
    out[CASH] = 0.01
    return out


def build_models(universe: Universe) -> pl.DataFrame:
    """The `models` table: model_id, symbol, weight, provider (weights of a model sum to 1)."""
    models: dict[str, tuple[str, dict[str, float]]] = {}
    for mid, eq in _STRATEGIC_EQUITY.items():
        cash = 0.02 if eq < 0.5 else 0.01
        cmdty = 0.0 if eq < 0.5 else 0.02
        fixed = 1.0 - eq - cash - cmdty
        w: dict[str, float] = defaultdict(float)
        for s, x in _EQUITY_SPLIT.items():
            w[s] += eq * x
        for s, x in _FIXED_SPLIT.items():
            w[s] += fixed * x
        if cmdty:
            w["PDBC"] += cmdty
        w[CASH] += cash
        models[mid] = (FIRM_PROVIDER, dict(w))
    models["large_cap_direct_index"] = (FIRM_PROVIDER, _direct_index_weights(universe))
    meridian = {s: 0.03 for s in _MERIDIAN_STOCKS}
    meridian["SCHD"] = 0.08
    meridian[CASH] = 0.02
    models["meridian_dividend"] = ("Meridian Capital Partners", meridian)
    models.update(_FIXED_MODELS)
    rows = []
    for mid, (provider, weights) in models.items():
        total = sum(weights.values())
        for s, x in weights.items():
            rows.append((mid, s, x / total, provider))
    return pl.DataFrame(
        rows, schema={"model_id": pl.String, "symbol": pl.String, "weight": pl.Float64, "provider": pl.String}, orient="row"
    )


def build_targets() -> pl.DataFrame:
    """The `targets` table: target_id, model_id, weight."""
    rows = [(t, m, w) for t, blend in TARGETS.items() for m, w in blend.items()]
    return pl.DataFrame(rows, schema={"target_id": pl.String, "model_id": pl.String, "weight": pl.Float64}, orient="row")


def target_security_weights(models: pl.DataFrame, targets: pl.DataFrame) -> pl.DataFrame:
    """Each target expanded to securities: target_id, symbol, weight (incl. `$CASH`), summing to 1.

    The demo's own expansion (the generator needs it before any book exists); the engine's targets
    module does the same from the book.
    """
    return (
        targets.join(models.select("model_id", "symbol", pl.col("weight").alias("mw")), on="model_id")
        .group_by("target_id", "symbol")
        .agg((pl.col("weight") * pl.col("mw")).sum().alias("weight"))
        .sort("target_id", "symbol")
    )


def target_allocations(target_weights: pl.DataFrame, securities: pl.DataFrame) -> pl.DataFrame:
    """target_id, asset_class, weight (cash includes `$CASH` and money-market funds)."""
    ac = securities.select("symbol", "asset_class")
    return (
        target_weights.join(ac, on="symbol", how="left")
        .with_columns(pl.col("asset_class").fill_null("cash"))
        .group_by("target_id", "asset_class")
        .agg(pl.col("weight").sum())
        .sort("target_id", "asset_class")
    )


def policy_ranges(allocations: pl.DataFrame, *, band: float = RANGE_BAND) -> dict[str, dict[str, tuple[float, float]]]:
    """target -> asset class -> [low, high]: the target's weight +/- `band`, in [0, 1], to 2 decimals.

    Cash is not customizable by asset-class weight (it has `min_cash_weight` and `cash_need`).
    """
    out: dict[str, dict[str, tuple[float, float]]] = defaultdict(dict)
    for t, ac, w in allocations.iter_rows():
        if ac == "cash":
            continue
        lo = max(0.0, round(w - band, 2))
        hi = min(1.0, round(w + band, 2))
        out[t][ac] = (lo, hi)
    return dict(out)


#: asset class -> the IPC's approved alternative products (legal substitutes for harvesting and
#: substitutions). Classes absent here approve every legal substitute.
APPROVED: dict[str, tuple[str, ...]] = {
    "us_large_cap": ("VOO", "IVV", "SPY", "VTI", "SCHX", "VV", "IWB", "ITOT", "SCHB", "ESGU", "ESGV"),
    "us_mid_cap": ("IJH", "VO", "IWR"),
    "us_small_cap": ("IJR", "IWM", "VB", "SCHA"),
    "intl_developed": ("VEA", "IEFA", "EFA", "SCHF", "SPDW"),
    "emerging_markets": ("IEMG", "VWO", "EEM", "SCHE", "SPEM"),
    "us_aggregate_bond": ("AGG", "BND", "IUSB", "SCHZ"),
    "treasury_short": ("SHY", "VGSH", "SCHO"),
    "treasury_long": ("TLT", "VGLT", "SPTL"),
    "tips": ("SCHP", "TIP", "SPIP"),
    "municipal": ("VTEB", "MUB", "TFI"),
    "high_yield": ("USHY", "HYG", "JNK"),
}


def _fmt(x: float) -> str:
    return repr(round(float(x), 4))


def policy_toml(ranges: Mapping[str, Mapping[str, tuple[float, float]]]) -> str:
    """The demo firm's `policy.toml`, annotated: the IPC's own decisions (cash floor, minimum trade, default
    rates, drift bands, data checks, custom-allocation ranges, approved alternatives); the optimizer's
    tuning keys are left to the engine's defaults."""
    lines = [
        "# The demo firm's investment policy (IPC minutes of 2026-10-14). Keys: docs/policy.md.",
        "",
        "[validation]",
        "weight_tolerance = 0.0001        # models/targets must sum to 1 within this",
        "max_quarantine_share = 0.05      # refuse the upload if more accounts than this are quarantined",
        "",
        "[rebalance]",
        "cash_floor = 0.005               # every account keeps at least 0.5% cash",
        "min_trade_value = 250.0          # USD; smaller net orders are dropped",
        "st_rate = 0.408                  # default combined short-term rate (37% + 3.8% NIIT)",
        "lt_rate = 0.238                  # default combined long-term rate (20% + 3.8% NIIT)",
        "cost_bps = 5.0                   # default one-way cost when a security gives none",
        "lt_wait_days = 30                # never realize a short-term gain on a lot that goes long within 30 days",
        "max_turnover = 0.25              # transitions: at most 25% one-sided turnover a day",
        "# risk_aversion, turnover_penalty_bps, no_churn_threshold_bps, solver and the [risk] section are",
        "# left at the engine's defaults (tuned by the optimizer's benchmarks, docs/policy.md).",
        "",
        "[drift]",
        "asset_class_band_abs = 0.05",
        "asset_class_band_rel = 0.25",
        "security_drift_max = 0.03",
        'trigger = "any"',
        "",
        "[data_check]",
        "max_price_jump = 0.40",
        "max_stale_days = 3",
        "max_value_jump = 0.30",
    ]
    for t in sorted(ranges):
        lines += ["", f"[targets.{t}.ranges]   # allowed custom asset-class weights"]
        for ac in sorted(ranges[t]):
            lo, hi = ranges[t][ac]
            lines.append(f"{ac} = [{_fmt(lo)}, {_fmt(hi)}]")
    lines += ["", "[approved]   # approved alternative products per asset class (others: every legal substitute)"]
    for ac in sorted(APPROVED):
        lines.append(f"{ac} = [{', '.join(repr(s).replace(chr(39), chr(34)) for s in APPROVED[ac])}]")
    return "\n".join(lines) + "\n"


def equity_share(allocations: pl.DataFrame) -> dict[str, float]:
    """target_id -> total weight of equity asset classes."""
    return {
        t: float(w)
        for t, w in allocations.filter(pl.col("asset_class").is_in(list(EQUITY_CLASSES)))
        .group_by("target_id")
        .agg(pl.col("weight").sum())
        .iter_rows()
    }
