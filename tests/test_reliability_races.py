"""Races between real OS processes on one SQLite file or one PostgreSQL schema.

Complements tests/test_loyalty_processes.py (one account, the same invoice or
redemption id), tests/test_customers_processes.py (the same phone or external
id through `register_customer`) and tests/test_referral_reactions.py (the
same lead phone, two reaction workers) with what they leave out:

- 8 processes redeeming from several accounts for a fixed number of rounds:
  per account, what was acknowledged never exceeds what was earned, every
  acknowledged redemption is in the log, and nothing else is;
- the same POS customer (`sync_customer_from_pos`) and the same POS purchase
  rows (`import_purchases` by external id) from several processes at once:
  one customer, each invoice earned once, every process told the same;
- commands racing two projection/reaction workers (`run_worker`) in other
  processes: the views equal their rebuild and every automatic reward
  happened exactly once.

Each test prints the command counts (attempts, conflicts retried, conflicts
surfaced as `ConcurrencyConflict`) straight to the terminal, so they show in
CI logs. REFERRAL_LEDGER_LONG=1 runs more rounds.
"""

from __future__ import annotations

import multiprocessing
import os
import random
import traceback
from collections import Counter, defaultdict
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.utils import get_topic

from referral_ledger import (
    ConcurrencyConflict,
    Ledger,
    LoyaltyProgram,
    RedemptionRefused,
    ReferralStatus,
)
from referral_ledger.aggregates.customer import CustomerRegistered
from referral_ledger.aggregates.loyalty import PointsEarned
from referral_ledger.aggregates.referral import ReferralRewarded
from referral_ledger.audit import audit, read_log

LONG = os.environ.get("REFERRAL_LEDGER_LONG", "") not in ("", "0")
PROCESSES = 8
ROUNDS = 60 if LONG else 12
ACCOUNTS = 3
SAME_ID_PROCESSES = 4
SAME_ID_ROUNDS = 8 if LONG else 3
WRITERS = 3
WORKERS = 2
LEADS_PER_WRITER = 24 if LONG else 6
#: Seconds to wait for every worker's result.
RESULTS_TIMEOUT = 240.0
BARRIER_TIMEOUT = 90.0
STATS = ("commands", "attempts", "conflicts_retried", "conflicts_surfaced")

pytestmark = pytest.mark.timeout(600 if LONG else 300)


def program() -> LoyaltyProgram:
    return LoyaltyProgram(money_per_point=Decimal(1000), point_value=Decimal(100))


def stats_of(ledger: Ledger) -> dict[str, int]:
    return {name: int(getattr(ledger.stats, name)) for name in STATS}


# --- what the worker processes run (imported by name in spawned interpreters) -----------


def _report(
    work: Callable[[Ledger], dict[str, Any]],
    url: str,
    worker: int,
    barrier: Any,
    results: Any,
    **open_args: Any,
) -> None:
    try:
        with Ledger.open(url, **open_args) as ledger:
            outcome = work(ledger)
            results.put({"worker": worker, "stats": stats_of(ledger), **outcome})
    except BaseException:
        barrier.abort()
        results.put({"worker": worker, "error": traceback.format_exc()})


def redeem_from_accounts(
    url: str, accounts: list[UUID], rounds: int, worker: int, barrier: Any, results: Any
) -> None:
    """Each round redeem 1-3 points from an account chosen by a seeded die."""

    def work(ledger: Ledger) -> dict[str, Any]:
        rng = random.Random(worker)
        acknowledged, refused, conflicted = [], [], []
        barrier.wait(BARRIER_TIMEOUT)
        for n in range(rounds):
            account, points = rng.randrange(len(accounts)), rng.randint(1, 3)
            redemption = (str(accounts[account]), f"w{worker}-r{n}", points)
            try:
                ledger.redeem_points(accounts[account], points, redemption[1])
            except RedemptionRefused:
                refused.append(redemption)
            except ConcurrencyConflict:
                conflicted.append(redemption)
            else:
                acknowledged.append(redemption)
        return {"acknowledged": acknowledged, "refused": refused, "conflicted": conflicted}

    _report(work, url, worker, barrier, results)


