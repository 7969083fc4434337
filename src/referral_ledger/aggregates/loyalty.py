"""A customer's points account, and the invoice and redemption records.

The account holds the balance; every movement is an event on it. An invoice
or a redemption also gets a record of its own, at an id derived from its
upstream id, saved in the same transaction: two attempts to record the same
invoice then collide in the store itself, whichever process they come from.
"""

from __future__ import annotations

import functools
from datetime import datetime
from decimal import Decimal
from typing import Final
from uuid import UUID

import attrs

from referral_ledger.aggregates.base import Event, next_version
from referral_ledger.aggregates.claims import ClaimEvent, ClaimKind
from referral_ledger.errors import InvalidInput, NotFound, RedemptionRefused
from referral_ledger.policies import loyalty as rules
from referral_ledger.policies.campaigns import CampaignBonus
from referral_ledger.policies.loyalty import LoyaltyProgram
from referral_ledger.values import EXACT, UNKEYED_IDS, RecordIds, derived_id


@functools.lru_cache(maxsize=8_192)
def account_id(customer_id: UUID) -> UUID:
    return derived_id("loyalty-account", customer_id.hex)


#: An invoice id and a redemption id are claims of their customer (see
#: `claims.py`); their first events carry the figures, so they are only ever
#: claimed by those (`InvoiceRecorded`, `RedemptionRecorded`), never released.
INVOICE: Final = ClaimKind("invoice")
REDEMPTION: Final = ClaimKind("redemption")


def invoice_record_id(invoice_id: str, ids: RecordIds = UNKEYED_IDS) -> UUID:
    return INVOICE.record_id(invoice_id, ids)


def redemption_record_id(redemption_id: str, ids: RecordIds = UNKEYED_IDS) -> UUID:
    return REDEMPTION.record_id(redemption_id, ids)


# --- state -----------------------------------------------------------------


@attrs.frozen
class LoyaltyAccount:
    """A customer's points: the balance and what it was built from."""

    id: UUID
    version: int
    customer_id: UUID
    #: The latest business `at` among the movements: a reading at or after it
    #: counts every movement, so it can use this state instead of the events.
    #: No default, so that a snapshot stored without it (0.1) fails to load
    #: and the account is replayed from its events instead.
    latest_at: datetime
    balance: int = 0
    purchase_count: int = 0
    #: Points earned minus what returns owed back (taken or shortfall): what
    #: tiers go by.
    lifetime_points: int = 0
    tier: str | None = None


@attrs.frozen
class Invoice:
    """One purchase as recorded, and how much of it has been returned."""

    id: UUID
    version: int
    customer_id: UUID
    invoice_id: str
    amount: Decimal
    discounted_amount: Decimal
    points_used: int
    points: int
    returned_amount: Decimal = Decimal(0)
    points_taken_back: int = 0
    #: The campaigns that counted the purchase (their races lose its returns).
    campaigns: tuple[str, ...] = ()


@attrs.frozen
class Redemption:
    id: UUID
    version: int
    customer_id: UUID
    redemption_id: str
    points: int
    value: Decimal


# --- events ----------------------------------------------------------------


@attrs.frozen(kw_only=True)
class PointsEarned(Event):
    """`points` is everything the purchase earned: the base points plus each
    campaign's part in `bonuses` (empty in events written by 0.1)."""

    customer_id: UUID
    invoice_id: str
    amount: Decimal
    eligible_amount: Decimal
    points: int
    program_version: int
    at: datetime
    bonuses: tuple[CampaignBonus, ...] = ()

    @property
    def bonus_points(self) -> int:
        return sum(bonus.points for bonus in self.bonuses)


@attrs.frozen(kw_only=True)
class PointsRedeemed(Event):
    customer_id: UUID
    redemption_id: str
    points: int
    value: Decimal
    program_version: int
    at: datetime


