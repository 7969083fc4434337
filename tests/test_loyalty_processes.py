"""Points under real concurrency: several OS processes on one SQLite file or PostgreSQL.

Each test starts worker processes (tests/workers.py) with the "spawn" context,
so every worker is a separate interpreter with its own `Ledger` and its own
connections, exactly like several instances of a host application. The
workers meet at a barrier before racing, then report what the ledger
acknowledged; the test checks the store against those acknowledgements.
Run with `-s` to see each worker's attempts and conflicts.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable
from decimal import Decimal
from typing import Any
from uuid import UUID

import psycopg
import pytest
from psycopg import sql

import workers
from referral_ledger import Ledger, LoyaltyProgram
from stores import split_pg_url
from support import race as race_processes

#: Seconds to wait for all workers' results; the tests take a few seconds.
RESULTS_TIMEOUT = 90.0

#: Workers racing for the same invoice or redemption, or opening the store together.
PROCESSES = 4

pytestmark = pytest.mark.timeout(180)


def program() -> LoyaltyProgram:
    return LoyaltyProgram(money_per_point=Decimal(10000), point_value=Decimal(1000))


def open_account(url: str, earned: int) -> UUID:
    """Configure the program, create a customer and earn `earned` points on one invoice."""
    with Ledger.open(url) as ledger:
        ledger.configure_loyalty(program())
        customer_id = workers.new_customer(ledger, 1)
        if earned:
            assert earned == ledger.record_purchase(customer_id, "INV-0", earned * 10000)
    return customer_id


def run_workers(target: Callable[..., None], args: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
    """Run `target(*args[i], i, barrier, queue)` in one spawned process per entry."""
    return race_processes(target, args, RESULTS_TIMEOUT)


def report(title: str, results: list[dict[str, Any]]) -> None:
    """Print each worker's command stats (shown with `pytest -s`)."""
    print(f"\n{title}")
    for r in results:
        counts = " ".join(
            f"{key}={len(r[key])}" for key in ("acknowledged", "refused", "conflicted") if key in r
        )
        print(f"  worker {r['worker']}: {r['stats']} {counts}".rstrip())


def movements(url: str, customer_id: UUID, kind: str) -> list[str]:
    """The references of the customer's statement rows of `kind`, in order."""
    with Ledger.open(url) as ledger:
        return [row.reference for row in ledger.statement(customer_id) if row.kind == kind]


def stored_event_count(url: str) -> int:
    """The rows in the store's events table, counted with SQL.

    Not `Ledger.event_count()`: that is the newest event's position, and on
    PostgreSQL the inserts that lost a race leave gaps in the positions.
    """
    if url.startswith("sqlite:///"):
        with contextlib.closing(sqlite3.connect(url.removeprefix("sqlite:///"))) as db:
            (count,) = db.execute("SELECT COUNT(*) FROM stored_events").fetchone()
            return int(count)
    dsn, schema = split_pg_url(url)
    table = sql.Identifier(schema or "public", "referral_ledger_events")
    with psycopg.connect(dsn) as conn:
        row = conn.execute(sql.SQL("SELECT COUNT(*) FROM {}").format(table)).fetchone()
        assert row is not None
        return int(row[0])


# --- opening one store from several processes ----------------------------------


def test_several_processes_open_the_same_store_at_once(shared_url: str) -> None:
    """Opening sets up tables and functions; processes doing it together all succeed.

    (PostgreSQL refuses concurrent CREATE OR REPLACE FUNCTION with "tuple
    concurrently updated" unless the openers take turns.)
    """
    open_account(shared_url, 0)
    results = run_workers(workers.open_repeatedly, [(shared_url, 5)] * PROCESSES)
    assert [5] * PROCESSES == [r["opened"] for r in results]


# --- racing redemptions from one account ------------------------------------