def sync_same_pos_customers(url: str, rounds: int, worker: int, barrier: Any, results: Any) -> None:
    """Each round every worker applies the same POS webhook, then imports the same
    purchase rows for that customer by its external id."""

    def work(ledger: Ledger) -> dict[str, Any]:
        ids, imports = [], []
        for n in range(rounds):
            barrier.wait(BARRIER_TIMEOUT)
            ids.append(
                str(
                    ledger.sync_customer_from_pos(
                        f"KV-{n}", f"Khách POS {n}", [f"0933 000 {n:03d}"]
                    )
                )
            )
            barrier.wait(BARRIER_TIMEOUT)
            rows = [
                {"external_id": f"KV-{n}", "invoice_id": f"POS-{n}-{i}", "amount": 1000 * (i + 1)}
                for i in range(5)
            ]
            report = ledger.import_purchases(rows, batch_size=2)
            imports.append([report.recorded, report.duplicates, len(report.rejected)])
        return {"ids": ids, "imports": imports}

    _report(work, url, worker, barrier, results)


def submit_and_move_leads(
    url: str, referrer: UUID, leads: int, worker: int, barrier: Any, results: Any
) -> None:
    """Submit leads and move them along; every third lead signs up and signs a
    contract, which the reaction workers must reward (this process does not react)."""

    def work(ledger: Ledger) -> dict[str, Any]:
        rng = random.Random(1000 + worker)
        signed: list[str] = []
        barrier.wait(BARRIER_TIMEOUT)
        for n in range(leads):
            phone = f"0977 {worker:03d} {n:03d}"
            referral = ledger.submit_referral(referrer, f"Lead {worker}-{n}", phone, "retail")
            ledger.assign_rep(referral, f"rep-{rng.randrange(3)}")
            if n % 3 == 0:
                customer = ledger.register_customer(f"Lead {worker}-{n}", [phone])
                ledger.sign_contract(
                    customer, f"C-{worker}-{n}", "pro", date(2020, 1, 1), date(2040, 1, 1)
                )
                signed.append(str(referral))
            elif n % 3 == 1:
                ledger.start_referral(referral)
                ledger.reward_referral(referral, amount=1000)
            else:
                ledger.mark_ineligible(referral, "no answer")
        return {"signed": signed}

    _report(work, url, worker, barrier, results, react_inline=False)


def run_worker_until(url: str, stop: Any, worker: int, barrier: Any, results: Any) -> None:
    """`Ledger.run_worker` (reactions and views) until the test sets `stop`."""

    def work(ledger: Ledger) -> dict[str, Any]:
        barrier.wait(BARRIER_TIMEOUT)
        ledger.run_worker(stop=stop, poll_interval=0.01)
        return {}

    _report(work, url, worker, barrier, results, react_inline=False)


# --- running them --------------------------------------------------------------------


def run_processes(
    jobs: list[tuple[Callable[..., None], tuple[Any, ...]]],
    *,
    while_running: Callable[[], None] | None = None,
    wait_for: int | None = None,
) -> list[dict[str, Any]]:
    """Start `target(*args, worker, barrier, queue)` for each job, all meeting at one
    barrier. `wait_for` results are collected, then `while_running()` is called (to
    stop the rest), then the others' results. Fails with any worker's traceback."""
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(len(jobs))
    queue = ctx.Queue()
    processes = [
        ctx.Process(target=target, args=(*args, i, barrier, queue), daemon=True)
        for i, (target, args) in enumerate(jobs)
    ]
    for process in processes:
        process.start()
    try:
        first = len(jobs) if wait_for is None else wait_for
        results = [queue.get(timeout=RESULTS_TIMEOUT) for _ in range(first)]
        if while_running is not None:
            while_running()
        results += [queue.get(timeout=RESULTS_TIMEOUT) for _ in range(len(jobs) - first)]
    finally:
        for process in processes:
            process.join(timeout=30)
            if process.is_alive():
                process.kill()
                process.join()
    errors = [r["error"] for r in results if "error" in r]
    assert [] == errors, "\n".join(errors)
    assert [0] * len(processes) == [p.exitcode for p in processes]
    return sorted(results, key=lambda r: int(r["worker"]))


