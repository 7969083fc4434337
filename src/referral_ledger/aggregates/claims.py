"""Claims: a unique business value (a phone, a POS id, an invoice id, a code)
and who holds it.

A claim is a record of its own at an id derived from the value (keyed when
the store is encrypted, see `values.RecordIds`), saved in the same
transaction as its owner's events. Two writers claiming the same free value
both write version 1 of the same record and the store lets one commit, so
uniqueness holds between processes without a lookup a writer could slip past.

Each kind of value has a `ClaimKind`: the name its ids are derived from and
the events that claim and release it. The kinds 0.1 stored keep their own
event classes (`PhoneClaimed`, `ExternalIdLinked`, `InvoiceRecorded`, ...),
whose topics and fields are in stores already; they all derive from
`ClaimEvent`, so `evolve_claim` reads any claim record, old or new. New kinds
use `Claimed` and `Released`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import ClassVar, Final, TypeVar
from uuid import UUID

import attrs

from referral_ledger.aggregates.base import Event, Origin, next_event
from referral_ledger.values import UNKEYED_IDS, RecordIds, derived_id

# --- events ----------------------------------------------------------------


@attrs.frozen(kw_only=True)
class ClaimEvent(Event):
    """An event that gives a value to an owner, or (`releases`) takes it back.

    Subclasses keep the field names they were stored with and say through
    `claimed` which fields are the value and the owner.
    """

    releases: ClassVar[bool] = False

    @property
    def claimed(self) -> tuple[str, UUID]:
        """The value and its owner."""
        raise NotImplementedError


@attrs.frozen(kw_only=True)
class Claimed(ClaimEvent):
    value: str
    owner: UUID

    @property
    def claimed(self) -> tuple[str, UUID]:
        return self.value, self.owner


@attrs.frozen(kw_only=True)
class Released(ClaimEvent):
    releases: ClassVar[bool] = True
    value: str
    owner: UUID

    @property
    def claimed(self) -> tuple[str, UUID]:
        return self.value, self.owner


#: Makes the event of a claim (or a release): (origin, value, owner) -> event.
ClaimEventFactory = Callable[[Origin, str, UUID], ClaimEvent]


def _claimed(origin: Origin, value: str, owner: UUID) -> ClaimEvent:
    return Claimed(**origin, value=value, owner=owner)


def _released(origin: Origin, value: str, owner: UUID) -> ClaimEvent:
    return Released(**origin, value=value, owner=owner)


@attrs.frozen
class ClaimKind:
    """A kind of unique value: the name its record ids derive from, and its events.

    `name` is part of every stored id of the kind: never change it.
    """

    name: str
    claimed: ClaimEventFactory = _claimed
    released: ClaimEventFactory = _released

    def record_id(self, value: str, ids: RecordIds = UNKEYED_IDS) -> UUID:
        """The id of the claim record of `value`."""
        return ids(self.name, value)


# --- state -----------------------------------------------------------------


@attrs.frozen
class Claim:
    """A value and who holds it, first claimed first."""

    id: UUID
    version: int
    value: str
    #: More than one only where a kind allows sharing (phones registered
    #: with `on_duplicate_phone="create"`).
    owners: tuple[UUID, ...] = ()

    @property
    def owner(self) -> UUID | None:
        """The first owner, if any."""
        return self.owners[0] if self.owners else None

    def others(self, owner: UUID) -> tuple[UUID, ...]:
        """The owners other than `owner`."""
        return tuple(o for o in self.owners if o != owner)


C = TypeVar("C", bound=Claim)


# --- decisions -------------------------------------------------------------


def claim(
    kind: ClaimKind,
    state: Claim | None,
    value: str,
    owner: UUID,
    now: datetime,
    *,
    record_id: UUID | None = None,
) -> list[Event]:
    """Add `owner` to the holders of `value` (nothing if it holds it already).

    `record_id` (from `kind.record_id`) names the record when it is new.
    Whether others may hold the value too is the caller's rule to check.
    """
    if state is not None and owner in state.owners:
        return []
    if state is None and record_id is None:
        record_id = kind.record_id(value)
    return [kind.claimed(next_event(state, now, record_id=record_id), value, owner)]


def release(kind: ClaimKind, state: Claim | None, owner: UUID, now: datetime) -> list[Event]:
    """Remove `owner` from the holders (nothing if it is not one)."""
    if state is None or owner not in state.owners:
        return []
    return [kind.released(next_event(state, now), state.value, owner)]


# --- evolve ----------------------------------------------------------------


def apply_claim(state: C, event: ClaimEvent) -> C:
    """Apply a claim or release to a claim record (or a record built on one)."""
    _, owner = event.claimed
    if event.releases:
        owners = state.others(owner)
    else:
        owners = state.owners if owner in state.owners else (*state.owners, owner)
    return attrs.evolve(state, version=event.originator_version, owners=owners)


def evolve_claim(state: Claim | None, event: Event) -> Claim:
    """Apply one event to a claim record; its other events only advance the version."""
    if isinstance(event, ClaimEvent):
        return apply_claim(state or Claim(event.originator_id, 0, event.claimed[0]), event)
    if state is None:
        raise TypeError(f"not the first event of a claim: {event!r}")
    # A record such as an invoice also records what happens to it later (a
    # return); who holds it does not change.
    return attrs.evolve(state, version=event.originator_version)


# --- which ids a store's claims have ------------------------------------------

#: The record whose presence says the store's claim ids are keyed. Its own id
#: is public: it stands for no business value.
ID_SCHEME_RECORD: Final = derived_id("ledger", "record-ids")
KEYED_SCHEME: Final = "hmac-sha256/v1"


@attrs.frozen
class IdScheme:
    id: UUID
    version: int
    scheme: str


@attrs.frozen(kw_only=True)
class RecordIdsKeyed(Event):
    """From the store's first event on, claim ids are keyed (`values.keyed_id`)."""

    scheme: str


def adopt_keyed_ids(state: IdScheme | None, now: datetime) -> list[Event]:
    """Record that this (new, encrypted) store derives its claim ids with a key."""
    if state is not None:
        return []
    origin = next_event(state, now, record_id=ID_SCHEME_RECORD)
    return [RecordIdsKeyed(**origin, scheme=KEYED_SCHEME)]


def evolve_id_scheme(state: IdScheme | None, event: Event) -> IdScheme:
    assert isinstance(event, RecordIdsKeyed), event
    return IdScheme(event.originator_id, event.originator_version, event.scheme)