@attrs.frozen(kw_only=True)
class PointsTakenBack(Event):
    """A return took back points; `shortfall` is what the balance could not cover."""

    customer_id: UUID
    invoice_id: str
    returned_amount: Decimal
    points: int
    shortfall: int
    at: datetime


@attrs.frozen(kw_only=True)
class TierChanged(Event):
    customer_id: UUID
    tier: str | None
    previous_tier: str | None
    lifetime_points: int
    at: datetime


@attrs.frozen(kw_only=True)
class InvoiceRecorded(ClaimEvent):
    customer_id: UUID
    invoice_id: str
    amount: Decimal
    discounted_amount: Decimal
    points_used: int
    points: int
    at: datetime
    campaigns: tuple[str, ...] = ()

    @property
    def claimed(self) -> tuple[str, UUID]:
        return self.invoice_id, self.customer_id


@attrs.frozen(kw_only=True)
class InvoiceReturned(Event):
    amount: Decimal
    #: Points the return owes (taken back, plus any shortfall).
    points: int
    at: datetime


@attrs.frozen(kw_only=True)
class RedemptionRecorded(ClaimEvent):
    customer_id: UUID
    redemption_id: str
    points: int
    value: Decimal
    at: datetime

    @property
    def claimed(self) -> tuple[str, UUID]:
        return self.redemption_id, self.customer_id


# --- commands' validated input --------------------------------------------


@attrs.frozen
class Purchase:
    invoice_id: str
    amount: Decimal
    discounted_amount: Decimal
    points_used: int
    at: datetime


# --- decisions -------------------------------------------------------------


def base_points(purchase: Purchase, program: LoyaltyProgram, group: str | None) -> int:
    """The points a purchase earns by the program alone (before campaign bonuses)."""
    eligible = rules.eligible_amount(
        program, purchase.amount, purchase.discounted_amount, purchase.points_used, group
    )
    return rules.points_for(program, eligible)


def earn(
    account: LoyaltyAccount | None,
    *,
    customer_id: UUID,
    purchase: Purchase,
    program: LoyaltyProgram,
    program_version: int,
    group: str | None,
    now: datetime,
    invoice_record: UUID | None = None,
    bonuses: tuple[CampaignBonus, ...] = (),
) -> list[Event]:
    """Record a purchase and the points it earns, with the campaigns' `bonuses`.

    `invoice_record`: the id of the invoice's claim record in this store
    (`INVOICE.record_id`; unkeyed when not given).
    """
    eligible = rules.eligible_amount(
        program, purchase.amount, purchase.discounted_amount, purchase.points_used, group
    )
    points = rules.points_for(program, eligible) + sum(b.points for b in bonuses)
    rules.check_points_fit(
        program,
        purchase.amount,
        points,
        balance=(account.balance if account else 0) + points,
        lifetime=(account.lifetime_points if account else 0) + points,
    )
    account_version = next_version(account)
    events: list[Event] = [
        PointsEarned(
            originator_id=account_id(customer_id),
            originator_version=account_version,
            timestamp=now,
            customer_id=customer_id,
            invoice_id=purchase.invoice_id,
            amount=purchase.amount,
            eligible_amount=eligible,
            points=points,
            program_version=program_version,
            at=purchase.at,
            bonuses=bonuses,
        ),
        InvoiceRecorded(
            originator_id=invoice_record or invoice_record_id(purchase.invoice_id),
            originator_version=1,
            timestamp=now,
            customer_id=customer_id,
            invoice_id=purchase.invoice_id,
            amount=purchase.amount,
            discounted_amount=purchase.discounted_amount,
            points_used=purchase.points_used,
            points=points,
            at=purchase.at,
            campaigns=tuple(b.campaign_id for b in bonuses),
        ),
    ]
    lifetime = (account.lifetime_points if account else 0) + points
    events += _tier_change(
        account, customer_id, program, lifetime, account_version + 1, now, purchase.at
    )
    return events


