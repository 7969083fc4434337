"""The lead table and referral revenue: records, rows, and the fold from events.

The fold is pure: it reads and writes records through `ViewRecords`, which
the SQL storage implements for SQLite (also the in-memory store) and
PostgreSQL alike, so a view rebuilt from the log and a view kept live are
made by the same code.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Final, Protocol
from uuid import UUID

import attrs

from referral_ledger.aggregates.base import Event
from referral_ledger.aggregates.loyalty import PointsEarned, PointsTakenBack
from referral_ledger.aggregates.referral import (
    ReferralMarkedIneligible,
    ReferralRewarded,
    ReferralStarted,
    ReferralStatus,
    ReferralSubmitted,
    ReferredCustomerLinked,
    RepAssigned,
)
from referral_ledger.projections.folding import fold, phone_key, search_key, website_key
from referral_ledger.values import EXACT

#: The referral events that change a lead row already in the table.
LEAD_CHANGES: Final = (
    RepAssigned,
    ReferralStarted,
    ReferralRewarded,
    ReferralMarkedIneligible,
    ReferredCustomerLinked,
)
#: The events that change a customer's revenue: the field with the amount, and
#: its sign (a purchase adds, a return takes back).
REVENUE_CHANGES: Final[dict[type[Event], tuple[str, int]]] = {
    PointsEarned: ("amount", 1),
    PointsTakenBack: ("returned_amount", -1),
}
#: The events the views are folded from; the runner reads only these.
VIEW_EVENTS: Final = (ReferralSubmitted, *LEAD_CHANGES, *REVENUE_CHANGES)


@attrs.frozen
class LeadRow:
    """One referral as the lead table shows it."""

    referral_id: UUID
    referrer_id: UUID
    name: str
    phone: str
    email: str | None
    business_name: str | None
    website: str | None
    industry: str
    program: str
    status: ReferralStatus
    rep: str | None
    submitted_at: datetime
    updated_at: datetime
    sales_assistance: bool = False
    #: True once the referral reached in progress or was rewarded: a rep reached
    #: the lead. One marked ineligible straight from submitted never was.
    contacted: bool = False
    plan: str | None = None
    reward: Decimal | None = None
    rewarded_at: datetime | None = None
    referred_customer_id: UUID | None = None

    @property
    def search(self) -> str:
        return search_key(
            self.name,
            self.email,
            self.business_name,
            website_key(self.website or ""),
            phone_key(self.phone),
        )

    @property
    def name_key(self) -> str:
        return fold(self.name)

    @property
    def business_key(self) -> str:
        return fold(self.business_name or "")


@attrs.frozen
class HistoryRow:
    """A successful referral: when it was rewarded, the plan, revenue and reward."""

    referral_id: UUID
    referrer_id: UUID
    date: datetime
    plan: str | None
    revenue: Decimal
    reward: Decimal
    name: str = ""
    business_name: str | None = None
    referred_customer_id: UUID | None = None


@attrs.frozen
class ConversionRow:
    """Leads → contacts → customers for one sales rep (None: unassigned)."""

    rep: str | None
    leads: int
    contacts: int
    customers: int
    contact_rate: float
    customer_rate: float
    conversion_rate: float


class ViewRecords(Protocol):
    """Where the fold reads and writes view records."""

    def lead(self, referral_id: UUID) -> LeadRow | None: ...

    def put_lead(self, row: LeadRow) -> None: ...

    def revenue(self, customer_id: UUID) -> Decimal: ...

    def put_revenue(self, customer_id: UUID, revenue: Decimal) -> None: ...


def apply(event: Event, views: ViewRecords) -> None:
    """Fold one event into the views."""
    if isinstance(event, ReferralSubmitted):
        lead = event.lead
        views.put_lead(
            LeadRow(
                referral_id=event.originator_id,
                referrer_id=event.referrer_id,
                name=lead.name,
                phone=lead.phone,
                email=lead.email,
                business_name=lead.business_name,
                website=lead.website,
                industry=lead.industry,
                program=event.program,
                status=ReferralStatus.SUBMITTED,
                rep=None,
                submitted_at=event.at,
                updated_at=event.at,
                sales_assistance=event.sales_assistance,
            )
        )
        return
    if isinstance(event, PointsEarned | PointsTakenBack):
        views.put_revenue(
            event.customer_id, EXACT.add(views.revenue(event.customer_id), revenue_change(event))
        )
        return
    row = views.lead(event.originator_id)
    if row is None:  # pragma: no cover - every referral starts with ReferralSubmitted
        raise LookupError(f"view has no lead {event.originator_id} for {event!r}")
    match event:
        case RepAssigned(rep=rep, at=at):
            row = attrs.evolve(row, rep=rep, updated_at=at)
        case ReferralStarted(rep=rep, at=at):
            row = attrs.evolve(
                row,
                status=ReferralStatus.IN_PROGRESS,
                rep=rep or row.rep,
                contacted=True,
                updated_at=at,
            )
        case ReferralRewarded(amount=amount, plan=plan, at=at):
            row = attrs.evolve(
                row,
                status=ReferralStatus.REWARDED,
                contacted=True,
                reward=amount,
                plan=plan,
                rewarded_at=at,
                updated_at=at,
            )
        case ReferralMarkedIneligible(at=at):
            row = attrs.evolve(row, status=ReferralStatus.INELIGIBLE, updated_at=at)
        case ReferredCustomerLinked(customer_id=customer_id):
            row = attrs.evolve(row, referred_customer_id=customer_id)
        case _:
            return
    views.put_lead(row)


def revenue_change(event: PointsEarned | PointsTakenBack) -> Decimal:
    """What a purchase adds to its customer's revenue, or a return takes back."""
    field, sign = REVENUE_CHANGES[type(event)]
    amount: Decimal = getattr(event, field)
    return amount if sign > 0 else amount.copy_negate()  # exact, unlike unary minus


def conversion_row(rep: str | None, leads: int, contacts: int, customers: int) -> ConversionRow:
    """Rates as the seed defines them; 0.0 where there is nothing to divide by."""

    def rate(part: int, whole: int) -> float:
        return part / whole if whole else 0.0

    return ConversionRow(
        rep=rep,
        leads=leads,
        contacts=contacts,
        customers=customers,
        contact_rate=rate(contacts, leads),
        customer_rate=rate(customers, contacts),
        conversion_rate=rate(customers, leads),
    )
