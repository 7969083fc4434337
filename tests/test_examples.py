"""The examples run as a user runs them (`make demo`) and print the right figures;
the worked example of docs/points.md gives the figures its table shows."""

from __future__ import annotations

import contextlib
import importlib.util
import os
import re
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from referral_ledger import Ledger, LedgerError, LoyaltyProgram, Tier
from support import Clock

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
    start = datetime(2025, 3, 1, tzinfo=UTC)
    clock = Clock(start, tick=timedelta(seconds=1))

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


# --- examples/quickstart.py, pos_sync.py, audit_replay.py, web_app.py -------------------------


def run_example(name: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "examples" / name), *args],
        cwd=ROOT,
        env={**os.environ, "PYTHONIOENCODING": "utf-8"},
        capture_output=True,
        encoding="utf-8",
        timeout=120,
        check=False,
    )


def host_block(text: str, start: str, end: str) -> str:
    return text.split(start, 1)[1].split(end, 1)[0].strip("\n")


def test_quickstart_runs_and_is_the_code_of_getting_started() -> None:
    done = run_example("quickstart.py")
    assert (0, "", "55 submitted\n") == (done.returncode, done.stderr, done.stdout)
    example = (ROOT / "examples" / "quickstart.py").read_text(encoding="utf-8")
    code = host_block(example, "# --8<-- [start:host]\n", "# --8<-- [end:host]")
    page = (ROOT / "docs" / "getting-started.md").read_text(encoding="utf-8")
    assert code in page


def test_pos_sync_applies_every_webhook_twice_and_nothing_doubles() -> None:
    done = run_example("pos_sync.py")
    assert 0 == done.returncode, done.stderr
    lines = done.stdout.splitlines()
    assert [
        "5 webhooks (6 customer records), each delivered twice",
        "events recorded by the retries: 0",
        "customers: 4",
        "after replaying the whole stream: 4 customers, unchanged: True",
    ] == lines[:4]
    assert (
        "  POS-1001  Nguyễn Văn An  +84912345678, +84909000111  email=an.nguyen@example.vn  "
        "group=None" == lines[4]
    )
    assert 8 == len(lines)


def test_audit_replay_prints_the_ledger_as_it_stood(tmp_path: Path) -> None:
    """Written with a clock in January, then February; read as of 15 January."""
    clock = Clock(datetime(2025, 1, 10, tzinfo=UTC), tick=timedelta(seconds=1))

    path = tmp_path / "ledger.db"
    with Ledger.open(f"sqlite:///{path}", clock=clock) as ledger:
        ledger.configure_loyalty(LoyaltyProgram(money_per_point=10000, point_value=1000))
        shop = ledger.register_customer("Nguyễn Minh Anh", ["0912 345 678"])
        ledger.sign_contract(shop, "C-1", "pro", date(2025, 1, 1), date(2025, 12, 31))
        ledger.record_purchase(shop, "INV-1", Decimal(1_000_000))
        lead = ledger.submit_referral(shop, "Võ Thị Thu", "0978 200 300", "bakery")
        clock.now = datetime(2025, 2, 10, tzinfo=UTC)
        ledger.record_purchase(shop, "INV-2", Decimal(2_000_000))
        ledger.reward_referral(lead, plan="pro")
        events = ledger.event_count()

    done = run_example("audit_replay.py", str(path), "2025-01-15")
    assert 0 == done.returncode, done.stderr
    assert [
        "As recorded by 2025-01-15T00:00:00+07:00",
        "Balances",
        "  Nguyễn Minh Anh         100 points  lifetime    100  tier None",
        "Referrals",
        "  Võ Thị Thu           submitted    rep None",
    ] == done.stdout.splitlines()
    done = run_example("audit_replay.py", str(path), "2025-03-01")
    assert "  Võ Thị Thu           rewarded     rep None  reward 500,000" in done.stdout
    with Ledger.open(f"sqlite:///{path}") as ledger:
        assert events == ledger.event_count()  # reading recorded nothing


def test_audit_replay_says_how_to_call_it() -> None:
    done = run_example("audit_replay.py")
    assert (2, "usage: audit_replay.py LEDGER.db TIME\n") == (done.returncode, done.stderr)