def check_same_purchase(invoice: Invoice, customer_id: UUID, purchase: Purchase) -> None:
    """A repeated invoice id is a retry only if every figure matches."""
    recorded = (invoice.customer_id, invoice.amount, invoice.discounted_amount, invoice.points_used)
    given = (customer_id, purchase.amount, purchase.discounted_amount, purchase.points_used)
    if recorded != given:
        raise InvalidInput(
            f"invoice_id {purchase.invoice_id!r} was already recorded with other figures "
            f"(customer, amount, discounted_amount, points_used): {recorded} != {given}"
        )


def redeem(
    account: LoyaltyAccount | None,
    *,
    customer_id: UUID,
    redemption_id: str,
    points: int,
    program: LoyaltyProgram,
    program_version: int,
    at: datetime,
    now: datetime,
    redemption_record: UUID | None = None,
    room: int | None = None,
) -> list[Event]:
    """Spend points, if the program allows it (`redemption_record`: as in `earn`).

    `room` is the lowest balance from `at` on, in business-time order (None:
    the balance, right for a redemption dated after every movement).
    """
    rules.check_redemption(
        program,
        purchase_count=account.purchase_count if account else 0,
        balance=account.balance if account else 0,
        points=points,
    )
    if room is not None and points > room:
        raise RedemptionRefused(
            f"cannot redeem {points} points dated {at.isoformat()}: movements dated after "
            f"it leave only {room} points at one moment, and no balance may go negative"
        )
    value = rules.redemption_value(program, points)
    return [
        PointsRedeemed(
            originator_id=account_id(customer_id),
            originator_version=next_version(account),
            timestamp=now,
            customer_id=customer_id,
            redemption_id=redemption_id,
            points=points,
            value=value,
            program_version=program_version,
            at=at,
        ),
        RedemptionRecorded(
            originator_id=redemption_record or redemption_record_id(redemption_id),
            originator_version=1,
            timestamp=now,
            customer_id=customer_id,
            redemption_id=redemption_id,
            points=points,
            value=value,
            at=at,
        ),
    ]


def check_same_redemption(redemption: Redemption, customer_id: UUID, points: int) -> None:
    if (redemption.customer_id, redemption.points) != (customer_id, points):
        raise InvalidInput(
            f"redemption_id {redemption.redemption_id!r} was already recorded with other "
            f"figures (customer, points): {(redemption.customer_id, redemption.points)} "
            f"!= {(customer_id, points)}"
        )


def take_back(
    account: LoyaltyAccount | None,
    invoice: Invoice | None,
    *,
    customer_id: UUID,
    invoice_id: str,
    amount: Decimal | None,
    program: LoyaltyProgram,
    at: datetime,
    now: datetime,
    room: int | None = None,
) -> list[Event]:
    """Record a return and take back the points it owes, never below zero.

    Never below zero at any business moment either: at most `room`, the
    lowest balance from `at` on (None: the balance), the rest is the shortfall.
    """
    if invoice is None:
        raise NotFound(f"no purchase with invoice_id {invoice_id!r}")
    if invoice.customer_id != customer_id:
        raise InvalidInput(
            f"invoice_id {invoice_id!r} belongs to customer {invoice.customer_id}, "
            f"not {customer_id}"
        )
    remaining = EXACT.subtract(invoice.amount, invoice.returned_amount)
    returned = remaining if amount is None else amount
    if amount is not None and amount == 0:
        raise InvalidInput(f"amount to return must be positive: {amount!r}")
    if remaining == 0:
        raise InvalidInput(f"invoice_id {invoice_id!r} has nothing left to return")
    if returned > remaining:
        raise InvalidInput(
            f"cannot return {returned} of invoice_id {invoice_id!r}: only {remaining} "
            "is left to return"
        )
    owed = rules.points_to_take_back(
        earned=invoice.points,
        invoice_amount=invoice.amount,
        returned_before=invoice.returned_amount,
        returned_now=returned,
        taken_before=invoice.points_taken_back,
    )
    balance = account.balance if account else 0
    # max: a store written before business-time readings may already dip below zero.
    taken = max(0, min(owed, balance if room is None else room))
    account_version = next_version(account)
    events: list[Event] = [
        PointsTakenBack(
            originator_id=account_id(customer_id),
            originator_version=account_version,
            timestamp=now,
            customer_id=customer_id,
            invoice_id=invoice_id,
            returned_amount=returned,
            points=taken,
            shortfall=owed - taken,
            at=at,
        ),
        InvoiceReturned(
            originator_id=invoice.id,
            originator_version=invoice.version + 1,
            timestamp=now,
            amount=returned,
            points=owed,
            at=at,
        ),
    ]
    # Tiers go by what purchases really earned: a returned invoice stops
    # counting in full, even when the balance could not cover it all.
    lifetime = (account.lifetime_points if account else 0) - owed
    events += _tier_change(account, customer_id, program, lifetime, account_version + 1, now, at)
    return events


