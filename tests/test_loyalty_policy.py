"""The points arithmetic and the program settings, as pure functions with exact figures."""

from __future__ import annotations

import itertools
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from referral_ledger import InvalidInput, LoyaltyProgram, RedemptionRefused, Tier
from referral_ledger.policies.loyalty import (
    check_redemption,
    eligible_amount,
    points_for,
    points_to_take_back,
    redemption_value,
    tier_for,
)


def program(**settings: Any) -> LoyaltyProgram:
    """10,000 VND earns a point, a point is worth 1,000 VND; `settings` override."""
    base: dict[str, Any] = {"money_per_point": Decimal(10000), "point_value": Decimal(1000)}
    return LoyaltyProgram(**(base | settings))


def earned(
    rules: LoyaltyProgram,
    amount: int | str,
    discounted: int | str = 0,
    points_used: int = 0,
    group: str | None = None,
) -> int:
    eligible = eligible_amount(rules, Decimal(amount), Decimal(discounted), points_used, group)
    return points_for(rules, eligible)


# --- earning ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "expected"),
    [
        (105000, 10),
        (99999, 9),
        (100000, 10),
        (9999, 0),
        (0, 0),
        (10000, 1),
        ("19999.999999", 1),
        (10**15, 10**11),
    ],
)
def test_earning_is_floor_of_amount_over_money_per_point(amount: int | str, expected: int) -> None:
    assert expected == earned(program(), amount)


def test_earning_never_rounds_up_to_the_next_point() -> None:
    """29.999999 at 3 per point is 9.9999996…: 9 points, not 10."""
    assert 9 == earned(program(money_per_point=Decimal(3)), "29.999999")
    assert 0 == earned(program(money_per_point=Decimal("0.000003")), "0.000002")


def test_fractional_money_per_point() -> None:
    assert 3 == earned(program(money_per_point=Decimal("0.5")), "1.75")


def test_discounted_items_earn_by_default() -> None:
    assert 10 == earned(program(), 105000, discounted=50000)


def test_discounted_items_excluded_when_they_do_not_earn() -> None:
    rules = program(earn_on_discounted_items=False)
    assert 5 == earned(rules, 105000, discounted=50000)
    assert Decimal(55000) == eligible_amount(rules, Decimal(105000), Decimal(50000), 0, None)
    assert 0 == earned(rules, 105000, discounted=105000)


def test_invoices_paid_with_points_earn_nothing_by_default() -> None:
    rules = program()
    assert 0 == earned(rules, 105000, points_used=1)
    assert Decimal(0) == eligible_amount(rules, Decimal(105000), Decimal(0), 5, None)
    assert 10 == earned(rules, 105000, points_used=0)


def test_invoices_paid_with_points_earn_when_enabled() -> None:
    rules = program(earn_on_invoices_paid_with_points=True)
    assert 10 == earned(rules, 105000, points_used=3)


def test_paid_with_points_and_discount_rules_combine() -> None:
    rules = program(earn_on_invoices_paid_with_points=True, earn_on_discounted_items=False)
    assert 7 == earned(rules, 105000, discounted=30000, points_used=3)


def test_all_groups_earn_when_eligible_groups_is_none() -> None:
    rules = program()
    assert 10 == earned(rules, 105000, group=None)
    assert 10 == earned(rules, 105000, group="wholesale")


def test_only_eligible_groups_earn() -> None:
    rules = program(eligible_groups=frozenset({"gold", "silver"}))
    assert 10 == earned(rules, 105000, group="gold")
    assert 10 == earned(rules, 105000, group="silver")
    assert 0 == earned(rules, 105000, group="wholesale")
    assert 0 == earned(rules, 105000, group=None)


def test_empty_eligible_groups_means_nobody_earns() -> None:
    rules = program(eligible_groups=frozenset())
    assert 0 == earned(rules, 105000, group="gold")


def test_redemption_value_is_points_times_point_value() -> None:
    assert Decimal(25000) == redemption_value(program(), 25)
    assert Decimal("12.50") == redemption_value(program(point_value=Decimal("0.25")), 50)


# --- redeeming -------------------------------------------------------------


def test_redemption_allowed_within_the_rules() -> None:
    rules = program(min_purchases_before_redeem=2, min_remaining_points=10)
    check_redemption(rules, purchase_count=3, balance=100, points=90)


