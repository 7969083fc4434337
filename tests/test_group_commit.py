"""Group commit (store/group.py): the commands of concurrent threads of one process are
decided in turn and saved in one transaction, each answered after that commit.

Real threads throughout. A batch is formed deterministically, never by timing:
a first command holds the lead (its decision waits on an event) while the
others queue behind it, counted by `GroupCommit.queued`; releasing it lets the
next leader take them all at once. Transactions are counted by the store's
`CommandStats.commits`.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest

from pg_proxy import PgProxy
from referral_ledger import (
    ConcurrencyConflict,
    DuplicateValue,
    Ledger,
    LoyaltyProgram,
    RedemptionRefused,
)
from referral_ledger.store import Store, UnitOfWork
from support import Clock

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
#: 1 point per 1,000 spent.
PROGRAM = LoyaltyProgram(money_per_point=Decimal(1000), point_value=Decimal(1000))
#: How long a test waits for threads to queue before it fails (never a timing assert).
PATIENCE = 60.0


def _store(ledger: Ledger) -> Store:
    store: Store = ledger._store
    assert store.group is not None, "group commit is on by default"
    return store


def _wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + PATIENCE
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting: {what}"
        time.sleep(0.001)


class Batch:
    """Calls started in threads while a first command holds the lead, queued in order.

    `queue(call)` starts `call` in a thread and waits until it is queued, so the
    queued calls form the next batch, in that order. Their outcomes (result or
    exception) are in `outcomes` once the `with` block is left.
    """

    def __init__(self, store: Store) -> None:
        assert store.group is not None
        self._group = store.group
        self._store = store
        self._started, self._release = threading.Event(), threading.Event()
        self._threads: list[threading.Thread] = []
        self._results: dict[int, Any] = {}
        self.outcomes: list[Any] = []

    def __enter__(self) -> Batch:
        def waits(unit: UnitOfWork) -> None:
            unit.take_turn("holder")  # so it is decided by the leader, not ahead
            self._started.set()
            assert self._release.wait(PATIENCE)

        self._holder = threading.Thread(target=self._store.run, args=(waits,))
        self._holder.start()
        assert self._started.wait(PATIENCE)
        return self

    def queue(self, call: Callable[[], Any]) -> None:
        index, before = len(self._threads), self._group.queued()

        def run() -> None:
            try:
                self._results[index] = call()
            except Exception as error:
                self._results[index] = error

        thread = threading.Thread(target=run)
        self._threads.append(thread)
        thread.start()
        # Queued, or answered without queueing (a command that records nothing, or
        # refused on current reads, is answered from its own thread at once).
        _wait_until(
            lambda: self._group.queued() == before + 1 or not thread.is_alive(), "a call to queue"
        )

    def __exit__(self, *exc: object) -> None:
        self._release.set()
        for thread in [self._holder, *self._threads]:
            thread.join(PATIENCE)
            assert not thread.is_alive(), "a caller was never answered"
        self.outcomes = [self._results[i] for i in range(len(self._threads))]


def _ledger(url: str, **options: Any) -> Ledger:
    ledger = Ledger.open(url, clock=Clock(START), **options)
    ledger.configure_loyalty(PROGRAM)
    return ledger


def purchase(ledger: Ledger, customer: UUID, n: int) -> int:
    """Invoice INV-n of (n + 1) points."""
    return ledger.record_purchase(customer, f"INV-{n}", 1000 * (n + 1))


def _customers(ledger: Ledger, count: int) -> list[UUID]:
    return [ledger.register_customer(f"Khách {n}", [f"0911 000 {n:03d}"]) for n in range(count)]


def test_commands_queued_together_are_saved_in_one_transaction(store_url: str) -> None:
    """15 threads queued behind a leader: one transaction saves all 15, each answered."""
    with _ledger(store_url) as ledger:
        store = _store(ledger)
        customers = _customers(ledger, 15)
        before = store.stats.commits
        with Batch(store) as batch:
            for n, customer in enumerate(customers):
                batch.queue(functools.partial(purchase, ledger, customer, n))
        outcomes = batch.outcomes
        assert list(range(1, 16)) == outcomes
        assert 1 == store.stats.commits - before
        assert 15 == store.stats.largest_batch
        assert list(range(1, 16)) == [ledger.balance(c) for c in customers]


def test_commands_on_one_record_in_a_batch_see_each_other_and_refusals_fail_alone(
    store_url: str,
) -> None:
    """Redeeming 60, 60, 30 of 100 points in one batch: the second sees the first and is
    refused alone; the third sees the first but not the refused second, and is saved."""
    with _ledger(store_url) as ledger:
        store = _store(ledger)
        (customer,) = _customers(ledger, 1)
        assert 100 == ledger.record_purchase(customer, "INV-1", 100_000)
        before = store.stats.commits
        with Batch(store) as batch:
            batch.queue(lambda: ledger.redeem_points(customer, 60, "R-1"))
            batch.queue(lambda: ledger.redeem_points(customer, 60, "R-2"))
            batch.queue(lambda: ledger.redeem_points(customer, 30, "R-3"))
        first, second, third = batch.outcomes
        assert Decimal(60_000) == first
        assert isinstance(second, RedemptionRefused), second
        assert "60" in str(second)
        assert Decimal(30_000) == third
        assert 1 == store.stats.commits - before
        assert 10 == ledger.balance(customer)


def test_a_failing_decision_fails_alone() -> None:
    """A decision that raises something other than a refusal fails its own caller only."""
    with _ledger("memory://") as ledger:
        store = _store(ledger)
        a, b = _customers(ledger, 2)

        def broken(unit: UnitOfWork) -> None:
            unit.take_turn("broken")  # so it is decided in the batch, not ahead
            raise RuntimeError("a bug in one command")

        with Batch(store) as batch:
            batch.queue(lambda: ledger.record_purchase(a, "INV-A", 5000))
            batch.queue(lambda: store.run(broken))
            batch.queue(lambda: ledger.record_purchase(b, "INV-B", 7000))
        outcomes = batch.outcomes
        assert 5 == outcomes[0]
        assert isinstance(outcomes[1], RuntimeError)
        assert 7 == outcomes[2]
        assert (5, 7) == (ledger.balance(a), ledger.balance(b))


def test_the_same_invoice_from_several_threads_in_one_batch_is_recorded_once(
    store_url: str,
) -> None:
    """Retries of one purchase inside a batch: each gets the first result, one is recorded."""
    with _ledger(store_url) as ledger:
        store = _store(ledger)
        (customer,) = _customers(ledger, 1)
        events_before = ledger._store.last_position()
        with Batch(store) as batch:
            for _ in range(6):
                batch.queue(lambda: ledger.record_purchase(customer, "INV-9", 9000))
        assert [9] * 6 == batch.outcomes
        assert 9 == ledger.balance(customer)
        # A seventh, alone, records nothing either.
        recorded = ledger._store.last_position() - events_before
        assert 9 == ledger.record_purchase(customer, "INV-9", 9000)
        assert recorded == ledger._store.last_position() - events_before


def test_one_hot_customer_from_16_threads_surfaces_no_conflict(store_url: str) -> None:
    """16 threads earning for one customer: nothing conflicts within the process."""
    threads, each = 16, 25
    with _ledger(store_url) as ledger:
        store = _store(ledger)
        (customer,) = _customers(ledger, 1)
        before = store.stats.commits
        errors: list[BaseException] = []

        def work(worker: int) -> None:
            for n in range(each):
                try:
                    ledger.record_purchase(customer, f"INV-{worker}-{n}", 1000)
                except Exception as error:
                    errors.append(error)

        pool = [threading.Thread(target=work, args=(w,)) for w in range(threads)]
        for thread in pool:
            thread.start()
        for thread in pool:
            thread.join()
        assert [] == errors
        assert 0 == store.stats.conflicts_surfaced
        assert 0 == store.stats.conflicts_retried
        assert threads * each == ledger.balance(customer)
        assert store.stats.commits - before <= threads * each


def test_a_conflict_with_another_process_decides_the_batch_again(store_url: str) -> None:
    """Another writer (a second store on the same database) saves the batch's customer
    between its decision and its save: the batch is decided again; nothing is lost."""
    if store_url == "memory://":
        pytest.skip("a memory store has no second writer")
    with _ledger(store_url) as ledger, Ledger.open(store_url, clock=Clock(START)) as other:
        store = _store(ledger)
        (customer,) = _customers(ledger, 1)
        attempts: list[int] = []

        def other_writes_first(unit: UnitOfWork) -> None:
            unit.take_turn("other")  # so it is decided in the batch, not ahead
            attempts.append(1)
            if len(attempts) == 1:
                other.record_purchase(customer, "INV-OTHER", 4000)

        retried = store.stats.conflicts_retried
        with Batch(store) as batch:
            batch.queue(lambda: ledger.record_purchase(customer, "INV-1", 3000))
            batch.queue(lambda: store.run(other_writes_first))
        assert [3, None] == batch.outcomes
        assert 2 == len(attempts)
        assert 2 <= store.stats.conflicts_retried - retried
        assert 0 == store.stats.conflicts_surfaced
        assert 7 == ledger.balance(customer)


def test_a_batch_gives_up_with_a_conflict_after_max_attempts(sqlite_url: str) -> None:
    """A batch that loses every time: each of its commands fails with ConcurrencyConflict."""
    with _ledger(sqlite_url, max_attempts=2) as ledger, Ledger.open(sqlite_url) as other:
        store = _store(ledger)
        (customer,) = _customers(ledger, 1)
        lost = iter(range(100))

        def other_writes_every_time(unit: UnitOfWork) -> None:
            unit.take_turn("other")  # so it is decided in the batch, not ahead
            other.record_purchase(customer, f"INV-OTHER-{next(lost)}", 1000)

        with Batch(store) as batch:
            batch.queue(lambda: ledger.record_purchase(customer, "INV-1", 3000))
            batch.queue(lambda: store.run(other_writes_every_time))
        outcome, _ = batch.outcomes
        assert isinstance(outcome, ConcurrencyConflict), outcome
        assert 1 <= store.stats.conflicts_surfaced


@pytest.mark.postgres
def test_a_batch_whose_acknowledgement_is_lost_is_applied_once(fresh_pg_url: str) -> None:
    """The batch's COMMIT is acknowledged to nobody (pg_proxy cuts the connection): the
    repeat finds the batch's own commit, and every command in it is applied once."""
    with PgProxy() as proxy, _ledger(proxy.url(fresh_pg_url)) as ledger:
        store = _store(ledger)
        customers = _customers(ledger, 6)
        events_before = store.last_position()
        with Batch(store) as batch:
            proxy.arm("COPY")
            for n, customer in enumerate(customers):
                batch.queue(functools.partial(purchase, ledger, customer, n))
            batch.queue(lambda: ledger.record_purchase(customers[0], "INV-0", 1000))
        assert 1 == proxy.cuts, "the fault was not injected"
        assert [1, 2, 3, 4, 5, 6, 1] == batch.outcomes
        assert [1, 2, 3, 4, 5, 6] == [ledger.balance(c) for c in customers]
        # Alone, one more purchase shows how many events one adds: the batch added 6 times
        # that. (Counted, not subtracted: the repeat's failed insert used up log positions.)
        batched = len(store.notifications(events_before, 1000))
        one_before = store.last_position()
        ledger.record_purchase(customers[0], "INV-LAST", 1000)
        assert 6 * len(store.notifications(one_before, 1000)) == batched


