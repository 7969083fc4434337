"""Damaged stored events, and what is kept secret at rest.

A stored event can be damaged on disk or by hand: bytes flipped, a payload
cut short, a topic naming a class that no longer exists. The ledger must
never answer as if the event were not there: `audit` reports each one with
its log position (and does not crash), whatever needed the event raises
`CorruptEvent` (a `StoreError`, so a `LedgerError`), and the ledger still
opens so the audit can run. Without a `cipher_key`, a flip that still
decodes (a digit changed) cannot be told from real data; with one, AES-GCM
authenticates every event and any flipped byte is caught.

With a `cipher_key`, the raw database bytes (the SQLite file and its -wal)
hold no customer name, phone or email, and no lead details: the read models,
which keep lead contact details in clear to search and sort them in SQL, then
live in the process's memory (unless the host asks for `views="store"`).
"""

from __future__ import annotations

import contextlib
import random
import sqlite3
from collections.abc import Callable, Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path
from uuid import UUID

import attrs
import pytest

from referral_ledger import (
    CorruptEvent,
    Ledger,
    LedgerError,
    LoyaltyProgram,
    StoreError,
)
from referral_ledger.audit import audit, read_log

SECRET_NAME = "Nguyễn Bí Mật"
SECRET_PHONE = "0912 345 678"
SECRET_PHONE_FORMS = ("+84912345678", "0912345678", "912345678", "0912 345 678")
SECRET_EMAIL = "bimat@example.vn"
LEAD_NAME = "Trần Khách Tiềm"
LEAD_PHONE_FORMS = ("+84987654321", "0987654321", "987654321")
LEAD_EMAIL = "tiemnang@example.vn"
LEAD_BUSINESS = "Cửa Hàng Bí Ẩn"
LEAD_WEBSITE = "bian-shop.example"


@attrs.frozen
class Scenario:
    url: str
    path: Path
    customer: UUID
    referral: UUID


def write_scenario(url: str, *, cipher_key: str | None = None, snapshots: int = 100) -> Scenario:
    """A small ledger touching every kind of record: program, customer, points,
    contract, referral."""
    path = Path(url.removeprefix("sqlite:///"))
    with Ledger.open(url, cipher_key=cipher_key, snapshot_interval=snapshots) as ledger:
        ledger.configure_loyalty(
            LoyaltyProgram(money_per_point=Decimal(10000), point_value=Decimal(1000))
        )
        customer = ledger.register_customer(
            SECRET_NAME,
            [SECRET_PHONE],
            email=SECRET_EMAIL,
            notes="ghi chú bí mật",
            addresses=["12 Phố Bí Mật"],
        )
        ledger.record_purchase(customer, "INV-1", 250000)
        ledger.record_purchase(customer, "INV-2", 120000)
        ledger.redeem_points(customer, 5, "R-1")
        ledger.sign_contract(customer, "C-1", "pro", date(2020, 1, 1), date(2035, 1, 1))
        referral = ledger.submit_referral(
            customer,
            LEAD_NAME,
            LEAD_PHONE_FORMS[1],
            "retail",
            email=LEAD_EMAIL,
            business_name=LEAD_BUSINESS,
            website=LEAD_WEBSITE,
        )
        ledger.start_referral(referral, rep="rep-01")
    return Scenario(url, path, customer, referral)


@pytest.fixture
def scenario(sqlite_url: str) -> Scenario:
    return write_scenario(sqlite_url)


def position_of(path: Path, event_class: str, which: str = "MIN") -> int:
    """The log position of the first (or last) stored event of `event_class`."""
    with contextlib.closing(sqlite3.connect(path)) as db:
        (position,) = db.execute(
            f"SELECT {which}(rowid) FROM stored_events WHERE topic LIKE ?", (f"%:{event_class}",)
        ).fetchone()
    assert position is not None, event_class
    return int(position)


