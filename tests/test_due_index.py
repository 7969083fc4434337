"""The due index (`projections/due_index.py`): what the scheduled jobs have still to
do, by due date. It is derived from the log, so a rebuild gives the same rows;
it never loses an item the jobs' own listings (`due`, a pass over the log)
find; and `process_due` reads only the rows due and the events recorded since
its last call, never the whole history."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import sqlite3
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

import due_children
from referral_ledger import (
    Ledger,
    LoyaltyProgram,
    PointsExpiry,
    ReferralCodeProgram,
    Tier,
)
from referral_ledger.aggregates.loyalty import PointsExpired, account_id
from referral_ledger.reactions import JOBS, Job
from referral_ledger.reactions.due import BATCH
from support import Clock

T0 = datetime(2026, 3, 1, 3, 0, tzinfo=UTC)


def scheduled() -> list[Job]:
    return [job for job in JOBS if job.schedule is not None]


def index_rows(ledger: Ledger) -> dict[str, list[tuple[str, str]]]:
    index = ledger._context.due_index
    for job in scheduled():
        index.catch_up(job)
    return {job.name: index.rows(job) for job in scheduled()}


def a_year_of_sales(ledger: Ledger, clock: Clock, *, process_due: bool = True) -> None:
    """Lots that expire, tiers by a 30-day window, refunds, commissions that mature."""
    ledger.configure_loyalty(
        LoyaltyProgram(
            money_per_point=Decimal(1000),
            point_value=Decimal(100),
            expiry=PointsExpiry(30, "day"),
            tier_window_days=30,
            tiers=[Tier("Silver", 100)],
        )
    )
    ledger.configure_referral_codes(
        ReferralCodeProgram(
            discount=10_000,
            commission_percent=3,
            commission_cap=40_000,
            commission_months=12,
            maturity_days=7,
        )
    )
    referrer = ledger.register_customer("Chủ", ["0912 000 000"])
    code = ledger.referral_code(referrer)
    buyers = [ledger.register_customer(f"Khách {n}", [f"0912 000 {n + 1:03d}"]) for n in range(4)]
    for week in range(12):
        for n, buyer in enumerate(buyers):
            invoice = f"HD-{week}-{n}"
            first = week == 0
            ledger.checkout(
                buyer,
                invoice,
                amount=Decimal(150_000 + 10_000 * n),
                referral_code=code if first else None,
                redeem_points=20 if week % 3 == 2 and ledger.balance(buyer) >= 20 else 0,
            )
            if week % 4 == 3 and n == 0:
                ledger.return_purchase(buyer, invoice)
        clock.advance(days=7)
        if process_due and week % 5 == 4:
            ledger.process_due()
    # A last new customer: its referrer's commission is still pending.
    late = ledger.register_customer("Khách mới", ["0912 000 099"])
    ledger.checkout(late, "HD-late", amount=Decimal(200_000), referral_code=code)


def test_the_index_is_what_a_rebuild_of_the_log_gives(store_url: str) -> None:
    clock = Clock(T0)
    with Ledger.open(store_url, clock=clock) as ledger:
        a_year_of_sales(ledger, clock)
        middle = clock.now
        ledger.process_due(middle)
        live = index_rows(ledger)
        assert all(live.values()), live  # every scheduled job has items still to do
        index = ledger._context.due_index
        for job in scheduled():
            index.rebuild(job)
        rebuilt = index_rows(ledger)
        # Handled items come back (the index keeps no history) ...
        for name, rows in live.items():
            assert set(rows) < set(rebuilt[name])
        # ... and the next call finds their records, records nothing, drops them.
        assert 0 == ledger.process_due(middle)
        assert live == index_rows(ledger)


def test_the_index_finds_every_item_the_log_listing_finds(store_url: str) -> None:
    clock = Clock(T0)
    with Ledger.open(store_url, clock=clock) as ledger:
        a_year_of_sales(ledger, clock, process_due=False)
        context = ledger._worker._reaction_context
        index = ledger._context.due_index
        # Items decided by an earlier call (a tier window that changed no
        # tier) are listed again by the log listing; the index dropped them.
        decided = datetime.min.replace(tzinfo=UTC)
        for later in (clock.now, clock.now + timedelta(days=20), clock.now + timedelta(days=400)):
            for job in scheduled():
                index.catch_up(job)
                listed = {item for item in job.due(context, later) if decided < item[0] <= later}
                indexed: set[tuple[datetime, str]] = set()
                after = None
                while page := index.due(job, later, after, 1000):
                    indexed.update(page)
                    after = page[-1]
                assert listed <= indexed, (job.name, listed - indexed)
            recorded = ledger.process_due(later)
            assert recorded > 0
            for job in scheduled():
                assert [] == index.due(job, later, None, 10)
            # What the listings still name needs nothing: deciding it again records nothing.
            assert 0 == ledger.process_due(later)
            decided = later


def test_expiring_points_reads_the_index_and_agrees_with_the_lots(store_url: str) -> None:
    clock = Clock(T0)
    with Ledger.open(store_url, clock=clock) as ledger:
        a_year_of_sales(ledger, clock)
        within = timedelta(days=25)
        expected: dict[tuple[datetime, Any], int] = {}
        for row in ledger.customers():
            account = ledger.loyalty_account(row.customer_id)
            for lot in account.lots if account else ():
                if lot.expires_at is not None and clock.now < lot.expires_at <= clock.now + within:
                    key = (lot.expires_at, row.customer_id)
                    expected[key] = expected.get(key, 0) + lot.points
        found = {(e.expires_at, e.customer_id): e.points for e in ledger.expiring_points(within)}
        assert expected and found == expected


class CountingReads:
    """Counts the log entries a store hands out (`Store.notifications`)."""

    def __init__(self, ledger: Ledger, monkeypatch: pytest.MonkeyPatch) -> None:
        self.read = 0
        store = ledger._store
        original = store.notifications

        def counted(*args: Any, **kwargs: Any) -> Any:
            batch = original(*args, **kwargs)
            self.read += len(batch)
            return batch

        monkeypatch.setattr(store, "notifications", counted)


def test_process_due_reads_what_is_new_never_the_whole_history(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = Clock(T0)
    with Ledger.open(sqlite_url, clock=clock) as ledger:
        ledger.configure_loyalty(
            LoyaltyProgram(
                money_per_point=Decimal(1000),
                point_value=Decimal(100),
                expiry=PointsExpiry(0, "day"),
                tier_window_days=30,
            )
        )
        cid = ledger.register_customer("Lê Thị Hoa", ["0912 345 678"])
        for n in range(300):
            ledger.record_purchase(cid, f"HD-{n}", 10_000, at=T0 + timedelta(minutes=n))
        clock.advance(days=2)
        assert 300 == ledger.process_due()
        reads = CountingReads(ledger, monkeypatch)
        ledger.record_purchase(cid, "HD-new", 10_000)
        assert 0 == ledger.process_due()
        # The new earning, once per scheduled job that follows it; without the
        # index each call read all 301 earnings, once per job.
        assert reads.read <= len(scheduled())
        clock.advance(days=2)
        reads.read = 0
        assert 1 == ledger.process_due()
        assert reads.read == 0


def test_a_batch_handles_many_items_in_one_transaction(sqlite_url: str) -> None:
    clock = Clock(T0)
    with Ledger.open(sqlite_url, clock=clock) as ledger:
        ledger.configure_loyalty(
            LoyaltyProgram(
                money_per_point=Decimal(1000),
                point_value=Decimal(100),
                expiry=PointsExpiry(0, "day"),
            )
        )
        customers = [
            ledger.register_customer(f"Khách {n}", [f"0912 000 {n:03d}"]) for n in range(5)
        ]
        lots = BATCH + 50
        for n in range(lots):
            ledger.record_purchase(customers[n % 5], f"HD-{n}", 10_000)
        clock.advance(days=2)
        before = ledger._store.stats.commands
        assert lots == ledger.process_due()
        assert ledger._store.stats.commands - before == 2  # two batches
        assert all(ledger.balance(c) == 0 for c in customers)


def test_a_process_killed_while_expiring_leaves_each_lot_expired_once(sqlite_url: str) -> None:
    """SIGKILL in the middle of `process_due` (batches of 20, one transaction
    each): a batch commits whole or not at all, and the next call finishes
    the rest, every lot expired exactly once."""
    lots = 600
    clock = Clock(T0)
    with Ledger.open(sqlite_url, clock=clock, react_inline=False) as ledger:
        ledger.configure_loyalty(
            LoyaltyProgram(
                money_per_point=Decimal(1000),
                point_value=Decimal(100),
                expiry=PointsExpiry(0, "day"),
            )
        )
        customers = [
            ledger.register_customer(f"Khách {n}", [f"0912 000 {n:03d}"]) for n in range(30)
        ]
        for n in range(lots):
            ledger.record_purchase(customers[n % 30], f"HD-{n}", 10_000)
    later = T0 + timedelta(days=2)
    path = sqlite_url.removeprefix("sqlite:///")
    child = multiprocessing.get_context("spawn").Process(
        target=due_children.expire_in_small_batches, args=(sqlite_url, later), daemon=True
    )
    child.start()
    try:
        deadline = time.monotonic() + 120
        while (done := expired_count(path)) < 40 and child.is_alive():
            assert time.monotonic() < deadline, "the child expired nothing"
            time.sleep(0.01)
        assert done < lots, "the child finished before it was killed"
        os.kill(child.pid or 0, signal.SIGKILL)
    finally:
        child.join(30)
    assert expired_count(path) % 20 == 0  # whole batches only
    with Ledger.open(sqlite_url, clock=clock, react_inline=False) as ledger:
        assert lots - expired_count(path) == ledger.process_due(later)
        assert 0 == ledger.process_due(later)
        per_lot = Counter(
            event.invoice_id
            for customer in customers
            for event in ledger._store.events_of(account_id(customer))
            if isinstance(event, PointsExpired)
        )
        assert per_lot == Counter({f"HD-{n}": 1 for n in range(lots)})


def expired_count(path: str) -> int:
    with contextlib.closing(sqlite3.connect(path, timeout=30)) as db:
        (count,) = db.execute(
            "SELECT count(*) FROM stored_events WHERE topic LIKE '%:PointsExpired'"
        ).fetchone()
    return int(count)


def test_rebuild_projections_folds_a_lost_index_again(store_url: str) -> None:
    clock = Clock(T0)
    with Ledger.open(store_url, clock=clock) as ledger:
        ledger.configure_loyalty(
            LoyaltyProgram(
                money_per_point=Decimal(1000),
                point_value=Decimal(100),
                expiry=PointsExpiry(0, "day"),
            )
        )
        cid = ledger.register_customer("Lê Thị Hoa", ["0912 345 678"])
        for n in range(5):
            ledger.record_purchase(cid, f"HD-{n}", 10_000)
        index_rows(ledger)
        sql = ledger._context.due_index.sql
        with sql.transaction(commit=True) as cursor:
            sql.execute(cursor, "DELETE FROM {p}rl_due")  # the rows lost, the position kept
        clock.advance(days=2)
        ledger.rebuild_projections()
        assert 5 == ledger.process_due()
        assert 0 == ledger.balance(cid)
