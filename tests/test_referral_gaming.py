"""Referrals can't be gamed (issue 12): a referrer never collects a reward for
itself, and the automatic reward follows the referred customer, not a phone.

Each test first plays the exploit (or the lost reward) the way a host would,
through the public commands, on every store.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from uuid import UUID, uuid4

import pytest

from referral_ledger import Ledger, ReferralStatus, ReferrerNotEligible
from referral_ledger.aggregates.customer import ContractSigned
from referral_ledger.aggregates.referral import ReferralRewarded
from referral_ledger.reactions.referrals import signed_at

S = ReferralStatus
REFERRER_PHONE = "0912 345 678"
LEAD_PHONE = "0987 654 321"


@pytest.fixture
def ledger(store_url: str) -> Iterator[Ledger]:
    with Ledger.open(store_url) as opened:
        yield opened


def new_referrer(ledger: Ledger) -> UUID:
    referrer = ledger.register_customer("Nguyễn Văn An", [REFERRER_PHONE])
    ledger.sign_contract(referrer, "C-1", "pro", date(2020, 1, 1), date(2099, 12, 31))
    return referrer


def rewards_of(ledger: Ledger, referral_id: UUID) -> list[ReferralRewarded]:
    return [e for e in ledger._store.events_of(referral_id) if isinstance(e, ReferralRewarded)]


# --- a referrer never collects a reward for itself ---------------------------------


def test_a_referrer_adding_the_leads_phone_to_its_own_record_is_never_paid(
    ledger: Ledger,
) -> None:
    """The exploit: refer another number, add it to one's own record, sign a
    renewal. Today this pays 500,000 VND; now the referral is ineligible."""
    referrer = new_referrer(ledger)
    rid = ledger.submit_referral(referrer, "Trần Thị Bình", LEAD_PHONE, "fashion")
    ledger.update_customer(referrer, phones=[REFERRER_PHONE, LEAD_PHONE])
    ledger.sign_contract(referrer, "C-2", "pro", date(2100, 1, 1), date(2100, 12, 31))

    referral = ledger.get_referral(rid)
    assert [] == rewards_of(ledger, rid)
    assert (S.INELIGIBLE, None) == (referral.status, referral.reward)
    assert "referrer" in (referral.timeline[-1].note or "")


def test_a_manual_reward_of_a_referral_whose_lead_is_the_referrer_is_refused(
    store_url: str,
) -> None:
    """Before any worker ran (react_inline=False), the referrer holds the lead's
    phone: `reward_referral` refuses, saying why, and records nothing."""
    with Ledger.open(store_url, react_inline=False) as ledger:
        referrer = new_referrer(ledger)
        rid = ledger.submit_referral(referrer, "Trần Thị Bình", LEAD_PHONE, "fashion")
        ledger.update_customer(referrer, phones=[REFERRER_PHONE, LEAD_PHONE])
        before = ledger.event_count()
        with pytest.raises(ReferrerNotEligible, match="referrer"):
            ledger.reward_referral(rid, amount=500_000)
        assert before == ledger.event_count()
        assert S.SUBMITTED == ledger.get_referral(rid).status


def test_a_lead_sharing_a_phone_with_the_referrer_is_not_rewarded(ledger: Ledger) -> None:
    """The lead's customer registered with the referrer's phone too (a host
    allowing shared numbers): when it signs, the referral is ineligible."""
    referrer = new_referrer(ledger)
    rid = ledger.submit_referral(referrer, "Trần Thị Bình", LEAD_PHONE, "fashion")
    lead = ledger.register_customer(
        "Trần Thị Bình", [LEAD_PHONE, REFERRER_PHONE], on_duplicate_phone="create"
    )
    assert lead == ledger.get_referral(rid).referred_customer_id
    with pytest.raises(ReferrerNotEligible, match="phone"):
        ledger.reward_referral(rid, amount=500_000)
    ledger.sign_contract(lead, "C-77", "pro", date(2026, 1, 1), date(2026, 12, 31))

    referral = ledger.get_referral(rid)
    assert [] == rewards_of(ledger, rid)
    assert S.INELIGIBLE == referral.status
    assert "+84912345678" in (referral.timeline[-1].note or "")


def test_a_lead_that_dropped_the_shared_phone_before_signing_is_rewarded(
    ledger: Ledger,
) -> None:
    """Sharing is judged when the reward is decided, not when the lead registered."""
    referrer = new_referrer(ledger)
    rid = ledger.submit_referral(referrer, "Trần Thị Bình", LEAD_PHONE, "fashion")
    lead = ledger.register_customer(
        "Trần Thị Bình", [LEAD_PHONE, REFERRER_PHONE], on_duplicate_phone="create"
    )
    ledger.update_customer(lead, phones=[LEAD_PHONE])
    ledger.sign_contract(lead, "C-77", "pro", date(2026, 1, 1), date(2026, 12, 31))
    assert (S.REWARDED, Decimal(500_000)) == (
        ledger.get_referral(rid).status,
        ledger.get_referral(rid).reward,
    )


# --- the automatic reward follows the referred customer ----------------------------


def test_a_referred_customer_who_changed_its_phone_is_rewarded_when_it_signs(
    ledger: Ledger,
) -> None:
    referrer = new_referrer(ledger)
    rid = ledger.submit_referral(referrer, "Trần Thị Bình", LEAD_PHONE, "fashion")
    lead = ledger.register_customer("Trần Thị Bình", [LEAD_PHONE])
    assert lead == ledger.get_referral(rid).referred_customer_id
    ledger.update_customer(lead, phones=["0901 000 001"])
    ledger.sign_contract(lead, "C-77", "pro", date(2026, 1, 1), date(2026, 12, 31))

    [rewarded] = rewards_of(ledger, rid)
    assert (Decimal(500_000), True) == (rewarded.amount, rewarded.automatic)
    assert S.REWARDED == ledger.get_referral(rid).status


def test_a_customer_who_took_the_leads_old_phone_does_not_collect_its_reward(
    ledger: Ledger,
) -> None:
    """The referral stays the customer's it was linked to: whoever holds the
    lead's number later (the lead dropped it) signing rewards nothing."""
    referrer = new_referrer(ledger)
    rid = ledger.submit_referral(referrer, "Trần Thị Bình", LEAD_PHONE, "fashion")
    lead = ledger.register_customer("Trần Thị Bình", [LEAD_PHONE])
    ledger.update_customer(lead, phones=["0901 000 001"])
    other = ledger.register_customer("Lê Văn Cường", [LEAD_PHONE])
    ledger.sign_contract(other, "C-88", "pro", date(2026, 1, 1), date(2026, 12, 31))
    assert [] == rewards_of(ledger, rid)
    assert lead == ledger.get_referral(rid).referred_customer_id
    ledger.sign_contract(lead, "C-77", "pro", date(2026, 1, 1), date(2026, 12, 31))
    assert 1 == len(rewards_of(ledger, rid))


