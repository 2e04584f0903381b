"""Every problem kind of the data contract: its level (refuse, quarantine, warn) and its message."""

from __future__ import annotations

import datetime as dt
import io

import polars as pl
import pytest

from overlay_core.errors import Level, UploadRefused
from overlay_core.upload import read_upload

AS_OF = dt.date(2026, 11, 20)


def find(problems, **fields):
    """The problems whose attributes equal `fields` (found/expected: substring match)."""
    out = []
    for p in problems:
        ok = True
        for key, want in fields.items():
            got = getattr(p, key)
            ok = ok and ((want in got) if key in ("found", "expected") else (got == want))
        if ok:
            out.append(p)
    return out


def one(problems, **fields):
    hits = find(problems, **fields)
    assert len(hits) == 1, f"expected one problem like {fields}, got {hits} among:\n" + "\n".join(map(str, problems))
    return hits[0]


# ---------------------------------------------------------------------------------------------- the clean fixture


def test_fixture_loads_clean(fixture_upload_dir):
    book = read_upload(fixture_upload_dir)
    assert book.as_of == AS_OF
    assert book.trade_date == dt.date(2026, 11, 23)  # the next NYSE business day (a Monday)
    assert book.summary() == {
        "securities": 10,
        "models": 3,
        "targets": 2,
        "accounts": 5,
        "households": 4,
        "lots": 19,
        "quarantined": 0,
        "warnings": 0,
    }
    assert book.policy.rebalance.cash_floor == 0.01
    # fill-ins (book.py)
    acc = {r["account_id"]: r for r in book.accounts.iter_rows(named=True)}
    assert acc["A200"]["household_id"] == "A200"
    assert acc["A101"]["st_rate"] == 0.37 and acc["A101"]["lt_rate"] == 0.20
    assert acc["A100"]["min_trade_value"] == 100.0 and acc["A200"]["min_trade_value"] == 250.0
    assert acc["A100"]["gain_budget"] == 10000.0 and acc["A200"]["gain_budget"] is None
    assert acc["A300"]["cash_need"] == 0.0 and acc["A300"]["status"] == "active"
    sec = {r["symbol"]: r for r in book.securities.iter_rows(named=True)}
    assert sec["VTI"]["wash_group"] == "VTI" and sec["IVV"]["wash_group"] == "sp500"
    assert sec["MO"]["name"] == "Altria Group, Inc."
    lots = book.lots.filter(pl.col("account_id") == "A100")
    assert lots.filter(pl.col("lot_id") == "L1")["purchase_date"].item() == dt.date(2009, 3, 16)
    # book value as worked out in the fixture's README
    value = book.lots.join(book.prices, on="symbol").select((pl.col("shares") * pl.col("close")).sum()).item()
    assert value + book.accounts["cash"].sum() == pytest.approx(475_800.0)


# ---------------------------------------------------------------------------------------------- files


def test_missing_required_file(upload):
    upload.remove("lots.csv")
    p = one(upload.refused().problems, file="lots.csv")
    assert (p.found, p.level) == ("no such file", Level.BOOK)
    assert "lots.csv or lots.parquet" in p.expected


def test_missing_optional_file_is_an_empty_table(upload):
    upload.remove("pending_orders.csv")
    upload.remove("restrictions.csv")
    book = upload.read()
    assert book.pending_orders.height == 0 and book.restrictions.height == 0
    assert book.pending_orders.columns == ["account_id", "symbol", "side", "shares", "lot_id", "est_realized_gain"]


def test_table_given_as_csv_and_parquet(upload):
    upload.frame("prices").write_parquet(upload.path / "prices.parquet")
    p = one(upload.refused().problems, file="prices.csv / prices.parquet")
    assert "exactly one of prices.csv or prices.parquet" in p.expected


def test_missing_required_column(upload):
    upload.drop_column("accounts", "cash")
    p = one(upload.refused().problems, file="accounts.csv", column="cash")
    assert p.row == "header" and "no such column" in p.found and "required column 'cash'" in p.expected


def test_empty_file(upload):
    upload.raw("models.csv", b"")
    p = one(upload.refused().problems, file="models.csv")
    assert p.found == "an empty file"


