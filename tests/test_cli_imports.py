"""`referral-ledger import` names every row it did not create (issue 18), writes them
to `--report`, leaves no ledger behind when it fails, and reads what
`export --headers vi` writes."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from openpyxl import load_workbook

from cli_support import events, run
from referral_ledger import Ledger
from referral_ledger import demo as scenario
from referral_ledger.policies.sheet_rows import VI_HEADERS

#: The host developer's file: a walk-in row without a POS code holds a phone
#: that later rows with codes give too.
STORY = (
    "Mã KH,Họ tên,Điện thoại\n"
    ",Khách lẻ,0911 000 001\n"
    "KH-017,Nguyễn Văn An,0911000001\n"
    "KH-018,Trần Thị Bình,0911000002\n"
    "KH-019,Lê Văn Cường,0911000001\n"
)
MAP = ["--map", "Mã KH=external_id", "--map", "Họ tên=name", "--map", "Điện thoại=phones"]


def read_csv(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8-sig"))))


def test_skipped_rows_are_named_on_screen_and_in_the_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sheet, report, db = tmp_path / "kh.csv", tmp_path / "report.csv", tmp_path / "shop.db"
    sheet.write_text(STORY, encoding="utf-8")
    code, out, err = run(capsys, "import", "customers", str(sheet), "--db", str(db), *MAP,
                         "--on-duplicate-phone", "skip", "--report", str(report))  # fmt: skip
    assert 0 == code
    lines = out.splitlines()
    assert f"{sheet}: 4 rows; 2 created, 0 updated, 0 unchanged, 2 skipped, 0 rejected" == lines[0]
    # Numbered as in the file (the header is row 1), with the POS id left out.
    assert lines[1].startswith("  row 3 skipped: phone +84911000001 belongs to customer ")
    assert "'KH-017'" in lines[1] and "'Khách lẻ'" in lines[1]
    assert lines[2].startswith("  row 5 skipped: ") and "'KH-019'" in lines[2]
    assert "2 row(s) skipped" in err
    with Ledger.open(f"sqlite:///{db}") as ledger:
        walk_in = ledger.find_customer_by_phone("0911000001")
    written = read_csv(report)
    assert [("3", "skipped"), ("5", "skipped")] == [(r["row"], r["outcome"]) for r in written]
    assert {(str(walk_in), "phone", "+84911000001")} == {
        (r["customer_id"], r["matched_by"], r["matched"]) for r in written
    }
    # Again: KH-018 is unchanged, the walk-in row matches its own phone (skipped),
    # and the report lists every row.
    code, out, _ = run(capsys, "import", "customers", str(sheet), "--db", str(db), *MAP,
                       "--on-duplicate-phone", "skip", "--report", str(report))  # fmt: skip
    assert "0 created, 0 updated, 1 unchanged, 3 skipped" in out
    assert ["2", "3", "4", "5"] == [r["row"] for r in read_csv(report)]
    code, out, _ = run(capsys, "import", "customers", str(sheet), "--db", str(db), *MAP,
                       "--on-duplicate-phone", "skip")  # fmt: skip
    assert "  1 unchanged row(s) not listed: --report FILE.csv lists every row" in out


def test_rows_fighting_over_a_phone_under_update_are_conflicts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sheet, db, report = tmp_path / "kh.csv", tmp_path / "shop.db", tmp_path / "r.xlsx"
    sheet.write_text("name,phones\nAn,0911000001\nDung,0911 000 001\n", encoding="utf-8")
    args = ["import", "customers", str(sheet), "--db", str(db), "--on-duplicate-phone", "update"]
    code, out, err = run(capsys, *args, "--strict", "--report", str(report))
    assert 1 == code  # --strict: a conflict is a row that recorded nothing
    assert "1 created, 0 updated, 0 unchanged, 0 skipped, 1 conflicts, 0 rejected" in out
    assert "  row 3 conflict (with row 2): an earlier row with phone +84911000001" in out
    assert "1 row(s) conflict" in err
    rows = list(load_workbook(report).worksheets[0].iter_rows(values_only=True))
    assert ("row", "outcome", "customer_id", "matched_by", "matched", "other_row") == rows[0][:6]
    assert (3, "conflict", None, "phone", "+84911000001", 2) == rows[1][:6]
    before = events(db)
    assert 0 == run(capsys, *args)[0]
    assert before == events(db)  # the name does not flip back and forth


def test_a_report_that_is_not_a_sheet_is_refused_before_anything_is_created(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sheet, db = tmp_path / "kh.csv", tmp_path / "shop.db"
    sheet.write_text("name,phones\nAn,0911000001\n", encoding="utf-8")
    code, _, err = run(capsys, "import", "customers", str(sheet), "--db", str(db),
                       "--report", str(tmp_path / "r.txt"))  # fmt: skip
    assert 2 == code and "--report" in err
    assert not db.exists()


def test_a_first_import_with_unmapped_headers_leaves_no_ledger_and_no_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 18: it left an empty 77 KB ledger behind."""
    sheet, db, report = tmp_path / "kh.csv", tmp_path / "shop.db", tmp_path / "r.csv"
    sheet.write_text("Tên,SĐT\nAn,0911000001\n", encoding="utf-8")
    code, out, err = run(capsys, "import", "customers", str(sheet), "--db", str(db),
                         "--report", str(report))  # fmt: skip
    assert (1, "") == (code, out)
    assert "unknown column(s) 'Tên', 'SĐT'; map them with --map" in err
    assert [sheet] == list(tmp_path.iterdir())
    # Every row refused: nothing recorded, so no ledger either.
    sheet.write_text("name,phones\nAn,not a phone\n", encoding="utf-8")
    code, out, _ = run(capsys, "import", "customers", str(sheet), "--db", str(db))
    assert "1 rejected" in out
    assert not db.exists()


