"""Referrals through the public API, on memory, SQLite and PostgreSQL.

Eligibility (a contract in force on the referral's business day), duplicate
lead phones in every spelling, self-referral, the lifecycle exactly as
`ALLOWED_MOVES` says, the timeline, rewards from the referral program, `as_of`
replays, and bad input. Every refused command is checked to record nothing.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from functools import partial
from typing import Any
from uuid import UUID, uuid4

import pytest

from referral_ledger import (
    EXPECTED_NEXT,
    DuplicatePhone,
    InvalidInput,
    InvalidTransition,
    Lead,
    Ledger,
    LedgerError,
    NotFound,
    ReferralProgram,
    ReferralStatus,
    ReferrerNotEligible,
    TimelineEntry,
)
from referral_ledger.aggregates.referral import ALLOWED_MOVES
from support import Clock

S = ReferralStatus
ICT = timezone(timedelta(hours=7))
#: 2026-01-10 08:00 UTC is 15:00 the same day in Vietnam.
START = datetime(2026, 1, 10, 8, 0, tzinfo=UTC)
REFERRER_PHONE = "0912 345 678"
LEAD_PHONE = "0987 654 321"
LEAD_E164 = "+84987654321"
LEAD_SPELLINGS = ("0987 654 321", "+84 987 654 321", "84987654321")


def new_referrer(
    ledger: Ledger,
    starts_on: date | None = date(2026, 1, 1),
    ends_on: date = date(2026, 12, 31),
    phone: str = REFERRER_PHONE,
) -> UUID:
    """A customer; with a contract from `starts_on` to `ends_on` unless `starts_on` is None."""
    customer = ledger.register_customer("Nguyễn Văn An", [phone])
    if starts_on is not None:
        ledger.sign_contract(customer, "C-1", "pro", starts_on, ends_on)
    return customer


def refer(ledger: Ledger, referrer: UUID, phone: str = LEAD_PHONE, **extra: Any) -> UUID:
    return ledger.submit_referral(referrer, "Trần Thị Bình", phone, "fashion", **extra)


@pytest.fixture
def referrer(ledger: Ledger) -> UUID:
    return new_referrer(ledger)


def refused(ledger: Ledger, error: type[LedgerError], command: Callable[[], object]) -> str:
    """Run `command`, expect `error`, check nothing was recorded; returns the message."""
    before = ledger.event_count()
    with pytest.raises(error) as caught:
        command()
    assert before == ledger.event_count(), f"{command} recorded something before refusing"
    return str(caught.value)


# --- submitting ---------------------------------------------------------------


def test_a_submitted_referral_holds_the_lead_as_given(
    ledger: Ledger, referrer: UUID, clock: Clock
) -> None:
    rid = ledger.submit_referral(
        referrer,
        name=" Trần Thị Bình ",
        phone="+84 987 654 321",
        industry="fashion",
        email="binh@Example.COM",
        business_name="Bình Fashion",
        website="binhfashion.vn",
        program="plus",
        sales_assistance=True,
    )
    referral = ledger.get_referral(rid)
    assert isinstance(rid, UUID)
    assert rid == referral.id
    assert referrer == referral.referrer_id
    expected_lead = Lead(
        name="Trần Thị Bình",
        phone=LEAD_E164,
        industry="fashion",
        email="binh@example.com",
        business_name="Bình Fashion",
        website="https://binhfashion.vn",
    )
    assert expected_lead == referral.lead
    assert ("plus", True) == (referral.program, referral.sales_assistance)
    assert S.SUBMITTED == referral.status
    assert (None, None, None) == (referral.rep, referral.reward, referral.referred_customer_id)
    assert (TimelineEntry(S.SUBMITTED, clock.now),) == referral.timeline
    assert clock.now == referral.submitted_at


def test_defaults_are_program_pos_without_sales_assistance(ledger: Ledger, referrer: UUID) -> None:
    referral = ledger.get_referral(refer(ledger, referrer))
    assert ("pos", False) == (referral.program, referral.sales_assistance)


def test_a_referrer_may_refer_without_limit(ledger: Ledger, referrer: UUID) -> None:
    """Seed 000: referrals are unlimited in number."""
    ids = [refer(ledger, referrer, phone=f"0987{n:06d}") for n in range(30)]
    assert 30 == len(set(ids))
    assert {referrer} == {ledger.get_referral(rid).referrer_id for rid in ids}
    assert 30 == len(ledger.lead_table(limit=1000))


# --- eligibility --------------------------------------------------------------


def test_a_customer_without_a_contract_may_not_refer(ledger: Ledger) -> None:
    customer = new_referrer(ledger, starts_on=None)
    message = refused(ledger, ReferrerNotEligible, lambda: refer(ledger, customer))
    assert str(customer) in message


def test_a_contract_not_yet_started_does_not_make_a_referrer(ledger: Ledger) -> None:
    customer = new_referrer(ledger, starts_on=date(2026, 2, 1), ends_on=date(2026, 12, 31))
    refused(ledger, ReferrerNotEligible, lambda: refer(ledger, customer))
    # A referral dated inside the contract (in the future) is accepted.
    rid = refer(ledger, customer, at=datetime(2026, 2, 1, 0, 0, tzinfo=ICT))
    assert S.SUBMITTED == ledger.get_referral(rid).status


def test_an_expired_contract_does_not_make_a_referrer(ledger: Ledger) -> None:
    customer = new_referrer(ledger, starts_on=date(2025, 1, 1), ends_on=date(2025, 12, 31))
    refused(ledger, ReferrerNotEligible, lambda: refer(ledger, customer))
    # A referral dated in the past, while the contract was in force, is accepted.
    rid = refer(ledger, customer, at=datetime(2025, 12, 31, 23, 59, tzinfo=ICT))
    assert S.SUBMITTED == ledger.get_referral(rid).status


def test_a_contract_is_in_force_on_both_of_its_end_days(ledger: Ledger) -> None:
    customer = new_referrer(ledger, starts_on=date(2026, 3, 1), ends_on=date(2026, 3, 31))
    first = datetime(2026, 3, 1, 0, 0, tzinfo=ICT)
    last = datetime(2026, 3, 31, 23, 59, tzinfo=ICT)
    refused(
        ledger, ReferrerNotEligible, lambda: refer(ledger, customer, at=first - timedelta(days=1))
    )
    refused(
        ledger, ReferrerNotEligible, lambda: refer(ledger, customer, at=last + timedelta(days=1))
    )
    refer(ledger, customer, phone="0987 000 001", at=first)
    refer(ledger, customer, phone="0987 000 002", at=last)


def test_a_given_time_counts_by_its_own_date(ledger: Ledger) -> None:
    """00:30 on 10 January in Vietnam is the 10th (though still the 9th in UTC), and
    23:30 UTC on the 9th is the 9th (though the 10th in Vietnam)."""
    customer = new_referrer(ledger, starts_on=date(2026, 1, 10), ends_on=date(2026, 12, 31))
    refused(
        ledger,
        ReferrerNotEligible,
        lambda: refer(ledger, customer, at=datetime(2026, 1, 9, 23, 30, tzinfo=UTC)),
    )
    refer(ledger, customer, at=datetime(2026, 1, 10, 0, 30, tzinfo=ICT))


def test_now_counts_by_the_business_days_date(ledger: Ledger, clock: Clock) -> None:
    """With at=None the day is the one in the business time zone (UTC+7 by default)."""
    clock.now = datetime(2026, 1, 9, 16, 30, tzinfo=UTC)  # 23:30 on the 9th in Vietnam
    customer = new_referrer(ledger, starts_on=date(2026, 1, 10), ends_on=date(2026, 1, 20))
    refused(ledger, ReferrerNotEligible, lambda: refer(ledger, customer))
    clock.now = datetime(2026, 1, 9, 17, 30, tzinfo=UTC)  # 00:30 on the 10th in Vietnam
    refer(ledger, customer, phone="0987 000 001")
    clock.now = datetime(2026, 1, 20, 16, 59, tzinfo=UTC)  # 23:59 on the 20th in Vietnam
    refer(ledger, customer, phone="0987 000 002")
    clock.now = datetime(2026, 1, 20, 17, 0, tzinfo=UTC)  # 00:00 on the 21st in Vietnam
    refused(ledger, ReferrerNotEligible, lambda: refer(ledger, customer, phone="0987 000 003"))


def test_the_business_time_zone_is_configurable(store_url: str) -> None:
    clock = Clock(datetime(2026, 1, 9, 17, 30, tzinfo=UTC))  # the 10th in Vietnam, 9th in UTC
    with Ledger.open(store_url, clock=clock, business_timezone=UTC) as ledger:
        customer = new_referrer(ledger, starts_on=date(2026, 1, 10))
        refused(ledger, ReferrerNotEligible, lambda: refer(ledger, customer))


# --- duplicates -----------------------------------------------------------------


@pytest.mark.parametrize("spelling", LEAD_SPELLINGS)
def test_an_open_referrals_phone_cannot_be_referred_again(
    ledger: Ledger, referrer: UUID, spelling: str
) -> None:
    first = refer(ledger, referrer, phone=LEAD_SPELLINGS[0])
    other = new_referrer(ledger, phone="0912 000 002")
    for by in (referrer, other):
        message = refused(ledger, DuplicatePhone, partial(refer, ledger, by, phone=spelling))
        assert LEAD_E164 in message
        assert str(first) in message
    ledger.start_referral(first, rep="rep-01")  # in progress is still open
    refused(ledger, DuplicatePhone, lambda: refer(ledger, other, phone=spelling))


@pytest.mark.parametrize("spelling", LEAD_SPELLINGS)
def test_a_customers_phone_cannot_be_referred(
    ledger: Ledger, referrer: UUID, spelling: str
) -> None:
    ledger.register_customer("Trần Thị Bình", [LEAD_SPELLINGS[0]])
    message = refused(ledger, DuplicatePhone, lambda: refer(ledger, referrer, phone=spelling))
    assert LEAD_E164 in message


@pytest.mark.parametrize("close", ["reward", "ineligible"])
def test_a_closed_referral_frees_the_phone_for_a_new_referral(
    ledger: Ledger, referrer: UUID, close: str
) -> None:
    first = refer(ledger, referrer)
    if close == "reward":
        ledger.reward_referral(first, amount=100_000)
    else:
        ledger.mark_ineligible(first, reason="not a business")
    other = new_referrer(ledger, phone="0912 000 002")
    second = refer(ledger, other, phone="84987654321")
    assert first != second
    assert LEAD_E164 == ledger.get_referral(second).lead.phone
    # ... and the new one holds the phone again.
    refused(ledger, DuplicatePhone, lambda: refer(ledger, referrer))


def test_a_referrer_cannot_refer_their_own_phone(ledger: Ledger) -> None:
    customer = ledger.register_customer("Nguyễn Văn An", [REFERRER_PHONE, "0912 000 009"])
    ledger.sign_contract(customer, "C-1", "pro", date(2026, 1, 1), date(2026, 12, 31))
    for own in ("84912345678", "+84 912 000 009"):
        message = refused(ledger, InvalidInput, partial(refer, ledger, customer, phone=own))
        assert "own phone" in message


# --- bad input ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("name", ""),
        ("name", "   "),
        ("name", None),
        ("phone", ""),
        ("phone", None),
        ("phone", "12"),
        ("phone", "not a phone"),
        ("industry", ""),
        ("industry", None),
        ("email", "binh@"),
        ("email", "not-an-email"),
        ("website", "not a url"),
        ("website", "ftp://shop.vn"),
        ("website", "localhost"),
        ("program", ""),
        ("sales_assistance", "yes"),
        ("at", datetime(2026, 1, 10, 12, 0)),
    ],
)
def test_bad_lead_details_are_refused_naming_the_field(
    ledger: Ledger, referrer: UUID, field: str, value: object
) -> None:
    args: dict[str, Any] = {"name": "Trần Thị Bình", "phone": LEAD_PHONE, "industry": "fashion"}
    args[field] = value
    message = refused(ledger, InvalidInput, lambda: ledger.submit_referral(referrer, **args))
    assert field in message


def test_an_unknown_referrer_or_referral_is_not_found(ledger: Ledger, referrer: UUID) -> None:
    stranger = uuid4()
    assert str(stranger) in refused(ledger, NotFound, lambda: refer(ledger, stranger))
    commands: list[Callable[[], object]] = [
        lambda: ledger.assign_rep(stranger, "rep-01"),
        lambda: ledger.start_referral(stranger),
        lambda: ledger.reward_referral(stranger, amount=1),
        lambda: ledger.mark_ineligible(stranger, reason="x"),
        lambda: ledger.get_referral(stranger),
    ]
    for command in commands:
        assert str(stranger) in refused(ledger, NotFound, command)
    refused(ledger, InvalidInput, lambda: ledger.get_referral("not-an-id"))  # type: ignore[arg-type]


def test_bad_command_arguments_are_refused(ledger: Ledger, referrer: UUID) -> None:
    rid = refer(ledger, referrer)
    naive = datetime(2026, 1, 11, 12, 0)
    commands: list[Callable[[], object]] = [
        lambda: ledger.assign_rep(rid, ""),
        lambda: ledger.assign_rep(rid, "rep-01", at=naive),
        lambda: ledger.start_referral(rid, at=naive),
        lambda: ledger.reward_referral(rid, amount=-1),
        lambda: ledger.reward_referral(rid, amount=Decimal("-0.5")),
        lambda: ledger.reward_referral(rid, amount=100000.0),  # type: ignore[arg-type]
        lambda: ledger.reward_referral(rid, amount="NaN"),
        lambda: ledger.reward_referral(rid, amount=500_001),
        lambda: ledger.reward_referral(rid, amount=1, at=naive),
        lambda: ledger.mark_ineligible(rid, reason=""),
        lambda: ledger.mark_ineligible(rid, reason="x", at=naive),
        lambda: ledger.get_referral(rid, as_of=naive),
        lambda: ledger.configure_referrals({"reward_cap": 1}),  # type: ignore[arg-type]
    ]
    for command in commands:
        refused(ledger, InvalidInput, command)
    assert S.SUBMITTED == ledger.get_referral(rid).status


def test_a_reward_above_the_cap_names_amount_and_cap(ledger: Ledger, referrer: UUID) -> None:
    rid = refer(ledger, referrer)
    message = refused(ledger, InvalidInput, lambda: ledger.reward_referral(rid, amount=500_001))
    assert "500001" in message
    assert "500000" in message
    assert Decimal(500_000) == ledger.reward_referral(rid, amount=500_000)


def test_the_cap_in_force_at_the_reward_applies(ledger: Ledger, referrer: UUID) -> None:
    rid = refer(ledger, referrer)
    ledger.configure_referrals(ReferralProgram(reward_cap=200_000, default_reward=100_000))
    refused(ledger, InvalidInput, lambda: ledger.reward_referral(rid, amount=200_001))
    assert Decimal(200_000) == ledger.reward_referral(rid, amount=200_000)


# --- the lifecycle ----------------------------------------------------------------


#: The moves API.md and seed 002 allow, written out here rather than read from the code.
DOCUMENTED_MOVES = {
    S.SUBMITTED: {S.IN_PROGRESS, S.REWARDED, S.INELIGIBLE},
    S.IN_PROGRESS: {S.REWARDED, S.INELIGIBLE},
    S.REWARDED: set(),
    S.INELIGIBLE: set(),
}


def test_allowed_moves_are_the_seed_documents_flow() -> None:
    assert DOCUMENTED_MOVES == {status: set(moves) for status, moves in ALLOWED_MOVES.items()}


def _move(ledger: Ledger, rid: UUID, to: ReferralStatus) -> None:
    if to is S.IN_PROGRESS:
        ledger.start_referral(rid, rep="rep-01")
    elif to is S.REWARDED:
        ledger.reward_referral(rid, amount=100_000)
    elif to is S.INELIGIBLE:
        ledger.mark_ineligible(rid, reason="no answer")
    else:  # pragma: no cover
        raise AssertionError(to)


#: The path from submitted to each status.
PATHS = {
    S.SUBMITTED: (),
    S.IN_PROGRESS: (S.IN_PROGRESS,),
    S.REWARDED: (S.IN_PROGRESS, S.REWARDED),
    S.INELIGIBLE: (S.INELIGIBLE,),
}
TARGETS = (S.IN_PROGRESS, S.REWARDED, S.INELIGIBLE)  # nothing moves back to submitted


def test_every_move_is_allowed_exactly_as_allowed_moves_says(
    ledger: Ledger, referrer: UUID
) -> None:
    for n, (start, to) in enumerate(itertools.product(PATHS, TARGETS)):
        rid = refer(ledger, referrer, phone=f"0987{n:06d}")
        for step in PATHS[start]:
            _move(ledger, rid, step)
        assert start == ledger.get_referral(rid).status
        if to in DOCUMENTED_MOVES[start]:
            _move(ledger, rid, to)
            assert to == ledger.get_referral(rid).status
        else:
            message = refused(ledger, InvalidTransition, partial(_move, ledger, rid, to))
            assert start.value in message, message
            assert to.value in message, message
            assert start == ledger.get_referral(rid).status


def test_the_rep_may_be_assigned_and_reassigned_while_open(ledger: Ledger, referrer: UUID) -> None:
    rid = refer(ledger, referrer)
    ledger.assign_rep(rid, "rep-01")
    assert ("rep-01", S.SUBMITTED) == (
        ledger.get_referral(rid).rep,
        ledger.get_referral(rid).status,
    )
    ledger.start_referral(rid)
    assert "rep-01" == ledger.get_referral(rid).rep, "starting without rep= keeps the rep"
    ledger.assign_rep(rid, "rep-02", note="rep-01 on leave")
    referral = ledger.get_referral(rid)
    assert ("rep-02", S.IN_PROGRESS) == (referral.rep, referral.status)


@pytest.mark.parametrize("final", [S.REWARDED, S.INELIGIBLE])
def test_no_rep_can_be_assigned_once_closed(
    ledger: Ledger, referrer: UUID, final: ReferralStatus
) -> None:
    rid = refer(ledger, referrer)
    ledger.assign_rep(rid, "rep-01")
    _move(ledger, rid, final)
    message = refused(ledger, InvalidTransition, lambda: ledger.assign_rep(rid, "rep-02"))
    assert final.value in message
    assert "rep-01" == ledger.get_referral(rid).rep


def test_start_with_rep_assigns_it(ledger: Ledger, referrer: UUID) -> None:
    rid = refer(ledger, referrer)
    ledger.assign_rep(rid, "rep-01")
    ledger.start_referral(rid, rep="rep-02", note="called")
    referral = ledger.get_referral(rid)
    assert ("rep-02", S.IN_PROGRESS) == (referral.rep, referral.status)
    assert (
        TimelineEntry(S.IN_PROGRESS, referral.updated_at, "called", "rep-02")
        == (referral.timeline[-1])
    )


def test_the_timeline_records_every_change_in_order(
    ledger: Ledger, referrer: UUID, clock: Clock
) -> None:
    t0 = clock.now
    rid = refer(ledger, referrer)
    t1 = clock.advance(hours=1)
    ledger.assign_rep(rid, "rep-01", note="assigned by the desk")
    t2 = datetime(2026, 1, 10, 20, 0, tzinfo=ICT)  # a given time, in another zone
    ledger.start_referral(rid, note="first call", at=t2)
    t3 = clock.advance(days=3)
    ledger.assign_rep(rid, "rep-02")
    t4 = clock.advance(days=1)
    ledger.reward_referral(rid, amount=300_000, plan="pro", note="signed")
    referral = ledger.get_referral(rid)
    assert (
        TimelineEntry(S.SUBMITTED, t0),
        TimelineEntry(S.SUBMITTED, t1, "assigned by the desk", "rep-01"),
        TimelineEntry(S.IN_PROGRESS, t2, "first call", "rep-01"),
        TimelineEntry(S.IN_PROGRESS, t3, None, "rep-02"),
        TimelineEntry(S.REWARDED, t4, "signed", "rep-02"),
    ) == referral.timeline
    assert (Decimal(300_000), "pro", t4) == (referral.reward, referral.plan, referral.updated_at)


def test_marking_ineligible_puts_the_reason_on_the_timeline(
    ledger: Ledger, referrer: UUID, clock: Clock
) -> None:
    rid = refer(ledger, referrer)
    ledger.mark_ineligible(rid, reason="already a customer of a competitor")
    referral = ledger.get_referral(rid)
    assert (
        TimelineEntry(S.INELIGIBLE, clock.now, "already a customer of a competitor")
        == (referral.timeline[-1])
    )
    assert referral.reward is None


def test_a_change_dated_before_the_last_one_is_refused(
    ledger: Ledger, referrer: UUID, clock: Clock
) -> None:
    rid = refer(ledger, referrer)
    clock.advance(hours=2)
    ledger.assign_rep(rid, "rep-01")
    earlier = clock.now - timedelta(minutes=1)
    commands: list[Callable[[], object]] = [
        lambda: ledger.assign_rep(rid, "rep-02", at=earlier),
        lambda: ledger.start_referral(rid, at=earlier),
        lambda: ledger.reward_referral(rid, amount=1, at=earlier),
        lambda: ledger.mark_ineligible(rid, reason="x", at=earlier),
    ]
    for command in commands:
        assert earlier.isoformat() in refused(ledger, InvalidInput, command)
    ledger.start_referral(rid, at=clock.now)  # the same moment is fine
    assert S.IN_PROGRESS == ledger.get_referral(rid).status


@pytest.mark.parametrize("status", list(S))
def test_expected_next_is_a_short_text_per_status(
    ledger: Ledger, referrer: UUID, status: ReferralStatus
) -> None:
    rid = refer(ledger, referrer)
    for step in PATHS[status]:
        _move(ledger, rid, step)
    referral = ledger.get_referral(rid)
    assert EXPECTED_NEXT[status] == referral.expected_next
    assert 0 < len(referral.expected_next) <= 120


def test_expected_next_texts_differ_by_status() -> None:
    assert set(S) == set(EXPECTED_NEXT)
    assert len(S) == len(set(EXPECTED_NEXT.values()))


# --- rewards and the program ------------------------------------------------------------


def test_an_unconfigured_program_pays_500000(ledger: Ledger, referrer: UUID) -> None:
    assert ReferralProgram() == ledger.referral_program()
    rid = refer(ledger, referrer)
    assert Decimal(500_000) == ledger.reward_referral(rid, plan="pro")
    assert Decimal(500_000) == ledger.get_referral(rid).reward


def test_amount_none_pays_the_configured_reward_for_the_plan(
    ledger: Ledger, referrer: UUID
) -> None:
    ledger.configure_referrals(
        ReferralProgram(
            reward_by_plan={"pro": Decimal(500_000), "basic": Decimal(200_000)},
            default_reward=Decimal(300_000),
        )
    )
    paid = {}
    for n, plan in enumerate(["pro", "basic", "plus", None]):
        rid = refer(ledger, referrer, phone=f"0987{n:06d}")
        paid[plan] = ledger.reward_referral(rid, plan=plan)
        assert (paid[plan], plan) == (
            ledger.get_referral(rid).reward,
            ledger.get_referral(rid).plan,
        )
    expected = {"pro": 500_000, "basic": 200_000, "plus": 300_000, None: 300_000}
    assert {plan: Decimal(amount) for plan, amount in expected.items()} == paid


def test_an_explicit_amount_overrides_the_program(ledger: Ledger, referrer: UUID) -> None:
    ledger.configure_referrals(ReferralProgram(reward_by_plan={"pro": 500_000}))
    rid = refer(ledger, referrer)
    assert Decimal(123_456) == ledger.reward_referral(rid, amount="123456", plan="pro")
    assert Decimal(0) == ledger.reward_referral(
        refer(ledger, referrer, phone="0987 000 001"), amount=0
    )


def test_configurations_are_versioned_and_readable_as_of(ledger: Ledger, clock: Clock) -> None:
    before = clock.now
    clock.advance(minutes=1)
    first = ReferralProgram(reward_by_plan={"basic": 200_000}, default_reward=300_000)
    assert 1 == ledger.configure_referrals(first)
    in_between = clock.advance(days=1)
    clock.advance(minutes=1)
    second = ReferralProgram(reward_cap=400_000, default_reward=400_000)
    assert 2 == ledger.configure_referrals(second)
    assert ReferralProgram() == ledger.referral_program(as_of=before)
    assert first == ledger.referral_program(as_of=in_between)
    assert second == ledger.referral_program()
    assert second == ledger.referral_program(as_of=clock.advance(days=1))


def test_a_new_configuration_leaves_past_rewards_alone(ledger: Ledger, referrer: UUID) -> None:
    rid = refer(ledger, referrer)
    ledger.reward_referral(rid, plan="pro")
    ledger.configure_referrals(ReferralProgram(reward_cap=100_000, default_reward=100_000))
    assert Decimal(500_000) == ledger.get_referral(rid).reward


# --- as_of --------------------------------------------------------------------------


def test_get_referral_as_of_replays_to_any_moment(
    ledger: Ledger, referrer: UUID, clock: Clock
) -> None:
    before = clock.advance(minutes=1)
    clock.advance(minutes=1)
    rid = refer(ledger, referrer)
    moments = []
    for step in (
        lambda: ledger.assign_rep(rid, "rep-01"),
        lambda: ledger.start_referral(rid, rep="rep-02"),
        lambda: ledger.reward_referral(rid, amount=250_000),
    ):
        moments.append((clock.now, ledger.get_referral(rid)))
        clock.advance(hours=1)
        step()
    moments.append((clock.now, ledger.get_referral(rid)))
    refused(ledger, NotFound, lambda: ledger.get_referral(rid, as_of=before))
    for moment, expected in moments:
        assert expected == ledger.get_referral(rid, as_of=moment)
        assert expected == ledger.get_referral(rid, as_of=moment + timedelta(minutes=59))
    statuses = [ledger.get_referral(rid, as_of=m).status for m, _ in moments]
    assert [S.SUBMITTED, S.SUBMITTED, S.IN_PROGRESS, S.REWARDED] == statuses
    reps = [ledger.get_referral(rid, as_of=m).rep for m, _ in moments]
    assert [None, "rep-01", "rep-02", "rep-02"] == reps
