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
- **A commit is recognised by its own id.** `command_id`, new for every
  attempt at a command, is stored with the transaction's first event
  (PostgreSQL). After a lost acknowledgement the store finds it there, and
  tells its own commit from another writer's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import overload
from uuid import UUID

from eventsourcing.persistence import StoredEvent


class StampedEvents(Sequence[StoredEvent]):
    """The stored events of one write, encoded by `encode` at each `stamp`."""

    def __init__(
        self, count: int, encode: Callable[[], list[StoredEvent]], command_id: UUID
    ) -> None:
        self._count = count
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