def test_group_commit_can_be_turned_off(sqlite_url: str) -> None:
    """`group_commit=False`: each command is its own transaction, as before."""
    with _ledger(sqlite_url, group_commit=False) as ledger:
        assert ledger._store.group is None
        (customer,) = _customers(ledger, 1)
        before = ledger._store.stats.commits
        ledger.record_purchase(customer, "INV-1", 1000)
        ledger.record_purchase(customer, "INV-2", 1000)
        assert 2 == ledger._store.stats.commits - before


def test_threads_earning_and_redeeming_on_one_customer_add_up(store_url: str) -> None:
    """Earns and redemptions (some refused) from 8 threads on one customer: the balance is
    exactly what the acknowledged calls add up to, whichever batch decided each."""
    threads, each = 8, 12
    with _ledger(store_url) as ledger:
        store = _store(ledger)
        (customer,) = _customers(ledger, 1)
        assert 20 == ledger.record_purchase(customer, "INV-START", 20_000)
        earned: list[int] = []
        redeemed: list[int] = []
        refused: list[str] = []
        errors: list[BaseException] = []

        def work(worker: int) -> None:
            for n in range(each):
                try:
                    if (worker + n) % 2:
                        earned.append(ledger.record_purchase(customer, f"I-{worker}-{n}", 3000))
                    else:
                        ledger.redeem_points(customer, 5, f"R-{worker}-{n}")
                        redeemed.append(5)
                except RedemptionRefused:
                    refused.append(f"R-{worker}-{n}")
                except Exception as error:
                    errors.append(error)

        pool = [threading.Thread(target=work, args=(w,)) for w in range(threads)]
        for thread in pool:
            thread.start()
        for thread in pool:
            thread.join()
        assert [] == errors
        assert 0 == store.stats.conflicts_surfaced
        assert threads * each == len(earned) + len(redeemed) + len(refused)
        assert 20 + sum(earned) - sum(redeemed) == ledger.balance(customer)
        references = {row.reference for row in ledger.statement(customer)}
        assert not references & set(refused)


