"""The automatic reward: a lead who becomes a customer and signs a contract
rewards its open referral by itself, exactly once.

The reward is a tracked reaction (`reactions.py`): it follows the log and
saves its events together with its position in one transaction. These tests
pin the behaviour end to end on every store, then the exactly-once promise
with real OS processes: one killed between deciding a reward and saving it,
two reacting at once; and the two ways a host runs it (on opening, and
`run_worker` in a thread).
"""

from __future__ import annotations

import multiprocessing
import signal
import threading
import time
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

import workers
from referral_ledger import Ledger, ReferralProgram, ReferralStatus
from referral_ledger.aggregates.referral import ReferralRewarded, ReferredCustomerLinked
from referral_ledger.reactions.referrals import AUTOMATIC_REWARDS
from support import race as race_processes

S = ReferralStatus
LEAD_PHONE = "0987 654 321"
#: Seconds to wait for worker processes or a worker thread; generous, never asserted on.
WAIT = 90.0

pytestmark = pytest.mark.timeout(240)


@pytest.fixture
def ledger(store_url: str) -> Iterator[Ledger]:
    with Ledger.open(store_url) as opened:
        yield opened


def configure(ledger: Ledger) -> None:
    ledger.configure_referrals(
        ReferralProgram(
            reward_by_plan={"pro": Decimal(500_000), "basic": Decimal(200_000)},
            default_reward=Decimal(300_000),
        )
    )


def new_referrer(ledger: Ledger, phone: str = "0912 345 678") -> UUID:
    referrer = ledger.register_customer("Nguyễn Văn An", [phone])
    ledger.sign_contract(referrer, "C-1", "pro", date(2020, 1, 1), date(2099, 12, 31))
    return referrer


def refer(ledger: Ledger, referrer: UUID, phone: str = LEAD_PHONE) -> UUID:
    return ledger.submit_referral(referrer, "Trần Thị Bình", phone, "fashion")


def lead_signs(ledger: Ledger, phone: str, contract_id: str = "C-77", plan: str = "basic") -> UUID:
    """The lead registers as a customer (with `phone`) and signs a contract."""
    customer = ledger.register_customer("Trần Thị Bình", [phone])
    ledger.sign_contract(customer, contract_id, plan, date(2026, 1, 1), date(2026, 12, 31))
    return customer


def rewards_of(ledger: Ledger, referral_id: UUID) -> list[ReferralRewarded]:
    return [e for e in ledger._store.events_of(referral_id) if isinstance(e, ReferralRewarded)]


# --- end to end, on every store ------------------------------------------------


def test_the_lead_signing_a_contract_rewards_the_referral(ledger: Ledger) -> None:
    configure(ledger)
    rid = refer(ledger, new_referrer(ledger))
    ledger.start_referral(rid, rep="rep-01")
    lead = ledger.register_customer("Trần Thị Bình", ["+84 987 654 321"])  # not a duplicate
    referral = ledger.get_referral(rid)
    assert (lead, S.IN_PROGRESS) == (referral.referred_customer_id, referral.status)

    ledger.sign_contract(lead, "C-77", "basic", date(2026, 1, 1), date(2026, 12, 31))
    referral = ledger.get_referral(rid)
    assert S.REWARDED == referral.status
    assert (Decimal(200_000), "basic") == (referral.reward, referral.plan)
    assert lead == referral.referred_customer_id
    [rewarded] = rewards_of(ledger, rid)
    assert rewarded.automatic
    assert "C-77" in (referral.timeline[-1].note or "")
    assert ("rep-01", S.REWARDED) == (referral.timeline[-1].rep, referral.timeline[-1].status)
    # Later contracts of the same customer reward nothing more.
    ledger.sign_contract(lead, "C-78", "pro", date(2026, 1, 1), date(2026, 12, 31))
    assert 1 == len(rewards_of(ledger, rid))


def test_a_lead_who_adds_the_phone_later_is_linked_and_rewarded(ledger: Ledger) -> None:
    rid = refer(ledger, new_referrer(ledger))
    lead = ledger.register_customer("Trần Thị Bình", ["0901 000 001"])
    assert ledger.get_referral(rid).referred_customer_id is None
    ledger.update_customer(lead, phones=["0901 000 001", "84987654321"])
    assert lead == ledger.get_referral(rid).referred_customer_id
    ledger.sign_contract(lead, "C-9", "plus", date(2026, 1, 1), date(2026, 12, 31))
    assert (S.REWARDED, Decimal(500_000)) == (
        ledger.get_referral(rid).status,
        ledger.get_referral(rid).reward,
    )


