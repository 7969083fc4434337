"""The event store under the ledger: snapshots, schema evolution, encryption at rest,
retries on optimistic-concurrency conflicts, and concurrent writers.
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar
from uuid import UUID, uuid4

import attrs
import orjson
import pytest
from eventsourcing.persistence import IntegrityError, StoredEvent, Tracking
from eventsourcing.utils import get_topic, resolve_topic

from referral_ledger import (
    ConcurrencyConflict,
    Ledger,
    LedgerError,
    LoyaltyProgram,
    RedemptionRefused,
    StoreError,
    Tier,
)
from referral_ledger.aggregates.base import Event
from referral_ledger.aggregates.loyalty import (
    PointsEarned,
    PointsRedeemed,
    account_id,
)
from referral_ledger.aggregates.loyalty_account import LoyaltyAccount, evolve_account
from referral_ledger.store import Snapshot, Store
from support import Clock

START = datetime(2026, 1, 1, 8, 0, tzinfo=UTC)
STANDARD = LoyaltyProgram(money_per_point=Decimal(10000), point_value=Decimal(1000))


def new_customer(ledger: Ledger) -> UUID:
    """A registered customer with a phone of its own."""
    return ledger.register_customer(name="Trần Thị Bình", phones=[f"091{uuid4().int % 10**7:07d}"])


@pytest.fixture(params=["sqlite", "postgres"])
def durable_url(request: pytest.FixtureRequest) -> str:
    """A fresh SQLite file or PostgreSQL schema."""
    if request.param == "sqlite":
        url: str = request.getfixturevalue("sqlite_url")
    else:
        url = request.getfixturevalue("fresh_pg_url")
    return url


def shareable(url: str) -> str:
    """`url`, named if it is in memory, so a second Ledger.open reaches the same store."""
    return f"memory://{uuid4().hex}" if url == "memory://" else url


def full_replay(store: Store, customer: UUID) -> LoyaltyAccount | None:
    """The account rebuilt from every one of its events, no snapshot involved."""
    return functools.reduce(evolve_account, store.events_of(account_id(customer)), None)


def count_replayed_events(store: Store, monkeypatch: pytest.MonkeyPatch) -> list[Event]:
    """Every event `store` reads from the events table from now on (snapshots not included)."""
    replayed: list[Event] = []
    original = store.app.events.get

    def get(*args: Any, **kwargs: Any) -> Iterator[Event]:
        for event in original(*args, **kwargs):
            assert isinstance(event, Event)
            replayed.append(event)
            yield event

    monkeypatch.setattr(store.app.events, "get", get)
    return replayed


def latest_snapshot(store: Store, customer: UUID) -> Snapshot | None:
    assert store.app.snapshots is not None
    found = list(store.app.snapshots.get(account_id(customer), desc=True, limit=1))
    if not found:
        return None
    assert isinstance(found[0], Snapshot)
    return found[0]


# --- snapshots -----------------------------------------------------------------


def twelve_movements(ledger: Ledger, customer: UUID) -> None:
    for n in range(6):
        ledger.record_purchase(customer, f"INV-{n}", 105000)
        ledger.redeem_points(customer, 3, f"R-{n}")


@contextlib.contextmanager
def with_history(url: str, **options: Any) -> Iterator[tuple[Ledger, UUID]]:
    """A ledger on the standard program and a customer with twelve movements (balance 42).

    The views' background thread is off unless asked for: these tests count
    what the store decodes and replays, and the thread decodes the same events
    behind the commands, at moments of its own.
    """
    options.setdefault("background_views", False)
    with Ledger.open(url, **options) as ledger:
        ledger.configure_loyalty(STANDARD)
        customer = new_customer(ledger)
        twelve_movements(ledger, customer)
        yield ledger, customer


def test_snapshot_is_taken_every_interval_and_loading_starts_from_it(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with with_history(store_url, snapshot_interval=5) as (ledger, customer):
        store = ledger._store
        snapshot = latest_snapshot(store, customer)
        assert snapshot is not None
        assert 10 == snapshot.originator_version
        replayed = count_replayed_events(store, monkeypatch)
        loaded = store.load(account_id(customer), evolve_account, cached=False)
        assert [11, 12] == [e.originator_version for e in replayed]
        assert full_replay(store, customer) == loaded
        assert loaded is not None
        assert (12, 6 * 7, 6) == (loaded.version, loaded.balance, loaded.purchase_count)
        assert 42 == ledger.balance(customer)


def test_snapshots_keep_the_topic_stores_since_0_1_hold(store_url: str) -> None:
    """`Snapshot` moved into the store package; its stored topic did not."""
    with with_history(store_url, snapshot_interval=5) as (ledger, customer):
        snapshots = ledger._store.app.snapshots
        assert snapshots is not None
        stored = snapshots.recorder.select_events(account_id(customer), desc=True, limit=1)
        assert ["referral_ledger.store:Snapshot"] == [s.topic for s in stored]
        assert resolve_topic("referral_ledger.store:Snapshot") is Snapshot


def test_snapshot_is_taken_when_one_command_crosses_the_interval(store_url: str) -> None:
    """A purchase that also changes the tier writes two events; v4 → v6 crosses 5."""
    with Ledger.open(store_url, snapshot_interval=5) as ledger:
        ledger.configure_loyalty(
            LoyaltyProgram(money_per_point=10000, point_value=1000, tiers=(Tier("Silver", 50),))
        )
        customer = new_customer(ledger)
        for n in range(5):
            ledger.record_purchase(customer, f"INV-{n}", 100000)
        snapshot = latest_snapshot(ledger._store, customer)
        assert snapshot is not None
        assert 6 == snapshot.originator_version
        account = ledger.loyalty_account(customer)
        assert account is not None
        assert "Silver" == account.tier


def test_no_snapshots_with_interval_zero(store_url: str) -> None:
    with with_history(store_url, snapshot_interval=0) as (ledger, customer):
        assert None is latest_snapshot(ledger._store, customer)
        assert 42 == ledger.balance(customer)


def test_snapshot_whose_state_no_longer_structures_is_ignored(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with with_history(store_url, snapshot_interval=5) as (ledger, customer):
        store = ledger._store
        assert store.app.snapshots is not None
        expected = full_replay(store, customer)
        bogus = Snapshot(
            originator_id=account_id(customer),
            originator_version=12,
            timestamp=START,
            state_topic=get_topic(LoyaltyAccount),
            state={"id": "not a uuid", "balance": "lots"},
        )
        store.app.snapshots.put([bogus])
        replayed = count_replayed_events(store, monkeypatch)
        assert expected == store.load(account_id(customer), evolve_account, cached=False)
        assert 12 == len(replayed)
        assert 42 == ledger.balance(customer)


def test_snapshot_of_a_state_class_that_no_longer_exists_is_ignored(store_url: str) -> None:
    with with_history(store_url, snapshot_interval=5) as (ledger, customer):
        store = ledger._store
        assert store.app.snapshots is not None
        store.app.snapshots.put(
            [
                Snapshot(
                    originator_id=account_id(customer),
                    originator_version=12,
                    timestamp=START,
                    state_topic="referral_ledger.gone:OldAccount",
                    state={},
                )
            ]
        )
        assert full_replay(store, customer) == store.load(
            account_id(customer), evolve_account, cached=False
        )


def test_snapshot_whose_bytes_cannot_be_read_is_ignored(store_url: str) -> None:
    """Snapshots are a cache: a damaged one must not make the account unreadable."""
    with with_history(store_url, snapshot_interval=5) as (ledger, customer):
        store = ledger._store
        assert store.app.snapshots is not None
        store.app.snapshots.recorder.insert_events(
            [
                StoredEvent(
                    originator_id=account_id(customer),
                    originator_version=12,
                    topic=get_topic(Snapshot),
                    state=b"\x00 not json",
                )
            ]
        )
        assert full_replay(store, customer) == store.load(
            account_id(customer), evolve_account, cached=False
        )
        assert 42 == ledger.balance(customer)
        assert Decimal(2000) == ledger.redeem_points(customer, 2, "R-AFTER")
        assert 40 == ledger.balance(customer)


# --- the state cache --------------------------------------------------------------


def count_decoded(store: Store, monkeypatch: pytest.MonkeyPatch) -> list[StoredEvent]:
    """Every stored event or snapshot `store`'s mapper decodes from now on."""
    decoded: list[StoredEvent] = []
    original = store.app.mapper.to_domain_event

    def to_domain_event(stored: Any) -> Any:
        decoded.append(stored)
        return original(stored)

    monkeypatch.setattr(store.app.mapper, "to_domain_event", to_domain_event)
    return decoded


