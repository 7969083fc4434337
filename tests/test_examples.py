"""The examples run as a user runs them (`make demo`) and print the right figures."""

# Asserts read `expected == actual` (the project's test style), which SIM300 calls Yoda.
# ruff: noqa: SIM300

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "examples" / "points_demo.py"


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
