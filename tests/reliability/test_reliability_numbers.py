"""Numbers: trade values and realized gains agree with shares x price and shares x basis to the cent in
every output: the trade file, the block orders (and allocations), and the store's orders.

One random book of 300 accounts (prices from $0.01 to $100,000, huge and tiny accounts), reviewed by the
real review with a real store; every line re-derived with `decimal.Decimal` from the upload's lots.
"""

from __future__ import annotations

import csv
import sys
from collections import defaultdict
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path

import polars as pl

from overlay_core.export import write_blocks_file
from overlay_core.simulate.review import optimizer_review
from overlay_core.store import Store

sys.path.insert(0, str(Path(__file__).resolve().parent))
from relcheck import write_orders  # noqa: E402
from strategies import BookSpec, upload_book  # noqa: E402

CENT = Decimal("0.01")


def _c(x: Decimal) -> Decimal:
    return x.quantize(CENT, rounding=ROUND_HALF_EVEN)


def _rows(p: Path) -> list[dict[str, str]]:
    with p.open(newline="") as fh:
        return list(csv.DictReader(fh))


def test_money_agrees_to_the_cent_in_every_output(tmp_path: Path) -> None:
    scen = tuple(["plain", "huge", "tiny", "one_share", "pending", "gain_budget", "liquidate"] * 43)[:300]
    book = upload_book(BookSpec(seed=11, n_securities=20, scenarios=scen), tmp_path / "upload")
    with Store.open(tmp_path / "store.duckdb", publish=False) as store:
        out = optimizer_review(book, store=store, workers=0)
        stored = store.run_orders(out.run_id)
    trades = write_orders(book, out.orders, tmp_path / "out", out.run_id)
    blocks, allocs = write_blocks_file(out.orders.with_columns(pl.lit(out.run_id).alias("run_id")), tmp_path / "out", as_of=book.as_of,
                                       trade_date=book.trade_date,
                                       security_types=dict(zip(book.securities["symbol"].to_list(), book.securities["type"].to_list())),
                                       trade_increments={s: v for s, v in zip(book.securities["symbol"].to_list(),
                                                                             book.securities["trade_increment"].to_list()) if v is not None})
    close = {s: Decimal(repr(c)) for s, c in book.price_map.items()}
    lots = {(a, lid): (Decimal(repr(sh)), None if b is None else Decimal(repr(b)))
            for a, lid, sh, b in book.lots.select("account_id", "lot_id", "shares", "cost_basis").iter_rows()}
    taxable = set(book.accounts.filter(pl.col("tax_status") == "taxable")["account_id"].to_list())
    lines = _rows(trades)
    assert len(lines) > 500
    n_gain = 0
    by_block: dict[tuple[str, str], list[Decimal]] = defaultdict(lambda: [Decimal(0), Decimal(0)])
    for ln in lines:
        sh, px = Decimal(ln["shares"]), Decimal(ln["est_price"])
        assert px == close[ln["symbol"]]
        assert Decimal(ln["est_value"]) == _c(sh * px), ln  # exactly, to the cent
        if ln["side"] == "SELL" and ln["account_id"] in taxable:
            lot_sh, basis = lots[(ln["account_id"], ln["lot_id"])]
            expect = sh * px - sh * basis / lot_sh
            assert abs(Decimal(ln["est_realized_gain"]) - expect) <= CENT, (ln, expect)
            n_gain += 1
        b = by_block[(ln["symbol"], ln["side"])]
        b[0] += sh
        b[1] += Decimal(ln["est_value"])
    assert n_gain > 50
    # blocks: exact sums of their lines; allocations sum exactly to their blocks
    for b in _rows(blocks):
        sh, val = by_block.pop((b["symbol"], b["side"]))
        assert Decimal(b["shares"]) == sh and Decimal(b["est_value"]) == val, b
    assert not by_block
    alloc_sum: dict[str, list[Decimal]] = defaultdict(lambda: [Decimal(0), Decimal(0)])
    for a in _rows(allocs):
        alloc_sum[a["block_id"]][0] += Decimal(a["shares"])
        alloc_sum[a["block_id"]][1] += Decimal(a["est_value"])
    for b in _rows(blocks):
        assert alloc_sum[b["block_id"]] == [Decimal(b["shares"]), Decimal(b["est_value"])]
    # the store: the same lines; its values round to the trade file's cents
    assert stored.height == len(lines)
    file_key = {(ln["account_id"], ln["symbol"], ln["side"], ln["lot_id"]): ln for ln in lines}
    for r in stored.to_dicts():
        ln = file_key[(r["account_id"], r["symbol"], r["side"], r["lot_id"] or "")]
        assert _c(Decimal(repr(r["shares"])) * Decimal(repr(r["est_price"]))) == Decimal(ln["est_value"]) or \
            abs(Decimal(repr(r["shares"])) - Decimal(ln["shares"])) < Decimal("1e-6")
        if r["est_value"] is not None:
            assert abs(_c(Decimal(repr(r["est_value"]))) - Decimal(ln["est_value"])) <= CENT, (r, ln)
        if r["est_realized_gain"] is not None and ln["est_realized_gain"]:
            assert abs(_c(Decimal(repr(r["est_realized_gain"]))) - Decimal(ln["est_realized_gain"])) <= CENT, (r, ln)
