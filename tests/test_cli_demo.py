"""The demo ledger is recorded on the story's dates, so the documented commands,
`replay --as-of` among them, show what the docs say on it."""

from __future__ import annotations

import json
import re
import shlex
from datetime import datetime
from pathlib import Path

import pytest

from cli_support import play_demo, run
from referral_ledger import Ledger, demo_sales
from referral_ledger.audit import read_log
from referral_ledger.demo import ICT

ROOT = Path(__file__).resolve().parents[1]
QUERIES = {
    "leads", "history", "statement", "conversion", "replay", "audit", "vouchers", "commissions",
}  # fmt: skip


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("story") / "demo.db"
    play_demo(path)
    return str(path)


def documented_queries() -> list[tuple[str, list[str]]]:
    """Every query command shown in README.md and docs/*.md, as (where, argv without --db)."""
    found = []
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for line in page.read_text(encoding="utf-8").splitlines():
            # A command line or an inline command; not a transcript ("$ ...") of an error.
            match = re.search(r"(?:^|`)(?:\.venv/bin/)?referral-ledger ([a-z]+[^`|>]*)", line)
            if not match or ">" in line:
                continue
            argv = shlex.split(match.group(1).rstrip(" \\"))
            placeholder = any(arg.isalpha() and arg.isupper() for arg in argv)
            if argv[0] not in QUERIES or "..." in argv or placeholder:
                continue
            if "--db" in argv:  # every example runs on the demo ledger
                at = argv.index("--db")
                del argv[at : at + 2]
            found.append((page.name, argv))
    return found


def test_the_docs_show_replay_as_of_on_the_demo() -> None:
    assert any(argv[:2] == ["replay", "--as-of"] for _, argv in documented_queries())


@pytest.mark.parametrize(
    ("page", "argv"), documented_queries(), ids=[" ".join(a) for _, a in documented_queries()]
)
def test_every_documented_query_runs_on_the_demo(
    demo: str, capsys: pytest.CaptureFixture[str], page: str, argv: list[str]
) -> None:
    code, out, err = run(capsys, *argv, "--db", demo)
    assert (0, "") == (code, err), f"{page}: {argv}"
    assert "(none)" not in out
    if argv[:2] == ["replay", "--as-of"]:
        assert "Lê Văn Cường" in out


def test_replay_as_of_mid_march_shows_the_story_as_it_stood(
    demo: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Before the return of 15 March 10:30 and before the café registered on 18 March."""
    code, out, _ = run(capsys, "replay", "--as-of", "2025-03-15", "--format", "json", "--db", demo)
    assert 0 == code
    state = json.loads(out)
    assert "2025-03-15T00:00:00+07:00" == state["as_of"]
    assert [
        ("Nguyễn Minh Anh", 0),
        ("Trần Hồng Nhung", 0),
        ("Lê Văn Cường", 483),
        ("Phạm Thị Dung", 214),
    ] == [(row["name"], row["balance"]) for row in state["balances"]]
    assert {
        "Đặng Quốc Bảo": "submitted",
        "Võ Thị Thu": "in_progress",
        "Hoàng Văn Em": "in_progress",
        "Bùi Thị Giang": "ineligible",
        "Ngô Thanh Hải": "in_progress",
    } == {row["lead"]: row["status"] for row in state["referrals"]}
    code, out, _ = run(capsys, "replay", "--as-of", "2025-03-15T18:00+07:00", "--db", demo)
    assert any("Lê Văn Cường" in line and " 448 " in line for line in out.splitlines())


def test_the_demo_is_recorded_on_the_story_dates_in_order(demo: str) -> None:
    with Ledger.open(f"sqlite:///{demo}") as ledger:
        stamps = [entry.event.timestamp for entry in read_log(ledger) if entry.event]
        cafe = ledger.find_customer_by_external_id("POS-C005")
        assert cafe is not None
        statement = ledger.statement(cafe)
    assert stamps == sorted(stamps)
    assert datetime(2025, 1, 1, tzinfo=ICT) <= stamps[0]
    assert stamps[-1] < datetime(2025, 3, 26, tzinfo=ICT)
    # Recording time and business time agree, to the microsecond that orders the events.
    assert all(abs((row.recorded_at - row.at).total_seconds()) < 1 for row in statement)


def test_the_demo_shows_a_voucher_and_a_referral_code(tmp_path: Path) -> None:
    """The sales scene (`demo_sales`): its printout, and its docstring's table, row by row."""
    path = tmp_path / "demo.db"
    out = play_demo(path)
    voucher = next(line for line in out.splitlines() if "CHAOXUAN" in line)
    assert "10% (at most 100,000)" in voucher and "1 of 50" in voucher
    match = re.search(r"Commissions of Lê Văn Cường: pending 99,500 \(code (\w+)\)", out)
    assert match is not None
    rows = [
        [c.strip() for c in line.split("│")[1:7]]
        for line in out.splitlines()
        if "Đỗ Thị Hoa" in line
    ]
    assert rows == [
        ["INV-0007", "Đỗ Thị Hoa", "1,350,000", "67,500", "pending", "2025-04-08"],
        ["INV-0008", "Đỗ Thị Hoa", "640,000", "32,000", "pending", "2025-04-08"],
    ]
    documented = [
        [c.strip().replace(",", "") for c in line.strip("| ").split("|")]
        for line in (demo_sales.__doc__ or "").splitlines()
        if line.startswith("| INV-")
    ]
    with Ledger.open(f"sqlite:///{path}") as ledger:
        referrer = ledger.find_customer_by_external_id(demo_sales.REFERRER)
        buyer = ledger.find_customer_by_external_id("POS-C006")
        assert buyer is not None and referrer == ledger.referral_code_owner(match.group(1))
        assert ledger.referred_by(buyer) == referrer
        commission = {r.invoice_id: r.commission for r in ledger.commissions(referrer)}
        replayed = []
        for row in ledger.purchases(buyer):
            sale = ledger.checkout(buyer, row.invoice_id, row.amount)  # the first result
            replayed.append(
                [
                    row.invoice_id,
                    str(row.amount),
                    f"-{sale.voucher_discount}" if sale.voucher_discount else "",
                    f"-{sale.referral_discount}" if sale.referral_discount else "",
                    str(row.payable),
                    str(row.points),
                    str(commission[row.invoice_id]),
                ]
            )
            assert row.voucher == ("CHAOXUAN" if sale.voucher_discount else None)
    assert replayed == documented


def test_the_sales_scene_is_recorded_once(tmp_path: Path) -> None:
    path = tmp_path / "demo.db"
    play_demo(path)
    with Ledger.open(f"sqlite:///{path}") as ledger:
        before = ledger.event_count()
        assert ledger.get_voucher("CHAOXUAN").used == 1
    out = play_demo(path)
    assert "0 new events recorded" in out
    with Ledger.open(f"sqlite:///{path}") as ledger:
        assert ledger.event_count() == before
