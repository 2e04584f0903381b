"""The demo universe, models, targets and policy: the shapes issue 4 asks for."""

from __future__ import annotations

import polars as pl

from overlay_core.contract import CASH, SECURITY_TYPES, SYMBOL_RE
from overlay_core.demo.models import (
    build_models,
    build_targets,
    policy_ranges,
    policy_toml,
    target_allocations,
    target_security_weights,
)
from overlay_core.demo.universe import SECTORS, build_universe, legal_substitutes
from overlay_core.policy import parse_policy


def test_universe_size_types_and_symbols() -> None:
    sec = build_universe().securities
    assert sec.height >= 150
    assert sec["symbol"].n_unique() == sec.height
    assert all(SYMBOL_RE.match(s) for s in sec["symbol"])
    assert set(sec["type"]) <= set(SECURITY_TYPES)
    assert sec.filter(pl.col("type") == "mutual_fund").height >= 1
    assert sec.filter(pl.col("type") == "cash_equivalent").height >= 1
    etf_classes = sec.filter(pl.col("type") == "etf")["asset_class"].n_unique()
    assert etf_classes >= 8
    for ac in ("municipal", "us_aggregate_bond", "high_yield", "treasury_short", "treasury_long", "tips", "reit", "commodities"):
        assert sec.filter(pl.col("asset_class") == ac).height >= 2, ac


def test_stocks_have_sectors_and_screen_tags() -> None:
    stocks = build_universe().securities.filter(pl.col("type") == "equity")
    assert stocks.height >= 100
    assert set(stocks["sector"]) == set(SECTORS)
    tags = {t for x in stocks["tags"].drop_nulls() for t in x.split(";")}
    assert {"fossil_fuels", "tobacco", "weapons", "alcohol", "gambling"} <= tags


def test_wash_groups_and_legal_substitutes() -> None:
    sec = build_universe().securities
    group = dict(zip(sec["symbol"], sec["wash_group"]))
    assert group["SPY"] == group["IVV"] == group["VOO"] == group["VFIAX"]
    assert group["VTI"] != group["VOO"]
    subs = legal_substitutes(sec, "VOO")
    assert "VTI" in subs and "IVV" not in subs and "SPY" not in subs
    # every fund class but cash has a legal substitute for every fund
    for sym, ac in sec.filter((pl.col("type") != "equity") & (pl.col("asset_class") != "cash")).select("symbol", "asset_class").iter_rows():
        assert legal_substitutes(sec, sym), sym
    # a stock's legal substitutes share its sector
    xom = legal_substitutes(sec, "XOM")
    assert xom and set(sec.filter(pl.col("symbol").is_in(xom))["sector"]) == {"Energy"}


def test_models_targets_and_policy() -> None:
    u = build_universe()
    models = build_models(u)
    targets = build_targets()
    assert models["model_id"].n_unique() >= 8
    sums = models.group_by("model_id").agg(pl.col("weight").sum())
    assert (sums["weight"] - 1.0).abs().max() < 1e-12
    assert (models["weight"] >= 0).all()
    di = models.filter(pl.col("model_id") == "large_cap_direct_index")
    assert di.filter(pl.col("symbol") != CASH).height >= 100
    providers = set(models["provider"])
    assert len(providers) >= 3  # the firm and two third parties
    assert set(models["symbol"]) - {CASH} <= set(u.securities["symbol"])
    assert targets["target_id"].n_unique() >= 6
    assert set(targets["model_id"]) <= set(models["model_id"])
    tw = target_security_weights(models, targets)
    assert (tw.group_by("target_id").agg(pl.col("weight").sum())["weight"] - 1).abs().max() < 1e-12
    alloc = target_allocations(tw, u.securities)
    ranges = policy_ranges(alloc)
    policy, problems = parse_policy(policy_toml(ranges))
    assert problems == []
    assert set(policy.ranges) == set(targets["target_id"])
    for t, ac, w in alloc.filter(pl.col("asset_class") != "cash").iter_rows():
        lo, hi = policy.ranges[t][ac]
        assert lo <= w <= hi, (t, ac, w)
    # approved alternatives are real securities of their class
    cls = dict(zip(u.securities["symbol"], u.securities["asset_class"]))
    for ac, syms in policy.approved.items():
        assert all(cls[s] == ac for s in syms), ac
