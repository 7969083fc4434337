"""What the ledger does by itself: reactions to events, and jobs that fall due.

Both are declared here, in one line each, and run by the ledger; no command
calls them. A **reaction** names the event types it follows and a handler
that records its own events into a unit of work; `process_reactions`,
`run_worker` and (with `react_inline=True`) every command that recorded one
of those types run it exactly once per event (see `follow.py`). A **job**
names what becomes due and when, and a handler that decides the events of
one due item; `process_due` and `run_worker` run it exactly once per item
(see `due.py`). A job whose items each come from one event declares that
too (`triggers` and `schedule`): the ledger then keeps its items in the due
index (`projections/due_index.py`) and a call reads only the rows due,
never the whole log.

Registering::

    reaction("automatic-rewards", (PhoneClaimed, ContractSigned), reward_on_contract)
    job("points-expiry", due=lots_expiring, handle=expire_lot)

A name is stored (the reaction's tracking position, each due item's record
id): never rename one that has run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime, tzinfo
from typing import Any, Generic, Protocol, TypeVar
from uuid import UUID

import attrs
from eventsourcing.utils import get_topic

from referral_ledger.aggregates.base import Event, Evolve
from referral_ledger.store import Store, UnitOfWork
from referral_ledger.values import UNKEYED_IDS, RecordIds

#: Log entries read per query when a job lists what it follows.
BATCH = 500


@attrs.frozen
class Context:
    """What reactions and jobs may read besides their unit: the store and the ledger's settings."""

    store: Store
    phone_region: str
    business_timezone: tzinfo
    #: How this store derives record ids from business values (keyed when encrypted).
    ids: RecordIds = UNKEYED_IDS
    #: Where the jobs that declare a `schedule` find their items (None: their
    #: `due` listing is used, a pass over the log).
    index: DueRows | None = None

    def events(self, *types: type[Event]) -> Iterator[Event]:
        """Every recorded event of `types`, oldest first (for a job listing what is due)."""
        topics = tuple(get_topic(cls) for cls in types)
        position = 0
        while batch := self.store.notifications(position, BATCH, topics):
            for notification in batch:
                yield self.store.event_of(notification)
            position = batch[-1].id


#: A reaction's handler: record into the unit what `event` calls for (maybe nothing).
Handle = Callable[[UnitOfWork, Event, Context], None]
#: A job's list of items: (when the item is due, its key), from the log or the state.
ListDue = Callable[[Context, datetime], Iterable[tuple[datetime, str]]]
#: A job's handler: record into the unit the effect of the item `key`, due at the datetime.
HandleDue = Callable[[UnitOfWork, str, datetime, Context], None]
#: The items one event of a job's `triggers` makes due: (due_at, key).
Schedule = Callable[[Event], Iterable[tuple[datetime, str]]]
#: The records a batch of a job's items will read, so a unit loads them in bulk.
PrefetchDue = Callable[[Sequence[str], Context], Iterable[tuple[UUID, Evolve[Any]]]]


class DueRows(Protocol):
    """The due index as the jobs read it (`projections/due_index.py`)."""

    def catch_up(self, job: Job) -> int:
        """Index the items of the events recorded since the index last read the log."""
        ...

    def due(
        self, job: Job, now: datetime, after: tuple[datetime, str] | None, limit: int
    ) -> list[tuple[datetime, str]]:
        """Up to `limit` items of `job` due by `now`, not yet done, after `after`, in order."""
        ...

    def between(self, job: Job, after: datetime, until: datetime) -> list[tuple[datetime, str]]:
        """Every item of `job` due after `after` and by `until`, done or not."""
        ...

    def done(self, job: Job, items: Sequence[tuple[datetime, str]]) -> None:
        """Mark `items` handled (or found to need nothing): later calls skip them."""
        ...


@attrs.frozen
class Reaction:
    """A reaction: its stored name, the event types it follows, its handler."""

    name: str
    triggers: tuple[type[Event], ...]
    handle: Handle

    @property
    def topics(self) -> tuple[str, ...]:
        return tuple(get_topic(cls) for cls in self.triggers)


@attrs.frozen
class Job:
    """A time-driven job: its stored name, what is due when, and what to record for an item."""

    name: str
    due: ListDue
    handle: HandleDue
    #: The event types whose events make items due (with `schedule`).
    triggers: tuple[type[Event], ...] = ()
    schedule: Schedule | None = None
    prefetch: PrefetchDue | None = None

    @property
    def topics(self) -> tuple[str, ...]:
        return tuple(get_topic(cls) for cls in self.triggers)


class _Named(Protocol):
    @property
    def name(self) -> str: ...


N = TypeVar("N", bound=_Named)


class Registry(Generic[N]):
    """Entries by name, in the order they were registered (the order they run in)."""

    def __init__(self) -> None:
        self._entries: dict[str, N] = {}

    def add(self, entry: N) -> N:
        """Register `entry`; a second entry of the same name is a programming error."""
        if entry.name in self._entries:
            raise ValueError(f"{entry.name!r} is already registered")
        self._entries[entry.name] = entry
        return entry

    def remove(self, entry: N) -> None:
        """Unregister `entry` (tests register toy jobs for a while)."""
        if self._entries.get(entry.name) is entry:
            del self._entries[entry.name]

    def __iter__(self) -> Iterator[N]:
        # A copy: a handler may register while the ledger iterates.
        return iter(list(self._entries.values()))

    def __contains__(self, name: object) -> bool:
        return name in self._entries


REACTIONS: Registry[Reaction] = Registry()
JOBS: Registry[Job] = Registry()


def reaction(name: str, triggers: Iterable[type[Event]], handle: Handle) -> Reaction:
    """Register a reaction to the events of `triggers`."""
    return REACTIONS.add(Reaction(name, tuple(triggers), handle))


def job(
    name: str,
    *,
    due: ListDue,
    handle: HandleDue,
    triggers: Iterable[type[Event]] = (),
    schedule: Schedule | None = None,
    prefetch: PrefetchDue | None = None,
) -> Job:
    """Register a time-driven job.

    `due` lists the items from the log or the states; a job that also names
    its `triggers` and `schedule` is listed from the due index instead, and
    `due` stays the reference the index is checked against. `prefetch` names
    the records a batch of items reads.
    """
    return JOBS.add(Job(name, due, handle, tuple(triggers), schedule, prefetch))
