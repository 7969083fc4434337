"""Tamper evidence: rows of the event log edited with SQL behind the ledger's back.

Whoever can write to the database can delete, change, insert or reorder the
rows of its events table. Deleting a redemption's row raises a balance and
leaves every other figure consistent, so the ledger's own invariants cannot
see it: the hash chain written with the events must. Each test edits the
rows the way an attacker (or a careless operator) would, on a SQLite file
and on a PostgreSQL schema, plain, compressed and encrypted, and checks that
`audit` names the position.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol
from uuid import UUID, uuid4

import attrs
import psycopg
import pytest
from psycopg import sql

from referral_ledger import InvalidInput, Ledger, LoyaltyProgram
from referral_ledger.aggregates.loyalty import account_id
from referral_ledger.audit import AuditReport, audit
from referral_ledger.persistence.application import without_chain
from referral_ledger.store import EventLog, Store, ensure_postgres_schema, environment_for
from stores import split_pg_url
from support import Clock

CODINGS: dict[str, dict[str, Any]] = {
    "plain": {},
    "compressed": {"compress": True},
    "encrypted": {"cipher_key": Ledger.create_cipher_key()},
}


class RawLog(Protocol):
    """The events table, edited with SQL as an attacker would."""

    def positions(self, event_class: str) -> list[int]: ...
    def newest(self) -> int: ...
    def delete(self, position: int) -> None: ...
    def swap_states(self, a: int, b: int) -> None: ...
    def swap_rows(self, a: int, b: int) -> None: ...
    def forge(self, like: int, originator_id: UUID, version: int) -> int: ...


class SQLiteLog:
    def __init__(self, url: str) -> None:
        self.path = Path(url.removeprefix("sqlite:///"))

    @contextlib.contextmanager
    def db(self) -> Iterator[sqlite3.Connection]:
        with contextlib.closing(sqlite3.connect(self.path)) as db, db:
            yield db

    def positions(self, event_class: str) -> list[int]:
        with self.db() as db:
            rows = db.execute(
                "SELECT rowid FROM stored_events WHERE topic LIKE ? ORDER BY rowid",
                (f"%:{event_class}",),
            ).fetchall()
        return [int(r[0]) for r in rows]

    def newest(self) -> int:
        with self.db() as db:
            return int(db.execute("SELECT MAX(rowid) FROM stored_events").fetchone()[0])

    def delete(self, position: int) -> None:
        with self.db() as db:
            db.execute("DELETE FROM stored_events WHERE rowid = ?", (position,))

    def swap_states(self, a: int, b: int) -> None:
        with self.db() as db:
            sa, sb = (
                db.execute("SELECT state FROM stored_events WHERE rowid = ?", (p,)).fetchone()[0]
                for p in (a, b)
            )
            db.execute("UPDATE stored_events SET state = ? WHERE rowid = ?", (sb, a))
            db.execute("UPDATE stored_events SET state = ? WHERE rowid = ?", (sa, b))

    def swap_rows(self, a: int, b: int) -> None:
        with self.db() as db:
            db.execute("UPDATE stored_events SET rowid = -1 WHERE rowid = ?", (a,))
            db.execute("UPDATE stored_events SET rowid = ? WHERE rowid = ?", (a, b))
            db.execute("UPDATE stored_events SET rowid = ? WHERE rowid = -1", (b,))

    def forge(self, like: int, originator_id: UUID, version: int) -> int:
        with self.db() as db:
            cursor = db.execute(
                "INSERT INTO stored_events (originator_id, originator_version, topic, state) "
                "SELECT ?, ?, topic, state FROM stored_events WHERE rowid = ?",
                (originator_id.hex, version, like),
            )
            return int(cursor.lastrowid or 0)


class PostgresLog:
    def __init__(self, url: str) -> None:
        self.dsn, schema = split_pg_url(url)
        self.table = sql.Identifier(schema or "public", "referral_ledger_events")
        self.head = sql.Identifier(schema or "public", "referral_ledger_events_chain_head")

    @contextlib.contextmanager
    def db(self) -> Iterator[psycopg.Connection[Any]]:
        with psycopg.connect(self.dsn) as db:  # one transaction, committed on exit
            yield db

    def run(self, query: str, *params: object) -> list[tuple[Any, ...]]:
        with self.db() as db:
            cursor = db.execute(sql.SQL(query).format(t=self.table, h=self.head), params)
            return cursor.fetchall() if cursor.description else []

    def positions(self, event_class: str) -> list[int]:
        rows = self.run(
            "SELECT notification_id FROM {t} WHERE topic LIKE %s ORDER BY 1", f"%:{event_class}"
        )
        return [int(r[0]) for r in rows]

    def newest(self) -> int:
        return int(self.run("SELECT MAX(notification_id) FROM {t}")[0][0])

    def delete(self, position: int) -> None:
        self.run("DELETE FROM {t} WHERE notification_id = %s", position)

    def swap_states(self, a: int, b: int) -> None:
        self.run(
            "UPDATE {t} e SET state = o.state FROM {t} o WHERE (e.notification_id, "
            "o.notification_id) IN ((%s, %s), (%s, %s))",
            a,
            b,
            b,
            a,
        )

    def swap_rows(self, a: int, b: int) -> None:
        with self.db() as db:
            move = sql.SQL("UPDATE {t} SET notification_id = %s WHERE notification_id = %s")
            for old, new in ((a, -1), (b, a), (-1, b)):
                db.execute(move.format(t=self.table), (new, old))

    def forge(self, like: int, originator_id: UUID, version: int) -> int:
        rows = self.run(
            "INSERT INTO {t} (originator_id, originator_version, topic, state) "
            "SELECT %s, %s, topic, state FROM {t} WHERE notification_id = %s "
            "RETURNING notification_id",
            originator_id,
            version,
            like,
        )
        return int(rows[0][0])


@attrs.frozen
class Written:
    url: str
    options: dict[str, Any]
    raw: RawLog
    alice: UUID
    bob: UUID

    def open(self) -> Ledger:
        return Ledger.open(self.url, **self.options)

    def audit(self) -> AuditReport:
        with self.open() as ledger:
            return audit(ledger)


def write(url: str, options: dict[str, Any], raw: RawLog) -> Written:
    """Two customers with purchases, a redemption and a referral."""
    clock = Clock()
    with Ledger.open(url, clock=clock, **options) as ledger:
        ledger.configure_loyalty(
            LoyaltyProgram(money_per_point=Decimal(10000), point_value=Decimal(1000))
        )
        alice = ledger.register_customer("Alice", ["0912 345 678"])
        bob = ledger.register_customer("Bob", ["0913 345 678"])
        ledger.sign_contract(alice, "C-1", "pro", date(2020, 1, 1), date(2035, 1, 1))
        for n, (who, amount) in enumerate([(alice, 250000), (bob, 120000), (alice, 90000)]):
            clock.advance(minutes=1)
            ledger.record_purchase(who, f"INV-{n}", amount)
        ledger.redeem_points(alice, 20, "R-1")
        lead = ledger.submit_referral(alice, "Chi", "0987 654 321", "retail")
        ledger.start_referral(lead, rep="rep-01")
        clock.advance(minutes=1)
        ledger.record_purchase(bob, "INV-9", 50000)
    return Written(url, options, raw, alice, bob)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(params=sorted(CODINGS))
def written(
    request: pytest.FixtureRequest, kind: str, sqlite_url: str, tmp_path: Path
) -> Iterator[Written]:
    options = CODINGS[request.param]
    if kind == "sqlite":
        yield write(sqlite_url, options, SQLiteLog(sqlite_url))
        return
    pg = request.getfixturevalue("fresh_pg_url")
    yield write(pg, options, PostgresLog(pg))


def chain_problems(report: AuditReport) -> list[tuple[int | None, str]]:
    return [(p.position, p.message) for p in report.problems if p.check == "chain"]


def test_a_ledger_of_accepted_commands_audits_clean_with_its_chain_from_the_start(
    written: Written,
) -> None:
    report = written.audit()
    assert [] == list(report.problems)
    assert (1, 0) == (report.chain_start, report.unchained)
    assert report.chain_head is not None
    assert written.raw.newest() == report.chain_head.position


def test_deleting_a_redemption_raises_the_balance_and_the_audit_reports_it(
    written: Written,
) -> None:
    with written.open() as ledger:
        before = ledger.balance(written.alice)
    (redeemed,) = written.raw.positions("PointsRedeemed")
    written.raw.delete(redeemed)
    with written.open() as ledger:
        assert before + 20 == ledger.balance(written.alice)  # what the tampering gained
    problems = chain_problems(written.audit())
    assert problems, "the audit must not say clean"
    # SQLite keeps the link of the deleted row (reported at its position);
    # PostgreSQL keeps it in the row, so the next event's link breaks.
    assert problems[0][0] in (redeemed, redeemed + 1)
    assert "deleted" in problems[0][1]


def test_swapped_payloads_are_reported_at_both_positions(written: Written) -> None:
    first, second = written.raw.positions("PointsEarned")[:2]
    written.raw.swap_states(first, second)
    problems = chain_problems(written.audit())
    assert [first, second] == [p for p, _ in problems]
    assert all("changed" in m for _, m in problems)


def test_a_forged_row_is_reported(written: Written) -> None:
    earned = written.raw.positions("PointsEarned")
    with written.open() as ledger:
        version = ledger._store.version_of(account_id(written.bob))
    forged = written.raw.forge(earned[0], account_id(written.bob), version + 1)
    problems = chain_problems(written.audit())
    assert [forged] == [p for p, _ in problems]
    assert "not chained" in problems[0][1]


def test_reordered_rows_are_reported(written: Written) -> None:
    # A customer registration moved after a purchase of another customer.
    (bob_registered,) = written.raw.positions("CustomerRegistered")[1:2]
    purchase = written.raw.positions("PointsEarned")[0]
    written.raw.swap_rows(bob_registered, purchase)
    positions = [p for p, _ in chain_problems(written.audit())]
    assert bob_registered in positions and purchase in positions


def test_deleting_the_newest_event_is_reported(written: Written) -> None:
    newest = written.raw.newest()
    written.raw.delete(newest)
    problems = chain_problems(written.audit())
    assert [newest] == [p for p, _ in problems]
    assert "deleted" in problems[0][1]


def test_a_deleted_newest_event_stays_reported_after_more_writes(written: Written) -> None:
    newest = written.raw.newest()
    written.raw.delete(newest)
    with written.open() as ledger:
        ledger.record_purchase(written.bob, "INV-later", 50000)
    problems = chain_problems(written.audit())
    assert problems
    assert all(newest <= (p or 0) for p, _ in problems)


def test_a_gap_in_a_records_versions_is_reported(written: Written) -> None:
    """A middle event of Alice's points account deleted: her versions skip one."""
    earned = written.raw.positions("PointsEarned")
    written.raw.delete(earned[0])
    report = written.audit()
    versions = [p for p in report.problems if p.check == "versions"]
    assert 1 == len(versions)
    assert "version 1" in versions[0].message
    assert chain_problems(report)


