"""Rule (a) of `tax_state` agrees with the ledger (hypothesis).

On random households of lots (no transactions, no pending orders), a taxable lot at a loss is
`loss_sale_blocked` exactly when the ledger, opened with the same lots, disallows part of the loss of
selling that lot alone on the trade date (`realize`). Ties the review's blocks to the engine's rule.
"""

from __future__ import annotations

import datetime as dt

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from taxkit import make_book

from overlay_core.tax.blocks import tax_state
from overlay_core.tax.ledger import realize

T = dt.date(2026, 1, 15)
ACCOUNTS = [
    {"account_id": "A", "household_id": "H"},
    {"account_id": "S", "household_id": "H"},
    {"account_id": "I", "household_id": "H", "tax_status": "tax_deferred"},
    {"account_id": "B", "household_id": "H2"},
]
GROUPS = [{"symbol": "X", "wash_group": "G"}, {"symbol": "Y", "wash_group": "G"}, {"symbol": "Z"}]


@st.composite
def books(draw: st.DrawFn):
    n = draw(st.integers(min_value=1, max_value=8))
    lots = []
    for i in range(n):
        acct = draw(st.sampled_from(["A", "S", "I", "B"]))
        age = draw(st.integers(min_value=0, max_value=70))
        lots.append(
            {
                "account_id": acct,
                "lot_id": f"L{i}",
                "symbol": draw(st.sampled_from(["X", "Y", "Z"])),
                "shares": float(draw(st.integers(min_value=1, max_value=50))),
                "cost_basis": float(draw(st.integers(min_value=100, max_value=3000))),
                "acquired": T - dt.timedelta(days=age),
            }
        )
    return make_book(trade_date=T, accounts=ACCOUNTS, lots=lots, securities=GROUPS, prices={"X": 20.0, "Y": 20.0, "Z": 20.0})


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(books())
def test_loss_sale_blocked_matches_the_ledger(book) -> None:
    ts = tax_state(book)
    wash = {r["symbol"]: r["wash_group"] for r in book.securities.iter_rows(named=True)}
    for r in ts.lots.filter((pl.col("tax_status") == "taxable") & (pl.col("gain_per_share") < 0)).iter_rows(named=True):
        trade = pl.DataFrame(
            {"account_id": [r["account_id"]], "symbol": [r["symbol"]], "side": ["sell"], "shares": [r["shares"]], "price": [r["price"]], "lot_id": [r["lot_id"]]}
        )
        res = realize(book.lots, trade, trade_date=T, accounts=book.accounts, wash_groups=wash)
        washed = float(res.realized["disallowed_loss"].sum()) > 0
        assert washed == r["loss_sale_blocked"], (r["account_id"], r["lot_id"])
