"""Write tests/data/fixture_upload/price_history.csv: 300 NYSE closes per security, ending at as_of.

Deterministic (fixed seed); its output is committed, so tests never run this script. Rerun it only when
the fixture's securities or prices change:

    python tests/data/make_fixture_history.py

Each security's log price is a one-factor random walk (a market factor times a beta, plus its own
noise), then bent by a piecewise-linear correction so that it passes exactly through its anchors: the
fixture's `prices.csv` close on as_of, and the execution prices of the fixture's transactions on their
dates (IVV 590.00 and VTI 295.00 on 2026-11-05; VOO 541.64 that day, in IVV's ratio), and the
purchase prices of the lots bought inside the window (VEA 55.00 on 2026-02-10, BND 75.00 on
2025-12-15). Closes are rounded to cents.
"""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import numpy as np

from overlay_core import calendar

HERE = Path(__file__).resolve().parent / "fixture_upload"
SESSIONS = 300
SEED = 20261142

#: symbol -> (market beta, annualized specific volatility)
PROFILE = {
    "VOO": (1.00, 0.01),
    "IVV": (1.00, 0.01),
    "VTI": (1.02, 0.02),
    "VEA": (0.80, 0.08),
    "BND": (0.05, 0.05),
    "AAPL": (1.15, 0.22),
    "MSFT": (1.10, 0.20),
    "XOM": (0.70, 0.22),
    "JNJ": (0.55, 0.15),
    "MO": (0.50, 0.18),
}
#: (symbol, date) -> close the path must pass through, besides the as_of close
ANCHORS = {
    ("IVV", dt.date(2026, 11, 5)): 590.00,
    ("VTI", dt.date(2026, 11, 5)): 295.00,
    # VOO tracks the same index as IVV: keep their ratio (560 / 610) on the day of the IVV sale too
    ("VOO", dt.date(2026, 11, 5)): 541.64,
    # the purchase prices of the fixture's lots bought inside the window (lots.csv: basis / shares)
    ("VEA", dt.date(2026, 2, 10)): 55.00,
    ("BND", dt.date(2025, 12, 15)): 75.00,
}


def main() -> None:
    as_of = dt.date.fromisoformat((HERE / "as_of.txt").read_text().strip())
    with open(HERE / "prices.csv", newline="") as fh:
        closes = {r["symbol"]: float(r["close"]) for r in csv.DictReader(fh)}
    days = calendar.business_days(as_of - dt.timedelta(days=500), as_of)[-SESSIONS:]
    index = {d: i for i, d in enumerate(days)}
    rng = np.random.default_rng(SEED)
    market = rng.normal(0.0003, 0.16 / np.sqrt(252), size=SESSIONS)
    rows: list[tuple[str, str, str]] = []
    for symbol in sorted(PROFILE):
        beta, spec = PROFILE[symbol]
        own = rng.normal(0.0, spec / np.sqrt(252), size=SESSIONS)
        walk = np.cumsum(beta * market + own)
        anchors = {SESSIONS - 1: np.log(closes[symbol])}
        for (sym, day), price in ANCHORS.items():
            if sym == symbol:
                anchors[index[day]] = np.log(price)
        at = sorted(anchors)
        correction = np.interp(np.arange(SESSIONS), at, [anchors[i] - walk[i] for i in at])
        path = np.exp(walk + correction)
        for day, price in zip(days, path):
            rows.append((day.isoformat(), symbol, f"{price:.2f}"))
    rows.sort()
    with open(HERE / "price_history.csv", "w", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(("date", "symbol", "close"))
        writer.writerows(rows)
    print(f"wrote {len(rows)} rows ({SESSIONS} sessions {days[0]} .. {days[-1]}) to {HERE / 'price_history.csv'}")


if __name__ == "__main__":
    main()