def load_web_app() -> Any:
    # As `python examples/web_app.py` does: its folder on the path, for web_admin.
    if str(ROOT / "examples") not in sys.path:
        sys.path.insert(0, str(ROOT / "examples"))
    spec = importlib.util.spec_from_file_location("web_app", ROOT / "examples" / "web_app.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # Registered first, as an import would: pydantic resolves the models' annotations there.
    sys.modules["web_app"] = module
    spec.loader.exec_module(module)
    return module


@contextlib.contextmanager
def serving(app: Any) -> Iterator[str]:
    """Run `app` with uvicorn on 127.0.0.1 (a free port) in a thread; yields its base URL."""
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "server did not start"
            time.sleep(0.02)
        port = server.servers[0].sockets[0].getsockname()[1]
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=20)
    assert not thread.is_alive()


def test_web_app_serves_the_ledger_over_http(tmp_path: Path) -> None:
    """A real HTTP client against a running server: commands, the lead table, 4xx errors."""
    import httpx

    url = f"sqlite:///{tmp_path / 'shop.db'}"
    with Ledger.open(url) as ledger:
        ledger.configure_loyalty(LoyaltyProgram(money_per_point=10000, point_value=1000))
        shop_id = ledger.register_customer("Nguyễn Minh Anh", ["0912 345 678"])
        ledger.sign_contract(shop_id, "C-1", "pro", date(2025, 1, 1), date(2099, 12, 31))
        walk_in = str(ledger.register_customer("Lê Văn Cường", ["0903 111 222"]))
    shop = str(shop_id)

    with (
        serving(load_web_app().create_app(url)) as base,
        httpx.Client(base_url=base, timeout=10) as http,
    ):
        lead = {"referrer_id": shop, "name": "Trần Thị Bình", "phone": "0987 654 321",
                "industry": "spa", "business_name": "Spa Bình An"}  # fmt: skip
        created = http.post("/referrals", json=lead)
        assert 201 == created.status_code
        referral_id = created.json()["referral_id"]
        again = http.post("/referrals", json=lead)
        assert (409, "DuplicatePhone") == (again.status_code, again.json()["error"])
        not_eligible = http.post("/referrals", json={**lead, "referrer_id": walk_in,
                                                     "phone": "0988 000 111"})  # fmt: skip
        assert (403, "ReferrerNotEligible") == (
            not_eligible.status_code,
            not_eligible.json()["error"],
        )
        unknown = http.post("/referrals", json={**lead, "referrer_id": str(uuid.uuid4())})
        assert (404, "NotFound") == (unknown.status_code, unknown.json()["error"])

        purchase = {"customer_id": shop, "invoice_id": "INV-1", "amount": "1059000"}
        assert {"points": 105, "balance": 105} == http.post("/purchases", json=purchase).json()
        assert {"points": 105, "balance": 105} == http.post("/purchases", json=purchase).json()
        negative = http.post("/purchases", json={**purchase, "invoice_id": "INV-2", "amount": "-5"})
        assert 422 == negative.status_code
        assert "InvalidInput" == negative.json()["error"]
        assert "-5" in negative.json()["detail"]

        redemption = {"customer_id": shop, "points": 50, "redemption_id": "RDM-1"}
        redeemed = http.post("/redemptions", json=redemption)
        assert (201, {"value": "50000", "balance": 55}) == (redeemed.status_code, redeemed.json())
        too_many = http.post("/redemptions", json={**redemption, "points": 500,
                                                   "redemption_id": "RDM-2"})  # fmt: skip
        assert (409, "RedemptionRefused") == (too_many.status_code, too_many.json()["error"])

        rows = http.get("/leads", params={"search": "binh", "status": "submitted"}).json()
        assert [(referral_id, "Trần Thị Bình", "Spa Bình An", "submitted")] == [
            (r["referral_id"], r["name"], r["business_name"], r["status"]) for r in rows
        ]
        assert [] == http.get("/leads", params={"status": "rewarded"}).json()
        bad_sort = http.get("/leads", params={"sort_by": "colour"})
        assert (422, "InvalidInput") == (bad_sort.status_code, bad_sort.json()["error"])
