"""One reading of spreadsheet rows for the Python API and the CLI (issue 18).

A host's upload handler passes the rows openpyxl gives it, with the mapping its
form chose, to `import_customers(rows, mapping=...)`; `referral-ledger import`
does the same with `--map`. Both must read every cell alike.
"""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook, load_workbook

from cli_support import run
from referral_ledger import InvalidInput, Ledger
from referral_ledger import demo as scenario
from referral_ledger.policies.cells import ESCAPE, defuse, restore
from referral_ledger.policies.sheet_rows import (
    VI_HEADERS,
    cell_value,
    check_mapping,
    header_fields,
    header_key,
    sheet_row,
)

SHEET: list[list[object]] = [
    ["Mã KH", "Họ tên", "SĐT", "Email", "Ghi chú nội bộ", "Ngày tạo"],
    ["KH-001", "Trịnh Văn Khoa", 975500600, "khoa@example.vn", "x", "2025-03-01 09:30"],
    ["KH-002", "Lý Thị Lan", 975500601.0, None, "", datetime(2025, 3, 2, 10, 0)],
    ["KH-003", "  Mai Văn Minh ", "'=0975 500 602", "  ", None, "2025-03-03"],
]
MAPPING = {
    "Mã KH": "external_id",
    "Họ tên": "name",
    "SĐT": "phones",
    "Email": "email",
    "Ghi chú nội bộ": "-",
    "Ngày tạo": "at",
}


def write_xlsx(path: Path, rows: list[list[object]]) -> Path:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    book.save(path)
    return path


def upload_rows(path: Path) -> list[dict[str, object]]:
    """What a host's upload handler makes of an .xlsx: {header: cell} per row."""
    sheet = load_workbook(path, read_only=True).worksheets[0]
    rows = list(sheet.iter_rows(values_only=True))
    return [dict(zip([str(h) for h in rows[0]], row, strict=True)) for row in rows[1:]]


def customers(ledger: Ledger) -> list[tuple[object, ...]]:
    result: list[tuple[object, ...]] = []
    for pos_id in ("KH-001", "KH-002", "KH-003"):
        found = ledger.find_customer_by_external_id(pos_id)
        assert found is not None, pos_id
        c = ledger.get_customer(found)
        result.append((c.external_id, c.name, c.phones, c.email, c.notes, c.registered_at))
    return result