def test_a_contract_signed_by_an_unrelated_customer_rewards_nothing(ledger: Ledger) -> None:
    configure(ledger)
    rid = refer(ledger, new_referrer(ledger))
    before = ledger._store.events_of(rid)
    lead_signs(ledger, "0901 000 001")
    assert before == ledger._store.events_of(rid)
    assert S.SUBMITTED == ledger.get_referral(rid).status


@pytest.mark.parametrize("closed", [S.INELIGIBLE, S.REWARDED])
def test_a_closed_referral_is_not_rewarded_again(ledger: Ledger, closed: ReferralStatus) -> None:
    rid = refer(ledger, new_referrer(ledger))
    if closed is S.INELIGIBLE:
        ledger.mark_ineligible(rid, reason="not a business")
    else:
        ledger.reward_referral(rid, amount=100_000)
    before = ledger._store.events_of(rid)
    lead_signs(ledger, LEAD_PHONE)
    assert before == ledger._store.events_of(rid)
    assert closed == ledger.get_referral(rid).status


def test_a_referral_closed_after_linking_is_not_rewarded(ledger: Ledger) -> None:
    rid = refer(ledger, new_referrer(ledger))
    lead = ledger.register_customer("Trần Thị Bình", [LEAD_PHONE])
    ledger.mark_ineligible(rid, reason="went to a competitor")
    ledger.sign_contract(lead, "C-77", "basic", date(2026, 1, 1), date(2026, 12, 31))
    assert S.INELIGIBLE == ledger.get_referral(rid).status
    assert [] == rewards_of(ledger, rid)


# --- exactly once, with processes ------------------------------------------------


def pending_reward(url: str, leads: int = 1) -> tuple[list[UUID], int]:
    """Referrals whose leads registered and signed, with the reactions not yet run.

    Returns the referral ids and the log position of the last trigger.
    """
    with Ledger.open(url, react_inline=False) as ledger:
        configure(ledger)
        referrer = new_referrer(ledger)
        referrals = [refer(ledger, referrer, f"0987{n:06d}") for n in range(leads)]
        for n in range(leads):
            lead_signs(ledger, f"0987{n:06d}", contract_id=f"C-{n}")
        assert [S.SUBMITTED] * leads == [ledger.get_referral(r).status for r in referrals]
        assert 0 == ledger._store.reacted_up_to(AUTOMATIC_REWARDS)
        return referrals, ledger.event_count()


def test_a_worker_killed_between_deciding_and_saving_a_reward_leaves_one_reward(
    sqlite_url: str, tmp_path: Path
) -> None:
    """Crash between the contract and the reward: the next run rewards once."""
    [rid], last_trigger = pending_reward(sqlite_url)
    marker = tmp_path / "decided"
    ctx = multiprocessing.get_context("spawn")
    child = ctx.Process(
        target=workers.react_and_die_before_saving_a_reward, args=(sqlite_url, str(marker))
    )
    child.start()
    child.join(WAIT)
    assert -signal.SIGKILL == child.exitcode
    assert marker.exists(), "the worker died before deciding the reward"

    with Ledger.open(sqlite_url, react_inline=False) as ledger:
        # The link (an earlier trigger) was saved; the reward and its position were not.
        assert any(isinstance(e, ReferredCustomerLinked) for e in ledger._store.events_of(rid))
        assert [] == rewards_of(ledger, rid)
        assert ledger._store.reacted_up_to(AUTOMATIC_REWARDS) < last_trigger
        assert 0 < ledger.process_reactions()
        assert 0 == ledger.process_reactions()
        [rewarded] = rewards_of(ledger, rid)
        assert (Decimal(200_000), True) == (rewarded.amount, rewarded.automatic)
        assert last_trigger == ledger._store.reacted_up_to(AUTOMATIC_REWARDS)
    with Ledger.open(sqlite_url) as ledger:  # reacting on open finds nothing left to do
        assert 1 == len(rewards_of(ledger, rid))


