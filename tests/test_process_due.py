"""`process_due`: time-driven jobs run exactly once per due item, however many
processes call it, and never before the item's time.

The job is a toy defined in `toy_jobs.py` (a reminder due 30 days after a
customer registered) whose handler always records one more reminder: an item
handled twice shows up as two reminders.
"""

from __future__ import annotations

import multiprocessing
import threading
import time
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from uuid import UUID

import pytest

import toy_jobs
from referral_ledger import InvalidInput, Ledger
from referral_ledger.aggregates.due import DueItemHandled, due_item_id
from referral_ledger.reactions import JOBS, Job, job
from referral_ledger.store import UnitOfWork
from support import DEFAULT_START, Clock, run_workers

T0 = DEFAULT_START
DUE = timedelta(days=toy_jobs.REMINDER_DAYS)
WAIT = 90.0

pytestmark = pytest.mark.timeout(240)


@pytest.fixture(autouse=True)
def reminders() -> Iterator[None]:
    with toy_jobs.registered(toy_jobs.REMINDERS):
        yield


def customers(ledger: Ledger, count: int, first: int = 0) -> list[UUID]:
    return [
        ledger.register_customer(f"Khách {n}", [f"09{n:08d}"]) for n in range(first, first + count)
    ]


def reminders_of(ledger: Ledger, customer: UUID) -> tuple[datetime, ...]:
    notes = toy_jobs.notes_of(ledger, customer)
    return () if notes is None else notes.reminders


def test_nothing_is_due_before_its_time(store_url: str, clock: Clock) -> None:
    with Ledger.open(store_url, clock=clock) as ledger:
        [cid] = customers(ledger, 1)
        before = ledger.event_count()
        assert 0 == ledger.process_due()
        assert 0 == ledger.process_due(T0 + DUE - timedelta(microseconds=1))
        assert before == ledger.event_count()
        assert () == reminders_of(ledger, cid)


def test_an_item_is_handled_once_at_its_time_and_calling_again_records_nothing(
    store_url: str, clock: Clock
) -> None:
    with Ledger.open(store_url, clock=clock) as ledger:
        cids = customers(ledger, 3)
        clock.advance(days=toy_jobs.REMINDER_DAYS)  # due exactly now: due_at <= now
        assert 3 == ledger.process_due()
        assert [(T0 + DUE,)] * 3 == [reminders_of(ledger, c) for c in cids]
        after = ledger.event_count()
        assert 0 == ledger.process_due()
        assert 0 == ledger.process_due(T0 + 10 * DUE)
        assert after == ledger.event_count()
        # The item's record says what was handled, when it was due, and when.
        [handled] = ledger._store.events_of(due_item_id("toy-welcome-reminder", str(cids[0])))
        assert isinstance(handled, DueItemHandled)
        assert (T0 + DUE, clock.now) == (handled.due_at, handled.timestamp)


def test_now_in_the_past_handles_only_what_was_due_then(store_url: str, clock: Clock) -> None:
    with Ledger.open(store_url, clock=clock) as ledger:
        early = customers(ledger, 2)
        clock.advance(days=10)
        late = customers(ledger, 2, first=2)
        clock.advance(days=60)
        assert 2 == ledger.process_due(T0 + DUE + timedelta(days=5))
        assert [1, 1, 0, 0] == [len(reminders_of(ledger, c)) for c in early + late]
        assert 2 == ledger.process_due()  # the clock: everything due by now
        assert [1, 1, 1, 1] == [len(reminders_of(ledger, c)) for c in early + late]


def test_now_in_the_future_records_now_what_will_be_due_dated_when_due(
    store_url: str, clock: Clock
) -> None:
    with Ledger.open(store_url, clock=clock) as ledger:
        [cid] = customers(ledger, 1)
        assert 1 == ledger.process_due(T0 + 2 * DUE)
        assert (T0 + DUE,) == reminders_of(ledger, cid)
        [sent] = ledger._store.events_of(toy_jobs.notes_id(cid))
        assert T0 == sent.timestamp  # recorded now, by the ledger's clock


