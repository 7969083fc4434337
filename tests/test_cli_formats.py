"""What the command writes: times in the business time zone in every format."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from openpyxl import load_workbook

from cli_support import play_demo, run

#: POS-C003's first purchase, 3 March 2025 at 09:15 shop time (02:15 UTC).
FIRST_PURCHASE = "2025-03-03T09:15:00+07:00"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("formats") / "demo.db"
    play_demo(path)
    return str(path)


def xlsx_rows(path: Path) -> list[dict[str, object]]:
    sheet = load_workbook(path).worksheets[0]
    header, *rows = [list(row) for row in sheet.iter_rows(values_only=True)]
    return [dict(zip(map(str, header), row, strict=True)) for row in rows]


def csv_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


# --- times ---------------------------------------------------------------------------------


def test_statement_times_are_business_time_with_offset_in_every_format(
    demo: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, out, _ = run(capsys, "statement", "POS-C003", "--db", demo, "--format", "json")
    as_json = json.loads(out)
    _, out, _ = run(capsys, "statement", "POS-C003", "--db", demo, "--format", "csv")
    as_csv = csv_rows(out)
    for suffix in ("xlsx", "csv"):
        target = tmp_path / f"statement.{suffix}"
        assert 0 == run(capsys, "export", "statement", "POS-C003", "--to", str(target),
                        "--db", demo)[0]  # fmt: skip
    as_xlsx = xlsx_rows(tmp_path / "statement.xlsx")
    as_file = csv_rows((tmp_path / "statement.csv").read_text(encoding="utf-8-sig"))
    for rows in (as_json, as_csv, as_xlsx, as_file):
        assert FIRST_PURCHASE == rows[0]["at"]
        assert all(str(row["recorded_at"]).endswith("+07:00") for row in rows)
    _, out, _ = run(capsys, "statement", "POS-C003", "--db", demo)
    assert "2025-03-03 09:15+07:00" in out


def test_lead_and_history_times_are_business_time_with_offset(
    demo: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, out, _ = run(capsys, "leads", "--db", demo, "--format", "json", "--asc")
    assert "2025-03-01T09:00:00+07:00" == json.loads(out)[0]["submitted_at"]
    _, out, _ = run(capsys, "history", "POS-C002", "--db", demo, "--format", "csv")
    assert "2025-03-20T09:00:00+07:00" == csv_rows(out)[0]["date"]
    target = tmp_path / "leads.xlsx"
    assert 0 == run(capsys, "export", "leads", "--to", str(target), "--db", demo)[0]
    assert "2025-03-01T09:00:00+07:00" == xlsx_rows(target)[0]["submitted_at"]


def test_purchase_export_and_replay_show_business_time(
    demo: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "purchases.csv"
    assert 0 == run(capsys, "export", "purchases", "--to", str(target), "--db", demo)[0]
    rows = csv_rows(target.read_text(encoding="utf-8-sig"))
    assert FIRST_PURCHASE == rows[0]["at"]
    _, out, _ = run(capsys, "replay", "--as-of", "2025-03-15T11:00:00Z", "--db", demo,
                    "--format", "json")  # fmt: skip
    assert "2025-03-15T18:00:00+07:00" == json.loads(out)["as_of"]
