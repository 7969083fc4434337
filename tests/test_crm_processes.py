"""Round robin and unique fields under real concurrency: OS processes racing on
one SQLite file or PostgreSQL database.

A department's turn is a record in the log, written in the same transaction
as each customer handed to it, so processes that never see each other's
memory still take turns; a unique field's values are claim records, so two
processes registering the same email cannot both win. Each worker is a
"spawn"ed interpreter with its own `Ledger`, released from a barrier with the
others so their commands collide.
"""

from __future__ import annotations

import time
import traceback
from collections import Counter
from typing import Any

import pytest

from referral_ledger import AssignmentRule, Condition, DuplicateValue, Ledger
from support import race as race_processes

RESULTS_TIMEOUT = 300.0
BARRIER_TIMEOUT = 60.0
MEMBERS = ("nv1", "nv2", "nv3")
FAIRNESS_PROCESSES = 3
PER_PROCESS = 100
EMAIL_PROCESSES = 4
EMAIL_ROUNDS = 3
CONFIGURE_ROUNDS = 4

pytestmark = pytest.mark.timeout(600)


# --- what the workers run (imported by name in the spawned interpreters) --------


def register_from_ads(url: str, worker: int, barrier: Any, results: Any) -> None:
    """Register `PER_PROCESS` customers from ads; report the owner of each."""
    try:
        owners: list[str | None] = []
        with Ledger.open(url) as ledger:
            barrier.wait(BARRIER_TIMEOUT)
            for n in range(PER_PROCESS):
                customer = ledger.register_customer(
                    f"Khách {worker}-{n}", [f"09{worker:02d}{n:06d}"], source="ads"
                )
                owners.append(ledger.get_customer(customer).assigned_staff)
        results.put({"worker": worker, "owners": owners})
    except BaseException:
        barrier.abort()
        results.put({"worker": worker, "error": traceback.format_exc()})


def register_same_email(url: str, worker: int, barrier: Any, results: Any) -> None:
    """Each round, register a customer with that round's email and a phone of its own."""
    try:
        outcome: list[str] = []
        with Ledger.open(url) as ledger:
            for n in range(EMAIL_ROUNDS):
                barrier.wait(BARRIER_TIMEOUT)
                try:
                    customer = ledger.register_customer(
                        f"Khách {worker}-{n}",
                        [f"0987{worker:03d}{n:03d}"],
                        email=f"round{n}@shop.vn",
                    )
                except DuplicateValue:
                    outcome.append("duplicate")
                else:
                    outcome.append(str(customer))
        results.put({"worker": worker, "outcome": outcome})
    except BaseException:
        barrier.abort()
        results.put({"worker": worker, "error": traceback.format_exc()})


def configure_or_register(url: str, worker: int, barrier: Any, results: Any) -> None:
    """Worker 0 makes email unique each round (and plain again after it); the
    others each register a customer with that round's email, after a pause
    that differs by worker and round, so they land before, during and after."""
    try:
        outcome: list[str] = []
        with Ledger.open(url) as ledger:
            for n in range(CONFIGURE_ROUNDS):
                barrier.wait(BARRIER_TIMEOUT)
                try:
                    if worker == 0:
                        ledger.configure_customer_fields(
                            required={"name", "phones"}, unique={"phones", "email"}
                        )
                    else:
                        time.sleep(0.01 * ((worker * 7 + n * 3) % 10))
                        ledger.register_customer(
                            f"Khách {worker}-{n}", [f"0986{worker:03d}{n:03d}"],
                            email=f"round{n}@shop.vn",
                        )  # fmt: skip
                except DuplicateValue:
                    outcome.append("duplicate")
                else:
                    outcome.append("done")
                barrier.wait(BARRIER_TIMEOUT)
                if worker == 0:  # plain again, with no one registering
                    ledger.configure_customer_fields(required={"name", "phones"}, unique={"phones"})
        results.put({"worker": worker, "outcome": outcome})
    except BaseException:
        barrier.abort()
        results.put({"worker": worker, "error": traceback.format_exc()})


# --- the tests -------------------------------------------------------------------


def race(url: str, target: Any, processes: int) -> list[dict[str, Any]]:
    return race_processes(target, [(url,)] * processes, RESULTS_TIMEOUT)


def test_a_department_hands_out_fairly_to_processes_registering_at_once(
    shared_url: str,
) -> None:
    """3 processes register 300 customers from ads at once: each of sales's 3
    members gets 100 (at most one apart), and a 4th, inactive member none."""
    with Ledger.open(shared_url) as ledger:
        for member in MEMBERS:
            ledger.add_staff(member, member.upper(), department="sales")
        ledger.add_staff("nv4", "NV4", department="sales", active=False)
        ledger.set_assignment_rule(
            AssignmentRule(
                "ads", "Quảng cáo", frozenset({"created"}), (Condition("source", "=", "ads"),),
                "department:sales",
            )
        )  # fmt: skip
    results = race(shared_url, register_from_ads, FAIRNESS_PROCESSES)
    counts = Counter(owner for r in results for owner in r["owners"])
    assert set(MEMBERS) == set(counts), counts
    assert FAIRNESS_PROCESSES * PER_PROCESS == sum(counts.values())
    assert max(counts.values()) - min(counts.values()) <= 1, counts
    # Each process saw the others' turns: its own customers are not dealt
    # round robin among themselves alone.
    with Ledger.open(shared_url) as ledger:
        turns = ledger._store.events_of(ledger._ids("department-turn", "sales"))
        assert FAIRNESS_PROCESSES * PER_PROCESS == len(turns)
        dealt = [t.staff_id for t in turns]  # type: ignore[attr-defined]
        assert all(dealt[i] == MEMBERS[i % 3] for i in range(len(dealt)))


def test_a_unique_email_from_several_processes_goes_to_one_customer(shared_url: str) -> None:
    """4 processes register the same email at once: one wins, the rest get DuplicateValue."""
    with Ledger.open(shared_url) as ledger:
        ledger.configure_customer_fields(required={"name", "phones"}, unique={"phones", "email"})
    results = race(shared_url, register_same_email, EMAIL_PROCESSES)
    with Ledger.open(shared_url) as ledger:
        for n in range(EMAIL_ROUNDS):
            outcomes = [r["outcome"][n] for r in results]
            winners = [o for o in outcomes if o != "duplicate"]
            assert 1 == len(winners), outcomes
            registered = [
                ledger.find_customer_by_phone(f"0987{w:03d}{n:03d}") for w in range(EMAIL_PROCESSES)
            ]
            assert [winners[0]] == [str(c) for c in registered if c is not None]


def test_making_email_unique_while_processes_register_it_leaves_no_shared_email(
    shared_url: str,
) -> None:
    """One process makes email unique while 3 others register that email: when
    the configuration held, exactly one customer holds the email; when it was
    refused, customers did share it (the refusal was true)."""
    results = race(shared_url, configure_or_register, EMAIL_PROCESSES)
    with Ledger.open(shared_url) as ledger:
        rows = ledger.customers(limit=1000)
        for n in range(CONFIGURE_ROUNDS):
            holders = [r.customer_id for r in rows if r.email == f"round{n}@shop.vn"]
            configured = results[0]["outcome"][n] == "done"
            outcomes = [r["outcome"][n] for r in results]
            assert (len(holders) <= 1) if configured else (len(holders) >= 2), (n, outcomes)
