"""The cross-record referral rules (policies/referral_rules.py), without a store:
who may refer on a business day, which lead phones are new, and when a reward
would pay a referrer for itself."""

from __future__ import annotations

from datetime import date, timedelta
from uuid import uuid4

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from referral_ledger import DuplicatePhone, InvalidInput, ReferrerNotEligible
from referral_ledger.policies.referral_rules import (
    check_lead_phone,
    check_referrer,
    in_force_on,
    self_referral,
)

REFERRER = uuid4()
LEAD = uuid4()
OTHER = uuid4()


@attrs.frozen
class Term:
    starts_on: date
    ends_on: date


@given(
    start=st.dates(date(2000, 1, 1), date(2090, 1, 1)),
    length=st.integers(0, 800),
    offset=st.integers(-900, 900),
)
def test_a_contract_is_in_force_on_every_day_of_its_term_both_ends_included(
    start: date, length: int, offset: int
) -> None:
    term = Term(start, start + timedelta(days=length))
    day = start + timedelta(days=offset)
    assert (0 <= offset <= length) == in_force_on([term], day)


def test_a_referrer_needs_a_contract_in_force_on_the_day() -> None:
    terms = [Term(date(2025, 1, 1), date(2025, 12, 31)), Term(date(2027, 1, 1), date(2027, 6, 30))]
    check_referrer(REFERRER, terms, date(2025, 12, 31))
    check_referrer(REFERRER, terms, date(2027, 1, 1))
    with pytest.raises(ReferrerNotEligible, match="2026-06-01"):
        check_referrer(REFERRER, terms, date(2026, 6, 1))
    with pytest.raises(ReferrerNotEligible, match=str(REFERRER)):
        check_referrer(REFERRER, [], date(2025, 6, 1))


def test_a_lead_phone_must_be_new() -> None:
    phone = "+84987654321"
    check_lead_phone(phone, referrer_phones=["+84912345678"], owners=(), open_referral=None)
    with pytest.raises(InvalidInput, match="own phone"):
        check_lead_phone(phone, referrer_phones=[phone], owners=(), open_referral=None)
    with pytest.raises(DuplicatePhone, match="belongs to a customer"):
        check_lead_phone(phone, referrer_phones=(), owners=(OTHER,), open_referral=None)
    open_one = uuid4()
    with pytest.raises(DuplicatePhone, match=str(open_one)):
        check_lead_phone(phone, referrer_phones=(), owners=(), open_referral=open_one)


def test_a_new_customer_is_no_self_referral() -> None:
    assert None is self_referral(
        referrer_id=REFERRER,
        referrer_phones=["+84912345678"],
        lead_phone="+84987654321",
        lead_phone_owners=(LEAD,),
        lead_customer_id=LEAD,
        lead_customer_phones=["+84987654321", "+84901000001"],
    )
    assert None is self_referral(
        referrer_id=REFERRER,
        referrer_phones=["+84912345678"],
        lead_phone="+84987654321",
        lead_phone_owners=(),
        lead_customer_id=None,
    )


def test_the_lead_being_the_referrer_is_a_self_referral() -> None:
    why = self_referral(
        referrer_id=REFERRER,
        referrer_phones=["+84912345678", "+84987654321"],
        lead_phone="+84987654321",
        lead_phone_owners=(REFERRER,),
        lead_customer_id=REFERRER,
        lead_customer_phones=["+84912345678", "+84987654321"],
    )
    assert f"the lead's customer is the referrer {REFERRER} itself" == why


def test_the_referrer_holding_the_leads_phone_is_a_self_referral() -> None:
    """Not linked yet (no worker ran): the phone's owners tell."""
    why = self_referral(
        referrer_id=REFERRER,
        referrer_phones=["+84912345678", "+84987654321"],
        lead_phone="+84987654321",
        lead_phone_owners=(REFERRER,),
        lead_customer_id=None,
    )
    assert why is not None and "+84987654321 belongs to the referrer" in why


def test_sharing_a_phone_with_the_referrer_is_a_self_referral() -> None:
    why = self_referral(
        referrer_id=REFERRER,
        referrer_phones=["+84912345678"],
        lead_phone="+84987654321",
        lead_phone_owners=(LEAD,),
        lead_customer_id=LEAD,
        lead_customer_phones=["+84987654321", "+84912345678"],
    )
    assert why is not None and "shares phone +84912345678" in why