def test_the_automatic_reward_is_dated_by_the_contract_signing(ledger: Ledger) -> None:
    """A signing backfilled with `at=` dates its automatic reward, not the moment it was loaded."""
    referrer = new_referrer(ledger)
    submitted = datetime(2026, 3, 1, 9, tzinfo=UTC)
    rid = ledger.submit_referral(referrer, "Trần Thị Bình", LEAD_PHONE, "fashion", at=submitted)
    lead = ledger.register_customer("Trần Thị Bình", [LEAD_PHONE], at=submitted)
    signed = datetime(2026, 3, 20, 15, tzinfo=UTC)
    ledger.sign_contract(lead, "C-77", "pro", date(2026, 3, 20), date(2026, 12, 31), at=signed)
    [rewarded] = rewards_of(ledger, rid)
    assert signed == rewarded.at


def test_signed_at_is_the_signings_business_time() -> None:
    backfilled = datetime(2025, 3, 1, 9, tzinfo=UTC)
    event = ContractSigned(
        originator_id=uuid4(),
        originator_version=2,
        timestamp=datetime(2026, 6, 1, tzinfo=UTC),
        customer_id=uuid4(),
        contract_id="C-1",
        plan="pro",
        starts_on=date(2025, 3, 1),
        ends_on=date(2026, 2, 28),
        at=backfilled,
    )
    assert backfilled == signed_at(event)
