"""Campaigns: the rules (pure, property-tested), bad input, and the ledger's commands."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from referral_ledger import (
    Campaign,
    CampaignBonus,
    InvalidInput,
    Ledger,
    LoyaltyProgram,
    NotFound,
    PointsExpiry,
    Tier,
)
from referral_ledger.aggregates.campaign import CampaignClosed
from referral_ledger.aggregates.loyalty import PointsEarned
from referral_ledger.policies import campaigns as rules
from referral_ledger.policies.campaigns import Standing
from support import Clock

T0 = datetime(2026, 6, 1, tzinfo=UTC)
WINDOW: dict[str, Any] = {
    "campaign_id": "DUA-T6",
    "name": "Đua tích điểm tháng 6",
    "starts_at": T0,
    "ends_at": T0 + timedelta(days=30),
}


def campaign(**settings: Any) -> Campaign:
    return Campaign(**{**WINDOW, **settings})


# --- the rules ------------------------------------------------------------------


@given(
    base=st.integers(0, 10**6),
    multiplier=st.decimals(1, 10, places=2),
    fixed=st.integers(0, 1000),
    nth=st.one_of(st.none(), st.integers(1, 5)),
    limit=st.one_of(st.none(), st.integers(1, 10**4)),
    budget=st.one_of(st.none(), st.integers(1, 10**5)),
    purchases=st.integers(0, 20),
    customer_bonus=st.integers(0, 10**4),
    granted=st.integers(0, 10**5),
)
def test_a_bonus_never_passes_a_limit_or_the_budget(
    base: int,
    multiplier: Decimal,
    fixed: int,
    nth: int | None,
    limit: int | None,
    budget: int | None,
    purchases: int,
    customer_bonus: int,
    granted: int,
) -> None:
    c = campaign(
        multiplier=multiplier,
        bonus_points=fixed,
        every_nth_purchase=nth,
        per_customer_limit=limit,
        budget_points=budget,
    )
    standing = Standing(purchases, customer_bonus, granted)
    bonus = rules.bonus_for(c, base, standing)
    raw = rules.raw_bonus(c, base, purchases + 1)
    assert 0 <= bonus <= raw
    if limit is not None:
        assert customer_bonus + bonus <= max(limit, customer_bonus)
    if budget is not None:
        assert granted + bonus <= max(budget, granted)
    # The purchase that reaches a limit gets exactly the remainder.
    room = [raw]
    if limit is not None:
        room.append(limit - customer_bonus)
    if budget is not None:
        room.append(budget - granted)
    assert bonus == max(0, min(room))


@given(base=st.integers(0, 10**6), multiplier=st.decimals(1, 10, places=3))
def test_the_multiplier_gives_the_floor_of_the_extra(base: int, multiplier: Decimal) -> None:
    bonus = rules.raw_bonus(campaign(multiplier=multiplier), base, 1)
    assert bonus <= base * (multiplier - 1) < bonus + 1


def test_every_nth_purchase_gets_the_fixed_bonus() -> None:
    c = campaign(bonus_points=50, every_nth_purchase=3)
    assert [rules.raw_bonus(c, 10, n) for n in range(1, 7)] == [0, 0, 50, 0, 0, 50]


def test_qualifying_needs_the_window_the_amount_and_every_condition() -> None:
    c = campaign(
        min_amount=Decimal(100),
        eligible_groups={"VIP"},
        eligible_tags={"hot"},
        eligible_tiers={"Gold"},
    )
    ok: dict[str, Any] = {
        "at": T0,
        "amount": Decimal(100),
        "group": "VIP",
        "tags": frozenset({"hot", "x"}),
        "tier": "Gold",
    }
    assert rules.qualifies(c, **ok)
    changes: list[dict[str, Any]] = [
        {"at": T0 - timedelta(microseconds=1)},
        {"at": c.ends_at},
        {"amount": Decimal("99.99")},
        {"group": None},
        {"tags": frozenset()},
        {"tier": "Silver"},
    ]
    for change in changes:
        assert not rules.qualifies(c, **{**ok, **change})
    assert not rules.qualifies(c, **ok, ended_at=T0)


# --- bad input ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("settings", "named"),
    [
        ({"ends_at": T0}, "ends_at"),
        ({"ends_at": T0 - timedelta(days=1)}, "ends_at"),
        ({"multiplier": Decimal("0.5")}, "multiplier"),
        ({"multiplier": 2.0}, "multiplier"),
        ({"multiplier": "abc"}, "multiplier"),
        ({"bonus_points": -1}, "bonus_points"),
        ({"bonus_points": 1.5}, "bonus_points"),
        ({"every_nth_purchase": 0}, "every_nth_purchase"),
        ({"per_customer_limit": 0}, "per_customer_limit"),
        ({"per_customer_limit": -5}, "per_customer_limit"),
        ({"budget_points": 0}, "budget_points"),
        ({"min_amount": 1.0}, "min_amount"),
        ({"min_amount": Decimal(-1)}, "min_amount"),
        ({"eligible_tiers": [1]}, "eligible_tiers"),
        ({"eligible_tiers": "Gold"}, "eligible_tiers"),
        ({"eligible_groups": [None]}, "eligible_groups"),
        ({"campaign_id": ""}, "campaign_id"),
        ({"starts_at": datetime(2026, 6, 1)}, "starts_at"),
    ],
)
def test_bad_campaign_settings_are_refused_by_name(settings: dict[str, Any], named: str) -> None:
    with pytest.raises(InvalidInput, match=named):
        campaign(**settings)


def test_unknown_tiers_and_groups_are_fine_they_match_nobody() -> None:
    c = campaign(eligible_tiers={"Kim cương"}, eligible_groups=set())
    assert not rules.qualifies(
        c, at=T0, amount=Decimal(1), group="VIP", tags=frozenset(), tier="Gold"
    )


@pytest.fixture
def ledger(store_url: str) -> Iterator[Ledger]:
    with Ledger.open(store_url, clock=lambda: T0) as opened:
        opened.configure_loyalty(
            LoyaltyProgram(
                money_per_point=Decimal(1000),
                point_value=Decimal(100),
                tiers=(Tier("Gold", 100),),
            )
        )
        yield opened


def test_same_campaign_again_is_a_no_op_other_settings_are_refused(ledger: Ledger) -> None:
    ledger.add_campaign(campaign(multiplier=2))
    before = ledger.event_count()
    ledger.add_campaign(campaign(multiplier=Decimal("2.0")))
    assert ledger.event_count() == before
    with pytest.raises(InvalidInput, match="DUA-T6"):
        ledger.add_campaign(campaign(multiplier=3))
    with pytest.raises(InvalidInput, match="campaign"):
        ledger.add_campaign("DUA-T6")  # type: ignore[arg-type]
    assert ledger.event_count() == before
    assert ledger.campaigns() == [campaign(multiplier=2)]


def test_unknown_campaigns_are_not_found(ledger: Ledger) -> None:
    before = ledger.event_count()
    with pytest.raises(NotFound, match="NOPE"):
        ledger.end_campaign("NOPE")
    with pytest.raises(NotFound, match="NOPE"):
        ledger.campaign_leaderboard("NOPE")
    with pytest.raises(InvalidInput, match="limit"):
        ledger.campaign_leaderboard("NOPE", limit=0)
    assert ledger.event_count() == before


# --- the ledger ----------------------------------------------------------------


def test_campaigns_add_up_and_each_part_is_recorded(ledger: Ledger) -> None:
    """The worked example of docs/campaigns.md (precedence)."""
    an = ledger.register_customer(name="An", phones=["0901000001"], group="VIP")
    ledger.add_campaign(campaign(campaign_id="X2", multiplier=2))
    ledger.add_campaign(campaign(campaign_id="VIP50", bonus_points=50, eligible_groups={"VIP"}))
    ledger.add_campaign(campaign(campaign_id="BIG", bonus_points=30, min_amount=Decimal(10**6)))
    # 250,000 VND: 250 base, X2 +250, VIP50 +50; BIG needs 1,000,000.
    assert ledger.record_purchase(an, "HD-1", Decimal(250000), at=T0 + timedelta(days=1)) == 550
    earned = [e for e in _events(ledger) if isinstance(e, PointsEarned)]
    assert earned[-1].bonuses == (CampaignBonus("VIP50", 50), CampaignBonus("X2", 250))
    assert earned[-1].points == 550
    # Outside the window: base points only.
    assert ledger.record_purchase(an, "HD-2", Decimal(250000), at=T0 + timedelta(days=31)) == 250


def test_imports_earn_bonuses_and_share_the_budget_within_a_batch(ledger: Ledger) -> None:
    an = ledger.register_customer(name="An", phones=["0901000001"])
    ledger.add_campaign(campaign(multiplier=2, budget_points=150))
    rows = [
        {"customer_id": an, "invoice_id": f"HD-{n}", "amount": 100000, "at": T0 + timedelta(n)}
        for n in range(1, 4)
    ]
    report = ledger.import_purchases(rows)
    assert (report.recorded, report.points) == (3, 300 + 150)
    assert ledger.campaign_leaderboard("DUA-T6")[0].points == 450


def test_tiers_qualify_by_the_tier_held_before_the_purchase(ledger: Ledger) -> None:
    an = ledger.register_customer(name="An", phones=["0901000001"])
    ledger.add_campaign(campaign(bonus_points=7, eligible_tiers={"Gold"}))
    at = T0 + timedelta(days=1)
    assert ledger.record_purchase(an, "HD-1", Decimal(150000), at=at) == 150  # not Gold yet
    assert ledger.record_purchase(an, "HD-2", Decimal(1000), at=at) == 1 + 7


def test_returns_take_bonus_back_in_proportion_and_do_not_refill_the_budget(
    ledger: Ledger,
) -> None:
    an = ledger.register_customer(name="An", phones=["0901000001"])
    binh = ledger.register_customer(name="Bình", phones=["0901000002"])
    ledger.add_campaign(campaign(multiplier=3, budget_points=200))
    at = T0 + timedelta(days=1)
    assert ledger.record_purchase(an, "HD-1", Decimal(100000), at=at) == 300
    assert ledger.return_purchase(an, "HD-1", Decimal(50000), at=at) == 150
    assert ledger.balance(an, at=at) == 150
    # 200 given, half of it taken back from An: the budget stays spent.
    assert ledger.record_purchase(binh, "HD-2", Decimal(100000), at=at) == 100
    board = ledger.campaign_leaderboard("DUA-T6")
    assert [(r.name, r.points) for r in board] == [("An", 150), ("Bình", 100)]


def test_ties_go_to_who_reached_the_figure_first(ledger: Ledger) -> None:
    an = ledger.register_customer(name="An", phones=["0901000001"])
    binh = ledger.register_customer(name="Bình", phones=["0901000002"])
    ledger.add_campaign(campaign())
    at = T0 + timedelta(days=1)
    ledger.record_purchase(binh, "HD-1", Decimal(20000), at=at)
    ledger.record_purchase(an, "HD-2", Decimal(20000), at=at)
    assert [r.name for r in ledger.campaign_leaderboard("DUA-T6")] == ["Bình", "An"]
    ledger.record_purchase(binh, "HD-3", Decimal(10000), at=at)
    ledger.record_purchase(an, "HD-4", Decimal(10000), at=at)
    assert [r.name for r in ledger.campaign_leaderboard("DUA-T6", limit=1)] == ["Bình"]


def test_ending_early_and_closing_by_process_due(ledger: Ledger) -> None:
    an = ledger.register_customer(name="An", phones=["0901000001"])
    ledger.add_campaign(campaign(multiplier=2))
    ledger.record_purchase(an, "HD-1", Decimal(10000), at=T0 + timedelta(days=1))
    ledger.end_campaign("DUA-T6", at=T0 + timedelta(days=2))
    assert ledger.campaigns(active_at=T0 + timedelta(days=3)) == []
    assert ledger.record_purchase(an, "HD-2", Decimal(10000), at=T0 + timedelta(days=3)) == 10
    assert ledger.process_due(T0 + timedelta(days=1)) == 0
    assert ledger.process_due(T0 + timedelta(days=2)) == 1
    assert ledger.process_due(T0 + timedelta(days=40)) == 0
    closed = [e for e in _events(ledger) if isinstance(e, CampaignClosed)]
    assert [(c.ranking, c.at) for c in closed] == [(((an, 20),), T0 + timedelta(days=2))]
    # Closed: a backdated purchase into the window no longer counts.
    assert ledger.record_purchase(an, "HD-3", Decimal(10000), at=T0 + timedelta(days=1)) == 10


def _events(ledger: Ledger) -> list[Any]:
    store = ledger._store
    return [store.event_of(n) for n in store.notifications(0, 10_000)]


def test_campaigns_in_an_encrypted_store_use_keyed_ids(sqlite_url: str) -> None:
    """Campaign records are keyed by their upstream id like claims: unguessable ids."""
    from referral_ledger.aggregates.campaign import campaign_record_id, evolve_campaign

    key = Ledger.create_cipher_key()
    with Ledger.open(sqlite_url, cipher_key=key, clock=lambda: T0) as ledger:
        ledger.configure_loyalty(
            LoyaltyProgram(money_per_point=Decimal(1000), point_value=Decimal(100))
        )
        an = ledger.register_customer(name="An", phones=["0901000001"])
        ledger.add_campaign(campaign(multiplier=2))
        assert ledger.record_purchase(an, "HD-1", Decimal(10000), at=T0) == 20
        unkeyed = campaign_record_id("DUA-T6")
        assert ledger._store.load(unkeyed, evolve_campaign) is None
        assert [(r.name, r.points) for r in ledger.campaign_leaderboard("DUA-T6")] == [("An", 20)]
        assert ledger.process_due(T0 + timedelta(days=31)) == 1
    with Ledger.open(sqlite_url, cipher_key=key) as ledger:
        assert ledger.campaigns() == [campaign(multiplier=2)]


def test_bonus_points_sit_in_the_purchase_lot_expire_with_it_and_return_in_proportion(
    store_url: str,
) -> None:
    """Lots (main's expiry) hold base + bonus: one lot per purchase, one expiry."""
    at = T0 + timedelta(days=1)
    clock = Clock(at)
    with Ledger.open(store_url, clock=clock, business_timezone=UTC) as ledger:
        ledger.configure_loyalty(
            LoyaltyProgram(
                money_per_point=Decimal(1000),
                point_value=Decimal(100),
                expiry=PointsExpiry(0, "month"),
            )
        )
        an = ledger.register_customer(name="An", phones=["0901000001"])
        ledger.add_campaign(campaign(multiplier=2), at=T0)
        assert ledger.record_purchase(an, "HD-1", Decimal(250000), at=at) == 500
        assert ledger.record_purchase(an, "HD-2", Decimal(100000), at=at) == 200
        end = datetime(2026, 7, 1, tzinfo=UTC)
        summary = ledger.points_summary(an)
        assert [(e.expires_at, e.points) for e in summary.expiring] == [(end, 700)]
        # Half of HD-1 returned: half of its 500 (base and bonus alike) taken back.
        assert ledger.return_purchase(an, "HD-1", Decimal(125000), at=at) == 250
        assert ledger.balance(an) == 450
        clock.advance(seconds=(end - clock()).total_seconds())
        assert ledger.balance(an) == 0
        ledger.process_due()
        expired = [r.points for r in ledger.statement(an) if r.kind == "expire"]
        assert sum(expired) == -450


def test_a_multiplier_is_from_1_to_1000_and_anything_but_a_number_is_refused_by_name() -> None:
    assert Decimal(1000) == campaign(multiplier=1000).multiplier
    assert Decimal(1) == campaign(multiplier=" 1 ").multiplier
    for bad in (1001, Decimal("1000.01"), Decimal("0.99"), 0):
        with pytest.raises(
            InvalidInput,
            match=f"multiplier must be at (least 1|most 1000), not {re.escape(repr(bad))}",
        ):
            campaign(multiplier=bad)
    for wrong in (None, [2], True, 2.0, "x2", object()):
        with pytest.raises(InvalidInput, match="multiplier"):
            campaign(multiplier=wrong)


def test_a_multiplier_multiplies_what_the_program_gives_the_customers_group(
    ledger: Ledger,
) -> None:
    """A program earning only for group VIP: a VIP's base points are doubled, a
    customer of another group has no base points to double."""
    ledger.configure_loyalty(
        LoyaltyProgram(
            money_per_point=Decimal(1000), point_value=Decimal(100), eligible_groups={"VIP"}
        )
    )
    ledger.add_campaign(campaign(multiplier=2))
    vip = ledger.register_customer(name="An", phones=["0901000001"], group="VIP")
    other = ledger.register_customer(name="Bình", phones=["0901000002"], group="Sỉ")
    day = T0 + timedelta(days=1)
    assert 500 == ledger.record_purchase(vip, "HD-1", Decimal(250_000), at=day)
    assert 0 == ledger.record_purchase(other, "HD-2", Decimal(250_000), at=day)
