"""Decisions on a points account: earning, redeeming, returns, and tiers.

Pure functions from the states read (account, invoice, program) to the
events to record; the events are in `loyalty.py`, the account's state in
`loyalty_account.py`.
"""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from decimal import Decimal
from fractions import Fraction
from uuid import UUID

import attrs

from referral_ledger.aggregates import lots as lot_rules
from referral_ledger.aggregates.base import Event, following, next_event
from referral_ledger.aggregates.lots import Draws, Lot
from referral_ledger.aggregates.loyalty import (
    Invoice,
    InvoiceRecorded,
    InvoiceReturned,
    PointsEarned,
    PointsRedeemed,
    PointsRefunded,
    PointsTakenBack,
    Redemption,
    RedemptionRecorded,
    TierChanged,
    account_id,
    invoice_record_id,
    redemption_record_id,
)
from referral_ledger.aggregates.loyalty_account import LoyaltyAccount, evolve_account, tier_points
from referral_ledger.errors import InvalidInput, NotFound, RedemptionRefused
from referral_ledger.policies import expiry as expiry_dates
from referral_ledger.policies import loyalty as rules
from referral_ledger.policies.campaigns import CampaignBonus
from referral_ledger.policies.loyalty import LoyaltyProgram
from referral_ledger.values import EXACT

# --- commands' validated input --------------------------------------------


@attrs.frozen
class Purchase:
    invoice_id: str
    amount: Decimal
    discounted_amount: Decimal
    points_used: int
    at: datetime


# --- decisions -------------------------------------------------------------


def base_points(
    purchase: Purchase,
    program: LoyaltyProgram,
    group: str | None,
    redeemed: tuple[int, Decimal] = (0, Decimal(0)),
    discounts: tuple[str | None, Decimal, Decimal] = (None, Decimal(0), Decimal(0)),
) -> int:
    """The points a purchase earns by the program alone (before campaign bonuses), on
    the money paid: `checkout`'s discounts and redeemed points earn nothing (as in `earn`)."""
    return rules.points_for(program, _eligible(purchase, program, group, redeemed, discounts))


def _eligible(
    purchase: Purchase,
    program: LoyaltyProgram,
    group: str | None,
    redeemed: tuple[int, Decimal],
    discounts: tuple[str | None, Decimal, Decimal],
) -> Decimal:
    eligible = rules.eligible_amount(
        program, purchase.amount, purchase.discounted_amount, purchase.points_used, group
    )
    off = EXACT.add(EXACT.add(redeemed[1], discounts[1]), discounts[2])
    return max(Decimal(0), EXACT.subtract(eligible, off))


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
    bonuses: tuple[CampaignBonus, ...] = (),
    discounts: tuple[str | None, Decimal, Decimal] = (None, Decimal(0), Decimal(0)),
) -> list[Event]:
    """Record a purchase and the points it earns, as a lot dated by the program in force.

    The campaigns' `bonuses` are added to the program's points: one lot holds both.

    `invoice_record`: the id of the invoice's claim record in this store
    (`INVOICE.record_id`; unkeyed when not given). `zone`: the business time
    zone the lot's dates are computed in. `redeemed`: the points redeemed at
    the till with this purchase (`checkout`) and their value, which earns nothing.
    `discounts`: the voucher code used (`checkout`), its discount and the
    referral code's, which earn nothing either.
    """
    voucher, voucher_discount, referral_discount = discounts
    eligible = _eligible(purchase, program, group, redeemed, discounts)
    bonus = sum(b.points for b in bonuses)
    points = rules.points_for(program, eligible) + bonus
    rules.check_points_fit(
        program,
        purchase.amount,
        points,
        balance=(account.balance if account else 0) + points,
        lifetime=(account.lifetime_points if account else 0) + points,
    )
    available = expiry_dates.available_from(purchase.at, program.pending_days, zone)
    events: list[Event] = [
        PointsEarned(
            **next_event(account, now, record_id=account_id(customer_id)),
            customer_id=customer_id,
            invoice_id=purchase.invoice_id,
            amount=purchase.amount,
            eligible_amount=eligible,
            points=points,
            program_version=program_version,
            at=purchase.at,
            available_from=available,
            expires_at=expiry_dates.expires_at(available, program.expiry, zone),
            counts_until=(
                None
                if program.tier_window_days is None
                else expiry_dates.add_days(purchase.at, program.tier_window_days, zone)
            ),
            bonuses=bonuses,
        ),
        InvoiceRecorded(
            **next_event(
                None, now, record_id=invoice_record or invoice_record_id(purchase.invoice_id)
            ),
            customer_id=customer_id,
            invoice_id=purchase.invoice_id,
            amount=purchase.amount,
            discounted_amount=purchase.discounted_amount,
            points_used=purchase.points_used,
            points=points,
            at=purchase.at,
            redeemed=redeemed[0],
            redeemed_value=redeemed[1],
            campaigns=tuple(b.campaign_id for b in bonuses),
            bonus=bonus,
            voucher=voucher,
            voucher_discount=voucher_discount,
            referral_discount=referral_discount,
        ),
    ]
    events += tier_change(account, events, customer_id, program, now, purchase.at)
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
        # The balance as it stands (dated after every movement: at `at`); a
        # backdated one must also fit the room later movements leave (below).
        balance=(
            lot_rules.available(held, at)
            if room is None or account is None
            else lot_rules.available(account.lots, max(at, account.latest_at))
        ),
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
            **next_event(account, now, record_id=account_id(customer_id)),
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
            **next_event(
                None, now, record_id=redemption_record or redemption_record_id(redemption_id)
            ),
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
    events: list[Event] = [
        PointsTakenBack(
            **next_event(account, now, record_id=account_id(customer_id)),
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
            **next_event(invoice, now),
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
                **following(events[0]),
                customer_id=customer_id,
                invoice_id=invoice_id,
                lot_id=f"{invoice_id}#refund{invoice.version + 1}",
                points=refund,
                at=at,
                expires_at=expiry_dates.expires_at(at, program.expiry, zone),
            )
        )
    # Tiers go by what purchases really earned: a returned invoice stops
    # counting in full, even when the balance could not cover it all.
    events += tier_change(account, events, customer_id, program, now, at)
    return events


def tier_change(
    account: LoyaltyAccount | None,
    events: list[Event],
    customer_id: UUID,
    program: LoyaltyProgram,
    now: datetime,
    at: datetime,
) -> list[Event]:
    """A `TierChanged` if, after `events`, the points the tier goes by reach another tier.

    Also what `process_due` records when a windowed tier's points leave the
    window (a downgrade), and what follows a change of the thresholds.
    """
    current = account.tier if account else None
    if not program.tiers and current is None:
        # No tier to reach or to leave: skip replaying the events (most of an
        # import's purchases, whose program has no tiers, stop here).
        return []
    new = account
    for event in events:
        if event.originator_id == account_id(customer_id):
            new = evolve_account(new, event)
    basis = tier_points(new, program, at)
    tier = rules.tier_for(program, basis)
    if tier == current:
        return []
    return [
        TierChanged(
            **next_event(new, now, record_id=account_id(customer_id)),
            customer_id=customer_id,
            tier=tier,
            previous_tier=current,
            lifetime_points=basis,
            at=at,
        )
    ]
