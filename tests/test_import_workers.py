"""`import_purchases(..., workers=N)`: real worker processes on SQLite and PostgreSQL.

The same rows imported with workers=2 leave the same ledger as with workers=1
(balances, statements, commissions, the report and its row order), audit
clean; again records nothing; a worker killed mid-import is reported, and the
same import run again completes it exactly once. Referred customers' rows
earn two shared referrers commission, so the workers write the same records
and their conflicts must be decided again, never rejected.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from referral_ledger import Ledger, LoyaltyProgram, ReferralCodeProgram
from referral_ledger.aggregates import loyalty
from referral_ledger.errors import InvalidInput, StoreError
from referral_ledger.store import UnitOfWork
from stores import drop_pg_schema, new_pg_url

PROGRAM = LoyaltyProgram(money_per_point=Decimal(1000), point_value=Decimal(100))
CODES = ReferralCodeProgram(discount=Decimal(0), commission_percent=Decimal(5))
T0 = datetime(2025, 3, 1, tzinfo=UTC)
CUSTOMERS = 12


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def urls(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[list[str]]:
    """Three fresh stores of one kind: for workers=1, for workers=2, for a third run."""
    if request.param == "sqlite":
        yield [f"sqlite:///{tmp_path}/ledger{n}.db" for n in range(3)]
        return
    request.getfixturevalue("fresh_pg_url")  # skips, or fails in CI, without PostgreSQL
    made = [new_pg_url() for _ in range(3)]
    try:
        yield made
    finally:
        for url in made:
            drop_pg_schema(url)


def prepare(ledger: Ledger) -> list[UUID]:
    """Customers P0..P11; P0 referred P2..P6 and P1 referred P7..P9 (by code)."""
    ledger.configure_loyalty(PROGRAM)
    ledger.configure_referral_codes(CODES)
    ledger.import_customers(
        [
            {"name": f"K{n}", "phones": f"0912{n:06d}", "external_id": f"P{n}"}
            for n in range(CUSTOMERS)
        ]
    )
    people = [ledger.find_customer_by_external_id(f"P{n}") for n in range(CUSTOMERS)]
    assert all(p is not None for p in people)
    ids = [p for p in people if p is not None]
    for buyer, referrer in [*((n, 0) for n in range(2, 7)), *((n, 1) for n in range(7, 10))]:
        code = ledger.referral_code(ids[referrer])
        ledger.checkout(ids[buyer], f"FIRST-{buyer}", Decimal(1000), referral_code=code, at=T0)
    return ids


def rows(ids: list[UUID], count: int) -> list[Any]:
    """Purchases round-robin, each customer named by id or by POS id in turn, with bad rows."""
    made: list[Any] = []
    for i in range(count):
        n = i % CUSTOMERS
        who = {"customer_id": str(ids[n])} if i % 3 else {"external_id": f"P{n}"}
        at = T0 + timedelta(days=1, minutes=i)
        made.append({**who, "invoice_id": f"INV-{i}", "amount": 150_000 + 1000 * (i % 7), "at": at})
        if i % 97 == 5:
            made.append({"invoice_id": f"NOBODY-{i}", "amount": 1000})
        if i % 89 == 7:
            made.append({"external_id": "UNKNOWN", "invoice_id": f"U-{i}", "amount": 1000})
        if i % 53 == 3:  # the same invoice again with other figures, same customer
            made.append({**who, "invoice_id": f"INV-{i}", "amount": 1, "at": at})
    made.append("not a row")
    return made


def state(ledger: Ledger, ids: list[UUID]) -> dict[str, Any]:
    """What an import leaves, in terms that do not depend on record ids or timing."""
    return {
        "balances": [ledger.balance(p) for p in ids],
        "statements": [
            [(r.at, r.kind, r.points, r.balance, r.reference, r.amount) for r in statement]
            for statement in map(ledger.statement, ids)
        ],
        "commissions": [
            sorted(
                (c.invoice_id, ids.index(c.customer_id), c.amount, c.commission, c.status)
                for c in ledger.commissions(p)
            )
            for p in ids[:2]
        ],
    }


def rejected(report: Any, ids: list[UUID]) -> list[tuple[int, str]]:
    """The report's rejected rows, each customer's id in the reasons named P<n>."""
    named = []
    for number, reason in report.rejected:
        for n, customer in enumerate(ids):
            reason = reason.replace(repr(customer), f"P{n}")
        named.append((number, reason))
    return named


def imported(url: str, count: int, workers: int) -> tuple[Any, dict[str, Any], int]:
    """A fresh ledger at `url`, the rows imported: the report, the state, the events."""
    with Ledger.open(url) as ledger:
        ids = prepare(ledger)
        report = ledger.import_purchases(rows(ids, count), batch_size=7, workers=workers)
        audit = ledger.audit()
        assert audit.problems == ()
        report.rejected = rejected(report, ids)
        # Events stored (PostgreSQL's positions skip what rolled-back conflicts took).
        return report, state(ledger, ids), audit.events


def test_two_workers_leave_the_ledger_one_process_leaves(urls: list[str]) -> None:
    one, one_state, one_events = imported(urls[0], 300, workers=1)
    two, two_state, two_events = imported(urls[1], 300, workers=2)
    assert (two.recorded, two.duplicates, two.points) == (one.recorded, one.duplicates, one.points)
    assert one.recorded == 300
    # The same rejections, numbered as the rows were given, in row order.
    assert two.rejected == one.rejected
    assert [n for n, _ in two.rejected] == sorted(n for n, _ in two.rejected)
    assert two_state == one_state
    assert sum(len(lines) for lines in two_state["commissions"]) > 100  # shared referrers
    assert two_events == one_events
    with Ledger.open(urls[1]) as ledger:
        people = [ledger.find_customer_by_external_id(f"P{n}") for n in range(CUSTOMERS)]
        ids = [p for p in people if p is not None]
        again = ledger.import_purchases(rows(ids, 300), batch_size=7, workers=2)
        assert (again.recorded, again.duplicates) == (0, 300)
        assert rejected(again, ids) == one.rejected
        assert ledger.audit().events == two_events


def test_a_killed_worker_is_reported_and_the_same_import_again_completes_it(
    urls: list[str],
) -> None:
    count = 3000
    _, expected, expected_events = imported(urls[0], count, workers=1)
    with Ledger.open(urls[1]) as ledger, Ledger.open(urls[1]) as watcher:
        ids = prepare(ledger)
        start, prepared = ledger.event_count(), ledger.audit().events
        outcome: list[BaseException | object] = []

        def run() -> None:
            try:
                outcome.append(ledger.import_purchases(rows(ids, count), batch_size=20, workers=2))
            except BaseException as error:
                outcome.append(error)

        importer = threading.Thread(target=run)
        importer.start()
        # Kill one worker once the import has recorded something, well before its end.
        killed = None
        for _ in range(6000):
            children = multiprocessing.active_children()
            if len(children) == 2 and watcher.event_count() > start + 200:
                killed = children[0]
                os.kill(killed.pid or 0, signal.SIGKILL)
                break
            time.sleep(0.01)
        importer.join()
        assert killed is not None, "the import ended before a worker could be killed"
        assert len(outcome) == 1 and isinstance(outcome[0], StoreError), outcome
        assert f"pid {killed.pid}" in str(outcome[0])
        assert "run the same import again" in str(outcome[0])
        audit = ledger.audit()
        assert audit.problems == ()
        assert prepared < audit.events < expected_events

        again = ledger.import_purchases(rows(ids, count), batch_size=20, workers=2)
        assert 0 < again.recorded < count
        assert again.recorded + again.duplicates == count
        assert state(ledger, ids) == expected
        audit = ledger.audit()
        assert audit.problems == ()
        assert audit.events == expected_events


@pytest.mark.parametrize("bad", [0, -1, True, False, 2.0, "2", None, 33])
def test_bad_worker_counts_are_refused_naming_the_value(sqlite_url: str, bad: object) -> None:
    with Ledger.open(sqlite_url) as ledger:
        ids = prepare(ledger)
        before = ledger.event_count()
        with pytest.raises(InvalidInput, match=f"workers must .*{bad!r}"):
            ledger.import_purchases(rows(ids, 5), workers=bad)  # type: ignore[arg-type]
        assert ledger.event_count() == before


def test_an_in_memory_ledger_refuses_workers() -> None:
    with Ledger.open("memory://") as ledger:
        ids = prepare(ledger)
        before = ledger.event_count()
        with pytest.raises(InvalidInput, match=r"workers=2 .*memory://"):
            ledger.import_purchases(rows(ids, 5), workers=2)
        assert ledger.event_count() == before
        assert ledger.import_purchases(rows(ids, 5), workers=1).recorded == 5


def test_a_clock_other_processes_cannot_have_is_refused(sqlite_url: str) -> None:
    with Ledger.open(sqlite_url, clock=lambda: T0) as ledger:
        ids = prepare(ledger)
        before = ledger.event_count()
        with pytest.raises(InvalidInput, match=r"workers=2 .*clock"):
            ledger.import_purchases(rows(ids, 5), workers=2)
        assert ledger.event_count() == before


def test_a_batch_that_keeps_conflicting_is_earned_in_halves_not_rejected(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With one attempt per save, another writer racing a batch surfaces a conflict;
    the import decides the batch again in halves and every row is recorded once."""
    with Ledger.open(sqlite_url, max_attempts=1) as ledger:
        ids = prepare(ledger)
        prefetch = UnitOfWork.prefetch
        raced: list[bool] = []

        def prefetch_then_race(unit: UnitOfWork, records: Any) -> None:
            wanted = list(records)
            prefetch(unit, wanted)
            if not raced and any(i == loyalty.invoice_record_id("INV-4") for i, _ in wanted):
                raced.append(True)
                with Ledger.open(sqlite_url) as other:
                    other.record_purchase(ids[4], "OTHER-1", 150_000, at=T0)

        monkeypatch.setattr(UnitOfWork, "prefetch", prefetch_then_race)
        purchases = [
            {"customer_id": ids[n % 6], "invoice_id": f"INV-{n}", "amount": 150_000, "at": T0}
            for n in range(10)
        ]
        report = ledger.import_purchases(purchases, batch_size=100)
        assert raced
        assert (report.recorded, report.rejected) == (10, [])
        assert ledger.audit().problems == ()


