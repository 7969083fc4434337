"""A campaign record (its definition, what it has handed out, its race) and the campaign book.

Each campaign is a record at an id derived from its upstream `campaign_id`
(keyed when the store is encrypted). Every purchase the campaign counts
advances it in the purchase's own transaction, so its budget and its
customers' limits are read and spent under the store's optimistic lock:
two purchases that read the same standing conflict, and the loser decides
again from the winner's. The book (one record) lists every campaign's definition,
so a purchase finds the campaigns it may qualify for with one read, and
queues (`UnitOfWork.take_turn`) only for those before reading their records.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Final
from uuid import UUID

import attrs

from referral_ledger.aggregates.base import Event, next_event
from referral_ledger.errors import InvalidInput
from referral_ledger.policies.campaigns import Campaign, Standing
from referral_ledger.values import UNKEYED_IDS, RecordIds, derived_id

#: The one record that lists every campaign.
CAMPAIGN_BOOK_ID: Final = derived_id("campaign-book", "all")


def campaign_record_id(campaign_id: str, ids: RecordIds = UNKEYED_IDS) -> UUID:
    """The id of the campaign's record ("campaign" is part of stored ids: never change it)."""
    return ids("campaign", campaign_id)


# --- events ----------------------------------------------------------------


@attrs.frozen(kw_only=True)
class CampaignAdded(Event):
    campaign: Campaign
    at: datetime


@attrs.frozen(kw_only=True)
class CampaignEnded(Event):
    """Stopped early: purchases from `at` on no longer qualify."""

    campaign_id: str
    at: datetime


@attrs.frozen(kw_only=True)
class CampaignPurchaseCounted(Event):
    """A qualifying purchase: its base points, this campaign's bonus, all the points it
    earned (base and every campaign's bonus), and the customer's race total after it."""

    campaign_id: str
    customer_id: UUID
    invoice_id: str
    base_points: int
    bonus: int
    points: int
    total: int
    at: datetime


@attrs.frozen(kw_only=True)
class CampaignPointsReturned(Event):
    """A return of a counted purchase took `points` off the customer's race total."""

    campaign_id: str
    customer_id: UUID
    invoice_id: str
    points: int
    total: int
    at: datetime


@attrs.frozen(kw_only=True)
class CampaignClosed(Event):
    """The campaign's window is over: the final ranking, (customer, points), best first."""

    campaign_id: str
    ranking: tuple[tuple[UUID, int], ...]
    at: datetime


@attrs.frozen(kw_only=True)
class CampaignListed(Event):
    """The book lists a campaign (its definition as added, which never changes)."""

    campaign: Campaign


# --- state -----------------------------------------------------------------


@attrs.frozen
class Racer:
    """A customer in a campaign: qualifying purchases, bonus received, race total,
    and the campaign version at which the total last changed (ties go to the earlier)."""

    purchases: int = 0
    bonus: int = 0
    points: int = 0
    reached: int = 0


@attrs.frozen
class CampaignState:
    id: UUID
    version: int
    campaign: Campaign
    ended_at: datetime | None = None
    closed: bool = False
    #: Bonus points handed out in all (returns do not give them back).
    granted: int = 0
    #: By customer id in hex.
    racers: Mapping[str, Racer] = attrs.field(factory=dict)

    def standing(self, customer_id: UUID) -> Standing:
        racer = self.racers.get(customer_id.hex, Racer())
        return Standing(racer.purchases, racer.bonus, self.granted)

    def ranking(self) -> list[tuple[UUID, int]]:
        """Every racer, best first; ties to who reached the figure first."""
        order = sorted(self.racers.items(), key=lambda item: (-item[1].points, item[1].reached))
        return [(UUID(customer), racer.points) for customer, racer in order]


@attrs.frozen
class CampaignBook:
    id: UUID
    version: int
    #: campaign_id -> the campaign as added (an early end is on its own record).
    campaigns: Mapping[str, Campaign] = attrs.field(factory=dict)


# --- decisions -------------------------------------------------------------


