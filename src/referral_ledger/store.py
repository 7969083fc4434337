"""The event store: opening one from a URL, loading aggregates, and running
commands as load-decide-save units that retry on optimistic-concurrency
conflicts and never store anything partial.
"""

from __future__ import annotations

import contextlib
import hashlib
import random
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final, TypeVar, cast
from urllib.parse import parse_qs, unquote, urlsplit
from uuid import UUID

import attrs
from eventsourcing.application import Application
from eventsourcing.persistence import (
    ApplicationRecorder,
    IntegrityError,
    Mapper,
    MapperDeserialisationError,
    Notification,
    ProcessRecorder,
    StoredEvent,
    Tracking,
)
from eventsourcing.utils import Environment, EnvType, get_topic, resolve_topic

from referral_ledger.aggregates.base import Event, Evolve, State
from referral_ledger.chain import EventChain
from referral_ledger.errors import ConcurrencyConflict, InvalidInput, LedgerError, StoreError
from referral_ledger.serialization import CattrsMapper, OrjsonTranscoder, converter

if TYPE_CHECKING:
    import psycopg

T = TypeVar("T")
S = TypeVar("S", bound=State)

DEFAULT_SNAPSHOT_INTERVAL: Final = 100
DEFAULT_MAX_ATTEMPTS: Final = 25
#: Seconds a SQLite writer waits for another process's write lock.
SQLITE_LOCK_TIMEOUT: Final = 30
#: Events read at open to tell a wrong cipher key from a damaged event.
VERIFY_EVENTS: Final = 20
#: Records read per query by `Store.load_many` (SQLite allows 32,766 parameters).
LOAD_CHUNK: Final = 500
#: Aggregate states a store keeps in memory (see `StateCache`): at most
#: ~40 MB (a points account ~0.5 KB, a customer ~0.8 KB), and enough for the
#: customers and accounts of an import over 25,000 customers.
DEFAULT_CACHE_SIZE: Final = 50_000


@attrs.frozen(kw_only=True)
class Snapshot(Event):
    """An aggregate's state at a version: a cache that makes loading constant-time.

    Snapshots live in their own table and are never the only copy of a fact:
    an unreadable or outdated one is ignored and the events are replayed.
    """

    state_topic: str
    state: dict[str, Any]


class EventLog(Application[UUID]):
    """The eventsourcing application holding the ledger's events."""

    name = "referral_ledger"

    def __init__(self, env: EnvType | None = None) -> None:
        # Opening creates tables, indexes and functions (CREATE OR REPLACE
        # FUNCTION); PostgreSQL fails one of two processes doing that at once
        # ("tuple concurrently updated"), so openers of one store take turns.
        with _postgres_setup_lock(dict(env or {})):
            super().__init__(env)

    def construct_env(self, name: str, env: EnvType | None = None) -> Environment:
        # Only what Ledger.open was given: a stray CIPHER_KEY or
        # PERSISTENCE_MODULE in the host's environment must not reconfigure us.
        return Environment(name, dict(env or {}))

    def construct_recorder(self) -> ApplicationRecorder:
        # A process recorder is an application recorder that can also write a
        # tracking row in the same transaction as events: what makes the
        # ledger's own event reactions (automatic rewards) exactly-once.
        recorder = self.factory.process_recorder()
        # The hash chain's key is derived from the cipher key (see chain.py).
        if hasattr(recorder, "chain"):
            recorder.chain = EventChain.for_cipher_key(self.env.get("CIPHER_KEY"))
        return recorder

    def construct_mapper(self) -> Mapper[UUID]:
        return CattrsMapper(
            transcoder=OrjsonTranscoder(),
            compressor=self.factory.compressor(),
            cipher=self.factory.cipher(),
        )


#: eventsourcing's SQLite persistence, keeping prepared statements,
#: inserting a transaction's events at once (see sqlite_persistence.py) and
#: chaining them (chained_sqlite.py).
_SQLITE_FACTORY: Final = "referral_ledger.chained_sqlite:ChainedSQLiteFactory"


