"""Batching the book's accounts into tasks for the worker pool (local or Dask).

`PERFORMANCE.md`: a task of one small account drowns in scheduling overhead (Dask on 2 cores was 2.5x
slower), so a task carries at least `min_accounts` accounts (25 by default). The wash-sale rule looks
across a household, so a household is never split across tasks: its accounts are reviewed together,
in one process, in order. Tasks are balanced by estimated work (the solve time grows with the number
of lots), so the last task does not run alone on one core while the other idles.

Algorithm: households sorted by work (largest first) go one by one to the task with the least work so
far (longest-processing-time-first, within 4/3 of the optimal makespan); the number of tasks is
``total accounts // min_accounts`` (capped by `max_batches`); then a task below `min_accounts` accounts
takes the lightest households of the fullest tasks (little work moves), or, when none can spare one,
is merged into the lightest task — until every task has at least `min_accounts` (or one task is left).
Batches are numbered heaviest first, so the runners start the longest tasks first and the tail is
short. The result is deterministic for a given book.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from typing import Iterable, Mapping

import polars as pl

from overlay_core.errors import ConfigError

DEFAULT_MIN_ACCOUNTS = 25
#: work of one account = ACCOUNT_WORK + LOT_WORK x its lots (the per-account overhead is ~1 ms, a lot ~0.02 ms)
ACCOUNT_WORK = 20.0
LOT_WORK = 1.0


@dataclass(frozen=True, slots=True)
class Batch:
    """One task: whole households of accounts.

    Attributes
    ----------
    index : 0-based position in the partition (stable for a given book and settings).
    households : the household groups, each a tuple of account ids (sorted), in review order.
    work : the estimated work (arbitrary units: `ACCOUNT_WORK` per account + `LOT_WORK` per lot).
    """

    index: int
    households: tuple[tuple[str, ...], ...]
    work: float

    @property
    def account_ids(self) -> tuple[str, ...]:
        return tuple(a for hh in self.households for a in hh)

    def __len__(self) -> int:
        return sum(len(hh) for hh in self.households)


def estimate_work(accounts: pl.DataFrame, lots: pl.DataFrame) -> dict[str, float]:
    """Estimated work of each account: ``ACCOUNT_WORK + LOT_WORK x number of lots``.

    Parameters
    ----------
    accounts : frame with ``account_id``.
    lots : frame with ``account_id`` (one row per lot).
    """
    counts = dict(lots.group_by("account_id").len().iter_rows()) if lots.height else {}
    return {a: ACCOUNT_WORK + LOT_WORK * counts.get(a, 0) for a in accounts["account_id"].to_list()}


def partition_accounts(
    accounts: pl.DataFrame,
    *,
    work: Mapping[str, float] | None = None,
    min_accounts: int = DEFAULT_MIN_ACCOUNTS,
    max_batches: int | None = None,
) -> list[Batch]:
    """Split accounts into batches of whole households, each of >= `min_accounts` accounts, balanced by work.

    Parameters
    ----------
    accounts : frame with ``account_id`` and optionally ``household_id`` (empty -> its own household).
    work : account_id -> estimated work; missing accounts count `ACCOUNT_WORK` (see `estimate_work`).
    min_accounts : the fewest accounts in a batch (unless the whole book has fewer).
    max_batches : at most this many batches (e.g. to bound the number of tasks); None: no cap.

    Returns
    -------
    batches, sorted by index; every account appears in exactly one batch, households whole.
    """
    if min_accounts < 1:
        raise ConfigError(f"min_accounts {min_accounts}; expected >= 1")
    if max_batches is not None and max_batches < 1:
        raise ConfigError(f"max_batches {max_batches}; expected >= 1")
    if accounts.height == 0:
        return []
    ids = accounts["account_id"].to_list()
    hh_col = accounts["household_id"].to_list() if "household_id" in accounts.columns else [None] * len(ids)
    groups: dict[str, list[str]] = {}
    for a, h in zip(ids, hh_col):
        groups.setdefault(h or a, []).append(a)
    w = work or {}
    households = [
        (sum(w.get(a, ACCOUNT_WORK) for a in members), hh, tuple(sorted(members))) for hh, members in groups.items()
    ]
    households.sort(key=lambda t: (-t[0], t[1]))
    n = max(1, len(ids) // min_accounts)
    if max_batches is not None:
        n = min(n, max_batches)
    n = min(n, len(households))
    # LPT: each household to the lightest batch so far (heap of (work, batch index))
    heap = [(0.0, i) for i in range(n)]
    content: list[list[tuple[str, ...]]] = [[] for _ in range(n)]
    loads = [0.0] * n
    for hw, _, members in households:
        load, i = heapq.heappop(heap)
        content[i].append(members)
        loads[i] = load + hw
        heapq.heappush(heap, (loads[i], i))
    # top up batches below min_accounts with the lightest households of the fullest batches
    # (light households carry little work, so the balance barely moves), else merge them away
    hw_of = {members: hw for hw, _, members in households}
    bins = [[loads[i], content[i]] for i in range(n)]

    def size(b: list) -> int:
        return sum(len(h) for h in b[1])

    while len(bins) > 1:
        short = [b for b in bins if size(b) < min_accounts]
        if not short:
            break
        b = min(short, key=size)
        need = min_accounts - size(b)
        donors = sorted((d for d in bins if d is not b and size(d) > min_accounts), key=lambda d: -size(d))
        moved = False
        for d in donors:
            for hh in sorted(d[1], key=lambda h: (hw_of[h], -len(h), h)):
                if size(d) - len(hh) >= min_accounts and len(hh) <= need + 2:
                    d[1].remove(hh)
                    d[0] -= hw_of[hh]
                    b[1].append(hh)
                    b[0] += hw_of[hh]
                    moved = True
                    break
            if moved:
                break
        if not moved:  # nobody can spare a household: merge the short batch into the lightest other
            bins.remove(b)
            j = min(bins, key=lambda d: d[0])
            j[0] += b[0]
            j[1].extend(b[1])
    bins.sort(key=lambda b: (-b[0], b[1][0] if b[1] else ()))
    return [Batch(index=i, households=tuple(hhs), work=load) for i, (load, hhs) in enumerate(bins)]


def partition_book(
    book: object,
    *,
    min_accounts: int = DEFAULT_MIN_ACCOUNTS,
    max_batches: int | None = None,
    skip: Iterable[str] = (),
) -> list[Batch]:
    """`partition_accounts` over a `Book`'s accounts, work from its lots, leaving out `skip`.

    `skip` are accounts already done (a resumed run) or not to optimize (held); a household keeps
    its other accounts together.
    """
    accounts: pl.DataFrame = book.accounts  # type: ignore[attr-defined]
    lots: pl.DataFrame = book.lots  # type: ignore[attr-defined]
    skip = set(skip)
    if skip:
        accounts = accounts.filter(~pl.col("account_id").is_in(list(skip)))
    return partition_accounts(
        accounts, work=estimate_work(accounts, lots), min_accounts=min_accounts, max_batches=max_batches
    )
