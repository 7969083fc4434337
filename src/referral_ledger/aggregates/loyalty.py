"""A customer's points account, and the invoice and redemption records.

The account holds the balance; every movement is an event on it. An invoice
or a redemption also gets a record of its own, at an id derived from its
upstream id, saved in the same transaction: two attempts to record the same
invoice then collide in the store itself, whichever process they come from.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime, tzinfo
from decimal import Decimal
from fractions import Fraction
from typing import TYPE_CHECKING, Any, Final
from uuid import UUID

import attrs

from referral_ledger.aggregates import lots as lot_rules
from referral_ledger.aggregates.base import Event, next_version
from referral_ledger.aggregates.claims import ClaimEvent, ClaimKind
from referral_ledger.aggregates.lots import Draws, Lot
from referral_ledger.errors import InvalidInput, NotFound, RedemptionRefused
from referral_ledger.policies import expiry as expiry_dates
from referral_ledger.policies import loyalty as rules
from referral_ledger.policies.loyalty import LoyaltyProgram
from referral_ledger.values import EXACT, UNKEYED_IDS, RecordIds, derived_id

if TYPE_CHECKING:
    from referral_ledger.aggregates.loyalty_account import LoyaltyAccount

#: The account's state and its evolve live in `loyalty_account.py` (they need
#: the events defined here); older imports from this module keep working.
_MOVED: Final = frozenset({"LoyaltyAccount", "evolve_account", "expire"})


def __getattr__(name: str) -> Any:
    if name in _MOVED:
        from referral_ledger.aggregates import loyalty_account

        return getattr(loyalty_account, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
    #: Points of the invoice's lot that expired unspent, and how many of those
    #: returns counted as taken back (never charged to the balance again).
    points_expired: int = 0
    expired_counted: int = 0
    #: Points redeemed at the till (`checkout`), their value, and how many returns gave back.
    points_redeemed: int = 0
    redeemed_value: Decimal = Decimal(0)
    points_refunded: int = 0


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
    customer_id: UUID
    invoice_id: str
    amount: Decimal
    eligible_amount: Decimal
    points: int
    program_version: int
    at: datetime
    #: The lot's dates, fixed by the program in force when earned (None in
    #: events written by 0.1: available at once, never expiring).
    available_from: datetime | None = None
    expires_at: datetime | None = None

    def lot(self) -> Lot:
        return Lot(
            self.invoice_id,
            self.points,
            self.at,
            self.available_from or self.at,
            self.expires_at,
        )


@attrs.frozen(kw_only=True)
class PointsRedeemed(Event):
    customer_id: UUID
    redemption_id: str
    points: int
    value: Decimal
    program_version: int
    at: datetime
    #: The lots the points came from ((invoice id, points), in order; empty in
    #: events written by 0.1, whose lots never expire).
    lots: Draws = ()


@attrs.frozen(kw_only=True)
class PointsTakenBack(Event):
    """A return took back points; `shortfall` is what the balance could not cover."""

    customer_id: UUID
    invoice_id: str
    returned_amount: Decimal
    points: int
    shortfall: int
    at: datetime
    #: The lots `points` came from: the invoice's own lot first.
    lots: Draws = ()
    #: Points owed that the invoice's lot had already lost to expiry: taken
    #: back without touching the balance (owed = points + shortfall + expired).
    expired: int = 0


@attrs.frozen(kw_only=True)
class PointsExpired(Event):
    """A lot's unspent points expired (statement kind "expire")."""

    customer_id: UUID
    invoice_id: str
    points: int
    at: datetime


@attrs.frozen(kw_only=True)
class PointsRefunded(Event):
    """A return gave back points redeemed at the till, as a new lot (statement kind "refund")."""

    customer_id: UUID
    invoice_id: str
    #: The lot's id: the invoice id and the invoice record's version.
    lot_id: str
    points: int
    at: datetime
    expires_at: datetime | None = None

    def lot(self) -> Lot:
        return Lot(self.lot_id, self.points, self.at, self.at, self.expires_at)


@attrs.frozen(kw_only=True)
class InvoicePointsExpired(Event):
    """The invoice's lot lost `points` to expiry (so a return never charges them again)."""

    points: int
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
    #: Points redeemed at the till by `checkout` (0: a purchase recorded
    #: alone, whose `points_used` is only what the host said).
    redeemed: int = 0
    #: What those points were worth.
    redeemed_value: Decimal = Decimal(0)

    @property
    def claimed(self) -> tuple[str, UUID]:
        return self.invoice_id, self.customer_id


