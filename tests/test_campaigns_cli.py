"""`referral-ledger campaigns`, `leaderboard ID`, `export campaigns|leaderboard`, and
the demo's points race (`demo --race`, what `make demo` plays)."""

from __future__ import annotations

import contextlib
import csv
import io
import json
from pathlib import Path

import pytest

from cli_support import run
from referral_ledger import Ledger
from referral_ledger.aggregates.campaign import CampaignClosed, CampaignPurchaseCounted
from referral_ledger.cli import main


@pytest.fixture(scope="module")
def race_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("race") / "demo.db"
    with contextlib.redirect_stdout(io.StringIO()):
        assert 0 == main(["demo", "--race", "--db", str(path)])
    return str(path)


#: April's race (docs/campaigns.md walks through these figures).
FINAL = [("Lê Văn Cường", 960), ("Phạm Thị Dung", 630), ("Ngô Thanh Hải", 560)]


def test_the_demo_race_ranks_and_closes(race_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "leaderboard", "DUA-T4", "--format", "json", "--db", race_db)
    assert (0, "") == (code, err)
    rows = json.loads(out)
    assert [(r["rank"], r["name"], r["points"]) for r in rows] == [
        (n, name, points) for n, (name, points) in enumerate(FINAL, start=1)
    ]
    with Ledger.open(f"sqlite:///{race_db}") as ledger:
        store = ledger._store
        closed = [
            e
            for e in (store.event_of(n) for n in store.notifications(0, 10_000))
            if isinstance(e, CampaignClosed)
        ]
        names = {r["customer_id"]: r["name"] for r in rows}
        assert [[(names[str(c)], p) for c, p in e.ranking] for e in closed] == [FINAL]
        before = ledger.event_count()
    with contextlib.redirect_stdout(io.StringIO()):
        assert 0 == main(["demo", "--race", "--db", race_db])
    with Ledger.open(f"sqlite:///{race_db}") as ledger:
        assert ledger.event_count() == before


def test_campaigns_lists_and_filters(race_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "campaigns", "--format", "csv", "--db", race_db)
    assert 0 == code
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [(r["campaign_id"], r["budget_points"]) for r in rows] == [("DUA-T4", "1000")]
    code, out, _ = run(
        capsys, "campaigns", "--active-at", "2025-05-02", "--format", "json", "--db", race_db
    )
    assert (0, []) == (code, json.loads(out))
    code, out, _ = run(capsys, "campaigns", "--db", race_db)
    assert "Đua tích điểm tháng 4" in out


def test_leaderboard_errors_and_exports(
    race_db: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _, err = run(capsys, "leaderboard", "NOPE", "--db", race_db)
    assert code != 0 and "NOPE" in err
    target = tmp_path / "race.xlsx"
    assert (
        0 == run(capsys, "export", "leaderboard", "DUA-T4", "--to", str(target), "--db", race_db)[0]
    )
    from openpyxl import load_workbook

    sheet = load_workbook(target).active
    assert sheet is not None
    values = list(sheet.iter_rows(values_only=True))
    assert values[0] == ("rank", "customer_id", "name", "points")
    assert [(v[2], v[3]) for v in values[1:]] == FINAL
    code, _, err = run(capsys, "export", "leaderboard", "--to", str(target), "--db", race_db)
    assert code != 0 and "needs the campaign" in err
    target = tmp_path / "campaigns.csv"
    assert 0 == run(capsys, "export", "campaigns", "--to", str(target), "--db", race_db)[0]
    assert "DUA-T4" in target.read_text(encoding="utf-8-sig")


def test_docs_worked_race_is_what_the_demo_records(race_db: str) -> None:
    """docs/campaigns.md's race table, row by row, against the demo ledger's events."""
    text = (Path(__file__).resolve().parents[1] / "docs" / "campaigns.md").read_text("utf-8")
    table = text.split("<!-- race -->")[1].split("<!-- /race -->")[0].strip().splitlines()[2:]
    documented = {}
    for line in table:
        cells = [c.strip() for c in line.strip("|").split("|")]
        invoice, base, bonus, earned, total = cells[2], *map(int, cells[4:5] + cells[6:9])
        documented[invoice] = (base, bonus, earned, total)
    with Ledger.open(f"sqlite:///{race_db}") as ledger:
        store = ledger._store
        events = [store.event_of(n) for n in store.notifications(0, 10_000)]
    recorded = {
        e.invoice_id: (e.base_points, e.bonus, e.points, e.total)
        for e in events
        if isinstance(e, CampaignPurchaseCounted)
    }
    assert recorded == documented


@pytest.mark.parametrize("command", [["campaigns"], ["leaderboard", "DUA-T4"]])
def test_both_commands_in_every_format(
    race_db: str, capsys: pytest.CaptureFixture[str], tmp_path: Path, command: list[str]
) -> None:
    """table, csv and json on stdout; .xlsx and .csv files by `export`: the same rows."""
    expected = "DUA-T4" if command == ["campaigns"] else "Lê Văn Cường"
    code, out, err = run(capsys, *command, "--db", race_db)
    assert (0, "") == (code, err) and expected in out
    code, out, _ = run(capsys, *command, "--format", "csv", "--db", race_db)
    as_csv = list(csv.DictReader(io.StringIO(out)))
    code, out, _ = run(capsys, *command, "--format", "json", "--db", race_db)
    as_json = json.loads(out)
    assert [set(r.values()) & {expected} for r in as_csv][:1] == [{expected}]
    # The same fields and values (csv writes an empty cell for null).
    assert [("" if v is None else str(v)) for v in as_json[0].values()] == list(as_csv[0].values())
    from openpyxl import load_workbook

    for suffix in ("xlsx", "csv"):
        target = tmp_path / f"{command[0]}.{suffix}"
        assert 0 == run(capsys, "export", *command, "--to", str(target), "--db", race_db)[0]
        if suffix == "csv":
            exported = list(csv.DictReader(io.StringIO(target.read_text("utf-8-sig"))))
            assert exported == as_csv
        else:
            sheet = load_workbook(target).active
            assert sheet is not None
            header, *values = list(sheet.iter_rows(values_only=True))
            assert list(header) == list(as_csv[0])
            assert len(values) == len(as_csv) and expected in values[0]
