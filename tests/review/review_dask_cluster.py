"""A real local Dask cluster for the review's tests: a `dask scheduler` and `workers` `dask worker`
processes (one thread each) on 127.0.0.1 at a free port, stopped when the context ends.

On Linux every process of the cluster is also told to end when the test process dies
(``prctl(PR_SET_PDEATHSIG, SIGTERM)``): a test run killed from outside (a timeout, ^C twice) runs no
``finally`` and would otherwise leave the scheduler and its workers running.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator, Mapping

DASK = Path(sys.executable).with_name("dask")
_PR_SET_PDEATHSIG = 1


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _end_with_parent() -> None:  # runs in the child between fork and exec
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


@contextlib.contextmanager
def local_cluster(env: Mapping[str, str] | None = None, *, workers: int = 2, nanny: bool = True, timeout: float = 120.0) -> Iterator[str]:
    """Start the cluster; yield its address ``tcp://127.0.0.1:PORT`` once `workers` workers are connected."""
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", **(env or {})}

    def start(args: list[str]) -> subprocess.Popen:
        return subprocess.Popen([str(DASK), *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True, preexec_fn=_end_with_parent)

    procs = [start(["scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"])]
    worker_args = ["worker", address, "--nthreads", "1", "--nworkers", "1", "--host", "127.0.0.1", "--no-dashboard", "--memory-limit", "0"]
    if not nanny:
        worker_args.append("--no-nanny")
    procs += [start(worker_args) for _ in range(workers)]
    try:
        from distributed import Client

        deadline = time.monotonic() + timeout
        while True:
            try:
                with Client(address, timeout=10) as c:
                    c.wait_for_workers(workers, timeout=max(1.0, deadline - time.monotonic()))
                break
            except (OSError, TimeoutError):
                if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
                    raise
                time.sleep(0.5)
        yield address
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
