"""`referral-ledger vouchers`, `commissions REFERRER` and `import vouchers FILE`, and the
library's `import_vouchers` on every store."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook, load_workbook

from cli_support import events, run
from referral_ledger import (
    InvalidInput,
    Ledger,
    LoyaltyProgram,
    ReferralCodeProgram,
    Voucher,
)
from referral_ledger.policies.voucher_rows import check_voucher_mapping, voucher_sheet_row
from support import Clock

START = datetime(2026, 3, 1, 3, 0, tzinfo=UTC)
ICT = timezone(timedelta(hours=7))


@pytest.fixture
def shop_db(tmp_path: Path) -> str:
    """A ledger with two vouchers (one used twice) and a referrer with three commission lines."""
    path = tmp_path / "shop.db"
    clock = Clock(START)
    with Ledger.open(f"sqlite:///{path}", clock=clock) as ledger:
        ledger.configure_loyalty(
            LoyaltyProgram(money_per_point=Decimal(1000), point_value=Decimal(100))
        )
        ledger.configure_referral_codes(
            ReferralCodeProgram(
                discount=Decimal(20_000), commission_percent=Decimal(5), maturity_days=14
            )
        )
        an = ledger.register_customer("Nguyễn Văn An", ["0912 000 001"], external_id="POS-1")
        binh = ledger.register_customer("Trần Thị Bình", ["0912 000 002"])
        ledger.create_voucher(
            Voucher(code="TET2026", discount=Decimal(50_000), min_order=300_000, usage_limit=3)
        )
        ledger.create_voucher(
            Voucher(code="VIP10", percent=10, max_discount=100_000, customer_tags=["vip"])
        )
        code = ledger.referral_code(an)
        ledger.checkout(binh, "HD-1", Decimal(400_000), voucher="TET2026", referral_code=code)
        ledger.checkout(binh, "HD-2", Decimal(300_000), voucher="tet2026")
        ledger.record_purchase(binh, "HD-3", Decimal(100_000))
        clock.advance(days=15)
        ledger.process_due()
        ledger.pay_commissions(an, "PAY-1")
        ledger.return_purchase(binh, "HD-3")
    return str(path)


def test_vouchers_lists_them_with_their_uses(
    shop_db: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, err = run(capsys, "vouchers", "--db", shop_db)
    assert (0, "") == (code, err)
    assert "TET2026" in out and "2 of 3" in out and "10% (at most 100,000)" in out
    code, out, _ = run(capsys, "vouchers", "--format", "json", "--db", shop_db)
    rows = json.loads(out)
    assert [(r["code"], r["used"], r["usage_limit"]) for r in rows] == [
        ("TET2026", 2, 3),
        ("VIP10", 0, None),
    ]
    assert rows[1]["percent"] == "10" and rows[1]["customer_tags"] == "vip"
    code, out, _ = run(capsys, "vouchers", "--format", "csv", "--db", shop_db)
    assert [(r["code"], r["used"]) for r in csv.DictReader(io.StringIO(out))] == [
        ("TET2026", "2"),
        ("VIP10", "0"),
    ]
    target = tmp_path / "vouchers.xlsx"
    assert 0 == run(capsys, "vouchers", "--to", str(target), "--db", shop_db)[0]
    sheet = load_workbook(target).active
    assert sheet is not None
    values = list(sheet.iter_rows(values_only=True))
    assert values[0][0] == "code" and values[0][-1] == "used"
    assert [(v[0], v[1], v[-1]) for v in values[1:]] == [("TET2026", 50_000, 2), ("VIP10", None, 0)]


def test_commissions_lists_a_referrers_lines_by_status(
    shop_db: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, err = run(capsys, "commissions", "POS-1", "--db", shop_db)
    assert (0, "") == (code, err)
    # Paid: 16,500 + 12,500 + 5,000; the return of HD-3 after the payout left -5,000.
    assert "Commissions of Nguyễn Văn An: due -5,000, paid 34,000" in out
    assert "Trần Thị Bình" in out
    code, out, _ = run(capsys, "commissions", "0912000001", "--format", "json", "--db", shop_db)
    rows = json.loads(out)
    # 5% of what was payable: 400,000 - 50,000 - 20,000; 300,000 - 50,000; 100,000.
    assert [(r["invoice_id"], r["amount"], r["commission"], r["status"]) for r in rows] == [
        ("HD-1", "330000", "16500", "paid"),
        ("HD-2", "250000", "12500", "paid"),
        ("HD-3", "100000", "5000", "paid"),
        (rows[3]["invoice_id"], "100000", "-5000", "due"),
    ]
    # Before the payout and the maturity, everything was pending.
    code, out, _ = run(
        capsys, "commissions", "POS-1", "--as-of", "2026-03-02", "--format", "csv", "--db", shop_db
    )
    assert {r["status"] for r in csv.DictReader(io.StringIO(out))} == {"pending"}
    target = tmp_path / "commissions.csv"
    assert 0 == run(capsys, "commissions", "POS-1", "--to", str(target), "--db", shop_db)[0]
    assert target.read_text("utf-8-sig").splitlines()[0] == (
        "invoice_id,customer_id,amount,commission,status,due_at"
    )
    code, _, err = run(capsys, "commissions", "POS-404", "--db", shop_db)
    assert code != 0 and "POS-404" in err
    # `export` writes the same rows as the other tables.
    target = tmp_path / "exported.xlsx"
    assert (
        0 == run(capsys, "export", "commissions", "POS-1", "--to", str(target), "--db", shop_db)[0]
    )
    sheet = load_workbook(target).active
    assert sheet is not None
    assert [v[0] for v in sheet.iter_rows(values_only=True)][:3] == ["invoice_id", "HD-1", "HD-2"]
    code, _, err = run(capsys, "export", "commissions", "--to", str(target), "--db", shop_db)
    assert code == 2 and "needs the customer" in err
    target = tmp_path / "exported.csv"
    assert 0 == run(capsys, "export", "vouchers", "--to", str(target), "--db", shop_db)[0]
    assert "TET2026" in target.read_text("utf-8-sig")


# --- import vouchers -------------------------------------------------------------


def write_xlsx(path: Path, rows: list[list[Any]]) -> Path:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    book.save(path)
    return path


VIETNAMESE: list[list[Any]] = [
    ["Mã voucher", "Giảm giá", "Giảm tối đa", "Giá trị đơn hàng", "Ngày bắt đầu",
     "Ngày kết thúc", "Kho áp dụng", "Thẻ khách hàng", "Kích hoạt", "Miễn phí vận chuyển",
     "Số lượt sử dụng", "Số lượt mỗi khách"],
    ["tet2027", "50.000 đ", None, 300000, "20/01/2027", "2027-02-20", "Kho Hà Nội; Kho HCM",
     None, "Có", "không", 100, 1],
    ["VIP15", "15%", "100,000", None, datetime(2027, 1, 1), None, None, "vip, thân thiết",
     "x", "có", None, None],
    ["BAD CODE", 10000, None, None, None, None, None, None, None, None, None, None],
    ["HALF", "10%", None, None, "01/03/2027", "01/02/2027", None, None, None, None, None, None],
    ["ONOFF", 5000, None, None, None, None, None, None, "maybe", None, None, None],
    ["MANY", 5000, None, None, None, None, None, None, None, None, "nhiều", None],
]  # fmt: skip


def test_import_vouchers_reads_vietnamese_headers_and_refuses_rows_with_reasons(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = str(tmp_path / "shop.db")
    sheet = write_xlsx(tmp_path / "vouchers.xlsx", VIETNAMESE)
    code, out, err = run(capsys, "import", "vouchers", str(sheet), "--db", db)
    assert code == 0 and "4 row(s) rejected" in err
    assert "6 rows; 2 created, 0 updated, 0 unchanged, 4 rejected" in out
    assert "row 4 rejected: code may hold only letters" in out
    assert "row 5 rejected: voucher HALF: ends_at" in out
    assert "row 6 rejected: active must be True or False, not 'maybe'" in out
    assert "row 7 rejected: usage_limit must be an int, not 'nhiều'" in out
    with Ledger.open(f"sqlite:///{db}") as ledger:
        tet, vip = ledger.get_voucher("TET2027"), ledger.get_voucher("vip15")
        assert [v.code for v in ledger.vouchers()] == ["TET2027", "VIP15"]
    assert (tet.discount, tet.min_order, tet.usage_limit, tet.per_customer_limit) == (
        Decimal(50_000), Decimal(300_000), 100, 1,
    )  # fmt: skip
    assert tet.starts_at == datetime(2027, 1, 20, tzinfo=ICT)
    assert tet.ends_at == datetime(2027, 2, 20, tzinfo=ICT)
    assert tet.warehouses == frozenset({"Kho Hà Nội", "Kho HCM"})
    assert (tet.active, tet.free_shipping, tet.customer_tags) == (True, False, None)
    assert (vip.percent, vip.max_discount, vip.discount) == (Decimal(15), Decimal(100_000), None)
    assert vip.customer_tags == frozenset({"vip", "thân thiết"}) and vip.free_shipping
    assert vip.starts_at == datetime(2027, 1, 1, tzinfo=ICT)
    # The same sheet again: nothing new.
    before = events(Path(db))
    code, out, _ = run(capsys, "import", "vouchers", str(sheet), "--db", db, "--strict")
    assert code == 1 and "0 created, 0 updated, 2 unchanged, 4 rejected" in out
    assert events(Path(db)) == before


def test_import_vouchers_refuses_other_settings_unless_told_to_update(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = str(tmp_path / "shop.db")
    first = tmp_path / "v1.csv"
    first.write_text("code,discount,usage_limit\nSALE,10000,5\n", encoding="utf-8")
    assert 0 == run(capsys, "import", "vouchers", str(first), "--db", db)[0]
    second = tmp_path / "v2.csv"
    second.write_text("code,discount,usage_limit\nsale,20000,5\n", encoding="utf-8")
    code, out, _ = run(capsys, "import", "vouchers", str(second), "--db", db, "--strict")
    assert code == 1
    assert "row 2 rejected: voucher 'SALE' exists with other settings (discount)" in out
    code, out, _ = run(capsys, "import", "vouchers", str(second), "--db", db, "--update")
    assert (code, "1 updated" in out) == (0, True)
    with Ledger.open(f"sqlite:///{db}") as ledger:
        assert ledger.get_voucher("SALE").discount == 20_000
    # The first sheet is still what the voucher was created with: nothing new.
    code, out, _ = run(capsys, "import", "vouchers", str(first), "--db", db)
    assert "1 unchanged" in out


def test_vouchers_written_to_a_sheet_import_back_unchanged(
    shop_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("vouchers.xlsx", "vouchers.csv"):
        target = tmp_path / name
        assert 0 == run(capsys, "vouchers", "--to", str(target), "--db", shop_db)[0]
        before = events(Path(shop_db))
        code, out, _ = run(capsys, "import", "vouchers", str(target), "--db", shop_db, "--strict")
        assert (code, "2 unchanged" in out) == (0, True), out
        assert events(Path(shop_db)) == before


def test_import_vouchers_bad_sheets(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = str(tmp_path / "shop.db")
    sheet = tmp_path / "v.csv"
    sheet.write_text("Mã voucher,Màu\nA,đỏ\n", encoding="utf-8")
    code, _, err = run(capsys, "import", "vouchers", str(sheet), "--db", db)
    assert code == 1 and "unknown column(s) 'Màu'" in err
    code, out, _ = run(capsys, "import", "vouchers", str(sheet), "--map", "Màu=-", "--db", db)
    assert code == 0 and "row 2 rejected: voucher A: give exactly one of discount" in out
    assert not Path(db).exists()  # nothing recorded, no ledger file left behind
    sheet.write_text("code,Giảm giá,discount\nA,1,2\n", encoding="utf-8")
    code, _, err = run(capsys, "import", "vouchers", str(sheet), "--db", db)
    assert code == 1 and "both hold discount" in err
    code, _, err = run(capsys, "import", "customers", str(sheet), "--update", "--db", db)
    assert code == 2 and "--update is for vouchers only" in err
    argv = ["import", "vouchers", str(sheet), "--on-duplicate-phone", "skip", "--db", db]
    code, _, err = run(capsys, *argv)
    assert code == 2 and "--on-duplicate-phone is for customers only" in err


def test_import_vouchers_on_every_store(ledger: Ledger) -> None:
    rows: list[dict[str, object]] = [
        {"code": "A", "discount": Decimal(1000)},
        {"code": "B", "percent": 5, "usage_limit": 0},  # a limit of 0 is refused
        {"code": "a", "discount": 1000},  # the same as row 1
        {"code": "C", "discount": 1000, "colour": "red"},
        {"code": "D", "percent": Decimal(5), "active": False},
    ]
    start = ledger.event_count()
    report = ledger.import_vouchers(rows)
    assert (report.created, report.unchanged) == (2, 1)
    assert ledger.event_count() == start + 2  # one event a voucher; none for the rest
    assert [n for n, _ in report.rejected] == [2, 4]
    assert "colour" in report.rejected[1][1]
    assert [v.code for v in ledger.vouchers()] == ["A", "D"]
    before = ledger.event_count()
    assert ledger.import_vouchers(rows).unchanged == 3
    assert ledger.event_count() == before
    # Rows in batches of 500: a refused row amid them records nothing either.
    many = [{"code": f"M{n}", "discount": 1000 if n != 700 else -1} for n in range(1200)]
    report = ledger.import_vouchers(many)
    assert (report.created, [n for n, _ in report.rejected]) == (1199, [701])
    assert ledger.event_count() == before + 1199
    with pytest.raises(InvalidInput):
        ledger.import_vouchers({"code": "X"})  # type: ignore[dict-item]


def test_import_vouchers_reads_sheet_rows_with_a_mapping(ledger: Ledger) -> None:
    """What a host's upload handler hands over: {header: cell}, read as the CLI reads a file."""
    rows: list[dict[str, object]] = [
        {"Mã voucher": "he2026", "Giảm giá": "10%", "Giảm tối đa": "50.000 đ", "Ghi chú": "x"},
        {"Mã voucher": "SALE", "Giảm giá": 20_000.0, "Kích hoạt": "không", "Ghi chú": None},
        {"Mã voucher": "BAD", "Giảm giá": "nhiều", "Ghi chú": None},
    ]
    report = ledger.import_vouchers(rows, mapping={"Ghi chú": "-"})
    assert (report.created, [(n, r) for n, r in report.rejected]) == (
        2,
        [(3, "discount is not a number: 'nhiều'")],
    )
    he, sale = ledger.get_voucher("HE2026"), ledger.get_voucher("SALE")
    assert (he.percent, he.max_discount, he.discount) == (Decimal(10), Decimal(50_000), None)
    assert (sale.discount, sale.active) == (Decimal(20_000), False)
    # Without the mapping the note column is unknown: every row says so, nothing recorded.
    before = ledger.event_count()
    report = ledger.import_vouchers(rows, mapping={})
    assert {r for _, r in report.rejected} == {"unknown column(s) 'Ghi chú'"}
    assert ledger.event_count() == before
    with pytest.raises(InvalidInput):
        ledger.import_vouchers(rows, mapping={"Ghi chú": "colour"})


