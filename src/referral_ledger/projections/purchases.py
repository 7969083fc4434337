"""A customer's purchase history, folded from the events of its points account."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from decimal import Decimal

import attrs

from referral_ledger.aggregates.base import Event
from referral_ledger.aggregates.loyalty import Invoice, PointsEarned, PointsTakenBack
from referral_ledger.values import EXACT


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
    #: The voucher applied at checkout (None: none, or a purchase recorded alone).
    voucher: str | None = None
    #: What the customer paid: the amount less the voucher's and referral code's
    #: discounts and the value of the points redeemed at the till, never below 0.
    payable: Decimal


def purchase_rows(
    events: Iterable[Event], invoices: Mapping[str, Invoice | None] | None = None
) -> list[PurchaseRow]:
    """Fold an account's events, oldest first, into its purchases, by business time.

    `invoices` (by invoice id) are the invoice records, which hold what a
    checkout took off: the voucher and the payable amount come from them."""
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
    sales = invoices or {}
    # A POS backfill may record purchases out of their order: by when they
    # were made (a stable sort keeps the log's order for the same moment).
    return sorted(
        (with_sale(row, sales.get(row.invoice_id)) for row in rows.values()),
        key=lambda row: row.at,
    )


def with_sale(row: PurchaseRow, invoice: Invoice | None) -> PurchaseRow:
    """`row` with the voucher and the payable amount its invoice record holds."""
    if invoice is None:
        return row
    off = EXACT.add(
        EXACT.add(invoice.voucher_discount, invoice.referral_discount), invoice.redeemed_value
    )
    payable = max(Decimal(0), EXACT.subtract(invoice.amount, off))
    return attrs.evolve(row, voucher=invoice.voucher, payable=payable)