def test_a_row_that_cannot_reach_a_worker_is_rejected_alone(sqlite_url: str) -> None:
    with Ledger.open(sqlite_url) as ledger:
        ids = prepare(ledger)
        purchases: list[Any] = [
            {"customer_id": ids[n], "invoice_id": f"G-{n}", "amount": 150_000} for n in range(6)
        ]
        purchases.insert(2, {"customer_id": ids[0], "invoice_id": "L-1", "amount": lambda: 1})
        report = ledger.import_purchases(purchases, workers=2)
        assert report.recorded == 6
        assert [n for n, _ in report.rejected] == [3]
        assert "cannot be sent to a worker" in report.rejected[0][1]


def test_rows_that_fail_midway_raise_and_leave_no_worker_behind(sqlite_url: str) -> None:
    with Ledger.open(sqlite_url) as ledger:
        ids = prepare(ledger)

        def broken() -> Iterator[dict[str, object]]:
            for n in range(50):
                yield {"customer_id": ids[n % CUSTOMERS], "invoice_id": f"B-{n}", "amount": 1000}
            raise RuntimeError("the export ended badly")

        with pytest.raises(RuntimeError, match="ended badly"):
            ledger.import_purchases(broken(), batch_size=10, workers=2)
        assert multiprocessing.active_children() == []
        assert ledger.audit().problems == ()
