"""Referral rules that span several records, as pure functions over the states
they need (a referrer's contracts and phones, a phone's owners, the lead's
customer). The commands and the automatic reward load those states and call
these; the rules themselves do no I/O, so they are tested without a store.

They take the shapes they read (`ContractTerm`, plain ids and phone tuples)
rather than the aggregates' classes: policies sit below the aggregates.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Protocol
from uuid import UUID

from referral_ledger.errors import DuplicatePhone, InvalidInput, ReferrerNotEligible


class ContractTerm(Protocol):
    """A contract as these rules see it: in force from `starts_on` to `ends_on`, inclusive."""

    @property
    def starts_on(self) -> date: ...

    @property
    def ends_on(self) -> date: ...


def in_force_on(contracts: Iterable[ContractTerm], day: date) -> bool:
    """Whether any of `contracts` covers the business day `day` (both ends inclusive)."""
    return any(contract.starts_on <= day <= contract.ends_on for contract in contracts)


def check_referrer(referrer_id: UUID, contracts: Iterable[ContractTerm], day: date) -> None:
    """Only a customer with a contract in force on `day` may refer (`ReferrerNotEligible`)."""
    if not in_force_on(contracts, day):
        raise ReferrerNotEligible(
            f"customer {referrer_id} has no contract in force on {day.isoformat()}"
        )


def check_lead_phone(
    phone: str,
    *,
    referrer_phones: Iterable[str],
    owners: Iterable[UUID],
    open_referral: UUID | None,
) -> None:
    """A lead's phone must be new: not the referrer's own (`InvalidInput`), not a
    customer's, not the lead of a referral still open (`DuplicatePhone`)."""
    if phone in tuple(referrer_phones):
        raise InvalidInput(f"a customer cannot refer their own phone {phone}")
    if tuple(owners):
        raise DuplicatePhone(f"phone {phone} already belongs to a customer")
    if open_referral is not None:
        raise DuplicatePhone(f"phone {phone} is the lead of open referral {open_referral}")


def self_referral(
    *,
    referrer_id: UUID,
    referrer_phones: Iterable[str],
    lead_phone: str,
    lead_phone_owners: Iterable[UUID],
    lead_customer_id: UUID | None,
    lead_customer_phones: Iterable[str] = (),
) -> str | None:
    """Why a reward would go to the referrer for referring itself, or None.

    Judged when the reward is decided, on the records as they are then: the
    lead's customer is the referrer; the referrer holds the lead's phone (it
    may have added it to its own record after referring it, before any link
    was recorded); or the lead's customer and the referrer share a phone.
    """
    if lead_customer_id == referrer_id:
        return f"the lead's customer is the referrer {referrer_id} itself"
    if referrer_id in tuple(lead_phone_owners):
        return f"the lead's phone {lead_phone} belongs to the referrer {referrer_id}"
    if lead_customer_id is not None:
        shared = sorted(set(lead_customer_phones) & set(referrer_phones))
        if shared:
            return (
                f"the lead's customer {lead_customer_id} shares phone {shared[0]} "
                f"with the referrer {referrer_id}"
            )
    return None