def test_voucher_sheet_cells_read_as_a_person_types_them() -> None:
    """`policies.voucher_rows`: what `import_vouchers(rows, mapping=...)` makes of each cell."""
    row = {
        "Mã voucher": "'=A1",  # an export's escape before a formula start, undone
        "Phần trăm giảm": "12.5%",  # a percentage in the percent column
        "Giá trị đơn hàng": "300.000 đ",
        "Số lượt sử dụng": 5.0,  # a count a spreadsheet kept as a float
        "Số lượt mỗi khách": 1.5,  # not a count: passed on, for the voucher to refuse
        "Kho áp dụng": ";",  # no name in it: passed on as typed
        "Thẻ khách hàng": "vip; sỉ\nlẻ",
        None: "a column with no header says nothing",
    }
    assert voucher_sheet_row(row, {}, ICT) == {
        "code": "=A1",
        "percent": Decimal("12.5"),
        "min_order": Decimal(300_000),
        "usage_limit": 5,
        "per_customer_limit": Decimal("1.5"),
        "warehouses": ";",
        "customer_tags": ["vip", "sỉ", "lẻ"],
    }
    assert type(voucher_sheet_row(row, {}, ICT)["usage_limit"]) is int
    # A "%" is a percentage in the discount and percent columns only.
    assert voucher_sheet_row({"code": "A", "min_order": "100.000%"}, {}, ICT) == {
        "code": "A",
        "min_order": "100.000%",
    }
    assert voucher_sheet_row({"code": "A", "percent": 12.5}, {}, ICT)["percent"] == Decimal("12.5")
    # A discount of "10%" beside a percent of its own is not guessed at: the voucher
    # refuses the row (it has both a discount and a percent).
    both = voucher_sheet_row({"code": "A", "discount": "10%", "percent": "5"}, {}, ICT)
    assert both == {"code": "A", "discount": "10%", "percent": Decimal(5)}


