"""Exactly-once view updates: failures, kills, racing runners and other processes.

A catch-up writes the changed view rows and moves the views' position with a
compare-and-set in ONE transaction. So:

- an exception after the rows are written but before commit leaves rows and
  position as they were, and the retry applies each event once;
- a process killed (SIGKILL) in the middle of a long catch-up leaves the views
  at a batch boundary, exact for that position; the next catch-up resumes
  without gaps or doubles;
- two runners catching up at once never apply an event twice;
- a query in one process reflects every command another process finished
  before the query started.

"Exact" is checked against the log folded from scratch in plain Python, and
against `rebuild_projections()`.
"""

from __future__ import annotations

import multiprocessing
import os
import random
import signal
import threading
import time
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest

import workers
from referral_ledger import Ledger, LoyaltyProgram
from referral_ledger.projections import catchup, storage
from referral_ledger.projections.records import SqlRecords
from support import run_workers
from test_views_machine import FoldedRecords

pytestmark = pytest.mark.timeout(180)

RESULTS_TIMEOUT = 120.0


def folded_up_to(ledger: Ledger, upto: int) -> dict[str, list[tuple[Any, ...]]]:
    records = FoldedRecords()
    if upto:
        for notification in ledger._store.notifications(0, upto, storage.TOPICS, stop=upto):
            catchup.apply(ledger._store.event_of(notification), records)
    return records.dump()


def new_referrer(ledger: Ledger) -> UUID:
    cid = workers.new_customer(ledger, 1)
    ledger.sign_contract(cid, "C-1", "pro", date(2025, 1, 1), date(2030, 1, 1))
    return cid


def buy(ledger: Ledger, customers: list[UUID], invoices: int, start: int = 0) -> Decimal:
    """`invoices` purchases spread over `customers`; returns their total."""
    rows = [
        {
            "customer_id": customers[n % len(customers)],
            "invoice_id": f"INV-{n}",
            "amount": Decimal(10000 * (1 + n % 7)),
        }
        for n in range(start, start + invoices)
    ]
    report = ledger.import_purchases(rows, batch_size=500)
    assert invoices == report.recorded
    return sum((Decimal(str(row["amount"])) for row in rows), Decimal(0))


def revenue_total(ledger: Ledger) -> Decimal:
    return sum((Decimal(row[1]) for row in ledger._views.dump()["revenue"]), Decimal(0))


def with_customers(ledger: Ledger, count: int) -> list[UUID]:
    ledger.configure_loyalty(
        LoyaltyProgram(money_per_point=Decimal(10000), point_value=Decimal(1000))
    )
    return [workers.new_customer(ledger, 100 + n) for n in range(count)]


# --- (a) an exception between the view write and the commit --------------------


@pytest.fixture
def ledger(store_url: str) -> Iterator[Ledger]:
    with Ledger.open(store_url) as opened:
        yield opened


