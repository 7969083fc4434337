"""A referral: a customer with a contract in force refers a lead, and the lead
moves submitted → in progress → rewarded or ineligible, each step on a timeline.
"""

from __future__ import annotations

import enum
from datetime import datetime
from decimal import Decimal
from typing import Final
from uuid import UUID

import attrs

from referral_ledger.aggregates.base import Event, next_event
from referral_ledger.errors import InvalidInput, InvalidTransition
from referral_ledger.policies import referral as rules
from referral_ledger.policies.referral import ReferralProgram


class ReferralStatus(enum.Enum):
    SUBMITTED = "submitted"
    IN_PROGRESS = "in_progress"
    REWARDED = "rewarded"
    INELIGIBLE = "ineligible"

    @property
    def is_open(self) -> bool:
        return self in (ReferralStatus.SUBMITTED, ReferralStatus.IN_PROGRESS)


#: The moves the seed documents allow; rewarded and ineligible are final.
ALLOWED_MOVES: Final = {
    ReferralStatus.SUBMITTED: frozenset(
        {ReferralStatus.IN_PROGRESS, ReferralStatus.REWARDED, ReferralStatus.INELIGIBLE}
    ),
    ReferralStatus.IN_PROGRESS: frozenset({ReferralStatus.REWARDED, ReferralStatus.INELIGIBLE}),
    ReferralStatus.REWARDED: frozenset(),
    ReferralStatus.INELIGIBLE: frozenset(),
}

#: What the referrer can expect next, as the lead pages of referral programs show it.
EXPECTED_NEXT: Final = {
    ReferralStatus.SUBMITTED: "The sales team will contact the lead soon.",
    ReferralStatus.IN_PROGRESS: (
        "A sales rep is working with the lead; the reward is paid when they sign a contract."
    ),
    ReferralStatus.REWARDED: "The lead signed a contract and the reward has been paid.",
    ReferralStatus.INELIGIBLE: "The lead did not qualify; no reward is due.",
}


@attrs.frozen
class Lead:
    """The business a referrer recommends."""

    name: str
    phone: str
    industry: str
    email: str | None = None
    business_name: str | None = None
    website: str | None = None


@attrs.frozen
class TimelineEntry:
    """One change of a referral: its status after the change, when, and why."""

    status: ReferralStatus
    at: datetime
    note: str | None = None
    rep: str | None = None


@attrs.frozen
class Referral:
    """A referral as it stands: status, lead, rep, reward and the whole timeline."""

    id: UUID
    version: int
    referrer_id: UUID
    status: ReferralStatus
    lead: Lead
    program: str
    sales_assistance: bool
    submitted_at: datetime
    timeline: tuple[TimelineEntry, ...]
    rep: str | None = None
    reward: Decimal | None = None
    plan: str | None = None
    referred_customer_id: UUID | None = None

    @property
    def expected_next(self) -> str:
        """A short text telling the referrer what happens next."""
        return EXPECTED_NEXT[self.status]

    @property
    def updated_at(self) -> datetime:
        return self.timeline[-1].at


# --- events ----------------------------------------------------------------


@attrs.frozen(kw_only=True)
class ReferralSubmitted(Event):
    referrer_id: UUID
    lead: Lead
    program: str
    sales_assistance: bool
    at: datetime


@attrs.frozen(kw_only=True)
class RepAssigned(Event):
    rep: str
    note: str | None
    at: datetime


@attrs.frozen(kw_only=True)
class ReferralStarted(Event):
    rep: str | None
    note: str | None
    at: datetime


@attrs.frozen(kw_only=True)
class ReferralRewarded(Event):
    amount: Decimal
    plan: str | None
    note: str | None
    at: datetime
    #: True when the ledger rewarded it because the lead signed a contract.
    automatic: bool = False


@attrs.frozen(kw_only=True)
class ReferralMarkedIneligible(Event):
    reason: str
    at: datetime


@attrs.frozen(kw_only=True)
class ReferredCustomerLinked(Event):
    """The lead registered as this customer (found by the lead's phone)."""

    customer_id: UUID
    at: datetime


# --- decisions -------------------------------------------------------------


def submit(
    referral_id: UUID,
    *,
    referrer_id: UUID,
    lead: Lead,
    program: str,
    sales_assistance: bool,
    at: datetime,
    now: datetime,
) -> list[Event]:
    """Record a new referral of `lead` by `referrer_id` (eligibility checked by the caller)."""
    return [
        ReferralSubmitted(
            **next_event(None, now, record_id=referral_id),
            referrer_id=referrer_id,
            lead=lead,
            program=program,
            sales_assistance=sales_assistance,
            at=at,
        )
    ]


def assign_rep(
    referral: Referral, *, rep: str, note: str | None, at: datetime, now: datetime
) -> list[Event]:
    """Assign (or reassign) the sales rep while the referral is open."""
    _check_open(referral, "assign a rep to")
    _check_time(referral, at)
    return [
        RepAssigned(
            **next_event(referral, now),
            rep=rep,
            note=note,
            at=at,
        )
    ]


