"""What a referral's events and timeline record, pinned field by field.

A reward says whether the ledger paid it by itself (the lead signed a
contract) or a person did; every timeline entry keeps the rep working the
referral at that moment; a referral that closes frees its lead's phone, and
never a phone another referral holds.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from uuid import UUID, uuid4

from referral_ledger import Ledger, ReferralStatus, TimelineEntry
from referral_ledger.aggregates import phones
from referral_ledger.aggregates.referral import ReferralRewarded
from support import Clock

S = ReferralStatus
START = datetime(2026, 1, 10, 8, 0, tzinfo=UTC)
LEAD_PHONE = "0987 654 321"
LEAD_E164 = "+84987654321"


def referral_of(ledger: Ledger) -> tuple[UUID, UUID]:
    referrer = ledger.register_customer("Nguyễn Văn An", ["0912 345 678"])
    ledger.sign_contract(referrer, "C-1", "pro", date(2026, 1, 1), date(2026, 12, 31))
    rid = ledger.submit_referral(referrer, "Trần Thị Bình", LEAD_PHONE, "fashion")
    return referrer, rid


def test_a_reward_a_person_gives_is_not_recorded_as_automatic(ledger: Ledger) -> None:
    _, rid = referral_of(ledger)
    ledger.reward_referral(rid, 300_000)
    [rewarded] = [e for e in ledger._store.events_of(rid) if isinstance(e, ReferralRewarded)]
    assert rewarded.automatic is False


def test_the_reward_the_lead_s_contract_triggers_is_recorded_as_automatic(ledger: Ledger) -> None:
    _, rid = referral_of(ledger)
    lead = ledger.register_customer("Trần Thị Bình", [LEAD_PHONE])
    ledger.sign_contract(lead, "C-77", "basic", date(2026, 1, 1), date(2026, 12, 31))
    [rewarded] = [e for e in ledger._store.events_of(rid) if isinstance(e, ReferralRewarded)]
    assert rewarded.automatic is True


def test_every_timeline_entry_keeps_the_rep_of_its_moment(ledger: Ledger, clock: Clock) -> None:
    _, rid = referral_of(ledger)
    submitted = clock.now
    ledger.start_referral(rid, rep="Lan")
    ledger.assign_rep(rid, "Minh", note="Lan is on leave")
    ledger.mark_ineligible(rid, reason="already a customer")
    referral = ledger.get_referral(rid)
    assert [
        TimelineEntry(S.SUBMITTED, submitted, None, None),
        TimelineEntry(S.IN_PROGRESS, clock.now, None, "Lan"),
        TimelineEntry(S.IN_PROGRESS, clock.now, "Lan is on leave", "Minh"),
        TimelineEntry(S.INELIGIBLE, clock.now, "already a customer", "Minh"),
    ] == list(referral.timeline)
    assert ("Minh", S.INELIGIBLE) == (referral.rep, referral.status)


def test_a_closing_referral_never_frees_a_phone_another_referral_holds() -> None:
    first, second = uuid4(), uuid4()
    at = START
    [claimed] = phones.claim_for_lead(None, LEAD_E164, first, at)
    assert isinstance(claimed, phones.LeadPhoneClaimed)
    assert (phones.phone_record_id(LEAD_E164), LEAD_E164, first) == (
        claimed.originator_id,
        claimed.phone,
        claimed.referral_id,
    )
    index = phones.evolve_phone(None, claimed)
    [released] = phones.release_lead(index, LEAD_E164, first, at)
    assert isinstance(released, phones.LeadPhoneReleased)
    assert (LEAD_E164, first) == (released.phone, released.referral_id)
    index = phones.evolve_phone(index, released)
    assert index.open_referral is None
    [claimed] = phones.claim_for_lead(index, LEAD_E164, second, at)
    index = phones.evolve_phone(index, claimed)
    # The first referral is closed again (or replayed): the second keeps the phone.
    assert [] == phones.release_lead(index, LEAD_E164, first, at)
    assert [] == phones.release_lead(None, LEAD_E164, first, at)
    assert second == index.open_referral


def test_a_closed_referral_is_not_linked_to_a_lead_who_registers_later(ledger: Ledger) -> None:
    _, rid = referral_of(ledger)
    ledger.mark_ineligible(rid, reason="not interested")
    ledger.register_customer("Trần Thị Bình", [LEAD_PHONE])
    assert ledger.get_referral(rid).referred_customer_id is None
