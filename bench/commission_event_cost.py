"""What one commission event costs as a referrer's account grows: flat, or not.

    .venv/bin/python bench/commission_event_cost.py                # 100 .. 100,000 lines
    .venv/bin/python bench/commission_event_cost.py 100 1000 10000

Builds a referrer account of N lines in memory (events folded by
`evolve_commission_account`, no store), then times the work of one more
purchase's commission as `earn_commission` does it — the cap's sum
(`earned_from`), the decision (`earn`), the fold (`evolve`) — and of its
maturing and a return. Prints, per size, the Python calls of one such event
(counted with `sys.setprofile`: independent of the machine's load), the bytes
it allocates (`tracemalloc`), and the CPU µs per event (`time.process_time`,
median of 5 rounds of 200 events).
"""

from __future__ import annotations

import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import Any
from uuid import UUID

from referral_ledger.aggregates import commission as accounts
from referral_ledger.aggregates.commission import evolve_commission_account

NOW = datetime(2026, 1, 1, tzinfo=UTC)
BUYERS = 200


def buyer(n: int) -> UUID:
    return UUID(int=n % BUYERS + 1)


def account_of(lines: int) -> Any:
    """A referrer account with `lines` commission lines over 200 buyers."""
    state = None
    for event in accounts.issue_code(UUID(int=10**9), "ABCDEFG", NOW):
        state = evolve_commission_account(state, event)
    for n in range(lines):
        state = earn_one(state, f"I{n}")
    return state


def earn_one(state: Any, invoice_id: str, n: int = 0) -> Any:
    """One purchase's commission, as `earn_commission` decides and folds it."""
    customer = buyer(n)
    state.earned_from(customer)  # what the cap checks
    for event in accounts.earn(
        state,
        invoice_id=invoice_id,
        customer_id=customer,
        amount=Decimal(150000),
        invoice_amount=Decimal(150000),
        commission=Decimal(7500),
        at=NOW,
        due_at=NOW + timedelta(days=14),
        now=NOW,
    ):
        state = evolve_commission_account(state, event)
    return state


def mature_and_return(state: Any, invoice_id: str) -> Any:
    for event in accounts.mature(state, invoice_id, NOW, NOW):
        state = evolve_commission_account(state, event)
    for event in accounts.take_back(state, invoice_id, Decimal(1000), Decimal(50), NOW, NOW):
        state = evolve_commission_account(state, event)
    return state


def calls(work: Callable[[], object]) -> int:
    count = 0

    def profile(frame: object, event: str, arg: object) -> None:
        nonlocal count
        if event in ("call", "c_call"):
            count += 1

    sys.setprofile(profile)
    try:
        work()
    finally:
        sys.setprofile(None)
    return count


def allocated(work: Callable[[], object]) -> int:
    tracemalloc.start()
    try:
        work()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def cpu_us(state: Any, events: int = 200, rounds: int = 5) -> float:
    times = []
    for r in range(rounds):
        start = time.process_time()
        current = state
        for n in range(events):
            current = earn_one(current, f"X{r}-{n}", n)
        times.append((time.process_time() - start) / events * 1e6)
    return statistics.median(times)


def main(sizes: list[int]) -> None:
    print("lines    | calls: earn  mature+return | bytes allocated: earn | CPU µs/earn")
    for size in sizes:
        state = account_of(size)
        earn_calls = calls(partial(earn_one, state, "NEW"))
        other_calls = calls(partial(mature_and_return, state, "I0"))
        earn_bytes = allocated(partial(earn_one, state, "NEW"))
        print(
            f"{size:>8,} | {earn_calls:>11,} {other_calls:>14,} | {earn_bytes:>21,} | "
            f"{cpu_us(state):>10,.1f}"
        )


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [100, 1000, 10_000, 100_000])