def start(
    referral: Referral, *, rep: str | None, note: str | None, at: datetime, now: datetime
) -> list[Event]:
    """Move to in progress: a sales rep is working with the lead."""
    _check_move(referral, ReferralStatus.IN_PROGRESS)
    _check_time(referral, at)
    return [
        ReferralStarted(
            **next_event(referral, now),
            rep=rep,
            note=note,
            at=at,
        )
    ]


def reward(
    referral: Referral,
    *,
    amount: Decimal | None,
    plan: str | None,
    note: str | None,
    program: ReferralProgram,
    at: datetime,
    now: datetime,
    automatic: bool = False,
) -> list[Event]:
    """Pay the referrer: the given amount, or the program's amount for `plan`."""
    _check_move(referral, ReferralStatus.REWARDED)
    _check_time(referral, at)
    paid = rules.reward_for(program, plan) if amount is None else amount
    rules.check_reward(program, paid)
    return [
        ReferralRewarded(
            **next_event(referral, now),
            amount=paid,
            plan=plan,
            note=note,
            at=at,
            automatic=automatic,
        )
    ]


def mark_ineligible(referral: Referral, *, reason: str, at: datetime, now: datetime) -> list[Event]:
    """Close the referral without a reward."""
    _check_move(referral, ReferralStatus.INELIGIBLE)
    _check_time(referral, at)
    return [
        ReferralMarkedIneligible(
            **next_event(referral, now),
            reason=reason,
            at=at,
        )
    ]


def link_customer(
    referral: Referral, *, customer_id: UUID, at: datetime, now: datetime
) -> list[Event]:
    """Note that the lead became a customer (nothing if already noted)."""
    if referral.referred_customer_id is not None or not referral.status.is_open:
        return []
    at = max(at, referral.updated_at)
    return [
        ReferredCustomerLinked(
            **next_event(referral, now),
            customer_id=customer_id,
            at=at,
        )
    ]


def _check_open(referral: Referral, action: str) -> None:
    if not referral.status.is_open:
        raise InvalidTransition(
            f"cannot {action} referral {referral.id}: it is {referral.status.value}, which is final"
        )


def _check_move(referral: Referral, to: ReferralStatus) -> None:
    if to not in ALLOWED_MOVES[referral.status]:
        raise InvalidTransition(
            f"referral {referral.id} cannot move from {referral.status.value} to {to.value}"
        )


def _check_time(referral: Referral, at: datetime) -> None:
    # The timeline is a history: a change dated before the last one would
    # reorder it, so the host must send changes in the order they happened.
    if at < referral.updated_at:
        raise InvalidInput(
            f"at {at.isoformat()} is before the referral's last change "
            f"({referral.updated_at.isoformat()})"
        )


# --- evolve ----------------------------------------------------------------


def evolve(referral: Referral | None, event: Event) -> Referral:
    if isinstance(event, ReferralSubmitted):
        return Referral(
            id=event.originator_id,
            version=event.originator_version,
            referrer_id=event.referrer_id,
            status=ReferralStatus.SUBMITTED,
            lead=event.lead,
            program=event.program,
            sales_assistance=event.sales_assistance,
            submitted_at=event.at,
            timeline=(TimelineEntry(ReferralStatus.SUBMITTED, event.at),),
        )
    assert referral is not None, event
    version = event.originator_version
    match event:
        case RepAssigned(rep=rep, note=note, at=at):
            entry = TimelineEntry(referral.status, at, note, rep)
            return attrs.evolve(
                referral, version=version, rep=rep, timeline=(*referral.timeline, entry)
            )
        case ReferralStarted(rep=rep, note=note, at=at):
            rep = rep or referral.rep
            entry = TimelineEntry(ReferralStatus.IN_PROGRESS, at, note, rep)
            return attrs.evolve(
                referral,
                version=version,
                status=ReferralStatus.IN_PROGRESS,
                rep=rep,
                timeline=(*referral.timeline, entry),
            )
        case ReferralRewarded(amount=amount, plan=plan, note=note, at=at):
            entry = TimelineEntry(ReferralStatus.REWARDED, at, note, referral.rep)
            return attrs.evolve(
                referral,
                version=version,
                status=ReferralStatus.REWARDED,
                reward=amount,
                plan=plan,
                timeline=(*referral.timeline, entry),
            )
        case ReferralMarkedIneligible(reason=reason, at=at):
            entry = TimelineEntry(ReferralStatus.INELIGIBLE, at, reason, referral.rep)
            return attrs.evolve(
                referral,
                version=version,
                status=ReferralStatus.INELIGIBLE,
                timeline=(*referral.timeline, entry),
            )
        case ReferredCustomerLinked(customer_id=customer_id):
            return attrs.evolve(referral, version=version, referred_customer_id=customer_id)
    raise TypeError(f"not a referral event: {event!r}")