def test_header_only_file_is_an_empty_table(upload):
    upload.raw("transactions.csv", b"account_id,date,symbol,side,shares,price\n")
    assert upload.read().transactions.height == 0


def test_bad_encoding_names_the_line(upload):
    data = (upload.path / "securities.csv").read_bytes().replace(b"Microsoft", b"Micro\xe9soft")
    upload.raw("securities.csv", data)
    p = one(upload.refused().problems, file="securities.csv")
    assert p.row == "line 8" and "not UTF-8" in p.found and p.expected == "UTF-8 text"


def test_bom_and_quoted_newline_are_legal(upload):
    data = (upload.path / "securities.csv").read_bytes().replace(b'"Altria Group, Inc."', b'"Altria Group,\r\nInc. ""MO"""')
    upload.raw("securities.csv", b"\xef\xbb\xbf" + data)
    book = upload.read()
    assert book.securities.filter(pl.col("symbol") == "MO")["name"].item() == 'Altria Group,\r\nInc. "MO"'


def test_rows_after_a_quoted_newline_keep_their_numbers(upload):
    data = (upload.path / "securities.csv").read_bytes().replace(b"Vanguard S&P 500 ETF", b'"Vanguard\nS&P 500 ETF"')
    data = data.replace(b"MSFT,us_equity,equity", b"MSFT,us_equity,stock")
    upload.raw("securities.csv", data)
    p = one(upload.refused().problems, file="securities.csv", column="type")
    assert p.row == 7  # MSFT is the 7th data row, whatever the quoted newline above it


def test_ragged_row(upload):
    upload.raw("prices.csv", (upload.path / "prices.csv").read_bytes() + b"XOM,1\nJNJ\n")
    p = one(upload.refused().problems, file="prices.csv", row=12)
    assert (p.found, p.expected) == ("1 fields", "3 fields, as in the header")


def test_unbalanced_quote(upload):
    upload.raw("targets.csv", b'target_id,model_id,weight\nBAL,"CORE,0.7\nBAL,GROWTH,0.3\n')
    p = one(upload.refused().problems, file="targets.csv")
    assert "malformed CSV" in p.found or "fields" in p.found


