"""Extremes are refused with `InvalidInput` before anything is recorded.

Times at the ends of Python's range (whatever their offset), points beyond
what the store can encode, and money that would lose digits: each was
either recorded and then failed, failed with a raw Python error, or was
silently rounded.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal, localcontext
from uuid import UUID, uuid4

import pytest

from referral_ledger import InvalidInput, Ledger, LedgerError, LoyaltyProgram
from referral_ledger.values import MAX_MONEY, MAX_POINTS, MAX_TIME, MIN_TIME, parse_time

ZONES = [timezone(timedelta(hours=14)), timezone(timedelta(hours=-12)), UTC]
ENDS = [datetime.min, datetime.max]
EXTREMES = [end.replace(tzinfo=zone) for end in ENDS for zone in ZONES]


def extreme_id(moment: datetime) -> str:
    return moment.isoformat()


def customer_of(ledger: Ledger) -> UUID:
    return ledger.register_customer(name="Lê Thị Hoa", phones=["0912 345 678"])


def shared(store_url: str) -> str:
    """A memory URL that a second `Ledger.open` in this process sees while the first is open."""
    return f"memory://{uuid4().hex}" if store_url == "memory://" else store_url


def refused(ledger: Ledger, command: object, match: str = "") -> None:
    """`command()` raises InvalidInput (naming `match`) and records nothing."""
    count = ledger.event_count()
    with pytest.raises(InvalidInput, match=match):
        command()  # type: ignore[operator]
    assert count == ledger.event_count()


# --- times -----------------------------------------------------------------


@pytest.mark.parametrize("moment", EXTREMES, ids=extreme_id)
def test_times_at_the_ends_of_pythons_range_are_refused_by_every_parser(moment: datetime) -> None:
    with pytest.raises(InvalidInput, match="at must lie between"):
        parse_time(moment)


@pytest.mark.parametrize("moment", EXTREMES, ids=extreme_id)
def test_commands_and_queries_refuse_extreme_times_and_record_nothing(
    ledger: Ledger, moment: datetime
) -> None:
    ledger.configure_loyalty(LoyaltyProgram(money_per_point=1000, point_value=1))
    customer = customer_of(ledger)
    ledger.sign_contract(customer, "C-1", "pro", date(2026, 1, 1), date(2027, 1, 1))
    ledger.record_purchase(customer, "INV-0", 5000)
    refused(ledger, lambda: ledger.record_purchase(customer, "INV-1", 5000, at=moment), "at")
    refused(ledger, lambda: ledger.redeem_points(customer, 1, "R-1", at=moment), "at")
    refused(ledger, lambda: ledger.return_purchase(customer, "INV-0", at=moment), "at")
    refused(
        ledger,
        lambda: ledger.submit_referral(customer, "Trần Bình", "0987 654 321", "retail", at=moment),
        "at",
    )
    refused(ledger, lambda: ledger.balance(customer, as_of=moment), "as_of")
    refused(ledger, lambda: ledger.statement(customer, at=moment), "at")
    report = ledger.import_purchases(
        [{"customer_id": str(customer), "invoice_id": "INV-2", "amount": 1, "at": moment}]
    )
    assert 0 == report.recorded
    assert "at must lie between" in report.rejected[0][1]


def test_the_bounds_themselves_are_accepted_and_read_back(store_url: str) -> None:
    store_url = shared(store_url)
    with Ledger.open(store_url) as ledger:
        ledger.configure_loyalty(LoyaltyProgram(money_per_point=1000, point_value=1))
        customer = customer_of(ledger)
        ledger.record_purchase(customer, "INV-FIRST", 5000, at=MIN_TIME)
        ledger.record_purchase(customer, "INV-LAST", 5000, at=MAX_TIME)
        # Both ends survive conversion to the furthest time zones, both ways.
        for zone in ZONES:
            assert MIN_TIME == parse_time(MIN_TIME.astimezone(zone))
            assert MAX_TIME == parse_time(MAX_TIME.astimezone(zone))
        assert 10 == ledger.balance(customer, at=MAX_TIME)
        with Ledger.open(store_url) as reopened:
            statement = reopened.statement(customer, at=MAX_TIME)
            assert [MIN_TIME, MAX_TIME] == [r.at for r in statement]


# --- points beyond what the store can encode -------------------------------


def test_a_purchase_earning_more_points_than_the_store_holds_is_refused(store_url: str) -> None:
    """Today: 10^19 points recorded, then a raw TypeError from orjson on the snapshot."""
    store_url = shared(store_url)
    with Ledger.open(store_url, snapshot_interval=2) as ledger:
        ledger.configure_loyalty(LoyaltyProgram(money_per_point=Decimal("0.000001"), point_value=1))
        customer = customer_of(ledger)
        refused(
            ledger,
            lambda: ledger.record_purchase(customer, "INV-1", 10**13),
            "amount 10000000000000 .* earns 10000000000000000000 points",
        )
        # Up to the bound is fine; one point more, in a second purchase, is refused.
        assert MAX_POINTS == ledger.record_purchase(customer, "INV-2", 10**9)
        refused(
            ledger,
            lambda: ledger.record_purchase(customer, "INV-3", Decimal("0.000001")),
            f"balance {MAX_POINTS + 1}",
        )
        assert MAX_POINTS == ledger.balance(customer)
        report = ledger.import_purchases(
            [
                {"customer_id": str(customer), "invoice_id": "INV-4", "amount": 10**15},
                {"customer_id": str(customer), "invoice_id": "INV-5", "amount": 0},
            ]
        )
        assert (1, [1]) == (report.recorded, [n for n, _ in report.rejected])
        # Another ledger reads it back from the store (snapshots included).
        with Ledger.open(store_url) as reopened:
            assert MAX_POINTS == reopened.balance(customer)
            assert MAX_POINTS == reopened.points_summary(customer).lifetime_points


def test_lifetime_points_past_what_the_store_holds_are_refused_though_the_balance_fits(
    ledger: Ledger,
) -> None:
    """Lifetime points only grow (redemptions don't lower them): a purchase that would
    take them past the bound is refused even when the balance, lowered by a
    redemption, has room."""
    ledger.configure_loyalty(LoyaltyProgram(money_per_point=Decimal("0.000001"), point_value=1))
    customer = customer_of(ledger)
    assert MAX_POINTS == ledger.record_purchase(customer, "INV-1", 10**9)
    ledger.redeem_points(customer, 10, "RDM-1")
    assert MAX_POINTS - 10 == ledger.balance(customer)
    refused(
        ledger,
        lambda: ledger.record_purchase(customer, "INV-2", Decimal("0.000001")),
        f"lifetime points {MAX_POINTS + 1}",
    )
    assert MAX_POINTS == ledger.points_summary(customer).lifetime_points


# --- money stays exact ------------------------------------------------------


def test_a_redemption_worth_more_than_money_can_be_is_refused(ledger: Ledger) -> None:
    """Today its value was rounded to 28 digits and recorded."""
    point_value = Decimal("999999999999999.999999")
    ledger.configure_loyalty(
        LoyaltyProgram(money_per_point=Decimal("0.000001"), point_value=point_value)
    )
    customer = customer_of(ledger)
    ledger.record_purchase(customer, "INV-1", 10**9)
    refused(
        ledger,
        lambda: ledger.redeem_points(customer, MAX_POINTS, "R-1"),
        f"{MAX_POINTS} points at point_value {point_value} are worth "
        f"999999999999999999999000000000.000000: more than {MAX_MONEY:,}",
    )
    # One point is money, and paid to the last digit.
    assert point_value == ledger.redeem_points(customer, 1, "R-2")


def test_money_is_exact_whatever_decimal_context_the_caller_set(ledger: Ledger) -> None:
    """A host's `decimal.localcontext(prec=6)` must neither round nor break a command."""
    ledger.configure_loyalty(
        LoyaltyProgram(money_per_point=Decimal(1000), point_value=Decimal("1234.567891"))
    )
    customer = customer_of(ledger)
    with localcontext() as context:
        context.prec = 6
        assert 123456 == ledger.record_purchase(
            customer, "INV-1", Decimal("123456789.123456"), discounted_amount=Decimal("0.5")
        )
        assert Decimal("1234567.891") == ledger.redeem_points(customer, 1000, "R-1")
        assert 61728 == ledger.return_purchase(customer, "INV-1", Decimal("61728394.561728"))
        with pytest.raises(InvalidInput, match="more than 6 decimal places"):
            ledger.record_purchase(customer, "INV-2", Decimal("1.0000001"))
    assert Decimal("61728394.561728") == ledger.statement(customer)[-1].amount


def test_refusals_are_ledger_errors() -> None:
    assert issubclass(InvalidInput, LedgerError)


def test_referral_revenue_is_exact_whatever_decimal_context_the_caller_set(
    ledger: Ledger,
) -> None:
    """Today the revenue view summed in the caller's context: 1.235E+8 at a precision of 4."""
    ledger.configure_loyalty(LoyaltyProgram(money_per_point=1000, point_value=1))
    referrer = customer_of(ledger)
    ledger.sign_contract(referrer, "C-1", "pro", date(2026, 1, 1), date(2027, 1, 1))
    ledger.submit_referral(referrer, "Trần Bình", "0987 654 321", "retail")
    with localcontext() as context:
        context.prec = 4
        lead = ledger.register_customer(name="Trần Bình", phones=["0987 654 321"])
        ledger.record_purchase(lead, "INV-1", Decimal("123456789.123456"))
        ledger.return_purchase(lead, "INV-1", Decimal("1.000001"))
        ledger.sign_contract(lead, "C-2", "pro", date(2026, 1, 1), date(2027, 1, 1))
        [row] = ledger.referral_history(referrer)
    assert Decimal("123456788.123455") == row.revenue
    ledger.rebuild_projections()
    assert [Decimal("123456788.123455")] == [r.revenue for r in ledger.referral_history(referrer)]