def run_together(target: Any, url: str, processes: int) -> list[dict[str, Any]]:
    return race_processes(target, [(url,)] * processes, WAIT)


def test_two_workers_reacting_at_once_reward_each_referral_once(shared_url: str) -> None:
    referrals, last_trigger = pending_reward(shared_url, leads=4)
    results = run_together(workers.react_together, shared_url, 2)
    # Each of the 8 triggers (4 phone claims, 4 contracts) was handled by someone.
    assert 8 <= sum(r["reacted"] for r in results)
    with Ledger.open(shared_url, react_inline=False) as ledger:
        assert [1] * 4 == [len(rewards_of(ledger, r)) for r in referrals]
        assert [S.REWARDED] * 4 == [ledger.get_referral(r).status for r in referrals]
        assert last_trigger == ledger._store.reacted_up_to(AUTOMATIC_REWARDS)
        assert 0 == ledger.process_reactions()


# --- how a host runs it ----------------------------------------------------------------


def test_opening_with_react_inline_completes_pending_reactions(shared_url: str) -> None:
    """A process opened with react_inline=False left the reward pending; the next
    ledger opened with react_inline=True (the default) completes it on opening."""
    [rid], last_trigger = pending_reward(shared_url)
    with Ledger.open(shared_url) as ledger:
        assert S.REWARDED == ledger.get_referral(rid).status
        assert 1 == len(rewards_of(ledger, rid))
        assert last_trigger == ledger._store.reacted_up_to(AUTOMATIC_REWARDS)


def test_react_inline_false_leaves_the_reward_to_a_worker(shared_url: str) -> None:
    with Ledger.open(shared_url) as worker, Ledger.open(shared_url, react_inline=False) as web:
        rid = refer(web, new_referrer(web))
        lead_signs(web, LEAD_PHONE)
        assert S.SUBMITTED == web.get_referral(rid).status
        # Two phone claims and two contracts (the referrer's and the lead's).
        assert 4 == worker.process_reactions()
        assert 0 == worker.process_reactions()
        assert S.REWARDED == web.get_referral(rid).status


def test_run_worker_in_a_thread_rewards_the_referral(sqlite_url: str) -> None:
    with Ledger.open(sqlite_url, react_inline=False) as web:
        rid = refer(web, new_referrer(web))
        stop = threading.Event()
        worker_ledger = Ledger.open(sqlite_url, react_inline=False)
        worker = threading.Thread(
            target=worker_ledger.run_worker, args=(stop,), kwargs={"poll_interval": 0.05}
        )
        worker.start()
        try:
            lead_signs(web, LEAD_PHONE)
            deadline = time.monotonic() + WAIT
            while web.get_referral(rid).status is S.SUBMITTED and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            stop.set()
            worker.join(WAIT)
            worker_ledger.close()
        assert not worker.is_alive()
        assert S.REWARDED == web.get_referral(rid).status
        assert 1 == len(rewards_of(web, rid))


def test_processes_submitting_one_lead_at_once_create_one_referral(shared_url: str) -> None:
    """The open-referral rule is enforced by the store: of the racing submissions of
    one phone (in three spellings), exactly one becomes a referral."""
    spellings = ["0987 654 321", "+84 987 654 321", "84987654321"]
    with Ledger.open(shared_url) as ledger:
        referrer = new_referrer(ledger)
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(len(spellings))
    queue = ctx.Queue()
    children = [
        ctx.Process(
            target=workers.submit_same_lead,
            args=(shared_url, referrer, spellings, i, barrier, queue),
            daemon=True,
        )
        for i in range(len(spellings))
    ]
    for child in children:
        child.start()
    try:
        results = [queue.get(timeout=WAIT) for _ in children]
    finally:
        for child in children:
            child.join(timeout=10)
    errors = [r["error"] for r in results if "error" in r]
    assert [] == errors, "\n".join(errors)
    outcomes = [r["submitted"] for r in results]
    assert 2 == outcomes.count("duplicate")
    [rid] = [o for o in outcomes if o != "duplicate"]
    with Ledger.open(shared_url) as ledger:
        assert [rid] == [row.referral_id for row in ledger.lead_table(limit=1000)]