def test_voucher_sheet_dates_are_read_in_business_time() -> None:
    """Dates typed day/month/year (with or without a time), or a date cell, are in the
    business zone; a cell with an offset of its own keeps it."""
    own = datetime(2026, 3, 31, 14, 30, tzinfo=UTC)
    row = {"code": "A", "Ngày bắt đầu": datetime(2026, 3, 1).date(), "ends_at": "31/03/2026 21:30"}
    assert voucher_sheet_row(row, {}, ICT) == {
        "code": "A",
        "starts_at": datetime(2026, 3, 1, tzinfo=ICT),
        "ends_at": datetime(2026, 3, 31, 21, 30, tzinfo=ICT),
    }
    row = {"code": "A", "starts_at": "1/3/2026", "ends_at": own}
    assert voucher_sheet_row(row, {}, ICT) == {
        "code": "A",
        "starts_at": datetime(2026, 3, 1, tzinfo=ICT),
        "ends_at": own,
    }
    naive = voucher_sheet_row({"code": "A", "starts_at": datetime(2026, 3, 1, 8)}, {}, ICT)
    assert naive["starts_at"] == datetime(2026, 3, 1, 8, tzinfo=ICT)


def test_a_voucher_mapping_names_fields_and_refuses_bad_pairs_naming_them() -> None:
    assert check_voucher_mapping(
        {"Voucher code": "code", "Đã sử dụng": "used", "Ghi chú": "-"}
    ) == {
        "Voucher code": "code",
        "Đã sử dụng": "used",
        "Ghi chú": "-",
    }
    for column in (5, "  "):
        with pytest.raises(InvalidInput, match=f"a column must be a non-empty str, not {column!r}"):
            check_voucher_mapping({column: "code"})
    with pytest.raises(InvalidInput, match="'Màu': 'colour' is not a field"):
        check_voucher_mapping({"Màu": "colour"})


def test_a_voucher_row_or_mapping_that_is_not_a_mapping_is_refused_naming_it() -> None:
    with pytest.raises(InvalidInput, match=r"a row must be a mapping .*, not \['A'\]"):
        voucher_sheet_row(["A"], {}, ICT)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match=r"mapping must be a mapping .*, not \['code'\]"):
        check_voucher_mapping(["code"])
