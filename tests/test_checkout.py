"""`checkout`: one transaction for a sale; refused parts record nothing; returns
give back the points redeemed in proportion."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from referral_ledger import (
    Checkout,
    InvalidInput,
    Ledger,
    LoyaltyProgram,
    PointsExpiry,
    RedemptionRefused,
    VoucherRefused,
)
from support import Clock

T0 = datetime(2026, 3, 1, 3, 0, tzinfo=UTC)


def opened(store_url: str, **program: object) -> tuple[Ledger, Clock]:
    clock = Clock(T0)
    ledger = Ledger.open(store_url, clock=clock)
    ledger.configure_loyalty(
        LoyaltyProgram(money_per_point=Decimal(1000), point_value=Decimal(100), **program)
    )
    return ledger, clock


def test_a_checkout_redeems_then_earns_on_the_money_paid(store_url: str) -> None:
    ledger, _ = opened(store_url, earn_on_invoices_paid_with_points=True)
    with ledger:
        cid = ledger.register_customer("Lê Thị Hoa", ["0912 345 678"])
        first = ledger.checkout(cid, "HD-1", Decimal(500_000))
        assert first == Checkout(
            "HD-1", Decimal(500_000), Decimal(0), Decimal(0), 0, Decimal(0), Decimal(500_000), 500
        )
        second = ledger.checkout(cid, "HD-2", Decimal(100_000), redeem_points=300)
        # 300 points at 100 each pay 30,000; the remaining 70,000 earns 70 points.
        assert (second.points_value, second.payable, second.points_earned) == (
            Decimal(30_000),
            Decimal(70_000),
            70,
        )
        assert 500 - 300 + 70 == ledger.balance(cid)
        before = ledger.event_count()
        assert second == ledger.checkout(cid, "HD-2", Decimal(100_000), redeem_points=300)
        assert before == ledger.event_count()
        with pytest.raises(InvalidInput, match="HD-2"):
            ledger.checkout(cid, "HD-2", Decimal(100_000), redeem_points=200)
        kinds = [r.kind for r in ledger.statement(cid)]
        assert kinds == ["earn", "redeem", "earn"]


def test_a_refused_part_refuses_the_whole_checkout(store_url: str) -> None:
    ledger, _ = opened(store_url)
    with ledger:
        cid = ledger.register_customer("Lê Thị Hoa", ["0912 345 678"])
        ledger.checkout(cid, "HD-1", Decimal(50_000))
        before = ledger.event_count()
        with pytest.raises(RedemptionRefused):
            ledger.checkout(cid, "HD-2", Decimal(100_000), redeem_points=51)
        with pytest.raises(VoucherRefused, match="SALE10"):
            ledger.checkout(cid, "HD-2", Decimal(100_000), voucher="SALE10")
        with pytest.raises(InvalidInput, match="more than the amount"):
            ledger.checkout(cid, "HD-2", Decimal(1_000), redeem_points=50)
        with pytest.raises(InvalidInput, match="redeem_points"):
            ledger.checkout(cid, "HD-2", Decimal(1_000), redeem_points=-1)
        assert before == ledger.event_count()
        assert 50 == ledger.balance(cid)
        # Paid with points, on a program where that earns nothing.
        assert 0 == ledger.checkout(cid, "HD-3", Decimal(100_000), redeem_points=10).points_earned


def test_returns_of_a_checkout_give_back_the_redeemed_points_in_proportion(
    store_url: str,
) -> None:
    ledger, clock = opened(store_url, expiry=PointsExpiry(0, "year"))
    with ledger:
        cid = ledger.register_customer("Lê Thị Hoa", ["0912 345 678"])
        ledger.checkout(cid, "HD-1", Decimal(300_000))
        clock.advance(days=1)
        ledger.checkout(cid, "HD-2", Decimal(100_000), redeem_points=101)
        assert 199 == ledger.balance(cid)
        ledger.return_purchase(cid, "HD-2", Decimal(50_000))
        assert 199 + 50 == ledger.balance(cid)  # floor(101 / 2)
        ledger.return_purchase(cid, "HD-2")
        assert 199 + 101 == ledger.balance(cid)  # the rest, never more than redeemed
        rows = [(r.kind, r.points) for r in ledger.statement(cid)]
        assert rows == [
            ("earn", 300),
            ("redeem", -101),
            ("earn", 0),  # paid with points: earns nothing
            ("return", 0),
            ("refund", 50),
            ("return", 0),
            ("refund", 51),
        ]
        # The refund lots expire with the year, like the others.
        assert 0 == ledger.balance(cid, at=T0 + timedelta(days=366))
