"""The store: loading aggregates, and running commands as load-decide-save
units that retry on optimistic-concurrency conflicts and never store anything
partial.
"""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, Final, TypeVar, cast
from uuid import UUID

from eventsourcing.persistence import (
    IntegrityError,
    InterfaceError,
    MapperDeserialisationError,
    Notification,
    OperationalError,
    ProcessRecorder,
    Tracking,
)
from eventsourcing.utils import get_topic, resolve_topic

from referral_ledger.aggregates.base import Event, Evolve, State
from referral_ledger.errors import ConcurrencyConflict, LedgerError, StoreError
from referral_ledger.persistence.application import EventLog
from referral_ledger.persistence.bulk import bulk_reader
from referral_ledger.persistence.connect import is_postgres
from referral_ledger.persistence.errors import translated
from referral_ledger.serialization import converter
from referral_ledger.store.cache import DEFAULT_CACHE_SIZE, StateCache
from referral_ledger.store.group import GroupCommit
from referral_ledger.store.saving import Outcome, UnitWrite
from referral_ledger.store.snapshot import Snapshot
from referral_ledger.store.turns import Turns
from referral_ledger.store.unit import CommandStats, UnitOfWork, _Record

_reading = translated("cannot read the ledger's store")
_writing = translated("cannot save to the ledger's store")

T = TypeVar("T")
S = TypeVar("S", bound=State)