def show(
    capsys: pytest.CaptureFixture[str],
    record_property: Callable[[str, object], None],
    title: str,
    results: list[dict[str, Any]],
    extra: str = "",
) -> dict[str, int]:
    """Print the summed command counts to the terminal (visible in CI logs)."""
    totals: Counter[str] = Counter()
    for r in results:
        totals.update(r["stats"])
    counts = {name: totals[name] for name in STATS}
    record_property("command_counts", counts)
    with capsys.disabled():
        print(
            f"\n[reliability] {title}: {len(results)} processes, commands={counts['commands']} "
            f"attempts={counts['attempts']} conflicts_retried={counts['conflicts_retried']} "
            f"conflicts_surfaced={counts['conflicts_surfaced']} {extra}".rstrip()
        )
    return counts


def views_equal_rebuild(ledger: Ledger) -> None:
    ledger.catch_up_projections()
    live = ledger._views.dump()
    ledger.rebuild_projections()
    assert ledger._views.dump() == live


# --- the tests -------------------------------------------------------------------------


def test_eight_processes_redeeming_from_several_accounts_never_overspend(
    shared_url: str,
    capsys: pytest.CaptureFixture[str],
    record_property: Callable[[str, object], None],
) -> None:
    """Per account: acknowledged <= earned, balance = earned - acknowledged, the
    statement's redemptions are exactly the acknowledged ones."""
    earned = [40, 25, 60]
    with Ledger.open(shared_url) as ledger:
        ledger.configure_loyalty(program())
        accounts = [
            ledger.register_customer(f"Khách {n}", [f"0911 000 {n:03d}"]) for n in range(ACCOUNTS)
        ]
        for account, points in zip(accounts, earned, strict=True):
            assert points == ledger.record_purchase(account, f"INV-{account}", points * 1000)
    # The workers ask for ~2 points a round: far more than the accounts hold.
    assert PROCESSES * ROUNDS * 2 > sum(earned)

    results = run_processes([(redeem_from_accounts, (shared_url, accounts, ROUNDS))] * PROCESSES)
    acknowledged = [a for r in results for a in r["acknowledged"]]
    refused = [a for r in results for a in r["refused"]]
    conflicted = [a for r in results for a in r["conflicted"]]
    counts = show(
        capsys,
        record_property,
        f"{PROCESSES} processes x {ROUNDS} rounds redeeming from {ACCOUNTS} accounts",
        results,
        f"acknowledged={len(acknowledged)} refused={len(refused)} conflicted={len(conflicted)}",
    )
    assert PROCESSES * ROUNDS == len(acknowledged) + len(refused) + len(conflicted)
    assert len(conflicted) == counts["conflicts_surfaced"]

    with Ledger.open(shared_url) as ledger:
        for account, points in zip(accounts, earned, strict=True):
            mine = [(rid, p) for a, rid, p in acknowledged if a == str(account)]
            taken = sum(p for _, p in mine)
            assert taken <= points
            assert points - taken == ledger.balance(account)
            redeemed = sorted(
                (row.reference, -row.points)
                for row in ledger.statement(account)
                if row.kind == "redeem"
            )
            assert sorted(mine) == redeemed
        assert audit(ledger).ok


