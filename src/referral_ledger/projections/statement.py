"""Readings of a points account: its statement and its summary, by both times.

A movement has two moments: `at`, when it happened in the business (a
purchase loaded years later keeps its own date), and its event's
`timestamp`, when the ledger recorded it. A reading takes the movements
recorded by `as_of` and dated at or before `at`, in business-time order
(ties in recording order): "what did we know on 1 April about 15 March".
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from uuid import UUID

import attrs

from referral_ledger.aggregates.base import Event
from referral_ledger.aggregates.loyalty import PointsEarned, PointsRedeemed, PointsTakenBack

Movement = PointsEarned | PointsRedeemed | PointsTakenBack


@attrs.frozen
class StatementRow:
    """One points movement; `balance` is the balance right after it."""

    at: datetime
    kind: str
    points: int
    balance: int
    reference: str
    #: Money involved: the invoice amount, the redemption's value, or the amount returned.
    amount: Decimal
    #: When the ledger recorded the movement (`at` is when it happened).
    recorded_at: datetime


@attrs.frozen
class ExpiringPoints:
    """Points that expire at `expires_at`; `customer_id` is set in ledger-wide lists."""

    expires_at: datetime
    points: int
    customer_id: UUID | None = None


@attrs.frozen
class PointsSummary:
    """A customer's points at one reading.

    `available` is what can be spent (the balance); `pending` what is earned
    but not yet spendable; `lifetime_points` what purchases earned net of
    returns, pending points included (tiers go by it); `expiring` the points
    that will expire, soonest first.
    """

    available: int
    pending: int
    lifetime_points: int
    tier: str | None
    expiring: tuple[ExpiringPoints, ...] = ()


@attrs.frozen
class Totals:
    """What a reading adds up to: the balance and the points tiers go by."""

    balance: int = 0
    lifetime_points: int = 0


def movements(
    events: Iterable[Event], *, at: datetime | None = None, as_of: datetime | None = None
) -> list[Movement]:
    """The account's movements recorded by `as_of`, dated by `at`, in business-time order.

    `events` come in recording order (the account's versions); the sort is
    stable, so movements dated alike stay in the order they were recorded.
    None means no limit.
    """
    chosen = [
        event
        for event in events
        if isinstance(event, Movement)
        and (as_of is None or event.timestamp <= as_of)
        and (at is None or event.at <= at)
    ]
    chosen.sort(key=lambda event: event.at)
    return chosen


def statement_rows(
    events: Iterable[Event], *, at: datetime | None = None, as_of: datetime | None = None
) -> list[StatementRow]:
    """The statement of an account's events (see `movements`), with running balances."""
    rows: list[StatementRow] = []
    balance = 0
    for event in movements(events, at=at, as_of=as_of):
        match event:
            case PointsEarned():
                kind, points, ref, amount = "earn", event.points, event.invoice_id, event.amount
            case PointsRedeemed():
                kind, points, ref, amount = (
                    "redeem",
                    -event.points,
                    event.redemption_id,
                    event.value,
                )
            case PointsTakenBack():
                kind, points, ref = "return", -event.points, event.invoice_id
                amount = event.returned_amount
        balance += points
        rows.append(StatementRow(event.at, kind, points, balance, ref, amount, event.timestamp))
    return rows


def room_from(events: Iterable[Event], at: datetime) -> int:
    """The most points a new movement dated `at` may take: the lowest balance from `at` on.

    In business-time order the movement comes after everything dated up to
    `at` (and recorded before it) and before everything dated later: each of
    those later balances drops too, and none may go negative.
    """
    running = 0
    lowest: int | None = None
    for event in movements(events):
        if lowest is None and event.at > at:
            lowest = running
        running += event.points if isinstance(event, PointsEarned) else -event.points
        if lowest is not None:
            lowest = min(lowest, running)
    return running if lowest is None else lowest


def totals(
    events: Iterable[Event], *, at: datetime | None = None, as_of: datetime | None = None
) -> Totals:
    """The balance and lifetime points of the movements a reading takes."""
    balance = lifetime = 0
    for event in movements(events, at=at, as_of=as_of):
        match event:
            case PointsEarned(points=points):
                balance += points
                lifetime += points
            case PointsRedeemed(points=points):
                balance -= points
            case PointsTakenBack(points=points, shortfall=shortfall):
                balance -= points
                # A return owes what it took and what the balance could not cover.
                lifetime -= points + shortfall
    return Totals(balance, lifetime)