def test_the_audit_command_exits_1_and_names_the_deleted_redemption(
    written: Written, capsys: pytest.CaptureFixture[str]
) -> None:
    from referral_ledger.cli import main

    if written.options:
        pytest.skip("the command line opens plain stores only")
    (redeemed,) = written.raw.positions("PointsRedeemed")
    written.raw.delete(redeemed)
    code = main(["audit", "--db", written.url])
    out = capsys.readouterr().out
    assert 1 == code
    assert "[chain] position " in out
    assert out.splitlines()[-1].startswith("audit found ")


def test_a_start_backdated_before_the_lead_registered_audits_clean(
    store_url: str, clock: Clock
) -> None:
    """Accepted by `start_referral` (the referral's last change is its submission),
    so the audit must not call it out of order."""
    with Ledger.open(store_url, clock=clock) as ledger:
        referrer = ledger.register_customer("Alice", ["0912 345 678"])
        ledger.sign_contract(referrer, "C-1", "pro", date(2020, 1, 1), date(2035, 1, 1))
        submitted = clock.now
        lead = ledger.submit_referral(referrer, "Chi", "0987 654 321", "retail")
        clock.advance(days=2)
        ledger.register_customer("Chi", ["0987 654 321"])  # links the lead now
        ledger.start_referral(lead, rep="rep-01", at=submitted + timedelta(days=1))
        assert "in_progress" == ledger.get_referral(lead).status.value
        report = audit(ledger)
    assert [] == [str(p) for p in report.problems]


