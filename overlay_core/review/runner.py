"""Run a per-household (or per-account) function over batches of accounts: a local process pool or Dask.

The driver process partitions the book (`partition.py`), hands batches to workers, and receives each
batch's outcomes as it completes; only the driver writes (it passes each completed batch to
`on_batch`, e.g. `store_sink(store, run_id, ...)`, so a killed run resumes from the store's
`done_accounts`). Workers never touch the store.

- **Failure isolation.** `per_account(fn)` calls `fn(shared, account_id)` for each account of a
  household and turns an exception into an `error` outcome with its message; the other accounts
  complete. A household function (`fn(shared, account_ids) -> {account_id: value}`) that raises
  gives every account of that household the error.
- **Worker crashes.** A worker process that dies (segfault, OOM kill, ``os._exit``) breaks a local
  pool: every batch lost with it is retried once in a fresh pool; a batch lost twice gets `error`
  outcomes ("worker process died ..."). On Dask, the scheduler reschedules a dead worker's tasks; a
  task that kills workers repeatedly raises `KilledWorker`, which gives its batch `error` outcomes.
- **Threads.** Workers run with OMP/OPENBLAS/MKL threads = 1 (set before the worker imports numpy on
  the local pool; start Dask workers with ``--nthreads 1`` and those variables set).
- **Shared data.** `shared` (e.g. the `Book`) is serialized once with cloudpickle and sent once per
  worker (pool initializer; Dask: scattered to every worker), not once per batch.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import time
import uuid
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping, Sequence

import cloudpickle

from overlay_core.errors import ConfigError
from overlay_core.review.partition import Batch

THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")

#: fn(shared, account_ids of one household) -> {account_id: value}
HouseholdFn = Callable[[Any, tuple[str, ...]], Mapping[str, Any]]
#: fn(shared, account_id) -> value
AccountFn = Callable[[Any, str], Any]


@dataclass(frozen=True, slots=True)
class AccountOutcome:
    """What happened to one account: its value, or the error message (``ok`` False)."""

    account_id: str
    ok: bool
    value: Any = None
    error: str | None = None
    #: wall time of the account's call (a household function's time is split evenly), seconds
    seconds: float = 0.0


@dataclass(frozen=True, slots=True)
class BatchResult:
    """The outcomes of one batch, in the batch's account order."""

    index: int
    outcomes: tuple[AccountOutcome, ...]
    seconds: float
    #: the worker that ran it ("pid 1234" or a Dask worker address); "driver" for synthesized errors
    worker: str = ""
    attempts: int = 1

    @property
    def account_ids(self) -> tuple[str, ...]:
        return tuple(o.account_id for o in self.outcomes)


@dataclass
class RunStats:
    """Counters of one `run_batches` call (filled as batches complete)."""

    batches: int = 0
    accounts: int = 0
    errors: int = 0
    retried_batches: int = 0
    lost_batches: int = 0
    wall_seconds: float = 0.0
    worker_seconds: float = 0.0
    workers: set[str] = field(default_factory=set)


