"""A customer's points account, and the invoice and redemption records.

The account holds the balance; every movement is an event on it. An invoice
or a redemption also gets a record of its own, at an id derived from its
upstream id, saved in the same transaction: two attempts to record the same
invoice then collide in the store itself, whichever process they come from.
"""

from __future__ import annotations

import functools
import importlib
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final
from uuid import UUID

import attrs

from referral_ledger.aggregates.base import Event
from referral_ledger.aggregates.claims import ClaimEvent, ClaimKind
from referral_ledger.aggregates.lots import Draws, Lot
from referral_ledger.policies.campaigns import CampaignBonus
from referral_ledger.values import EXACT, UNKEYED_IDS, RecordIds, derived_id

if TYPE_CHECKING:
    pass

#: The account's state and its evolve live in `loyalty_account.py` (they need
#: the events defined here); older imports from this module keep working.
#: The decisions live in `loyalty_decisions.py`, for the same reason.
_MOVED: Final = {
    "LoyaltyAccount": "loyalty_account",
    "evolve_account": "loyalty_account",
    "expire": "loyalty_account",
    "Purchase": "loyalty_decisions",
    "earn": "loyalty_decisions",
    "redeem": "loyalty_decisions",
    "take_back": "loyalty_decisions",
    "check_same_purchase": "loyalty_decisions",
    "check_same_redemption": "loyalty_decisions",
}


def __getattr__(name: str) -> Any:
    if name in _MOVED:
        module = importlib.import_module(f"referral_ledger.aggregates.{_MOVED[name]}")
        return getattr(module, name)
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
    #: The campaigns that counted the purchase (their races lose its returns).
    campaigns: tuple[str, ...] = ()
    #: Of `points`, the campaigns' bonus.
    bonus_points: int = 0
    #: Points of the invoice's lot that expired unspent, and how many of those
    #: returns counted as taken back (never charged to the balance again).
    points_expired: int = 0
    expired_counted: int = 0
    #: Points redeemed at the till (`checkout`), their value, and how many returns gave back.
    points_redeemed: int = 0
    redeemed_value: Decimal = Decimal(0)
    points_refunded: int = 0
    #: The voucher used (`checkout`) and the discounts the sale got.
    voucher: str | None = None
    voucher_discount: Decimal = Decimal(0)
    referral_discount: Decimal = Decimal(0)


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

    #: The lot's dates, fixed by the program in force when earned (None in
    #: events written by 0.1: available at once, never expiring).
    available_from: datetime | None = None
    expires_at: datetime | None = None
    #: With a program that tiers by a window of days: when these points stop
    #: counting for the tier (None: they count as lifetime points only).
    counts_until: datetime | None = None

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
    campaigns: tuple[str, ...] = ()
    #: Of `points`, the campaigns' bonus (0 before campaigns: stores of 0.1).
    bonus: int = 0
    #: Points redeemed at the till by `checkout` (0: a purchase recorded
    #: alone, whose `points_used` is only what the host said).
    redeemed: int = 0
    #: What those points were worth.
    redeemed_value: Decimal = Decimal(0)
    #: The voucher used by `checkout` (a full return gives its use back), and
    #: the voucher's and referral code's discounts (None / 0 before 0.2).
    voucher: str | None = None
    voucher_discount: Decimal = Decimal(0)
    referral_discount: Decimal = Decimal(0)

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
                campaigns=event.campaigns,
                bonus_points=event.bonus,
                points_redeemed=event.redeemed,
                redeemed_value=event.redeemed_value,
                voucher=event.voucher,
                voucher_discount=event.voucher_discount,
                referral_discount=event.referral_discount,
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
