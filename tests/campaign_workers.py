"""Code that runs in child OS processes for tests/test_campaigns_processes.py (and the bench).

Spawned like tests/workers.py: each worker opens its own `Ledger` on the
shared store, waits at the barrier, records its purchases (all inside one
campaign's window; by `record_purchase` or at the till) and reports the
points each one earned.
"""

from __future__ import annotations

import contextlib
from datetime import datetime
from typing import Any
from uuid import UUID

from referral_ledger import ConcurrencyConflict, Ledger
from workers import Barrier, ResultQueue, _run


def buy_in_campaign(
    url: str,
    purchases: list[tuple[UUID, str, int]] | list[tuple[UUID, str, int, bool]],
    at: datetime,
    worker: int,
    barrier: Barrier,
    results: ResultQueue,
) -> None:
    """Record each (customer, invoice_id, amount[, at the till]) at `at`, by
    `record_purchase` or (the fourth item true) `checkout`; report the points by invoice."""

    def work(ledger: Ledger) -> dict[str, Any]:
        barrier.wait(60.0)
        earned = {}
        for customer, invoice, amount, *till in purchases:
            while invoice not in earned:
                # Gave up after max_attempts: nothing was recorded, and a host
                # sends it again (a loaded machine can starve one process).
                with contextlib.suppress(ConcurrencyConflict):
                    if till and till[0]:
                        sale = ledger.checkout(customer, invoice, amount, at=at)
                        earned[invoice] = sale.points_earned
                    else:
                        earned[invoice] = ledger.record_purchase(customer, invoice, amount, at=at)
        return {"earned": earned}

    _run(work, url, worker, barrier, results)
