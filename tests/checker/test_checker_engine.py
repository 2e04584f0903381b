"""The engine's real review of the fixture uploads, written by the real exporter, passes the independent
checker: zero violations (issue 7's "done when" on small books; the random-book campaigns are issue 11's).

The review of a whole book is, for now, `overlay_core.simulate.review.optimizer_review` (the optimizer's
`rebalance_account` over every account through `overlay_core.review.review_accounts`)."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from overlay_core.export import write_blocks_file, write_review_file, write_trade_file
from overlay_core.upload import read_upload

from trade_checker import check_trade_file

ROOT = Path(__file__).resolve().parents[2]
UPLOADS = [ROOT / "tests" / "data" / "fixture_upload", ROOT / "tests" / "checker" / "data" / "mini_upload"]


@pytest.mark.parametrize("upload", UPLOADS, ids=lambda p: p.name)
def test_real_review_passes_the_checker(upload: Path, tmp_path: Path) -> None:
    review = pytest.importorskip("overlay_core.simulate.review")
    book = read_upload(upload)
    out = review.optimizer_review(book, workers=0)
    sec = book.securities
    types = dict(zip(sec["symbol"].to_list(), sec["type"].to_list()))
    incs = {s: i for s, i in zip(sec["symbol"].to_list(), sec["trade_increment"].to_list()) if i}
    path = write_trade_file(out.orders, tmp_path, as_of=book.as_of, security_types=types, trade_increments=incs)
    violations = check_trade_file(upload, path)
    assert violations == [], "\n".join(map(str, violations))
    assert out.orders.height > 0  # a review that trades, so the check means something
    review_path = write_review_file(out.results, tmp_path, as_of=book.as_of)
    every = sorted(book.account_ids() + book.quarantined["account_id"].to_list())
    assert pl.read_csv(review_path, infer_schema=False)["account_id"].to_list() == every  # every account, sorted
    blocks, allocations = write_blocks_file(out.orders, tmp_path, as_of=book.as_of, security_types=types, trade_increments=incs)
    b, a = pl.read_csv(blocks), pl.read_csv(allocations)
    assert b["n_lines"].sum() == out.orders.height == a["n_lines"].sum()