def test_truncated_parquet(upload):
    buf = io.BytesIO()
    upload.frame("lots").write_parquet(buf)
    upload.remove("lots.csv")
    upload.raw("lots.parquet", buf.getvalue()[: len(buf.getvalue()) // 2])
    p = one(upload.refused().problems, file="lots.parquet")
    assert "unreadable Parquet" in p.found and p.expected == "a complete Parquet file"


def test_parquet_tables_load_like_csv(upload, fixture_upload_dir):
    for table in ("lots", "accounts", "prices", "price_history"):
        df = read_upload(fixture_upload_dir).__getattribute__(table)
        upload.remove(f"{table}.csv")
        df.write_parquet(upload.path / f"{table}.parquet")
    a, b = read_upload(fixture_upload_dir), upload.read()
    for table in ("lots", "accounts", "prices", "price_history"):
        assert getattr(a, table).equals(getattr(b, table))


def test_parquet_wrong_column_type(upload):
    upload.remove("prices.csv")
    pl.DataFrame({"symbol": ["VOO"], "close": [dt.date(2026, 1, 1)]}).write_parquet(upload.path / "prices.parquet")
    p = one(upload.refused().problems, file="prices.parquet", column="close")
    assert "type Date" in p.found and p.expected == "numbers"


def test_unknown_file_and_column_warn(upload):
    upload.raw("lot.csv", b"a\n1\n")
    df = upload.frame("securities").with_columns(pl.lit("x").alias("isin"))
    upload.write("securities", df)
    book = upload.read()
    assert one(book.warnings, file="lot.csv").level is Level.WARNING
    assert one(book.warnings, file="securities.csv", column="isin").found == "a column the contract does not define"


# ---------------------------------------------------------------------------------------------- as_of and dates


def test_as_of_from_caller_and_file_must_agree(upload):
    p = one(upload.refused(as_of=dt.date(2026, 11, 19)).problems, file="as_of.txt")
    assert p.found == "2026-11-20" and "2026-11-19" in p.expected


def test_as_of_missing(upload):
    upload.remove("as_of.txt")
    p = one(upload.refused().problems, file="as_of.txt")
    assert "no as_of" in p.found
    assert upload.read(as_of=AS_OF).as_of == AS_OF


def test_as_of_malformed(upload):
    upload.raw("as_of.txt", b"20/11/2026\n")
    assert one(upload.refused().problems, file="as_of.txt").expected == "one date YYYY-MM-DD"


def test_trade_date_from_caller(upload):
    assert upload.read(trade_date=dt.date(2026, 11, 24)).trade_date == dt.date(2026, 11, 24)
    p = one(upload.refused(trade_date=dt.date(2026, 11, 19)).problems, file="(trade date)")
    assert "on or after as_of" in p.expected


def test_bad_policy_is_refused(upload):
    upload.raw("policy.toml", b"[rebalance]\nst_rate = 1.5\n")
    p = one(upload.refused().problems, file="policy.toml")
    assert p.row == "rebalance.st_rate" and "[0, 1]" in p.expected


# ---------------------------------------------------------------------------------------------- book-level rows


def test_wrong_type(upload):
    upload.set("lots", 3, "shares", "three hundred")
    p = one(upload.refused().problems, file="lots.csv", column="shares")
    assert (p.row, p.found, p.expected, p.level) == (3, "'three hundred'", "a number", Level.BOOK)


def test_bad_date(upload):
    upload.set("lots", 2, "acquired", "2023-02-30")
    p = one(upload.refused().problems, file="lots.csv", column="acquired")
    assert (p.row, p.found, p.expected) == (2, "'2023-02-30'", "a date YYYY-MM-DD")


def test_empty_required_cell(upload):
    upload.set("accounts", 4, "target_id", "")
    p = one(upload.refused().problems, file="accounts.csv", column="target_id")
    assert (p.row, p.found) == (4, "an empty cell")


@pytest.mark.parametrize("value, shown", [("NaN", "nan"), ("inf", "inf"), ("-Infinity", "-inf")])
def test_nan_and_infinite_numbers(upload, value, shown):
    upload.set("prices", 2, "close", value)
    p = one(upload.refused().problems, file="prices.csv", column="close")
    assert (p.row, p.found, p.expected) == (2, shown, "a finite number")


def test_bad_enum(upload):
    upload.set("accounts", 1, "tax_status", "Taxable")
    p = one(upload.refused().problems, file="accounts.csv", column="tax_status")
    assert (p.row, p.found) == (1, "'Taxable'")
    assert p.expected == "one of taxable, tax_deferred, tax_exempt"


def test_bad_symbol(upload):
    upload.set("securities", 4, "symbol", "vea")
    p = one(upload.refused().problems, file="securities.csv", column="symbol")
    assert (p.row, p.found) == (4, "'vea'") and "[A-Z0-9./-]+" in p.expected


@pytest.mark.parametrize("table, row, column", [("securities", 1, "symbol"), ("prices", 1, "symbol"), ("lots", 1, "symbol"), ("transactions", 1, "symbol"), ("pending_orders", 1, "symbol"), ("price_history", 1, "symbol")])
def test_cash_where_it_may_not_stand(upload, table, row, column):
    upload.set(table, row, column, "$CASH")
    p = one(upload.refused().problems, file=f"{table}.csv", column=column, row=row)
    assert p.found == "'$CASH'" and "$CASH may stand only in models.symbol" in p.expected


def test_duplicate_key(upload):
    upload.append("securities", symbol="VOO", asset_class="us_equity", type="etf")
    p = one(upload.refused().problems, file="securities.csv", column="symbol")
    assert (p.row, p.found, p.expected) == ("key 'VOO'", "2 rows (1, 11)", "one row per key")


def test_duplicate_lot_key(upload):
    upload.append("lots", account_id="A200", lot_id="L3", symbol="BND", shares=1, cost_basis=70, acquired="2025-01-02")
    p = one(upload.refused().problems, file="lots.csv", column="account_id, lot_id")
    assert p.row == "key account_id='A200', lot_id='L3'" and p.found == "2 rows (11, 20)"


def test_non_positive_price(upload):
    upload.set("prices", 9, "close", "0")
    p = one(upload.refused().problems, file="prices.csv", column="close")
    assert (p.row, p.found, p.expected) == (9, "0.0", "a close > 0")


def test_missing_price_of_a_targeted_symbol(upload):
    df = upload.frame("prices").filter(pl.col("symbol") != "XOM")
    upload.write("prices", df)
    p = one(upload.refused().problems, file="models.csv", column="symbol")
    assert (p.row, p.found, p.level) == (8, "'XOM' without a price", Level.BOOK)
    assert "needs a price" in p.expected


def test_model_names_unknown_symbol(upload):
    upload.set("models", 5, "symbol", "GOOG")
    p = one(upload.refused().problems, file="models.csv", column="symbol", row=5)
    assert p.found == "'GOOG'" and p.expected == "a symbol of securities, or $CASH"


def test_target_names_unknown_model(upload):
    upload.set("targets", 2, "model_id", "GROWTH2")
    p = one(upload.refused().problems, file="targets.csv", column="model_id")
    assert (p.row, p.found, p.expected) == (2, "'GROWTH2'", "a model_id of models")


def test_weights_outside_tolerance(upload):
    upload.set("models", 1, "weight", "0.40")  # CORE sums to 0.95
    p = one(upload.refused().problems, file="models.csv", column="weight")
    assert p.row == "model 'CORE'" and p.found == "weights summing to 0.95"
    assert "within 0.0001" in p.expected


def test_negative_weight(upload):
    upload.set("targets", 1, "weight", "-0.7")
    p = one(upload.refused().problems, file="targets.csv", column="weight", row=1)
    assert p.expected == "a weight >= 0"


def test_weights_inside_tolerance_are_renormalized_with_a_warning(upload):
    upload.set("models", 1, "weight", "0.45005")  # CORE sums to 1.00005
    book = upload.read()
    w = one(book.warnings, file="models.csv", column="weight")
    assert w.row == "model 'CORE'" and "renormalized" in w.expected and "1.00005" in w.found
    core = book.models.filter(pl.col("model_id") == "CORE")
    assert core["weight"].sum() == pytest.approx(1.0, abs=1e-12)
    assert core.filter(pl.col("symbol") == "VOO")["weight"].item() == pytest.approx(0.45005 / 1.00005)
    # the other models are untouched
    assert book.models.filter(pl.col("model_id") == "GROWTH")["weight"].to_list() == [0.25, 0.25, 0.20, 0.15, 0.15]


def test_lot_of_unknown_account_is_book_level(upload):
    row = upload.append("lots", account_id="A999", lot_id="L1", symbol="BND", shares=10, cost_basis=700, acquired="2024-01-02")
    p = one(upload.refused().problems, file="lots.csv", column="account_id")
    assert (p.row, p.found, p.expected, p.level) == (row, "'A999'", "an account_id of accounts", Level.BOOK)


def test_firm_wide_bad_restriction_is_book_level(upload):
    row = upload.append("restrictions", account_id="*", kind="substitute", value="VOO-VTI")
    p = one(upload.refused().problems, file="restrictions.csv", column="value")
    assert (p.row, p.level) == (row, Level.BOOK)


# ---------------------------------------------------------------------------------------------- account level


def quarantined(upload, **edits):
    upload.lenient()
    book = upload.read()
    return book, {r["account_id"]: r["reason"] for r in book.quarantined.iter_rows(named=True)}


def test_non_positive_shares_quarantine_the_household(upload):
    upload.set("lots", 6, "shares", "0")  # A101 L1: SMITH household (A100, A101)
    book, q = quarantined(upload)
    assert set(q) == {"A100", "A101"}
    assert q["A101"] == "lots.csv, row 6, column 'shares': found 0.0; expected shares > 0"
    assert q["A100"] == "household SMITH: account(s) A101 quarantined"
    assert set(book.quarantined["household_id"]) == {"SMITH"}
    assert sorted(book.account_ids()) == ["A200", "A300", "A400"]
    for table in ("lots", "transactions", "pending_orders", "restrictions"):
        assert not set(getattr(book, table)["account_id"]) & {"A100", "A101"}
    assert book.lots.height == 19 - 8


def test_negative_basis(upload):
    upload.set("lots", 9, "cost_basis", "-30000")
    _, q = quarantined(upload)
    assert q == {"A200": "lots.csv, row 9, column 'cost_basis': found -30000.0; expected a cost basis >= 0"}


def test_negative_cash(upload):
    upload.set("accounts", 5, "cash", "-0.01")
    _, q = quarantined(upload)
    assert q == {"A400": "accounts.csv, row 5, column 'cash': found -0.01; expected settled cash >= 0"}


def test_acquired_after_as_of(upload):
    upload.set("lots", 17, "acquired", "2026-11-21")
    _, q = quarantined(upload)
    assert q == {"A400": "lots.csv, row 17, column 'acquired': found 2026-11-21; expected a date on or before as_of 2026-11-20"}


def test_taxable_lot_without_basis(upload):
    upload.set("lots", 18, "cost_basis", "")
    _, q = quarantined(upload)
    assert "column 'cost_basis': found an empty cell; expected a cost basis (required in a taxable account)" in q["A400"]


def test_lot_of_unknown_symbol(upload):
    upload.set("lots", 14, "symbol", "GOOG")
    _, q = quarantined(upload)
    assert q == {"A300": "lots.csv, row 14, column 'symbol': found 'GOOG'; expected a symbol of securities"}


def test_missing_price_of_a_held_symbol(upload):
    upload.append("lots", account_id="A300", lot_id="L4", symbol="IVV", shares=3)
    upload.write("prices", upload.frame("prices").filter(pl.col("symbol") != "IVV"))
    _, q = quarantined(upload)
    assert q == {"A300": "lots.csv, row 20, column 'symbol': found 'IVV' without a price; expected a symbol with a close > 0 in prices (a held symbol needs a price)"}


def test_unknown_target(upload):
    upload.set("accounts", 4, "target_id", "AGGRESSIVE")
    _, q = quarantined(upload)
    assert q == {"A300": "accounts.csv, row 4, column 'target_id': found 'AGGRESSIVE'; expected a target_id of targets"}


@pytest.mark.parametrize("column", ["st_rate", "lt_rate", "min_cash_weight"])
def test_rates_outside_0_1(upload, column):
    upload.set("accounts", 3, column, "1.2")
    _, q = quarantined(upload)
    assert q == {"A200": f"accounts.csv, row 3, column '{column}': found 1.2; expected a fraction in [0, 1]"}


@pytest.mark.parametrize("value, expected", [("VOO-VTI", "FROM>TO: two symbols"), ("VOO>", "FROM>TO: two symbols"), ("VOO>VTI>VEA", "FROM>TO: two symbols"), ("VOO>VOO", "TO different from FROM"), ("$CASH>VTI", "FROM>TO: two symbols")])
def test_malformed_substitute(upload, value, expected):
    upload.set("restrictions", 3, "value", value)
    _, q = quarantined(upload)
    assert set(q) == {"A400"}
    assert q["A400"].startswith(f"restrictions.csv, row 3, column 'value': found {value!r}; expected")
    assert expected in q["A400"]


def test_restriction_limit_outside_0_1(upload):
    upload.append("restrictions", account_id="A200", kind="sector_max", value="technology", limit="1.5")
    _, q = quarantined(upload)
    assert q == {"A200": "restrictions.csv, row 4, column 'limit': found 1.5; expected a weight in [0, 1]"}


def test_cash_restricted(upload):
    upload.append("restrictions", account_id="A300", kind="never_buy", value="$CASH")
    _, q = quarantined(upload)
    assert "found '$CASH'; expected a security symbol ($CASH cannot be restricted)" in q["A300"]


def test_taxable_sell_without_realized_gain(upload):
    upload.set("transactions", 1, "realized_gain", "")
    _, q = quarantined(upload)
    assert q["A100"] == "transactions.csv, row 1, column 'realized_gain': found an empty cell; expected the realized gain (required on sells of taxable accounts; < 0 is a loss)"
    assert set(q) == {"A100", "A101"}


def test_bad_transaction(upload):
    upload.set("transactions", 2, "price", "-295")
    _, q = quarantined(upload)
    assert q["A100"] == "transactions.csv, row 2, column 'price': found -295.0; expected a price > 0"


def test_pending_sale_beyond_the_lot(upload):
    upload.append("pending_orders", account_id="A300", symbol="VTI", side="sell", shares=51, lot_id="L2")
    _, q = quarantined(upload)
    assert q == {"A300": "pending_orders.csv, row 2, column 'shares': found 51.0; expected at most the lot's shares (no sale beyond a lot)"}


def test_too_many_quarantined_refuses(upload):
    upload.set("accounts", 5, "cash", "-1")  # 1 of 5 accounts = 20% > the default 5%
    err = upload.refused()
    p = one(err.problems, file="accounts.csv", row=None)
    assert p.found == "1 of 5 accounts (20.0%) quarantined" and "at most 5.0%" in p.expected
    assert one(err.problems, level=Level.ACCOUNT).account_id == "A400"


# ---------------------------------------------------------------------------------------------- warnings


def test_restriction_of_unknown_symbol_or_tag_warns(upload):
    upload.append("restrictions", account_id="*", kind="never_buy", value="GME")
    upload.append("restrictions", account_id="A300", kind="screen", value="weapons")
    book = upload.read()
    assert book.quarantined.height == 0
    assert one(book.warnings, row=4).found == "never_buy of 'GME', a symbol not in securities"
    assert one(book.warnings, row=5).found == "screen of tag 'weapons', which no security carries"
    assert book.restrictions.height == 5


# ---------------------------------------------------------------------------------------------- all at once


def test_every_problem_is_listed_at_once(upload):
    upload.set("securities", 2, "type", "fund")
    upload.set("prices", 3, "close", "-1")
    upload.set("models", 9, "weight", "abc")
    upload.set("lots", 1, "shares", "-5")  # account level, listed too
    upload.raw("as_of.txt", b"yesterday")
    upload.remove("targets.csv")
    err = upload.refused(as_of=AS_OF)
    where = {(p.file, p.row, p.column) for p in err.problems}
    assert {
        ("securities.csv", 2, "type"),
        ("prices.csv", 3, "close"),
        ("models.csv", 9, "weight"),
        ("as_of.txt", None, None),
        ("targets.csv", None, None),
        ("lots.csv", 1, "shares"),
    } <= where
    text = str(err)
    assert "securities.csv, row 2, column 'type': found 'fund'; expected one of equity, etf" in text
    assert "prices.csv, row 3, column 'close': found -1.0; expected a close > 0" in text


def test_many_bad_rows_are_summarized(upload):
    df = upload.frame("price_history").with_columns(pl.lit("x").alias("close"))
    upload.write("price_history", df)
    err = upload.refused()
    rows = [p for p in err.problems if p.file == "price_history.csv"]
    assert len(rows) == 51
    assert rows[-1].row.startswith("2950 more rows (51, 52")


def test_refused_upload_has_no_partial_state(upload):
    upload.set("prices", 1, "close", "0")
    with pytest.raises(UploadRefused) as info:
        read_upload(upload.path)
    assert info.value.exit_code == 2


def test_reserved_or_repeated_header(upload):
    upload.raw("targets.csv", b"target_id,model_id,weight,__row\nBAL,CORE,0.7,1\n")
    p = one(upload.refused().problems, file="targets.csv", column="__row")
    assert (p.row, p.found) == ("header", "a reserved column name")
    upload.raw("targets.csv", b"target_id,model_id,weight,weight\nBAL,CORE,0.7,1\n")
    p = one(upload.refused().problems, file="targets.csv", column="weight")
    assert (p.row, p.found) == ("header", "the column named twice")


def test_policy_with_a_non_table_ranges_is_refused(upload):
    upload.raw("policy.toml", b"[targets.BAL]\nranges = [0.4, 0.6]\n")
    p = one(upload.refused().problems, file="policy.toml")
    assert p.row == "targets.BAL" and "'ranges' table" in p.expected


def test_many_bad_rows_of_one_account_are_summarized(upload):
    for k in range(8):
        upload.append("lots", account_id="A300", lot_id=f"X{k}", symbol="BND", shares=-k)
    err = upload.refused()  # 1 of 5 accounts quarantined: over the default 5%
    rows = [p for p in err.problems if p.level is Level.ACCOUNT]
    assert [p.row for p in rows] == [20, 21, 22, 23, 24, "3 more rows of account A300 (25, 26, 27)"]
    assert rows[-1].found == "the same problem" and rows[-1].account_id == "A300"
    upload.lenient()
    reason = upload.read().quarantined["reason"].item()
    assert reason.startswith("lots.csv, row 20, column 'shares': found 0.0; expected shares > 0;")
    assert reason.endswith("; and 1 more")
