"""The demo's sales scene: a voucher and a referral code at the till (25 March 2025).

The shop starts referral codes (50,000 off a new customer's first purchase,
5% commission to the referrer on what the new customer pays for a year,
due 14 days after each purchase) and a spring voucher, `CHAOXUAN`: 10% off
orders from 500,000, at most 100,000, once per customer, 50 uses in all.
Lê Văn Cường passes his code to Đỗ Thị Hoa, who registers and buys:

| invoice  | amount    | voucher  | code    | payable   | points | commission |
|----------|-----------|----------|---------|-----------|--------|------------|
| INV-0007 | 1,500,000 | -100,000 | -50,000 | 1,350,000 | 135    | 67,500     |
| INV-0008 | 640,000   |          |         | 640,000   | 64     | 32,000     |

Both commissions are pending until 8 April. `demo.run` plays these steps with
the rest of the story, in the order of their dates; every step is
idempotent (the same invoice again returns its first result).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from functools import partial
from typing import Final
from uuid import UUID

from referral_ledger.ledger import Ledger
from referral_ledger.policies.commissions import ReferralCodeProgram
from referral_ledger.policies.vouchers import Voucher

_ICT: Final = timezone(timedelta(hours=7), "ICT")


def _at(hour: int, minute: int = 0) -> datetime:
    return datetime(2025, 3, 25, hour, minute, tzinfo=_ICT)


CODES: Final = ReferralCodeProgram(
    discount=Decimal(50_000),
    commission_percent=Decimal(5),
    commission_months=12,
    maturity_days=14,
)
VOUCHER: Final = Voucher(
    code="CHAOXUAN",
    percent=Decimal(10),
    max_discount=Decimal(100_000),
    min_order=Decimal(500_000),
    ends_at=datetime(2025, 5, 1, tzinfo=_ICT),
    usage_limit=50,
    per_customer_limit=1,
)
#: Whose code it is (a POS id of the main story), and the new customer.
REFERRER: Final = "POS-C003"
NEW_CUSTOMER: Final = ("POS-C006", "Đỗ Thị Hoa", "0934 567 890")
#: (invoice, amount, voucher, with the referrer's code, business time)
SALES: Final = (
    ("INV-0007", Decimal(1_500_000), VOUCHER.code, True, _at(15, 30)),
    ("INV-0008", Decimal(640_000), None, False, _at(19, 0)),
)

Action = tuple[datetime, Callable[[], object]]


def actions(ledger: Ledger, ids: dict[str, UUID]) -> list[Action]:
    """The scene's steps as (story time, step); `ids` are the story's customers by POS id,
    filled in as they register (the new customer is added to it)."""

    def open_programs() -> None:
        if ledger.referral_code_program() != CODES:
            ledger.configure_referral_codes(CODES, at=_at(10))
        ledger.create_voucher(VOUCHER, at=_at(10))  # the same voucher again: a no-op

    def register() -> None:
        pos_id, name, phone = NEW_CUSTOMER
        ids[pos_id] = ledger.find_customer_by_external_id(pos_id) or ledger.register_customer(
            name=name, phones=[phone], group="retail", source="retailer", external_id=pos_id
        )

    def sell(invoice: str, amount: Decimal, voucher: str | None, code: bool, at: datetime) -> None:
        buyer = ids[NEW_CUSTOMER[0]]
        if voucher is None and not code:
            ledger.record_purchase(buyer, invoice, amount, at=at)
            return
        referral = ledger.referral_code(ids[REFERRER]) if code else None
        ledger.checkout(buyer, invoice, amount, voucher=voucher, referral_code=referral, at=at)

    steps: list[Action] = [
        (_at(10), open_programs),
        (_at(10, 5), lambda: ledger.referral_code(ids[REFERRER])),
        (_at(11), register),
    ]
    steps += [(sale[-1], partial(sell, *sale)) for sale in SALES]
    return steps
