"""What every event and every aggregate state has."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Protocol, TypeVar
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


def next_version(state: State | None) -> int:
    """The version the next event of this aggregate gets."""
    return 1 if state is None else state.version + 1
