"""Lots: the points of one purchase, with the dates they can be spent between.

An account keeps only its open lots (points left, not yet recorded as
expired); spent and expired lots leave the state, so reading a balance or
spending points costs the open lots, never the account's whole history.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import attrs

#: Which lots a movement drew on: (invoice id of the lot, points), in order.
Draws = tuple[tuple[str, int], ...]


@attrs.frozen
class Lot:
    """The points left of one purchase's lot."""

    invoice_id: str
    points: int
    earned_at: datetime
    available_from: datetime
    #: None: never expires.
    expires_at: datetime | None

    def expired(self, at: datetime) -> bool:
        return self.expires_at is not None and self.expires_at <= at

    def spendable(self, at: datetime) -> bool:
        return self.available_from <= at and not self.expired(at)

    def pending(self, at: datetime) -> bool:
        return at < self.available_from and not self.expired(at)


def spending_order(lot: Lot) -> tuple[bool, datetime, datetime]:
    """Soonest expiry first, lots that never expire last; ties: oldest first."""
    return (lot.expires_at is None, lot.expires_at or lot.earned_at, lot.earned_at)


def available(lots: Iterable[Lot], at: datetime) -> int:
    return sum(lot.points for lot in lots if lot.spendable(at))


def pending(lots: Iterable[Lot], at: datetime) -> int:
    return sum(lot.points for lot in lots if lot.pending(at))


def draw(lots: Iterable[Lot], points: int, at: datetime, *, first: str | None = None) -> Draws:
    """Which spendable lots `points` come from: lot `first` (if given), then soonest-expiring.

    Takes what there is: the caller checked the points are there, or keeps
    the rest as a shortfall.
    """
    chosen: list[tuple[str, int]] = []
    left = points
    candidates = sorted((lot for lot in lots if lot.spendable(at)), key=spending_order)
    candidates.sort(key=lambda lot: lot.invoice_id != first)  # stable: `first` leads
    for lot in candidates:
        if left == 0:
            break
        take = min(left, lot.points)
        if take:
            chosen.append((lot.invoice_id, take))
            left -= take
    return tuple(chosen)


def uncovered(lots: Iterable[Lot], draws: Draws) -> int:
    """How many points of `draws` the lots do not hold (0 unless history was backdated)."""
    held = {lot.invoice_id: lot.points for lot in lots}
    short = 0
    for invoice_id, points in draws:
        took = min(points, held.get(invoice_id, 0))
        held[invoice_id] = held.get(invoice_id, 0) - took
        short += points - took
    return short


def take(lots: tuple[Lot, ...], draws: Draws) -> tuple[Lot, ...]:
    """`lots` less `draws`; lots left empty close (leave the state)."""
    if not draws:
        return lots
    owed = dict[str, int]()
    for invoice_id, points in draws:
        owed[invoice_id] = owed.get(invoice_id, 0) + points
    kept: list[Lot] = []
    for lot in lots:
        points = lot.points - owed.get(lot.invoice_id, 0)
        if points > 0:
            kept.append(lot if points == lot.points else attrs.evolve(lot, points=points))
    return tuple(kept)


def find(lots: Iterable[Lot], invoice_id: str) -> Lot | None:
    return next((lot for lot in lots if lot.invoice_id == invoice_id), None)


def close(lots: tuple[Lot, ...], invoice_id: str) -> tuple[Lot, ...]:
    """`lots` without the lot of `invoice_id` (an invoice has one open lot, as `find` reads)."""
    for i, lot in enumerate(lots):
        if lot.invoice_id == invoice_id:
            # Copied by slicing, not lot by lot: an account expiring many lots
            # in one batch closes them soonest-expiring first, near the front.
            return lots[:i] + lots[i + 1 :]
    return lots


def draw_dated(lots: tuple[Lot, ...], points: int, at: datetime, latest: datetime) -> Draws:
    """`draw` for a movement dated `at`, from the lots open now (`lots`).

    A movement dated before others (`at` < `latest`, the newest movement's
    date) was judged against the lots as they were at `at`; the points come
    from the lots still open that were spendable then, and what those no
    longer hold from the lots spendable at `latest`, so the open lots always
    add up to the points held.
    """
    chosen = draw(lots, points, at)
    short = points - sum(p for _, p in chosen)
    if short and latest > at:
        # From what the first draw left: a lot never gives more than it holds.
        chosen += draw(take(lots, chosen), short, latest)
    return chosen
