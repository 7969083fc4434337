"""A stand-in for `checkout` in tests: runs the voucher and referral-code steps in one unit.

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
from referral_ledger.commands.referral_codes import (
    apply_referral_code,
    earn_commission,
    void_commission,
)
from referral_ledger.commands.vouchers import release_voucher_use, use_voucher
from referral_ledger.policies.commissions import parse_referral_code
from referral_ledger.policies.vouchers import parse_code
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
    when = ledger._business_time(at)
    ids = ledger._ids

    def decide(unit: UnitOfWork) -> tuple[Decimal, Decimal, Decimal]:
        buyer = unit.load(customer_id, customers.evolve_customer)
        assert buyer is not None
        voucher_discount = referral_discount = Decimal(0)
        if voucher is not None:
            voucher_discount = use_voucher(
                unit,
                ids,
                parse_code(voucher, "voucher"),
                customer_id=customer_id,
                customer_tags=buyer.tags,
                amount=amount,
                warehouse=warehouse,
                at=when,
                invoice_id=invoice_id,
            )
        if referral_code is not None:
            referral_discount = apply_referral_code(
                unit,
                ids,
                parse_referral_code(referral_code),
                customer_id=customer_id,
                amount=amount,
                invoice_id=invoice_id,
                at=when,
            )
        payable = max(Decimal(0), amount - voucher_discount - referral_discount)
        commission = earn_commission(
            unit,
            customer_id=customer_id,
            invoice_id=invoice_id,
            payable=payable,
            invoice_amount=amount,
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
    when = ledger._business_time(at)

    def decide(unit: UnitOfWork) -> Decimal:
        if voucher is not None and returned >= invoice_amount:
            release_voucher_use(unit, ledger._ids, parse_code(voucher), invoice_id, when)
        return void_commission(
            unit, customer_id=customer_id, invoice_id=invoice_id, returned=returned, at=when
        )

    return ledger._store.run(decide)
