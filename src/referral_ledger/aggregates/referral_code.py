"""Referral codes: the code claim, the program settings, and the referred customer's link.

- A code is a claim record (`REFERRAL_CODE`) owned by the customer it was
  issued to; the owner's commission account (`commission.py`) records which
  code it holds, so a customer is issued one code, once.
- A referred customer has a record at an id derived from their customer id,
  created by the first purchase with a code: two processes selling that
  customer's first purchase at once both write its version 1, and only one
  commits. It names the referrer and when the first purchase was, which is
  where the commission window starts.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Final
from uuid import UUID

import attrs

from referral_ledger.aggregates.base import Event, next_event
from referral_ledger.aggregates.claims import ClaimKind
from referral_ledger.aggregates.program import ProgramSettings
from referral_ledger.policies.commissions import ReferralCodeProgram
from referral_ledger.values import derived_id

#: Referral codes and their owners. The name is part of every code's record id.
REFERRAL_CODE: Final = ClaimKind("referral-code")

REFERRAL_CODE_PROGRAM_ID: Final = derived_id("program", "referral-code")


def referred_id(customer_id: UUID) -> UUID:
    """The id of the record saying who referred `customer_id`."""
    return derived_id("referred-customer", customer_id.hex)


# --- program settings ------------------------------------------------------------


@attrs.frozen(kw_only=True)
class ReferralCodeProgramConfigured(Event):
    program: ReferralCodeProgram
    at: datetime


def configure(
    settings: ProgramSettings[ReferralCodeProgram] | None,
    program: ReferralCodeProgram,
    now: datetime,
    at: datetime,
) -> list[Event]:
    """Record `program` as the rules from now on (nothing if they are the rules already)."""
    if settings is not None and settings.program == program:
        return []
    origin = next_event(settings, now, record_id=REFERRAL_CODE_PROGRAM_ID)
    return [ReferralCodeProgramConfigured(**origin, program=program, at=at)]


def evolve_settings(
    settings: ProgramSettings[ReferralCodeProgram] | None, event: Event
) -> ProgramSettings[ReferralCodeProgram]:
    assert isinstance(event, ReferralCodeProgramConfigured), event
    return ProgramSettings(event.originator_id, event.originator_version, event.program)


# --- the referred customer's link --------------------------------------------------


@attrs.frozen(kw_only=True)
class CustomerReferredByCode(Event):
    customer_id: UUID
    referrer_id: UUID
    code: str
    #: The first purchase: its invoice, business time and the discount it got.
    invoice_id: str
    at: datetime
    discount: Decimal


@attrs.frozen(kw_only=True)
class ReferredCustomer:
    id: UUID
    version: int
    customer_id: UUID
    referrer_id: UUID
    code: str
    invoice_id: str
    first_at: datetime
    discount: Decimal


def refer(
    customer_id: UUID,
    referrer_id: UUID,
    code: str,
    invoice_id: str,
    at: datetime,
    discount: Decimal,
    now: datetime,
) -> list[Event]:
    """Link the new customer to the code's owner (the record's first event)."""
    origin = next_event(None, now, record_id=referred_id(customer_id))
    return [
        CustomerReferredByCode(
            **origin,
            customer_id=customer_id,
            referrer_id=referrer_id,
            code=code,
            invoice_id=invoice_id,
            at=at,
            discount=discount,
        )
    ]


def evolve_referred(state: ReferredCustomer | None, event: Event) -> ReferredCustomer:
    assert isinstance(event, CustomerReferredByCode) and state is None, event
    return ReferredCustomer(
        id=event.originator_id,
        version=event.originator_version,
        customer_id=event.customer_id,
        referrer_id=event.referrer_id,
        code=event.code,
        invoice_id=event.invoice_id,
        first_at=event.at,
        discount=event.discount,
    )
