"""The unit of work: one attempt at a command, what it loaded and what it decided."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar
from uuid import UUID

import attrs

from referral_ledger.aggregates.base import Event, Evolve, State
from referral_ledger.persistence.stamped import Guard, Quiet, Unmoved

if TYPE_CHECKING:
    from referral_ledger.store.store import Store

S = TypeVar("S", bound=State)


@attrs.define
class CommandStats:
    """Counts since the store was opened, for tests and operators."""

    commands: int = 0
    attempts: int = 0
    conflicts_retried: int = 0
    conflicts_surfaced: int = 0
    #: Transactions that saved events (or a reaction's position): one per
    #: batch under group commit (store/group.py), so fewer than `commands`
    #: when concurrent commands were saved together.
    commits: int = 0
    #: The most commands one of those transactions saved.
    largest_batch: int = 0


class _Record:
    """What a unit of work holds of one record."""

    __slots__ = ("base", "evolve", "first_new", "read", "state")

    def __init__(self, state: Any, evolve: Evolve[Any]) -> None:
        self.state = state
        #: The state as read, before this unit's events.
        self.base = state
        self.evolve = evolve
        #: The version as read (0: it did not exist yet, or was declared new).
        self.read: int = 0 if state is None else state.version
        #: The version of this unit's first event for it (0: none yet).
        self.first_new = 0


class NeedsTurn(Exception):
    """A command decided ahead in its caller's thread asked for a turn (store/group.py):
    it is decided again in its batch instead, where turns are taken."""


class UnitOfWork:
    """One attempt at a command: what it loaded and the events it decided on."""

    def __init__(
        self,
        store: Store,
        batch: UnitOfWork | None = None,
        *,
        ahead: bool = False,
        now: datetime | None = None,
    ) -> None:
        self._store = store
        #: Decided ahead in the caller's thread (store/group.py), where no turn is taken.
        self._ahead = ahead
        #: Under group commit (store/group.py), the batch this command is decided
        #: in: records are read from it, so a command sees the events of the
        #: commands decided before it in the batch, not yet saved.
        self._batch = batch
        # One entry per record, so a bulk command looks each id up once per step.
        self._records: dict[UUID, _Record] = {}
        self.pending: list[Event] = []
        #: When the command began (`now` given: a batch, or a command begun before).
        self.now = store.clock() if now is None else now
        #: Reads the events rest on, checked when they are saved (persistence/stamped.py).
        self.guards: list[Guard] = []
        #: In a batch: (how many events, `now`) of each command taken, in order,
        #: so each command's events are stamped as its own unit's (store/saving.py).
        self.spans: list[tuple[int, datetime]] = []

    def load(self, aggregate_id: UUID, evolve: Evolve[S]) -> S | None:
        """The current state of an aggregate (None if it has no events yet)."""
        record = self._records.get(aggregate_id)
        if record is None:
            if self._batch is not None:
                self._batch.load(aggregate_id, evolve)
                record = self._from_batch(aggregate_id, evolve)
                batched: S | None = record.state
                return batched
            record = _Record(self._store.load(aggregate_id, evolve), evolve)
            self._records[aggregate_id] = record
        state: S | None = record.state
        return state

    def _from_batch(self, aggregate_id: UUID, evolve: Evolve[Any]) -> _Record:
        """This command's copy of what its batch holds of a record, as of now.

        Its `read` stays the version read from the store, so `reads_current`
        and the save's conflict check still compare against the store.
        """
        assert self._batch is not None
        held = self._batch._records[aggregate_id]
        record = _Record(held.state, evolve)
        record.read = held.read
        self._records[aggregate_id] = record
        return record

    def adopt(self, ahead: UnitOfWork, newest: Callable[[UUID], int | None]) -> bool:
        """Take a command decided ahead, against the store, if the batch changes nothing
        it read: as though decided here. Else False: it must be decided in the batch.

        Each record it read must be, in the batch, at the version it read, and
        no newer in `newest` (the versions this process has seen since, from
        its state cache); a record nobody here knows to have moved is checked
        by the save, as any command's writes are (another process's commit
        makes the save conflict, and the batch is decided again).
        """
        records = self._records
        for aggregate_id, record in ahead._records.items():
            held = records.get(aggregate_id)
            if held is not None:
                if (0 if held.state is None else held.state.version) != record.read:
                    return False
            else:
                seen = newest(aggregate_id)
                if seen is not None and seen > record.read:
                    return False
        for aggregate_id, record in ahead._records.items():
            held = records.get(aggregate_id)
            if held is None:
                held = records[aggregate_id] = _Record(record.base, record.evolve)
                held.read = record.read
            held.state = record.state
            if record.first_new and not held.first_new:
                held.first_new = record.first_new
        self.pending.extend(ahead.pending)
        self._take_guards(ahead)
        self.spans.append((len(ahead.pending), ahead.now))
        self.now = max(self.now, ahead.now)
        return True

    def absorb(self, command: UnitOfWork) -> None:
        """Take a command decided in this batch: its events follow the batch's so far.

        A command refused (or failed) is never absorbed, so the batch and the
        commands decided after it see nothing of it.
        """
        for aggregate_id, record in command._records.items():
            if record.first_new:
                held = self._records[aggregate_id]
                held.state = record.state
                if not held.first_new:
                    held.first_new = record.first_new
        self.pending.extend(command.pending)
        self._take_guards(command)
        self.spans.append((len(command.pending), command.now))
        self.now = max(self.now, command.now)

    def _take_guards(self, command: UnitOfWork) -> None:
        """The batch is saved only if every command's reads still hold. (A command
        whose guard rests on what its batch neighbours write is run alone:
        `Store.run(alone=True)`.)"""
        for guard in command.guards:
            if guard not in self.guards:
                self.guards.append(guard)

    def prefetch(self, records: Iterable[tuple[UUID, Evolve[Any]]]) -> None:
        """Load many records at once (one query per table), for the `load`s that follow.

        Records already in the unit are left as they are; `load` then answers
        from memory. The states are as the store has them, exactly as `load`
        would read them one by one.
        """
        held = self._records
        wanted = {i: evolve for i, evolve in records if i not in held}
        if wanted and self._batch is not None:
            self._batch.prefetch(wanted.items())
            for aggregate_id, evolve in wanted.items():
                self._from_batch(aggregate_id, evolve)
            return
        if wanted:
            for aggregate_id, state in self._store.load_many(wanted).items():
                held[aggregate_id] = _Record(state, wanted[aggregate_id])

    def guard(self, aggregate_id: UUID) -> None:
        """Save this unit's events only if `aggregate_id` (loaded) is still at
        the version read: for a record the decision rests on but the unit
        does not write (the field settings a registration obeyed)."""
        guard = Unmoved(aggregate_id, self._records[aggregate_id].read)
        if guard not in self.guards:
            self.guards.append(guard)

    def guard_quiet(self, position: int, topics: tuple[str, ...]) -> None:
        """Save this unit's events only if no event of `topics` was recorded
        after log position `position` (what the unit read from the log)."""
        self.guards.append(Quiet(position, topics))

    def new(self, aggregate_id: UUID, evolve: Evolve[S]) -> None:
        """Declare a record this unit creates, without reading it first.

        For fresh random ids: should the id exist after all, saving its
        version 1 conflicts in the store, so nothing is overwritten.
        """
        if aggregate_id not in self._records:
            if self._batch is not None:
                self._batch.new(aggregate_id, evolve)
                self._from_batch(aggregate_id, evolve)
                return
            self._records[aggregate_id] = _Record(None, evolve)

    def take_turn(self, key: str) -> None:
        """Wait for the turn on a hot record before reading it (see `store/turns.py`):
        the commands advancing it then queue instead of retrying. Until the attempt ends."""
        if self._ahead:
            # A caller's thread holding a turn while it waits for the leader,
            # who may wait for that turn, would stall both: decide it there.
            raise NeedsTurn(key)
        self._store.turns.take(key)

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

    def settle(self, stored: list[Event], keeps: Callable[[_Record], bool]) -> list[_Record]:
        """Take `stored`, this unit's events as saved, for its pending ones.

        They differ only in `timestamp`, the recording time the store set
        under its write lock (persistence/stamped.py). The records the store
        `keeps` (caches or snapshots) are evolved again from their states as
        read, so what it keeps is what a replay gives; they are returned.
        """
        changed = [r for r in self._records.values() if r.first_new and keeps(r)]
        if all(a is b for a, b in zip(stored, self.pending, strict=True)):
            return changed
        self.pending = stored
        redo = {r.state.id: r for r in changed}
        for record in changed:
            record.state = record.base
        for event in stored:
            again = redo.get(event.originator_id)
            if again is not None:
                again.state = again.evolve(again.state, event)
        return changed

    def changed(self) -> Iterator[_Record]:
        """What this unit holds of each record it recorded events for."""
        return (r for r in self._records.values() if r.first_new)
