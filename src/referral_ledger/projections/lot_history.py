"""An account's history replayed in business-time order, lot by lot.

The events say what happened when it was recorded; time does the rest: a
pending lot becomes spendable at its `available_from` and an unspent lot
expires at its `expires_at`, whether or not `process_due` has recorded it
yet. The replay interleaves those moments with the movements, so a reading
at any business moment counts only the points spendable then, and a
statement shows the expiry on the day it happens.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator
from datetime import datetime
from decimal import Decimal

import attrs

from referral_ledger.aggregates import lots as lot_rules
from referral_ledger.aggregates.base import Event
from referral_ledger.aggregates.lots import Lot
from referral_ledger.aggregates.loyalty import (
    PointsEarned,
    PointsExpired,
    PointsRedeemed,
    PointsRefunded,
    PointsTakenBack,
)

Movement = PointsEarned | PointsRedeemed | PointsTakenBack | PointsExpired | PointsRefunded


@attrs.frozen
class Change:
    """One change of the spendable balance (a statement row without its running balance)."""

    at: datetime
    kind: str
    points: int
    reference: str
    amount: Decimal
    recorded_at: datetime


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


@attrs.define
class Replay:
    """The state of a replay: open lots, which are spendable, lifetime points."""

    lots: dict[str, Lot] = attrs.Factory(dict)
    #: Each lot's statement kind, money amount and recording moment.
    amounts: dict[str, tuple[str, Decimal, datetime]] = attrs.Factory(dict)
    active: set[str] = attrs.Factory(set)
    lifetime: int = 0
    #: Points taken that no open lot held then (see `LoyaltyAccount.debt`):
    #: the next lots to become spendable pay it.
    debt: int = 0
    #: (moment, order, kind, invoice id): activations and expiries to come.
    clock: list[tuple[datetime, int, str, str]] = attrs.Factory(list)

    def open_lots(self) -> tuple[Lot, ...]:
        return tuple(self.lots.values())

    def advance(self, until: datetime, *, inclusive: bool = True) -> Iterator[Change]:
        """The activations and expiries due by `until`, in time order."""
        while self.clock and (self.clock[0][0] <= until if inclusive else self.clock[0][0] < until):
            moment, _, kind, invoice_id = heapq.heappop(self.clock)
            lot = self.lots.get(invoice_id)
            if lot is None:
                continue
            row, amount, recorded = self.amounts[invoice_id]
            reference = invoice_id.partition("#")[0]
            if kind == "activate":
                self.active.add(invoice_id)
                if lot.points:
                    yield Change(moment, row, lot.points, reference, amount, recorded)
                paid = min(self.debt, lot.points)
                self.debt -= paid
                self.lots[invoice_id] = attrs.evolve(lot, points=lot.points - paid)
            else:
                del self.lots[invoice_id]
                if invoice_id in self.active and lot.points:
                    yield Change(moment, "expire", -lot.points, reference, Decimal(0), recorded)

    def _take(self, points: int, at: datetime, first: str | None = None) -> int:
        """Take `points` (the lot `first` while open, then the rule); returns the spendable part.

        Drawn by the rule in business order: a movement recorded later but
        dated earlier may have drawn other lots when it was decided. What no
        lot holds is still taken from the balance, as recorded (`debt`).
        """
        spent = 0
        own = self.lots.get(first) if first is not None else None
        if own is not None and own.points and not own.expired(at):
            took = min(points, own.points)
            self.lots[own.invoice_id] = attrs.evolve(own, points=own.points - took)
            spent += took if own.invoice_id in self.active else 0
            points -= took
        for invoice_id, took in lot_rules.draw(self.open_lots(), points, at):
            lot = self.lots[invoice_id]
            self.lots[invoice_id] = attrs.evolve(lot, points=lot.points - took)
            spent += took
            points -= took
        self.debt += points
        return spent + points

    def _open(self, lot: Lot, row: str, amount: Decimal, event: Movement) -> Iterator[Change]:
        """A new lot: its row when it becomes spendable (now, or after its pending days)."""
        self.lots[lot.invoice_id] = lot
        self.amounts[lot.invoice_id] = (row, amount, event.timestamp)
        order = len(self.amounts)
        heapq.heappush(self.clock, (lot.available_from, order, "activate", lot.invoice_id))
        if lot.expires_at is not None:
            heapq.heappush(self.clock, (lot.expires_at, order, "expire", lot.invoice_id))
        yield from self.advance(event.at)

    def apply(self, event: Movement) -> Iterator[Change]:
        # Moments due before the movement first; those at the same moment
        # too, as `Lot.spendable` sees them.
        yield from self.advance(event.at)
        match event:
            case PointsEarned():
                self.lifetime += event.points
                if not event.points:
                    yield Change(
                        event.at, "earn", 0, event.invoice_id, event.amount, event.timestamp
                    )
                    return
                yield from self._open(event.lot(), "earn", event.amount, event)
            case PointsRefunded():
                yield from self._open(event.lot(), "refund", Decimal(0), event)
            case PointsRedeemed():
                spent = self._take(event.points, event.at)
                yield Change(
                    event.at, "redeem", -spent, event.redemption_id, event.value, event.timestamp
                )
            case PointsTakenBack():
                self.lifetime -= event.points + event.shortfall + event.expired
                spent = self._take(event.points, event.at, event.invoice_id)
                yield Change(
                    event.at,
                    "return",
                    -spent,
                    event.invoice_id,
                    event.returned_amount,
                    event.timestamp,
                )
            case PointsExpired():
                pass  # the replay expired the lot at its moment already


def replay(
    events: Iterable[Event], *, at: datetime | None = None, as_of: datetime | None = None
) -> tuple[list[Change], Replay]:
    """Every change of the spendable balance up to `at`, and the replay's state then.

    `at` None: up to the latest movement.
    """
    state = Replay()
    changes: list[Change] = []
    chosen = movements(events, at=at, as_of=as_of)
    for event in chosen:
        changes += state.apply(event)
    if at is not None:
        changes += state.advance(at)
    return changes, state