def test_a_field_made_unique_and_a_registration_in_one_batch_never_leave_a_duplicate(
    store_url: str,
) -> None:
    """A registration taking a held email and the configuration making email unique,
    queued into one batch: the configuration must see the registration (it is saved
    alone, after it) or the registration the configuration; never both as decided.

    Batched together, each would be decided against a store without the other
    and their guards checked before either's events are written, so both would pass.
    """
    with _ledger(store_url) as ledger:
        store = _store(ledger)
        first = ledger.register_customer("An", ["0912000001"], email="an@shop.vn")
        with Batch(store) as batch:
            batch.queue(
                lambda: ledger.register_customer("Bình", ["0912000002"], email="an@shop.vn")
            )
            batch.queue(
                lambda: ledger.configure_customer_fields(
                    required={"name", "phones"}, unique={"phones", "email"}
                )
            )
        registered, configured = batch.outcomes
        holders = [r.customer_id for r in ledger.customers(limit=100) if r.email == "an@shop.vn"]
        if "email" in ledger.customer_field_settings().unique:
            assert [first] == holders, (registered, configured)
        else:
            # Registered first, then refused: the error names both holders.
            assert isinstance(configured, DuplicateValue), configured
            assert {first, registered} == set(holders)
            assert str(first) in str(configured) and str(registered) in str(configured)


