"""The `referral-ledger` command, driven through `main(argv)` on temporary SQLite files,
plus one run of the installed script and one of `python -m referral_ledger`."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import sqlite3
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from openpyxl import Workbook, load_workbook

from referral_ledger import Ledger
from referral_ledger import demo as scenario
from referral_ledger.cli import main
from support import Clock

LEADS = {
    "Đặng Quốc Bảo": "submitted",
    "Võ Thị Thu": "in_progress",
    "Hoàng Văn Em": "rewarded",
    "Bùi Thị Giang": "ineligible",
    "Ngô Thanh Hải": "rewarded",
}


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Exit code, stdout and stderr of one command."""
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def copy_ledger(source: Path, target: Path) -> Path:
    """A consistent copy through SQLite's online backup API (never a bare file copy)."""
    with (
        contextlib.closing(sqlite3.connect(source)) as src,
        contextlib.closing(sqlite3.connect(target)) as dst,
    ):
        src.backup(dst)
    return target


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A ledger file the demo wrote, and what the demo printed."""
    path = tmp_path_factory.mktemp("cli") / "demo.db"
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert 0 == main(["demo", "--db", str(path)])
    return path, out.getvalue()


@pytest.fixture
def demo_db(demo_run: tuple[Path, str], tmp_path: Path) -> Path:
    """A private copy of the demo ledger, for tests that change it."""
    return copy_ledger(demo_run[0], tmp_path / "ledger.db")


def events(path: Path) -> int:
    with Ledger.open(f"sqlite:///{path}") as ledger:
        return ledger.event_count()


# --- demo ------------------------------------------------------------------------------


def test_demo_prints_every_lead_with_its_status(demo_run: tuple[Path, str]) -> None:
    _, out = demo_run
    rows = {line.split("│")[2].strip(): line.split("│")[6].strip() for line in lead_lines(out)}
    assert LEADS == rows


def lead_lines(out: str) -> list[str]:
    table = out.split("Referral history")[0]
    return [line for line in table.splitlines() if line.startswith("│ 2025-")]


def test_demo_prints_the_referral_history_and_a_points_statement(
    demo_run: tuple[Path, str],
) -> None:
    path, out = demo_run
    lines = out.splitlines()
    assert f"Ledger: {path}" == lines[0]
    assert "Referral history of Nguyễn Minh Anh" in out
    history = [line for line in lines if "Quán cà phê Hải Âu" in line and "pro" in line]
    assert 1 == len(history)
    assert ["pro", "6,680,000", "500,000"] == [c.strip() for c in history[0].split("│")[4:7]]
    assert "Points statement of Lê Văn Cường (+84903111222): balance 448, tier VIP" in out
    statement = [
        [c.strip() for c in line.split("│")[2:7]]
        for line in lines
        if ("INV-" in line or "RDM-" in line) and "Đỗ Thị Hoa" not in line  # not commissions
    ]
    assert [
        ["earn", "INV-0001", "2,350,000", "+235", "235"],
        ["earn", "INV-0002", "3,480,000", "+348", "583"],
        ["redeem", "RDM-0001", "100,000", "-100", "483"],
        ["return", "INV-0001", "350,000", "-35", "448"],
    ] == statement


def test_demo_twice_records_nothing(demo_db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = events(demo_db)
    code, out, _ = run(capsys, "demo", "--db", str(demo_db))
    assert 0 == code
    assert before == events(demo_db)
    assert f"0 new events recorded, {before} in the log" in out


# --- queries ---------------------------------------------------------------------------


def test_leads_filters_by_status_as_json(
    demo_run: tuple[Path, str], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "leads", "--db", str(demo_run[0]), "--status", "rewarded",
                       "--format", "json")  # fmt: skip
    assert 0 == code
    rows = json.loads(out)
    assert {"Hoàng Văn Em", "Ngô Thanh Hải"} == {row["name"] for row in rows}
    assert {"rewarded"} == {row["status"] for row in rows}
    assert {"200000", "500000"} == {row["reward"] for row in rows}


def test_leads_search_ignores_accents_and_csv_has_every_column(
    demo_run: tuple[Path, str], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "leads", "--db", str(demo_run[0]), "--search", "dang",
                       "--format", "csv")  # fmt: skip
    assert 0 == code
    rows = list(csv.DictReader(io.StringIO(out)))
    assert ["Đặng Quốc Bảo"] == [row["name"] for row in rows]
    assert "+84977100200" == rows[0]["phone"]
    assert "Nhà sách Bảo An" == rows[0]["business_name"]


def test_leads_sort_ascending_with_limit_and_offset(
    demo_run: tuple[Path, str], capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--sort", "name", "--asc", "--limit", "2", "--offset", "1", "--program", "pos"]
    code, out, _ = run(capsys, "leads", "--db", str(demo_run[0]), *argv, "--format", "json")
    assert 0 == code
    # pos leads by name, accents folded: Bùi, Đặng, Ngô, Võ; the second and third.
    assert ["Đặng Quốc Bảo", "Ngô Thanh Hải"] == [row["name"] for row in json.loads(out)]


@pytest.mark.parametrize("who", ["POS-C001", "0912 345 678", "+84912345678"])
def test_history_finds_the_referrer_by_external_id_or_phone(
    demo_run: tuple[Path, str], capsys: pytest.CaptureFixture[str], who: str
) -> None:
    code, out, _ = run(capsys, "history", who, "--db", str(demo_run[0]), "--format", "json")
    assert 0 == code
    rows = json.loads(out)
    assert [("Ngô Thanh Hải", "pro", "6680000", "500000")] == [
        (row["name"], row["plan"], row["revenue"], row["reward"]) for row in rows
    ]


def test_statement_finds_the_customer_by_id(
    demo_run: tuple[Path, str], capsys: pytest.CaptureFixture[str]
) -> None:
    with Ledger.open(f"sqlite:///{demo_run[0]}") as ledger:
        customer = ledger.find_customer_by_external_id("POS-C005")
    code, out, _ = run(capsys, "statement", str(customer), "--db", str(demo_run[0]),
                       "--format", "csv")  # fmt: skip
    assert 0 == code
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [("earn", "520", "520"), ("earn", "148", "668"), ("redeem", "-200", "468")] == [
        (row["kind"], row["points"], row["balance"]) for row in rows
    ]


def test_conversion_counts_leads_contacts_and_customers_per_rep(
    demo_run: tuple[Path, str], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "conversion", "--db", str(demo_run[0]), "--since", "2025-03-01",
                       "--until", "2025-04-01", "--format", "json")  # fmt: skip
    assert 0 == code
    assert [("rep-01", 2, 2, 1), ("rep-02", 1, 1, 1), (None, 2, 0, 0)] == [
        (row["rep"], row["leads"], row["contacts"], row["customers"]) for row in json.loads(out)
    ]
    code, out, _ = run(capsys, "conversion", "--db", str(demo_run[0]), "--until", "2025-03-01")
    assert 0 == code
    assert "(none)" in out


# --- errors ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "the following arguments are required: COMMAND"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
        (["leads", "--limit", "0"], "argument --limit: must be at least 1: '0'"),
        (["leads", "--status", "won"], "argument --status: invalid choice: 'won'"),
        (["leads", "--format", "xml"], "argument --format: invalid choice: 'xml'"),
        (["conversion", "--since", "yesterday"], "argument --since: not an ISO date or time"),
        (["history"], "the following arguments are required: REFERRER"),
        (["export", "leads", "--to", "x.pdf"], "the file must end in .xlsx or .csv"),
        (["export", "statement", "--to", "x.csv"], "export statement needs the customer"),
        (["import", "customers", "x.csv", "--map", "Tên"], "--map wants COLUMN=FIELD"),
        (["import", "customers", "x.csv", "--map", "Tên=surname"], "'surname' is not a field"),
    ],
)
def test_bad_arguments_print_one_line_and_exit_2(
    demo_run: tuple[Path, str], capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    db = ["--db", str(demo_run[0])] if argv else []
    code, out, err = run(capsys, *argv, *db)
    assert 2 == code
    assert "" == out
    assert 1 == len(err.splitlines()), err
    assert err.startswith("referral-ledger")
    assert message in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["statement", "POS-404"], "no customer with id, external id or phone 'POS-404'"),
        (["history", "0999 999 999"], "no customer with id, external id or phone '0999 999 999'"),
        (
            ["statement", "6f1c2e1a-0000-4000-8000-000000000000"],
            "no customer with id 6f1c2e1a-0000-4000-8000-000000000000",
        ),
        (["import", "customers", "missing.csv"], "no such file: missing.csv"),
    ],
)
def test_unknown_ids_and_files_print_one_line_and_exit_1(
    demo_run: tuple[Path, str], capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code, out, err = run(capsys, *argv, "--db", str(demo_run[0]))
    assert 1 == code
    assert "" == out
    assert f"referral-ledger: error: {message}\n" == err


def test_a_missing_ledger_file_is_not_created_by_a_query(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "typo.db"
    code, _, err = run(capsys, "leads", "--db", str(path))
    assert 1 == code
    assert err.startswith(f"referral-ledger: error: no ledger at {path}: run ")
    assert not path.exists()


def test_a_damaged_event_makes_queries_fail_with_one_line(
    demo_db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    position = tamper(demo_db, "PointsEarned")  # INV-0008 of POS-C006 (demo_sales)
    code, _, err = run(capsys, "statement", "POS-C006", "--db", str(demo_db))
    assert 1 == code
    assert 1 == len(err.splitlines())
    assert "the ledger has an event it cannot read" in err
    assert position > 0


# --- import ------------------------------------------------------------------------------


def write_xlsx(path: Path, rows: list[list[object]]) -> Path:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    book.save(path)
    return path


CUSTOMER_SHEET: list[list[object]] = [
    ["Mã KH", "Họ tên", "Điện thoại", "Email", "Nhóm", "Ghi chú nội bộ"],
    ["KH-001", "Trịnh Văn Khoa", "0911 000 001", "khoa@example.vn", "retail", "x"],
    ["KH-002", "Lý Thị Lan", 911000002, None, "retail", None],
    ["KH-003", "Mai Văn Minh", "not a phone", None, None, None],
    ["KH-004", "Đỗ Thị Ngọc", "0911 000 004", "ngoc@example", None, None],
    [None, None, None, None, None, None],
    ["KH-005", "Tô Văn Phúc", "0911 000 005", None, "vip", None],
]
CUSTOMER_MAP = [
    *("--map", "Mã KH=external_id", "--map", "Họ tên=name", "--map", "Điện thoại=phones"),
    *("--map", "Email=email", "--map", "Nhóm=group", "--map", "Ghi chú nội bộ=-"),
]


def test_import_customers_reports_bad_rows_and_imports_the_rest(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sheet = write_xlsx(tmp_path / "khach-hang.xlsx", CUSTOMER_SHEET)
    db = str(tmp_path / "shop.db")
    code, out, err = run(capsys, "import", "customers", str(sheet), "--db", db, *CUSTOMER_MAP,
                         "--batch-size", "2")  # fmt: skip
    assert 0 == code
    lines = out.splitlines()
    assert f"{sheet}: 5 rows; 3 created, 0 updated, 0 unchanged, 0 skipped, 2 rejected" == lines[0]
    # Numbered as in the spreadsheet: the header is row 1.
    assert [4, 5] == [int(line.split()[1]) for line in lines[1:]]
    assert "not a phone" in lines[1]
    assert "ngoc@example" in lines[2]
    assert err.startswith("referral-ledger: warning: 2 row(s) rejected")
    with Ledger.open(f"sqlite:///{db}") as ledger:
        lan = ledger.find_customer_by_external_id("KH-002")
        assert lan is not None
        assert ("+84911000002",) == ledger.get_customer(lan).phones
        assert ledger.find_customer_by_external_id("KH-003") is None


def test_import_customers_twice_records_nothing_new(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sheet = write_xlsx(tmp_path / "khach-hang.xlsx", CUSTOMER_SHEET)
    db = tmp_path / "shop.db"
    assert 0 == run(capsys, "import", "customers", str(sheet), "--db", str(db), *CUSTOMER_MAP)[0]
    before = events(db)
    code, out, _ = run(capsys, "import", "customers", str(sheet), "--db", str(db), *CUSTOMER_MAP,
                       "--strict")  # fmt: skip
    assert 1 == code  # --strict: the two bad rows are still bad
    assert "0 created, 0 updated, 3 unchanged, 0 skipped, 2 rejected" in out
    assert before == events(db)


def test_import_purchases_from_csv_and_again(
    demo_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sheet = tmp_path / "hoa-don.csv"
    sheet.write_text(
        "Khách,Số HĐ,Tổng tiền,Điểm dùng,Ngày\n"
        "POS-C004,INV-1001,1500000,0,2025-04-01 10:00\n"
        "POS-C004,INV-1002,abc,0,2025-04-02T10:00:00+07:00\n"
        "POS-C404,INV-1003,100000,0,2025-04-03\n"
        "POS-C003,INV-0002,3480000,0,2025-03-10\n",
        encoding="utf-8-sig",
    )
    mapping = [
        *("--map", "Khách=external_id", "--map", "Số HĐ=invoice_id", "--map", "Tổng tiền=amount"),
        *("--map", "Điểm dùng=points_used", "--map", "Ngày=at"),
    ]
    code, out, _ = run(capsys, "import", "purchases", str(sheet), "--db", str(demo_db), *mapping)
    assert 0 == code
    lines = out.splitlines()
    assert (
        f"{sheet}: 4 rows; 1 recorded, 150 points earned, 1 already recorded, 2 rejected"
        == (lines[0])
    )
    assert ["3", "4"] == [line.split()[1] for line in lines[1:]]
    assert "abc" in lines[1]
    assert "POS-C404" in lines[2]
    before = events(demo_db)
    code, out, _ = run(capsys, "import", "purchases", str(sheet), "--db", str(demo_db), *mapping)
    assert "0 recorded, 0 points earned, 2 already recorded, 2 rejected" in out.splitlines()[0]
    assert before == events(demo_db)
    with Ledger.open(f"sqlite:///{demo_db}") as ledger:
        dung = ledger.find_customer_by_external_id("POS-C004")
        assert dung is not None
        row = ledger.statement(dung)[-1]
        assert ("INV-1001", 150) == (row.reference, row.points)
        assert datetime(2025, 4, 1, 3, 0, tzinfo=UTC) == row.at


def test_import_purchases_with_workers_reports_as_one_process(
    demo_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sheet = tmp_path / "hoa-don.csv"
    sheet.write_text(
        "external_id,invoice_id,amount,at\n"
        "POS-C004,INV-1001,1500000,2025-04-01 10:00\n"
        "POS-C004,INV-1002,abc,2025-04-02T10:00:00+07:00\n"
        "POS-C404,INV-1003,100000,2025-04-03\n"
        "POS-C003,INV-1004,200000,2025-04-03\n",
        encoding="utf-8",
    )
    args = ("import", "purchases", str(sheet), "--db", str(demo_db), "--workers", "2")
    code, out, _ = run(capsys, *args)
    assert 0 == code
    lines = out.splitlines()
    assert (
        f"{sheet}: 4 rows; 2 recorded, 170 points earned, 0 already recorded, 2 rejected"
        == (lines[0])
    )
    assert ["3", "4"] == [line.split()[1] for line in lines[1:3]]
    code, out, _ = run(capsys, *args)
    assert "0 recorded, 0 points earned, 2 already recorded, 2 rejected" in out.splitlines()[0]
    code, _, err = run(
        capsys, "import", "customers", str(sheet), "--db", str(demo_db), "--workers", "2"
    )
    assert 2 == code and "--workers is for purchases only" in err


def test_import_refuses_unknown_columns_before_importing_anything(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sheet = write_xlsx(
        tmp_path / "x.xlsx", [["name", "phones", "Sinh nhật"], ["A", "0911000009", 1]]
    )
    db = tmp_path / "shop.db"
    code, _, err = run(capsys, "import", "customers", str(sheet), "--db", str(db))
    assert 1 == code
    assert "unknown column(s) 'Sinh nhật'" in err
    assert 1 == len(err.splitlines())


# --- export ------------------------------------------------------------------------------


def test_export_then_import_round_trips_customers_and_purchases(
    demo_run: tuple[Path, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = str(demo_run[0])
    customers, purchases = tmp_path / "customers.xlsx", tmp_path / "purchases.csv"
    assert 0 == run(capsys, "export", "customers", "--to", str(customers), "--db", source)[0]
    code, out, _ = run(capsys, "export", "purchases", "--to", str(purchases), "--db", source)
    assert (0, f"8 purchases rows written to {purchases}\n") == (code, out)

    copy = tmp_path / "copy.db"
    code, out, _ = run(capsys, "import", "customers", str(customers), "--db", str(copy))
    assert 0 == code
    assert "6 created, 0 updated, 0 unchanged, 0 skipped, 0 rejected" in out
    with Ledger.open(f"sqlite:///{copy}") as ledger:
        ledger.configure_loyalty(scenario.LOYALTY)
    code, out, _ = run(capsys, "import", "purchases", str(purchases), "--db", str(copy))
    assert 0 == code
    # INV-0007's checkout discounts are not among the exchanged columns: imported
    # alone it earns on its whole amount (150 points, not 135).
    assert "8 recorded, 1679 points earned, 0 already recorded, 0 rejected" in out

    again = tmp_path / "again.csv"
    assert 0 == run(capsys, "export", "purchases", "--to", str(again), "--db", str(copy))[0]
    assert purchases.read_text(encoding="utf-8") == again.read_text(encoding="utf-8")
    # Importing the export into the ledger it came from changes nothing.
    before = events(demo_run[0])
    code, out, _ = run(capsys, "import", "customers", str(customers), "--db", source)
    assert "0 created, 0 updated, 6 unchanged" in out
    assert before == events(demo_run[0])


def test_export_leads_history_and_statement(
    demo_run: tuple[Path, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = str(demo_run[0])
    leads, history = tmp_path / "leads.xlsx", tmp_path / "history.csv"
    statement = tmp_path / "statement.xlsx"
    assert 0 == run(capsys, "export", "leads", "--to", str(leads), "--db", db)[0]
    assert 0 == run(capsys, "export", "history", "POS-C002", "--to", str(history), "--db", db)[0]
    assert 0 == run(capsys, "export", "statement", "POS-C003", "--to", str(statement),
                    "--db", db)[0]  # fmt: skip
    sheet = load_workbook(leads).worksheets[0]
    header, *rows = [list(row) for row in sheet.iter_rows(values_only=True)]
    assert 5 == len(rows)
    assert LEADS == {row[header.index("name")]: row[header.index("status")] for row in rows}
    assert [("Hoàng Văn Em", "basic", "200000")] == [
        (row["name"], row["plan"], row["reward"])
        for row in csv.DictReader(io.StringIO(history.read_text(encoding="utf-8-sig")))
    ]
    sheet = load_workbook(statement).worksheets[0]
    header, *rows = [list(row) for row in sheet.iter_rows(values_only=True)]
    assert [235, 583, 483, 448] == [row[header.index("balance")] for row in rows]
    assert [2350000, 3480000, 100000, 350000] == [row[header.index("amount")] for row in rows]


# --- replay and audit ---------------------------------------------------------------------


def test_replay_rebuilds_the_views(demo_db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "replay", "--db", str(demo_db))
    assert 0 == code
    # The demo's lead, purchase and return events (20), and since issue 16 the
    # directory's: registrations, edits, redemptions and tier changes; the sales
    # scene's registration and two purchases (demo_sales).
    assert f"Views rebuilt: 34 events replayed, up to log position {events(demo_db)}\n" == out


def test_replay_as_of_shows_balances_and_statuses_as_they_stood(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A ledger written with a clock in January and February 2025, read as of mid-January."""
    clock = Clock(datetime(2025, 1, 10, tzinfo=UTC), tick=timedelta(seconds=1))
    db = tmp_path / "ledger.db"
    with Ledger.open(f"sqlite:///{db}", clock=clock) as ledger:
        ledger.configure_loyalty(scenario.LOYALTY)
        shop = ledger.register_customer("Nguyễn Minh Anh", ["0912 345 678"])
        ledger.sign_contract(shop, "C-1", "pro", date(2025, 1, 1), date(2025, 12, 31))
        ledger.record_purchase(shop, "INV-1", Decimal(1_000_000))
        lead = ledger.submit_referral(shop, "Võ Thị Thu", "0978 200 300", "bakery")
        clock.now = datetime(2025, 2, 10, tzinfo=UTC)
        ledger.record_purchase(shop, "INV-2", Decimal(2_000_000))
        ledger.start_referral(lead, rep="rep-01")
    code, out, _ = run(capsys, "replay", "--db", str(db), "--as-of", "2025-01-15", "--format",
                       "json")  # fmt: skip
    assert 0 == code
    state = json.loads(out)
    assert [("Nguyễn Minh Anh", 100)] == [(b["name"], b["balance"]) for b in state["balances"]]
    assert [("Võ Thị Thu", "submitted", None)] == [
        (r["lead"], r["status"], r["rep"]) for r in state["referrals"]
    ]
    code, out, _ = run(capsys, "replay", "--db", str(db), "--as-of", "2025-03-01T00:00+07:00")
    assert 0 == code
    assert "As recorded by 2025-03-01T00:00:00+07:00:" in out
    assert any("Nguyễn Minh Anh" in line and " 300 " in line for line in out.splitlines())
    assert any("Võ Thị Thu" in line and "in_progress" in line for line in out.splitlines())


