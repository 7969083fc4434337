"""SIGKILL at random points, and backups taken while a writer runs.

A child process (spawned: its own interpreter and connections) works on a
SQLite file or a PostgreSQL schema and appends one line to an
acknowledgement file after each call that returned (an unbuffered
`os.write`, so the line is in the file before the next command starts). The
test kills it with SIGKILL once a seeded number of acknowledgements is in,
after a seeded extra delay, then reopens the ledger and checks:

- every acknowledged command is there;
- nothing partial is: the audit is clean (every event decodes, balances equal
  their movements, no invoice earned twice, referral timelines legal, views
  equal their rebuild), every `InvoiceRecorded` has its `PointsEarned`, and a
  killed bulk import left whole batches only;
- re-running the import completes it without doubles;
- a reaction the kill interrupted (a lead's contract saved, its reward not)
  is completed by the next `Ledger.open`, once.

Three kinds of work are killed: (a) a bulk `import_purchases`, (b) a burst
of single commands of every kind, (c) a `run_worker` process catching up the
views and the automatic rewards. tests/test_views_crash.py covers a bare
view catch-up killed mid-way; (c) kills the whole worker, reactions included.

A SQLite file copied while the writer runs opens and audits clean when the
copy is consistent: SQLite's online backup API, or the file together with its
-wal taken at one instant (the writer frozen with SIGSTOP stands in for a
filesystem snapshot).

The kill points are seeded (`random.Random(SEED)`); quick profile: 5 kills
of each kind per store; REFERRAL_LEDGER_LONG=1: 25.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import random
import shutil
import signal
import sqlite3
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.utils import get_topic

from referral_ledger import Ledger, LoyaltyProgram, ReferralStatus
from referral_ledger.aggregates.loyalty import InvoiceRecorded, PointsEarned
from referral_ledger.aggregates.referral import ReferralRewarded
from referral_ledger.audit import audit, read_log

LONG = os.environ.get("REFERRAL_LEDGER_LONG", "") not in ("", "0")
KILLS = 25 if LONG else 5
BACKUPS = 10 if LONG else 2
SEED = 20_251_123
IMPORT_ROWS = 400
IMPORT_BATCH = 25
IMPORT_CUSTOMERS = 4
#: Upper bound on a child's commands: the test kills it long before.
MAX_COMMANDS = 2000
#: Polls of the acknowledgement file (every 5 ms) before giving up waiting.
MAX_POLLS = 12_000
#: Figures for docs/reliability.md, printed at the end of each test.
FIGURES: Counter[str] = Counter()

pytestmark = pytest.mark.timeout(1800 if LONG else 300)


def program() -> LoyaltyProgram:
    return LoyaltyProgram(money_per_point=Decimal(1000), point_value=Decimal(100))


# --- acknowledgements ------------------------------------------------------------------


class Acks:
    """An append-only file of JSON lines; each `put` is one unbuffered write."""

    def __init__(self, path: str) -> None:
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def put(self, **fields: Any) -> None:
        os.write(self.fd, (json.dumps(fields) + "\n").encode())


def read_acks(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    # A line cut by the kill (never seen in practice: writes are atomic) is not an ack.
    lines = path.read_text().split("\n")[:-1]
    return [json.loads(line) for line in lines]


def count_lines(path: Path) -> int:
    return path.read_bytes().count(b"\n") if path.exists() else 0


# --- what the children run (imported by name in spawned interpreters) ------------------


def import_rows(url: str, ack_path: str) -> None:
    """Import the purchase rows; ack each row as the import reads it, and the report."""
    acks = Acks(ack_path)

    def rows() -> Iterator[dict[str, object]]:
        for n in range(IMPORT_ROWS):
            acks.put(read=n)
            yield import_row(n)

    with Ledger.open(url) as ledger:
        report = ledger.import_purchases(rows(), batch_size=IMPORT_BATCH)
        acks.put(done=[report.recorded, report.duplicates, len(report.rejected)])


def import_row(n: int) -> dict[str, object]:
    return {
        "external_id": f"POS-{n % IMPORT_CUSTOMERS}",
        "invoice_id": f"B-{n:04d}",
        "amount": 1000 * (1 + n % 7),
    }


def burst(url: str, life: int, referrer: str, ack_path: str) -> None:
    """Commands of every kind, in blocks of six; ack each with what it returned."""
    acks = Acks(ack_path)
    with Ledger.open(url) as ledger:
        for n in range(MAX_COMMANDS // 6):
            tag = f"{life}-{n}"
            customer = ledger.register_customer(
                f"Khách {tag}", [f"091{life:02d}{n:05d}"], external_id=f"C-{tag}"
            )
            acks.put(kind="customer", external_id=f"C-{tag}", id=str(customer))
            ledger.record_purchase(customer, f"I-{tag}", 5000)
            acks.put(kind="purchase", customer=str(customer), ref=f"I-{tag}")
            ledger.redeem_points(customer, 2, f"R-{tag}")
            acks.put(kind="redeem", customer=str(customer), ref=f"R-{tag}")
            lead_phone = f"098{life:02d}{n:05d}"
            referral = ledger.submit_referral(UUID(referrer), f"Lead {tag}", lead_phone, "retail")
            acks.put(kind="referral", id=str(referral))
            lead = ledger.register_customer(f"Lead {tag}", [lead_phone], external_id=f"L-{tag}")
            acks.put(kind="customer", external_id=f"L-{tag}", id=str(lead))
            # The reward follows by itself (react_inline): killed in between, the
            # next Ledger.open completes it.
            ledger.sign_contract(lead, "C-1", "pro", date(2020, 1, 1), date(2040, 1, 1))
            acks.put(kind="signed", referral=str(referral))


def work_views_and_reactions(url: str, ack_path: str) -> None:
    """`run_worker` until killed; acks once it is running."""
    acks = Acks(ack_path)
    with Ledger.open(url, react_inline=False) as ledger:
        acks.put(running=True)
        ledger.run_worker(poll_interval=0.01)


# --- killing ------------------------------------------------------------------------


def kill_after(
    target: Callable[..., None],
    args: tuple[Any, ...],
    ack_path: Path,
    acks: int,
    delay: float,
) -> bool:
    """Run `target(*args)` in a child; SIGKILL it once `acks` lines are in `ack_path`
    and `delay` more seconds passed. Returns whether it was killed (not finished)."""
    process = multiprocessing.get_context("spawn").Process(target=target, args=args)
    process.start()
    try:
        for _ in range(MAX_POLLS):
            if count_lines(ack_path) >= acks or not process.is_alive():
                break
            time.sleep(0.005)
        else:
            pytest.fail(f"the child acknowledged fewer than {acks} commands")
        time.sleep(delay)
        killed = process.is_alive()
        if killed:
            os.kill(process.pid or 0, signal.SIGKILL)
        process.join(60)
    finally:
        if process.is_alive():  # pragma: no cover - only when the test itself failed
            process.kill()
            process.join()
    assert (-signal.SIGKILL if killed else 0) == process.exitcode
    return killed


def show(capsys: pytest.CaptureFixture[str], title: str, **figures: object) -> None:
    with capsys.disabled():
        listed = " ".join(f"{k}={v}" for k, v in figures.items())
        print(f"\n[reliability] {title}: {listed}")


# --- checks -------------------------------------------------------------------------


def views_equal_rebuild(ledger: Ledger) -> None:
    ledger.catch_up_projections()
    live = ledger._views.dump()
    ledger.rebuild_projections()
    assert ledger._views.dump() == live


def audit_clean(ledger: Ledger) -> None:
    report = audit(ledger)
    assert [] == [str(p) for p in report.problems]


def invoices(ledger: Ledger) -> tuple[Counter[str], Counter[str]]:
    """(InvoiceRecorded, PointsEarned) counts by invoice id, read from the log."""
    recorded: Counter[str] = Counter()
    earned: Counter[str] = Counter()
    for entry in read_log(ledger, (get_topic(InvoiceRecorded), get_topic(PointsEarned))):
        if isinstance(entry.event, InvoiceRecorded):
            recorded[entry.event.invoice_id] += 1
        elif isinstance(entry.event, PointsEarned):
            earned[entry.event.invoice_id] += 1
    return recorded, earned


def rewards_by_referral(ledger: Ledger) -> Counter[UUID]:
    return Counter(
        entry.event.originator_id
        for entry in read_log(ledger, (get_topic(ReferralRewarded),))
        if entry.event is not None
    )


def check_acknowledged(ledger: Ledger, acks: list[dict[str, Any]]) -> None:
    """Every acknowledged command of `burst` is in the ledger."""
    statements: dict[str, set[str]] = {}

    def references(customer: str) -> set[str]:
        if customer not in statements:
            rows = ledger.statement(UUID(customer))
            statements[customer] = {row.reference for row in rows}
        return statements[customer]

    for ack in acks:
        kind = ack["kind"]
        if kind == "customer":
            assert UUID(ack["id"]) == ledger.find_customer_by_external_id(ack["external_id"])
        elif kind in ("purchase", "redeem"):
            assert ack["ref"] in references(ack["customer"]), ack
        elif kind == "referral":
            assert ledger.get_referral(UUID(ack["id"])).status is not None
        elif kind == "signed":
            assert ReferralStatus.REWARDED == ledger.get_referral(UUID(ack["referral"])).status
        else:  # pragma: no cover
            raise AssertionError(ack)


# --- (a) a bulk import -------------------------------------------------------------------


def test_killed_bulk_imports_leave_whole_batches_and_the_rerun_completes_without_doubles(
    shared_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rng = random.Random(SEED)
    with Ledger.open(shared_url) as ledger:
        ledger.configure_loyalty(program())
        customers = {
            f"POS-{n}": ledger.sync_customer_from_pos(
                f"POS-{n}", f"Khách {n}", [f"0944 000 {n:03d}"]
            )
            for n in range(IMPORT_CUSTOMERS)
        }
    kills = 0
    for life in range(KILLS):
        ack_path = tmp_path / f"import-{life}.acks"
        kills += kill_after(
            import_rows,
            (shared_url, str(ack_path)),
            ack_path,
            rng.randint(1, IMPORT_ROWS),
            rng.uniform(0, 0.05),
        )
        with Ledger.open(shared_url) as ledger:
            recorded, earned = invoices(ledger)
            assert recorded == earned  # every InvoiceRecorded has its PointsEarned, once
            assert set(recorded.values()) <= {1}
            # Batches commit in row order, all or nothing: a prefix of whole batches.
            whole = len(recorded) - len(recorded) % IMPORT_BATCH
            assert {f"B-{n:04d}" for n in range(whole)} == set(recorded)
            audit_clean(ledger)

    with Ledger.open(shared_url) as ledger:
        before = len(invoices(ledger)[0])
        report = ledger.import_purchases(
            (import_row(n) for n in range(IMPORT_ROWS)), batch_size=IMPORT_BATCH
        )
        assert ([], IMPORT_ROWS - before, before) == (
            report.rejected,
            report.recorded,
            report.duplicates,
        )
        recorded, earned = invoices(ledger)
        assert {f"B-{n:04d}": 1 for n in range(IMPORT_ROWS)} == recorded == earned
        expected: defaultdict[str, int] = defaultdict(int)
        for n in range(IMPORT_ROWS):
            expected[f"POS-{n % IMPORT_CUSTOMERS}"] += 1 + n % 7
        assert expected == {pos: ledger.balance(c) for pos, c in customers.items()}
        audit_clean(ledger)
    FIGURES["import kills"] += kills
    show(capsys, "bulk import", lives=KILLS, killed=kills, rows=IMPORT_ROWS, batch=IMPORT_BATCH)


# --- (b) a burst of single commands ----------------------------------------------------------


def test_killed_command_bursts_lose_no_acknowledged_command_and_leave_nothing_partial(
    shared_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rng = random.Random(SEED + 1)
    with Ledger.open(shared_url) as ledger:
        ledger.configure_loyalty(program())
        referrer = ledger.register_customer("Người giới thiệu", ["0900 000 002"])
        ledger.sign_contract(referrer, "C-0", "pro", date(2020, 1, 1), date(2040, 1, 1))
    kills = acknowledged = 0
    for life in range(KILLS):
        ack_path = tmp_path / f"burst-{life}.acks"
        kills += kill_after(
            burst,
            (shared_url, life, str(referrer), str(ack_path)),
            ack_path,
            rng.randint(1, 40),
            rng.uniform(0, 0.05),
        )
        acks = read_acks(ack_path)
        acknowledged += len(acks)
        # Opening completes a reward whose contract was saved before the kill.
        with Ledger.open(shared_url) as ledger:
            check_acknowledged(ledger, acks)
            recorded, earned = invoices(ledger)
            assert recorded == earned
            assert set(rewards_by_referral(ledger).values()) <= {1}
            audit_clean(ledger)
    FIGURES["burst kills"] += kills
    show(capsys, "command bursts", lives=KILLS, killed=kills, acknowledged=acknowledged)


# --- (c) the projection and reaction worker ---------------------------------------------


def test_a_killed_worker_leaves_views_equal_to_their_rebuild_and_rewards_once(
    shared_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rng = random.Random(SEED + 2)
    with Ledger.open(shared_url, react_inline=False) as ledger:
        referrer = ledger.register_customer("Người giới thiệu", ["0900 000 003"])
        ledger.sign_contract(referrer, "C-0", "pro", date(2020, 1, 1), date(2040, 1, 1))
    signed: list[UUID] = []
    kills = 0
    for life in range(KILLS):
        # A backlog for the worker: leads, moves, and leads signing up (rewards due).
        with Ledger.open(shared_url, react_inline=False) as ledger:
            for n in range(30):
                phone = f"097{life:02d}{n:05d}"
                referral = ledger.submit_referral(referrer, f"Lead {life}-{n}", phone, "retail")
                ledger.assign_rep(referral, f"rep-{n % 3}")
                if n % 3 == 0:
                    lead = ledger.register_customer(f"Lead {life}-{n}", [phone])
                    ledger.sign_contract(lead, "C-1", "pro", date(2020, 1, 1), date(2040, 1, 1))
                    signed.append(referral)
                elif n % 3 == 1:
                    ledger.start_referral(referral)
        ack_path = tmp_path / f"worker-{life}.acks"
        kills += kill_after(
            work_views_and_reactions,
            (shared_url, str(ack_path)),
            ack_path,
            1,
            rng.uniform(0, 0.4),
        )
        with Ledger.open(shared_url, react_inline=False) as ledger:
            assert ledger._views.position <= ledger.event_count()
            assert set(rewards_by_referral(ledger).values()) <= {1}
            views_equal_rebuild(ledger)
    with Ledger.open(shared_url) as ledger:  # completes the rewards still due
        rewards = rewards_by_referral(ledger)
        assert set(signed) <= set(rewards)
        assert {1} == set(rewards.values())
        audit_clean(ledger)
    FIGURES["worker kills"] += kills
    show(capsys, "run_worker", lives=KILLS, killed=kills, rewards=len(rewards))


# --- backups while a writer runs (SQLite) -------------------------------------------------


@contextlib.contextmanager
def writer(url: str, referrer: UUID, ack_path: Path) -> Iterator[multiprocessing.Process]:
    process = multiprocessing.get_context("spawn").Process(
        target=burst, args=(url, 99, str(referrer), str(ack_path))
    )
    process.start()
    try:
        yield process  # type: ignore[misc]
    finally:
        os.kill(process.pid or 0, signal.SIGCONT)
        process.kill()
        process.join()


def wait_for_acks(ack_path: Path, at_least: int) -> None:
    for _ in range(MAX_POLLS):
        if count_lines(ack_path) >= at_least:
            return
        time.sleep(0.005)
    pytest.fail(f"the writer acknowledged fewer than {at_least} commands")


def test_a_sqlite_backup_taken_while_a_writer_runs_opens_and_audits_clean(
    sqlite_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two consistent ways to copy a live file: the online backup API, and the
    file with its -wal copied at one instant (here: the writer frozen by SIGSTOP,
    as a filesystem snapshot would). Each copy holds every command acknowledged
    before the copy began, and audits clean."""
    path = Path(sqlite_url.removeprefix("sqlite:///"))
    with Ledger.open(sqlite_url) as ledger:
        ledger.configure_loyalty(program())
        referrer = ledger.register_customer("Người giới thiệu", ["0900 000 004"])
        ledger.sign_contract(referrer, "C-0", "pro", date(2020, 1, 1), date(2040, 1, 1))
    ack_path = tmp_path / "writer.acks"
    copies = 0
    with writer(sqlite_url, referrer, ack_path) as process:
        for n in range(BACKUPS):
            wait_for_acks(ack_path, 6 + 12 * n)
            # (1) SQLite's online backup: one consistent read of the whole database.
            before = read_acks(ack_path)
            copy = tmp_path / f"backup-{n}.db"
            with (
                contextlib.closing(sqlite3.connect(path)) as live,
                contextlib.closing(sqlite3.connect(copy)) as target,
            ):
                live.backup(target)
            check_copy(copy, before)
            # (2) The file and its -wal at one instant.
            os.kill(process.pid or 0, signal.SIGSTOP)
            try:
                before = read_acks(ack_path)
                frozen = tmp_path / f"snapshot-{n}.db"
                for suffix in ("", "-wal"):
                    source = Path(f"{path}{suffix}")
                    if source.exists():
                        shutil.copyfile(source, f"{frozen}{suffix}")
            finally:
                os.kill(process.pid or 0, signal.SIGCONT)
            check_copy(frozen, before)
            copies += 2
    FIGURES["backups"] += copies
    show(capsys, "backups of a live SQLite file", copies=copies)


def check_copy(copy: Path, acks: list[dict[str, Any]]) -> None:
    with Ledger.open(f"sqlite:///{copy}") as ledger:
        check_acknowledged(ledger, acks)
        recorded, earned = invoices(ledger)
        assert recorded == earned
        audit_clean(ledger)