# --- stores written before the chain, the in-memory store, concurrent writers -------------


def open_without_chain(url: str, clock: Clock) -> Ledger:
    """The ledger as it wrote before the chain existed."""
    env = without_chain(environment_for(url))
    ensure_postgres_schema(env)
    return Ledger(Store(EventLog(env=env), clock=clock))


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_a_store_written_before_the_chain_reads_the_same_and_is_chained_from_then_on(
    kind: str, sqlite_url: str, request: pytest.FixtureRequest, clock: Clock
) -> None:
    url = sqlite_url if kind == "sqlite" else request.getfixturevalue("fresh_pg_url")
    with open_without_chain(url, clock) as old:
        old.configure_loyalty(LoyaltyProgram(money_per_point=10000, point_value=1000))
        alice = old.register_customer("Alice", ["0912 345 678"])
        old.record_purchase(alice, "INV-1", 250000)
        before = old.event_count()
        statement = old.statement(alice)
    with Ledger.open(url, clock=clock) as ledger:
        assert statement == ledger.statement(alice)
        ledger.record_purchase(alice, "INV-2", 120000)
        report = audit(ledger)
    assert [] == list(report.problems)
    assert (before, before + 1) == (report.unchained, report.chain_start)
    assert f"hash chain from position {before + 1} (the events before it" in report.summary()


