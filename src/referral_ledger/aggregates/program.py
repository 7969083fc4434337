"""Program settings as an event-sourced, versioned record.

Each configuration is an event, so `loyalty_program(as_of=...)` can answer
which rules applied at any moment, and every earning can name the version
it used.
"""

from __future__ import annotations

from datetime import datetime
from typing import Generic, TypeVar
from uuid import UUID

import attrs

from referral_ledger.aggregates.base import Event, next_event
from referral_ledger.policies.loyalty import LoyaltyProgram
from referral_ledger.policies.referral import ReferralProgram
from referral_ledger.values import derived_id

P = TypeVar("P")

LOYALTY_PROGRAM_ID = derived_id("program", "loyalty")
REFERRAL_PROGRAM_ID = derived_id("program", "referral")


@attrs.frozen
class ProgramSettings(Generic[P]):
    """The settings in force and how many times they were configured."""

    id: UUID
    version: int
    program: P


@attrs.frozen(kw_only=True)
class LoyaltyProgramConfigured(Event):
    program: LoyaltyProgram
    #: The business moment of the decision (None in events written by 0.1:
    #: their `timestamp`). Recorded only: purchases follow the program in
    #: force when they are recorded, whatever their own `at`.
    at: datetime | None = None


def configure_loyalty(
    settings: ProgramSettings[LoyaltyProgram] | None,
    program: LoyaltyProgram,
    now: datetime,
    at: datetime | None = None,
) -> list[Event]:
    """Record `program` as the loyalty rules from now on."""
    return [
        LoyaltyProgramConfigured(
            **next_event(settings, now, record_id=LOYALTY_PROGRAM_ID),
            program=program,
            at=now if at is None else at,
        )
    ]


def evolve_loyalty_settings(
    settings: ProgramSettings[LoyaltyProgram] | None, event: Event
) -> ProgramSettings[LoyaltyProgram]:
    assert isinstance(event, LoyaltyProgramConfigured), event
    return ProgramSettings(event.originator_id, event.originator_version, event.program)


@attrs.frozen(kw_only=True)
class ReferralProgramConfigured(Event):
    program: ReferralProgram


def configure_referrals(
    settings: ProgramSettings[ReferralProgram] | None, program: ReferralProgram, now: datetime
) -> list[Event]:
    """Record `program` as the referral reward rules from now on."""
    return [
        ReferralProgramConfigured(
            **next_event(settings, now, record_id=REFERRAL_PROGRAM_ID), program=program
        )
    ]


def evolve_referral_settings(
    settings: ProgramSettings[ReferralProgram] | None, event: Event
) -> ProgramSettings[ReferralProgram]:
    assert isinstance(event, ReferralProgramConfigured), event
    return ProgramSettings(event.originator_id, event.originator_version, event.program)