def test_the_api_with_a_mapping_reads_a_sheet_exactly_as_the_cli(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sheet = write_xlsx(tmp_path / "khach.xlsx", SHEET)
    cli_db = tmp_path / "cli.db"
    maps = [arg for column, field in MAPPING.items() for arg in ("--map", f"{column}={field}")]
    code, out, err = run(capsys, "import", "customers", str(sheet), "--db", str(cli_db), *maps)
    assert (0, "") == (code, err), out
    with Ledger.open(f"sqlite:///{tmp_path / 'api.db'}") as api:
        report = api.import_customers(upload_rows(sheet), mapping=MAPPING)
        assert (3, []) == (report.created, report.rejected)
        with Ledger.open(f"sqlite:///{cli_db}") as cli:
            assert customers(cli) == customers(api)
        khoa, lan, minh = customers(api)
    assert ("+84975500600",) == khoa[2]  # a number typed in the phone cell
    assert ("+84975500601",) == lan[2]  # the same, as the float a sheet keeps
    assert ("Mai Văn Minh", ("+84975500602",), None) == minh[1:4]  # escape undone, blank cell
    assert datetime(2025, 3, 1, 2, 30, tzinfo=UTC) == khoa[5]  # business time (UTC+7)
    assert datetime(2025, 3, 2, 3, 0, tzinfo=UTC) == lan[5]  # a naive cell: business time


def test_a_phone_typed_as_a_number_is_taken_without_a_mapping_too(ledger: Ledger) -> None:
    report = ledger.import_customers(
        [{"name": "Lan", "phone": 975500600}, {"name": "Minh", "phones": [975500601, "0975500602"]}]
    )
    assert (2, []) == (report.created, report.rejected)
    minh = ledger.find_customer_by_phone("+84975500602")
    assert minh is not None
    assert ("+84975500601", "+84975500602") == ledger.get_customer(minh).phones
    refused = ledger.import_customers([{"name": "Bool", "phone": True}])
    assert 1 == len(refused.rejected)


def test_vietnamese_headers_need_no_mapping_whatever_their_case_or_unicode_form(
    ledger: Ledger,
) -> None:
    heads = VI_HEADERS["customers"]
    nfd = unicodedata.normalize("NFD", heads["phones"].upper())
    row = {heads["external_id"]: "KH-9", f"  {heads['name']} ": "Đỗ Thị Ngọc", nfd: 975500609}
    assert (1, []) == (lambda r: (r.created, r.rejected))(
        ledger.import_customers([row], mapping={})
    )
    found = ledger.find_customer_by_external_id("KH-9")
    assert found is not None and ("+84975500609",) == ledger.get_customer(found).phones


@pytest.mark.parametrize(
    ("mapping", "named"),
    [
        ({"Tên": "surname"}, "'surname' is not a field"),
        ({"": "name"}, "a column must be a non-empty str"),
        ({"Tên": 3}, "3 is not a field"),
        (["Tên=name"], "mapping must be a mapping"),
    ],
)
def test_a_bad_mapping_is_refused_before_anything_is_recorded(
    ledger: Ledger, mapping: Any, named: str
) -> None:
    with pytest.raises(InvalidInput, match=named):
        ledger.import_customers([{"Tên": "An", "phone": "0911000001"}], mapping=mapping)
    with pytest.raises(InvalidInput, match=named.replace("3 is", "3 is")):
        ledger.import_purchases([{"Tên": "An"}], mapping=mapping)
    assert 0 == ledger.event_count()


def test_a_row_with_an_unknown_header_is_rejected_naming_it(ledger: Ledger) -> None:
    report = ledger.import_customers(
        [{"Họ tên": "An", "phone": "0911000001", "Sinh nhật": "1990-01-01"}],
        mapping={"Họ tên": "name"},
    )
    assert [(1, "unknown column(s) 'Sinh nhật'")] == report.rejected
    with pytest.raises(InvalidInput, match="unknown column"):
        header_fields(["Sinh nhật"], {}, "customers")


def test_two_columns_for_one_field_are_refused_rather_than_one_overwriting_the_other(
    ledger: Ledger, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    row = {"name": "An", "Điện thoại": "0911000001", "phones": "0911000002"}
    report = ledger.import_customers([row], mapping={})
    assert [(1, "columns 'Điện thoại' and 'phones' both hold phones")] == report.rejected
    sheet = tmp_path / "kh.csv"
    sheet.write_text("name,Họ tên,phones\nAn,Bình,0911000001\n", encoding="utf-8")
    db = tmp_path / "shop.db"
    code, _, err = run(capsys, "import", "customers", str(sheet), "--db", str(db),
                       "--map", "Họ tên=name")  # fmt: skip
    assert 1 == code and "columns 'name' and 'Họ tên' both hold name" in err
    assert not db.exists()


def test_purchases_with_a_mapping_read_sheet_amounts_and_business_times(ledger: Ledger) -> None:
    ledger.configure_loyalty(scenario.LOYALTY)
    ledger.import_customers([{"name": "An", "phone": "0911000001", "external_id": "KH-1"}])
    heads = VI_HEADERS["purchases"]
    rows: list[dict[str, object]] = [
        {"Khách": "KH-1", heads["invoice_id"]: "HD-1", heads["amount"]: 1500000.0,
         heads["at"]: "2025-04-01 10:00", "Thu ngân": "Lan"},
        {"Khách": "KH-1", heads["invoice_id"]: "HD-2", heads["amount"]: 1.5,
         heads["points_used"]: "0"},
    ]  # fmt: skip
    report = ledger.import_purchases(rows, mapping={"Khách": "external_id", "Thu ngân": "-"})
    assert (2, []) == (report.recorded, report.rejected)
    an = ledger.find_customer_by_external_id("KH-1")
    assert an is not None
    first = ledger.statement(an)[0]
    assert ("HD-1", datetime(2025, 4, 1, 3, 0, tzinfo=UTC)) == (first.reference, first.at)
    # Without a mapping the rows are Python values: a float amount is refused, not rounded.
    refused = ledger.import_purchases(
        [{"external_id": "KH-1", "invoice_id": "HD-3", "amount": 1500000.0}]
    )
    assert 1 == len(refused.rejected) and "1500000.0" in refused.rejected[0][1]
    assert Decimal(0) < ledger.balance(an)


ICT = timezone(timedelta(hours=7))


def test_numbers_a_spreadsheet_keeps_read_as_the_figure_the_cell_shows() -> None:
    """A float cell is the exact figure it shows, never a float; amounts stay numbers."""
    assert "1001" == cell_value("external_id", 1001.0, ICT)
    assert 1_500_000 == cell_value("amount", 1_500_000.0, ICT)
    assert type(cell_value("amount", 1_500_000.0, ICT)) is int
    assert Decimal("1500000.5") == cell_value("discounted_amount", 1_500_000.5, ICT)
    assert type(cell_value("amount", 1_500_000, ICT)) is int
    assert "150000" == cell_value("amount", " 150000 ", ICT)  # text: the ledger reads it
    for points in (12, 12.0, " 12 "):
        assert 12 == cell_value("points_used", points, ICT)
        assert type(cell_value("points_used", points, ICT)) is int


def test_a_sheet_time_without_an_offset_is_in_business_time_one_with_keeps_it() -> None:
    own = datetime(2025, 4, 1, 10, 0, tzinfo=UTC)
    assert own == cell_value("at", own, ICT)
    assert datetime(2025, 4, 1, 10, 0, tzinfo=ICT) == cell_value(
        "at", datetime(2025, 4, 1, 10), ICT
    )


def test_a_time_typed_in_a_cell_is_in_business_time_unless_it_gives_an_offset() -> None:
    own = datetime(2025, 4, 1, 10, 0, tzinfo=UTC)
    assert own == cell_value("at", "2025-04-01 10:00+00:00", ICT)
    assert datetime(2025, 4, 1, 10, 0, tzinfo=ICT) == cell_value("at", "2025-04-01 10:00", ICT)
    # A time with no business-zone form (past year 9999 there) is passed on as typed,
    # for the ledger to refuse naming it.
    assert "9999-12-31T23:00+00:00" == cell_value("at", "9999-12-31T23:00+00:00", ICT)


def test_addresses_are_one_a_line_and_other_text_keeps_its_lines() -> None:
    """An address has commas of its own: an addresses cell is split at line breaks only,
    a tags cell too when it has several lines (on one line the ledger splits it at
    commas); a note keeps its lines."""
    hanoi = "12 Tràng Tiền, Hà Nội"
    assert [hanoi] == cell_value("addresses", hanoi, ICT)
    assert [hanoi, "34 Lê Lợi"] == cell_value("addresses", f"{hanoi}\n 34 Lê Lợi \n\n", ICT)
    assert ["vip", "sỉ, lẻ"] == cell_value("tags", "vip\nsỉ, lẻ", ICT)
    assert "vip, sỉ" == cell_value("tags", " vip, sỉ ", ICT)
    assert "dòng 1\ndòng 2" == cell_value("notes", "dòng 1\ndòng 2", ICT)


def test_headers_match_whatever_their_spacing_and_an_unnamed_column_says_nothing() -> None:
    assert "mã kh" == header_key("  Mã   KH ")
    assert "" == header_key(None)
    row: dict[object, object] = {
        None: "a column with no header",
        " NAME ": "An",
        "Số  điện thoại": 975500600,
    }
    assert {"name": "An", "phone": "975500600"} == sheet_row(row, {}, "customers", ICT)


def test_an_export_escape_is_undone_exactly_and_only_before_a_formula_start() -> None:
    """`cells.defuse` puts a `'` before a formula start or a leading `'` (not before a
    signed number); `cells.restore`, which the imports apply, takes exactly that off."""
    for text in ("=1+1", "-x", "@SUM(A1)", "'quoted", "+", "\tx"):
        assert ESCAPE + text == defuse(text)
        assert text == restore(defuse(text))
    for text in ("-54", "+1.5", "plain", ""):  # numbers and plain text stay as they are
        assert text == defuse(text) == restore(text)
    for text in ("'", "a'=", "'x", "x'"):  # no escape `defuse` would have made
        assert text == restore(text)
    assert "=a" == restore("'=a")
    assert "''" == defuse("'")
    assert "'" == restore("''")


def test_a_row_or_sheet_kind_that_is_not_one_is_refused_naming_it() -> None:
    with pytest.raises(InvalidInput, match=r"a row must be a mapping .*, not \['An'\]"):
        sheet_row(["An"], {}, "customers", ICT)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="'customers' or 'purchases', not 'vouchers'"):
        check_mapping({}, "vouchers")  # type: ignore[arg-type]
