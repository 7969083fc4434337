"""The examples run as a user runs them (`make demo`) and print the right figures;
the worked example of docs/points.md gives the figures its table shows."""

# Asserts read `expected == actual` (the project's test style), which SIM300 calls Yoda.
# ruff: noqa: SIM300

from __future__ import annotations

import itertools
import os
import re
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from referral_ledger import Ledger, LedgerError, LoyaltyProgram, Tier

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "examples" / "points_demo.py"
POINTS_DOC = ROOT / "docs" / "points.md"


def run_demo(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(DEMO), *args],
        cwd=ROOT,
        env={**os.environ, "PYTHONIOENCODING": "utf-8"},
        capture_output=True,
        encoding="utf-8",
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    """The ledger file the demo wrote, and the lines it printed."""
    path = tmp_path_factory.mktemp("demo") / "ledger.db"
    done = run_demo(str(path))
    assert 0 == done.returncode, done.stderr
    return path, done.stdout.splitlines()


@pytest.mark.parametrize(
    "line",
    [
        "  HD-1001 2,350,000 VND (350,000 of it discounted) earns 200 points",
        "  HD-1002 3,480,000 VND earns 348 points; tier now VIP",
        "  HD-1002 sent again by the POS: 348 points, 0 new events",
        "  DT-2001 redeems 100 points for 100,000 VND",
        "  HD-1002 returns 1,160,000 VND: 116 points taken back; tier now -",
        "  HD-1003 1,259,000 VND earns 125 points",
        "  HD-1004 640,000 VND, partly paid with 50 points, earns 0 points",
        "  DT-2003 redeems those 50 points for 50,000 VND",
        "Nguyễn Văn An    balance  332 points  lifetime  432  tier -",
        "Trần Thị Bình    balance   75 points  lifetime  125  tier -",
        "Nguyễn Văn An's balance as recorded right after DT-2001: 448 points",
    ],
)
def test_points_demo_prints_the_expected_figures(demo: tuple[Path, list[str]], line: str) -> None:
    """Each step of the story shows its exact points and money."""
    _, lines = demo
    assert line in lines


def test_points_demo_shows_a_refused_redemption(demo: tuple[Path, list[str]]) -> None:
    """Bình's first redemption comes before her second purchase and is refused."""
    _, lines = demo
    refusals = [line for line in lines if "DT-2002" in line]
    assert 1 == len(refusals)
    assert refusals[0].startswith("  DT-2002 refused after only one purchase: ")


def test_points_demo_prints_each_statement_with_a_running_balance(
    demo: tuple[Path, list[str]],
) -> None:
    _, lines = demo
    rows = [line.split() for line in lines if line[:4] == "2025"]
    # date, time, kind, reference, amount, "VND", points, balance
    assert [
        ["earn", "HD-1001", "+200", "200"],
        ["earn", "HD-1002", "+348", "548"],
        ["redeem", "DT-2001", "-100", "448"],
        ["return", "HD-1002", "-116", "332"],
        ["earn", "HD-1003", "+125", "125"],
        ["earn", "HD-1004", "+0", "125"],
        ["redeem", "DT-2003", "-50", "75"],
    ] == [[r[2], r[3], r[6], r[7]] for r in rows]


def test_points_demo_keeps_the_ledger_file_it_was_given(demo: tuple[Path, list[str]]) -> None:
    path, lines = demo
    assert f"Ledger file: {path}" == lines[0]
    assert path.stat().st_size > 0


def test_points_demo_refuses_to_reuse_an_existing_file(demo: tuple[Path, list[str]]) -> None:
    """Running the story twice on one file would mix two stories; the demo says so."""
    path, _ = demo
    done = run_demo(str(path))
    assert 1 == done.returncode
    assert f"{path} already exists; give the demo a new file name" == done.stderr.strip()


def test_points_demo_without_a_path_uses_a_temporary_file_and_removes_it() -> None:
    done = run_demo()
    assert 0 == done.returncode, done.stderr
    first = done.stdout.splitlines()[0]
    assert first.endswith(" (temporary; pass a path to keep it)")
    path = Path(first.removeprefix("Ledger file: ").split(" (")[0])
    assert not path.parent.exists()


# --- docs/points.md -------------------------------------------------------------------


def doc_table() -> list[list[str]]:
    """The worked example's table: Returns, Balance, Lifetime and Tier of each step."""
    rows = []
    for line in POINTS_DOC.read_text(encoding="utf-8").splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 6 and cells[0].isdigit():
            rows.append(cells[2:])
    return rows