def test_failure_after_writing_rows_before_commit_changes_nothing(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    customers = with_customers(ledger, 2)
    referrer = new_referrer(ledger)
    lead = ledger.submit_referral(referrer, "Nguyễn Văn An", "0988000001", "retail")
    first = buy(ledger, customers, 4)
    ledger.catch_up_projections()
    before, position = ledger._views.dump(), ledger._views.position

    # New events for rows that already exist (an update, more revenue) and a new row.
    ledger.start_referral(lead, rep="rep-01")
    second = buy(ledger, customers, 6, start=4)
    ledger.submit_referral(referrer, "Đặng Thị Ánh", "0988000002", "retail")

    written: list[int] = []
    original_flush = SqlRecords.flush

    def flush_then_fail(self: Any) -> None:
        original_flush(self)  # the rows are written in the open transaction...
        written.append(1)
        raise RuntimeError("power cut before commit")  # ...and never committed

    monkeypatch.setattr(SqlRecords, "flush", flush_then_fail)
    with pytest.raises(RuntimeError, match="power cut"):
        ledger.lead_table()
    assert [1] == written
    assert before == ledger._views.dump()
    assert position == ledger._views.position

    monkeypatch.setattr(SqlRecords, "flush", original_flush)
    # Exactly the new events: a start, six purchases and a submission.
    assert 8 == ledger.catch_up_projections()
    live = ledger._views.dump()
    assert ledger.event_count() == ledger._views.position
    assert first + second == revenue_total(ledger)
    assert folded_up_to(ledger, ledger._views.position) == live
    ledger.rebuild_projections()
    assert live == ledger._views.dump()


# --- (b) a process killed in the middle of a catch-up ------------------------------


def test_catch_up_killed_mid_way_resumes_without_gaps_or_doubles(shared_url: str) -> None:
    # Nothing folds the purchases as they are recorded: the children will.
    with Ledger.open(shared_url, background_views=False) as ledger:
        customers = with_customers(ledger, 5)
        total = buy(ledger, customers, 1500)
        last = ledger.event_count()
    ctx = multiprocessing.get_context("spawn")
    rng = random.Random()
    kills = 0
    for _ in range(2):
        started = ctx.Event()
        child = ctx.Process(
            target=workers.catch_up_views_slowly, args=(shared_url, 3, started), daemon=True
        )
        child.start()
        try:
            # Poll rather than wait once: on a loaded machine a spawned child
            # can take long to start, and one that died must say so at once.
            deadline = time.monotonic() + 180
            while not started.wait(timeout=0.2) and child.is_alive():
                assert time.monotonic() < deadline, "the child never finished a batch"
            assert started.is_set() or 0 == child.exitcode, (
                f"the catch-up child failed before its first batch (exit {child.exitcode})"
            )
            threading.Event().wait(rng.uniform(0.05, 0.4))
            if child.is_alive():
                os.kill(child.pid or 0, signal.SIGKILL)
                kills += 1
        finally:
            child.join(timeout=30)
        with Ledger.open(shared_url) as ledger:
            position = ledger._views.position
            assert 0 < position <= last
            # Wherever it stopped, the views are exactly the log up to there.
            assert folded_up_to(ledger, position) == ledger._views.dump()
    assert 0 < kills, "the children finished before they could be killed"
    with Ledger.open(shared_url) as ledger:
        ledger.catch_up_projections()
        assert last == ledger._views.position
        live = ledger._views.dump()
        assert total == revenue_total(ledger)
        assert folded_up_to(ledger, last) == live
        ledger.rebuild_projections()
        assert live == ledger._views.dump()


# --- (c) writers in two processes, a reader in a third -------------------------------


def test_reader_process_sees_every_command_acknowledged_before_its_query(
    shared_url: str,
) -> None:
    with Ledger.open(shared_url) as ledger:
        referrer = new_referrer(ledger)
    ctx = multiprocessing.get_context("spawn")
    writers, leads_each = 2, 40
    barrier = ctx.Barrier(writers + 1)
    acknowledged = ctx.Queue()
    results = ctx.Queue()
    processes = [
        ctx.Process(
            target=workers.submit_leads_and_acknowledge,
            args=(shared_url, referrer, 88_000_000 + 1000 * w, leads_each, acknowledged, w),
            kwargs={"barrier": barrier, "results": results},
            daemon=True,
        )
        for w in range(writers)
    ]
    processes.append(
        ctx.Process(
            target=workers.read_leads_checking_acknowledged,
            args=(shared_url, writers, acknowledged, writers),
            kwargs={"barrier": barrier, "results": results},
            daemon=True,
        )
    )
    reports = run_workers(processes, results, RESULTS_TIMEOUT)
    reader = next(r for r in reports if r["worker"] == writers)
    submitted = {rid for r in reports if "acknowledged" in r for rid in r["acknowledged"]}
    assert writers * leads_each == len(submitted)
    assert [] == reader["missing"]
    assert len(submitted) == reader["checked"]
    assert 1 < reader["queries"]


# --- (d) two runners catching up at once ------------------------------------------------


def test_two_runners_catching_up_at_once_apply_each_event_once(shared_url: str) -> None:
    # Nothing folds the purchases as they are recorded: the two runners will.
    with Ledger.open(shared_url, background_views=False) as ledger:
        customers = with_customers(ledger, 3)
        total = buy(ledger, customers, 600)
        last = ledger.event_count()
    first, second = Ledger.open(shared_url), Ledger.open(shared_url)
    barrier = threading.Barrier(2)
    folded: dict[int, int] = {}
    errors: list[BaseException] = []

    def run(runner: int, ledger: Ledger) -> None:
        try:
            barrier.wait(timeout=30)
            folded[runner] = ledger._views.catch_up(batch_size=2)
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=run, args=(n, lg)) for n, lg in enumerate([first, second])]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert [] == errors
        # Each event was folded by exactly one of them: the 600 purchases and
        # the 3 registrations (the directory's).
        assert 603 == folded[0] + folded[1]
        assert last == first._views.position
        assert total == revenue_total(first)
        live = first._views.dump()
        assert folded_up_to(first, last) == live
        first.rebuild_projections()
        assert live == first._views.dump()
    finally:
        first.close()
        second.close()
