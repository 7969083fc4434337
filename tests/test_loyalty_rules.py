"""Loyalty rules the state machines do not reach: pinned one by one, on every store.

What a return the balance could not cover does to lifetime points and the
tier, refusals of malformed program settings, and which part of an invoice
earns.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal
from uuid import UUID

import pytest

from referral_ledger import InvalidInput, Ledger, LoyaltyProgram, Tier
from referral_ledger.policies.loyalty import eligible_amount

START = datetime(2026, 1, 1, 8, 0, tzinfo=UTC)

#: 10,000 per point; Silver from 10 lifetime points.
SILVER_AT_10 = LoyaltyProgram(
    money_per_point=Decimal(10000), point_value=Decimal(1000), tiers=(Tier("Silver", 10),)
)


def test_a_return_the_balance_cannot_cover_still_takes_back_all_its_lifetime_points(
    ledger: Ledger,
) -> None:
    # Lifetime points are what purchases earned net of returns: a return owes
    # back everything its invoice earned, whether the balance still holds it
    # (taken back) or it was spent already (the shortfall).
    ledger.configure_loyalty(SILVER_AT_10)
    customer = ledger.register_customer("Nguyễn Văn An", ["0912345678"])
    ledger.record_purchase(customer, "INV-1", 105000)
    ledger.record_purchase(customer, "INV-2", 50000)
    assert (15, "Silver") == _lifetime_and_tier(ledger, customer)
    ledger.redeem_points(customer, 12, "R-1")

    assert 3 == ledger.return_purchase(customer, "INV-1")  # 3 taken, 7 short

    assert 0 == ledger.balance(customer)
    assert (5, None) == _lifetime_and_tier(ledger, customer)
    summary = ledger.points_summary(customer)
    assert (0, 5, None) == (summary.available, summary.lifetime_points, summary.tier)


def _lifetime_and_tier(ledger: Ledger, customer: UUID) -> tuple[int, str | None]:
    account = ledger.loyalty_account(customer)
    assert account is not None
    return account.lifetime_points, account.tier


@pytest.mark.parametrize(
    ("tiers", "named"),
    [(5, "not 5"), (None, "not None"), (Tier("Gold", 10), "Gold"), ("Gold", "'G'")],
    ids=["int", "None", "one Tier", "str"],
)
def test_tiers_that_are_not_a_sequence_of_tier_are_invalid_input(tiers: object, named: str) -> None:
    with pytest.raises(InvalidInput, match=f"^tiers must .*{re.escape(named)}"):
        LoyaltyProgram(money_per_point=10000, point_value=1000, tiers=tiers)


def test_a_tier_list_holding_something_else_names_it() -> None:
    with pytest.raises(InvalidInput, match="'Gold'"):
        LoyaltyProgram(money_per_point=10000, point_value=1000, tiers=[Tier("A", 1), "Gold"])


def test_an_invoice_paid_with_points_earns_nothing_unless_the_program_says_so() -> None:
    program = LoyaltyProgram(money_per_point=10000, point_value=1000)
    amount = Decimal(105000)
    assert Decimal(0) == eligible_amount(program, amount, Decimal(0), 1, None)
    assert amount == eligible_amount(program, amount, Decimal(0), 0, None)
    generous = LoyaltyProgram(
        money_per_point=10000, point_value=1000, earn_on_invoices_paid_with_points=True
    )
    assert amount == eligible_amount(generous, amount, Decimal(0), 1, None)


def test_only_the_undiscounted_part_earns_when_discounted_items_do_not() -> None:
    program = LoyaltyProgram(
        money_per_point=10000, point_value=1000, earn_on_discounted_items=False
    )
    assert Decimal(75000) == eligible_amount(program, Decimal(105000), Decimal(30000), 0, None)
    gold_only = LoyaltyProgram(money_per_point=10000, point_value=1000, eligible_groups={"gold"})
    assert Decimal(0) == eligible_amount(gold_only, Decimal(105000), Decimal(0), 0, "silver")
    assert Decimal(0) == eligible_amount(gold_only, Decimal(105000), Decimal(0), 0, None)
    assert Decimal(105000) == eligible_amount(gold_only, Decimal(105000), Decimal(0), 0, "gold")