@attrs.frozen(kw_only=True)
class InvoiceReturned(Event):
    amount: Decimal
    #: Points the return owes (taken back, plus any shortfall).
    points: int
    at: datetime
    #: Of those, how many the lot had already lost to expiry.
    expired: int = 0
    #: Points redeemed at the till that the return gave back.
    refunded: int = 0


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
    zone: tzinfo = UTC,
    redeemed: tuple[int, Decimal] = (0, Decimal(0)),
) -> list[Event]:
    """Record a purchase and the points it earns, as a lot dated by the program in force.

    `invoice_record`: the id of the invoice's claim record in this store
    (`INVOICE.record_id`; unkeyed when not given). `zone`: the business time
    zone the lot's dates are computed in. `redeemed`: the points redeemed at
    the till with this purchase (`checkout`) and their value, which earns nothing.
    """
    eligible = rules.eligible_amount(
        program, purchase.amount, purchase.discounted_amount, purchase.points_used, group
    )
    eligible = max(Decimal(0), EXACT.subtract(eligible, redeemed[1]))
    points = rules.points_for(program, eligible)
    rules.check_points_fit(
        program,
        purchase.amount,
        points,
        balance=(account.balance if account else 0) + points,
        lifetime=(account.lifetime_points if account else 0) + points,
    )
    account_version = next_version(account)
    available = expiry_dates.available_from(purchase.at, program.pending_days, zone)
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
            available_from=available,
            expires_at=expiry_dates.expires_at(available, program.expiry, zone),
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
            redeemed=redeemed[0],
            redeemed_value=redeemed[1],
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
    lots: tuple[Lot, ...] | None = None,
) -> list[Event]:
    """Spend points, if the program allows it (`redemption_record`: as in `earn`).

    `lots` are the account's open lots as of `at` (None: the account's own,
    right for a redemption dated after every movement); the points come from
    those spendable at `at`, soonest-expiring first. `room` is the lowest
    balance from `at` on, in business-time order (None: the available balance).
    """
    held = (account.lots if account else ()) if lots is None else lots
    rules.check_redemption(
        program,
        purchase_count=account.purchase_count if account else 0,
        # What may be spent: the spendable points then, and no more than later
        # movements leave room for.
        balance=min(lot_rules.available(held, at), lot_rules.MAX if room is None else room),
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
            lots=lot_rules.draw_dated(
                account.lots if account else (), points, at, account.latest_at if account else at
            ),
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
    lots: tuple[Lot, ...] | None = None,
    zone: tzinfo = UTC,
) -> list[Event]:
    """Record a return and take back the points it owes, never below zero.

    A checkout's return also gives back the points redeemed at the till, in
    the same proportion (rounded down), as a new lot dated by the program in
    force (`zone`: the business time zone).

    From the invoice's own lot first while it holds them (pending or
    available); points of that lot that already expired count as taken back;
    the rest from the balance (soonest-expiring lots first), never below zero
    at any business moment: at most `room`, the lowest available balance from
    `at` on (None: the balance). What is left is the shortfall. `lots`: as in
    `redeem`.
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
    held = (account.lots if account else ()) if lots is None else lots
    # The lots open now are what the points come out of (a movement dated
    # earlier may have spent, then, a lot that a later one drew on).
    current = account.lots if account else ()
    own = lot_rules.find(current, invoice_id)
    expired = invoice.points_expired - invoice.expired_counted
    # max: a store written before business-time readings may already dip below zero.
    budget = max(0, lot_rules.available(held, at) if room is None else room)
    from_own = 0
    if own is not None and own.expired(at):
        expired += own.points  # expired, whether or not `process_due` recorded it yet
    elif own is not None:
        from_own = min(owed, own.points)
        if not own.earned_at <= at < own.available_from:
            # Spendable points: taking them lowers the balance (pending ones do not).
            from_own = min(from_own, budget)
            budget -= from_own
    counted = min(owed - from_own, max(0, expired))
    draws: Draws = ((invoice_id, from_own),) if from_own else ()
    others = tuple(lot for lot in current if lot.invoice_id != invoice_id)
    latest = account.latest_at if account else at
    draws += lot_rules.draw_dated(others, min(owed - from_own - counted, budget), at, latest)
    taken = sum(points for _, points in draws)
    refund = (
        min(
            invoice.points_redeemed,
            int(
                Fraction(EXACT.add(invoice.returned_amount, returned))
                * invoice.points_redeemed
                // Fraction(invoice.amount)
            ),
        )
        - invoice.points_refunded
        if invoice.points_redeemed and invoice.amount
        else 0
    )
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
            shortfall=owed - taken - counted,
            at=at,
            lots=draws,
            expired=counted,
        ),
        InvoiceReturned(
            originator_id=invoice.id,
            originator_version=invoice.version + 1,
            timestamp=now,
            amount=returned,
            points=owed,
            at=at,
            expired=counted,
            refunded=refund,
        ),
    ]
    if refund:
        events.append(
            PointsRefunded(
                originator_id=account_id(customer_id),
                originator_version=account_version + 1,
                timestamp=now,
                customer_id=customer_id,
                invoice_id=invoice_id,
                lot_id=f"{invoice_id}#refund{invoice.version + 1}",
                points=refund,
                at=at,
                expires_at=expiry_dates.expires_at(at, program.expiry, zone),
            )
        )
        account_version += 1
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
                points_redeemed=event.redeemed,
                redeemed_value=event.redeemed_value,
            )
        case InvoiceReturned() if invoice is not None:
            return attrs.evolve(
                invoice,
                version=event.originator_version,
                returned_amount=EXACT.add(invoice.returned_amount, event.amount),
                points_taken_back=invoice.points_taken_back + event.points,
                expired_counted=invoice.expired_counted + event.expired,
                points_refunded=invoice.points_refunded + event.refunded,
            )
        case InvoicePointsExpired() if invoice is not None:
            return attrs.evolve(
                invoice,
                version=event.originator_version,
                points_expired=invoice.points_expired + event.points,
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
