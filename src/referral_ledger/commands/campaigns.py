"""Campaigns: adding and ending them, their leaderboards, and their part in purchases.

`bonuses` and `counted` are the steps a purchase takes (in `_earn`, so
`record_purchase`, `import_purchases` and `checkout` alike): find the
campaigns whose window holds the purchase (the book), load each one's
record in the purchase's unit of work, and advance it with the purchase.
The budget and the limits are read and spent in the same transaction as the
points, so no two processes can spend the same remainder: the second one's
save conflicts, and its retry sees what the first one left.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import attrs

from referral_ledger.aggregates import campaign as campaigns
from referral_ledger.aggregates import customer_record as customers
from referral_ledger.aggregates.base import Event
from referral_ledger.aggregates.campaign import CAMPAIGN_BOOK_ID, CampaignState
from referral_ledger.aggregates.customer_record import CustomerRecord
from referral_ledger.aggregates.loyalty import Invoice
from referral_ledger.aggregates.loyalty_decisions import Purchase
from referral_ledger.commands.base import LedgerBase
from referral_ledger.errors import InvalidInput, NotFound
from referral_ledger.policies import campaigns as rules
from referral_ledger.policies.campaigns import Campaign, CampaignBonus
from referral_ledger.store import UnitOfWork
from referral_ledger.values import RecordIds, parse_optional_time, parse_reference

#: Most rows one leaderboard query returns.
MAX_LEADERBOARD = 1000


@attrs.frozen
class LeaderboardRow:
    """A customer's place in a campaign's points race."""

    rank: int
    customer_id: UUID
    name: str
    points: int


class CampaignCommands(LedgerBase):
    """Add, end and list campaigns; read their leaderboards."""

    def add_campaign(self, campaign: Campaign, at: datetime | None = None) -> Campaign:
        """Add a campaign (its id is an upstream id: the same definition again is a no-op,
        other settings raise `InvalidInput`). Returns the campaign as stored."""
        if not isinstance(campaign, Campaign):
            raise InvalidInput(f"campaign must be a Campaign, not {campaign!r}")
        when = self._business_time(at)
        record_id = campaigns.campaign_record_id(campaign.campaign_id, self._ids)

        def decide(unit: UnitOfWork) -> Campaign:
            state = unit.load(record_id, campaigns.evolve_campaign)
            book = unit.load(CAMPAIGN_BOOK_ID, campaigns.evolve_book)
            unit.record(
                campaigns.add(state, book, campaign, record_id=record_id, at=when, now=unit.now)
            )
            return campaign if state is None else state.campaign

        return self._store.run(decide)

    def end_campaign(self, campaign_id: str, at: datetime | None = None) -> None:
        """Stop a campaign early: purchases from `at` (default: now) on no longer qualify."""
        reference = parse_reference(campaign_id, "campaign_id")
        when = self._business_time(at)
        record_id = campaigns.campaign_record_id(reference, self._ids)

        def decide(unit: UnitOfWork) -> None:
            unit.take_turn(campaigns.turn_key(reference))
            state = unit.load(record_id, campaigns.evolve_campaign)
            if state is None:
                raise NotFound(f"no campaign with campaign_id {reference!r}")
            unit.record(campaigns.end(state, when, unit.now))

        self._store.run(decide)

    def campaigns(self, active_at: datetime | None = None) -> list[Campaign]:
        """Every campaign as added (`active_at`: only those running then), by `campaign_id`.

        A campaign ended early is running up to its early end (one ended
        before it started never runs); it is listed with the settings it was
        added with.
        """
        when = parse_optional_time(active_at, "active_at")
        return [
            state.campaign
            for state in self._campaign_states()
            if when is None or state.campaign.starts_at <= when < campaigns.closes_at(state)
        ]

    def campaign_leaderboard(self, campaign_id: str, limit: int = 10) -> list[LeaderboardRow]:
        """The race: customers by points earned by qualifying purchases in the window
        (base + bonus, net of returns), best first; ties to who reached the figure first."""
        reference = parse_reference(campaign_id, "campaign_id")
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise InvalidInput(f"limit must be an int >= 1, not {limit!r}")
        if limit > MAX_LEADERBOARD:
            raise InvalidInput(f"limit must be at most {MAX_LEADERBOARD}, not {limit}")
        record_id = campaigns.campaign_record_id(reference, self._ids)
        if self._store.load(record_id, campaigns.evolve_campaign) is None:
            raise NotFound(f"no campaign with campaign_id {reference!r}")
        self._views.catch_up()
        standings = self._views.leaderboard(reference, limit)
        records = self._store.load_many(
            {customer: customers.evolve_customer for customer, _ in standings}
        )
        rows = []
        for rank, (customer, points) in enumerate(standings, start=1):
            record: Any = records.get(customer)
            rows.append(LeaderboardRow(rank, customer, record.name if record else "", points))
        return rows

    def _campaign_states(self) -> list[CampaignState]:
        book = self._store.load(CAMPAIGN_BOOK_ID, campaigns.evolve_book)
        if book is None:
            return []
        ids = {campaigns.campaign_record_id(c, self._ids): c for c in book.campaigns}
        loaded = self._store.load_many(dict.fromkeys(ids, campaigns.evolve_campaign))
        states = [s for s in loaded.values() if isinstance(s, CampaignState)]
        return sorted(states, key=lambda s: s.campaign.campaign_id)


# --- a purchase's part -------------------------------------------------------


def bonuses(
    unit: UnitOfWork,
    ids: RecordIds,
    *,
    record: CustomerRecord,
    tier: str | None,
    purchase: Purchase,
    base_points: int,
) -> list[tuple[CampaignState, CampaignBonus]]:
    """The campaigns that count this purchase, each with its bonus, in `campaign_id` order."""
    book = unit.load(CAMPAIGN_BOOK_ID, campaigns.evolve_book)
    if book is None:
        return []
    found = []
    for campaign_id, campaign in sorted(book.campaigns.items()):
        conditions: dict[str, Any] = {
            "at": purchase.at,
            "amount": purchase.amount,
            "group": record.group,
            "tags": record.tags,
            "tier": tier,
        }
        if not rules.qualifies(campaign, **conditions):
            continue
        # Queue for the campaign before reading it (see store/turns.py): purchases
        # in one campaign then take turns instead of retrying each other.
        unit.take_turn(campaigns.turn_key(campaign_id))
        state = unit.load(campaigns.campaign_record_id(campaign_id, ids), campaigns.evolve_campaign)
        if state is None or state.closed:
            continue
        if not rules.qualifies(state.campaign, **conditions, ended_at=state.ended_at):
            continue
        standing = state.standing(record.id)
        found.append(
            (
                state,
                CampaignBonus(campaign_id, rules.bonus_for(state.campaign, base_points, standing)),
            )
        )
    return found


def counted(
    found: list[tuple[CampaignState, CampaignBonus]],
    *,
    customer_id: UUID,
    purchase: Purchase,
    base_points: int,
    points: int,
    now: datetime,
) -> list[Event]:
    """Each campaign's record of the purchase (`points`: all it earned)."""
    return [
        campaigns.count_purchase(
            state,
            customer_id=customer_id,
            invoice_id=purchase.invoice_id,
            base_points=base_points,
            bonus=bonus.points,
            points=points,
            at=purchase.at,
            now=now,
        )
        for state, bonus in found
    ]


def returned(
    unit: UnitOfWork,
    ids: RecordIds,
    invoice: Invoice,
    *,
    points: int,
    at: datetime,
) -> list[Event]:
    """Take a return's points (what it owes) off the race of every campaign that counted it."""
    events: list[Event] = []
    for campaign_id in sorted(invoice.campaigns):
        unit.take_turn(campaigns.turn_key(campaign_id))
        state = unit.load(campaigns.campaign_record_id(campaign_id, ids), campaigns.evolve_campaign)
        if state is None:
            continue
        events += campaigns.count_return(
            state,
            customer_id=invoice.customer_id,
            invoice_id=invoice.invoice_id,
            points=points,
            at=at,
            now=unit.now,
        )
    return events
