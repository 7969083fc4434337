"""Reading the views' events from the log, decoded only as far as the views need.

A rebuild reads the whole log, and most of a real log is purchases. Through
eventsourcing's `select_notifications` each row becomes a `Notification`
(its originator id parsed into a UUID), and the mapper makes a full attrs
event of it (every field structured by cattrs): most of a rebuild's time,
for views that need two fields of a purchase or a return. So the rows are
read straight from eventsourcing's table (by `persistence.log`),
and a `PointsEarned` or `PointsTakenBack` is decoded to a `RevenueChange`:
the customer and the signed amount, taken from the payload the mapper would
structure (decrypted, decompressed and upcast as it would be). Lead events,
fewer and needing most of their fields, go through the mapper.

A payload that is not exactly what the mapper expects (other fields, or a
customer or amount it could not read) is handed to the mapper too, which
raises `CorruptEvent` for a damaged event as everywhere else. What this
does not check are the values of the fields the views do not use (say, a
purchase's `at`): those are read, and checked, by whoever uses them.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any, Final, NamedTuple, cast
from uuid import UUID

import attrs
from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import get_topic

from referral_ledger.aggregates.base import Event
from referral_ledger.persistence.log import Row, row_selector
from referral_ledger.projections import directory, leaderboard
from referral_ledger.projections import leads as fold
from referral_ledger.serialization import upcast
from referral_ledger.store import Store

TOPICS: Final = tuple(
    dict.fromkeys(
        get_topic(cls)
        for cls in (
            *fold.VIEW_EVENTS,
            *directory.DIRECTORY_EVENTS,
            *leaderboard.LEADERBOARD_EVENTS,
        )
    )
)

_HEX: Final = re.compile("[0-9a-f]{32}")


class RevenueChange(NamedTuple):
    """A purchase or a return, as the revenue view and the directory need it."""

    customer: str  # the customer's id, as 32 lower-case hex digits
    amount: Decimal  # signed: a return's is negative
    points: int  # signed: what the customer's balance gains
    purchases: int  # 1 for a purchase, 0 for a return


class _Revenue(NamedTuple):
    cls: type[Event]
    field: str
    sign: int
    keys: frozenset[str]  # the payload's fields, as the mapper stores them
    upcast: bool  # stored payloads may be of an older class version


_REVENUE: Final = {
    get_topic(cls): _Revenue(
        cls,
        field,
        sign,
        frozenset(f.name for f in attrs.fields(cls)) - {"originator_id", "originator_version"},
        getattr(cls, "class_version", 1) > 1,
    )
    for cls, (field, sign) in fold.REVENUE_CHANGES.items()
}


class LogReader:
    """Reads ranges of the log's view events, and decodes them."""

    def __init__(self, store: Store) -> None:
        self._store = store
        mapper: Any = store.app.mapper
        self._mapper = mapper
        self._cipher = mapper.cipher
        self._compressor = mapper.compressor
        self._decode = mapper.transcoder.decode
        self._select = row_selector(store.app, TOPICS)

    def read(self, after: int, stop: int, limit: int) -> tuple[list[Event | RevenueChange], int]:
        """The first `limit` view events after position `after` up to `stop`,
        decoded, and the position of the last one (`after` if none)."""
        rows = self._select(after, stop, limit)
        return [self._item(row) for row in rows], (rows[-1][0] if rows else after)

    def _item(self, row: Row) -> Event | RevenueChange:
        _, originator_id, version, topic, state = row
        revenue = _REVENUE.get(topic)
        if revenue is not None:
            change = self._revenue_change(revenue, state)
            if change is not None:
                return change
        stored = StoredEvent(
            originator_id=originator_id, originator_version=version, topic=topic, state=state
        )
        return cast(Event, self._mapper.to_domain_event(stored))

    def _revenue_change(self, revenue: _Revenue, state: bytes) -> RevenueChange | None:
        """The change, read as the mapper would; None when the mapper must judge."""
        try:
            if self._cipher:
                state = self._cipher.decrypt(state)
            if self._compressor:
                state = self._compressor.decompress(state)
            payload = self._decode(state)
            if revenue.upcast or "class_version" in payload:
                upcast(revenue.cls, payload)
            if payload.keys() != revenue.keys:
                return None
            customer = payload["customer_id"]
            if not _HEX.fullmatch(customer):
                customer = UUID(customer).hex
            amount = Decimal(payload[revenue.field])
            points = payload["points"]
            if type(points) is not int:
                return None
        except Exception:
            return None
        if revenue.sign > 0:
            return RevenueChange(customer, amount, points, 1)
        return RevenueChange(customer, amount.copy_negate(), -points, 0)
