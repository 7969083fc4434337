"""Loyalty rules the state machines do not reach: pinned one by one, on every store.

What a return the balance could not cover does to lifetime points, the tier
and a windowed tier; refusals of malformed program settings; which part of an
invoice earns; what a campaign counts and records; when points expire.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from uuid import UUID, uuid4

import attrs
import pytest

from referral_ledger import Campaign, InvalidInput, Ledger, LoyaltyProgram, PointsExpiry, Tier
from referral_ledger.aggregates.base import next_event
from referral_ledger.aggregates.campaign import (
    CampaignAdded,
    CampaignClosed,
    CampaignEnded,
    CampaignPointsReturned,
    CampaignPurchaseCounted,
    CampaignState,
    campaign_record_id,
    count_purchase,
    count_return,
    evolve_campaign,
)
from referral_ledger.aggregates.campaign import close as close_campaign
from referral_ledger.aggregates.campaign import end as end_campaign
from referral_ledger.aggregates.due import DueItem, due_item_id, evolve_due_item, handled
from referral_ledger.aggregates.lots import Lot
from referral_ledger.aggregates.loyalty import Invoice
from referral_ledger.aggregates.loyalty_account import LoyaltyAccount, expire, tier_points
from referral_ledger.aggregates.program import (
    LOYALTY_PROGRAM_ID,
    LoyaltyProgramConfigured,
    configure_loyalty,
)
from referral_ledger.aggregates.voucher import release as release_voucher_use
from referral_ledger.policies.campaigns import Standing, bonus_for
from referral_ledger.policies.expiry import MAX_DAYS, available_from, expires_at, parse_days
from referral_ledger.policies.loyalty import eligible_amount, redemption_value
from support import Clock

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


# --- windowed tiers and returns ----------------------------------------------------------

WINDOWED = LoyaltyProgram(
    money_per_point=Decimal(1000),
    point_value=Decimal(100),
    tiers=(Tier("Silver", 100),),
    tier_window_days=30,
)


def _window_points(ledger: Ledger, customer: UUID, program: LoyaltyProgram, at: datetime) -> int:
    account = ledger.loyalty_account(customer)
    return tier_points(account, program, at)


def test_a_return_takes_its_invoices_points_out_of_the_tier_window_and_only_those(
    ledger: Ledger, clock: Clock
) -> None:
    # A windowed tier goes by the points of the last N days net of returns: a
    # return owes back everything its invoice earned (taken from the balance,
    # or short because it was spent), from that invoice's earnings only.
    ledger.configure_loyalty(WINDOWED)
    customer = ledger.register_customer("Lê Thị Hoa", ["0912 345 678"])
    ledger.record_purchase(customer, "HD-1", 150_000)
    ledger.record_purchase(customer, "HD-2", 50_000)
    assert 200 == _window_points(ledger, customer, WINDOWED, clock.now)
    ledger.redeem_points(customer, 180, "R-1")

    ledger.return_purchase(customer, "HD-1", 100_000)  # owes 100: 20 taken, 80 short
    assert 100 == _window_points(ledger, customer, WINDOWED, clock.now)
    assert "Silver" == ledger.points_summary(customer).tier
    ledger.return_purchase(customer, "HD-1")  # owes the other 50, all short
    assert 50 == _window_points(ledger, customer, WINDOWED, clock.now)
    assert ledger.points_summary(customer).tier is None


def test_a_return_of_expired_points_takes_them_out_of_the_tier_window(
    ledger: Ledger, clock: Clock
) -> None:
    program = attrs.evolve(WINDOWED, expiry=PointsExpiry(1, "day"))
    ledger.configure_loyalty(program)
    customer = ledger.register_customer("Lê Thị Hoa", ["0912 345 678"])
    ledger.record_purchase(customer, "HD-1", 150_000)
    clock.advance(days=3)
    ledger.process_due()  # HD-1's 150 points expire; they still count for the tier
    ledger.record_purchase(customer, "HD-2", 50_000)
    assert 200 == _window_points(ledger, customer, program, clock.now)
    assert 50 == ledger.balance(customer)
    # Expired points are gone already: the return takes nothing from HD-2's 50.
    assert 0 == ledger.return_purchase(customer, "HD-1")
    assert 50 == ledger.balance(customer)
    assert 50 == _window_points(ledger, customer, program, clock.now)


def test_a_lot_that_never_expires_records_no_expiry() -> None:
    customer, at = uuid4(), START
    lot = Lot("HD-1", 10, at, at, expires_at=None)
    account = LoyaltyAccount(uuid4(), 1, customer, at, (lot,))
    invoice = Invoice(uuid4(), 1, customer, "HD-1", Decimal(10000), Decimal(0), 0, 10)
    assert [] == expire(account, invoice, "HD-1", at + timedelta(days=10_000))
    assert [] == expire(account, invoice, "HD-2", at)


def test_earnings_leave_the_tier_window_when_it_closes(ledger: Ledger, clock: Clock) -> None:
    ledger.configure_loyalty(WINDOWED)
    customer = ledger.register_customer("Lê Thị Hoa", ["0912 345 678"])
    ledger.record_purchase(customer, "HD-1", 150_000)
    clock.advance(days=20)
    ledger.record_purchase(customer, "HD-2", 50_000)
    assert 200 == _window_points(ledger, customer, WINDOWED, clock.now)
    clock.advance(days=11)  # HD-1 is 31 days old
    ledger.record_purchase(customer, "HD-3", 10_000)
    assert 60 == _window_points(ledger, customer, WINDOWED, clock.now)
    account = ledger.loyalty_account(customer)
    assert account is not None
    assert ["HD-2", "HD-3"] == [invoice for invoice, _, _ in account.window]


# --- campaigns ---------------------------------------------------------------------------


def test_the_fixed_bonus_goes_to_the_customers_nth_qualifying_purchase() -> None:
    every_third = Campaign(
        campaign_id="C3",
        name="Every third",
        starts_at=START,
        ends_at=START + timedelta(days=30),
        bonus_points=50,
        every_nth_purchase=3,
    )
    # `purchases`: the qualifying purchases counted before this one.
    bonuses = [bonus_for(every_third, 10, Standing(purchases=n)) for n in range(6)]
    assert [0, 0, 50, 0, 0, 50] == bonuses


def test_a_campaign_records_each_invoice_it_counts_and_what_a_return_takes_back(
    ledger: Ledger,
) -> None:
    ledger.configure_loyalty(LoyaltyProgram(money_per_point=1000, point_value=100))
    double = Campaign(
        campaign_id="X2",
        name="Double",
        starts_at=START,
        ends_at=START + timedelta(days=30),
        multiplier=2,
    )
    ledger.add_campaign(double)
    an = ledger.register_customer("An", ["0901000001"])
    binh = ledger.register_customer("Bình", ["0901000002"])
    at = START + timedelta(days=1)
    assert 2 == ledger.record_purchase(an, "HD-1", 1000, at=at)  # 1 base + 1 bonus
    assert 4 == ledger.record_purchase(binh, "HD-2", 2000, at=at)
    assert 1 == ledger.return_purchase(an, "HD-1", 500, at=at)

    events = ledger._store.events_of(campaign_record_id("X2"))
    counted = [
        (e.customer_id, e.invoice_id, e.points, e.total)
        for e in events
        if isinstance(e, CampaignPurchaseCounted | CampaignPointsReturned)
    ]
    assert [(an, "HD-1", 2, 2), (binh, "HD-2", 4, 4), (an, "HD-1", 1, 1)] == counted
    state = None
    for event in events:
        state = evolve_campaign(state, event)
    assert state is not None
    assert Standing(purchases=1, customer_bonus=1, granted=3) == state.standing(an)
    assert Standing(purchases=0, customer_bonus=0, granted=3) == state.standing(uuid4())


# --- expiry dates ------------------------------------------------------------------------

VIETNAM = timezone(timedelta(hours=7))


@pytest.mark.parametrize(
    ("earned", "expiry", "expires"),
    [
        # Rounded to the start of the next month, the next year after December.
        (datetime(2026, 11, 20, 3, tzinfo=UTC), PointsExpiry(0, "month"), datetime(2026, 12, 1)),
        (datetime(2026, 12, 20, 3, tzinfo=UTC), PointsExpiry(0, "month"), datetime(2027, 1, 1)),
        (datetime(2026, 12, 20, 3, tzinfo=UTC), PointsExpiry(15, "month"), datetime(2027, 2, 1)),
        (datetime(2026, 12, 31, 3, tzinfo=UTC), PointsExpiry(0, "day"), datetime(2027, 1, 1)),
        (datetime(2026, 6, 5, 3, tzinfo=UTC), PointsExpiry(0, "year"), datetime(2027, 1, 1)),
        # 20:00 UTC on 30 November is 03:00 on 1 December in Vietnam: December's points.
        (datetime(2026, 11, 30, 20, tzinfo=UTC), PointsExpiry(0, "month"), datetime(2027, 1, 1)),
    ],
)
def test_points_expire_at_the_start_of_the_next_business_day_month_or_year(
    earned: datetime, expiry: PointsExpiry, expires: datetime
) -> None:
    assert expires.replace(tzinfo=VIETNAM) == expires_at(earned, expiry, VIETNAM)


def test_a_closed_campaign_ranks_best_first_and_ties_to_who_reached_the_figure_first() -> None:
    race = Campaign(
        campaign_id="RACE", name="Race", starts_at=START, ends_at=START + timedelta(days=30)
    )
    now = START + timedelta(days=1)
    an, binh, chi = uuid4(), uuid4(), uuid4()
    origin = next_event(None, now, record_id=campaign_record_id("RACE"))
    state = evolve_campaign(None, CampaignAdded(**origin, campaign=race, at=now))

    def count(customer: UUID, invoice: str, points: int) -> CampaignState:
        event = count_purchase(
            state,
            customer_id=customer,
            invoice_id=invoice,
            base_points=points,
            bonus=0,
            points=points,
            at=now,
            now=now,
        )
        return evolve_campaign(state, event)

    state = count(an, "HD-1", 100)
    state = count(binh, "HD-2", 100)
    state = count(chi, "HD-3", 200)
    state = count(an, "HD-4", 100)  # An reaches 200 after Chi did
    state = count(binh, "HD-5", 50)
    assert 6 == state.version
    assert [(chi, 200), (an, 200), (binh, 150)] == state.ranking()
    assert Standing(purchases=2, customer_bonus=0, granted=0) == state.standing(binh)
    # An falls back to 150, the figure Bình reached first: Bình is ahead.
    [returned] = count_return(state, customer_id=an, invoice_id="HD-1", points=50, at=now, now=now)
    state = evolve_campaign(state, returned)
    assert 7 == state.version
    assert Standing(purchases=2, customer_bonus=0, granted=0) == state.standing(an)
    # Ending early names the campaign; an end at or after the current one records nothing.
    [ended] = end_campaign(state, START + timedelta(days=20), now)
    assert isinstance(ended, CampaignEnded)
    assert ("RACE", START + timedelta(days=20)) == (ended.campaign_id, ended.at)
    assert [] == end_campaign(state, START + timedelta(days=30), now)
    [closed] = close_campaign(state, START + timedelta(days=30), now)
    assert isinstance(closed, CampaignClosed)
    assert "RACE" == closed.campaign_id
    assert ((chi, 200), (binh, 150), (an, 150)) == closed.ranking
    state = evolve_campaign(state, closed)
    assert (8, True) == (state.version, state.closed)
    assert [] == close_campaign(state, START + timedelta(days=30), now)


def test_a_redemption_worth_exactly_the_money_limit_is_accepted_and_one_point_more_refused() -> (
    None
):
    program = LoyaltyProgram(money_per_point=10000, point_value=1000)
    limit_points = 10**15 // 1000
    assert Decimal(10**15) == redemption_value(program, limit_points)
    with pytest.raises(InvalidInput, match=f"{limit_points + 1} points"):
        redemption_value(program, limit_points + 1)


# --- vouchers ----------------------------------------------------------------------------


def test_releasing_a_voucher_use_that_is_not_there_records_nothing() -> None:
    assert [] == release_voucher_use(None, "HD-1", START, START)


@pytest.mark.parametrize("days", [0, 1, 7])
def test_pending_points_become_available_after_whole_business_days(days: int) -> None:
    # 20:00 UTC is 03:00 the next day in Vietnam: days are counted on the business clock.
    earned = datetime(2026, 3, 7, 20, tzinfo=UTC)
    expected = earned + timedelta(days=days)
    assert expected == available_from(earned, days, VIETNAM)


def test_a_number_of_days_at_the_limit_is_accepted_and_one_more_refused() -> None:
    assert MAX_DAYS == parse_days(MAX_DAYS, "pending_days")
    with pytest.raises(InvalidInput, match=f"pending_days must be at most {MAX_DAYS}"):
        parse_days(MAX_DAYS + 1, "pending_days")


# --- due items ---------------------------------------------------------------------------


def test_a_handled_due_item_records_its_job_item_and_times() -> None:
    due_at, now = START, START + timedelta(hours=1)
    [event] = handled("tier-window", "c-1", due_at, now)
    item = evolve_due_item(None, event)
    assert DueItem(due_item_id("tier-window", "c-1"), 1, "tier-window", "c-1", due_at, now) == item
    # A due item is handled once: its record has no second event.
    with pytest.raises(TypeError):
        evolve_due_item(item, event)


# --- program configurations --------------------------------------------------------------


def test_a_configuration_records_the_business_time_it_was_given_else_the_time_recorded(
    ledger: Ledger, clock: Clock
) -> None:
    # `at` is the business moment of the decision (a manager's change entered
    # a day late): it is recorded as given, not replaced by the recording time.
    decided = clock() - timedelta(days=1)
    ledger.configure_loyalty(SILVER_AT_10, at=decided)
    clock.advance(hours=1)
    ledger.configure_loyalty(attrs.evolve(SILVER_AT_10, pending_days=3))
    [first, second] = ledger._store.events_of(LOYALTY_PROGRAM_ID)
    assert isinstance(first, LoyaltyProgramConfigured)
    assert isinstance(second, LoyaltyProgramConfigured)
    assert (decided, START) == (first.at, first.timestamp)
    assert (START + timedelta(hours=1),) * 2 == (second.at, second.timestamp)
    # The decision itself, given no business time, takes the recording time.
    [event] = configure_loyalty(None, SILVER_AT_10, START)
    assert isinstance(event, LoyaltyProgramConfigured) and START == event.at