def test_redemption_refused_until_purchase_count_exceeds_minimum() -> None:
    rules = program(min_purchases_before_redeem=2)
    with pytest.raises(RedemptionRefused, match=r"needs at least 3 purchases; the customer has 2"):
        check_redemption(rules, purchase_count=2, balance=100, points=1)
    check_redemption(rules, purchase_count=3, balance=100, points=1)


@pytest.mark.parametrize(("setting", "count"), [(0, 0), (1, 0), (1, 1), (4, 3), (4, 4)])
def test_the_refusal_says_how_many_purchases_are_needed_plainly(setting: int, count: int) -> None:
    """The setting reads "more than N"; the refusal says the number a clerk can check."""
    needed = f"{setting + 1} purchase" + ("s" if setting else "")
    with pytest.raises(RedemptionRefused) as refused:
        check_redemption(
            program(min_purchases_before_redeem=setting), purchase_count=count, balance=9, points=1
        )
    assert f"redeeming needs at least {needed}; the customer has {count} " in str(refused.value)
    assert f"min_purchases_before_redeem={setting} means more than {setting}" in str(refused.value)


def test_redemption_with_zero_minimum_still_needs_one_purchase() -> None:
    """'More than 0 purchases' means at least one."""
    with pytest.raises(RedemptionRefused):
        check_redemption(program(), purchase_count=0, balance=100, points=1)


def test_redemption_refused_when_balance_would_go_below_min_remaining() -> None:
    rules = program(min_remaining_points=10)
    with pytest.raises(RedemptionRefused, match=r"leave 9.*at least 10"):
        check_redemption(rules, purchase_count=1, balance=100, points=91)
    check_redemption(rules, purchase_count=1, balance=100, points=90)


def test_redemption_refused_when_balance_is_too_small() -> None:
    with pytest.raises(RedemptionRefused, match=r"redeem 101.*balance is 100"):
        check_redemption(program(), purchase_count=1, balance=100, points=101)
    check_redemption(program(), purchase_count=1, balance=100, points=100)


# --- tiers -----------------------------------------------------------------


def test_tier_for_picks_the_highest_threshold_reached() -> None:
    rules = program(tiers=(Tier("VIP", 1000), Tier("Silver", 100), Tier("Gold", 500)))
    assert None is tier_for(rules, 0)
    assert None is tier_for(rules, 99)
    assert "Silver" == tier_for(rules, 100)
    assert "Silver" == tier_for(rules, 499)
    assert "Gold" == tier_for(rules, 500)
    assert "VIP" == tier_for(rules, 1000)
    assert "VIP" == tier_for(rules, 10**9)


def test_no_tiers_means_no_tier() -> None:
    assert None is tier_for(program(), 10**9)


def test_tiers_are_kept_sorted_by_threshold() -> None:
    rules = program(tiers=[Tier("VIP", 1000), Tier("Member", 0)])
    assert (Tier("Member", 0), Tier("VIP", 1000)) == rules.tiers
    assert "Member" == tier_for(rules, 0)


# --- returns ---------------------------------------------------------------


def take_back(earned: int, amount: int, before: int, now: int, taken: int) -> int:
    return points_to_take_back(
        earned=earned,
        invoice_amount=Decimal(amount),
        returned_before=Decimal(before),
        returned_now=Decimal(now),
        taken_before=taken,
    )


def test_full_return_takes_back_everything_earned() -> None:
    assert 10 == take_back(10, 105000, 0, 105000, 0)


def test_partial_return_takes_back_in_proportion_rounded_down() -> None:
    # 10 points * 50,000 / 105,000 = 4.76 → 4
    assert 4 == take_back(10, 105000, 0, 50000, 0)


def test_partial_returns_add_up_to_the_full_return() -> None:
    first = take_back(10, 105000, 0, 50000, 0)
    second = take_back(10, 105000, 50000, 50000, first)
    third = take_back(10, 105000, 100000, 5000, first + second)
    assert (4, 5, 1) == (first, second, third)
    assert 10 == first + second + third


def test_return_of_an_invoice_that_earned_nothing_takes_nothing() -> None:
    assert 0 == take_back(0, 105000, 0, 105000, 0)
    assert 0 == take_back(0, 0, 0, 0, 0)


