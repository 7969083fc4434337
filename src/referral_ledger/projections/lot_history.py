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
from referral_ledger.aggregates.lots import Draws, Lot
from referral_ledger.aggregates.loyalty import (
    PointsEarned,
    PointsExpired,
    PointsRedeemed,
    PointsTakenBack,
)

Movement = PointsEarned | PointsRedeemed | PointsTakenBack | PointsExpired


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
    amounts: dict[str, tuple[Decimal, datetime]] = attrs.Factory(dict)
    active: set[str] = attrs.Factory(set)
    lifetime: int = 0
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
            amount, recorded = self.amounts[invoice_id]
            if kind == "activate":
                self.active.add(invoice_id)
                if lot.points:
                    yield Change(moment, "earn", lot.points, invoice_id, amount, recorded)
            else:
                del self.lots[invoice_id]
                if invoice_id in self.active and lot.points:
                    yield Change(moment, "expire", -lot.points, invoice_id, Decimal(0), recorded)

    def _take(self, draws: Draws) -> int:
        """Take `draws` from the lots; returns how many came out of spendable ones."""
        spent = 0
        for invoice_id, points in draws:
            lot = self.lots.get(invoice_id)
            if lot is None:
                continue
            took = min(points, lot.points)
            spent += took if invoice_id in self.active else 0
            self.lots[invoice_id] = attrs.evolve(lot, points=lot.points - took)
        return spent

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
                lot = event.lot()
                self.lots[event.invoice_id] = lot
                self.amounts[event.invoice_id] = (event.amount, event.timestamp)
                order = len(self.amounts)
                heapq.heappush(self.clock, (lot.available_from, order, "activate", lot.invoice_id))
                if lot.expires_at is not None:
                    heapq.heappush(self.clock, (lot.expires_at, order, "expire", lot.invoice_id))
                yield from self.advance(event.at)
            case PointsRedeemed():
                # Drawn by the rule in business order: a movement recorded later
                # but dated earlier may have drawn other lots when decided.
                draws = lot_rules.draw(self.open_lots(), event.points, event.at)
                spent = self._take(draws)
                yield Change(
                    event.at, "redeem", -spent, event.redemption_id, event.value, event.timestamp
                )
            case PointsTakenBack():
                self.lifetime -= event.points + event.shortfall + event.expired
                draws = lot_rules.draw(
                    self.open_lots(), event.points, event.at, first=event.invoice_id
                )
                spent = self._take(draws)
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
