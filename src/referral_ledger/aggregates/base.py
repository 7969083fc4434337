"""What every event and every aggregate state has."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Protocol, TypedDict, TypeVar
from uuid import UUID

import attrs


@attrs.frozen(kw_only=True)
class Event:
    """A fact recorded in the log: which record, its version, when it was recorded.

    `timestamp` is when the ledger recorded the event (what `as_of` queries
    replay by); business times such as a purchase's `at` are fields of their own.
    """

    originator_id: UUID
    originator_version: int
    timestamp: datetime


class State(Protocol):
    """An aggregate's state: its id and the version of the last event applied."""

    @property
    def id(self) -> UUID: ...

    @property
    def version(self) -> int: ...


S = TypeVar("S", bound=State)

#: Applies one event to a state (None before the first event).
Evolve = Callable[[S | None, Event], S]


class Origin(TypedDict):
    """Which record an event belongs to, its version, and when it was recorded."""

    originator_id: UUID
    originator_version: int
    timestamp: datetime


def next_version(state: State | None) -> int:
    """The version the next event of this aggregate gets."""
    return 1 if state is None else state.version + 1


def next_event(state: State | None, now: datetime, *, record_id: UUID | None = None) -> Origin:
    """The origin of a record's next event: `Cls(**next_event(state, now), field=...)`.

    `record_id` names a record that does not exist yet (`state` is None); for
    an existing one it must be the state's own id, if given.
    """
    if state is None:
        if record_id is None:
            raise TypeError("a new record's first event needs its record_id")
        return Origin(originator_id=record_id, originator_version=1, timestamp=now)
    if record_id is not None and record_id != state.id:
        raise ValueError(f"record {record_id} is not the record {state.id} given")
    return Origin(originator_id=state.id, originator_version=state.version + 1, timestamp=now)


def following(event: Event) -> Origin:
    """The origin of the event after `event`, of the same record, in the same decision."""
    return Origin(
        originator_id=event.originator_id,
        originator_version=event.originator_version + 1,
        timestamp=event.timestamp,
    )
