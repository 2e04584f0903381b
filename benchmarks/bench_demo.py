"""The demo's shipped history: import into a fresh store, idempotent re-import, and what the reports read.

    python benchmarks/bench_demo.py [--history data/demo_history] [--report]

Prints wall and CPU seconds (this process) of: reading the manifest (sha256 of every file), importing
into a new store, importing again (a no-op), loading every imported upload, and with ``--report`` the
book report's dispersion over time (`analytics.dispersion.dispersion_over_time`) over the 20 days;
the load average before and after; the folder's and the store's sizes.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path


def _clock() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def _lap(name: str, t: tuple[float, float]) -> tuple[float, float]:
    now = _clock()
    print(f"{name:<34} {now[0] - t[0]:8.2f} s wall {now[1] - t[1]:8.2f} s CPU")
    return now


def main() -> None:
    from overlay_core.demo.pipeline import demo_history_dir
    from overlay_core.store import Store, import_runs, read_manifest

    ap = argparse.ArgumentParser()
    ap.add_argument("--history", type=Path, default=None)
    ap.add_argument("--report", action="store_true", help="also time the dispersion over time of the book report")
    args = ap.parse_args()
    folder = args.history or demo_history_dir()
    if folder is None:
        raise SystemExit("no data/demo_history (give --history)")
    print(f"load average before: {open('/proc/loadavg').read().strip()}")
    size = sum(p.stat().st_size for p in folder.iterdir() if p.is_file())
    print(f"{folder}: {size / 1e6:.1f} MB in {len(list(folder.iterdir()))} files")
    t = _clock()
    man = read_manifest(folder)
    t = _lap("read manifest (+ sha256)", t)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "overlay.duckdb"
        with Store.open(path) as st:
            t = _clock()
            s = import_runs(st, folder)
            t = _lap(f"import {len(s.runs)} runs, {len(s.uploads)} uploads", t)
            again = import_runs(st, folder)
            t = _lap(f"import again ({len(again.skipped_runs)} skipped)", t)
            for u in st.uploads()["upload_id"].to_list():
                st.load_upload(upload_id=u)
            t = _lap(f"load the {len(man['uploads'])} uploads", t)
            if args.report:
                from overlay_core.analytics.dispersion import dispersion_over_time

                d = dispersion_over_time(st)
                t = _lap(f"dispersion over time ({d['as_of'].n_unique()} days)", t)
        print(f"store after import: {os.path.getsize(path) / 1e6:.1f} MB")
    print(f"load average after: {open('/proc/loadavg').read().strip()}")


if __name__ == "__main__":
    main()