# --- export --headers vi ---------------------------------------------------------------


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    path = tmp_path / "shop.db"
    with Ledger.open(f"sqlite:///{path}") as ledger:
        ledger.configure_loyalty(scenario.LOYALTY)
        an = ledger.register_customer(
            "Nguyễn Văn An", ["0911 000 001", "0911 000 011"], email="an@example.vn",
            group="retail", tags=["vip", "sỉ, lẻ"], external_id="KH-1",
            addresses=["12 Lý Thái Tổ, Hoàn Kiếm, Hà Nội"], notes="=gọi trước",
        )  # fmt: skip
        ledger.register_customer("Phạm Thị Dung", ["0911 000 002"])
        ledger.record_purchase(an, "HD-1", 1_059_000)
    return path


def details(db: Path) -> list[tuple[object, ...]]:
    with Ledger.open(f"sqlite:///{db}") as ledger:
        result: list[tuple[object, ...]] = []
        for phone in ("0911000001", "0911000002"):
            found = ledger.find_customer_by_phone(phone)
            assert found is not None
            c = ledger.get_customer(found)
            result.append((c.name, c.phones, c.email, c.group, c.tags, c.external_id, c.notes,
                           c.addresses, ledger.balance(found)))  # fmt: skip
        return result


@pytest.mark.parametrize("suffix", ["csv", "xlsx"])
def test_an_export_with_vietnamese_headers_imports_back_unchanged(
    shop: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], suffix: str
) -> None:
    people, sales = tmp_path / f"kh.{suffix}", tmp_path / f"hd.{suffix}"
    for kind, target in (("customers", people), ("purchases", sales)):
        code, _, _ = run(capsys, "export", kind, "--to", str(target), "--db", str(shop),
                         "--headers", "vi")  # fmt: skip
        assert 0 == code
    if suffix == "csv":
        header = people.read_text(encoding="utf-8-sig").splitlines()[0].split(",")
        names = VI_HEADERS["customers"]
        assert [names[f] for f in ("external_id", "name", "phones")] == header[:3]
    fresh = tmp_path / "fresh.db"
    code, out, err = run(capsys, "import", "customers", str(people), "--db", str(fresh))
    assert (0, "") == (code, err), out
    assert "2 created, 0 updated, 0 unchanged, 0 skipped, 0 rejected" in out
    with Ledger.open(f"sqlite:///{fresh}") as ledger:
        ledger.configure_loyalty(scenario.LOYALTY)
    code, out, _ = run(capsys, "import", "purchases", str(sales), "--db", str(fresh))
    assert 0 == code and "; 1 recorded, 105 points earned, 0 already recorded" in out
    assert details(shop) == details(fresh)
    # Into the ledger it came from: nothing new.
    before = events(shop)
    code, out, _ = run(capsys, "import", "customers", str(people), "--db", str(shop),
                       "--on-duplicate-phone", "skip")  # fmt: skip
    assert "0 created, 0 updated, 1 unchanged, 1 skipped" in out
    code, out, _ = run(capsys, "import", "purchases", str(sales), "--db", str(shop))
    assert "0 recorded, 0 points earned, 1 already recorded" in out
    assert before == events(shop)


def test_vietnamese_headers_are_only_for_the_tables_import_reads(
    shop: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "leads.csv"
    code, _, err = run(capsys, "export", "leads", "--to", str(target), "--db", str(shop),
                       "--headers", "vi")  # fmt: skip
    assert 2 == code and "--headers vi" in err
    assert not target.exists()
