"""Campaigns at the till: `checkout` earns through the same step as `record_purchase`.

The bonus is on the base points of the money paid (after the voucher's and the
referral code's discounts and the points redeemed), checkouts spend the same
limits and budget as recorded and imported purchases, a repeated checkout
returns the same bonus, and a return takes the bonus back in proportion.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from referral_ledger import (
    Campaign,
    CampaignBonus,
    Checkout,
    Ledger,
    LoyaltyProgram,
    ReferralCodeProgram,
    Voucher,
)
from referral_ledger.aggregates.loyalty import PointsEarned

T0 = datetime(2026, 6, 1, tzinfo=UTC)
DAY1 = T0 + timedelta(days=1)


def campaign(**settings: Any) -> Campaign:
    return Campaign(
        **{
            "campaign_id": "DUA-T6",
            "name": "Đua tích điểm tháng 6",
            "starts_at": T0,
            "ends_at": T0 + timedelta(days=30),
            **settings,
        }
    )


@pytest.fixture
def shop(store_url: str) -> Iterator[Ledger]:
    with Ledger.open(store_url, clock=lambda: T0 + timedelta(days=2)) as ledger:
        ledger.configure_loyalty(
            LoyaltyProgram(
                money_per_point=Decimal(1000),
                point_value=Decimal(100),
                earn_on_invoices_paid_with_points=True,
            )
        )
        ledger.configure_referral_codes(
            ReferralCodeProgram(discount=Decimal(20_000), commission_percent=Decimal(5))
        )
        yield ledger


def customer(ledger: Ledger, n: int, **fields: Any) -> Any:
    return ledger.register_customer(f"Khách {n}", [f"0912 345 {n:03d}"], **fields)


def earned_events(ledger: Ledger) -> list[PointsEarned]:
    store = ledger._store
    events = (store.event_of(n) for n in store.notifications(0, 10_000))
    return [e for e in events if isinstance(e, PointsEarned)]


def test_a_checkout_earns_the_bonus_on_the_money_paid(shop: Ledger) -> None:
    a = customer(shop, 1, group="VIP")
    shop.checkout(a, "HD-0", Decimal(200_000), at=T0 - timedelta(days=1))  # 200, no campaign
    shop.add_campaign(campaign(campaign_id="X2", multiplier=2))
    shop.add_campaign(campaign(campaign_id="VIP50", bonus_points=50, eligible_groups={"VIP"}))
    shop.create_voucher(Voucher(code="TET", discount=Decimal(50_000)))
    sale = shop.checkout(a, "HD-1", Decimal(300_000), redeem_points=100, voucher="TET", at=DAY1)
    # 300,000 - 50,000 off - 100 points worth 10,000 = 240,000 paid: 240 base,
    # X2 doubles it (+240), VIP50 adds 50.
    assert sale == Checkout(
        "HD-1", Decimal(300_000), Decimal(50_000), Decimal(0), 100, Decimal(10_000),
        Decimal(240_000), 240 + 240 + 50, 290,
    )  # fmt: skip
    assert earned_events(shop)[-1].bonuses == (CampaignBonus("VIP50", 50), CampaignBonus("X2", 240))
    assert shop.balance(a) == 200 - 100 + 530
    assert [(r.customer_id, r.points) for r in shop.campaign_leaderboard("X2")] == [(a, 530)]


def test_a_referred_customers_first_checkout_earns_the_bonus_after_the_code_discount(
    shop: Ledger,
) -> None:
    referrer = customer(shop, 1)
    new = customer(shop, 2)
    shop.add_campaign(campaign(multiplier=3))
    code = shop.referral_code(referrer)
    sale = shop.checkout(new, "HD-1", Decimal(100_000), referral_code=code, at=DAY1)
    # 100,000 - 20,000 off = 80 base points, x3: +160.
    assert (sale.referral_discount, sale.points_earned, sale.bonus_points) == (
        Decimal(20_000),
        240,
        160,
    )


def test_the_same_checkout_again_returns_the_same_bonus_and_records_nothing(shop: Ledger) -> None:
    a = customer(shop, 1)
    shop.add_campaign(campaign(multiplier=2, budget_points=1000))
    first = shop.checkout(a, "HD-1", Decimal(150_000), at=DAY1)
    assert (first.points_earned, first.bonus_points) == (300, 150)
    before = shop.event_count()
    assert shop.checkout(a, "HD-1", Decimal(150_000), at=DAY1) == first
    assert shop.event_count() == before
    # Once, in the budget too.
    assert [(r.points) for r in shop.campaign_leaderboard("DUA-T6")] == [300]


def test_checkouts_and_recorded_purchases_share_the_limits_and_the_budget(shop: Ledger) -> None:
    a, b = customer(shop, 1), customer(shop, 2)
    shop.add_campaign(campaign(multiplier=2, per_customer_limit=120, budget_points=200))
    assert shop.checkout(a, "HD-1", Decimal(100_000), at=DAY1).bonus_points == 100
    # A's limit leaves 20 for the recorded purchase.
    assert shop.record_purchase(a, "HD-2", Decimal(100_000), at=DAY1) == 100 + 20
    rows = [{"customer_id": b, "invoice_id": "HD-3", "amount": 50_000, "at": DAY1}]
    assert shop.import_purchases(rows).points == 50 + 50
    # 170 of the budget spent: this checkout gets the remainder, 30.
    sale = shop.checkout(b, "HD-4", Decimal(100_000), at=DAY1)
    assert (sale.points_earned, sale.bonus_points) == (130, 30)
    assert shop.checkout(b, "HD-5", Decimal(100_000), at=DAY1).bonus_points == 0
    board = [(r.customer_id, r.points) for r in shop.campaign_leaderboard("DUA-T6")]
    assert board == [(b, 100 + 130 + 100), (a, 200 + 120)]


def test_a_return_of_a_checkout_takes_the_bonus_back_in_proportion(shop: Ledger) -> None:
    a, b = customer(shop, 1), customer(shop, 2)
    shop.add_campaign(campaign(multiplier=3, budget_points=200))
    assert shop.checkout(a, "HD-1", Decimal(100_000), at=DAY1).points_earned == 300
    assert shop.return_purchase(a, "HD-1", Decimal(50_000), at=DAY1) == 150
    assert shop.balance(a) == 150
    assert [r.points for r in shop.campaign_leaderboard("DUA-T6")] == [150]
    # The budget is not refilled by the return.
    assert shop.checkout(b, "HD-2", Decimal(100_000), at=DAY1).bonus_points == 0
