"""The loyalty points ledger through the public API, on every store.

Each test opens a fresh ledger on memory, SQLite and PostgreSQL (`store_url`)
with a fake clock, and checks exact figures.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

import pytest

from referral_ledger import (
    InvalidInput,
    Ledger,
    LedgerError,
    LoyaltyProgram,
    NotFound,
    ProgramNotConfigured,
    RedemptionRefused,
    Tier,
)
from referral_ledger.aggregates.base import Event
from referral_ledger.aggregates.loyalty import (
    PointsEarned,
    PointsTakenBack,
    TierChanged,
    account_id,
)
from support import Clock

START = datetime(2026, 1, 1, 8, 0, tzinfo=UTC)


# --- customers -------------------------------------------------------------

_phones = itertools.count(random.randrange(1_000_000, 8_000_000))


def new_customer(ledger: Ledger, group: str | None = None) -> UUID:
    """A registered customer of `ledger` in `group`, with a phone of its own."""
    return ledger.register_customer(
        name="Nguyễn Văn An", phones=[f"091{next(_phones):07d}"], group=group
    )


def buy(
    ledger: Ledger,
    customer: UUID,
    invoice_id: str,
    amount: Any,
    discounted_amount: Any = Decimal(0),
    points_used: Any = 0,
    at: Any = None,
) -> int:
    """`record_purchase`, loosely typed so that bad input reaches it unchanged."""
    return ledger.record_purchase(customer, invoice_id, amount, discounted_amount, points_used, at)


# --- fixtures --------------------------------------------------------------

STANDARD = LoyaltyProgram(money_per_point=Decimal(10000), point_value=Decimal(1000))


@pytest.fixture
def configured(ledger: Ledger) -> Ledger:
    """A ledger whose program is STANDARD: 10,000 per point, a point worth 1,000."""
    ledger.configure_loyalty(STANDARD)
    return ledger


def account_events(ledger: Ledger, customer: UUID) -> list[Event]:
    return ledger._store.events_of(account_id(customer))


# --- earning, redeeming, returning ------------------------------------------


def test_purchase_earns_floor_of_amount_over_money_per_point(configured: Ledger) -> None:
    customer = new_customer(configured)
    assert 10 == buy(configured, customer, "INV-1", Decimal("105000"))
    assert 9 == buy(configured, customer, "INV-2", 99999)
    assert 0 == buy(configured, customer, "INV-3", "9999")
    assert 19 == configured.balance(customer)
    account = configured.loyalty_account(customer)
    assert account is not None
    assert (3, 19) == (account.purchase_count, account.lifetime_points)


def test_unknown_customer_has_zero_balance_and_empty_statement(configured: Ledger) -> None:
    customer = new_customer(configured)
    assert 0 == configured.balance(customer)
    assert [] == configured.statement(customer)


def test_redeem_returns_money_value_and_lowers_balance(configured: Ledger) -> None:
    customer = new_customer(configured)
    buy(configured, customer, "INV-1", 250000)
    assert Decimal(10000) == configured.redeem_points(customer, 10, "R-1")
    assert 15 == configured.balance(customer)


def test_redeeming_the_whole_balance_leaves_zero(configured: Ledger) -> None:
    customer = new_customer(configured)
    buy(configured, customer, "INV-1", 250000)
    assert Decimal(25000) == configured.redeem_points(customer, 25, "R-1")
    assert 0 == configured.balance(customer)


def test_accounts_are_separate(configured: Ledger) -> None:
    alice, bob = new_customer(configured), new_customer(configured)
    buy(configured, alice, "INV-A", 100000)
    buy(configured, bob, "INV-B", 300000)
    configured.redeem_points(bob, 5, "R-B")
    assert (10, 25) == (configured.balance(alice), configured.balance(bob))


def test_statement_lists_every_movement_oldest_first_with_running_balance(
    configured: Ledger, clock: Clock
) -> None:
    customer = new_customer(configured)
    bought_at = clock.advance(minutes=1)
    buy(configured, customer, "INV-1", 105000)
    clock.advance(minutes=1)
    configured.redeem_points(customer, 3, "R-1")
    clock.advance(minutes=1)
    configured.return_purchase(customer, "INV-1", Decimal(52500))
    rows = configured.statement(customer)
    assert [("earn", 10, 10, "INV-1"), ("redeem", -3, 7, "R-1"), ("return", -5, 2, "INV-1")] == [
        (r.kind, r.points, r.balance, r.reference) for r in rows
    ]
    assert bought_at == rows[0].at
    assert configured.balance(customer) == sum(r.points for r in rows)


def test_business_time_is_kept_apart_from_recording_time(configured: Ledger, clock: Clock) -> None:
    customer = new_customer(configured)
    yesterday = clock.now - timedelta(days=1)
    buy(configured, customer, "INV-1", 105000, at=yesterday)
    [row] = configured.statement(customer)
    assert (yesterday, clock.now) == (row.at, row.recorded_at)


def test_discounted_items_earn_nothing_when_configured(ledger: Ledger) -> None:
    ledger.configure_loyalty(
        LoyaltyProgram(money_per_point=10000, point_value=1000, earn_on_discounted_items=False)
    )
    customer = new_customer(ledger)
    assert 5 == buy(ledger, customer, "INV-1", 105000, discounted_amount=50000)
    [earned] = [e for e in account_events(ledger, customer) if isinstance(e, PointsEarned)]
    assert Decimal(55000) == earned.eligible_amount


def test_invoices_paid_with_points_earn_nothing_unless_enabled(ledger: Ledger) -> None:
    ledger.configure_loyalty(STANDARD)
    customer = new_customer(ledger)
    assert 0 == buy(ledger, customer, "INV-1", 105000, points_used=2)
    ledger.configure_loyalty(
        LoyaltyProgram(
            money_per_point=10000, point_value=1000, earn_on_invoices_paid_with_points=True
        )
    )
    assert 10 == buy(ledger, customer, "INV-2", 105000, points_used=2)
    # record_purchase itself deducts nothing for points_used.
    assert 10 == ledger.balance(customer)


def test_only_customers_in_eligible_groups_earn(ledger: Ledger) -> None:
    ledger.configure_loyalty(
        LoyaltyProgram(money_per_point=10000, point_value=1000, eligible_groups={"gold"})
    )
    gold = new_customer(ledger, group="gold")
    retail = new_customer(ledger, group="retail")
    nobody = new_customer(ledger)
    assert 10 == buy(ledger, gold, "INV-G", 105000)
    assert 0 == buy(ledger, retail, "INV-R", 105000)
    assert 0 == buy(ledger, nobody, "INV-N", 105000)


def test_zero_point_purchase_still_counts_as_a_purchase(configured: Ledger) -> None:
    customer = new_customer(configured)
    assert 0 == buy(configured, customer, "INV-1", 5000)
    account = configured.loyalty_account(customer)
    assert account is not None
    assert 1 == account.purchase_count


# --- idempotency -------------------------------------------------------------


def test_same_invoice_twice_returns_first_result_and_records_nothing(configured: Ledger) -> None:
    customer = new_customer(configured)
    assert 10 == buy(configured, customer, "INV-1", 105000)
    count = configured.event_count()
    assert 10 == buy(configured, customer, "INV-1", "105000.00")
    assert count == configured.event_count()
    assert 10 == configured.balance(customer)


def test_same_invoice_after_reconfiguration_still_returns_what_it_earned(
    configured: Ledger,
) -> None:
    customer = new_customer(configured)
    assert 10 == buy(configured, customer, "INV-1", 105000)
    configured.configure_loyalty(LoyaltyProgram(money_per_point=1000, point_value=1000))
    count = configured.event_count()
    assert 10 == buy(configured, customer, "INV-1", 105000)
    assert count == configured.event_count()


@pytest.mark.parametrize(
    "changed",
    [
        {"amount": 105001},
        {"discounted_amount": 1},
        {"points_used": 1},
        {"customer": "other"},
    ],
    ids=["amount", "discounted_amount", "points_used", "customer"],
)
def test_same_invoice_with_other_figures_is_refused_and_records_nothing(
    configured: Ledger, changed: dict[str, Any]
) -> None:
    customer = new_customer(configured)
    buy(configured, customer, "INV-1", 105000)
    figures: dict[str, Any] = {"amount": 105000, "discounted_amount": 0, "points_used": 0}
    figures |= changed
    who = new_customer(configured) if figures.pop("customer", None) else customer
    count = configured.event_count()
    with pytest.raises(InvalidInput, match="INV-1"):
        buy(configured, who, "INV-1", **figures)
    assert count == configured.event_count()
    assert 10 == configured.balance(customer)


def test_same_redemption_twice_returns_first_value_and_records_nothing(
    configured: Ledger,
) -> None:
    customer = new_customer(configured)
    buy(configured, customer, "INV-1", 105000)
    assert Decimal(4000) == configured.redeem_points(customer, 4, "R-1")
    count = configured.event_count()
    assert Decimal(4000) == configured.redeem_points(customer, 4, "R-1")
    assert count == configured.event_count()
    assert 6 == configured.balance(customer)


def test_repeated_redemption_is_acknowledged_even_when_balance_no_longer_covers_it(
    configured: Ledger,
) -> None:
    """A retry of a redemption that went through must not be refused as a new one."""
    customer = new_customer(configured)
    buy(configured, customer, "INV-1", 105000)
    configured.redeem_points(customer, 8, "R-1")
    assert Decimal(8000) == configured.redeem_points(customer, 8, "R-1")
    assert 2 == configured.balance(customer)


def test_same_redemption_with_other_points_or_customer_is_refused(configured: Ledger) -> None:
    customer, other = new_customer(configured), new_customer(configured)
    buy(configured, customer, "INV-1", 105000)
    buy(configured, other, "INV-2", 105000)
    configured.redeem_points(customer, 4, "R-1")
    count = configured.event_count()
    with pytest.raises(InvalidInput, match="R-1"):
        configured.redeem_points(customer, 5, "R-1")
    with pytest.raises(InvalidInput, match="R-1"):
        configured.redeem_points(other, 4, "R-1")
    assert count == configured.event_count()
    assert (6, 10) == (configured.balance(customer), configured.balance(other))


# --- returns -----------------------------------------------------------------


def test_full_return_takes_back_everything_the_invoice_earned(configured: Ledger) -> None:
    customer = new_customer(configured)
    buy(configured, customer, "INV-1", 105000)
    buy(configured, customer, "INV-2", 30000)
    assert 10 == configured.return_purchase(customer, "INV-1")
    assert 3 == configured.balance(customer)


def test_partial_returns_take_back_in_proportion_and_add_up_to_the_full_return(
    configured: Ledger,
) -> None:
    customer = new_customer(configured)
    buy(configured, customer, "INV-1", 105000)
    # Cumulative floor: 10*50000/105000 = 4.76 → 4; 10*100000/105000 = 9.52 → 9; all → 10.
    assert 4 == configured.return_purchase(customer, "INV-1", 50000)
    assert 5 == configured.return_purchase(customer, "INV-1", Decimal(50000))
    assert 1 == configured.return_purchase(customer, "INV-1", "5000")
    assert 0 == configured.balance(customer)


def test_return_of_the_rest_with_no_amount(configured: Ledger) -> None:
    customer = new_customer(configured)
    buy(configured, customer, "INV-1", 105000)
    assert 4 == configured.return_purchase(customer, "INV-1", 50000)
    assert 6 == configured.return_purchase(customer, "INV-1")
    assert 0 == configured.balance(customer)


def test_returning_more_than_is_left_is_refused(configured: Ledger) -> None:
    customer = new_customer(configured)
    buy(configured, customer, "INV-1", 105000)
    configured.return_purchase(customer, "INV-1", 100000)
    count = configured.event_count()
    with pytest.raises(InvalidInput, match="5000"):
        configured.return_purchase(customer, "INV-1", 5001)
    configured.return_purchase(customer, "INV-1")
    count = configured.event_count()
    with pytest.raises(InvalidInput, match="INV-1"):
        configured.return_purchase(customer, "INV-1")
    with pytest.raises(InvalidInput, match="INV-1"):
        configured.return_purchase(customer, "INV-1", 1)
    assert count == configured.event_count()
    assert 0 == configured.balance(customer)


def test_returning_an_unknown_invoice_is_not_found(configured: Ledger) -> None:
    customer = new_customer(configured)
    count = configured.event_count()
    with pytest.raises(NotFound, match="INV-404"):
        configured.return_purchase(customer, "INV-404")
    with pytest.raises(NotFound, match="INV-404"):
        configured.return_purchase(customer, "INV-404", 1)
    assert count == configured.event_count()


def test_returning_another_customers_invoice_is_refused(configured: Ledger) -> None:
    customer, other = new_customer(configured), new_customer(configured)
    buy(configured, customer, "INV-1", 105000)
    count = configured.event_count()
    with pytest.raises(InvalidInput, match="INV-1"):
        configured.return_purchase(other, "INV-1")
    assert count == configured.event_count()
    assert 10 == configured.balance(customer)


def test_return_after_points_were_spent_records_the_shortfall_and_stops_at_zero(
    configured: Ledger,
) -> None:
    customer = new_customer(configured)
    buy(configured, customer, "INV-1", 105000)
    configured.redeem_points(customer, 8, "R-1")
    assert 2 == configured.return_purchase(customer, "INV-1")
    assert 0 == configured.balance(customer)
    [taken] = [e for e in account_events(configured, customer) if isinstance(e, PointsTakenBack)]
    assert (2, 8) == (taken.points, taken.shortfall)
    assert [10, -8, -2] == [row.points for row in configured.statement(customer)]


def test_return_takes_back_what_the_invoice_earned_not_what_the_new_program_would(
    configured: Ledger,
) -> None:
    customer = new_customer(configured)
    buy(configured, customer, "INV-1", 105000)
    configured.configure_loyalty(LoyaltyProgram(money_per_point=1000, point_value=1000))
    buy(configured, customer, "INV-2", 5000)
    assert 10 == configured.return_purchase(customer, "INV-1")
    assert 5 == configured.balance(customer)


# --- program configuration -----------------------------------------------------


def test_commands_before_any_program_raise_program_not_configured(ledger: Ledger) -> None:
    customer = new_customer(ledger)
    count = ledger.event_count()
    with pytest.raises(ProgramNotConfigured):
        buy(ledger, customer, "INV-1", 105000)
    with pytest.raises(ProgramNotConfigured):
        ledger.redeem_points(customer, 1, "R-1")
    with pytest.raises(ProgramNotConfigured):
        ledger.loyalty_program()
    assert count == ledger.event_count()
    assert 0 == ledger.balance(customer)


def test_configure_returns_successive_versions_and_program_reads_back(ledger: Ledger) -> None:
    second = LoyaltyProgram(
        money_per_point="5000",
        point_value=500,
        min_purchases_before_redeem=2,
        min_remaining_points=3,
        earn_on_discounted_items=False,
        earn_on_invoices_paid_with_points=True,
        eligible_groups=frozenset({"gold", "silver"}),
        tiers=(Tier("VIP", 1000), Tier("Silver", 100)),
    )
    assert 1 == ledger.configure_loyalty(STANDARD)
    assert 2 == ledger.configure_loyalty(second)
    assert second == ledger.loyalty_program()


def test_configure_refuses_anything_but_a_program(ledger: Ledger) -> None:
    with pytest.raises(InvalidInput):
        ledger.configure_loyalty({"money_per_point": 10000})  # type: ignore[arg-type]
    assert 0 == ledger.event_count()


def test_reconfiguring_never_changes_points_already_earned(configured: Ledger) -> None:
    customer = new_customer(configured)
    assert 10 == buy(configured, customer, "INV-1", 105000)
    configured.configure_loyalty(LoyaltyProgram(money_per_point=5000, point_value=1000))
    assert 21 == buy(configured, customer, "INV-2", 105000)
    assert 31 == configured.balance(customer)
    earned = [e for e in account_events(configured, customer) if isinstance(e, PointsEarned)]
    assert [(10, 1), (21, 2)] == [(e.points, e.program_version) for e in earned]


# --- redemption rules ----------------------------------------------------------


def test_redemption_refused_until_more_purchases_than_the_minimum(ledger: Ledger) -> None:
    ledger.configure_loyalty(
        LoyaltyProgram(money_per_point=10000, point_value=1000, min_purchases_before_redeem=1)
    )
    customer = new_customer(ledger)
    buy(ledger, customer, "INV-1", 105000)
    count = ledger.event_count()
    with pytest.raises(RedemptionRefused, match="needs at least 2 purchases; the customer has 1"):
        ledger.redeem_points(customer, 1, "R-1")
    assert count == ledger.event_count()
    buy(ledger, customer, "INV-2", 10000)
    assert Decimal(1000) == ledger.redeem_points(customer, 1, "R-1")


def test_redemption_refused_when_it_would_leave_less_than_min_remaining(ledger: Ledger) -> None:
    ledger.configure_loyalty(
        LoyaltyProgram(money_per_point=10000, point_value=1000, min_remaining_points=3)
    )
    customer = new_customer(ledger)
    buy(ledger, customer, "INV-1", 105000)
    count = ledger.event_count()
    with pytest.raises(RedemptionRefused, match="3"):
        ledger.redeem_points(customer, 8, "R-1")
    assert count == ledger.event_count()
    assert Decimal(7000) == ledger.redeem_points(customer, 7, "R-1")
    assert 3 == ledger.balance(customer)


def test_redemption_refused_when_balance_is_too_small(configured: Ledger) -> None:
    customer = new_customer(configured)
    newcomer = new_customer(configured)
    buy(configured, customer, "INV-1", 105000)
    count = configured.event_count()
    with pytest.raises(RedemptionRefused, match="11"):
        configured.redeem_points(customer, 11, "R-1")
    with pytest.raises(RedemptionRefused):
        configured.redeem_points(newcomer, 1, "R-2")
    assert count == configured.event_count()
    assert 10 == configured.balance(customer)


def test_a_refused_redemption_id_can_be_used_later(configured: Ledger) -> None:
    customer = new_customer(configured)
    buy(configured, customer, "INV-1", 105000)
    with pytest.raises(RedemptionRefused):
        configured.redeem_points(customer, 15, "R-1")
    buy(configured, customer, "INV-2", 50000)
    assert Decimal(15000) == configured.redeem_points(customer, 15, "R-1")


# --- tiers ---------------------------------------------------------------------


def test_tiers_follow_lifetime_points_and_each_change_is_an_event(ledger: Ledger) -> None:
    ledger.configure_loyalty(
        LoyaltyProgram(
            money_per_point=10000,
            point_value=1000,
            tiers=(Tier("Silver", 10), Tier("Gold", 30)),
        )
    )
    customer = new_customer(ledger)

    def tier() -> str | None:
        account = ledger.loyalty_account(customer)
        return account.tier if account else None

    buy(ledger, customer, "INV-1", 90000)
    assert None is tier()
    buy(ledger, customer, "INV-2", 10000)
    assert "Silver" == tier()
    # Redeeming spends points but not lifetime points: the tier stays.
    ledger.redeem_points(customer, 10, "R-1")
    assert "Silver" == tier()
    buy(ledger, customer, "INV-3", 200000)
    assert "Gold" == tier()
    # A return takes lifetime points back, and may lower the tier.
    ledger.return_purchase(customer, "INV-3", 100000)
    assert "Silver" == tier()
    changes = [e for e in account_events(ledger, customer) if isinstance(e, TierChanged)]
    assert [(None, "Silver", 10), ("Silver", "Gold", 30), ("Gold", "Silver", 20)] == [
        (e.previous_tier, e.tier, e.lifetime_points) for e in changes
    ]


# --- bad input -----------------------------------------------------------------

NAIVE = datetime(2026, 1, 1, 8, 0)

Command = Callable[[Ledger, UUID], object]

BAD_COMMANDS: list[tuple[str, Command, type[LedgerError]]] = [
    ("float amount", lambda lg, c: buy(lg, c, "INV-9", 105000.0), InvalidInput),
    ("NaN amount", lambda lg, c: buy(lg, c, "INV-9", Decimal("NaN")), InvalidInput),
    ("NaN str amount", lambda lg, c: buy(lg, c, "INV-9", "NaN"), InvalidInput),
    ("infinite amount", lambda lg, c: buy(lg, c, "INV-9", Decimal("Infinity")), InvalidInput),
    ("negative amount", lambda lg, c: buy(lg, c, "INV-9", -105000), InvalidInput),
    ("non-numeric amount", lambda lg, c: buy(lg, c, "INV-9", "lots"), InvalidInput),
    ("bool amount", lambda lg, c: buy(lg, c, "INV-9", True), InvalidInput),
    ("negative discount", lambda lg, c: buy(lg, c, "INV-9", 100, -1), InvalidInput),
    ("float discount", lambda lg, c: buy(lg, c, "INV-9", 100, 1.5), InvalidInput),
    ("discount over amount", lambda lg, c: buy(lg, c, "INV-9", 100, 101), InvalidInput),
    ("negative points_used", lambda lg, c: buy(lg, c, "INV-9", 100, 0, -1), InvalidInput),
    ("float points_used", lambda lg, c: buy(lg, c, "INV-9", 100, 0, 1.0), InvalidInput),
    ("naive purchase time", lambda lg, c: buy(lg, c, "INV-9", 100, at=NAIVE), InvalidInput),
    ("empty invoice_id", lambda lg, c: buy(lg, c, "", 100), InvalidInput),
    ("blank invoice_id", lambda lg, c: buy(lg, c, "   ", 100), InvalidInput),
    ("None invoice_id", lambda lg, c: buy(lg, c, None, 100), InvalidInput),  # type: ignore[arg-type]
    (
        "bad customer_id on purchase",
        lambda lg, c: lg.record_purchase("nope", "INV-9", 100),  # type: ignore[arg-type]
        InvalidInput,
    ),
    ("zero redemption", lambda lg, c: lg.redeem_points(c, 0, "R-9"), InvalidInput),
    ("negative redemption", lambda lg, c: lg.redeem_points(c, -1, "R-9"), InvalidInput),
    ("float redemption", lambda lg, c: lg.redeem_points(c, 1.0, "R-9"), InvalidInput),  # type: ignore[arg-type]
    ("bool redemption", lambda lg, c: lg.redeem_points(c, True, "R-9"), InvalidInput),
    ("empty redemption_id", lambda lg, c: lg.redeem_points(c, 1, ""), InvalidInput),
    ("naive redemption time", lambda lg, c: lg.redeem_points(c, 1, "R-9", NAIVE), InvalidInput),
    (
        "bad customer_id on redemption",
        lambda lg, c: lg.redeem_points("", 1, "R-9"),  # type: ignore[arg-type]
        InvalidInput,
    ),
    ("float return", lambda lg, c: lg.return_purchase(c, "INV-1", 5000.0), InvalidInput),  # type: ignore[arg-type]
    ("negative return", lambda lg, c: lg.return_purchase(c, "INV-1", -5000), InvalidInput),
    ("NaN return", lambda lg, c: lg.return_purchase(c, "INV-1", "NaN"), InvalidInput),
    ("zero return", lambda lg, c: lg.return_purchase(c, "INV-1", 0), InvalidInput),
    ("return over amount", lambda lg, c: lg.return_purchase(c, "INV-1", 105001), InvalidInput),
    ("empty return invoice_id", lambda lg, c: lg.return_purchase(c, ""), InvalidInput),
    ("naive return time", lambda lg, c: lg.return_purchase(c, "INV-1", at=NAIVE), InvalidInput),
    ("unknown invoice", lambda lg, c: lg.return_purchase(c, "INV-404"), NotFound),
    ("balance too small", lambda lg, c: lg.redeem_points(c, 11, "R-9"), RedemptionRefused),
    ("naive as_of", lambda lg, c: lg.balance(c, as_of=NAIVE), InvalidInput),
    ("naive program as_of", lambda lg, c: lg.loyalty_program(as_of=NAIVE), InvalidInput),
]


@pytest.mark.parametrize(
    ("command", "error"),
    [pytest.param(command, error, id=name) for name, command, error in BAD_COMMANDS],
)
def test_bad_input_raises_the_matching_error_and_records_nothing(
    configured: Ledger, command: Command, error: type[LedgerError]
) -> None:
    customer = new_customer(configured)
    buy(configured, customer, "INV-1", 105000)
    count = configured.event_count()
    with pytest.raises(error):
        command(configured, customer)
    assert count == configured.event_count()
    assert 10 == configured.balance(customer)
    assert 1 == len(configured.statement(customer))


def test_unknown_customer_is_not_found_and_records_nothing(configured: Ledger) -> None:
    stranger = uuid4()
    count = configured.event_count()
    with pytest.raises(NotFound, match=str(stranger)):
        configured.record_purchase(stranger, "INV-1", 105000)
    with pytest.raises(NotFound, match=str(stranger)):
        configured.redeem_points(stranger, 1, "R-1")
    with pytest.raises(NotFound, match=str(stranger)):
        configured.return_purchase(stranger, "INV-1")
    assert count == configured.event_count()


# --- as_of ---------------------------------------------------------------------


def test_balance_as_of_answers_as_the_ledger_stood_then(configured: Ledger, clock: Clock) -> None:
    customer = new_customer(configured)
    before = clock.advance(hours=1)
    clock.advance(hours=1)
    buy(configured, customer, "INV-1", 105000)
    after_purchase = clock.advance(hours=1)
    clock.advance(hours=1)
    configured.redeem_points(customer, 4, "R-1")
    after_redemption = clock.advance(hours=1)
    clock.advance(hours=1)
    configured.return_purchase(customer, "INV-1", 52500)
    assert 0 == configured.balance(customer, as_of=before)
    assert 10 == configured.balance(customer, as_of=after_purchase)
    assert 6 == configured.balance(customer, as_of=after_redemption)
    assert 1 == configured.balance(customer)
    assert 1 == configured.balance(customer, as_of=clock.now)


def test_balance_as_of_accepts_any_timezone(configured: Ledger, clock: Clock) -> None:
    customer = new_customer(configured)
    clock.advance(hours=1)
    buy(configured, customer, "INV-1", 105000)
    hanoi = clock.now.astimezone(datetime.now().astimezone().tzinfo)
    assert 10 == configured.balance(customer, as_of=hanoi)
    assert 0 == configured.balance(customer, as_of=hanoi - timedelta(seconds=1))


def test_loyalty_program_as_of_answers_which_rules_applied_then(
    ledger: Ledger, clock: Clock
) -> None:
    before_any = clock.now
    clock.advance(hours=1)
    ledger.configure_loyalty(STANDARD)
    first_in_force = clock.advance(hours=1)
    clock.advance(hours=1)
    generous = LoyaltyProgram(money_per_point=1000, point_value=1000)
    ledger.configure_loyalty(generous)
    assert STANDARD == ledger.loyalty_program(as_of=first_in_force)
    assert generous == ledger.loyalty_program(as_of=clock.now)
    assert generous == ledger.loyalty_program()
    with pytest.raises(ProgramNotConfigured):
        ledger.loyalty_program(as_of=before_any)


# --- durability ----------------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgres"])
def durable_url(request: pytest.FixtureRequest) -> str:
    if request.param == "sqlite":
        url: str = request.getfixturevalue("sqlite_url")
    else:
        url = request.getfixturevalue("fresh_pg_url")
    return url


def test_reopening_a_durable_url_sees_everything(durable_url: str, clock: Clock) -> None:
    with Ledger.open(durable_url, clock=clock) as first:
        first.configure_loyalty(STANDARD)
        customer = new_customer(first)
        buy(first, customer, "INV-1", 105000)
        first.redeem_points(customer, 3, "R-1")
        first.return_purchase(customer, "INV-1", 52500)
        statement = first.statement(customer)
        count = first.event_count()
    with Ledger.open(durable_url, clock=clock) as second:
        assert count == second.event_count()
        assert STANDARD == second.loyalty_program()
        assert 2 == second.balance(customer)
        assert statement == second.statement(customer)
        # Idempotency survives the reopening: the ids are remembered by the store.
        assert 10 == buy(second, customer, "INV-1", 105000)
        assert Decimal(3000) == second.redeem_points(customer, 3, "R-1")
        assert count == second.event_count()


def test_two_ledgers_open_on_one_durable_url_see_each_others_writes(
    durable_url: str, clock: Clock
) -> None:
    with Ledger.open(durable_url, clock=clock) as one, Ledger.open(durable_url) as two:
        one.configure_loyalty(STANDARD)
        customer = new_customer(one)
        buy(one, customer, "INV-1", 105000)
        assert 10 == two.balance(customer)
        assert 10 == buy(two, customer, "INV-1", 105000)
        two.redeem_points(customer, 4, "R-1")
        assert 6 == one.balance(customer)
