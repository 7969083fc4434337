"""The background catch-up (projections/background.py): a thread of the ledger
folds this process's commits into the views, so a query has little left to fold.

Real threads throughout, on SQLite and PostgreSQL (`shared_url`: a memory
store folds on queries only). Nothing here times anything: a test
that waits for the thread polls the views' position with a deadline.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest

from referral_ledger import InvalidInput, Ledger, LoyaltyProgram
from referral_ledger.projections import background, tracking
from referral_ledger.projections.directory import CustomerRow

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
PROGRAM = LoyaltyProgram(money_per_point=Decimal(1000), point_value=Decimal(1000))
#: How long a test waits for the thread before it fails (never a timing assert).
PATIENCE = 60.0
THREAD_NAME = "referral-ledger-views"


def wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + PATIENCE
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting: {what}")
        time.sleep(0.01)


def folded_to_head(ledger: Ledger) -> bool:
    """True once the views reflect every event in the log."""
    return bool(ledger._views.position == ledger.event_count())


def view_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == THREAD_NAME]


def open_ledger(url: str, background_views: bool = True) -> Ledger:
    ledger = Ledger.open(url, background_views=background_views)
    ledger.configure_loyalty(PROGRAM)
    return ledger


def register(ledger: Ledger, count: int) -> list[UUID]:
    return [ledger.register_customer(f"Khách {n}", [f"0912{n:06d}"]) for n in range(count)]


def test_the_views_follow_commands_without_any_query(shared_url: str) -> None:
    with open_ledger(shared_url) as ledger:
        customer = register(ledger, 1)[0]
        for n in range(5):
            ledger.record_purchase(customer, f"INV-{n}", 150_000, at=START)
        # No query has run since: only the background thread moves the position.
        wait_until(lambda: folded_to_head(ledger), "the views to reach the log's head")
        assert ledger._background is not None and ledger._background.failures == 0
        # What it folded is what a query answers, without folding anything more.
        assert ledger.catch_up_projections() == 0
        (row,) = ledger.customers()
        assert (row.purchase_count, row.balance) == (5, 750)


def test_close_stops_the_thread(shared_url: str) -> None:
    ledger = open_ledger(shared_url)
    assert ledger._background is not None
    thread = ledger._background._thread
    assert thread.is_alive() and thread.name == THREAD_NAME
    customer = register(ledger, 1)[0]
    ledger.record_purchase(customer, "INV-1", 150_000, at=START)
    ledger.close()
    assert not thread.is_alive()
    ledger.close()  # a second close is harmless


def test_background_views_false_starts_no_thread_and_queries_still_fold(
    shared_url: str,
) -> None:
    before = len(view_threads())
    with open_ledger(shared_url, background_views=False) as ledger:
        assert ledger._background is None
        assert len(view_threads()) == before
        customer = register(ledger, 1)[0]
        ledger.record_purchase(customer, "INV-1", 150_000, at=START)
        # Nobody folded the commands: the query does, and sees them.
        assert ledger._views.position < ledger.event_count()
        (row,) = ledger.customers()
        assert row.purchase_count == 1
        assert folded_to_head(ledger)


def test_a_memory_store_starts_no_thread_and_its_queries_fold() -> None:
    """Its shared-cache database locks whole tables without waiting: a thread folding
    beside the commands failed them ("database table is locked")."""
    before = len(view_threads())
    with open_ledger("memory://") as ledger:
        assert ledger._background is None
        assert len(view_threads()) == before
        customer = register(ledger, 1)[0]
        ledger.record_purchase(customer, "INV-1", 150_000, at=START)
        (row,) = ledger.customers()
        assert row.purchase_count == 1


@pytest.mark.parametrize("value", ["no", 0, None])
def test_background_views_must_be_a_bool(value: object) -> None:
    with pytest.raises(InvalidInput, match="background_views"):
        Ledger.open("memory://", background_views=value)  # type: ignore[arg-type]


def test_each_thread_reads_its_own_writes_while_the_background_folds(shared_url: str) -> None:
    """16 threads, each recording a purchase and at once asking the directory
    for its customer: the answer always holds the purchase just recorded,
    whether the background thread or the query folded it."""
    threads, rounds = 16, 5
    with open_ledger(shared_url) as ledger:
        customers = register(ledger, threads)
        barrier = threading.Barrier(threads)
        errors: list[BaseException] = []

        def work(index: int) -> None:
            try:
                barrier.wait(PATIENCE)
                phone = f"0912{index:06d}"
                for n in range(1, rounds + 1):
                    ledger.record_purchase(customers[index], f"I-{index}-{n}", 150_000, at=START)
                    (row,) = ledger.customers(search=phone)
                    assert row.customer_id == customers[index]
                    assert row.purchase_count == n, (index, n, row.purchase_count)
            except BaseException as error:
                errors.append(error)
                barrier.abort()

        pool = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
        for thread in pool:
            thread.start()
        for thread in pool:
            thread.join()
        assert not errors, errors[0]


def test_the_background_and_queries_fold_each_event_once(shared_url: str) -> None:
    """Commands from 8 threads, queries from 4 more, and the background thread
    all folding at once: the views equal a rebuild from the log (an event
    folded twice would count a purchase twice)."""
    with open_ledger(shared_url) as ledger:
        customers = register(ledger, 8)
        done = threading.Event()
        errors: list[BaseException] = []

        def record(index: int) -> None:
            try:
                for n in range(15):
                    ledger.record_purchase(customers[index], f"I-{index}-{n}", 150_000, at=START)
            except BaseException as error:
                errors.append(error)

        def query() -> None:
            try:
                while not done.is_set():
                    ledger.count_customers()
            except BaseException as error:
                errors.append(error)

        writers = [threading.Thread(target=record, args=(i,)) for i in range(8)]
        readers = [threading.Thread(target=query) for _ in range(4)]
        for thread in writers + readers:
            thread.start()
        for thread in writers:
            thread.join()
        done.set()
        for thread in readers:
            thread.join()
        assert not errors, errors[0]
        wait_until(lambda: folded_to_head(ledger), "the views to reach the log's head")
        live = ledger._views.dump()
        assert sorted(r.purchase_count for r in ledger.customers()) == [15] * 8
        # Nothing is committed from here on, so the thread stays asleep.
        ledger.rebuild_projections()
        assert ledger._views.dump() == live


def test_a_failed_round_is_logged_and_the_next_commit_retries(
    shared_url: str, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(background, "PAUSE_AFTER_FAILURE", 0.0)
    with open_ledger(shared_url) as ledger:
        customer = register(ledger, 1)[0]
        follower = ledger._background
        assert follower is not None
        wait_until(lambda: folded_to_head(ledger), "the registration folded")
        real = follower._catch_up
        failing = threading.Event()
        failing.set()

        def catch_up_behind(batch_size: int) -> object:
            if failing.is_set():
                raise RuntimeError("the views' database went away")
            return real(batch_size)

        monkeypatch.setattr(follower, "_catch_up", catch_up_behind)
        with caplog.at_level(logging.ERROR, logger=background.__name__):
            ledger.record_purchase(customer, "INV-1", 150_000, at=START)
            wait_until(lambda: follower.failures >= 1, "the failed round")
        (record,) = [r for r in caplog.records if r.name == background.__name__][:1]
        assert record.levelno == logging.ERROR
        assert record.exc_info is not None and "went away" in str(record.exc_info[1])
        assert isinstance(follower.failure, RuntimeError)
        assert follower.running  # the thread survived its failure
        # The views did not move, and nothing was lost: the next commit retries.
        assert not folded_to_head(ledger)
        failing.clear()
        ledger.record_purchase(customer, "INV-2", 150_000, at=START)
        # (The position moves inside the round; `failure` is cleared as it ends.)
        wait_until(
            lambda: folded_to_head(ledger) and follower.failure is None,
            "the retry after the next commit",
        )
        (row,) = ledger.customers()
        assert row.purchase_count == 2


def test_a_commit_of_no_folded_event_wakes_nothing() -> None:
    rounds: list[int] = []

    def catch_up(size: int) -> int:
        rounds.append(size)
        return 0

    follower = background.BackgroundCatchUp(catch_up)
    try:
        follower.committed([])
        assert not follower._wake.is_set()
    finally:
        follower.close()
    assert not follower.running and rounds == []


def test_the_background_gives_way_to_a_waiting_query_after_its_batch(
    shared_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A query that finds the background catch-up folding waits for the batch
    under way only, then folds the rest itself."""
    with open_ledger(shared_url, background_views=False) as ledger:
        customer = register(ledger, 1)[0]
        for n in range(6):
            ledger.record_purchase(customer, f"INV-{n}", 150_000, at=START)
        views = ledger._views
        inside, go = threading.Event(), threading.Event()
        advance = tracking.advance

        batches: list[int] = []  # the background's, by the position each moved to

        def held_in_its_first_batch(*args: Any) -> None:
            advance(*args)
            if threading.current_thread().name == "behind":
                batches.append(args[-1])
                if not inside.is_set():
                    inside.set()
                    assert go.wait(PATIENCE)

        monkeypatch.setattr(tracking, "advance", held_in_its_first_batch)
        behind = threading.Thread(target=views.catch_up_behind, args=(2,), name="behind")
        behind.start()
        assert inside.wait(PATIENCE)
        rows: list[CustomerRow] = []
        query = threading.Thread(target=lambda: rows.extend(ledger.customers()))
        query.start()
        wait_until(lambda: views._waiting == 1, "the query to wait for its turn")
        go.set()
        behind.join()
        query.join()
        assert len(batches) == 1  # one batch of 2 events (of 7), then it gave way
        (row,) = rows
        assert row.purchase_count == 6
        assert folded_to_head(ledger)


def test_an_import_is_folded_once_its_bulk_writes_stop(
    shared_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(background, "BULK", 10)
    monkeypatch.setattr(background, "QUIET", 0.1)
    with open_ledger(shared_url) as ledger:
        customers = register(ledger, 3)
        rows = [
            {"customer_id": customers[n % 3], "invoice_id": f"IMP-{n}", "amount": 150_000}
            for n in range(60)
        ]
        assert ledger.import_purchases(rows, batch_size=20).recorded == 60
        wait_until(lambda: folded_to_head(ledger), "the import folded without a query")
        assert sorted(r.purchase_count for r in ledger.customers()) == [20, 20, 20]
