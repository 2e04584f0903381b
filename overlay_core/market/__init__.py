"""The market: the real price history (1990-2022) and a seeded factor-model simulator of daily closes.

- `load_real_history`: 20 large US stocks and the S&P 500 index (data/real/, BSD-licensed, skfolio).
- `simulate_prices` / `simulate_returns`: the simulator; `MarketModel`: its parameters.
- `calibration_table`: real vs simulated statistics (docs/market.md).
- `PriceSource` (`FramePriceSource`, `RealHistorySource`, `SimulatedSource`), `read_price_file` (prices.py).
"""

from __future__ import annotations

from overlay_core.market.calibration import calibration_table, market_statistics
from overlay_core.market.history import INDEX_SYMBOL, REAL_SECTORS, REAL_SYMBOLS, data_dir, load_real_history, real_data_dir
from overlay_core.market.model import AssetClassParams, MarketModel, SectorParams
from overlay_core.market.prices import FramePriceSource, PriceSource, RealHistorySource, SimulatedSource, read_price_file
from overlay_core.market.simulator import (
    default_start_price,
    simulate_prices,
    simulate_returns,
    simulation_dates,
    simulation_start,
    universe_frame,
)

__all__ = [
    "FramePriceSource",
    "PriceSource",
    "RealHistorySource",
    "SimulatedSource",
    "read_price_file",
    "calibration_table",
    "market_statistics",
    "INDEX_SYMBOL",
    "REAL_SECTORS",
    "REAL_SYMBOLS",
    "data_dir",
    "load_real_history",
    "real_data_dir",
    "AssetClassParams",
    "MarketModel",
    "SectorParams",
    "default_start_price",
    "simulate_prices",
    "simulate_returns",
    "simulation_dates",
    "simulation_start",
    "universe_frame",
]
