"""`referral-ledger customers` and `conversion --department` (issue 16)."""

from __future__ import annotations

import contextlib
import csv
import io
import json
from pathlib import Path

import pytest
from openpyxl import load_workbook

from cli_support import run
from referral_ledger.cli import main


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cli-customers") / "demo.db"
    with contextlib.redirect_stdout(io.StringIO()):
        assert 0 == main(["demo", "--db", str(path)])
    return path


def test_customers_lists_the_directory_as_a_table(
    demo_db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "customers", "--db", str(demo_db), "--limit", "2")
    assert 0 == code
    assert "Customers (1-2 of 6)" in out
    assert "Lê Văn Cường" in out


def test_customers_search_by_phone_as_json(
    demo_db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "customers", "--db", str(demo_db), "--search", "0912 345 678",
                       "--format", "json")  # fmt: skip
    assert 0 == code
    assert ["Nguyễn Minh Anh"] == [row["name"] for row in json.loads(out)]


def test_customers_filter_sort_and_csv(demo_db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "customers", "--db", str(demo_db), "--group", "shop",
                       "--sort", "balance", "--desc", "--format", "csv")  # fmt: skip
    assert 0 == code
    rows = list(csv.DictReader(io.StringIO(out)))
    # The two shops without points tie at 0: ties go by customer id (random here).
    names = [r["name"] for r in rows]
    assert "Ngô Thanh Hải" == names[0]
    assert {"Trần Hồng Nhung", "Nguyễn Minh Anh"} == set(names[1:])
    assert ["468", "0", "0"] == [r["balance"] for r in rows]
    assert {"shop"} == {row["group"] for row in rows}


def test_customers_to_an_xlsx_file(
    demo_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "customers.xlsx"
    code, out, _ = run(capsys, "customers", "--db", str(demo_db), "--search", "nguyen",
                       "--to", str(target))  # fmt: skip
    assert 0 == code
    assert "1 of 1 customers written" in out
    sheet = load_workbook(target).active
    assert sheet is not None
    values = [[cell.value for cell in row] for row in sheet.iter_rows()]
    assert "name" in values[0]
    assert "Nguyễn Minh Anh" == values[1][values[0].index("name")]


def test_customers_refuses_an_unknown_sort_column(
    demo_db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "customers", "--db", str(demo_db), "--sort", "nope")
    assert 0 != code
    assert "nope" in err


def test_conversion_by_department(demo_db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "conversion", "--db", str(demo_db), "--department", "sales",
                       "--format", "json")  # fmt: skip
    assert 0 == code
    assert [] == json.loads(out)  # no staff recorded in the demo: no members
