"""Tiers that move: by a window of days (down again by `process_due`), and after a
change of thresholds no query shows a tier the program lacks."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from referral_ledger import Ledger, LoyaltyProgram, Tier
from referral_ledger.aggregates.loyalty import TierChanged, account_id
from support import Clock

T0 = datetime(2026, 3, 1, 3, 0, tzinfo=UTC)
SILVER = Tier("Silver", 100)


def program(**kwargs: Any) -> LoyaltyProgram:
    return LoyaltyProgram(
        money_per_point=Decimal(1000), point_value=Decimal(100), tiers=[SILVER], **kwargs
    )


def test_a_windowed_tier_goes_down_when_its_points_leave_the_window(store_url: str) -> None:
    clock = Clock(T0)
    with Ledger.open(store_url, clock=clock) as ledger:
        ledger.configure_loyalty(program(tier_window_days=30))
        cid = ledger.register_customer("Lê Thị Hoa", ["0912 345 678"])
        ledger.record_purchase(cid, "HD-1", 150_000)
        assert "Silver" == ledger.points_summary(cid).tier
        clock.advance(days=31)
        # The reading follows the window at once; the record follows process_due.
        assert ledger.points_summary(cid).tier is None
        assert 1 == ledger.process_due()
        assert 0 == ledger.process_due()
        changes = [
            (e.previous_tier, e.tier)
            for e in ledger._store.events_of(account_id(cid))
            if isinstance(e, TierChanged)
        ]
        assert changes == [(None, "Silver"), ("Silver", None)]
        assert ledger.loyalty_account(cid).tier is None  # type: ignore[union-attr]
        # Lifetime points are untouched: only the tier moved.
        assert 150 == ledger.points_summary(cid).lifetime_points


def test_after_new_thresholds_no_query_shows_a_removed_tier(store_url: str) -> None:
    clock = Clock(T0)
    with Ledger.open(store_url, clock=clock) as ledger:
        ledger.configure_loyalty(program())
        cid = ledger.register_customer("Lê Thị Hoa", ["0912 345 678"])
        ledger.record_purchase(cid, "HD-1", 150_000)
        assert "Silver" == ledger.loyalty_account(cid).tier  # type: ignore[union-attr]
        new = LoyaltyProgram(
            money_per_point=Decimal(1000), point_value=Decimal(100), tiers=[Tier("Gold", 120)]
        )
        version = ledger.configure_loyalty(new)
        before = ledger.event_count()
        # The same settings again (a host configuring at every start): nothing recorded.
        assert version == ledger.configure_loyalty(new)
        assert before == ledger.event_count()
        assert "Gold" == ledger.loyalty_account(cid).tier  # type: ignore[union-attr]
        assert "Gold" == ledger.points_summary(cid).tier
        ledger.configure_loyalty(
            LoyaltyProgram(money_per_point=Decimal(1000), point_value=Decimal(100))
        )
        assert ledger.loyalty_account(cid).tier is None  # type: ignore[union-attr]


def test_a_customer_who_has_earned_nothing_is_in_no_tier_even_one_of_one_point(
    store_url: str,
) -> None:
    clock = Clock(T0)
    with Ledger.open(store_url, clock=clock) as ledger:
        for window in (None, 30):
            ledger.configure_loyalty(
                LoyaltyProgram(
                    money_per_point=Decimal(1000),
                    point_value=Decimal(100),
                    tiers=[Tier("Đồng", 1)],
                    tier_window_days=window,
                )
            )
            cid = ledger.register_customer(f"Khách {window}", [f"0912 345 {window or 0:03d}"])
            assert ledger.points_summary(cid).tier is None
            ledger.record_purchase(cid, f"HD-{window}", 1_000)
            assert "Đồng" == ledger.points_summary(cid).tier


def test_a_tier_the_program_no_longer_has_is_left_on_the_next_movement(store_url: str) -> None:
    """The recorded tier history follows the program: with every tier removed, the
    customer's next movement records their leaving the tier they held."""
    with Ledger.open(store_url, clock=Clock(T0)) as ledger:
        ledger.configure_loyalty(program())
        cid = ledger.register_customer("Lê Thị Hoa", ["0912 345 678"])
        ledger.record_purchase(cid, "HD-1", 150_000)
        ledger.configure_loyalty(
            LoyaltyProgram(money_per_point=Decimal(1000), point_value=Decimal(100))
        )
        ledger.record_purchase(cid, "HD-2", 10_000)
        changes = [
            (e.previous_tier, e.tier)
            for e in ledger._store.events_of(account_id(cid))
            if isinstance(e, TierChanged)
        ]
        assert [(None, "Silver"), ("Silver", None)] == changes
