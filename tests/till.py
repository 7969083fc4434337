"""A stand-in for `checkout` in tests: runs the sale steps (`commands/sale_steps.py`) in one unit.

It does what `checkout` does with them (the steps record into the sale's
unit of work; a refused part refuses the whole sale) without the points, so
the steps are tested on their own; `ledger.checkout` calls the same steps.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from uuid import UUID

from referral_ledger import Ledger
from referral_ledger.aggregates import customer_record as customers
from referral_ledger.commands import sale_steps
from referral_ledger.store import UnitOfWork


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
    """(voucher discount, referral discount, commission) of one sale, all in one unit."""
    when = ledger._context.business_time(at)
    code, referral, where = sale_steps.parse_sale_codes(voucher, referral_code, warehouse)

    def decide(unit: UnitOfWork) -> tuple[Decimal, Decimal, Decimal]:
        buyer = unit.load(customer_id, customers.evolve_customer)
        assert buyer is not None
        voucher_discount, referral_discount = sale_steps.discounts(
            unit,
            ledger._ids,
            customer_id=customer_id,
            customer_tags=buyer.tags,
            invoice_id=invoice_id,
            amount=amount,
            voucher=code,
            referral_code=referral,
            warehouse=where,
            at=when,
        )
        payable = max(Decimal(0), amount - voucher_discount - referral_discount)
        commission = sale_steps.after_purchase(
            unit,
            customer_id=customer_id,
            invoice_id=invoice_id,
            amount=amount,
            payable=payable,
            at=when,
        )
        return voucher_discount, referral_discount, commission

    result = ledger._store.run(decide)
    # The purchase itself (its own unit here; checkout records it in the same one).
    ledger.record_purchase(customer_id, invoice_id, amount, at=when)
    return result


def give_back(
    ledger: Ledger,
    customer_id: UUID,
    invoice_id: str,
    returned: Decimal,
    invoice_amount: Decimal,
    *,
    voucher: str | None = None,
    at: datetime | None = None,
) -> Decimal:
    """A return of `returned`: the commission taken back; a full return releases the voucher."""
    when = ledger._context.business_time(at)
    code = sale_steps.parse_sale_codes(voucher, None, None)[0]

    def decide(unit: UnitOfWork) -> Decimal:
        return sale_steps.after_return(
            unit,
            ledger._ids,
            customer_id=customer_id,
            invoice_id=invoice_id,
            voucher=code,
            returned=returned,
            fully_returned=returned >= invoice_amount,
            at=when,
        )

    return ledger._store.run(decide)