@pytest.mark.parametrize(
    ("processes", "earned", "rounds"),
    [pytest.param(2, 40, 30, id="2-processes"), pytest.param(4, 80, 30, id="4-processes")],
)
def test_processes_redeeming_from_one_account_never_overspend(
    shared_url: str, processes: int, earned: int, rounds: int
) -> None:
    """Processes redeem 1 point per round, asking for more than was earned in total.

    What the ledger acknowledged never exceeds what was earned, the balance is
    earned minus acknowledged, the statement holds exactly the acknowledged
    redemptions, and a refusal only ever happened on an empty account.
    """
    assert processes * rounds > earned, "the workers must ask for more than there is"
    customer_id = open_account(shared_url, earned)

    results = run_workers(workers.redeem_rounds, [(shared_url, customer_id, 1, rounds)] * processes)
    report(f"{processes} processes redeeming {rounds} x 1 point from {earned}:", results)

    acknowledged = sorted(i for r in results for i in r["acknowledged"])
    refused = [i for r in results for i in r["refused"]]
    conflicted = [i for r in results for i in r["conflicted"]]
    assert processes * rounds == len(acknowledged) + len(refused) + len(conflicted)
    assert len(acknowledged) <= earned
    with Ledger.open(shared_url) as ledger:
        balance = ledger.balance(customer_id)
    assert earned - len(acknowledged) == balance
    redeemed = movements(shared_url, customer_id, "redeem")
    assert acknowledged == sorted(redeemed)
    assert set() == set(redeemed) & (set(refused) | set(conflicted))
    if refused:
        # Refused means "the balance was 0" (1 point at a time), and it never rises.
        assert 0 == balance
    # Every command either committed once or recorded nothing.
    assert len(acknowledged) == sum(
        r["stats"]["attempts"]
        - r["stats"]["conflicts_retried"]
        - r["stats"]["conflicts_surfaced"]
        - len(r["refused"])
        for r in results
    )


# --- the same invoice or redemption id from several processes at once --------------


def reference_event_count(commands: Callable[[Ledger, UUID], None]) -> int:
    """How many events `commands` record when run once, alone, on a memory ledger."""
    with Ledger.open() as ledger:
        ledger.configure_loyalty(program())
        customer_id = workers.new_customer(ledger, 1)
        ledger.record_purchase(customer_id, "INV-0", 1000 * 10000)
        before = ledger.event_count()
        commands(ledger, customer_id)
        return ledger.event_count() - before


INVOICES = [(f"INV-{n}", Decimal(105000 + 10000 * n)) for n in range(1, 9)]
REDEMPTIONS = [(f"R-{n}", 5 + n) for n in range(1, 9)]


def test_the_same_invoice_from_several_processes_earns_once(shared_url: str) -> None:
    """Each invoice is sent by every process at the same moment.

    Every process gets the same points back, the statement has one earn row
    per invoice, and the log grew by what one purchase of each records.
    """
    customer_id = open_account(shared_url, 0)
    before = stored_event_count(shared_url)

    results = run_workers(
        workers.send_same_invoices, [(shared_url, customer_id, INVOICES)] * PROCESSES
    )
    report(f"{PROCESSES} processes sending the same {len(INVOICES)} invoices:", results)

    expected = {invoice_id: int(amount // 10000) for invoice_id, amount in INVOICES}
    assert [expected] * PROCESSES == [r["earned"] for r in results]
    assert [i for i, _ in INVOICES] == sorted(movements(shared_url, customer_id, "earn"))

    def purchases(ledger: Ledger, customer: UUID) -> None:
        for invoice_id, amount in INVOICES:
            ledger.record_purchase(customer, invoice_id, amount)

    with Ledger.open(shared_url) as ledger:
        assert sum(expected.values()) == ledger.balance(customer_id)
    assert reference_event_count(purchases) == stored_event_count(shared_url) - before


def test_the_same_redemption_from_several_processes_redeems_once(shared_url: str) -> None:
    """Each redemption id is sent by every process at the same moment.

    Every process gets the same value back, the statement has one redeem row
    per redemption id, and the points left the balance once.
    """
    customer_id = open_account(shared_url, 1000)
    before = stored_event_count(shared_url)

    results = run_workers(
        workers.send_same_redemptions, [(shared_url, customer_id, REDEMPTIONS)] * PROCESSES
    )
    report(f"{PROCESSES} processes sending the same {len(REDEMPTIONS)} redemptions:", results)

    expected = {redemption_id: Decimal(1000 * points) for redemption_id, points in REDEMPTIONS}
    assert [expected] * PROCESSES == [r["values"] for r in results]
    assert [i for i, _ in REDEMPTIONS] == sorted(movements(shared_url, customer_id, "redeem"))

    def redemptions(ledger: Ledger, customer: UUID) -> None:
        for redemption_id, points in REDEMPTIONS:
            ledger.redeem_points(customer, points, redemption_id)

    with Ledger.open(shared_url) as ledger:
        assert 1000 - sum(p for _, p in REDEMPTIONS) == ledger.balance(customer_id)
    assert reference_event_count(redemptions) == stored_event_count(shared_url) - before
