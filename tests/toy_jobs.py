"""A toy job and a toy reaction, for the tests of the mechanisms (not the ledger's own).

The job: a welcome reminder falls due `REMINDER_DAYS` after a customer
registered. Its handler is deliberately naive (it always records one more
reminder), so any reminder recorded twice shows that `process_due` ran an
item twice. The reaction: each registered customer gets a "welcomed" note.

Child processes of the multiprocessing tests import this module by name
(spawn hands them the parent's ``sys.path``, which holds ``tests/``) and
register the job themselves; the parent registers it only for a test, with
`registered`.
"""

from __future__ import annotations

import contextlib
import traceback
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import attrs

from referral_ledger import Ledger
from referral_ledger.aggregates.base import Event, next_version
from referral_ledger.aggregates.customer import CustomerRegistered
from referral_ledger.reactions import JOBS, REACTIONS, Context, Job, Reaction
from referral_ledger.store import UnitOfWork
from referral_ledger.values import derived_id

REMINDER_DAYS = 30
BARRIER_TIMEOUT = 60.0


@attrs.frozen(kw_only=True)
class ReminderSent(Event):
    customer_id: UUID
    at: datetime


@attrs.frozen(kw_only=True)
class Welcomed(Event):
    customer_id: UUID


@attrs.frozen(kw_only=True)
class Noted(Event):
    about: UUID


@attrs.frozen
class Notes:
    """A customer's toy notes: how many reminders and welcomes it got, and when."""

    id: UUID
    version: int
    reminders: tuple[datetime, ...] = ()
    welcomes: int = 0
    noted: int = 0


def notes_id(customer: UUID) -> UUID:
    return derived_id("toy-notes", str(customer))


def evolve_notes(notes: Notes | None, event: Event) -> Notes:
    base = notes or Notes(event.originator_id, 0)
    if isinstance(event, ReminderSent):
        return attrs.evolve(
            base, version=event.originator_version, reminders=(*base.reminders, event.at)
        )
    if isinstance(event, Welcomed):
        return attrs.evolve(base, version=event.originator_version, welcomes=base.welcomes + 1)
    if isinstance(event, Noted):
        return attrs.evolve(base, version=event.originator_version, noted=base.noted + 1)
    raise TypeError(event)


def reminders_due(context: Context, now: datetime) -> Iterable[tuple[datetime, str]]:
    for event in context.events(CustomerRegistered):
        yield event.timestamp + timedelta(days=REMINDER_DAYS), str(event.originator_id)


def send_reminder(unit: UnitOfWork, key: str, due_at: datetime, context: Context) -> None:
    customer = UUID(key)
    notes = unit.load(notes_id(customer), evolve_notes)
    unit.record(
        [
            ReminderSent(
                originator_id=notes_id(customer),
                originator_version=next_version(notes),
                timestamp=unit.now,
                customer_id=customer,
                at=due_at,
            )
        ]
    )


def welcome(unit: UnitOfWork, event: Event, context: Context) -> None:
    assert isinstance(event, CustomerRegistered)
    notes = unit.load(notes_id(event.originator_id), evolve_notes)
    unit.record(
        [
            Welcomed(
                originator_id=notes_id(event.originator_id),
                originator_version=next_version(notes),
                timestamp=unit.now,
                customer_id=event.originator_id,
            )
        ]
    )


def note(unit: UnitOfWork, event: Event, context: Context) -> None:
    """Note any event on the notes of its record (a points account, a customer's notes)."""
    notes = unit.load(notes_id(event.originator_id), evolve_notes)
    unit.record(
        [
            Noted(
                originator_id=notes_id(event.originator_id),
                originator_version=next_version(notes),
                timestamp=unit.now,
                about=event.originator_id,
            )
        ]
    )


REMINDERS = Job("toy-welcome-reminder", reminders_due, send_reminder)
WELCOME = Reaction("toy-welcome", (CustomerRegistered,), welcome)


@contextlib.contextmanager
def registered(*entries: Job | Reaction) -> Iterator[None]:
    """Register the toy job or reaction for the duration of a test."""
    for entry in entries:
        if isinstance(entry, Job):
            JOBS.add(entry)
        else:
            REACTIONS.add(entry)
    try:
        yield
    finally:
        for entry in entries:
            if isinstance(entry, Job):
                JOBS.remove(entry)
            else:
                REACTIONS.remove(entry)


def notes_of(ledger: Ledger, customer: UUID) -> Notes | None:
    return ledger._store.load(notes_id(customer), evolve_notes)


def process_due_together(url: str, now: datetime, worker: int, barrier: Any, results: Any) -> None:
    """In a child process: register the toy job, meet the others, run `process_due(now)`."""
    try:
        JOBS.add(REMINDERS)
        with Ledger.open(url, react_inline=False) as ledger:
            barrier.wait(BARRIER_TIMEOUT)
            recorded = ledger.process_due(now)
            retried = getattr(ledger.stats, "conflicts_retried", 0)
            results.put({"worker": worker, "recorded": recorded, "retried": retried})
    except BaseException:
        barrier.abort()
        results.put({"worker": worker, "error": traceback.format_exc()})