def test_the_same_pos_customer_and_purchase_rows_from_several_processes(
    shared_url: str,
    capsys: pytest.CaptureFixture[str],
    record_property: Callable[[str, object], None],
) -> None:
    """One customer per POS id, every process gets its id; each POS invoice earns once,
    and the imports' reports add up to one recording per row."""
    with Ledger.open(shared_url) as ledger:
        ledger.configure_loyalty(program())

    results = run_processes(
        [(sync_same_pos_customers, (shared_url, SAME_ID_ROUNDS))] * SAME_ID_PROCESSES
    )
    show(capsys, record_property, "same POS customer and purchase rows", results)

    with Ledger.open(shared_url) as ledger:
        registered = [
            e.event
            for e in read_log(ledger, (get_topic(CustomerRegistered),))
            if e.event is not None
        ]
        assert SAME_ID_ROUNDS == len(registered)
        earned = Counter(
            e.event.invoice_id
            for e in read_log(ledger, (get_topic(PointsEarned),))
            if isinstance(e.event, PointsEarned)
        )
        assert {f"POS-{n}-{i}": 1 for n in range(SAME_ID_ROUNDS) for i in range(5)} == earned
        for n in range(SAME_ID_ROUNDS):
            ids = {r["ids"][n] for r in results}
            assert 1 == len(ids)
            customer = UUID(ids.pop())
            assert customer == ledger.find_customer_by_external_id(f"KV-{n}")
            assert [customer] == ledger.find_customers_by_phone(f"0933 000 {n:03d}")
            assert 1 + 2 + 3 + 4 + 5 == ledger.balance(customer)
            reports = [r["imports"][n] for r in results]
            assert 5 == sum(recorded for recorded, _, _ in reports)
            assert [5] * SAME_ID_PROCESSES == [sum(report) for report in reports]
            assert [0] * SAME_ID_PROCESSES == [rejected for _, _, rejected in reports]
        assert audit(ledger).ok


def test_commands_racing_projection_workers_leave_views_equal_to_their_rebuild(
    shared_url: str,
    capsys: pytest.CaptureFixture[str],
    record_property: Callable[[str, object], None],
) -> None:
    """Writers submit, assign, start, reward, close leads and sign leads up while two
    `run_worker` processes keep the views and the automatic rewards current."""
    with Ledger.open(shared_url) as ledger:
        referrer = ledger.register_customer("Người giới thiệu", ["0900 000 001"])
        ledger.sign_contract(referrer, "C-0", "pro", date(2020, 1, 1), date(2040, 1, 1))

    ctx = multiprocessing.get_context("spawn")
    stop = ctx.Event()
    jobs: list[tuple[Callable[..., None], tuple[Any, ...]]] = [
        (submit_and_move_leads, (shared_url, referrer, LEADS_PER_WRITER))
    ] * WRITERS + [(run_worker_until, (shared_url, stop))] * WORKERS
    # The writers report first (workers run until stopped); then stop the workers.
    results = run_processes(jobs, while_running=stop.set, wait_for=WRITERS)
    signed = [rid for r in results[:WRITERS] for rid in r["signed"]]
    show(
        capsys,
        record_property,
        f"{WRITERS} writers racing {WORKERS} run_worker processes",
        results,
        f"leads={WRITERS * LEADS_PER_WRITER} signed_up={len(signed)}",
    )

    with Ledger.open(shared_url, react_inline=False) as ledger:
        ledger.process_reactions()  # what the workers had not reached when stopped
        views_equal_rebuild(ledger)
        rewards: defaultdict[UUID, int] = defaultdict(int)
        for entry in read_log(ledger, (get_topic(ReferralRewarded),)):
            assert entry.event is not None
            rewards[entry.event.originator_id] += 1
        assert all(1 == count for count in rewards.values()), rewards
        for rid in signed:
            assert ReferralStatus.REWARDED == ledger.get_referral(UUID(rid)).status
        rows = ledger.lead_table(limit=1000)
        assert WRITERS * LEADS_PER_WRITER == len(rows)
        assert audit(ledger).ok