@pytest.mark.parametrize(
    "bad",
    [datetime(2026, 3, 1, 8, 0), "2026-03-01T08:00:00+07:00", date(2026, 3, 1), 1_772_000_000],
    ids=["naive", "str", "date", "int"],
)
def test_a_bad_now_is_refused_and_records_nothing(bad: object, clock: Clock) -> None:
    with Ledger.open("memory://", clock=clock) as ledger:
        customers(ledger, 1)
        before = ledger.event_count()
        with pytest.raises(InvalidInput, match="now"):
            ledger.process_due(bad)  # type: ignore[arg-type]
        assert before == ledger.event_count()


def test_an_item_whose_handler_fails_leaves_nothing_and_is_handled_next_time(
    clock: Clock,
) -> None:
    """The effect and the item's record commit together: a failure in between
    leaves neither, and the item is still due."""
    with Ledger.open("memory://", clock=clock) as ledger:
        [cid] = customers(ledger, 1)
        failing = Job("toy-failing", toy_jobs.reminders_due, _record_then_fail)
        JOBS.remove(toy_jobs.REMINDERS)
        with toy_jobs.registered(failing):
            before = ledger.event_count()
            with pytest.raises(RuntimeError):
                ledger.process_due(T0 + DUE)
            assert before == ledger.event_count()
        JOBS.add(toy_jobs.REMINDERS)
        assert 1 == ledger.process_due(T0 + DUE)
        assert (T0 + DUE,) == reminders_of(ledger, cid)


def _record_then_fail(unit: UnitOfWork, key: str, due_at: datetime, context: object) -> None:
    toy_jobs.send_reminder(unit, key, due_at, context)  # type: ignore[arg-type]
    raise RuntimeError("the process died here")


def test_registering_a_job_is_one_line_and_a_name_is_registered_once() -> None:
    registered = job("toy-one-liner", due=toy_jobs.reminders_due, handle=toy_jobs.send_reminder)
    try:
        assert "toy-one-liner" in JOBS
        with pytest.raises(ValueError, match="toy-one-liner"):
            job("toy-one-liner", due=toy_jobs.reminders_due, handle=toy_jobs.send_reminder)
    finally:
        JOBS.remove(registered)
    assert "toy-one-liner" not in JOBS


# --- exactly once from several processes -------------------------------------------------


def test_processes_calling_process_due_at_once_handle_each_item_once(
    shared_url: str, clock: Clock
) -> None:
    items, processes = 40, 4
    with Ledger.open(shared_url, clock=clock, react_inline=False) as ledger:
        cids = customers(ledger, items)
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(processes)
    queue = ctx.Queue()
    children = [
        ctx.Process(
            target=toy_jobs.process_due_together,
            args=(shared_url, T0 + DUE, worker, barrier, queue),
            daemon=True,
        )
        for worker in range(processes)
    ]
    results = run_workers(children, queue, WAIT)
    assert items == sum(r["recorded"] for r in results)
    with Ledger.open(shared_url, react_inline=False) as ledger:
        assert [(T0 + DUE,)] * items == [reminders_of(ledger, c) for c in cids]
        before = ledger.event_count()
        assert 0 == ledger.process_due(T0 + DUE)
        assert before == ledger.event_count()


def test_run_worker_handles_what_falls_due(tmp_path: Path) -> None:
    """`run_worker` calls `process_due` each loop, by the ledger's clock."""
    url = f"sqlite:///{tmp_path}/ledger.db"
    clock = Clock(T0)
    with Ledger.open(url, clock=clock, react_inline=False) as ledger:
        [cid] = customers(ledger, 1)
        stop = threading.Event()
        worker = threading.Thread(
            target=ledger.run_worker, args=(stop,), kwargs={"poll_interval": 0.01}
        )
        worker.start()
        try:
            clock.advance(days=toy_jobs.REMINDER_DAYS)
            deadline = time.monotonic() + WAIT
            while not reminders_of(ledger, cid) and time.monotonic() < deadline:
                time.sleep(0.02)
        finally:
            stop.set()
            worker.join(WAIT)
        assert not worker.is_alive()
        assert (T0 + DUE,) == reminders_of(ledger, cid)