def _tier_change(
    account: LoyaltyAccount | None,
    customer_id: UUID,
    program: LoyaltyProgram,
    lifetime: int,
    version: int,
    now: datetime,
    at: datetime,
) -> list[Event]:
    current = account.tier if account else None
    tier = rules.tier_for(program, lifetime)
    if tier == current:
        return []
    return [
        TierChanged(
            originator_id=account_id(customer_id),
            originator_version=version,
            timestamp=now,
            customer_id=customer_id,
            tier=tier,
            previous_tier=current,
            lifetime_points=lifetime,
            at=at,
        )
    ]


# --- evolve ----------------------------------------------------------------


def evolve_account(account: LoyaltyAccount | None, event: Event) -> LoyaltyAccount:
    if not isinstance(event, PointsEarned | PointsRedeemed | PointsTakenBack | TierChanged):
        raise TypeError(f"not a loyalty account event: {event!r}")
    if account is None:
        account = LoyaltyAccount(event.originator_id, 0, event.customer_id, event.at)
    version = event.originator_version
    latest = event.at if event.at > account.latest_at else account.latest_at
    match event:
        case PointsEarned(points=points):
            return attrs.evolve(
                account,
                version=version,
                latest_at=latest,
                balance=account.balance + points,
                purchase_count=account.purchase_count + 1,
                lifetime_points=account.lifetime_points + points,
            )
        case PointsRedeemed(points=points):
            return attrs.evolve(
                account, version=version, latest_at=latest, balance=account.balance - points
            )
        case PointsTakenBack(points=points, shortfall=shortfall):
            return attrs.evolve(
                account,
                version=version,
                latest_at=latest,
                balance=account.balance - points,
                lifetime_points=account.lifetime_points - points - shortfall,
            )
        case TierChanged(tier=tier):
            return attrs.evolve(account, version=version, latest_at=latest, tier=tier)


def evolve_invoice(invoice: Invoice | None, event: Event) -> Invoice:
    match event:
        case InvoiceRecorded():
            return Invoice(
                event.originator_id,
                event.originator_version,
                event.customer_id,
                event.invoice_id,
                event.amount,
                event.discounted_amount,
                event.points_used,
                event.points,
                campaigns=event.campaigns,
            )
        case InvoiceReturned() if invoice is not None:
            return attrs.evolve(
                invoice,
                version=event.originator_version,
                returned_amount=EXACT.add(invoice.returned_amount, event.amount),
                points_taken_back=invoice.points_taken_back + event.points,
            )
    raise TypeError(f"not an invoice event: {event!r}")


def evolve_redemption(redemption: Redemption | None, event: Event) -> Redemption:
    assert isinstance(event, RedemptionRecorded), event
    return Redemption(
        event.originator_id,
        event.originator_version,
        event.customer_id,
        event.redemption_id,
        event.points,
        event.value,
    )
