"""`checkout` with a voucher and a referral code: the discounts come first, the points pay
and earn on what is left, a refused part records nothing, returns give the voucher use back
and take the commission back."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from referral_ledger import (
    Checkout,
    CommissionRow,
    InvalidInput,
    Ledger,
    LoyaltyProgram,
    RedemptionRefused,
    ReferralCodeProgram,
    ReferralCodeRefused,
    Voucher,
    VoucherRefused,
)

START = datetime(2026, 3, 1, 3, 0, tzinfo=UTC)


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


def customer(ledger: Ledger, n: int) -> Any:
    return ledger.register_customer(f"Khách {n}", [f"0912 345 {n:03d}"])


def test_a_voucher_discounts_then_points_pay_and_earn_on_the_rest(shop: Ledger) -> None:
    a = customer(shop, 1)
    shop.checkout(a, "HD-0", Decimal(200_000))  # 200 points to spend
    shop.create_voucher(Voucher(code="TET", discount=Decimal(50_000), usage_limit=1))
    sale = shop.checkout(a, "HD-1", Decimal(300_000), redeem_points=100, voucher="tet")
    # 50,000 off, 100 points pay 10,000, 240,000 is paid and earns 240 points.
    assert sale == Checkout(
        "HD-1", Decimal(300_000), Decimal(50_000), Decimal(0), 100, Decimal(10_000),
        Decimal(240_000), 240,
    )  # fmt: skip
    assert shop.get_voucher("TET").used == 1
    assert shop.balance(a) == 200 - 100 + 240
    # The same invoice again: the same result, nothing recorded, the use counted once.
    before = shop.event_count()
    assert shop.checkout(a, "HD-1", Decimal(300_000), redeem_points=100, voucher="TET") == sale
    assert shop.event_count() == before
    assert shop.get_voucher("TET").used == 1
    with pytest.raises(InvalidInput, match="HD-1"):
        shop.checkout(a, "HD-1", Decimal(300_000), redeem_points=100, voucher="OTHER")


def test_points_pay_at_most_what_the_discounts_left(shop: Ledger) -> None:
    a = customer(shop, 1)
    shop.checkout(a, "HD-0", Decimal(200_000))
    shop.create_voucher(Voucher(code="BIG", discount=Decimal(95_000)))
    before = shop.event_count()
    with pytest.raises(InvalidInput, match="left after the discounts"):
        shop.checkout(a, "HD-1", Decimal(100_000), redeem_points=60, voucher="BIG")
    assert shop.event_count() == before
    sale = shop.checkout(a, "HD-1", Decimal(100_000), redeem_points=50, voucher="BIG")
    assert (sale.payable, sale.points_earned) == (Decimal(0), 0)


def test_the_usage_limit_holds_and_a_refused_part_records_nothing(shop: Ledger) -> None:
    a, b = customer(shop, 1), customer(shop, 2)
    shop.create_voucher(Voucher(code="ONE", discount=Decimal(1000), usage_limit=1))
    shop.checkout(a, "HD-1", Decimal(5000), voucher="ONE")
    before = shop.event_count()
    with pytest.raises(VoucherRefused) as caught:
        shop.checkout(b, "HD-2", Decimal(5000), voucher="ONE")
    assert caught.value.reason == "used up"
    # A good voucher with a refused redemption: the voucher use is not kept either.
    shop.create_voucher(Voucher(code="TWO", discount=Decimal(1000), usage_limit=1))
    before = shop.event_count()
    with pytest.raises(RedemptionRefused):
        shop.checkout(b, "HD-2", Decimal(5000), voucher="TWO", redeem_points=1)
    assert shop.event_count() == before
    assert shop.get_voucher("TWO").used == 0
    assert shop.purchases(b) == []


def test_a_full_return_releases_the_voucher_use_a_partial_one_does_not(shop: Ledger) -> None:
    a, b = customer(shop, 1), customer(shop, 2)
    shop.create_voucher(Voucher(code="ONE", discount=Decimal(1000), usage_limit=1))
    shop.checkout(a, "HD-1", Decimal(5000), voucher="ONE")
    shop.return_purchase(a, "HD-1", Decimal(4000))
    assert shop.get_voucher("ONE").used == 1
    shop.return_purchase(a, "HD-1")
    assert shop.get_voucher("ONE").used == 0
    assert shop.checkout(b, "HD-2", Decimal(5000), voucher="ONE").voucher_discount == 1000


def test_a_referral_code_links_discounts_and_earns_commission(shop: Ledger) -> None:
    an, binh = customer(shop, 1), customer(shop, 2)
    code = shop.referral_code(an)
    sale = shop.checkout(binh, "HD-1", Decimal(200_000), referral_code=code.lower())
    assert (sale.referral_discount, sale.payable, sale.points_earned) == (
        Decimal(30_000),
        Decimal(170_000),
        170,
    )
    assert shop.referred_by(binh) == an
    # Later ordinary purchases earn commission on what is paid.
    shop.record_purchase(binh, "HD-2", Decimal(100_000))
    due = START.replace(day=15)
    assert shop.commissions(an) == [
        CommissionRow("HD-1", binh, Decimal(170_000), Decimal(8_500), "pending", due),
        CommissionRow("HD-2", binh, Decimal(100_000), Decimal(5_000), "pending", due),
    ]
    # Bought before now: the code is refused, and nothing is recorded.
    before = shop.event_count()
    with pytest.raises(ReferralCodeRefused):
        shop.checkout(binh, "HD-3", Decimal(100_000), referral_code=code)
    assert shop.event_count() == before
    # A full return voids the commission.
    shop.return_purchase(binh, "HD-1")
    assert [(r.invoice_id, r.status) for r in shop.commissions(an)] == [
        ("HD-1", "void"),
        ("HD-2", "pending"),
    ]