def damage(path: Path, position: int, how: Callable[[bytes, str], tuple[bytes, str]]) -> None:
    """Rewrite the stored event at `position` (its rowid is its log position)."""
    with contextlib.closing(sqlite3.connect(path)) as db, db:
        state, topic = db.execute(
            "SELECT state, topic FROM stored_events WHERE rowid = ?", (position,)
        ).fetchone()
        new_state, new_topic = how(bytes(state), topic)
        db.execute(
            "UPDATE stored_events SET state = ?, topic = ? WHERE rowid = ?",
            (new_state, new_topic, position),
        )


def flip_first_byte(state: bytes, topic: str) -> tuple[bytes, str]:
    # The opening "{" of the JSON: no longer a JSON document.
    return bytes([state[0] ^ 0x01]) + state[1:], topic


def truncate(state: bytes, topic: str) -> tuple[bytes, str]:
    return state[: len(state) // 2], topic


def unknown_topic(state: bytes, topic: str) -> tuple[bytes, str]:
    module, _, name = topic.partition(":")
    return state, f"{module}:{name}Vanished"


DAMAGES = {"flipped": flip_first_byte, "truncated": truncate, "unknown-topic": unknown_topic}

#: event class damaged -> a query that must read it (so must raise `CorruptEvent`).
READERS: dict[str, Callable[[Ledger, Scenario], object]] = {
    "PointsEarned": lambda ledger, s: ledger.statement(s.customer),
    "PointsRedeemed": lambda ledger, s: ledger.balance(s.customer),
    "InvoiceRecorded": lambda ledger, s: ledger.record_purchase(s.customer, "INV-1", 250000),
    "CustomerRegistered": lambda ledger, s: ledger.get_customer(s.customer),
    "ContractSigned": lambda ledger, s: ledger.contract_in_force(s.customer, date(2025, 1, 1)),
    "ReferralSubmitted": lambda ledger, s: ledger.get_referral(s.referral),
    "ReferralStarted": lambda ledger, s: ledger.reward_referral(s.referral, amount=1000),
    "LoyaltyProgramConfigured": lambda ledger, s: ledger.loyalty_program(),
}


def decode_problems(ledger: Ledger) -> list[tuple[int | None, str]]:
    report = audit(ledger)
    assert not report.ok
    return [(p.position, p.message) for p in report.problems if p.check == "decode"]


@pytest.mark.parametrize("event_class", sorted(READERS))
@pytest.mark.parametrize("how", sorted(DAMAGES))
def test_a_damaged_event_is_reported_by_audit_and_raised_by_its_readers(
    scenario: Scenario, event_class: str, how: str
) -> None:
    """audit names the position; the query that needs the event raises CorruptEvent;
    the event still counts in the log; nothing is recorded by the failed command."""
    position = position_of(scenario.path, event_class)
    damage(scenario.path, position, DAMAGES[how])

    with Ledger.open(scenario.url) as ledger:
        last = ledger.event_count()
        problems = decode_problems(ledger)
        assert [position] == [p for p, _ in problems]
        assert event_class in problems[0][1]
        report = audit(ledger)
        assert last == report.events  # the damaged event is counted, not skipped
        assert not report.views_compared

        with pytest.raises(CorruptEvent) as raised:
            READERS[event_class](ledger, scenario)
        assert isinstance(raised.value, StoreError)
        assert isinstance(raised.value, LedgerError)
        assert "cannot read" in str(raised.value)
        assert last == ledger.event_count()

        entries = [e for e in read_log(ledger) if e.position == position]
        assert 1 == len(entries)
        assert entries[0].event is None
        assert entries[0].error


def test_the_views_never_skip_a_damaged_event(scenario: Scenario) -> None:
    """A catch-up (every lead query) and a rebuild stop at the damaged event with
    CorruptEvent instead of answering without it."""
    damage(scenario.path, position_of(scenario.path, "ReferralStarted"), truncate)
    with Ledger.open(scenario.url) as ledger:
        with pytest.raises(CorruptEvent):
            ledger.rebuild_projections()
        with pytest.raises(CorruptEvent):
            ledger.lead_table()
        with pytest.raises(CorruptEvent):
            ledger.conversion_by_rep()


def test_the_first_event_damaged_still_opens_so_the_audit_can_run(scenario: Scenario) -> None:
    """Opening reads the first events to detect a wrong key; one damaged event among
    them must not lock the ledger (and its audit) out."""
    damage(scenario.path, 1, truncate)
    with Ledger.open(scenario.url) as ledger:
        assert [1] == [p for p, _ in decode_problems(ledger)]
        with pytest.raises(CorruptEvent):
            ledger.loyalty_program()
        # Records that do not need the damaged event still answer.
        assert SECRET_NAME == ledger.get_customer(scenario.customer).name


def test_damage_behind_a_snapshot_is_still_reported(sqlite_url: str) -> None:
    """A snapshot taken after the damaged event lets the balance load, but the audit
    and the statement (which replays every event) still report it."""
    scenario = write_scenario(sqlite_url, snapshots=2)
    position = position_of(scenario.path, "PointsEarned")
    damage(scenario.path, position, truncate)
    with Ledger.open(scenario.url, snapshot_interval=2) as ledger:
        assert 32 == ledger.balance(scenario.customer)  # 25 + 12 - 5, from the snapshot
        assert position in [p for p, _ in decode_problems(ledger)]
        with pytest.raises(CorruptEvent):
            ledger.statement(scenario.customer)


@pytest.mark.parametrize("seed", range(4))
def test_with_a_cipher_key_any_flipped_byte_is_caught(sqlite_url: str, seed: int) -> None:
    """AES-GCM authenticates each event: one flipped bit anywhere in any event is
    reported by the audit at its position and raised by the reader."""
    key = Ledger.create_cipher_key()
    scenario = write_scenario(sqlite_url, cipher_key=key)
    rng = random.Random(seed)
    event_class = rng.choice(sorted(READERS))
    position = position_of(scenario.path, event_class)

    def flip_any(state: bytes, topic: str) -> tuple[bytes, str]:
        at = rng.randrange(len(state))
        return state[:at] + bytes([state[at] ^ (1 << rng.randrange(8))]) + state[at + 1 :], topic

    damage(scenario.path, position, flip_any)
    with Ledger.open(scenario.url, cipher_key=key) as ledger:
        assert [position] == [p for p, _ in decode_problems(ledger)]
        with pytest.raises(CorruptEvent):
            READERS[event_class](ledger, scenario)


# --- encryption at rest ---------------------------------------------------------------


@contextlib.contextmanager
def open_with_wal(url: str, key: str) -> Iterator[Ledger]:
    """The ledger, kept open so its last commits are still in the -wal file."""
    with Ledger.open(url, cipher_key=key, snapshot_interval=2) as ledger:
        yield ledger


def raw_files(path: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(path.parent.glob(path.name + "*"))}


def table_bytes(path: Path, tables: tuple[str, ...]) -> bytes:
    """Every value of every row of `tables`, as bytes."""
    chunks: list[bytes] = []
    with contextlib.closing(sqlite3.connect(path)) as db:
        for table in tables:
            for row in db.execute(f"SELECT * FROM {table}"):
                chunks += [v if isinstance(v, bytes) else str(v).encode() for v in row]
    return b"\n".join(chunks)


def customer_secrets() -> list[bytes]:
    texts = [SECRET_NAME, "Bí Mật", SECRET_EMAIL, "ghi chú bí mật", "Phố Bí Mật"]
    return [t.encode() for t in (*texts, *SECRET_PHONE_FORMS)]


def lead_secrets() -> list[bytes]:
    texts = [LEAD_NAME, LEAD_EMAIL, LEAD_BUSINESS, LEAD_WEBSITE, *LEAD_PHONE_FORMS]
    return [t.encode() for t in texts]


def test_with_a_cipher_key_the_file_and_its_wal_hold_no_customer_details(
    sqlite_url: str,
) -> None:
    """Read while the ledger is open, so the -wal file holds the latest commits
    (closing checkpoints and removes it); snapshots are on, so they are checked too."""
    key = Ledger.create_cipher_key()
    write_scenario(sqlite_url, cipher_key=key, snapshots=2)
    path = Path(sqlite_url.removeprefix("sqlite:///"))
    with open_with_wal(sqlite_url, key) as ledger:
        customer = ledger.register_customer(
            "Lê Thị Riêng Tư", ["0903 111 222"], email="riengtu@example.vn"
        )
        ledger.record_purchase(customer, "INV-W", 90000)
        files = raw_files(path)
        assert files.get(f"{path.name}-wal"), "the recent commits should still be in the WAL"
        everything = b"".join(files.values())
        leaked = [
            s
            for s in [*customer_secrets(), "Riêng Tư".encode(), b"riengtu", b"903111222"]
            if s in everything
        ]
        assert [] == leaked
    # The control: the same details are there in clear without a key.
    plain = write_scenario(f"sqlite:///{path.parent}/plain.db")
    assert SECRET_NAME.encode() in b"".join(raw_files(plain.path).values())


def test_with_a_cipher_key_events_and_snapshots_hold_no_lead_details(sqlite_url: str) -> None:
    key = Ledger.create_cipher_key()
    scenario = write_scenario(sqlite_url, cipher_key=key, snapshots=2)
    stored = table_bytes(scenario.path, ("stored_events", "stored_snapshots", "tracking"))
    assert [] == [s for s in lead_secrets() + customer_secrets() if s in stored]


def test_with_a_cipher_key_the_raw_file_holds_no_lead_details(sqlite_url: str) -> None:
    key = Ledger.create_cipher_key()
    scenario = write_scenario(sqlite_url, cipher_key=key)
    with Ledger.open(scenario.url, cipher_key=key) as ledger:
        assert ledger.lead_table()  # the views catch up, in this process's memory
        everything = b"".join(raw_files(scenario.path).values())
    assert [] == [s for s in lead_secrets() if s in everything]


def test_views_store_with_a_cipher_key_keeps_lead_details_in_clear(sqlite_url: str) -> None:
    """The documented trade-off of opting in to stored views on an encrypted store."""
    key = Ledger.create_cipher_key()
    scenario = write_scenario(sqlite_url, cipher_key=key)
    with Ledger.open(scenario.url, cipher_key=key, views="store") as ledger:
        assert ledger.lead_table()
        everything = b"".join(raw_files(scenario.path).values())
    assert [] != [s for s in lead_secrets() if s in everything]


def test_memory_views_answer_the_same_as_stored_views(sqlite_url: str) -> None:
    scenario = write_scenario(sqlite_url)
    with Ledger.open(scenario.url, views="memory") as in_memory:
        from_memory = in_memory.lead_table(search="a", sort_by="name")
    with Ledger.open(scenario.url, views="store") as stored:
        assert stored.lead_table(search="a", sort_by="name") == from_memory
    assert from_memory


@pytest.mark.parametrize("given", ["a key for a plain store", "the wrong key"])
def test_a_wrong_key_fails_at_open_with_a_clear_error(sqlite_url: str, given: str) -> None:
    """(test_store covers opening an encrypted store with no key or another key.)
    The error names the cause and never echoes a key."""
    written = None if given == "a key for a plain store" else Ledger.create_cipher_key()
    write_scenario(sqlite_url, cipher_key=written)
    wrong = Ledger.create_cipher_key()
    with pytest.raises(StoreError) as raised:
        Ledger.open(sqlite_url, cipher_key=wrong)
    message = str(raised.value)
    assert "cipher_key" in message
    assert wrong not in message
    assert written is None or written not in message


@pytest.mark.postgres
def test_a_wrong_key_fails_at_open_on_postgres(fresh_pg_url: str) -> None:
    key = Ledger.create_cipher_key()
    with Ledger.open(fresh_pg_url, cipher_key=key) as ledger:
        ledger.register_customer(SECRET_NAME, [SECRET_PHONE], email=SECRET_EMAIL)
        for notification in ledger._store.notifications(0, 100):
            assert [] == [s for s in customer_secrets() if s in notification.state]
    with pytest.raises(StoreError) as raised:
        Ledger.open(fresh_pg_url, cipher_key=Ledger.create_cipher_key())
    assert "cipher_key" in str(raised.value)