def test_audit_of_a_clean_ledger_exits_0(
    demo_run: tuple[Path, str], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "audit", "--db", str(demo_run[0]))
    assert 0 == code
    assert out.startswith("audit clean: ")
    assert "views compared with a rebuild" in out


def tamper(path: Path, event_class: str) -> int:
    """Overwrite the stored bytes of the last event of `event_class`; returns its position."""
    with contextlib.closing(sqlite3.connect(path)) as db, db:
        (position,) = db.execute(
            "SELECT MAX(rowid) FROM stored_events WHERE topic LIKE ?", (f"%:{event_class}",)
        ).fetchone()
        db.execute("UPDATE stored_events SET state = ? WHERE rowid = ?", (b"\xde\xad", position))
    return int(position)


def test_audit_names_the_position_of_a_tampered_event_and_exits_1(
    demo_db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    position = tamper(demo_db, "ReferralStarted")
    code, out, _ = run(capsys, "audit", "--db", str(demo_db))
    assert 1 == code
    decode = [line for line in out.splitlines() if line.startswith("[decode]")]
    assert 1 == len(decode)
    assert decode[0].startswith(
        f"[decode] position {position}: cannot decode "
        "referral_ledger.aggregates.referral:ReferralStarted: "
    )
    assert out.splitlines()[-1].startswith("audit found 2 problem(s) in ")


# --- the installed command ------------------------------------------------------------------


def test_installed_script_and_python_m_run_the_same_command(demo_run: tuple[Path, str]) -> None:
    script = Path(sys.executable).parent / "referral-ledger"
    for command in ([str(script)], [sys.executable, "-m", "referral_ledger"]):
        done = subprocess.run(
            [*command, "leads", "--db", str(demo_run[0]), "--format", "json"],
            capture_output=True,
            encoding="utf-8",
            timeout=60,
            check=False,
        )
        assert (0, "") == (done.returncode, done.stderr)
        assert set(LEADS) == {row["name"] for row in json.loads(done.stdout)}
