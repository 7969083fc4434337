"""A due item handled: the record that makes a time-driven job run once per item.

Its id is derived from (job, item). The job's effect and this record's
version 1 are saved in one transaction, so of two processes handling the same
item at once only one can commit; the other's save conflicts, and deciding
again it finds this record and records nothing (see `reactions/due.py`).
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import attrs

from referral_ledger.aggregates.base import Event, next_event
from referral_ledger.values import derived_id


def due_item_id(job: str, item: str) -> UUID:
    """The id of the record of `item` of `job`."""
    # The job's length first: job "a:b" item "c" and job "a" item "b:c" differ.
    return derived_id("due-item", f"{len(job)}:{job}:{item}")


@attrs.frozen
class DueItem:
    """An item of a job, handled: what was due when, and when the ledger recorded it."""

    id: UUID
    version: int
    job: str
    item: str
    due_at: datetime
    handled_at: datetime


@attrs.frozen(kw_only=True)
class DueItemHandled(Event):
    job: str
    item: str
    #: The business time the item fell due: its effect's events are dated so.
    due_at: datetime


def handled(job: str, item: str, due_at: datetime, now: datetime) -> list[Event]:
    """Record that `item` of `job`, due at `due_at`, was handled (its first and only event)."""
    return [
        DueItemHandled(
            **next_event(None, now, record_id=due_item_id(job, item)),
            job=job,
            item=item,
            due_at=due_at,
        )
    ]


def evolve_due_item(state: DueItem | None, event: Event) -> DueItem:
    """Apply one event to a due item's record."""
    if isinstance(event, DueItemHandled) and state is None:
        return DueItem(
            id=event.originator_id,
            version=event.originator_version,
            job=event.job,
            item=event.item,
            due_at=event.due_at,
            handled_at=event.timestamp,
        )
    raise TypeError(f"not a due item event: {event!r}")
