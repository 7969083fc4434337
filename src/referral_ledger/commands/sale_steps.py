"""What a sale and a return do about vouchers and referral codes, in the caller's unit of work.

`checkout` (and `return_purchase`) call these three, so the voucher use, the
referral link and the commission commit with the sale, or not at all:

1. `discounts(...)` before the purchase is recorded: the voucher's discount,
   then the referral code's (on what the voucher left). Raises
   `VoucherRefused` / `ReferralCodeRefused`; the caller's unit then records
   nothing.
2. `after_purchase(...)` with the payable amount: the referrer's commission.
3. `after_return(...)` on a return: commission taken back in proportion; a
   full return also gives the voucher use back.

Arguments are parsed by the caller first (`parse_sale_codes`).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from uuid import UUID

from referral_ledger.commands.referral_codes import (
    apply_referral_code,
    earn_commission,
    void_commission,
)
from referral_ledger.commands.vouchers import release_voucher_use, use_voucher
from referral_ledger.policies.commissions import parse_referral_code
from referral_ledger.policies.vouchers import parse_code
from referral_ledger.store import UnitOfWork
from referral_ledger.values import RecordIds, parse_text


def parse_sale_codes(
    voucher: object, referral_code: object, warehouse: object
) -> tuple[str | None, str | None, str | None]:
    """The voucher code, referral code and warehouse of a sale, checked (None: not given)."""
    return (
        None if voucher is None else parse_code(voucher, "voucher"),
        None if referral_code is None else parse_referral_code(referral_code),
        None if warehouse is None else parse_text(warehouse, "warehouse", limit=100),
    )


def discounts(
    unit: UnitOfWork,
    ids: RecordIds,
    *,
    customer_id: UUID,
    customer_tags: frozenset[str],
    invoice_id: str,
    amount: Decimal,
    voucher: str | None,
    referral_code: str | None,
    warehouse: str | None,
    at: datetime,
) -> tuple[Decimal, Decimal]:
    """(voucher discount, referral discount) of a sale, their events recorded into `unit`.

    Call before recording the purchase itself (a referral code is for a
    buyer who has not bought before).
    """
    voucher_discount = Decimal(0)
    if voucher is not None:
        voucher_discount = use_voucher(
            unit,
            ids,
            voucher,
            customer_id=customer_id,
            customer_tags=customer_tags,
            amount=amount,
            warehouse=warehouse,
            at=at,
            invoice_id=invoice_id,
        )
    referral_discount = Decimal(0)
    if referral_code is not None:
        referral_discount = apply_referral_code(
            unit,
            ids,
            referral_code,
            customer_id=customer_id,
            amount=amount - voucher_discount,
            invoice_id=invoice_id,
            at=at,
        )
    return voucher_discount, referral_discount


def after_purchase(
    unit: UnitOfWork,
    *,
    customer_id: UUID,
    invoice_id: str,
    amount: Decimal,
    payable: Decimal,
    at: datetime,
) -> Decimal:
    """The referrer's commission on a referred customer's purchase (0: none), into `unit`."""
    return earn_commission(
        unit,
        customer_id=customer_id,
        invoice_id=invoice_id,
        payable=payable,
        invoice_amount=amount,
        at=at,
    )


def after_return(
    unit: UnitOfWork,
    ids: RecordIds,
    *,
    customer_id: UUID,
    invoice_id: str,
    voucher: str | None,
    returned: Decimal,
    fully_returned: bool,
    at: datetime,
) -> Decimal:
    """A return of `returned` (of the invoice's amount): the commission taken back.

    `fully_returned` (everything is back now) also gives the voucher use back.
    """
    if voucher is not None and fully_returned:
        release_voucher_use(unit, ids, voucher, invoice_id, at)
    return void_commission(
        unit, customer_id=customer_id, invoice_id=invoice_id, returned=returned, at=at
    )
