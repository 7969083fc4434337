"""Sales and returns in the figures the voucher and commission tests check, through the ledger.

`sell` is `ledger.checkout` (one transaction: voucher, referral code, the
purchase, the commission); `give_back` is `ledger.return_purchase`. They
answer with the commission earned / taken back, read from the referrer's
commission lines, which `Checkout` does not carry.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from uuid import UUID

from referral_ledger import Ledger


def _commission(ledger: Ledger, customer_id: UUID, invoice_id: str) -> Decimal:
    """The commission the invoice has earned net of what returns took back (0: none)."""
    referrer = ledger.referred_by(customer_id)
    if referrer is None:
        return Decimal(0)
    rows = ledger.commissions(referrer)
    return sum((r.commission for r in rows if r.invoice_id == invoice_id), Decimal(0))


def sell(
    ledger: Ledger,
    customer_id: UUID,
    invoice_id: str,
    amount: Decimal,
    *,
    voucher: str | None = None,
    referral_code: str | None = None,
    warehouse: str | None = None,
    at: datetime | None = None,
) -> tuple[Decimal, Decimal, Decimal]:
    """(voucher discount, referral discount, commission) of one checkout."""
    sale = ledger.checkout(
        customer_id,
        invoice_id,
        amount,
        voucher=voucher,
        referral_code=referral_code,
        warehouse=warehouse,
        at=at,
    )
    commission = _commission(ledger, customer_id, invoice_id)
    return sale.voucher_discount, sale.referral_discount, commission


def give_back(
    ledger: Ledger,
    customer_id: UUID,
    invoice_id: str,
    returned: Decimal,
    invoice_amount: Decimal,
    *,
    at: datetime | None = None,
) -> Decimal:
    """A return of `returned`, at most what is left (all of it once it reaches `invoice_amount`).

    Returns the commission it took back.
    """
    row = next(r for r in ledger.purchases(customer_id) if r.invoice_id == invoice_id)
    left = row.amount - row.returned
    if left == 0 or returned <= 0:
        return Decimal(0)
    before = _commission(ledger, customer_id, invoice_id)
    whole = returned >= min(invoice_amount, left)
    ledger.return_purchase(customer_id, invoice_id, None if whole else returned, at=at)
    return before - _commission(ledger, customer_id, invoice_id)
