"""Customers under real concurrency: OS processes racing on one SQLite file or PostgreSQL.

Phone uniqueness and "one customer per external id" are promised by the store
itself (index and link records at derived ids, saved with the customer), so
they must hold between processes that never see each other's memory. Each
worker is a "spawn"ed interpreter with its own `Ledger`; the workers meet at
a barrier before each round so their registrations collide.
"""

from __future__ import annotations

import traceback
from collections import Counter
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.utils import get_topic

from referral_ledger import DuplicatePhone, Ledger
from referral_ledger.aggregates.customer import CustomerRegistered
from support import race as race_processes

PROCESSES = 4
ROUNDS = 3
RESULTS_TIMEOUT = 120.0
BARRIER_TIMEOUT = 60.0

pytestmark = pytest.mark.timeout(240)


def phone_of_round(n: int) -> str:
    return f"0912 000 {n:03d}"


# --- what the workers run (imported by name in the spawned interpreters) --------


def register_rounds(
    url: str, policy: str, external: bool, worker: int, barrier: Any, results: Any
) -> None:
    """Each round, register a customer with that round's phone (or external id).

    With `external`, every worker uses the round's external id and a phone of
    its own; otherwise every worker uses the round's phone. Reports, per
    round, the id returned or "duplicate" for `DuplicatePhone`.
    """
    try:
        outcome: list[str] = []
        with Ledger.open(url) as ledger:
            for n in range(ROUNDS):
                if external:
                    phones, external_id = [f"0987 {worker:03d} {n:03d}"], f"KV-{n}"
                else:
                    phones, external_id = [phone_of_round(n)], None
                barrier.wait(BARRIER_TIMEOUT)
                try:
                    customer = ledger.register_customer(
                        f"Khách {worker}-{n}",
                        phones,
                        external_id=external_id,
                        on_duplicate_phone=policy,  # type: ignore[arg-type]
                    )
                except DuplicatePhone:
                    outcome.append("duplicate")
                else:
                    outcome.append(str(customer))
        results.put({"worker": worker, "outcome": outcome})
    except BaseException:
        barrier.abort()
        results.put({"worker": worker, "error": traceback.format_exc()})


# --- the tests -------------------------------------------------------------------


def race(url: str, policy: str, *, external: bool) -> list[list[str]]:
    """Run the workers; returns each round's outcomes, one per worker."""
    args = [(url, policy, external)] * PROCESSES
    outcomes = [r["outcome"] for r in race_processes(register_rounds, args, RESULTS_TIMEOUT)]
    return [[outcome[n] for outcome in outcomes] for n in range(ROUNDS)]


def registrations(ledger: Ledger) -> int:
    """How many CustomerRegistered events the store holds."""
    topic = get_topic(CustomerRegistered)
    return len(ledger._store.notifications(0, 10_000, topics=(topic,)))


def test_the_same_phone_from_several_processes_makes_one_customer(shared_url: str) -> None:
    """Under "reject", exactly one process registers each phone; the rest get DuplicatePhone."""
    rounds = race(shared_url, "reject", external=False)
    with Ledger.open(shared_url) as ledger:
        for n, outcomes in enumerate(rounds):
            winners = [o for o in outcomes if o != "duplicate"]
            assert 1 == len(winners), outcomes
            assert PROCESSES - 1 == outcomes.count("duplicate")
            assert [UUID(winners[0])] == ledger.find_customers_by_phone(phone_of_round(n))
        assert ROUNDS == registrations(ledger)


def test_the_same_external_id_from_several_processes_makes_one_customer(
    shared_url: str,
) -> None:
    """Every process gets the same id back; only the winner's phone is claimed."""
    rounds = race(shared_url, "reject", external=True)
    with Ledger.open(shared_url) as ledger:
        for n, outcomes in enumerate(rounds):
            assert 1 == len(set(outcomes)), outcomes
            customer = UUID(outcomes[0])
            assert customer == ledger.find_customer_by_external_id(f"KV-{n}")
            phones = {w: f"0987 {w:03d} {n:03d}" for w in range(PROCESSES)}
            claimed = [w for w, phone in phones.items() if ledger.find_customer_by_phone(phone)]
            assert 1 == len(claimed)
            assert ledger.get_customer(customer).phones == (f"+84987{claimed[0]:03d}{n:03d}",)
        assert ROUNDS == registrations(ledger)


def test_create_from_several_processes_loses_no_owner(shared_url: str) -> None:
    """Under "create", every process's customer is on the shared phone's index."""
    rounds = race(shared_url, "create", external=False)
    with Ledger.open(shared_url) as ledger:
        for n, outcomes in enumerate(rounds):
            customers = [UUID(o) for o in outcomes]
            assert PROCESSES == len(set(customers))
            owners = ledger.find_customers_by_phone(phone_of_round(n))
            assert Counter(customers) == Counter(owners)
        assert ROUNDS * PROCESSES == registrations(ledger)
