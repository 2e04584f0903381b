"""DuckDB persistence of uploads, runs and evidence, with a read-only snapshot for readers.

See docs/store.md. The public API:

- `Store.open(path=None, *, read_only=False, publish=True, publish_interval=30.0)` (the one writer),
  `Store.open_snapshot(path=None)` (readers), used as context managers;
- uploads: `save_upload`, `load_upload`, `uploads`, `previous_upload`, `price_history_latest`;
- runs: `begin_run`, `save_accounts` / `save_account_results` / `save_orders`, `done_accounts`,
  `finish_run`, `runs`, `run_results`, `run_orders`, `account_history`;
- export/import: `export_runs(store, folder, run_ids=None, kinds=None)`, `import_runs(store, folder)`,
  `read_manifest(folder)`, `read_exported_upload(folder, upload_id)` -> `TransferSummary` / dict / Book (Parquet files + manifest.json);
- `default_store_path()`, `snapshot_path(path)`, `SCHEMA_VERSION`, `DECISIONS`, `RESULT_COLUMNS`,
  `ORDER_COLUMNS`.
"""

from __future__ import annotations

from overlay_core.store._runs import DECISIONS, ORDER_COLUMNS, RESULT_COLUMNS, run_base_id
from overlay_core.store._schema import SCHEMA_VERSION
from overlay_core.store._store import ENV_VAR, Store, default_store_path, snapshot_path
from overlay_core.store._transfer import TransferSummary, export_runs, import_runs, read_exported_upload, read_manifest

__all__ = [
    "DECISIONS",
    "ENV_VAR",
    "ORDER_COLUMNS",
    "RESULT_COLUMNS",
    "SCHEMA_VERSION",
    "Store",
    "TransferSummary",
    "default_store_path",
    "export_runs",
    "import_runs",
    "read_exported_upload",
    "read_manifest",
    "run_base_id",
    "snapshot_path",
]
