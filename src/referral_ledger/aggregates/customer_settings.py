"""Customer field settings and origins, each a record of its own.

Every configuration is an event, so the settings in force are in the log
and apply to the commands after it, in every process. The values a unique
field holds are claimed through `UNIQUE_KINDS` (claim records, `claims.py`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Final
from uuid import UUID

import attrs

from referral_ledger.aggregates.base import Event, next_event
from referral_ledger.aggregates.claims import ClaimKind
from referral_ledger.policies.field_settings import (
    DEFAULT_SETTINGS,
    DEFAULT_SOURCES,
    SETTABLE,
    FieldSettings,
    Source,
)
from referral_ledger.values import derived_id

FIELD_SETTINGS: Final = derived_id("crm", "customer-fields")
SOURCES: Final = derived_id("crm", "sources")

#: The claim kind of each field that may be made unique; the names are part of
#: stored ids: never change them.
UNIQUE_KINDS: Final = {field: ClaimKind(f"customer-{field}") for field in SETTABLE}


@attrs.frozen
class FieldSettingsRecord:
    id: UUID
    version: int
    settings: FieldSettings = DEFAULT_SETTINGS


@attrs.frozen(kw_only=True)
class CustomerFieldsConfigured(Event):
    required: frozenset[str]
    unique: frozenset[str]
    at: datetime


def configure(
    record: FieldSettingsRecord | None, settings: FieldSettings, now: datetime, at: datetime
) -> list[Event]:
    """Record `settings` from now on (nothing if they are the ones in force)."""
    if (record.settings if record else DEFAULT_SETTINGS) == settings:
        return []
    origin = next_event(record, now, record_id=FIELD_SETTINGS)
    return [
        CustomerFieldsConfigured(
            **origin, required=settings.required, unique=settings.unique, at=at
        )
    ]


def evolve_field_settings(record: FieldSettingsRecord | None, event: Event) -> FieldSettingsRecord:
    assert isinstance(event, CustomerFieldsConfigured), event
    settings = FieldSettings(required=event.required, unique=event.unique)
    return FieldSettingsRecord(event.originator_id, event.originator_version, settings)


# --- origins ------------------------------------------------------------------


@attrs.frozen
class SourceBook:
    id: UUID
    version: int
    #: Key -> display name, in the order they were added (the defaults first).
    names: tuple[Source, ...] = tuple(Source(k, n) for k, n in DEFAULT_SOURCES.items())

    def name_of(self, key: str) -> str | None:
        return next((s.name for s in self.names if s.key == key), None)


DEFAULT_SOURCE_BOOK: Final = SourceBook(SOURCES, 0)


@attrs.frozen(kw_only=True)
class SourceAdded(Event):
    """A source key and its display name (a known key: its new name)."""

    key: str
    name: str
    at: datetime


def add_source(book: SourceBook | None, source: Source, now: datetime, at: datetime) -> list[Event]:
    """Name the source `source.key` (nothing if it has that name already)."""
    if (book or DEFAULT_SOURCE_BOOK).name_of(source.key) == source.name:
        return []
    origin = next_event(book, now, record_id=SOURCES)
    return [SourceAdded(**origin, key=source.key, name=source.name, at=at)]


def evolve_sources(book: SourceBook | None, event: Event) -> SourceBook:
    assert isinstance(event, SourceAdded), event
    state = book or attrs.evolve(DEFAULT_SOURCE_BOOK, id=event.originator_id)
    source = Source(event.key, event.name)
    known = any(s.key == event.key for s in state.names)
    names = (
        tuple(source if s.key == event.key else s for s in state.names)
        if known
        else (*state.names, source)
    )
    return attrs.evolve(state, version=event.originator_version, names=names)