def environment_for(
    url: str, *, cipher_key: str | None = None, compress: bool = False
) -> dict[str, str]:
    """eventsourcing's settings for a ledger URL."""
    if not isinstance(url, str):
        raise InvalidInput(f"url must be a str, not {url!r}")
    env: dict[str, str] = {"IS_SNAPSHOTTING_ENABLED": "y"}
    if url == "memory://" or url.startswith("memory://"):
        # A shared-cache in-memory SQLite database: unlike ":memory:", every
        # thread's connection sees the same data, and the views can use SQL.
        name = url[len("memory://") :] or uuid.uuid4().hex
        env.update(
            PERSISTENCE_MODULE=_SQLITE_FACTORY,
            SQLITE_DBNAME=f"file:referral-ledger-{name}?mode=memory&cache=shared",
        )
    elif url.startswith("sqlite:///"):
        path = unquote(url[len("sqlite:///") :])
        if not path:
            raise InvalidInput(f"sqlite URL names no file: {url!r}")
        env.update(
            PERSISTENCE_MODULE=_SQLITE_FACTORY,
            SQLITE_DBNAME=path,
            SQLITE_LOCK_TIMEOUT=str(SQLITE_LOCK_TIMEOUT),
        )
    elif url.startswith(("postgresql://", "postgres://")):
        env.update(_postgres_environment(url))
    else:
        raise InvalidInput(
            f"unsupported ledger URL {url!r}: use memory://, sqlite:///PATH or "
            "postgresql://USER:PASSWORD@HOST:PORT/DATABASE"
        )
    if cipher_key is not None:
        env["CIPHER_TOPIC"] = "eventsourcing.cryptography:AESCipher"
        env["CIPHER_KEY"] = cipher_key
    if compress:
        env["COMPRESSOR_TOPIC"] = "eventsourcing.compressor:ZlibCompressor"
    return env


def _postgres_environment(url: str) -> dict[str, str]:
    parts = urlsplit(url)
    database = unquote(parts.path.lstrip("/"))
    if not database:
        raise InvalidInput(f"postgresql URL names no database: {url!r}")
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    env = {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        # Events written with COPY (see postgres_persistence.py), chained
        # (chained_postgres.py).
        "PROCESS_RECORDER_TOPIC": (
            "referral_ledger.chained_postgres:ChainedPostgresProcessRecorder"
        ),
        "POSTGRES_DBNAME": database,
        "POSTGRES_HOST": parts.hostname or "127.0.0.1",
        "POSTGRES_PORT": str(parts.port or 5432),
        "POSTGRES_USER": unquote(parts.username or "postgres"),
        "POSTGRES_PASSWORD": unquote(parts.password or ""),
        "POSTGRES_CONNECT_TIMEOUT": query.get("connect_timeout", "10"),
    }
    schema = query.get("schema")
    if schema:
        if not schema.replace("_", "").isalnum():
            raise InvalidInput(f"schema must be letters, digits and _: {schema!r}")
        env["POSTGRES_SCHEMA"] = schema
    return env


def _postgres_connection(env: Mapping[str, str]) -> psycopg.Connection[Any]:
    import psycopg

    return psycopg.connect(
        dbname=env["POSTGRES_DBNAME"],
        host=env["POSTGRES_HOST"],
        port=int(env["POSTGRES_PORT"]),
        user=env["POSTGRES_USER"],
        password=env["POSTGRES_PASSWORD"] or None,
        connect_timeout=int(env["POSTGRES_CONNECT_TIMEOUT"]),
        autocommit=True,
    )


def ensure_postgres_schema(env: Mapping[str, str]) -> None:
    """Create the schema a PostgreSQL URL names, so each tenant/test gets its own."""
    schema = env.get("POSTGRES_SCHEMA")
    if not schema:
        return
    from psycopg import sql

    with _postgres_connection(env) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))


@contextlib.contextmanager
def _postgres_setup_lock(env: Mapping[str, str]) -> Iterator[None]:
    """Hold a session advisory lock named after the PostgreSQL schema (no-op otherwise)."""
    if env.get("PERSISTENCE_MODULE") != "eventsourcing.postgres":
        yield
        return
    name = f"referral_ledger:{env['POSTGRES_DBNAME']}:{env.get('POSTGRES_SCHEMA') or 'public'}"
    key = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)
    # Closing the connection releases the lock, even if setting up failed.
    with _postgres_connection(env) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (key,))
        yield


