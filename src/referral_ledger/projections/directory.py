"""The customer directory: its rows, and the pure fold of events into them.

One row per customer: the details the customer record holds (name, phones,
email, group, tags, source, assigned staff) and the loyalty standing its
points account holds (level, purchases, balance). The fold is pure, like the
lead table's (`leads.py`): it reads and writes rows through
`DirectoryRecords`, so a directory rebuilt from the log and one kept live
are made by the same code.

Who owns a customer is set in one place, `set_staff`: the assignment events
of owner-assignment rules fold through it too. A new event the directory
shows is added to `DIRECTORY_EVENTS` (the log reader reads it, the catch-up
reads its customer's row first: `customer_of`) and given a branch in `apply`.
"""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Final, Protocol
from uuid import UUID

import attrs

from referral_ledger.aggregates.base import Event
from referral_ledger.aggregates.customer import CustomerRegistered, CustomerUpdated
from referral_ledger.aggregates.loyalty import (
    PointsEarned,
    PointsRedeemed,
    PointsTakenBack,
    TierChanged,
)
from referral_ledger.projections.folding import fold, phone_key

#: The customer-record events that change a row's details.
DETAIL_CHANGES: Final = (CustomerRegistered, CustomerUpdated)
#: The points-account events that change a row's standing. Purchases and
#: returns usually reach the views as a `log.RevenueChange` (see `log.py`),
#: folded by `apply_points`; the others as events.
STANDING_CHANGES: Final = (PointsEarned, PointsTakenBack, PointsRedeemed, TierChanged)
#: The events the directory is folded from.
DIRECTORY_EVENTS: Final = (*DETAIL_CHANGES, *STANDING_CHANGES)


@attrs.frozen(kw_only=True)
class CustomerRow:
    """One customer as the directory shows it."""

    customer_id: UUID
    name: str
    phones: tuple[str, ...]
    email: str | None
    group: str | None
    tags: frozenset[str]
    #: The loyalty tier reached (None before any).
    level: str | None
    source: str | None
    assigned_staff: str | None
    purchase_count: int
    #: Points available (as `Ledger.balance`).
    balance: int
    #: The registration's business `at`.
    registered_at: datetime

    @property
    def name_key(self) -> str:
        return fold(self.name)

    @property
    def search(self) -> str:
        """The folded text a search looks in: name, each phone's spellings, email."""
        return search_text(self.name, self.phones, self.email)


@functools.lru_cache(maxsize=65_536)
def search_text(name: str, phones: tuple[str, ...], email: str | None) -> str:
    # Cached: a row is written again at each purchase of its customer, and
    # parsing its phones again was a quarter of a catch-up's time.
    return "\n".join([fold(name), *(phone_key(p) for p in phones), fold(email or "")])


class DirectoryRecords(Protocol):
    """Where the fold reads and writes directory rows."""

    def customer(self, customer_id: UUID) -> CustomerRow | None: ...

    def put_customer(self, row: CustomerRow) -> None: ...


def apply(event: Event, rows: DirectoryRecords) -> None:
    """Fold one customer or points-account event into the directory."""
    if isinstance(event, CustomerRegistered):
        row = CustomerRow(
            customer_id=event.originator_id,
            name=event.name,
            phones=event.phones,
            email=event.email,
            group=event.group,
            tags=event.tags,
            level=None,
            source=event.source,
            assigned_staff=None,
            purchase_count=0,
            balance=0,
            registered_at=event.at,
        )
        rows.put_customer(set_staff(row, event.assigned_staff))
        return
    if isinstance(event, CustomerUpdated):
        row = _existing(rows, event.originator_id, event)
        changes: dict[str, object] = {f: None for f in event.cleared if f in _DETAILS}
        for field in _DETAILS:
            value = getattr(event, field)
            if value is not None:
                changes[field] = value
        staff = changes.pop("assigned_staff", row.assigned_staff)
        assert staff is None or isinstance(staff, str)
        rows.put_customer(set_staff(attrs.evolve(row, **changes), staff))  # type: ignore[arg-type]
        return
    if isinstance(event, PointsEarned | PointsTakenBack):
        sign = 1 if isinstance(event, PointsEarned) else -1
        purchases = 1 if isinstance(event, PointsEarned) else 0
        apply_points(event.customer_id.hex, sign * event.points, purchases, rows)
        return
    if isinstance(event, PointsRedeemed):
        apply_points(event.customer_id.hex, -event.points, 0, rows)
        return
    if isinstance(event, TierChanged):
        row = _existing(rows, event.customer_id, event)
        rows.put_customer(attrs.evolve(row, level=event.tier))


def apply_points(customer: str, points: int, purchases: int, rows: DirectoryRecords) -> None:
    """A purchase, return or redemption: the customer's balance and purchase count."""
    row = _existing(rows, UUID(customer), customer)
    rows.put_customer(
        attrs.evolve(
            row, balance=row.balance + points, purchase_count=row.purchase_count + purchases
        )
    )


def customer_of(event: Event) -> UUID:
    """The customer whose row a directory event changes: its `customer_id`
    (a points-account event), else the record it belongs to (a customer event)."""
    customer = getattr(event, "customer_id", None)
    return customer if isinstance(customer, UUID) else event.originator_id


def set_staff(row: CustomerRow, staff: str | None) -> CustomerRow:
    """The row with `staff` owning the customer: the ONE place the directory
    sets `assigned_staff` (a registration's or edit's explicit value, and the
    assignment events of owner-assignment rules alike)."""
    return attrs.evolve(row, assigned_staff=staff)


#: The customer fields the directory shows (the others stay in the record).
_DETAILS: Final = ("name", "phones", "email", "group", "tags", "source", "assigned_staff")


def _existing(rows: DirectoryRecords, customer_id: UUID, cause: object) -> CustomerRow:
    row = rows.customer(customer_id)
    if row is None:  # pragma: no cover - every account's customer registered first
        raise LookupError(f"directory has no customer {customer_id} for {cause!r}")
    return row
