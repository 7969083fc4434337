"""Saving one unit of work: once, even when the acknowledgement of its commit is lost.

When the connection to PostgreSQL drops after the server committed a
transaction but before the client read the answer, the write is repeated
(here, on `CommitOutcomeUnknown` from the recorder; see `OUTCOME_UNKNOWN`). The
repeat collides with the first commit on the (originator_id,
originator_version) key. Taken for a conflict, the command would be decided
again from fresh state, which already holds its own first commit: a return
taking points back twice, a registration refused as a duplicate of itself.

So a conflict is first checked against this write's own id: every attempt at
a command gets a new `command_id`, stored with its first event in the same
transaction (persistence/stamped.py, persistence/postgres.py). If the stored
event at this write's first (originator_id, originator_version) carries it,
the commit was this write's: the command returns the result it decided, and
its events are read back as that commit stored them. Nothing is added to a
write that succeeds, not even a round trip; a conflict costs one primary-key
read. The check is airtight: a row is unique per key, the id is new per
attempt, and a transaction's rows commit together. A repeated write cannot
be mistaken either: PostgreSQL makes it wait for the table lock (or the
tracking row) the first commit held, so it learns that commit's outcome.

SQLite runs in this process: a commit returns or raises before anything is
visible, so its outcome is never unknown and it stores no id.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import TYPE_CHECKING, Final, cast
from uuid import UUID, uuid4

import attrs
from eventsourcing.persistence import IntegrityError, StoredEvent, Tracking

from referral_ledger.aggregates.base import Event
from referral_ledger.persistence.errors import CommitOutcomeUnknown
from referral_ledger.persistence.stamped import StampedEvents

if TYPE_CHECKING:
    from referral_ledger.store.store import Store
    from referral_ledger.store.unit import UnitOfWork

#: How the persistence layer says a commit's outcome is unknown (the connection
#: dropped while COMMIT was under way; persistence/postgres.py). Such a write
#: is repeated here, at most `RESENDS` times: safe, because of the check above.
OUTCOME_UNKNOWN: tuple[type[Exception], ...] = (CommitOutcomeUnknown,)
RESENDS: Final = 3


#: The attribute names of each event class, as `restamped` copies them.
_FIELDS: dict[type, tuple[str, ...]] = {}


def restamped(event: Event, timestamp: datetime) -> Event:
    """`event` with another `timestamp`: `attrs.evolve` without running `__init__`
    again (half the cost; the other fields were checked when it was made)."""
    cls = type(event)
    names = _FIELDS.get(cls)
    if names is None:
        names = _FIELDS[cls] = tuple(f.name for f in attrs.fields(cls))
    copy = object.__new__(cls)
    for name in names:
        object.__setattr__(copy, name, getattr(event, name))
    object.__setattr__(copy, "timestamp", timestamp)
    return copy


class Outcome(enum.Enum):
    SAVED = "saved"
    CONFLICT = "conflict"
    #: Only the tracking row collided: the reaction was already recorded.
    REACTED = "reacted"


class UnitWrite:
    """The write of one unit of work's events (and tracking row), exactly once."""

    def __init__(self, store: Store, unit: UnitOfWork) -> None:
        self._store = store
        self._unit = unit
        #: The events as stored: stamped with their recording time at each write.
        self.events: list[Event] = unit.pending
        self.stored = StampedEvents(
            len(unit.pending), self._encode, uuid4(), guards=tuple(unit.guards)
        )

    def _encode(self) -> list[StoredEvent]:
        # Called with the store's write lock held: the recording time is now.
        # Business times (`at`) are fields of their own and stay as decided.
        unit = self._unit
        now = max(self._store.clock(), unit.now)
        # A batch (store/group.py) holds the events of commands begun at
        # different times: each command's are stamped as its own unit's would be.
        spans = unit.spans or [(len(unit.pending), unit.now)]
        if all(begun == now for _, begun in spans):
            self.events = unit.pending
        else:
            events: list[Event] = []
            for count, begun in spans:
                part = unit.pending[len(events) : len(events) + count]
                events.extend(part if begun == now else [restamped(e, now) for e in part])
            self.events = events
        to_stored = self._store.app.mapper.to_stored_event
        return [to_stored(e) for e in self.events]

    def save(self, tracking: Tracking | None) -> Outcome:
        store = self._store
        for resend in range(RESENDS + 1):
            try:
                if self._unit.pending:
                    store.app.events.put(self._unit.pending, tracking=tracking, stamped=self.stored)
                else:
                    assert tracking is not None
                    store.recorder.insert_tracking(tracking)
            except IntegrityError:
                if self._unit.pending and self._committed_before():
                    return Outcome.SAVED
                if tracking is not None and self._store.has_reacted(tracking):
                    return Outcome.REACTED
                return Outcome.CONFLICT
            except OUTCOME_UNKNOWN:
                if resend == RESENDS:
                    raise
                continue
            return Outcome.SAVED
        raise AssertionError("unreachable")  # pragma: no cover

    def _committed_before(self) -> bool:
        """Whether an earlier transaction of this very write was committed."""
        command_at = getattr(self._store.recorder, "command_at", None)
        if command_at is None:
            return False  # a store whose commits are never in doubt (SQLite)
        first = self._unit.pending[0]
        found: UUID | None = command_at(first.originator_id, first.originator_version)
        if found != self.stored.command_id:
            return False
        # The events as that commit stamped them, not as the repeat did.
        spans: dict[UUID, tuple[int, int]] = {}
        for event in self._unit.pending:
            low, _ = spans.get(event.originator_id, (event.originator_version, 0))
            spans[event.originator_id] = (low, event.originator_version)
        stored: dict[tuple[UUID, int], Event] = {}
        for originator_id, (low, high) in spans.items():
            for saved in self._store.app.events.get(originator_id, gt=low - 1, lte=high):
                stored[saved.originator_id, saved.originator_version] = cast(Event, saved)
        self.events = [stored[e.originator_id, e.originator_version] for e in self._unit.pending]
        return True