def add(
    state: CampaignState | None,
    book: CampaignBook | None,
    campaign: Campaign,
    *,
    record_id: UUID,
    at: datetime,
    now: datetime,
) -> list[Event]:
    """Add `campaign`; the same definition again records nothing."""
    if state is not None:
        if state.campaign != campaign:
            raise InvalidInput(
                f"campaign_id {campaign.campaign_id!r} was already added with other settings: "
                f"{state.campaign!r}"
            )
        return []
    return [
        CampaignAdded(**next_event(None, now, record_id=record_id), campaign=campaign, at=at),
        CampaignListed(**next_event(book, now, record_id=CAMPAIGN_BOOK_ID), campaign=campaign),
    ]


def end(state: CampaignState, at: datetime, now: datetime) -> list[Event]:
    """Stop the campaign at `at` (an end already at or before `at` records nothing)."""
    current = state.campaign.ends_at if state.ended_at is None else state.ended_at
    if state.closed or at >= current:
        return []
    return [CampaignEnded(**next_event(state, now), campaign_id=state.campaign.campaign_id, at=at)]


def count_purchase(
    state: CampaignState,
    *,
    customer_id: UUID,
    invoice_id: str,
    base_points: int,
    bonus: int,
    points: int,
    at: datetime,
    now: datetime,
) -> CampaignPurchaseCounted:
    racer = state.racers.get(customer_id.hex, Racer())
    return CampaignPurchaseCounted(
        **next_event(state, now),
        campaign_id=state.campaign.campaign_id,
        customer_id=customer_id,
        invoice_id=invoice_id,
        base_points=base_points,
        bonus=bonus,
        points=points,
        total=racer.points + points,
        at=at,
    )


def count_return(
    state: CampaignState,
    *,
    customer_id: UUID,
    invoice_id: str,
    points: int,
    at: datetime,
    now: datetime,
) -> list[Event]:
    if points == 0:
        return []
    racer = state.racers.get(customer_id.hex, Racer())
    return [
        CampaignPointsReturned(
            **next_event(state, now),
            campaign_id=state.campaign.campaign_id,
            customer_id=customer_id,
            invoice_id=invoice_id,
            points=points,
            total=racer.points - points,
            at=at,
        )
    ]


def close(state: CampaignState, at: datetime, now: datetime) -> list[Event]:
    if state.closed:
        return []
    return [
        CampaignClosed(
            **next_event(state, now),
            campaign_id=state.campaign.campaign_id,
            ranking=tuple(state.ranking()),
            at=at,
        )
    ]


def closes_at(state: CampaignState) -> datetime:
    """When the race is over: its end, or the early end."""
    end_at = state.campaign.ends_at
    return end_at if state.ended_at is None else min(end_at, state.ended_at)


# --- evolve ----------------------------------------------------------------


def evolve_campaign(state: CampaignState | None, event: Event) -> CampaignState:
    version = event.originator_version
    if isinstance(event, CampaignAdded):
        return CampaignState(event.originator_id, version, event.campaign)
    if state is None:
        raise TypeError(f"a campaign record starts with CampaignAdded, not {event!r}")
    match event:
        case CampaignEnded(at=at):
            return attrs.evolve(state, version=version, ended_at=at)
        case CampaignPurchaseCounted():
            racer = state.racers.get(event.customer_id.hex, Racer())
            racers = dict(state.racers)
            racers[event.customer_id.hex] = Racer(
                racer.purchases + 1, racer.bonus + event.bonus, event.total, version
            )
            return attrs.evolve(
                state, version=version, granted=state.granted + event.bonus, racers=racers
            )
        case CampaignPointsReturned():
            racer = state.racers.get(event.customer_id.hex, Racer())
            racers = dict(state.racers)
            racers[event.customer_id.hex] = attrs.evolve(racer, points=event.total, reached=version)
            return attrs.evolve(state, version=version, racers=racers)
        case CampaignClosed():
            return attrs.evolve(state, version=version, closed=True)
    raise TypeError(f"not a campaign event: {event!r}")


def evolve_book(book: CampaignBook | None, event: Event) -> CampaignBook:
    if not isinstance(event, CampaignListed):
        raise TypeError(f"not a campaign book event: {event!r}")
    campaigns = dict(book.campaigns) if book else {}
    campaigns[event.campaign.campaign_id] = event.campaign
    return CampaignBook(event.originator_id, event.originator_version, campaigns)


def turn_key(campaign_id: str) -> str:
    """The key purchases queue on before reading the campaign (`UnitOfWork.take_turn`)."""
    return f"campaign:{campaign_id}"
