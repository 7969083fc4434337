"""Referral codes and commissions: codes, the first purchase, fraud guards, the commission
lifecycle (pending, due, paid, void, negative lines), payouts and bad input."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest

from referral_ledger import (
    CommissionRow,
    InvalidInput,
    Ledger,
    LoyaltyProgram,
    NotFound,
    ProgramNotConfigured,
    ReferralCodeProgram,
    ReferralCodeRefused,
    Voucher,
)
from referral_ledger.aggregates import commission as accounts
from referral_ledger.aggregates.commission import evolve_commission_account
from referral_ledger.aggregates.referral_code import evolve_referred, referred_id
from referral_ledger.policies.commissions import (
    CODE_ALPHABET,
    CODE_LENGTH,
    add_months,
    in_commission_window,
    parse_referral_code,
    referral_discount,
)
from support import Clock
from till import give_back, sell

START = datetime(2026, 3, 1, 3, 0, tzinfo=UTC)
DAY = timedelta(days=1)


@pytest.fixture
def shop(ledger: Ledger) -> Ledger:
    ledger.configure_loyalty(
        LoyaltyProgram(money_per_point=Decimal(1000), point_value=Decimal(100))
    )
    ledger.configure_referral_codes(
        ReferralCodeProgram(
            discount=Decimal(30_000),
            commission_percent=Decimal("2.5"),
            commission_cap=Decimal(100_000),
            commission_months=3,
            maturity_days=14,
        )
    )
    return ledger


def customer(ledger: Ledger, n: int, **kw: Any) -> Any:
    return ledger.register_customer(f"Khách {n}", [f"0912 345 {n:03d}"], **kw)


def refused(ledger: Ledger, cid: Any, code: str, invoice: str = "HD-X") -> str:
    before = ledger.event_count()
    with pytest.raises(ReferralCodeRefused) as caught:
        sell(ledger, cid, invoice, Decimal(100_000), referral_code=code)
    assert ledger.event_count() == before
    return caught.value.reason


def test_a_code_is_issued_once_short_and_unambiguous(shop: Ledger) -> None:
    owners = [customer(shop, n) for n in range(30)]
    codes = [shop.referral_code(c) for c in owners]
    assert len(set(codes)) == 30
    assert all(len(c) == CODE_LENGTH and set(c) <= set(CODE_ALPHABET) for c in codes)
    assert not set(CODE_ALPHABET) & set("01OIL")
    before = shop.event_count()
    assert [shop.referral_code(c) for c in owners] == codes
    assert shop.event_count() == before
    assert shop.referral_code_owner(codes[3].lower()) == owners[3]


def test_the_first_purchase_with_a_code_gets_the_discount_and_links_the_customers(
    shop: Ledger,
) -> None:
    referrer, new = customer(shop, 1), customer(shop, 2)
    code = shop.referral_code(referrer)
    _, discount, commission = sell(shop, new, "HD-1", Decimal(200_000), referral_code=code.lower())
    assert discount == Decimal(30_000)
    # 2.5% of the payable 170,000.
    assert commission == Decimal(4_250)
    assert shop.referred_by(new) == referrer
    assert shop.commissions(referrer) == [
        CommissionRow("HD-1", new, Decimal(170_000), Decimal(4_250), "pending", START + 14 * DAY)
    ]


def test_fraud_guards(shop: Ledger) -> None:
    referrer = customer(shop, 1, email="chu@example.com")
    code = shop.referral_code(referrer)
    assert refused(shop, referrer, code) == "own code"
    twin = shop.register_customer("Twin", ["0912 345 001"], on_duplicate_phone="create")
    assert refused(shop, twin, code) == "shares contact"
    mailer = customer(shop, 3, email="chu@example.com")
    assert refused(shop, mailer, code) == "shares contact"
    regular = customer(shop, 4)
    shop.record_purchase(regular, "HD-0", Decimal(10_000))
    assert refused(shop, regular, code) == "bought before"
    assert refused(shop, regular, "ZZZZZZZ") == "unknown"
    new = customer(shop, 5)
    other = shop.referral_code(customer(shop, 6))
    sell(shop, new, "HD-1", Decimal(100_000), referral_code=code)
    assert refused(shop, new, other, "HD-2") == "already referred"


def test_no_commission_while_buyer_and_referrer_share_a_contact(shop: Ledger) -> None:
    referrer, new = customer(shop, 1), customer(shop, 2)
    sell(shop, new, "HD-1", Decimal(100_000), referral_code=shop.referral_code(referrer))
    shop.update_customer(new, email="x@example.com")
    shop.update_customer(referrer, email="x@example.com")
    assert sell(shop, new, "HD-2", Decimal(100_000))[2] == Decimal(0)
    shop.update_customer(new, email="y@example.com")
    assert sell(shop, new, "HD-3", Decimal(100_000))[2] == Decimal(2_500)
    assert [r.invoice_id for r in shop.commissions(referrer)] == ["HD-1", "HD-3"]


def test_commission_window_and_cap(shop: Ledger, clock: Clock) -> None:
    referrer, new = customer(shop, 1), customer(shop, 2)
    sell(shop, new, "HD-1", Decimal(1_000_000), referral_code=shop.referral_code(referrer))
    # 2.5% of 970,000 = 24,250; then 75,750 of room under the 100,000 cap.
    assert sell(shop, new, "HD-2", Decimal(2_000_000))[2] == Decimal(50_000)
    assert sell(shop, new, "HD-3", Decimal(2_000_000))[2] == Decimal(25_750)
    assert sell(shop, new, "HD-4", Decimal(2_000_000))[2] == Decimal(0)
    other = customer(shop, 3)
    sell(shop, other, "HD-5", Decimal(100_000), referral_code=shop.referral_code(referrer))
    # Three months after the first purchase, purchases no longer earn.
    clock.now = datetime(2026, 6, 1, 2, 59, tzinfo=UTC)
    assert sell(shop, other, "HD-6", Decimal(100_000))[2] == Decimal(2_500)
    clock.now = datetime(2026, 6, 1, 3, 0, tzinfo=UTC)
    assert sell(shop, other, "HD-7", Decimal(100_000))[2] == Decimal(0)


def test_pending_then_due_then_paid_once(shop: Ledger, clock: Clock) -> None:
    referrer, new = customer(shop, 1), customer(shop, 2)
    sell(shop, new, "HD-1", Decimal(100_000), referral_code=shop.referral_code(referrer))
    sell(shop, new, "HD-2", Decimal(100_000), at=START + DAY)
    assert shop.process_due(START + 14 * DAY - timedelta(microseconds=1)) == 0
    assert shop.pay_commissions(referrer, "PO-0", at=START + 13 * DAY) == Decimal(0)
    assert shop.process_due(START + 14 * DAY) == 1
    assert shop.process_due(START + 14 * DAY) == 0
    assert [r.status for r in shop.commissions(referrer)] == ["due", "pending"]
    assert shop.pay_commissions(referrer, "PO-1", at=START + 14 * DAY) == Decimal(1_750)
    before = shop.event_count()
    assert shop.pay_commissions(referrer, "PO-1") == Decimal(1_750)
    assert shop.event_count() == before
    assert [r.status for r in shop.commissions(referrer)] == ["paid", "pending"]
    # pay_commissions makes due what is due by its `at`, as process_due would.
    assert shop.pay_commissions(referrer, "PO-2", at=START + 15 * DAY) == Decimal(2_500)
    assert shop.process_due(START + 30 * DAY) == 0
    assert shop.pay_commissions(referrer, "PO-3", at=START + 30 * DAY) == Decimal(0)


def test_returns_void_in_proportion_or_leave_a_negative_line(shop: Ledger) -> None:
    referrer, new = customer(shop, 1), customer(shop, 2)
    sell(shop, new, "HD-1", Decimal(130_000), referral_code=shop.referral_code(referrer))
    sell(shop, new, "HD-2", Decimal(100_000))
    sell(shop, new, "HD-3", Decimal(100_000))
    assert [r.commission for r in shop.commissions(referrer)] == [2_500, 2_500, 2_500]
    # A quarter of HD-2 back: a quarter of its commission voided.
    assert give_back(shop, new, "HD-2", Decimal(25_000), Decimal(100_000)) == Decimal(625)
    assert give_back(shop, new, "HD-3", Decimal(100_000), Decimal(100_000)) == Decimal(2_500)
    rows = shop.commissions(referrer)
    assert [(r.commission, r.status) for r in rows] == [
        (Decimal(2_500), "pending"),
        (Decimal(1_875), "pending"),
        (Decimal(0), "void"),
    ]
    paid = shop.pay_commissions(referrer, "PO-1", at=START + 20 * DAY)
    assert paid == Decimal(4_375)
    # After payout: half of HD-1 back leaves a negative line the next payout deducts.
    assert give_back(shop, new, "HD-1", Decimal(65_000), Decimal(130_000)) == Decimal(1_250)
    assert give_back(shop, new, "HD-1", Decimal(65_000), Decimal(130_000)) == Decimal(1_250)
    rows = shop.commissions(referrer)
    assert [(r.invoice_id, r.commission, r.status) for r in rows[3:]] == [
        ("HD-1", Decimal(-1_250), "due"),
        ("HD-1", Decimal(-1_250), "due"),
    ]
    assert rows[0].status == "paid"
    # Nothing positive to pay against: the negative lines wait.
    assert shop.pay_commissions(referrer, "PO-2", at=START + 21 * DAY) == Decimal(0)
    sell(shop, new, "HD-4", Decimal(400_000), at=START + 22 * DAY)
    assert shop.pay_commissions(referrer, "PO-3", at=START + 40 * DAY) == Decimal(7_500)
    assert {r.status for r in shop.commissions(referrer)} == {"paid", "void"}


def test_a_partly_returned_purchase_after_payout_claws_back_only_the_rest(shop: Ledger) -> None:
    referrer, new = customer(shop, 1), customer(shop, 2)
    sell(shop, new, "HD-1", Decimal(30_000), referral_code=shop.referral_code(referrer))
    sell(shop, new, "HD-2", Decimal(1_000))  # 25 commission
    give_back(shop, new, "HD-2", Decimal(333), Decimal(1_000))  # floor(25 * .333) = 8
    assert shop.pay_commissions(referrer, "PO-1", at=START + 20 * DAY) == Decimal(17)
    assert give_back(shop, new, "HD-2", Decimal(667), Decimal(1_000)) == Decimal(17)


def test_bad_input_is_refused_and_records_nothing(shop: Ledger) -> None:
    referrer = customer(shop, 1)
    before = shop.event_count()
    with pytest.raises(InvalidInput, match="not both"):
        ReferralCodeProgram(discount=1, percent=5)
    with pytest.raises(InvalidInput, match="percent"):
        ReferralCodeProgram(percent=0)
    with pytest.raises(InvalidInput, match="commission_percent"):
        ReferralCodeProgram(commission_percent=101)
    with pytest.raises(InvalidInput, match="commission_cap"):
        ReferralCodeProgram(commission_cap=1.5)
    with pytest.raises(InvalidInput, match="commission_months"):
        ReferralCodeProgram(commission_months=-1)
    with pytest.raises(InvalidInput, match="maturity_days"):
        ReferralCodeProgram(maturity_days=1.0)
    with pytest.raises(InvalidInput, match="ReferralCodeProgram"):
        shop.configure_referral_codes({"discount": 1})  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="payout_id"):
        shop.pay_commissions(referrer, "")
    with pytest.raises(NotFound):
        shop.referral_code(customer_id=__import__("uuid").uuid4())
    with pytest.raises(NotFound):
        shop.referral_code_owner("ABCDEFG")
    for code in ("", "A" * 33, "MÃ1", "AB CD"):
        with pytest.raises(InvalidInput, match="referral_code"):
            sell(shop, referrer, "HD-1", Decimal(1), referral_code=code)
    assert shop.event_count() == before


def test_codes_need_the_program(ledger: Ledger) -> None:
    ledger.configure_loyalty(
        LoyaltyProgram(money_per_point=Decimal(1000), point_value=Decimal(100))
    )
    referrer, new = customer(ledger, 1), customer(ledger, 2)
    code = ledger.referral_code(referrer)
    with pytest.raises(ProgramNotConfigured, match="configure_referral_codes"):
        sell(ledger, new, "HD-1", Decimal(1), referral_code=code)


def test_a_code_discounts_what_the_voucher_left(shop: Ledger) -> None:
    referrer, new = customer(shop, 1), customer(shop, 2)
    shop.create_voucher(Voucher(code="HALF", percent=50))
    code = shop.referral_code(referrer)
    got = sell(shop, new, "HD-1", Decimal(40_000), voucher="half", referral_code=code)
    # 20,000 off by the voucher; the code's 30,000 meets the 20,000 left: nothing payable.
    assert got == (Decimal(20_000), Decimal(20_000), Decimal(0))
    assert shop.referred_by(new) == referrer


def test_a_refused_code_refuses_the_voucher_use_with_it(shop: Ledger) -> None:
    referrer = customer(shop, 1)
    shop.create_voucher(Voucher(code="ONE", discount=1_000, usage_limit=1))
    before = shop.event_count()
    with pytest.raises(ReferralCodeRefused, match="own code"):
        sell(
            shop,
            referrer,
            "HD-1",
            Decimal(40_000),
            voucher="ONE",
            referral_code=shop.referral_code(referrer),
        )
    assert shop.get_voucher("ONE").used == 0
    assert shop.event_count() == before + 2  # the code's issue (claim, account) only


def test_program_limits_accept_their_bound_and_refuse_one_past_it() -> None:
    # A percentage is above 0 and at most 100; the window at most 100 years
    # (1,200 months); the maturity at most 100 years of days; a code at most
    # 32 characters.
    edge = ReferralCodeProgram(
        percent=100, commission_percent=100, commission_months=1200, maturity_days=36500
    )
    assert (Decimal(100), Decimal(100), 1200, 36500) == (
        edge.percent,
        edge.commission_percent,
        edge.commission_months,
        edge.maturity_days,
    )
    assert Decimal(0) == ReferralCodeProgram(commission_percent=0).commission_percent
    for field, value in (
        ("percent", Decimal("100.01")),
        ("commission_percent", Decimal("100.01")),
        ("commission_months", 1201),
        ("maturity_days", 36501),
    ):
        with pytest.raises(InvalidInput, match=f"{field} must .*{value}"):
            ReferralCodeProgram(**{field: value})
    # Any percentage above 0 is one.
    assert Decimal("0.01") == ReferralCodeProgram(percent=Decimal("0.01")).percent
    assert "A" * 32 == parse_referral_code(" " + "a" * 32 + " ")
    with pytest.raises(InvalidInput, match="referral_code is longer than 32"):
        parse_referral_code("A" * 33)
    with pytest.raises(InvalidInput, match="referral_code must be a str, not 1234567"):
        parse_referral_code(1234567)


def test_a_commission_window_past_the_last_time_the_ledger_can_name_never_closes() -> None:
    program = ReferralCodeProgram(commission_months=1200)
    first = datetime(9950, 1, 1, tzinfo=UTC)  # 100 years on is past year 9999
    assert in_commission_window(program, first, datetime(9999, 12, 31, tzinfo=UTC))


def test_an_invoice_returned_piece_by_piece_voids_its_whole_commission(shop: Ledger) -> None:
    # Every return counts, down to a single đồng: the pieces add up to the
    # whole invoice, and all of its commission is taken back.
    referrer, new = customer(shop, 1), customer(shop, 2)
    sell(shop, new, "HD-1", Decimal(130_000), referral_code=shop.referral_code(referrer))
    sell(shop, new, "HD-2", Decimal(100_000))  # 2,500 commission
    assert give_back(shop, new, "HD-2", Decimal(1), Decimal(100_000)) == Decimal(0)
    assert give_back(shop, new, "HD-2", Decimal(99_999), Decimal(100_000)) == Decimal(2_500)
    [line] = [r for r in shop.commissions(referrer) if r.invoice_id == "HD-2"]
    assert (Decimal(0), "void") == (line.commission, line.status)


# --- the money rules, as pure functions -------------------------------------------------


def test_a_percent_discount_is_floored_to_the_dong_and_capped_by_max_discount() -> None:
    ten_percent = ReferralCodeProgram(percent=10)
    assert Decimal(12_345) == referral_discount(ten_percent, Decimal(123_456))
    capped = ReferralCodeProgram(percent=10, max_discount=Decimal(5_000))
    assert Decimal(5_000) == referral_discount(capped, Decimal(123_456))
    assert Decimal(4_000) == referral_discount(capped, Decimal(40_000))
    fixed = ReferralCodeProgram(discount=Decimal(30_000), max_discount=Decimal(20_000))
    assert Decimal(20_000) == referral_discount(fixed, Decimal(100_000))
    # Never more than the amount itself.
    assert Decimal(15_000) == referral_discount(fixed, Decimal(15_000))


def test_the_commission_window_runs_calendar_months_from_the_first_purchase() -> None:
    program = ReferralCodeProgram(commission_months=1)
    first = datetime(2026, 1, 31, 3, tzinfo=UTC)
    assert not in_commission_window(program, first, first - timedelta(microseconds=1))
    assert in_commission_window(program, first, first)
    # One month after 31 January is the last day of February.
    end = datetime(2026, 2, 28, 3, tzinfo=UTC)
    assert in_commission_window(program, first, end - timedelta(microseconds=1))
    assert not in_commission_window(program, first, end)


@pytest.mark.parametrize(
    ("moment", "months", "later"),
    [
        (datetime(2026, 1, 31), 1, datetime(2026, 2, 28)),
        (datetime(2028, 1, 31), 1, datetime(2028, 2, 29)),
        (datetime(2026, 3, 31), 1, datetime(2026, 4, 30)),
        (datetime(2026, 11, 15), 1, datetime(2026, 12, 15)),
        (datetime(2026, 11, 15), 2, datetime(2027, 1, 15)),
        (datetime(2026, 12, 31), 12, datetime(2027, 12, 31)),
        (datetime(2026, 5, 20), 25, datetime(2028, 6, 20)),
    ],
)
def test_months_are_calendar_months_ending_on_the_last_day_when_shorter(
    moment: datetime, months: int, later: datetime
) -> None:
    assert later == add_months(moment, months)


def test_the_referred_customers_record_names_the_code_and_the_first_purchase(
    shop: Ledger,
) -> None:
    # The link is the audit trail of the discount: who was referred, by whom,
    # with which code, on which invoice and at what discount.
    referrer, new = customer(shop, 1), customer(shop, 2)
    code = shop.referral_code(referrer)
    at = START + 2 * DAY
    sell(shop, new, "HD-1", Decimal(200_000), referral_code=code.lower(), at=at)
    record = shop._store.load(referred_id(new), evolve_referred)
    assert record is not None
    assert (record.id, record.version) == (referred_id(new), 1)
    assert (new, referrer, code, "HD-1", at, Decimal(30_000)) == (
        record.customer_id,
        record.referrer_id,
        record.code,
        record.invoice_id,
        record.first_at,
        record.discount,
    )
    # The record has one event: a customer is referred once.
    [event] = shop._store.events_of(referred_id(new))
    with pytest.raises(AssertionError):
        evolve_referred(record, event)


def test_a_commission_of_one_dong_is_earned_and_one_that_floors_to_nothing_is_not(
    shop: Ledger,
) -> None:
    referrer, new = customer(shop, 1), customer(shop, 2)
    sell(shop, new, "HD-1", Decimal(200_000), referral_code=shop.referral_code(referrer))
    assert Decimal(1) == sell(shop, new, "HD-2", Decimal(40))[2]  # 2.5% of 40
    assert Decimal(0) == sell(shop, new, "HD-3", Decimal(39))[2]  # 0.975 floors to 0
    rows = [(r.invoice_id, r.commission) for r in shop.commissions(referrer)]
    assert [("HD-1", Decimal(4_250)), ("HD-2", Decimal(1))] == rows


def test_a_return_after_payout_that_takes_back_nothing_leaves_no_line(shop: Ledger) -> None:
    referrer, new = customer(shop, 1), customer(shop, 2)
    sell(shop, new, "HD-1", Decimal(130_000), referral_code=shop.referral_code(referrer))
    assert shop.pay_commissions(referrer, "PO-1", at=START + 20 * DAY) == Decimal(2_500)
    # 1 of 130,000 back: 2,500 x 1 / 130,000 floors to 0, so there is nothing to deduct.
    assert give_back(shop, new, "HD-1", Decimal(1), Decimal(130_000)) == Decimal(0)
    assert [("HD-1", Decimal(2_500), "paid")] == [
        (r.invoice_id, r.commission, r.status) for r in shop.commissions(referrer)
    ]
    # 53 of 130,000 back in all: 1 to deduct, due from the return's business time.
    returned_at = START + 21 * DAY
    assert give_back(shop, new, "HD-1", Decimal(52), Decimal(130_000), at=returned_at) == 1
    assert [("HD-1", Decimal(-1), "due", returned_at)] == [
        (r.invoice_id, r.commission, r.status, r.due_at) for r in shop.commissions(referrer)[1:]
    ]
    # The pieces still count: the rest back takes back the other 2,499.
    assert give_back(shop, new, "HD-1", Decimal(129_947), Decimal(130_000)) == Decimal(2_499)


def test_new_referral_code_rules_replace_the_old_and_the_same_rules_record_nothing(
    ledger: Ledger,
) -> None:
    assert ledger.referral_code_program() is None
    first = ReferralCodeProgram(discount=Decimal(30_000))
    ledger.configure_referral_codes(first)
    before = ledger.event_count()
    ledger.configure_referral_codes(ReferralCodeProgram(discount=Decimal(30_000)))
    assert ledger.event_count() == before
    second = ReferralCodeProgram(percent=Decimal(10))
    ledger.configure_referral_codes(second)
    assert second == ledger.referral_code_program()
    ledger.configure_referral_codes(first)  # and back again
    assert first == ledger.referral_code_program()


def test_an_accounts_open_lines_are_its_pending_and_due_ones_in_the_order_recorded() -> None:
    """What maturing and paying walk: the lines not yet paid or void, oldest first
    (a payout pays them in that order), and never a line a payout has paid."""
    state = None
    for event in accounts.issue_code(UUID(int=1), "ABCDEFG", START):
        state = evolve_commission_account(state, event)
    # Recorded 9, 10, 11: their keys sort 10, 11, 9.
    for n, invoice in enumerate(("HD-9", "HD-10", "HD-11")):
        assert state is not None
        for event in accounts.earn(
            state,
            invoice_id=invoice,
            customer_id=UUID(int=2),
            amount=Decimal(100_000),
            invoice_amount=Decimal(100_000),
            commission=Decimal(2_500),
            at=START + n * DAY,
            due_at=START + (14 + n) * DAY,
            now=START + n * DAY,
        ):
            state = evolve_commission_account(state, event)
    assert state is not None
    assert ["HD-9", "HD-10", "HD-11"] == [line.key for line in state.open_lines()]

    def apply(events: list[Any]) -> Any:
        current = state
        for event in events:
            current = evolve_commission_account(current, event)
        return current

    state = apply(accounts.mature(state, "HD-10", START + 20 * DAY, START + 20 * DAY))
    state = apply(accounts.mature(state, "HD-9", START + 20 * DAY, START + 20 * DAY))
    due = [line for line in state.open_lines() if line.status == "due"]
    assert ["HD-9", "HD-10"] == [line.key for line in due]
    state = apply(accounts.pay(state, "PO-1", due, START + 21 * DAY, START + 21 * DAY))
    assert ["HD-11"] == [line.key for line in state.open_lines()]
    assert {"HD-9": "paid", "HD-10": "paid", "HD-11": "pending"} == {
        key: line.status for key, line in state.lines.items()
    }