DEFAULT_SNAPSHOT_INTERVAL: Final = 100
DEFAULT_MAX_ATTEMPTS: Final = 25
#: Events read at open to tell a wrong cipher key from a damaged event.
VERIFY_EVENTS: Final = 20
#: Records read per query by `Store.load_many` (SQLite allows 32,766 parameters).
LOAD_CHUNK: Final = 500


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
        group_commit: bool = True,
    ) -> None:
        self.app = app
        self.clock = clock
        self.snapshot_interval = snapshot_interval
        self.max_attempts = max_attempts
        self.stats = CommandStats()
        self.cache = StateCache(cache_size)
        self._reader = bulk_reader(app)
        #: Turns on hot records (see `turns.py`): advisory locks on PostgreSQL.
        self.turns = _turns_for(app)
        #: Called with the events of each unit this store commits, after the
        #: commit, in the committing thread: how the ledger runs its reactions
        #: inline without any command calling them.
        self.listeners: list[Callable[[Sequence[Event]], None]] = []
        #: Saving concurrent commands together (store/group.py); None: each alone.
        self.group = GroupCommit(self) if group_commit else None

    # --- reading -----------------------------------------------------------

    @_reading
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

    @_reading
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

    @_reading
    def load_as_of(self, aggregate_id: UUID, evolve: Evolve[S], as_of: datetime) -> S | None:
        """State as it stood at `as_of`: the events recorded by then, replayed."""
        state: S | None = None
        for event in self._events(aggregate_id):
            if event.timestamp > as_of:
                break
            state = evolve(state, event)
        return state

    @_reading
    def version_of(self, aggregate_id: UUID) -> int:
        """The newest version stored for a record (0: none)."""
        newest = self.app.recorder.select_events(aggregate_id, desc=True, limit=1)
        return newest[0].originator_version if newest else 0

    @_reading
    def events_of(self, aggregate_id: UUID) -> list[Event]:
        """Every event of one aggregate, oldest first."""
        return list(self._events(aggregate_id))

    def _events(self, aggregate_id: UUID, after: int | None = None) -> Iterator[Event]:
        # Our mapper only ever builds `Event`s; eventsourcing types them as its protocol.
        return cast(Iterator[Event], self.app.events.get(aggregate_id, gt=after))

    @_reading
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

    @_reading
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

    @_writing
    def run(
        self,
        decide: Callable[[UnitOfWork], T],
        *,
        tracking: Tracking | None = None,
        alone: bool = False,
    ) -> T:
        """Run `decide` and save its events in one transaction, retrying on conflict.

        A conflict means another writer saved a version of a record this
        command read; the command is decided again from the new state. With
        `tracking`, the position of the event being reacted to is saved in the
        same transaction: if another process already saved it, nothing is saved
        and `decide`'s result is returned as is (the reaction happened once).

        Exactly once (store/saving.py): a commit whose acknowledgement was
        lost is recognised by the id of this attempt stored with it, and
        `decide`'s result is returned; it is never decided again. The events
        are stamped with their recording time once the store's write lock is
        held (persistence/stamped.py), so `as_of` replays what queries saw.

        Under group commit (the default; store/group.py) commands run at once
        by several threads are decided in turn and saved in one transaction;
        each returns only after it. The listeners run in the caller's thread.
        `alone`: never in a batch with others (a command whose guards read
        what batch neighbours could write: `UnitOfWork.guard_quiet`).
        """
        self.stats.commands += 1
        if self.group is not None and not self.group.is_leading():
            result, events = self.group.submit(decide, tracking, alone=alone)
        else:
            try:
                result, events = self.attempts(decide, tracking)
            finally:
                self.turns.release()
        if events:
            for listener in self.listeners:
                listener(events)
        return cast(T, result)

    def attempts(
        self, decide: Callable[[UnitOfWork], T], tracking: Tracking | None
    ) -> tuple[T, list[Event]]:
        """Run one command alone, until saved or refused: its result and its events as saved."""
        for attempt in range(self.max_attempts):
            # A turn taken by the attempt before (see `turns.py`) ends with it.
            self.turns.release()
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
                return result, []
            write = UnitWrite(self, unit)
            outcome = write.save(tracking)
            if outcome is Outcome.REACTED:
                return result, []
            if outcome is Outcome.CONFLICT:
                self.stats.conflicts_retried += 1
                self.turns.release()  # never hold a turn while backing off
                # Jittered backoff, so racing writers stop colliding in step.
                time.sleep(random.uniform(0, min(0.05, 0.001 * 2**attempt)))
                continue
            self.turns.release()  # committed: the next writer may go on
            self.committed(unit, write, commands=1)
            return result, unit.pending
        self.stats.conflicts_retried -= 1
        self.stats.conflicts_surfaced += 1
        raise self.gave_up()

    def committed(self, unit: UnitOfWork, write: UnitWrite, *, commands: int) -> None:
        """After `unit` (one command's, or a batch of `commands`) was committed by `write`:
        keep what it read and wrote in the cache, and take the snapshots due."""
        self.stats.commits += 1
        self.stats.largest_batch = max(self.stats.largest_batch, commands)
        # Records this unit created enter the cache when first read again:
        # most are written once (invoices, redemptions, phones), and would
        # push out the accounts and customers read over and over.
        kept = [r for r in unit.settle(write.events, self._keeps) if r.read]
        self.cache.put_many((r.state, r.evolve) for r in kept)
        self._take_snapshots(unit.pending[0].timestamp if unit.pending else unit.now, unit)

    def gave_up(self) -> ConcurrencyConflict:
        """The error of a command that lost to other writers `max_attempts` times."""
        return ConcurrencyConflict(
            f"gave up after {self.max_attempts} attempts: other writers kept changing "
            "the same records; nothing was recorded"
        )

    @property
    def is_postgres(self) -> bool:
        """Whether the events live in PostgreSQL (else SQLite)."""
        return is_postgres(self.app.env)

    @property
    def recorder(self) -> ProcessRecorder:
        return cast(ProcessRecorder, self.app.recorder)

    @_reading
    def reacted_up_to(self, reaction: str) -> int:
        """The log position up to which `reaction` has processed events."""
        return self.recorder.max_tracking_id(reaction) or 0

    def has_reacted(self, tracking: Tracking) -> bool:
        return self.reacted_up_to(tracking.application_name) >= tracking.notification_id

    def _keeps(self, record: _Record) -> bool:
        """Whether the store keeps the state `record` reached: cached or snapshotted."""
        return bool(record.read) or self._snapshot_due(record)

    def _snapshot_due(self, record: _Record) -> bool:
        """Whether a unit's events crossed a multiple of the snapshot interval."""
        if self.app.snapshots is None or self.snapshot_interval <= 0 or not record.first_new:
            return False
        interval = self.snapshot_interval
        # A state that says how big its snapshot is (`snapshot_size`, e.g. a
        # referrer's commission lines) is snapshotted at most every that many
        # events, rounded up to a power of two of the interval: writing its
        # snapshots then costs O(1) per event, amortised, where a fixed
        # interval made each event pay O(size); a load still replays at most
        # ~2 x size events after the snapshot.
        size = getattr(record.state, "snapshot_size", 0)
        while interval < size:
            interval *= 2
        return bool(record.state.version // interval > (record.first_new - 1) // interval)

    def _take_snapshots(self, now: datetime, unit: UnitOfWork) -> None:
        snapshots = self.app.snapshots
        if snapshots is None:
            return
        for record in unit.changed():
            if self._snapshot_due(record):
                state = record.state
                snapshot = Snapshot(
                    originator_id=state.id,
                    originator_version=state.version,
                    timestamp=now,
                    state_topic=get_topic(type(state)),
                    state=converter.unstructure(state),
                )
                # Another writer may have saved this very snapshot already. A
                # snapshot is only a cache: failing to save one must not fail
                # the command, whose events are committed by now.
                with contextlib.suppress(
                    IntegrityError, OperationalError, InterfaceError, StoreError
                ):
                    snapshots.put([snapshot])

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


def _turns_for(app: EventLog) -> Turns:
    """Advisory-lock turns on PostgreSQL (namespaced by schema); no-ops elsewhere."""
    if not is_postgres(app.env):
        return Turns(None, "")
    recorder: Any = app.recorder
    datastore = recorder.datastore
    return Turns(datastore, f"referral_ledger:{datastore.schema}")