def doc_statement() -> list[tuple[str, str, Decimal, int, int]]:
    """The worked example's statement: kind, reference, amount, points, balance."""
    pattern = re.compile(r"^(earn|redeem|return)\s+(\S+)\s+([\d,]+)\s+([+-]\d+)\s+(\d+)$")
    rows = []
    for line in POINTS_DOC.read_text(encoding="utf-8").splitlines():
        if found := pattern.match(line):
            kind, reference, amount, points, balance = found.groups()
            rows.append(
                (kind, reference, Decimal(amount.replace(",", "")), int(points), int(balance))
            )
    return rows


def shown(result: object) -> str:
    """A command's result as the doc's table writes it."""
    if isinstance(result, Decimal):
        return f"{result:,.0f} VND"
    return str(result)


def test_points_doc_worked_example_gives_the_figures_of_its_table() -> None:
    """Every step of the worked example, its statement and its as_of claim hold."""
    seconds = itertools.count()
    start = datetime(2025, 3, 1, tzinfo=UTC)

    def clock() -> datetime:
        return start + timedelta(seconds=next(seconds))

    def program(money_per_point: int) -> LoyaltyProgram:
        return LoyaltyProgram(
            money_per_point=Decimal(money_per_point),
            point_value=Decimal(1000),
            min_purchases_before_redeem=1,
            min_remaining_points=20,
            earn_on_discounted_items=False,
            earn_on_invoices_paid_with_points=False,
            eligible_groups=None,
            tiers=(Tier("Silver", min_points=200), Tier("VIP", min_points=500)),
        )

    with Ledger.open(clock=clock) as ledger:
        assert 1 == ledger.configure_loyalty(program(10000))
        cid = ledger.register_customer(name="Lê Thị Hoa", phones=["0912 345 678"])
        steps: list[Callable[[], object]] = [
            lambda: ledger.record_purchase(cid, "HD-01", Decimal(1059000)),
            lambda: ledger.record_purchase(cid, "HD-02", Decimal(2000000), Decimal(450000)),
            lambda: ledger.redeem_points(cid, 50, "R-01"),
            lambda: ledger.redeem_points(cid, 200, "R-02"),
            lambda: ledger.record_purchase(cid, "HD-03", Decimal(800000), points_used=30),
            lambda: ledger.redeem_points(cid, 30, "R-03"),
            lambda: ledger.return_purchase(cid, "HD-02", Decimal(700000)),
            lambda: ledger.return_purchase(cid, "HD-02", Decimal(700000)),
            lambda: ledger.redeem_points(cid, 50, "R-04"),
            lambda: ledger.return_purchase(cid, "HD-02"),
            lambda: ledger.record_purchase(cid, "HD-01", Decimal(1059000)),
            lambda: ledger.record_purchase(cid, "HD-01", Decimal(1059001)),
            lambda: ledger.redeem_points(cid, 50, "R-01"),
            lambda: ledger.configure_loyalty(program(20000)),
            lambda: ledger.record_purchase(cid, "HD-04", Decimal(1000000)),
        ]
        seen = []
        after_step_3 = start
        for number, step in enumerate(steps, start=1):
            try:
                result = shown(step())
            except LedgerError as error:
                result = f"`{type(error).__name__}`"
            account = ledger.loyalty_account(cid)
            assert account is not None
            tier = account.tier or "none"
            seen.append([result, str(account.balance), str(account.lifetime_points), tier])
            if number == 3:
                after_step_3 = clock()

        assert doc_table() == seen
        assert doc_statement() == [
            (row.kind, row.reference, row.amount, row.points, row.balance)
            for row in ledger.statement(cid)
        ]
        assert 210 == ledger.balance(cid, as_of=after_step_3)


# --- README.md ------------------------------------------------------------------------


def test_readme_host_code_runs_and_prints_the_balance_it_promises(tmp_path: Path) -> None:
    """The "Use it from your app" snippet works as written (on a file in tmp_path)."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Use it from your app", 1)[1]
    snippet = section.split("```python\n", 1)[1].split("```", 1)[0]
    assert "/var/lib/shop/ledger.db" in snippet
    script = tmp_path / "host.py"
    script.write_text(snippet.replace("/var/lib/shop", str(tmp_path)), encoding="utf-8")
    done = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        encoding="utf-8",
        timeout=60,
        check=False,
    )
    assert 0 == done.returncode, done.stderr
    assert "55\n" == done.stdout
