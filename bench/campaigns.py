"""The campaign hot spot: purchases per second with 2 and 8 processes (`--scenarios campaigns`).

Every purchase a campaign counts advances the campaign's record in the
purchase's own transaction (that is how the budget and the limits are never
exceeded), so purchases in one campaign are serialised on that record, from
any number of processes. Each process records purchases of customers of its
own (so the only record they share is the campaign's), all inside the
window, (a) with the campaign, and (b) outside its window (the same work
without the shared record): (b) / (a) is what the hot spot costs. (c) is
(a) at the till: `checkout` earns through the same step, so it shares the
hot spot too. The clock
starts when every process has opened its ledger and met at a barrier.
"""

from __future__ import annotations

import multiprocessing
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

from referral_ledger import Campaign, ConcurrencyConflict, Ledger, LoyaltyProgram

START = datetime(2026, 6, 1, tzinfo=UTC)
#: Customers per process.
CUSTOMERS = 20


def _worker(
    url: str,
    customers: list[UUID],
    count: int,
    prefix: str,
    at: datetime,
    barrier: Any,
    results: Any,
    till: bool = False,
) -> None:
    try:
        with Ledger.open(url) as ledger:
            barrier.wait(120)
            started = time.perf_counter()
            surfaced = 0
            for n in range(count):
                customer = customers[n % len(customers)]
                while True:
                    # As a host would: nothing was recorded, so send it again.
                    try:
                        if till:
                            ledger.checkout(customer, f"{prefix}-{n}", 100_000, at=at)
                        else:
                            ledger.record_purchase(customer, f"{prefix}-{n}", 100_000, at=at)
                        break
                    except ConcurrencyConflict:
                        surfaced += 1
            elapsed = time.perf_counter() - started
            stats = ledger.stats
            results.put(
                {
                    "elapsed": elapsed,
                    "attempts": int(getattr(stats, "attempts", 0)),
                    "retried": int(getattr(stats, "conflicts_retried", 0)),
                    "surfaced": surfaced,
                }
            )
    except BaseException as error:  # the parent reports it
        barrier.abort()
        results.put({"error": repr(error)})


def _prepare(url: str, processes: int) -> list[list[UUID]]:
    with Ledger.open(url) as ledger:
        ledger.configure_loyalty(
            LoyaltyProgram(money_per_point=Decimal(1000), point_value=Decimal(100))
        )
        ledger.add_campaign(
            Campaign(
                campaign_id="BENCH",
                name="Bench race",
                starts_at=START,
                ends_at=START + timedelta(days=30),
                multiplier=Decimal(2),
                per_customer_limit=10**9,
                budget_points=10**12,
            ),
            at=START,
        )
        return [
            [
                ledger.register_customer(name=f"Khách {p}-{n}", phones=[f"09{p:02d}{n:06d}"])
                for n in range(CUSTOMERS)
            ]
            for p in range(processes)
        ]


def _race(
    url: str, groups: list[list[UUID]], count: int, at: datetime, tag: str, till: bool = False
) -> dict[str, Any]:
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(len(groups))
    results = ctx.Queue()
    workers = [
        ctx.Process(target=_worker, args=(url, g, count, f"{tag}{i}", at, barrier, results, till))
        for i, g in enumerate(groups)
    ]
    for worker in workers:
        worker.start()
    reports = [results.get(timeout=600) for _ in workers]
    for worker in workers:
        worker.join()
    errors = [r["error"] for r in reports if "error" in r]
    if errors:
        raise RuntimeError("; ".join(errors))
    wall = max(r["elapsed"] for r in reports)
    total = count * len(groups)
    return {
        "purchases": total,
        "seconds": round(wall, 3),
        "per_s": round(total / wall, 1),
        "conflicts_retried": sum(r["retried"] for r in reports),
        #: Commands that gave up after `max_attempts` and were sent again.
        "conflicts_surfaced": sum(r["surfaced"] for r in reports),
    }


def scenario_campaigns(url_for: Any, per_process: int) -> list[dict[str, Any]]:
    """For 2 and 8 processes: purchases/s in the campaign, outside its window, and
    checkouts/s in the campaign."""
    rows = []
    for processes in (2, 8):
        url = url_for(f"campaign{processes}")
        groups = _prepare(url, processes)
        inside = _race(url, groups, per_process, START + timedelta(days=1), "in")
        outside = _race(url, groups, per_process, START + timedelta(days=60), "out")
        till = _race(url, groups, per_process, START + timedelta(days=1), "till", till=True)
        rows.append(
            {
                "processes": processes,
                "in_campaign": inside,
                "outside": outside,
                "checkout_in_campaign": till,
                "ratio": round(outside["per_s"] / inside["per_s"], 2),
            }
        )
    return rows