class StateCache:
    """The newest aggregate states this process has read or written, by id.

    Sound without invalidation because events are immutable and only ever
    appended: a state at version v stays the state at version v, so loading a
    cached record reads only the events after v (usually none) instead of a
    snapshot and the events after it. Another process's writes are therefore
    always seen; the cache only saves decoding what this process already
    folded. States are frozen attrs instances, safe to share between threads.
    Least recently used states are dropped beyond `size` (0: no cache).
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._states: OrderedDict[UUID, tuple[Evolve[Any], Any]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, aggregate_id: UUID, evolve: Evolve[S]) -> S | None:
        state: S | None = self.get_many({aggregate_id: evolve}).get(aggregate_id)
        return state

    def get_many(self, records: Mapping[UUID, Evolve[Any]]) -> dict[UUID, Any]:
        """The cached states of those of `records` that are held."""
        found: dict[UUID, Any] = {}
        with self._lock:
            states = self._states
            for aggregate_id, evolve in records.items():
                entry = states.get(aggregate_id)
                if entry is not None and entry[0] is evolve:
                    states.move_to_end(aggregate_id)
                    found[aggregate_id] = entry[1]
        return found

    def put(self, state: Any, evolve: Evolve[Any]) -> None:
        self.put_many([(state, evolve)])

    def put_many(self, states: Iterable[tuple[Any, Evolve[Any]]]) -> None:
        if self.size <= 0:
            return
        with self._lock:
            held = self._states
            for state, evolve in states:
                if state is None:
                    continue
                entry = held.get(state.id)
                # Threads may finish out of order: never replace a newer state.
                if entry is not None and entry[0] is evolve and entry[1].version > state.version:
                    continue
                held[state.id] = (evolve, state)
                held.move_to_end(state.id)
            while len(held) > self.size:
                held.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._states.clear()

    def __len__(self) -> int:
        return len(self._states)


@attrs.define
class CommandStats:
    """Counts since the store was opened, for tests and operators."""

    commands: int = 0
    attempts: int = 0
    conflicts_retried: int = 0
    conflicts_surfaced: int = 0


class _Record:
    """What a unit of work holds of one record."""

    __slots__ = ("evolve", "first_new", "read", "state")

    def __init__(self, state: Any, evolve: Evolve[Any]) -> None:
        self.state = state
        self.evolve = evolve
        #: The version as read (0: it did not exist yet, or was declared new).
        self.read: int = 0 if state is None else state.version
        #: The version of this unit's first event for it (0: none yet).
        self.first_new = 0


class UnitOfWork:
    """One attempt at a command: what it loaded and the events it decided on."""

    def __init__(self, store: Store) -> None:
        self._store = store
        # One entry per record, so a bulk command looks each id up once per step.
        self._records: dict[UUID, _Record] = {}
        self.pending: list[Event] = []
        self.now = store.clock()

    def load(self, aggregate_id: UUID, evolve: Evolve[S]) -> S | None:
        """The current state of an aggregate (None if it has no events yet)."""
        record = self._records.get(aggregate_id)
        if record is None:
            record = _Record(self._store.load(aggregate_id, evolve), evolve)
            self._records[aggregate_id] = record
        state: S | None = record.state
        return state

    def prefetch(self, records: Iterable[tuple[UUID, Evolve[Any]]]) -> None:
        """Load many records at once (one query per table), for the `load`s that follow.

        Records already in the unit are left as they are; `load` then answers
        from memory. The states are as the store has them, exactly as `load`
        would read them one by one.
        """
        held = self._records
        wanted = {i: evolve for i, evolve in records if i not in held}
        if wanted:
            for aggregate_id, state in self._store.load_many(wanted).items():
                held[aggregate_id] = _Record(state, wanted[aggregate_id])

    def new(self, aggregate_id: UUID, evolve: Evolve[S]) -> None:
        """Declare a record this unit creates, without reading it first.

        For fresh random ids: should the id exist after all, saving its
        version 1 conflicts in the store, so nothing is overwritten.
        """
        if aggregate_id not in self._records:
            self._records[aggregate_id] = _Record(None, evolve)

    def record(self, events: list[Event]) -> None:
        """Add decided events; they are applied to the loaded states at once."""
        for event in events:
            record = self._records[event.originator_id]
            state = record.state
            expected = 1 if state is None else state.version + 1
            assert event.originator_version == expected, (event, expected)
            record.state = record.evolve(state, event)
            if not record.first_new:
                record.first_new = expected
            self.pending.append(event)

    def reads_current(self) -> bool:
        """Whether every record this unit read is still at the version it read.

        Records are read one query at a time, so another process's commit can
        fall between two reads (on PostgreSQL's READ COMMITTED, or between
        SQLite's read transactions): the unit then saw half of that commit.
        If nothing read has moved since, every read was current at this one
        moment, and a refusal decided on them is one a serial order would give.
        """
        return all(self._store.version_of(i) == r.read for i, r in self._records.items())

    def changed(self) -> Iterator[_Record]:
        """What this unit holds of each record it recorded events for."""
        return (r for r in self._records.values() if r.first_new)


class Store:
    """Loads aggregates and runs commands against one eventsourcing application."""

    def __init__(
        self,
        app: EventLog,
        *,
        clock: Callable[[], datetime],
        snapshot_interval: int = DEFAULT_SNAPSHOT_INTERVAL,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        cache_size: int = DEFAULT_CACHE_SIZE,
    ) -> None:
        self.app = app
        self.clock = clock
        self.snapshot_interval = snapshot_interval
        self.max_attempts = max_attempts
        self.stats = CommandStats()
        self.cache = StateCache(cache_size)
        self._reader = _bulk_reader(app)

    # --- reading -----------------------------------------------------------

    def load(self, aggregate_id: UUID, evolve: Evolve[S], *, cached: bool = True) -> S | None:
        """Current state: the cached state or the latest snapshot, then the events after it.

        `cached=False` ignores this process's cache (audits check the stored
        snapshots themselves); the result is the same.
        """
        state: S | None = self.cache.get(aggregate_id, evolve) if cached else None
        if state is not None:
            start = state
            for event in self._events(aggregate_id, state.version):
                state = evolve(state, event)
            if state is not start:
                self.cache.put(state, evolve)
            return state
        after: int | None = None
        if self.app.snapshots is not None:
            try:
                snapshots = list(self.app.snapshots.get(aggregate_id, desc=True, limit=1))
            except MapperDeserialisationError:
                snapshots = []  # a damaged snapshot is only a lost cache: replay instead
            for snapshot in snapshots:
                state = self._state_from(snapshot)
                if state is not None:
                    after = snapshot.originator_version
        for event in self._events(aggregate_id, after):
            state = evolve(state, event)
        if cached:
            self.cache.put(state, evolve)
        return state

    def load_many(self, records: Mapping[UUID, Evolve[Any]]) -> dict[UUID, Any]:
        """Current states of many records (None where none): `load` for each, in bulk.

        One query per chunk of ids reads, for records in the cache, only the
        events after their cached versions, and for the others the latest
        snapshots and the events after them. A record whose snapshot cannot
        be read is loaded alone, replaying all its events, as `load` does.
        """
        reader = self._reader
        if reader is None:
            return {i: self.load(i, evolve) for i, evolve in records.items()}
        mapper = self.app.mapper
        held = self.cache.get_many(records)
        states: dict[UUID, Any] = {i: held.get(i) for i in records}
        versions = [(i, 0 if s is None else s.version) for i, s in states.items()]
        unreadable: set[UUID] = set()
        for start in range(0, len(versions), LOAD_CHUNK):
            for is_event, stored in reader.select(versions[start : start + LOAD_CHUNK]):
                aggregate_id = cast(UUID, stored.originator_id)
                if is_event:
                    if aggregate_id not in unreadable:
                        event = cast(Event, mapper.to_domain_event(stored))
                        states[aggregate_id] = records[aggregate_id](states[aggregate_id], event)
                    continue
                try:
                    state = self._state_from(mapper.to_domain_event(stored))
                except MapperDeserialisationError:
                    state = None
                if state is None:
                    unreadable.add(aggregate_id)
                states[aggregate_id] = state
        for aggregate_id in unreadable:
            states[aggregate_id] = self.load(aggregate_id, records[aggregate_id], cached=False)
        self.cache.put_many(
            (state, records[i]) for i, state in states.items() if state is not held.get(i)
        )
        return states

    def load_as_of(self, aggregate_id: UUID, evolve: Evolve[S], as_of: datetime) -> S | None:
        """State as it stood at `as_of`: the events recorded by then, replayed."""
        state: S | None = None
        for event in self._events(aggregate_id):
            if event.timestamp > as_of:
                break
            state = evolve(state, event)
        return state

    def version_of(self, aggregate_id: UUID) -> int:
        """The newest version stored for a record (0: none)."""
        newest = self.app.recorder.select_events(aggregate_id, desc=True, limit=1)
        return newest[0].originator_version if newest else 0

    def events_of(self, aggregate_id: UUID) -> list[Event]:
        """Every event of one aggregate, oldest first."""
        return list(self._events(aggregate_id))

    def _events(self, aggregate_id: UUID, after: int | None = None) -> Iterator[Event]:
        # Our mapper only ever builds `Event`s; eventsourcing types them as its protocol.
        return cast(Iterator[Event], self.app.events.get(aggregate_id, gt=after))

    def notifications(
        self, after: int, limit: int, topics: tuple[str, ...] = (), stop: int | None = None
    ) -> list[Notification]:
        """Up to `limit` log entries after position `after` (and up to `stop`)."""
        return list(
            self.app.recorder.select_notifications(
                after, limit, stop=stop, topics=topics, inclusive_of_start=False
            )
        )

    def event_of(self, notification: Notification) -> Event:
        return cast(Event, self.app.mapper.to_domain_event(notification))

    def last_position(self) -> int:
        """The position of the newest event in the log (0 when empty)."""
        return self.app.recorder.max_notification_id() or 0

    def _state_from(self, snapshot: Any) -> Any:
        try:
            return converter.structure(snapshot.state, resolve_topic(snapshot.state_topic))
        except Exception:
            # The state class changed shape since: replay the events instead.
            return None

    # --- writing -----------------------------------------------------------

    def run(self, decide: Callable[[UnitOfWork], T], *, tracking: Tracking | None = None) -> T:
        """Run `decide` and save its events in one transaction, retrying on conflict.

        A conflict means another writer saved a version of a record this
        command read; the command is decided again from the new state. With
        `tracking`, the position of the event being reacted to is saved in the
        same transaction: if another process already saved it, nothing is saved
        and `decide`'s result is returned as is (the reaction happened once).
        """
        self.stats.commands += 1
        for attempt in range(self.max_attempts):
            self.stats.attempts += 1
            unit = UnitOfWork(self)
            try:
                result = decide(unit)
            except LedgerError:
                # A refusal saves nothing, so no save conflict can expose a read
                # that saw half of another command (say, a POS id not yet linked
                # but its phone already claimed): check the reads, else decide again.
                if attempt + 1 == self.max_attempts or unit.reads_current():
                    raise
                self.stats.conflicts_retried += 1
                continue
            if not unit.pending and tracking is None:
                return result
            try:
                if unit.pending:
                    self.app.events.put(unit.pending, tracking=tracking)
                else:
                    assert tracking is not None
                    self.recorder.insert_tracking(tracking)
            except IntegrityError:
                if tracking is not None and self.has_reacted(tracking):
                    return result
                self.stats.conflicts_retried += 1
                # Jittered backoff, so racing writers stop colliding in step.
                time.sleep(random.uniform(0, min(0.05, 0.001 * 2**attempt)))
                continue
            changed = list(unit.changed())
            # Records this unit created enter the cache when first read again:
            # most are written once (invoices, redemptions, phones), and would
            # push out the accounts and customers read over and over.
            self.cache.put_many((r.state, r.evolve) for r in changed if r.read)
            self._take_snapshots(changed, unit.now)
            return result
        self.stats.conflicts_retried -= 1
        self.stats.conflicts_surfaced += 1
        raise ConcurrencyConflict(
            f"gave up after {self.max_attempts} attempts: other writers kept changing "
            "the same records; nothing was recorded"
        )

    @property
    def is_postgres(self) -> bool:
        """Whether the events live in PostgreSQL (else SQLite)."""
        return self.app.env.get("PERSISTENCE_MODULE") == "eventsourcing.postgres"

    @property
    def recorder(self) -> ProcessRecorder:
        return cast(ProcessRecorder, self.app.recorder)

    def reacted_up_to(self, reaction: str) -> int:
        """The log position up to which `reaction` has processed events."""
        return self.recorder.max_tracking_id(reaction) or 0

    def has_reacted(self, tracking: Tracking) -> bool:
        return self.reacted_up_to(tracking.application_name) >= tracking.notification_id

    def _take_snapshots(self, changed: list[_Record], now: datetime) -> None:
        if self.app.snapshots is None or self.snapshot_interval <= 0:
            return
        interval = self.snapshot_interval
        for record in changed:
            state = record.state
            # Snapshot when this command's events crossed a multiple of the interval.
            if state.version // interval > (record.first_new - 1) // interval:
                snapshot = Snapshot(
                    originator_id=state.id,
                    originator_version=state.version,
                    timestamp=now,
                    state_topic=get_topic(type(state)),
                    state=converter.unstructure(state),
                )
                # Another writer may have saved this very snapshot already.
                with contextlib.suppress(IntegrityError):
                    self.app.snapshots.put([snapshot])

    def verify_readable(self) -> None:
        """Read the first stored events, so a wrong cipher key fails at open.

        One that decodes proves the key: a damaged first event alone must not
        lock the ledger (and `audit`, which reports it) out.
        """
        first_error: MapperDeserialisationError | None = None
        for notification in self.notifications(0, VERIFY_EVENTS):
            try:
                self.event_of(notification)
            except MapperDeserialisationError as error:
                first_error = first_error or error
            else:
                return
        if first_error is not None:
            raise StoreError(
                f"cannot read the stored events (wrong cipher_key, or no key for an "
                f"encrypted store?): {first_error}"
            ) from None


class _BulkReader:
    """Reads the rows of many records in one statement, from eventsourcing's own tables.

    Each record comes with the version this process already holds it at (0:
    not held). For a held record the statement returns the events after that
    version; for the others, the latest snapshot (flag 0) and the events after
    it (flag 1). Rows come snapshots first, then events oldest first; being
    one statement, it sees one consistent state of the store, so no snapshot
    written meanwhile can open a gap between a snapshot and its events.
    """

    def select(self, versions: Sequence[tuple[UUID, int]]) -> list[tuple[bool, StoredEvent]]:
        raise NotImplementedError


class _SQLiteBulkReader(_BulkReader):
    def __init__(self, app: EventLog) -> None:
        from eventsourcing.sqlite import SQLiteAggregateRecorder

        recorder = cast(SQLiteAggregateRecorder, app.recorder)
        self.datastore = recorder.datastore
        self.events = recorder.events_table_name
        self.snapshots = ""
        if app.snapshots is not None:
            self.snapshots = cast(SQLiteAggregateRecorder, app.snapshots.recorder).events_table_name
        self.statements: dict[int, str] = {}

    def statement(self, count: int) -> str:
        if count not in self.statements:
            # The wanted (id, version) pairs drive the joins, so each one
            # probes the (originator_id, originator_version) primary keys.
            wanted = "WITH w(id, after) AS (VALUES " + ",".join(["(?,?)"] * count) + ")"
            if not self.snapshots:
                self.statements[count] = (
                    f"{wanted} SELECT 1, e.originator_id, e.originator_version, e.topic, "
                    f"e.state FROM w JOIN {self.events} e ON e.originator_id = w.id "
                    "AND e.originator_version > w.after ORDER BY 1, 2, 3"
                )
            else:
                # SQLite gives the bare columns of the row that holds the MAX().
                self.statements[count] = (
                    f"{wanted}, s AS (SELECT originator_id, MAX(originator_version) AS "
                    f"originator_version, topic, state FROM {self.snapshots} "
                    "WHERE originator_id IN (SELECT id FROM w WHERE after = 0) "
                    "GROUP BY originator_id) "
                    "SELECT 0, originator_id, originator_version, topic, state FROM s "
                    "UNION ALL "
                    "SELECT 1, e.originator_id, e.originator_version, e.topic, e.state "
                    "FROM w LEFT JOIN s ON s.originator_id = w.id "
                    f"JOIN {self.events} e ON e.originator_id = w.id "
                    "AND e.originator_version > MAX(w.after, COALESCE(s.originator_version, 0)) "
                    "ORDER BY 1, 2, 3"
                )
        return self.statements[count]

    def select(self, versions: Sequence[tuple[UUID, int]]) -> list[tuple[bool, StoredEvent]]:
        params = [p for i, version in versions for p in (i.hex, version)]
        with self.datastore.transaction(commit=False) as cursor:
            cursor.execute(self.statement(len(versions)), params)
            rows = cursor.fetchall()
        return [
            (
                bool(row[0]),
                StoredEvent(
                    originator_id=UUID(row[1]),
                    originator_version=row[2],
                    topic=row[3],
                    state=row[4],
                ),
            )
            for row in rows
        ]


class _PostgresBulkReader(_BulkReader):
    def __init__(self, app: EventLog) -> None:
        from eventsourcing.postgres import PostgresAggregateRecorder
        from psycopg.sql import SQL, Identifier

        recorder = cast(PostgresAggregateRecorder, app.recorder)
        self.datastore = recorder.datastore
        schema = Identifier(self.datastore.schema)
        events = Identifier(recorder.events_table_name)
        # LATERAL subqueries (OFFSET 0 keeps the planner from flattening them)
        # make PostgreSQL probe the primary keys once per wanted record; a
        # plain join plans a hash join that scans the whole events table, so
        # each read would grow with the log.
        wanted = "WITH w AS (SELECT * FROM unnest(%s::uuid[], %s::bigint[]) AS w(id, after))"
        self.statement: Any = SQL(
            wanted + " SELECT 1 AS flag, w.id AS originator_id, e.originator_version, e.topic, "
            "e.state FROM w CROSS JOIN LATERAL (SELECT originator_version, topic, state "
            "FROM {schema}.{events} WHERE originator_id = w.id "
            "AND originator_version > w.after OFFSET 0) e ORDER BY 1, 2, 3"
        ).format(schema=schema, events=events)
        if app.snapshots is not None:
            snapshots = cast(PostgresAggregateRecorder, app.snapshots.recorder)
            self.statement = SQL(
                wanted + ", s AS (SELECT w.id AS originator_id, n.originator_version, n.topic, "
                "n.state FROM w CROSS JOIN LATERAL (SELECT originator_version, topic, state "
                "FROM {schema}.{snapshots} WHERE originator_id = w.id "
                "ORDER BY originator_version DESC LIMIT 1) n WHERE w.after = 0) "
                "SELECT 0 AS flag, originator_id, originator_version, topic, state FROM s "
                "UNION ALL "
                "SELECT 1, w.id, e.originator_version, e.topic, e.state "
                "FROM w LEFT JOIN s ON s.originator_id = w.id "
                "CROSS JOIN LATERAL (SELECT originator_version, topic, state "
                "FROM {schema}.{events} WHERE originator_id = w.id AND originator_version > "
                "GREATEST(w.after, COALESCE(s.originator_version, 0)) OFFSET 0) e "
                "ORDER BY 1, 2, 3"
            ).format(
                schema=schema, events=events, snapshots=Identifier(snapshots.events_table_name)
            )

    def select(self, versions: Sequence[tuple[UUID, int]]) -> list[tuple[bool, StoredEvent]]:
        params = ([i for i, _ in versions], [v for _, v in versions])
        with self.datastore.get_connection() as conn, conn.cursor() as cursor:
            cursor.execute(self.statement, params, prepare=True)
            rows = cursor.fetchall()
        return [
            (
                bool(row["flag"]),
                StoredEvent(
                    originator_id=row["originator_id"],
                    originator_version=row["originator_version"],
                    topic=row["topic"],
                    state=bytes(row["state"]),
                ),
            )
            for row in rows
        ]


def _bulk_reader(app: EventLog) -> _BulkReader | None:
    """A bulk reader for the app's store (None: an unknown store, load one by one)."""
    from eventsourcing.sqlite import SQLiteAggregateRecorder

    if isinstance(app.recorder, SQLiteAggregateRecorder):
        return _SQLiteBulkReader(app)
    if app.env.get("PERSISTENCE_MODULE") == "eventsourcing.postgres":
        return _PostgresBulkReader(app)
    return None
