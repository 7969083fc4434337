"""A customer's points account: its state, how events build it, and expiry.

The events are in `loyalty.py` (their module path is their stored topic).
The state holds the open lots only (see `lots.py`): what a balance or a
redemption reads grows with the points still held, not with history.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import attrs

from referral_ledger.aggregates import lots as lot_rules
from referral_ledger.aggregates.base import Event, next_version
from referral_ledger.aggregates.lots import Lot
from referral_ledger.aggregates.loyalty import (
    Invoice,
    InvoicePointsExpired,
    PointsEarned,
    PointsExpired,
    PointsRedeemed,
    PointsRefunded,
    PointsTakenBack,
    TierChanged,
)
from referral_ledger.policies.loyalty import LoyaltyProgram

Movement = PointsEarned | PointsRedeemed | PointsTakenBack | PointsExpired | PointsRefunded


@attrs.frozen
class LoyaltyAccount:
    """A customer's points: the points held and the open lots they are in."""

    id: UUID
    version: int
    customer_id: UUID
    #: The latest business `at` among the movements: a reading at or after it
    #: counts every movement, so it can use this state instead of the events.
    #: No default, so that a snapshot stored without it (0.1) fails to load
    #: and the account is replayed from its events instead.
    latest_at: datetime
    #: The open lots (points left, expiry not yet recorded), in earning order.
    #: No default either: a snapshot stored before lots is replayed.
    lots: tuple[Lot, ...]
    #: Points taken that no open lot held (movements dated before others can
    #: draw on lots that later ones spent): the next lots earned pay it first,
    #: so the open lots always hold exactly the points held.
    debt: int = 0
    #: Points held in the open lots, pending and not yet recorded as expired
    #: included (`Ledger.balance` counts only the spendable ones).
    balance: int = 0
    purchase_count: int = 0
    #: Points earned minus what returns owed back (taken or shortfall): what
    #: tiers go by.
    lifetime_points: int = 0
    tier: str | None = None
    #: Earnings that count for a windowed tier: (invoice id, counts until,
    #: points net of returns); dropped once past (see `tier_points`).
    window: tuple[tuple[str, datetime, int], ...] = ()


def tier_points(account: LoyaltyAccount | None, program: LoyaltyProgram, at: datetime) -> int:
    """The points a tier goes by at `at`: lifetime, or those earned within the program's window."""
    if account is None:
        return 0
    if program.tier_window_days is None:
        return account.lifetime_points
    return sum(points for _, until, points in account.window if until > at)


def _windowed(
    account: LoyaltyAccount, event: Movement | TierChanged
) -> tuple[tuple[str, datetime, int], ...]:
    """The account's window after `event`: past entries dropped, the event's added or reduced."""
    window = [entry for entry in account.window if entry[1] > event.at]
    if isinstance(event, PointsEarned) and event.counts_until is not None and event.points:
        window.append((event.invoice_id, event.counts_until, event.points))
    elif isinstance(event, PointsTakenBack):
        owed = event.points + event.shortfall + event.expired
        window = [
            (invoice, until, max(0, points - owed) if invoice == event.invoice_id else points)
            for invoice, until, points in window
        ]
    return tuple(window)


def expire(
    account: LoyaltyAccount, invoice: Invoice, invoice_id: str, now: datetime
) -> list[Event]:
    """Record that the lot of `invoice_id` expired, if it is open and due (else nothing)."""
    lot = lot_rules.find(account.lots, invoice_id)
    if lot is None or lot.expires_at is None:
        return []
    expired: list[Event] = [
        PointsExpired(
            originator_id=account.id,
            originator_version=next_version(account),
            timestamp=now,
            customer_id=account.customer_id,
            invoice_id=invoice_id,
            points=lot.points,
            at=lot.expires_at,
        )
    ]
    if lot.invoice_id == invoice.invoice_id:
        # The invoice's own lot (not a refund's): a later return owes these no more.
        expired.append(
            InvoicePointsExpired(
                originator_id=invoice.id,
                originator_version=invoice.version + 1,
                timestamp=now,
                points=lot.points,
                at=lot.expires_at,
            )
        )
    return expired


def evolve_account(account: LoyaltyAccount | None, event: Event) -> LoyaltyAccount:
    if not isinstance(event, Movement | TierChanged):
        raise TypeError(f"not a loyalty account event: {event!r}")
    if account is None:
        account = LoyaltyAccount(event.originator_id, 0, event.customer_id, event.at, ())
    version = event.originator_version
    latest = event.at if event.at > account.latest_at else account.latest_at
    if account.window or (isinstance(event, PointsEarned) and event.counts_until is not None):
        account = attrs.evolve(account, window=_windowed(account, event))
    match event:
        case PointsEarned(points=points):
            paid = min(points, account.debt)
            lot = event.lot()
            lot = attrs.evolve(lot, points=lot.points - paid)
            return attrs.evolve(
                account,
                version=version,
                latest_at=latest,
                lots=(*account.lots, lot) if lot.points else account.lots,
                debt=account.debt - paid,
                balance=account.balance + points,
                purchase_count=account.purchase_count + 1,
                lifetime_points=account.lifetime_points + points,
            )
        case PointsRedeemed(points=points):
            # Events written by 0.1 name no lots: their lots never expire, so
            # any order gives the same points left.
            draws = event.lots or lot_rules.draw(account.lots, points, event.at)
            return attrs.evolve(
                account,
                version=version,
                latest_at=latest,
                lots=lot_rules.take(account.lots, draws),
                debt=account.debt + _short(account, draws, points),
                balance=account.balance - points,
            )
        case PointsTakenBack(points=points, shortfall=shortfall):
            draws = event.lots or lot_rules.draw(
                account.lots, points, event.at, first=event.invoice_id
            )
            return attrs.evolve(
                account,
                version=version,
                latest_at=latest,
                lots=lot_rules.take(account.lots, draws),
                debt=account.debt + _short(account, draws, points),
                balance=account.balance - points,
                lifetime_points=account.lifetime_points - points - shortfall - event.expired,
            )
        case PointsRefunded(points=points):
            paid = min(points, account.debt)
            lot = attrs.evolve(event.lot(), points=points - paid)
            return attrs.evolve(
                account,
                version=version,
                latest_at=latest,
                lots=(*account.lots, lot) if lot.points else account.lots,
                debt=account.debt - paid,
                balance=account.balance + points,
            )
        case PointsExpired(points=points):
            return attrs.evolve(
                account,
                version=version,
                latest_at=latest,
                lots=lot_rules.close(account.lots, event.invoice_id),
                balance=account.balance - points,
            )
        case TierChanged(tier=tier):
            return attrs.evolve(account, version=version, latest_at=latest, tier=tier)


def _short(account: LoyaltyAccount, draws: lot_rules.Draws, points: int) -> int:
    """Points of a movement that its draws did not find in the open lots."""
    drawn = sum(p for _, p in draws)
    return lot_rules.uncovered(account.lots, draws) + max(0, points - drawn)
