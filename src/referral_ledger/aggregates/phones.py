"""The phone index: one record per normalised phone number, naming its owners.

The record's id is derived from the E.164 number, and it is saved in the same
transaction as the customer's own events. Two writers claiming the same free
number therefore both write version 1 (or the same next version) of the same
record, and the store lets only one of them commit: phone uniqueness is
enforced by the store, not by a lookup that a concurrent writer could slip past.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import attrs

from referral_ledger.aggregates.base import Event, next_version
from referral_ledger.values import derived_id


def phone_record_id(phone: str) -> UUID:
    """The id of the index record of an E.164 phone number."""
    return derived_id("phone", phone)


@attrs.frozen
class PhoneOwners:
    """Who a phone number belongs to, in the order they claimed it."""

    id: UUID
    version: int
    phone: str
    #: Customers holding this number, first registered first. More than one
    #: only when a host registered with `on_duplicate_phone="create"`.
    owners: tuple[UUID, ...] = ()
    #: The open referral whose lead has this number. Claimed on the same record
    #: as the owners, so a second referral of the same phone collides with the
    #: first in the store; released when the referral is rewarded or ineligible.
    #: A lead's phone is not a duplicate for a customer: registering checks
    #: `owners` only.
    open_referral: UUID | None = None

    @property
    def owner(self) -> UUID | None:
        """The first registered owner, if any."""
        return self.owners[0] if self.owners else None


@attrs.frozen(kw_only=True)
class PhoneClaimed(Event):
    phone: str
    customer_id: UUID


@attrs.frozen(kw_only=True)
class PhoneReleased(Event):
    phone: str
    customer_id: UUID


def claim(index: PhoneOwners | None, phone: str, customer_id: UUID, now: datetime) -> list[Event]:
    """Add `customer_id` to the owners of `phone` (nothing if it already is one)."""
    if index is not None and customer_id in index.owners:
        return []
    return [
        PhoneClaimed(
            originator_id=phone_record_id(phone),
            originator_version=next_version(index),
            timestamp=now,
            phone=phone,
            customer_id=customer_id,
        )
    ]


def release(index: PhoneOwners | None, phone: str, customer_id: UUID, now: datetime) -> list[Event]:
    """Remove `customer_id` from the owners of `phone` (nothing if it is not one)."""
    if index is None or customer_id not in index.owners:
        return []
    return [
        PhoneReleased(
            originator_id=index.id,
            originator_version=index.version + 1,
            timestamp=now,
            phone=phone,
            customer_id=customer_id,
        )
    ]


@attrs.frozen(kw_only=True)
class LeadPhoneClaimed(Event):
    phone: str
    referral_id: UUID


@attrs.frozen(kw_only=True)
class LeadPhoneReleased(Event):
    phone: str
    referral_id: UUID


def claim_for_lead(
    index: PhoneOwners | None, phone: str, referral_id: UUID, now: datetime
) -> list[Event]:
    """Mark `phone` as the lead's of the open referral `referral_id`."""
    return [
        LeadPhoneClaimed(
            originator_id=phone_record_id(phone),
            originator_version=next_version(index),
            timestamp=now,
            phone=phone,
            referral_id=referral_id,
        )
    ]


def release_lead(
    index: PhoneOwners | None, phone: str, referral_id: UUID, now: datetime
) -> list[Event]:
    """Free `phone` when its referral closes (nothing if another referral holds it)."""
    if index is None or index.open_referral != referral_id:
        return []
    return [
        LeadPhoneReleased(
            originator_id=index.id,
            originator_version=index.version + 1,
            timestamp=now,
            phone=phone,
            referral_id=referral_id,
        )
    ]


def evolve_phone(index: PhoneOwners | None, event: Event) -> PhoneOwners:
    """Apply one event to a phone's index record."""
    match event:
        case PhoneClaimed(phone=phone, customer_id=customer_id):
            base = index or PhoneOwners(event.originator_id, 0, phone)
            return attrs.evolve(
                base, version=event.originator_version, owners=(*base.owners, customer_id)
            )
        case LeadPhoneClaimed(phone=phone, referral_id=referral_id):
            base = index or PhoneOwners(event.originator_id, 0, phone)
            return attrs.evolve(base, version=event.originator_version, open_referral=referral_id)
        case LeadPhoneReleased() if index is not None:
            return attrs.evolve(index, version=event.originator_version, open_referral=None)
        case PhoneReleased(customer_id=customer_id) if index is not None:
            return attrs.evolve(
                index,
                version=event.originator_version,
                owners=tuple(o for o in index.owners if o != customer_id),
            )
    raise TypeError(f"not a phone index event: {event!r}")