def test_the_in_memory_store_is_chained_too() -> None:
    name = f"chain{uuid4().hex}"
    with Ledger.open(f"memory://{name}") as ledger:
        ledger.configure_loyalty(LoyaltyProgram(money_per_point=10000, point_value=1000))
        alice = ledger.register_customer("Alice", ["0912 345 678"])
        ledger.record_purchase(alice, "INV-1", 250000)
        assert (1, True) == (audit(ledger).chain_start, audit(ledger).ok)
        uri = f"file:referral-ledger-{name}?mode=memory&cache=shared"
        with contextlib.closing(sqlite3.connect(uri, uri=True)) as db, db:
            db.execute("DELETE FROM stored_events WHERE topic LIKE '%:PointsEarned'")
        assert "chain" in [p.check for p in audit(ledger).problems]


def write_concurrently(url: str, customers: list[UUID], worker: int, errors: list[str]) -> None:
    try:
        with Ledger.open(url) as ledger:
            for n in range(COMMANDS_PER_WRITER):
                ledger.record_purchase(customers[n % len(customers)], f"W{worker}-{n}", 150000)
    except Exception as error:  # pragma: no cover - reported by the test
        errors.append(repr(error))


COMMANDS_PER_WRITER = 40


def test_concurrent_writers_keep_one_unbroken_chain(
    kind: str, sqlite_url: str, request: pytest.FixtureRequest
) -> None:
    """Threads with their own connections write at once: each transaction reads the
    previous link under the store's write lock, so no two link to the same one.
    (The in-memory store is left out: its shared cache refuses concurrent writers
    with "database table is locked", chain or not.)"""
    store_url = sqlite_url if kind == "sqlite" else request.getfixturevalue("fresh_pg_url")
    errors: list[str] = []
    with Ledger.open(store_url) as ledger:
        ledger.configure_loyalty(LoyaltyProgram(money_per_point=10000, point_value=1000))
        customers = [ledger.register_customer(f"C{i}", [f"0912 345 67{i}"]) for i in range(4)]
        writers = [
            threading.Thread(target=write_concurrently, args=(store_url, customers, w, errors))
            for w in range(4)
        ]
        for writer in writers:
            writer.start()
        for writer in writers:
            writer.join()
        report = audit(ledger)
    assert [] == errors
    assert [] == [str(p) for p in report.problems]
    assert report.chain_head is not None
    assert 4 * COMMANDS_PER_WRITER * 2 < report.chain_head.position


def test_a_cut_that_also_rewinds_the_chain_is_caught_only_by_an_anchor_kept_outside(
    kind: str, sqlite_url: str, request: pytest.FixtureRequest
) -> None:
    """Whoever deletes the newest event AND its link (and rewinds PostgreSQL's head
    row) leaves a shorter, valid chain: nothing inside the store can tell. The head
    an earlier audit printed, kept elsewhere, can."""
    url = sqlite_url if kind == "sqlite" else request.getfixturevalue("fresh_pg_url")
    raw: RawLog = SQLiteLog(url) if kind == "sqlite" else PostgresLog(url)
    written = write(url, {}, raw)
    with written.open() as ledger:
        anchor = ledger.audit().chain_head
    assert anchor is not None
    newest = raw.newest()
    raw.delete(newest)
    if isinstance(raw, SQLiteLog):
        with raw.db() as db:
            db.execute("DELETE FROM event_chain WHERE position = ?", (newest,))
    elif isinstance(raw, PostgresLog):
        raw.run(
            "UPDATE {h} h SET position = e.notification_id, link = e.chain_link "
            "FROM (SELECT * FROM {t} ORDER BY notification_id DESC LIMIT 1) e"
        )
    with written.open() as ledger:
        assert ledger.audit().ok  # the documented limit
        problems = ledger.audit(anchor=str(anchor)).problems
    assert [("chain", newest)] == [(p.check, p.position) for p in problems]
    assert "anchor" in problems[0].message


def test_an_anchor_that_is_not_one_is_invalid_input(sqlite_url: str) -> None:
    with Ledger.open(sqlite_url) as ledger:
        for bad in ("12", "x:y", "0:" + "00" * 16, 12, b"1:00"):
            with pytest.raises(InvalidInput):
                ledger.audit(anchor=bad)  # type: ignore[arg-type]
