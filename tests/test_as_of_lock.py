"""`as_of=T` answers what a query answered at T, even for a command that waited for the lock.

Another connection holds the store's write lock (SQLite: `BEGIN IMMEDIATE`;
PostgreSQL: the `LOCK TABLE ... IN EXCLUSIVE MODE` every writer takes) while
a command waits for it in a thread. During the wait, at T, a query answers;
then the lock is released and the command commits. Asked later with
`as_of=T`, the same query must give the same answer: the command's events
are stamped when it got the lock, not when it started.

The clock is a test clock moved by hand, so the moments are exact: the
command starts at T0, the query runs at T = T0 + 1 s, the lock is released at
T0 + 2 s.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from decimal import Decimal

import psycopg
import pytest
from psycopg import sql

from referral_ledger import Ledger, LoyaltyProgram
from stores import split_pg_url
from support import Clock

LOYALTY = LoyaltyProgram(money_per_point=Decimal(10000), point_value=Decimal(1000))
#: Seconds the lock is still held after the query, so the command surely waits on it.
HOLD = 0.5


class WatchedClock(Clock):
    """A test clock that says when a thread other than the test's first read it."""

    def __init__(self) -> None:
        super().__init__()
        self.read_elsewhere = threading.Event()

    def __call__(self) -> datetime:
        if threading.current_thread() is not threading.main_thread():
            self.read_elsewhere.set()
        return super().__call__()


@contextlib.contextmanager
def sqlite_write_lock(url: str, ledger: Ledger) -> Iterator[None]:
    conn = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None, timeout=5)
    try:
        conn.execute("BEGIN IMMEDIATE")
        yield
        conn.execute("ROLLBACK")
    finally:
        conn.close()


@contextlib.contextmanager
def postgres_write_lock(url: str, ledger: Ledger) -> Iterator[None]:
    dsn, schema = split_pg_url(url)
    table = ledger._store.app.recorder.events_table_name  # type: ignore[attr-defined]
    with psycopg.connect(dsn, connect_timeout=5) as conn:
        conn.execute(
            sql.SQL("LOCK TABLE {}.{} IN EXCLUSIVE MODE").format(
                sql.Identifier(schema or "public"), sql.Identifier(table)
            )
        )
        yield
        conn.rollback()


LOCKS: dict[str, Callable[[str, Ledger], contextlib.AbstractContextManager[None]]] = {
    "sqlite": sqlite_write_lock,
    "postgres": postgres_write_lock,
}


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_a_query_at_t_and_as_of_t_agree_when_a_command_waited_for_the_lock(
    kind: str, request: pytest.FixtureRequest
) -> None:
    url: str = request.getfixturevalue("sqlite_url" if kind == "sqlite" else "fresh_pg_url")
    clock = WatchedClock()
    # The views' thread off: this test is about one command waiting for the lock
    # (with the thread on, it once waited out a fold that waited for it; see #19's note).
    with Ledger.open(url, clock=clock, background_views=False) as ledger:
        ledger.configure_loyalty(LOYALTY)
        customer = ledger.register_customer(name="An", phones=["0912345678"])
        ledger.record_purchase(customer, "INV-1", Decimal(250000))
        failures: list[BaseException] = []

        def purchase() -> None:
            try:
                ledger.record_purchase(customer, "INV-2", Decimal(130000))
            except BaseException as error:  # reported by the test thread
                failures.append(error)

        worker = threading.Thread(target=purchase)
        with LOCKS[kind](url, ledger):
            worker.start()
            assert clock.read_elsewhere.wait(30), "the command did not start"
            asked_at = clock.advance(seconds=1)
            answer = (ledger.balance(customer), len(ledger.statement(customer)))
            time.sleep(HOLD)  # the command is blocked on the lock meanwhile
            clock.advance(seconds=1)
        worker.join(60)
        assert not worker.is_alive() and not failures, failures
        assert (25, 1) == answer
        assert (38, 2) == (ledger.balance(customer), len(ledger.statement(customer)))
        assert 25 == ledger.balance(customer, as_of=asked_at)
        account = ledger.loyalty_account(customer, as_of=asked_at)
        assert account is not None and 25 == account.balance
        [row] = [r for r in ledger.statement(customer) if r.reference == "INV-2"]
        assert row.recorded_at > asked_at  # recorded when the lock was got
        assert row.at < asked_at  # business time as the command decided it
