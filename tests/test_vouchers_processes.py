"""Voucher limits and first purchases under real concurrency: OS processes on one store.

The classic check-then-use race ("a limit of 3 redeemed 5 times"): every
process checks the voucher, sees a use left, and uses it. Here the use and
the voucher's count are one write of the voucher's record, so concurrent
uses conflict and are decided again: exactly the limit succeed. Likewise
the referred customer's link is version 1 of one record: one first purchase
wins. Each worker is a "spawn"ed interpreter with its own `Ledger`, released
together by a barrier.
"""

from __future__ import annotations

import traceback
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest

from referral_ledger import (
    Ledger,
    LoyaltyProgram,
    ReferralCodeProgram,
    ReferralCodeRefused,
    Voucher,
    VoucherRefused,
)
from support import race as race_processes
from till import sell

PROCESSES = 8
RESULTS_TIMEOUT = 180.0
BARRIER_TIMEOUT = 60.0

pytestmark = pytest.mark.timeout(300)


# --- what the workers run (imported by name in the spawned interpreters) --------


def use_voucher_once(
    url: str, customer: str, code: str, worker: int, barrier: Any, results: Any
) -> None:
    """Sell once with the voucher; reports "used" or the refusal's reason."""
    try:
        with Ledger.open(url, max_attempts=200) as ledger:
            barrier.wait(BARRIER_TIMEOUT)
            try:
                sell(ledger, UUID(customer), f"HD-{worker}", Decimal(100_000), voucher=code)
            except VoucherRefused as refused:
                outcome = refused.reason
            else:
                outcome = "used"
        results.put({"worker": worker, "outcome": outcome})
    except BaseException:
        barrier.abort()
        results.put({"worker": worker, "error": traceback.format_exc()})


def first_purchase(
    url: str, customer: str, code: str, worker: int, barrier: Any, results: Any
) -> None:
    """The same new customer's first purchase with a code, on an invoice of its own."""
    try:
        with Ledger.open(url, max_attempts=200) as ledger:
            barrier.wait(BARRIER_TIMEOUT)
            try:
                sell(ledger, UUID(customer), f"HD-{worker}", Decimal(100_000), referral_code=code)
            except ReferralCodeRefused as refused:
                outcome = refused.reason
            else:
                outcome = "referred"
        results.put({"worker": worker, "outcome": outcome})
    except BaseException:
        barrier.abort()
        results.put({"worker": worker, "error": traceback.format_exc()})


# --- the tests -------------------------------------------------------------------


@pytest.fixture
def shared_url(shared_url: str) -> str:
    """The shared store (conftest), its loyalty program configured."""
    with Ledger.open(shared_url) as ledger:
        ledger.configure_loyalty(
            LoyaltyProgram(money_per_point=Decimal(1000), point_value=Decimal(100))
        )
    return shared_url


def race(url: str, target: Any, customers: list[str], code: str | list[str]) -> list[str]:
    """The outcomes of `PROCESSES` workers in worker order, worker `w` with `customers[w]`
    and the code (or `code[w]`, one code each)."""
    codes = code if isinstance(code, list) else [code] * PROCESSES
    args = [(url, customers[w], codes[w]) for w in range(PROCESSES)]
    return [r["outcome"] for r in race_processes(target, args, RESULTS_TIMEOUT)]


def test_eight_processes_fight_for_the_last_three_uses(shared_url: str) -> None:
    """Two of five uses are gone: of eight sales at once, exactly three get the rest."""
    with Ledger.open(shared_url) as ledger:
        customers = [
            str(ledger.register_customer(f"K{n}", [f"0912 000 {n:03d}"]))
            for n in range(PROCESSES + 2)
        ]
        ledger.create_voucher(Voucher(code="LAST3", discount=10_000, usage_limit=5))
        for n, customer in enumerate(customers[PROCESSES:]):
            sell(ledger, UUID(customer), f"HD-EARLY-{n}", Decimal(100_000), voucher="LAST3")
        assert ledger.get_voucher("LAST3").used == 2
    outcomes = race(shared_url, use_voucher_once, customers[:PROCESSES], "last3")
    assert sorted(outcomes) == ["used"] * 3 + ["used up"] * (PROCESSES - 3)
    with Ledger.open(shared_url) as ledger:
        assert ledger.get_voucher("LAST3").used == 5


def test_eight_processes_of_one_customer_respect_the_per_customer_limit(
    shared_url: str,
) -> None:
    with Ledger.open(shared_url) as ledger:
        one = str(ledger.register_customer("K", ["0912 000 001"]))
        ledger.create_voucher(Voucher(code="TWICE", percent=10, per_customer_limit=2))
    outcomes = race(shared_url, use_voucher_once, [one] * PROCESSES, "TWICE")
    assert sorted(outcomes) == ["used"] * 2 + ["used up by this customer"] * (PROCESSES - 2)
    with Ledger.open(shared_url) as ledger:
        assert ledger.get_voucher("TWICE").used == 2


def test_eight_first_purchases_of_one_new_customer_link_it_once(shared_url: str) -> None:
    with Ledger.open(shared_url) as ledger:
        ledger.configure_referral_codes(ReferralCodeProgram(discount=Decimal(20_000)))
        referrer = ledger.register_customer("Chủ", ["0912 000 001"])
        new = str(ledger.register_customer("Mới", ["0912 000 002"]))
        code = ledger.referral_code(referrer)
    outcomes = race(shared_url, first_purchase, [new] * PROCESSES, code)
    assert outcomes.count("referred") == 1
    assert set(outcomes) - {"referred"} <= {"already referred", "bought before"}
    with Ledger.open(shared_url) as ledger:
        assert ledger.referred_by(UUID(new)) == referrer
        assert len(ledger.commissions(referrer)) == 1


def test_eight_referrers_codes_race_for_one_new_customers_first_purchase(
    shared_url: str,
) -> None:
    """Eight referrers' codes at once on one new customer: one link, one commission."""
    with Ledger.open(shared_url) as ledger:
        ledger.configure_referral_codes(
            ReferralCodeProgram(discount=Decimal(20_000), commission_percent=Decimal(5))
        )
        referrers = [
            ledger.register_customer(f"Chủ {n}", [f"0912 100 {n:03d}"]) for n in range(PROCESSES)
        ]
        codes = [ledger.referral_code(r) for r in referrers]
        new = str(ledger.register_customer("Mới", ["0912 000 002"]))
    outcomes = race(shared_url, first_purchase, [new] * PROCESSES, codes)
    assert outcomes.count("referred") == 1
    assert set(outcomes) - {"referred"} <= {"already referred", "bought before"}
    with Ledger.open(shared_url) as ledger:
        winner = referrers[outcomes.index("referred")]
        assert ledger.referred_by(UUID(new)) == winner
        # 5% of 80,000 (100,000 less the code's 20,000), to the winner alone.
        assert [[r.commission for r in ledger.commissions(c)] for c in referrers] == [
            [Decimal(4_000)] if c == winner else [] for c in referrers
        ]
        assert len(ledger.purchases(UUID(new))) == 1