@st.composite
def invoice_returns(draw: st.DrawFn) -> tuple[int, Decimal, list[Decimal]]:
    """An invoice (points earned, amount) and a split of its amount into several returns."""
    amount = draw(st.decimals(min_value=1, max_value=10**9, places=2))
    points = draw(st.integers(min_value=0, max_value=10**6))
    cuts = draw(
        st.lists(st.decimals(min_value=0, max_value=amount, places=2), max_size=6).map(sorted)
    )
    bounds = [Decimal(0), *cuts, amount]
    parts = [b - a for a, b in itertools.pairwise(bounds)]
    return points, amount, parts


@given(invoice_returns())
def test_partial_returns_sum_to_exactly_a_single_full_return(
    case: tuple[int, Decimal, list[Decimal]],
) -> None:
    """However a return is split, the points taken add up to the full return's, never more."""
    earned_points, amount, parts = case
    taken = 0
    returned = Decimal(0)
    for part in parts:
        step = points_to_take_back(
            earned=earned_points,
            invoice_amount=amount,
            returned_before=returned,
            returned_now=part,
            taken_before=taken,
        )
        assert 0 <= step
        taken += step
        returned += part
        assert taken <= earned_points
    full = points_to_take_back(
        earned=earned_points,
        invoice_amount=amount,
        returned_before=Decimal(0),
        returned_now=amount,
        taken_before=0,
    )
    assert earned_points == full
    assert full == taken


# --- program validation ----------------------------------------------------


def test_program_defaults_are_those_of_the_contract() -> None:
    rules = program()
    assert 0 == rules.min_purchases_before_redeem
    assert 0 == rules.min_remaining_points
    assert True is rules.earn_on_discounted_items
    assert False is rules.earn_on_invoices_paid_with_points
    assert None is rules.eligible_groups
    assert () == rules.tiers


def test_program_accepts_int_and_str_money() -> None:
    rules = LoyaltyProgram(money_per_point=10000, point_value="1000")
    assert (Decimal(10000), Decimal(1000)) == (rules.money_per_point, rules.point_value)


def test_program_point_value_may_be_zero() -> None:
    assert Decimal(0) == program(point_value=0).point_value


def test_eligible_groups_accepts_any_iterable_of_names() -> None:
    assert frozenset({"gold"}) == program(eligible_groups=["gold", " gold "]).eligible_groups


@pytest.mark.parametrize(
    ("settings", "fragment"),
    [
        ({"money_per_point": 0}, "money_per_point must be positive: 0"),
        ({"money_per_point": Decimal("-0")}, "money_per_point"),
        ({"money_per_point": -10000}, "-10000"),
        ({"money_per_point": 10000.0}, "10000.0"),
        ({"money_per_point": Decimal("NaN")}, "NaN"),
        ({"money_per_point": "Infinity"}, "Infinity"),
        ({"point_value": -1}, "point_value must not be negative: -1"),
        ({"point_value": 1000.0}, "1000.0"),
        ({"min_purchases_before_redeem": -1}, "min_purchases_before_redeem"),
        ({"min_purchases_before_redeem": 1.0}, "1.0"),
        ({"min_remaining_points": -5}, "-5"),
        ({"min_remaining_points": True}, "True"),
        ({"earn_on_discounted_items": 1}, "earn_on_discounted_items"),
        ({"earn_on_invoices_paid_with_points": "yes"}, "'yes'"),
        ({"eligible_groups": "gold"}, "'gold'"),
        ({"eligible_groups": ["gold", ""]}, "eligible_groups"),
        ({"tiers": Tier("VIP", 10)}, "tiers"),
        ({"tiers": [("VIP", 10)]}, "('VIP', 10)"),
        ({"tiers": [Tier("VIP", 10), Tier("VIP", 20)]}, "['VIP']"),
        ({"tiers": [Tier("VIP", 10), Tier(" VIP", 20)]}, "['VIP']"),
    ],
)
def test_program_refuses_out_of_range_settings_naming_the_value(
    settings: dict[str, Any], fragment: str
) -> None:
    with pytest.raises(InvalidInput) as raised:
        program(**settings)
    assert fragment in str(raised.value)


@pytest.mark.parametrize(
    ("name", "min_points", "fragment"),
    [("", 10, "tier name"), ("VIP", -1, "-1"), ("VIP", 1.5, "1.5"), (None, 1, "None")],
)
def test_tier_refuses_empty_names_and_bad_thresholds(
    name: Any, min_points: Any, fragment: str
) -> None:
    with pytest.raises(InvalidInput) as raised:
        Tier(name, min_points)
    assert fragment in str(raised.value)