def versions(stored: list[StoredEvent]) -> list[tuple[Any, int]]:
    return [(e.originator_id, e.originator_version) for e in stored]


@pytest.fixture
def with_rival(durable_url: str) -> Iterator[tuple[Ledger, Ledger, UUID]]:
    """A ledger whose cache holds a customer with twelve movements, and a second
    ledger on the same store: another process, as far as the first one's cache knows.
    The first folds its views on queries only: its background thread would decode
    its own commits too, and the tests count what reads decode."""
    with (
        with_history(durable_url) as (ledger, customer),
        Ledger.open(durable_url) as rival,
    ):
        yield ledger, rival, customer


def test_a_cached_account_reads_only_the_events_recorded_after_it(
    with_rival: tuple[Ledger, Ledger, UUID], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process's writes are always seen: the cache only saves re-decoding."""
    ledger, rival, customer = with_rival
    store = ledger._store
    decoded = count_decoded(store, monkeypatch)
    assert 42 == ledger.balance(customer)  # the bulk read path
    assert [] == decoded
    rival.record_purchase(customer, "INV-RIVAL", 50000)
    assert 47 == ledger.balance(customer)
    assert [(account_id(customer), 13)] == versions(decoded)
    replayed = count_replayed_events(store, monkeypatch)  # the one-record path
    rival.record_purchase(customer, "INV-RIVAL-2", 50000)
    loaded = store.load(account_id(customer), evolve_account)
    assert [14] == [e.originator_version for e in replayed]
    assert full_replay(store, customer) == loaded


def test_a_command_on_cached_records_decodes_only_what_is_new(
    with_rival: tuple[Ledger, Ledger, UUID], monkeypatch: pytest.MonkeyPatch
) -> None:
    ledger, rival, customer = with_rival
    decoded = count_decoded(ledger._store, monkeypatch)
    ledger.record_purchase(customer, "INV-NEXT", 100000)
    assert [] == decoded  # customer, program and account held; the invoice is new
    rival.redeem_points(customer, 5, "R-RIVAL")
    assert Decimal(2000) == ledger.redeem_points(customer, 2, "R-MINE")
    assert [(account_id(customer), 14)] == versions(decoded)
    assert 42 + 10 - 5 - 2 == ledger.balance(customer)
    assert full_replay(ledger._store, customer) == ledger.loyalty_account(customer)


def test_the_cache_holds_at_most_cache_size_states(store_url: str) -> None:
    with Ledger.open(store_url, cache_size=3) as ledger:
        ledger.configure_loyalty(STANDARD)
        people = [new_customer(ledger) for _ in range(4)]
        for n, person in enumerate(people):
            ledger.record_purchase(person, f"INV-{n}", 100000)
        assert len(ledger._store.cache) == 3
        assert [10] * 4 == [ledger.balance(p) for p in people]


def test_without_a_cache_every_load_replays(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with with_history(store_url, cache_size=0) as (ledger, customer):
        assert 0 == len(ledger._store.cache)
        decoded = count_decoded(ledger._store, monkeypatch)
        assert 42 == ledger.balance(customer)
        assert 12 == sum(e.originator_id == account_id(customer) for e in decoded)


@pytest.mark.parametrize("size", [-1, 1.5, True, "100"])
def test_cache_size_must_be_a_non_negative_int(size: object) -> None:
    with pytest.raises(LedgerError, match="cache_size"):
        Ledger.open("memory://", cache_size=size)  # type: ignore[arg-type]


# --- schema evolution ------------------------------------------------------------


@attrs.frozen(kw_only=True)
class NoteWritten(Event):
    """A test event on its third shape: v1 had `text`, v2 added `author`, v3 renamed `text`."""

    class_version: ClassVar[int] = 3

    body: str
    author: str

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        state["author"] = "unknown"

    @staticmethod
    def upcast_v2_v3(state: dict[str, Any]) -> None:
        state["body"] = state.pop("text")


def test_older_payloads_written_as_raw_bytes_are_upcast_on_read(store_url: str) -> None:
    with Ledger.open(store_url) as ledger:
        app = ledger._store.app
        note = uuid4()
        when = START.isoformat()
        app.recorder.insert_events(
            [
                StoredEvent(
                    originator_id=note,
                    originator_version=1,
                    topic=get_topic(NoteWritten),
                    # v1: no class_version key at all, no author, the old field name.
                    state=orjson.dumps({"timestamp": when, "text": "first"}),
                ),
                StoredEvent(
                    originator_id=note,
                    originator_version=2,
                    topic=get_topic(NoteWritten),
                    state=orjson.dumps(
                        {"timestamp": when, "text": "second", "author": "An", "class_version": 2}
                    ),
                ),
            ]
        )
        current = NoteWritten(
            originator_id=note, originator_version=3, timestamp=START, body="third", author="Bình"
        )
        app.events.put([current])
        assert [
            NoteWritten(
                originator_id=note,
                originator_version=1,
                timestamp=START,
                body="first",
                author="unknown",
            ),
            NoteWritten(
                originator_id=note,
                originator_version=2,
                timestamp=START,
                body="second",
                author="An",
            ),
            current,
        ] == list(app.events.get(note))


def test_current_events_are_stored_with_their_class_version(store_url: str) -> None:
    with Ledger.open(store_url) as ledger:
        app = ledger._store.app
        note = uuid4()
        app.events.put(
            [
                NoteWritten(
                    originator_id=note, originator_version=1, timestamp=START, body="b", author="a"
                )
            ]
        )
        [stored] = app.recorder.select_events(note)
        assert 3 == orjson.loads(stored.state)["class_version"]


def test_events_without_a_class_version_are_stored_without_one(store_url: str) -> None:
    with Ledger.open(store_url) as ledger:
        ledger.configure_loyalty(STANDARD)
        customer = new_customer(ledger)
        ledger.record_purchase(customer, "INV-1", 105000)
        [stored] = ledger._store.app.recorder.select_events(account_id(customer))
        assert "class_version" not in orjson.loads(stored.state)


# --- encryption and compression at rest ----------------------------------------------

SECRET_INVOICE = "INV-SECRET-7f3a9c"
SECRET_NAME = "Lê Thị Bí Mật"


def raw_bytes(directory: Path) -> bytes:
    """Everything SQLite wrote for the ledger: the file and its WAL/SHM companions."""
    return b"".join(p.read_bytes() for p in sorted(directory.glob("ledger.db*")))


def write_secrets(ledger: Ledger) -> UUID:
    ledger.configure_loyalty(STANDARD)
    customer = ledger.register_customer(name=SECRET_NAME, phones=["0912 345 678"])
    ledger.record_purchase(customer, SECRET_INVOICE, 105000)
    ledger.redeem_points(customer, 4, "R-SECRET-1")
    return customer


def test_without_a_cipher_key_the_secrets_are_readable_in_the_file(tmp_path: Path) -> None:
    """The control for the test below: the search does find plain text."""
    with Ledger.open(f"sqlite:///{tmp_path}/ledger.db") as ledger:
        write_secrets(ledger)
    assert SECRET_INVOICE.encode() in raw_bytes(tmp_path)


def test_with_a_cipher_key_nothing_readable_is_stored(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/ledger.db"
    key = Ledger.create_cipher_key()
    with Ledger.open(url, cipher_key=key) as ledger:
        customer = write_secrets(ledger)
    stored = raw_bytes(tmp_path)
    assert SECRET_INVOICE.encode() not in stored
    assert b"R-SECRET-1" not in stored
    assert SECRET_NAME.encode() not in stored
    with Ledger.open(url, cipher_key=key) as reopened:
        assert 6 == reopened.balance(customer)
        assert [SECRET_INVOICE, "R-SECRET-1"] == [
            row.reference for row in reopened.statement(customer)
        ]


@pytest.mark.parametrize("wrong", ["none", "other key"])
def test_opening_an_encrypted_store_without_its_key_raises_store_error(
    tmp_path: Path, wrong: str
) -> None:
    url = f"sqlite:///{tmp_path}/ledger.db"
    with Ledger.open(url, cipher_key=Ledger.create_cipher_key()) as ledger:
        write_secrets(ledger)
    key = None if wrong == "none" else Ledger.create_cipher_key()
    with pytest.raises(StoreError) as raised:
        Ledger.open(url, cipher_key=key)
    assert isinstance(raised.value, LedgerError)
    assert "cipher_key" in str(raised.value)


def test_compressed_store_works_and_reopens(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/ledger.db"
    with Ledger.open(url, compress=True) as ledger:
        customer = write_secrets(ledger)
    with Ledger.open(url, compress=True) as reopened:
        assert 6 == reopened.balance(customer)
    with pytest.raises(StoreError):
        Ledger.open(url)


def test_compressed_and_encrypted_store_works_and_reopens(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/ledger.db"
    key = Ledger.create_cipher_key()
    with Ledger.open(url, cipher_key=key, compress=True) as ledger:
        customer = write_secrets(ledger)
    assert SECRET_INVOICE.encode() not in raw_bytes(tmp_path)
    with Ledger.open(url, cipher_key=key, compress=True) as reopened:
        assert 6 == reopened.balance(customer)


def test_encryption_on_postgres(fresh_pg_url: str) -> None:
    key = Ledger.create_cipher_key()
    with Ledger.open(fresh_pg_url, cipher_key=key) as ledger:
        customer = write_secrets(ledger)
        for stored in ledger._store.app.recorder.select_events(account_id(customer)):
            assert SECRET_INVOICE.encode() not in stored.state
    with Ledger.open(fresh_pg_url, cipher_key=key) as reopened:
        assert 6 == reopened.balance(customer)
    with pytest.raises(StoreError):
        Ledger.open(fresh_pg_url)


# --- the recorders: one executemany (SQLite), COPY (PostgreSQL) ---------------------


def stored(originator_id: UUID, version: int) -> StoredEvent:
    return StoredEvent(
        originator_id=originator_id, originator_version=version, topic="x:Y", state=b"{}"
    )


def test_a_transaction_whose_events_collide_saves_none_of_them_nor_its_tracking_row(
    durable_url: str,
) -> None:
    """The bulk insert paths keep eventsourcing's all-or-nothing transaction."""
    with Ledger.open(durable_url) as ledger:
        recorder = ledger._store.recorder
        taken = uuid4()
        recorder.insert_events([stored(taken, 1)])
        first, last = uuid4(), uuid4()
        batch = [stored(first, 1), stored(taken, 1), stored(last, 1)]
        with pytest.raises(IntegrityError):
            recorder.insert_events(batch, tracking=Tracking("a-reaction", 7))
        assert [] == recorder.select_events(first)
        assert [] == recorder.select_events(last)
        assert [1] == [e.originator_version for e in recorder.select_events(taken)]
        assert not recorder.max_tracking_id("a-reaction")
        # The same rows without the collision go in, in order, with the tracking row.
        before = ledger._store.last_position()
        ids = recorder.insert_events(
            [stored(first, 1), stored(last, 1)], tracking=Tracking("a-reaction", 7)
        )
        assert 7 == recorder.max_tracking_id("a-reaction")
        logged = ledger._store.notifications(before, 10)
        assert [first, last] == [n.originator_id for n in logged]
        assert logged[0].id < logged[1].id
        if ids is not None:  # SQLite's recorder returns the positions it gave the rows
            assert [n.id for n in logged] == list(ids)


def test_the_stores_use_the_bulk_recorders(durable_url: str) -> None:
    from referral_ledger.persistence.postgres import CopyPostgresProcessRecorder
    from referral_ledger.persistence.sqlite import (
        BulkSQLiteProcessRecorder,
        CachingSQLiteConnectionPool,
    )

    with Ledger.open(durable_url) as ledger:
        recorder: Any = ledger._store.recorder
        if durable_url.startswith("sqlite"):
            assert isinstance(recorder, BulkSQLiteProcessRecorder)
            # The pool whose connections keep their prepared statements.
            assert isinstance(recorder.datastore.pool, CachingSQLiteConnectionPool)
            with recorder.datastore.transaction(commit=False) as cursor:
                cursor.execute("PRAGMA journal_mode")
                assert "wal" == cursor.fetchone()[0].lower()
        else:
            assert isinstance(recorder, CopyPostgresProcessRecorder)


# --- retries on conflict ------------------------------------------------------------


PutEvents = Callable[..., Any]


def intercept_puts(
    store: Store, monkeypatch: pytest.MonkeyPatch, before_put: Callable[[int, PutEvents], None]
) -> None:
    """Call `before_put(call number, real put)` before each save of a unit's events."""
    real_put: PutEvents = store.app.events.put
    calls = 0

    def put(events: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        before_put(calls, real_put)
        return real_put(events, **kwargs)

    monkeypatch.setattr(store.app.events, "put", put)


def test_a_conflicting_unit_is_decided_again_and_succeeds(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Ledger.open(store_url) as ledger:
        ledger.configure_loyalty(STANDARD)
        customer = new_customer(ledger)
        ledger.record_purchase(customer, "INV-1", 105000)
        count = ledger.event_count()
        before = attrs.evolve(ledger._store.stats)

        def conflict_once(call: int, real_put: PutEvents) -> None:
            if call == 1:
                raise IntegrityError("simulated: another writer saved this version first")

        intercept_puts(ledger._store, monkeypatch, conflict_once)
        assert Decimal(4000) == ledger.redeem_points(customer, 4, "R-1")
        stats = ledger._store.stats
        assert 1 == stats.commands - before.commands
        assert 2 == stats.attempts - before.attempts
        assert 1 == stats.conflicts_retried - before.conflicts_retried
        assert 0 == stats.conflicts_surfaced - before.conflicts_surfaced
        assert count + 2 == ledger.event_count()
        assert 6 == ledger.balance(customer)


def test_a_rival_write_of_the_same_invoice_makes_the_retry_return_the_first_result(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The invoice record's fixed id turns a racing double submission into one earning."""
    url = shareable(store_url)
    with Ledger.open(url) as ledger, Ledger.open(url) as rival:
        ledger.configure_loyalty(STANDARD)
        customer = new_customer(ledger)

        def rival_saves_first(call: int, real_put: PutEvents) -> None:
            if call == 1:
                # Decided on the same state as ours (no invoice yet), saved first.
                assert 10 == rival.record_purchase(customer, "INV-RACE", 105000)

        intercept_puts(ledger._store, monkeypatch, rival_saves_first)
        count = ledger.event_count()
        assert 10 == ledger.record_purchase(customer, "INV-RACE", 105000)
        assert 1 == ledger._store.stats.conflicts_retried
        assert count + 2 == ledger.event_count()
        assert 10 == ledger.balance(customer)
        earnings = [
            e for e in ledger._store.events_of(account_id(customer)) if isinstance(e, PointsEarned)
        ]
        assert 1 == len(earnings)


def test_a_rival_redemption_is_seen_when_the_unit_is_decided_again(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = shareable(store_url)
    with Ledger.open(url) as ledger, Ledger.open(url) as rival:
        ledger.configure_loyalty(STANDARD)
        customer = new_customer(ledger)
        ledger.record_purchase(customer, "INV-1", 105000)

        def rival_redeems_first(call: int, real_put: PutEvents) -> None:
            if call == 1:
                rival.redeem_points(customer, 8, "R-RIVAL")

        intercept_puts(ledger._store, monkeypatch, rival_redeems_first)
        count = ledger.event_count()
        with pytest.raises(RedemptionRefused, match="balance is 2"):
            ledger.redeem_points(customer, 5, "R-MINE")
        assert 1 == ledger._store.stats.conflicts_retried
        assert count + 2 == ledger.event_count()
        assert 2 == ledger.balance(customer)


def test_when_every_attempt_conflicts_nothing_is_recorded(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Ledger.open(store_url, max_attempts=3) as ledger:
        ledger.configure_loyalty(STANDARD)
        customer = new_customer(ledger)
        ledger.record_purchase(customer, "INV-1", 105000)
        count = ledger.event_count()

        def always_conflict(call: int, real_put: PutEvents) -> None:
            raise IntegrityError("simulated conflict")

        intercept_puts(ledger._store, monkeypatch, always_conflict)
        with pytest.raises(ConcurrencyConflict, match="3 attempts"):
            ledger.redeem_points(customer, 4, "R-1")
        with pytest.raises(ConcurrencyConflict):
            ledger.record_purchase(customer, "INV-2", 105000)
        monkeypatch.undo()
        stats = ledger._store.stats
        assert 2 == stats.conflicts_surfaced
        assert count == ledger.event_count()
        assert 10 == ledger.balance(customer)
        assert ["INV-1"] == [row.reference for row in ledger.statement(customer)]
        # Nothing half-written blocks the same ids later.
        assert Decimal(4000) == ledger.redeem_points(customer, 4, "R-1")
        assert 10 == ledger.record_purchase(customer, "INV-2", 105000)


# --- concurrent writers ---------------------------------------------------------------

THREADS = 8
REDEMPTIONS_PER_THREAD = 8


def test_concurrent_redemptions_never_overspend(durable_url: str) -> None:
    with Ledger.open(durable_url) as ledger:
        ledger.configure_loyalty(STANDARD)
        customer = new_customer(ledger)
        earned = ledger.record_purchase(customer, "INV-1", 1_000_000)
    assert 100 == earned
    acknowledged: dict[str, int] = {}
    failures: list[BaseException] = []
    lock = threading.Lock()
    start = threading.Barrier(THREADS)

    def redeem_many(worker: int) -> None:
        try:
            with Ledger.open(durable_url) as mine:
                start.wait()
                for n in range(REDEMPTIONS_PER_THREAD):
                    points = 1 + (worker + n) % 3
                    redemption_id = f"R-{worker}-{n}"
                    try:
                        mine.redeem_points(customer, points, redemption_id)
                    except (RedemptionRefused, ConcurrencyConflict):
                        continue
                    with lock:
                        acknowledged[redemption_id] = points
        except BaseException as error:  # surfaced in the main thread below
            failures.append(error)

    workers = [threading.Thread(target=redeem_many, args=(w,)) for w in range(THREADS)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert [] == failures
    spent = sum(acknowledged.values())
    with Ledger.open(durable_url) as ledger:
        assert spent <= earned
        assert earned - spent == ledger.balance(customer)
        redeemed = {
            row.reference: -row.points for row in ledger.statement(customer) if row.kind == "redeem"
        }
        assert acknowledged == redeemed
        account = ledger.loyalty_account(customer)
        assert account is not None
        assert full_replay(ledger._store, customer) == account
    # 8 x 8 redemptions of 1 to 3 points ask for ~128 > 100: some must have been refused.
    assert THREADS * REDEMPTIONS_PER_THREAD > len(acknowledged)


def test_the_same_invoice_sent_concurrently_earns_once(durable_url: str) -> None:
    with Ledger.open(durable_url) as ledger:
        ledger.configure_loyalty(STANDARD)
        customer = new_customer(ledger)
    results: list[int] = []
    failures: list[BaseException] = []
    start = threading.Barrier(THREADS)

    def send() -> None:
        try:
            with Ledger.open(durable_url) as mine:
                start.wait()
                results.append(mine.record_purchase(customer, "INV-RACE", 105000))
        except BaseException as error:
            failures.append(error)

    workers = [threading.Thread(target=send) for _ in range(THREADS)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert [] == failures
    assert [10] * THREADS == results
    with Ledger.open(durable_url) as ledger:
        assert 10 == ledger.balance(customer)
        earnings = [
            e for e in ledger._store.events_of(account_id(customer)) if isinstance(e, PointsEarned)
        ]
        assert 1 == len(earnings)
        redeemed = [
            e
            for e in ledger._store.events_of(account_id(customer))
            if isinstance(e, PointsRedeemed)
        ]
        assert [] == redeemed


def test_as_of_ignores_events_recorded_later(store_url: str) -> None:
    """Store.load_as_of replays by recording time, whatever the snapshots say."""
    clock = Clock(START)
    with Ledger.open(store_url, snapshot_interval=2, clock=clock) as ledger:
        ledger.configure_loyalty(STANDARD)
        customer = new_customer(ledger)
        for n in range(5):
            clock.now = START + timedelta(hours=n + 1)
            ledger.record_purchase(customer, f"INV-{n}", 105000)
        assert 30 == ledger.balance(customer, as_of=START + timedelta(hours=3, minutes=30))
        assert 50 == ledger.balance(customer)
