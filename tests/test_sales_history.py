"""What a sale leaves in the customer's purchase history (the voucher, what was payable),
and purchases imported from a POS earning the referrer's commission as the till does."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from referral_ledger import (
    CommissionRow,
    Ledger,
    LoyaltyProgram,
    ReferralCodeProgram,
    Voucher,
)

START = datetime(2026, 3, 1, 3, 0, tzinfo=UTC)
DUE = START + timedelta(days=14)


@pytest.fixture
def shop(ledger: Ledger) -> Ledger:
    ledger.configure_loyalty(
        LoyaltyProgram(
            money_per_point=Decimal(1000),
            point_value=Decimal(100),
            earn_on_invoices_paid_with_points=True,
        )
    )
    ledger.configure_referral_codes(
        ReferralCodeProgram(
            discount=Decimal(30_000), commission_percent=Decimal(5), maturity_days=14
        )
    )
    return ledger


def customer(ledger: Ledger, n: int, **kw: Any) -> Any:
    return ledger.register_customer(f"Khách {n}", [f"0912 345 {n:03d}"], **kw)


def test_purchases_show_the_voucher_and_what_was_payable(shop: Ledger) -> None:
    an, binh = customer(shop, 1), customer(shop, 2)
    shop.create_voucher(Voucher(code="TET", percent=Decimal(10), max_discount=25_000))
    shop.checkout(an, "HD-0", Decimal(200_000))  # 200 points to spend
    # 10% of 300,000 capped at 25,000; 100 points pay 10,000: 265,000 payable.
    shop.checkout(an, "HD-1", Decimal(300_000), redeem_points=100, voucher="tet")
    shop.record_purchase(an, "HD-2", Decimal(80_000))
    shop.return_purchase(an, "HD-1", Decimal(30_000))
    rows = [(r.invoice_id, r.amount, r.returned, r.voucher, r.payable) for r in shop.purchases(an)]
    assert rows == [
        ("HD-0", Decimal(200_000), Decimal(0), None, Decimal(200_000)),
        ("HD-1", Decimal(300_000), Decimal(30_000), "TET", Decimal(265_000)),
        ("HD-2", Decimal(80_000), Decimal(0), None, Decimal(80_000)),
    ]
    # A referral code's discount is off the payable amount too.
    code = shop.referral_code(an)
    shop.checkout(binh, "HD-3", Decimal(100_000), voucher="TET", referral_code=code)
    [row] = shop.purchases(binh)
    # 10,000 off (the voucher), then 30,000 (the code): 60,000 payable.
    assert (row.voucher, row.payable) == ("TET", Decimal(60_000))


def test_imported_purchases_earn_the_referrers_commission_once(shop: Ledger) -> None:
    an, binh = customer(shop, 1), customer(shop, 2, external_id="POS-2")
    code = shop.referral_code(an)
    shop.checkout(binh, "HD-1", Decimal(200_000), referral_code=code)  # 170,000 payable
    rows: list[dict[str, object]] = [
        {"external_id": "POS-2", "invoice_id": "HD-2", "amount": "100000"},
        {"customer_id": str(binh), "invoice_id": "HD-3", "amount": Decimal(40_000)},
        {"external_id": "POS-2", "invoice_id": "HD-4", "amount": "-1"},  # rejected
    ]
    report = shop.import_purchases(rows)
    assert (report.recorded, report.duplicates, [n for n, _ in report.rejected]) == (2, 0, [3])
    expected = [
        CommissionRow("HD-1", binh, Decimal(170_000), Decimal(8_500), "pending", DUE),
        CommissionRow("HD-2", binh, Decimal(100_000), Decimal(5_000), "pending", DUE),
        CommissionRow("HD-3", binh, Decimal(40_000), Decimal(2_000), "pending", DUE),
    ]
    assert shop.commissions(an) == expected
    # The same sheet again records nothing: no second commission.
    before = shop.event_count()
    again = shop.import_purchases(rows)
    assert (again.recorded, again.duplicates) == (0, 2)
    assert shop.event_count() == before
    assert shop.commissions(an) == expected
    # A return of an imported purchase takes its commission back, as at the till.
    shop.return_purchase(binh, "HD-2")
    assert [r.status for r in shop.commissions(an)] == ["pending", "void", "pending"]


def test_an_imported_purchase_earns_nothing_for_a_customer_not_referred(shop: Ledger) -> None:
    an = customer(shop, 1)
    report = shop.import_purchases([{"customer_id": str(an), "invoice_id": "HD-1", "amount": 5}])
    assert report.recorded == 1
    assert shop.commissions(an) == []
