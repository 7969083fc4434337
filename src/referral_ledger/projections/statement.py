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

from referral_ledger.aggregates import lots as lot_rules
from referral_ledger.aggregates.base import Event
from referral_ledger.aggregates.lots import Lot
from referral_ledger.projections.lot_history import Replay, movements, replay


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
    pending: int = 0
    expiring: tuple[ExpiringPoints, ...] = ()


def statement_rows(
    events: Iterable[Event], *, at: datetime | None = None, as_of: datetime | None = None
) -> list[StatementRow]:
    """The statement of an account's events up to `at` (see `replay`), with running balances.

    Rows are changes of the spendable balance: a pending lot's "earn" row is
    dated when it becomes spendable, and an unspent lot's "expire" row when it
    expires, whether or not `process_due` recorded it yet.
    """
    rows: list[StatementRow] = []
    balance = 0
    for change in replay(events, at=at, as_of=as_of)[0]:
        balance += change.points
        rows.append(
            StatementRow(
                change.at,
                change.kind,
                change.points,
                balance,
                change.reference,
                change.amount,
                change.recorded_at,
            )
        )
    return rows


def room_from(events: Iterable[Event], at: datetime) -> tuple[int, tuple[Lot, ...]]:
    """The most points a new movement dated `at` may take, and the open lots at `at`.

    The room is the lowest spendable balance from `at` on: in business-time
    order the movement comes after everything dated up to `at` and before
    everything dated later, each of those later balances drops too, and none
    may go negative.
    """
    events = list(events)
    state = Replay()
    balance = 0
    lowest: int | None = None
    lots_then: tuple[Lot, ...] | None = None
    for event in movements(events):
        if lots_then is None and event.at > at:
            balance += sum(change.points for change in state.advance(at))
            lots_then, lowest = state.open_lots(), balance
        for change in state.apply(event):
            balance += change.points
            if lowest is not None:
                lowest = min(lowest, balance)
    if lots_then is None:
        balance += sum(change.points for change in state.advance(at))
        return balance, state.open_lots()
    assert lowest is not None
    return lowest, lots_then


def totals(events: Iterable[Event], *, at: datetime, as_of: datetime | None = None) -> Totals:
    """The spendable, pending and lifetime points of the movements a reading takes."""
    changes, state = replay(events, at=at, as_of=as_of)
    lots = state.open_lots()
    return Totals(
        sum(change.points for change in changes),
        state.lifetime,
        lot_rules.pending(lots, at),
        expiring(lots, at),
    )


def expiring(lots: Iterable[Lot], at: datetime) -> tuple[ExpiringPoints, ...]:
    """The points of `lots` that will expire after `at`, by moment, soonest first."""
    due: dict[datetime, int] = {}
    for lot in lots:
        if lot.expires_at is not None and lot.expires_at > at and lot.points:
            due[lot.expires_at] = due.get(lot.expires_at, 0) + lot.points
    return tuple(ExpiringPoints(moment, points) for moment, points in sorted(due.items()))
