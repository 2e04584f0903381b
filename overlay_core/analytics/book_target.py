"""A target of a real upload as the backtest's target: its models, securities, policy and price history.

`BookTarget.from_book(book, target_id)` takes from a validated upload (`upload.read_upload`):

- the target's rows of ``targets`` and the rows of its models (``models``), so that the backtest's
  books hold the upload's own target and every strategy goes through the real target construction
  (`targets.account_targets`: the blend, the policy's asset-class ranges of that target, cash);
- the universe: every symbol of those models plus every security of the upload in the same asset
  classes (the candidates the optimizer and the heuristic may buy as harvest substitutes), each with
  the upload's securities row (type, sector, wash group, trading cost, increment);
- the upload's policy (the backtest then sets the rates, risk aversion, cost and cash floor it is run
  with);
- the upload's ``price_history`` of the universe as the price source.

The target's weights over time (`models_at`): ``index`` lets every model drift with prices from the
first rebalance day (fixed share counts: a cap-weighted index between its reconstitutions, so buy and
hold tracks a one-model target exactly); ``fixed`` keeps the uploaded weights (a model the manager
rebalances to). The blend weights of the target's models are the upload's in both cases.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import polars as pl

from overlay_core.book import Book
from overlay_core.contract import CASH
from overlay_core.errors import ConfigError, DataError, Problem
from overlay_core.market.prices import FramePriceSource
from overlay_core.policy import Policy, parse_policy, policy_to_toml
from overlay_core.targets.blend import blend


@dataclass(frozen=True)
class BookTarget:
    """One target of an upload, ready for `backtest.run_backtest(..., book_target=...)`.

    target_id : the target's id in the upload. name : where it came from (the upload folder).
    targets : the target's rows (target_id, model_id, weight). models : its models' rows (model_id,
    symbol, weight, provider). securities : the upload's securities rows of the universe.
    policy : the upload's policy. history : date, symbol, close of the universe (the upload's
    price_history).
    """

    target_id: str
    name: str
    targets: pl.DataFrame
    models: pl.DataFrame
    securities: pl.DataFrame
    policy: Policy
    history: pl.DataFrame

    @classmethod
    def from_book(cls, book: Book, target_id: str) -> BookTarget:
        """The target `target_id` of `book` (module docstring).

        Raises
        ------
        ConfigError : the upload has no such target. DataError : no price history for a symbol of its models.
        """
        name = book.source or "upload"
        known = sorted(set(book.targets["target_id"].to_list()))
        if target_id not in known:
            raise ConfigError(f"--book-target: found {target_id!r}; expected a target_id of {name}/targets: {', '.join(known)}")
        targets = book.targets.filter(pl.col("target_id") == target_id)
        models = book.models.filter(pl.col("model_id").is_in(targets["model_id"].to_list()))
        in_models = set(models["symbol"].to_list()) - {CASH}
        classes = set(book.securities.filter(pl.col("symbol").is_in(list(in_models)))["asset_class"].to_list())
        priced = set(book.price_history["symbol"].unique().to_list())
        missing = sorted(in_models - priced)
        if missing:
            raise DataError(
                f"{name}/price_history: no closes for {len(missing)} symbol(s) of target {target_id}: {', '.join(missing[:10])}",
                [Problem(f"{name}/price_history", None, "symbol", s, "closes for every symbol of the target's models") for s in missing[:50]],
            )
        sec = book.securities.filter(
            (pl.col("symbol").is_in(list(in_models)) | pl.col("asset_class").is_in(list(classes))) & pl.col("symbol").is_in(list(priced))
        ).sort("symbol")
        syms = sec["symbol"].to_list()
        hist = book.price_history.filter(pl.col("symbol").is_in(syms)).select("date", "symbol", "close")
        return cls(target_id=target_id, name=name, targets=targets, models=models, securities=sec, policy=book.policy, history=hist)

    def __reduce__(self):  # noqa: ANN204 - pickling for worker processes (the policy holds read-only mappings)
        return (_rebuild, (self.target_id, self.name, self.targets, self.models, self.securities, policy_to_toml(self.policy), self.history))

    def price_source(self) -> FramePriceSource:
        """The upload's price history of the universe as a `PriceSource`."""
        return FramePriceSource(self.history, name=f"{self.name}/price_history")

    def symbols(self) -> tuple[str, ...]:
        """The universe (sorted)."""
        return tuple(self.securities["symbol"].to_list())

    def models_at(self, rel: Mapping[str, float] | None) -> pl.DataFrame:
        """The target's models with each model's weights drifted by the price relatives `rel`
        (symbol -> close now / close on the first day; ``$CASH`` 1) and renormalized, or as uploaded
        when `rel` is None."""
        if rel is None:
            return self.models
        r = self.models.with_columns(
            (pl.col("weight") * pl.col("symbol").replace_strict({**rel, CASH: 1.0}, default=1.0, return_dtype=pl.Float64)).alias("weight")
        )
        return r.with_columns(pl.col("weight") / pl.col("weight").sum().over("model_id"))

    def flat_weights(self, rel: Mapping[str, float] | None) -> dict[str, float]:
        """symbol -> the target's weight (the blend of `models_at(rel)`; ``$CASH`` included)."""
        w = blend(self.models_at(rel), self.targets)
        return dict(zip(w["symbol"].to_list(), w["weight"].to_list()))


def _rebuild(target_id: str, name: str, targets: pl.DataFrame, models: pl.DataFrame, securities: pl.DataFrame, policy_toml: str, history: pl.DataFrame) -> BookTarget:
    """A `BookTarget` from its pickled parts (the policy as its TOML text, `policy.policy_to_toml`)."""
    policy, _ = parse_policy(policy_toml)
    return BookTarget(target_id=target_id, name=name, targets=targets, models=models, securities=securities, policy=policy, history=history)