def test_a_registration_decided_ahead_keeps_its_guard_in_the_batch(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A registration decided ahead (in its caller's thread) against settings that a
    configuration then changes: taken into a batch, its guard on the settings it
    obeyed goes with it, so it is decided again and refused, never saved as decided."""
    from referral_ledger.commands.crm_steps import CrmSteps

    with _ledger(store_url) as ledger:
        first = ledger.register_customer("An", ["0912000001"], email="an@shop.vn")
        original = CrmSteps._unique_claims
        reached, release = threading.Event(), threading.Event()

        def paused(*args: Any, **kwargs: Any) -> Any:
            result = original(*args, **kwargs)
            if not reached.is_set():
                reached.set()
                assert release.wait(PATIENCE)
            return result

        monkeypatch.setattr(CrmSteps, "_unique_claims", paused)
        outcome: list[object] = []

        def register() -> None:
            try:
                outcome.append(ledger.register_customer("Bình", ["0912000002"], email="an@shop.vn"))
            except Exception as error:
                outcome.append(error)

        thread = threading.Thread(target=register)
        thread.start()
        assert reached.wait(PATIENCE)
        ledger.configure_customer_fields(required={"name", "phones"}, unique={"phones", "email"})
        release.set()
        thread.join(PATIENCE)
        assert isinstance(outcome[0], DuplicateValue), outcome
        holders = [r.customer_id for r in ledger.customers(limit=100) if r.email == "an@shop.vn"]
        assert [first] == holders
