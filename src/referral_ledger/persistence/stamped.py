"""A transaction's events, stamped and encoded once the store's write lock is held.

Two guarantees of `Store.run` rest on this (docs/reliability.md):

- **Recording time = lock time.** An event's `timestamp` (what `as_of`
  replays by) is read from the clock once the transaction holds the store's
  write lock (SQLite: the database's write lock; PostgreSQL: eventsourcing's
  `LOCK TABLE ... IN EXCLUSIVE MODE`), not when the command started: a command
  that waited seconds for the lock is not later seen "as of" a moment when no
  query could have seen it. The recorders call `stamp` right after taking the
  lock, once per transaction, so a write repeated after a failure is stamped
  again. An item read before any `stamp` is stamped then: a recorder that
  forgot to call it still writes correct events, only stamped earlier.
- **Reads a command rests on are checked under the lock** (`guards`): a
  record read that must still be at the version read (`Unmoved`), or no
  event of some kinds recorded after a position (`Quiet`). The recorders
  check them right after `stamp`, in the same transaction, and raise
  `IntegrityError` (a conflict: the command is decided again) if one moved.
  The write lock orders every commit, so the check is exact.
- **A commit is recognised by its own id.** `command_id`, new for every
  attempt at a command, is stored with the transaction's first event
  (PostgreSQL). After a lost acknowledgement the store finds it there, and
  tells its own commit from another writer's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import overload
from uuid import UUID

import attrs
from eventsourcing.persistence import IntegrityError, StoredEvent


@attrs.frozen
class Unmoved:
    """A record this write's command read is still at `version` (0: no events)."""

    record_id: UUID
    version: int


@attrs.frozen
class Quiet:
    """No event of `topics` was recorded after log position `position`."""

    position: int
    topics: tuple[str, ...]


Guard = Unmoved | Quiet


class GuardMoved(IntegrityError):
    """A guarded read moved before this write took the lock: a conflict."""


class StampedEvents(Sequence[StoredEvent]):
    """The stored events of one write, encoded by `encode` at each `stamp`."""

    def __init__(
        self,
        count: int,
        encode: Callable[[], list[StoredEvent]],
        command_id: UUID,
        guards: tuple[Guard, ...] = (),
    ) -> None:
        self._count = count
        self.guards = guards
        self._encode = encode
        self._stored: list[StoredEvent] | None = None
        self.command_id = command_id
        #: Transactions this write was stamped for (more than one: it was repeated).
        self.stamps = 0

    def stamp(self) -> None:
        """Stamp and encode the events now: call with the store's write lock held."""
        stored = self._encode()
        assert len(stored) == self._count, (len(stored), self._count)
        self._stored = stored
        self.stamps += 1

    def _events(self) -> list[StoredEvent]:
        if self._stored is None:
            self.stamp()
        assert self._stored is not None
        return self._stored

    def __len__(self) -> int:
        return self._count

    @overload
    def __getitem__(self, index: int) -> StoredEvent: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[StoredEvent]: ...

    def __getitem__(self, index: int | slice) -> StoredEvent | Sequence[StoredEvent]:
        return self._events()[index]


def stamp(stored_events: Sequence[StoredEvent]) -> None:
    """Stamp `stored_events` now if they are `StampedEvents` (else they already are)."""
    if isinstance(stored_events, StampedEvents):
        stored_events.stamp()


def command_id_of(stored_events: Sequence[StoredEvent]) -> UUID | None:
    """The id of the command attempt writing `stored_events`, if it has one."""
    return stored_events.command_id if isinstance(stored_events, StampedEvents) else None


def guards_of(stored_events: Sequence[StoredEvent]) -> tuple[Guard, ...]:
    """What must not have moved for `stored_events` to be written (see `Unmoved`, `Quiet`)."""
    return stored_events.guards if isinstance(stored_events, StampedEvents) else ()


def check_guards(
    guards: tuple[Guard, ...],
    version_of: Callable[[UUID], int],
    recorded_after: Callable[[int, tuple[str, ...]], bool],
) -> None:
    """Raise `GuardMoved` unless every guard holds; the recorder gives the two
    reads, run in its transaction with the write lock held."""
    for guard in guards:
        if isinstance(guard, Unmoved):
            if version_of(guard.record_id) != guard.version:
                raise GuardMoved(f"record {guard.record_id} moved past version {guard.version}")
        elif recorded_after(guard.position, guard.topics):
            raise GuardMoved(f"events of {guard.topics} were recorded after {guard.position}")
