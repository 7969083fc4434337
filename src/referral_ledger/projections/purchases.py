"""A customer's purchase history, folded from the events of its points account."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal

import attrs

from referral_ledger.aggregates.base import Event
from referral_ledger.aggregates.loyalty import PointsEarned, PointsTakenBack


@attrs.frozen(kw_only=True)
class PurchaseRow:
    """One purchase (invoice) as the customer's history shows it."""

    invoice_id: str
    #: When it was bought, in business time.
    at: datetime
    amount: Decimal
    #: The amount returned so far (0 when nothing was).
    returned: Decimal
    #: The points the purchase earned.
    points: int
    #: The voucher applied at checkout (None: vouchers are not recorded yet).
    voucher: str | None = None
    #: What the customer paid: the amount, until checkout records discounts.
    payable: Decimal


def purchase_rows(events: Iterable[Event]) -> list[PurchaseRow]:
    """Fold an account's events, oldest first, into its purchases, by business time."""
    rows: dict[str, PurchaseRow] = {}
    for event in events:
        if isinstance(event, PointsEarned):
            rows[event.invoice_id] = PurchaseRow(
                invoice_id=event.invoice_id,
                at=event.at,
                amount=event.amount,
                returned=Decimal(0),
                points=event.points,
                payable=event.amount,
            )
        elif isinstance(event, PointsTakenBack) and event.invoice_id in rows:
            row = rows[event.invoice_id]
            rows[event.invoice_id] = attrs.evolve(
                row, returned=row.returned + event.returned_amount
            )
    # A POS backfill may record purchases out of their order: by when they
    # were made (a stable sort keeps the log's order for the same moment).
    return sorted(rows.values(), key=lambda row: row.at)