def _message(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


@dataclass(frozen=True, slots=True)
class per_account:  # noqa: N801 - used like a function: per_account(fn)
    """Wrap ``fn(shared, account_id) -> value`` as a household function with per-account isolation."""

    fn: AccountFn

    def __call__(self, shared: Any, account_ids: tuple[str, ...]) -> dict[str, AccountOutcome]:
        out: dict[str, AccountOutcome] = {}
        for a in account_ids:
            t0 = time.perf_counter()
            try:
                value = self.fn(shared, a)
            except Exception as exc:  # one account never stops the others
                out[a] = AccountOutcome(a, False, None, _message(exc), time.perf_counter() - t0)
            else:
                out[a] = AccountOutcome(a, True, value, None, time.perf_counter() - t0)
        return out


def run_batch(fn: HouseholdFn, shared: Any, batch: Batch) -> BatchResult:
    """Run `fn` on every household of `batch` (in a worker). Never raises for an account's failure."""
    t_batch = time.perf_counter()
    outcomes: list[AccountOutcome] = []
    for hh in batch.households:
        t0 = time.perf_counter()
        try:
            got = fn(shared, hh)
        except Exception as exc:
            msg = _message(exc)
            dt_each = (time.perf_counter() - t0) / max(1, len(hh))
            outcomes.extend(AccountOutcome(a, False, None, f"household {', '.join(hh)}: {msg}", dt_each) for a in hh)
            continue
        dt_each = (time.perf_counter() - t0) / max(1, len(hh))
        for a in hh:
            if a not in got:
                outcomes.append(AccountOutcome(a, False, None, "the review function returned no result for this account", 0.0))
                continue
            v = got[a]
            outcomes.append(v if isinstance(v, AccountOutcome) else AccountOutcome(a, True, v, None, dt_each))
    return BatchResult(batch.index, tuple(outcomes), time.perf_counter() - t_batch, f"pid {os.getpid()}")


def _lost(batch: Batch, why: str, attempts: int) -> BatchResult:
    return BatchResult(
        batch.index, tuple(AccountOutcome(a, False, None, why) for a in batch.account_ids), 0.0, "driver", attempts
    )


# --------------------------------------------------------------------------------------------------
# local process pool

_WORKER: tuple[HouseholdFn, Any] | None = None


def single_thread_env() -> None:
    """Set OMP/OPENBLAS/MKL threads to 1 in this process's environment (inherited by children)."""
    for var in THREAD_VARS:
        os.environ[var] = "1"


def _init_worker(payload: bytes) -> None:
    single_thread_env()
    global _WORKER
    _WORKER = cloudpickle.loads(payload)


def _run_in_worker(batch: Batch) -> BatchResult:
    if _WORKER is None:  # pragma: no cover - the initializer always runs first
        raise RuntimeError("worker not initialized")
    fn, shared = _WORKER
    return run_batch(fn, shared, batch)


def _context(name: str) -> mp.context.BaseContext:
    if name not in ("spawn", "forkserver"):
        raise ConfigError(f"multiprocessing context {name!r}; expected spawn or forkserver (fork is unsafe with threads)")
    return mp.get_context(name)


def run_local(
    batches: Sequence[Batch],
    fn: HouseholdFn,
    shared: Any,
    *,
    workers: int | None = None,
    on_batch: Callable[[BatchResult], None] | None = None,
    progress: bool = True,
    context: str = "spawn",
    stats: RunStats | None = None,
) -> list[BatchResult]:
    """Run `batches` on a local `ProcessPoolExecutor` (spawn or forkserver); return results by batch index.

    `on_batch` is called in the driver for each completed batch (in completion order), before the
    next one is awaited; an exception it raises (e.g. the store is full) stops the run and propagates.

    At most ``4 x workers`` batches are in flight (the workers stay busy while the driver stores a
    batch), so a worker crash loses only those. The batches
    lost in a crash become suspects; after the other batches, each suspect is retried once, alone
    (one worker, one batch in flight), so a second crash is pinned on its own batch, which gets
    `error` outcomes, and an innocent batch lost beside it completes.
    """
    workers = workers or os.cpu_count() or 1
    if workers < 1:
        raise ConfigError(f"workers {workers}; expected >= 1")
    stats = stats if stats is not None else RunStats()
    t0 = time.perf_counter()
    single_thread_env()  # children inherit it at spawn, before they import numpy
    payload = cloudpickle.dumps((fn, shared))
    ctx = _context(context)
    results: dict[int, BatchResult] = {}
    with _Progress(sum(len(b) for b in batches), enabled=progress) as bar:

        def record(res: BatchResult) -> None:
            _record(res, results, stats, on_batch, bar)

        todo = list(batches)
        suspects: list[Batch] = []
        while todo:  # first attempts
            lost, todo = _pool_round(todo, ctx, payload, n_workers=min(workers, len(todo)), window=4 * workers,
                                     attempt=1, record=record)
            suspects += lost
        stats.retried_batches += len(suspects)
        todo = sorted(suspects, key=lambda b: b.index)
        while todo:  # second attempts, one at a time
            lost, todo = _pool_round(todo, ctx, payload, n_workers=1, window=1, attempt=2, record=record)
            for b in lost:
                stats.lost_batches += 1
                why = f"worker process died twice while reviewing batch {b.index} (an account of this batch crashes its worker)"
                record(_lost(b, why, 2))
    stats.wall_seconds = time.perf_counter() - t0
    return [results[i] for i in sorted(results)]


def _pool_round(
    todo: list[Batch],
    ctx: mp.context.BaseContext,
    payload: bytes,
    *,
    n_workers: int,
    window: int,
    attempt: int,
    record: Callable[[BatchResult], None],
) -> tuple[list[Batch], list[Batch]]:
    """Run `todo` in one pool until done or broken. Returns (batches lost in flight, batches not started)."""
    queue = list(todo)
    lost: list[Batch] = []
    ex = ProcessPoolExecutor(max_workers=n_workers, mp_context=ctx, initializer=_init_worker, initargs=(payload,))
    in_flight: dict[Future[BatchResult], Batch] = {}
    broken = False
    try:
        while (queue or in_flight) and not broken:
            while queue and len(in_flight) < window and not broken:
                b = queue[0]
                try:
                    in_flight[ex.submit(_run_in_worker, b)] = b
                except BrokenProcessPool:
                    broken = True
                    break
                queue.pop(0)
            if not in_flight:
                break
            done, _ = wait(list(in_flight), return_when=FIRST_COMPLETED)
            for fut in sorted(done, key=lambda f: in_flight[f].index):
                b = in_flight.pop(fut)
                try:
                    res = fut.result()
                except BrokenProcessPool:
                    lost.append(b)
                    broken = True
                    continue
                except Exception as exc:  # the batch's result could not come back (e.g. unpicklable)
                    res = _lost(b, f"the batch failed in its worker: {_message(exc)}", attempt)
                record(BatchResult(res.index, res.outcomes, res.seconds, res.worker, attempt))
        if broken:  # every batch still in flight died with the pool
            for fut, b in in_flight.items():
                if fut.done() and not fut.cancelled() and fut.exception() is None:
                    res = fut.result()
                    record(BatchResult(res.index, res.outcomes, res.seconds, res.worker, attempt))
                else:
                    lost.append(b)
    finally:
        if broken:
            _kill_workers(ex)
        ex.shutdown(wait=True, cancel_futures=True)
    return lost, queue


def _kill_workers(ex: ProcessPoolExecutor) -> None:
    """SIGKILL the surviving workers of a broken pool.

    CPython 3.11's executor manager can wait forever in `join` for a surviving worker blocked on the
    call queue after another worker died (seen with the spawn context); killing them lets it finish.
    """
    for proc in list(getattr(ex, "_processes", {}).values()):
        try:
            if proc.is_alive():
                proc.kill()
        except (OSError, ValueError):  # already gone or closed
            pass


def _record(
    res: BatchResult,
    results: dict[int, BatchResult],
    stats: RunStats,
    on_batch: Callable[[BatchResult], None] | None,
    bar: "_Progress",
) -> None:
    if on_batch is not None:
        on_batch(res)
    results[res.index] = res
    stats.batches += 1
    stats.accounts += len(res.outcomes)
    stats.errors += sum(not o.ok for o in res.outcomes)
    stats.worker_seconds += res.seconds
    if res.worker != "driver":
        stats.workers.add(res.worker)
    bar.advance(len(res.outcomes))


# --------------------------------------------------------------------------------------------------
# Dask distributed


def _dask_worker_setup() -> str:
    single_thread_env()
    return f"pid {os.getpid()}"


def run_dask(
    batches: Sequence[Batch],
    fn: HouseholdFn,
    shared: Any,
    *,
    scheduler: str,
    on_batch: Callable[[BatchResult], None] | None = None,
    progress: bool = True,
    timeout: float = 30.0,
    stats: RunStats | None = None,
) -> list[BatchResult]:
    """Run `batches` on the Dask distributed cluster at `scheduler` (``tcp://HOST:PORT``).

    `shared` is scattered once to every worker; each batch is one task (``pure=False``). Results come
    back to the driver as they complete and go to `on_batch` there. A task whose worker died is
    rescheduled by Dask; one that kills workers repeatedly (`KilledWorker`) or fails to run gives its
    batch `error` outcomes.
    """
    try:
        from distributed import Client, as_completed
    except ImportError as exc:  # pragma: no cover - distributed is a dependency
        raise ConfigError(f"--scheduler needs the 'distributed' package ({exc})") from exc
    stats = stats if stats is not None else RunStats()
    t0 = time.perf_counter()
    try:
        client = Client(scheduler, timeout=timeout, set_as_default=False)
    except (OSError, TimeoutError) as exc:
        raise ConfigError(f"cannot connect to the Dask scheduler at {scheduler} ({exc}); start one with `dask scheduler`") from exc
    results: dict[int, BatchResult] = {}
    token = uuid.uuid4().hex[:8]
    try:
        with client.as_current():
            client.run(_dask_worker_setup)
            shared_f = client.scatter(shared, broadcast=True, hash=False)
            futs = {
                client.submit(run_batch, fn, shared_f, b, key=f"review-batch-{b.index}-{token}", pure=False, retries=1): b
                for b in batches
            }
            with _Progress(sum(len(b) for b in batches), enabled=progress) as bar:
                for fut in as_completed(list(futs)):
                    b = futs[fut]
                    try:
                        res = fut.result()
                        res = BatchResult(res.index, res.outcomes, res.seconds, fut_worker(client, fut) or res.worker, 1)
                    except Exception as exc:  # KilledWorker, a failure to deserialize, ...
                        stats.lost_batches += 1
                        res = _lost(b, f"the batch failed on the Dask cluster: {_message(exc)}", 1)
                    _record(res, results, stats, on_batch, bar)
                    fut.release()
    finally:
        client.close()
    stats.wall_seconds = time.perf_counter() - t0
    return [results[i] for i in sorted(results)]


def fut_worker(client: Any, fut: Any) -> str | None:
    """The address of the Dask worker that holds `fut`'s result, if known."""
    try:
        who = client.who_has([fut]).get(fut.key) or ()
    except Exception:  # informational only
        return None
    return next(iter(who), None)


# --------------------------------------------------------------------------------------------------
# one entry point


def run_batches(
    batches: Sequence[Batch],
    fn: HouseholdFn,
    shared: Any,
    *,
    scheduler: str | None = None,
    workers: int | None = None,
    on_batch: Callable[[BatchResult], None] | None = None,
    progress: bool = True,
    context: str = "spawn",
    stats: RunStats | None = None,
) -> list[BatchResult]:
    """`run_dask` when `scheduler` is given (``tcp://HOST:PORT``), else `run_local` with `workers` processes.

    ``workers=0`` runs in the driver process itself (no pool: for debugging and tiny books).
    """
    if scheduler:
        return run_dask(batches, fn, shared, scheduler=scheduler, on_batch=on_batch, progress=progress, stats=stats)
    if workers == 0:
        return run_inline(batches, fn, shared, on_batch=on_batch, progress=progress, stats=stats)
    return run_local(batches, fn, shared, workers=workers, on_batch=on_batch, progress=progress, context=context, stats=stats)


def run_inline(
    batches: Sequence[Batch],
    fn: HouseholdFn,
    shared: Any,
    *,
    on_batch: Callable[[BatchResult], None] | None = None,
    progress: bool = True,
    stats: RunStats | None = None,
) -> list[BatchResult]:
    """Run every batch in this process, in order (same outcomes as the pools, no crash protection)."""
    stats = stats if stats is not None else RunStats()
    t0 = time.perf_counter()
    results: dict[int, BatchResult] = {}
    with _Progress(sum(len(b) for b in batches), enabled=progress) as bar:
        for b in batches:
            _record(run_batch(fn, shared, b), results, stats, on_batch, bar)
    stats.wall_seconds = time.perf_counter() - t0
    return [results[i] for i in sorted(results)]


def outcomes_by_account(results: Iterable[BatchResult]) -> dict[str, AccountOutcome]:
    """Every account's outcome, keyed by account_id."""
    return {o.account_id: o for r in results for o in r.outcomes}


class _Progress:
    """A rich progress bar over accounts, in the driver (a no-op when disabled)."""

    def __init__(self, total: int, *, enabled: bool) -> None:
        self.total = total
        self.enabled = enabled
        self._progress: Any = None
        self._task: Any = None

    def __enter__(self) -> "_Progress":
        if self.enabled:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

            from rich.console import Console

            self._progress = Progress(
                TextColumn("reviewing"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("accounts"),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                console=Console(stderr=True),
                transient=False,
            )
            self._progress.__enter__()
            self._task = self._progress.add_task("review", total=self.total)
        return self

    def advance(self, n: int) -> None:
        if self._progress is not None:
            self._progress.advance(self._task, n)

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.__exit__(*exc)
