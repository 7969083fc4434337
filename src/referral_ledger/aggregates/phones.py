"""The phone index: one claim record per normalised phone number, naming its owners.

The record's id is derived from the E.164 number (keyed in encrypted stores)
and it is saved in the same transaction as the customer's own events. Two
writers claiming the same free number therefore both write version 1 (or the
same next version) of the same record, and the store lets only one of them
commit: phone uniqueness is enforced by the store, not by a lookup that a
concurrent writer could slip past. See `claims.py`.
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar, Final
from uuid import UUID

import attrs

from referral_ledger.aggregates import claims
from referral_ledger.aggregates.base import Event, Origin, next_event
from referral_ledger.aggregates.claims import Claim, ClaimEvent, ClaimKind
from referral_ledger.values import UNKEYED_IDS, RecordIds


@attrs.frozen
class PhoneOwners(Claim):
    """Who a phone number belongs to, in the order they claimed it.

    `owners` holds more than one customer only when a host registered with
    `on_duplicate_phone="create"`.
    """

    #: The open referral whose lead has this number. Claimed on the same record
    #: as the owners, so a second referral of the same phone collides with the
    #: first in the store; released when the referral is rewarded or ineligible.
    #: A lead's phone is not a duplicate for a customer: registering checks
    #: `owners` only.
    open_referral: UUID | None = None

    @property
    def phone(self) -> str:
        """The E.164 number."""
        return self.value


@attrs.frozen(kw_only=True)
class PhoneClaimed(ClaimEvent):
    phone: str
    customer_id: UUID

    @property
    def claimed(self) -> tuple[str, UUID]:
        return self.phone, self.customer_id


@attrs.frozen(kw_only=True)
class PhoneReleased(ClaimEvent):
    releases: ClassVar[bool] = True
    phone: str
    customer_id: UUID

    @property
    def claimed(self) -> tuple[str, UUID]:
        return self.phone, self.customer_id


def _claimed(origin: Origin, phone: str, customer_id: UUID) -> ClaimEvent:
    return PhoneClaimed(**origin, phone=phone, customer_id=customer_id)


def _released(origin: Origin, phone: str, customer_id: UUID) -> ClaimEvent:
    return PhoneReleased(**origin, phone=phone, customer_id=customer_id)


#: Phones keep the event classes 0.1 stored (the automatic rewards follow
#: `PhoneClaimed`), and the id derivation "phone".
PHONE: Final = ClaimKind("phone", _claimed, _released)


def phone_record_id(phone: str, ids: RecordIds = UNKEYED_IDS) -> UUID:
    """The id of the index record of an E.164 phone number (`ids`: the store's)."""
    return PHONE.record_id(phone, ids)


def claim(
    index: PhoneOwners | None,
    phone: str,
    customer_id: UUID,
    now: datetime,
    *,
    record_id: UUID | None = None,
) -> list[Event]:
    """Add `customer_id` to the owners of `phone` (nothing if it already is one)."""
    return claims.claim(PHONE, index, phone, customer_id, now, record_id=record_id)


def release(index: PhoneOwners | None, phone: str, customer_id: UUID, now: datetime) -> list[Event]:
    """Remove `customer_id` from the owners of `phone` (nothing if it is not one)."""
    return claims.release(PHONE, index, customer_id, now)


@attrs.frozen(kw_only=True)
class LeadPhoneClaimed(Event):
    phone: str
    referral_id: UUID


@attrs.frozen(kw_only=True)
class LeadPhoneReleased(Event):
    phone: str
    referral_id: UUID


def claim_for_lead(
    index: PhoneOwners | None,
    phone: str,
    referral_id: UUID,
    now: datetime,
    *,
    record_id: UUID | None = None,
) -> list[Event]:
    """Mark `phone` as the lead's of the open referral `referral_id`."""
    if index is None and record_id is None:
        record_id = phone_record_id(phone)
    origin = next_event(index, now, record_id=record_id)
    return [LeadPhoneClaimed(**origin, phone=phone, referral_id=referral_id)]


def release_lead(
    index: PhoneOwners | None, phone: str, referral_id: UUID, now: datetime
) -> list[Event]:
    """Free `phone` when its referral closes (nothing if another referral holds it)."""
    if index is None or index.open_referral != referral_id:
        return []
    return [LeadPhoneReleased(**next_event(index, now), phone=phone, referral_id=referral_id)]


def evolve_phone(index: PhoneOwners | None, event: Event) -> PhoneOwners:
    """Apply one event to a phone's index record."""
    match event:
        case PhoneClaimed() | PhoneReleased() if index is not None or not event.releases:
            base = index or PhoneOwners(event.originator_id, 0, event.phone)
            return claims.apply_claim(base, event)
        case LeadPhoneClaimed(phone=phone, referral_id=referral_id):
            base = index or PhoneOwners(event.originator_id, 0, phone)
            return attrs.evolve(base, version=event.originator_version, open_referral=referral_id)
        case LeadPhoneReleased() if index is not None:
            return attrs.evolve(index, version=event.originator_version, open_referral=None)
    raise TypeError(f"not a phone index event: {event!r}")
