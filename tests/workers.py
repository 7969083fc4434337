"""Code that runs in child OS processes for tests/test_loyalty_processes.py.

The tests start these functions with the multiprocessing "spawn" context: a
fresh interpreter that imports this module by name. Spawn hands the parent's
``sys.path`` to the child, and pytest puts ``tests/`` on it, so ``import
workers`` works there as it does in the tests. Each worker opens its own
``Ledger`` on the shared store, waits at a barrier so all of them start
together, and puts one result (or the traceback of what went wrong) on a
queue. Nothing here imports pytest.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable
from decimal import Decimal
from typing import Any, Protocol
from uuid import UUID

from referral_ledger import ConcurrencyConflict, Ledger, RedemptionRefused

#: The fields of `Ledger.stats`, copied into plain dicts to cross the process boundary.
STAT_FIELDS = ("commands", "attempts", "conflicts_retried", "conflicts_surfaced")
#: Seconds a worker waits at the barrier for the others before giving up.
BARRIER_TIMEOUT = 60.0


class Barrier(Protocol):
    def wait(self, timeout: float | None = None) -> int: ...
    def abort(self) -> None: ...


class ResultQueue(Protocol):
    def put(self, obj: Any) -> None: ...


def new_customer(ledger: Ledger, n: int) -> UUID:
    """Register customer number `n` (a unique valid Vietnamese mobile each)."""
    return ledger.register_customer(name=f"Khách hàng {n}", phones=[f"09{n:08d}"])


def stats_of(ledger: Ledger) -> dict[str, int]:
    return {name: int(getattr(ledger.stats, name)) for name in STAT_FIELDS}


def _run(
    work: Callable[[Ledger], dict[str, Any]],
    url: str,
    worker: int,
    barrier: Barrier,
    results: ResultQueue,
) -> None:
    """Open the ledger, run `work`, report its result with the ledger's stats."""
    try:
        with Ledger.open(url) as ledger:
            result = work(ledger)
            results.put({"worker": worker, "stats": stats_of(ledger), **result})
    except BaseException:
        # Release the others at once instead of leaving them at the barrier.
        barrier.abort()
        results.put({"worker": worker, "error": traceback.format_exc()})


def redeem_rounds(
    url: str,
    customer_id: UUID,
    points: int,
    rounds: int,
    worker: int,
    barrier: Barrier,
    results: ResultQueue,
) -> None:
    """Redeem `points` once per round, every round a new redemption id.

    Reports which redemption ids were acknowledged (the call returned), refused
    (`RedemptionRefused`: not enough points) and conflicted
    (`ConcurrencyConflict`: gave up after retrying).
    """

    def work(ledger: Ledger) -> dict[str, Any]:
        outcome: dict[str, Any] = {"acknowledged": [], "refused": [], "conflicted": []}
        barrier.wait(BARRIER_TIMEOUT)
        for n in range(rounds):
            redemption_id = f"w{worker}-r{n}"
            try:
                ledger.redeem_points(customer_id, points, redemption_id)
            except RedemptionRefused:
                outcome["refused"].append(redemption_id)
            except ConcurrencyConflict:
                outcome["conflicted"].append(redemption_id)
            else:
                outcome["acknowledged"].append(redemption_id)
        return outcome

    _run(work, url, worker, barrier, results)


def send_same_invoices(
    url: str,
    customer_id: UUID,
    invoices: list[tuple[str, Decimal]],
    worker: int,
    barrier: Barrier,
    results: ResultQueue,
) -> None:
    """Send each (invoice_id, amount) once, meeting the other workers before each one.

    Every worker sends the same invoices, so each invoice is raced by all of them.
    Reports the points each call returned, by invoice id.
    """

    def work(ledger: Ledger) -> dict[str, Any]:
        earned: dict[str, int] = {}
        for invoice_id, amount in invoices:
            barrier.wait(BARRIER_TIMEOUT)
            earned[invoice_id] = ledger.record_purchase(customer_id, invoice_id, amount)
        return {"earned": earned}

    _run(work, url, worker, barrier, results)


def send_same_redemptions(
    url: str,
    customer_id: UUID,
    redemptions: list[tuple[str, int]],
    worker: int,
    barrier: Barrier,
    results: ResultQueue,
) -> None:
    """Send each (redemption_id, points) once, meeting the other workers before each one.

    Reports the value each call returned, by redemption id.
    """

    def work(ledger: Ledger) -> dict[str, Any]:
        values: dict[str, Decimal] = {}
        for redemption_id, points in redemptions:
            barrier.wait(BARRIER_TIMEOUT)
            values[redemption_id] = ledger.redeem_points(customer_id, points, redemption_id)
        return {"values": values}

    _run(work, url, worker, barrier, results)


def open_repeatedly(
    url: str, times: int, worker: int, barrier: Barrier, results: ResultQueue
) -> None:
    """Open and close the ledger `times` times, all workers starting together."""
    try:
        barrier.wait(BARRIER_TIMEOUT)
        for _ in range(times):
            Ledger.open(url).close()
        results.put({"worker": worker, "opened": times})
    except BaseException:
        barrier.abort()
        results.put({"worker": worker, "error": traceback.format_exc()})


# --- automatic referral rewards (tests/test_referral_reactions.py) ---------------------


def react_together(url: str, worker: int, barrier: Barrier, results: ResultQueue) -> None:
    """Open with `react_inline=False` (so opening reacts to nothing), meet the other
    workers, then all run `process_reactions()` at once. Reports how many
    triggers this worker handled."""

    def work(ledger: Ledger) -> dict[str, Any]:
        barrier.wait(BARRIER_TIMEOUT)
        return {"reacted": ledger.process_reactions()}

    try:
        with Ledger.open(url, react_inline=False) as ledger:
            results.put({"worker": worker, "stats": stats_of(ledger), **work(ledger)})
    except BaseException:
        barrier.abort()
        results.put({"worker": worker, "error": traceback.format_exc()})


def react_and_die_before_saving_a_reward(url: str, marker: str) -> None:
    """Run the reactions and SIGKILL this process the moment one has decided a reward,
    before its events (and its tracking position) reach the store.

    Writes `marker` first, so the test knows the reward was decided and the
    process died at that point, not earlier.
    """
    import os
    import signal
    from pathlib import Path

    from referral_ledger.aggregates.referral import ReferralRewarded

    with Ledger.open(url, react_inline=False) as ledger:
        events = ledger._store.app.events
        put = events.put

        def put_or_die(new: Any, **kwargs: Any) -> Any:
            if any(isinstance(event, ReferralRewarded) for event in new):
                Path(marker).write_text("decided a reward; dying before saving it")
                os.kill(os.getpid(), signal.SIGKILL)
            return put(new, **kwargs)

        events.put = put_or_die  # type: ignore[method-assign,assignment]
        ledger.process_reactions()


def submit_same_lead(
    url: str,
    referrer_id: UUID,
    spellings: list[str],
    worker: int,
    barrier: Barrier,
    results: ResultQueue,
) -> None:
    """Submit the lead's phone (this worker's spelling of it) together with the others.

    Reports the referral id, or "duplicate" when refused with `DuplicatePhone`.
    """
    from referral_ledger import DuplicatePhone

    def work(ledger: Ledger) -> dict[str, Any]:
        barrier.wait(BARRIER_TIMEOUT)
        try:
            rid = ledger.submit_referral(referrer_id, "Trần Thị Bình", spellings[worker], "retail")
        except DuplicatePhone:
            return {"submitted": "duplicate"}
        return {"submitted": rid}

    _run(work, url, worker, barrier, results)


# --- read models (tests/test_views_crash.py) -----------------------------------------


class Flag(Protocol):
    def set(self) -> None: ...


class AckQueue(Protocol):
    def put(self, obj: Any) -> None: ...
    def get(self, block: bool = True, timeout: float | None = None) -> Any: ...


def catch_up_views_slowly(url: str, batch_size: int, started: Flag) -> None:
    """Fold the views' backlog in small batches, until killed (or done).

    Each batch is followed by a short pause, so the backlog takes seconds
    however fast folding gets, and a kill soon after the first batch lands
    mid-way (between batches or inside one).
    """

    def progress(position: int, stop: int) -> None:
        started.set()
        time.sleep(0.002)

    with Ledger.open(url) as ledger:
        ledger._views.catch_up(batch_size=batch_size, progress=progress)


def submit_leads_and_acknowledge(
    url: str,
    referrer_id: UUID,
    first_phone: int,
    count: int,
    acknowledged: AckQueue,
    worker: int,
    barrier: Barrier,
    results: ResultQueue,
) -> None:
    """Submit `count` leads; put each referral id on `acknowledged` once the call returned."""

    def work(ledger: Ledger) -> dict[str, Any]:
        barrier.wait(timeout=BARRIER_TIMEOUT)
        ids = []
        for n in range(count):
            rid = ledger.submit_referral(
                referrer_id, f"Lead {worker}-{n}", f"09{first_phone + n:08d}", industry="retail"
            )
            acknowledged.put(rid)
            ids.append(rid)
        acknowledged.put(None)  # this writer is done
        return {"acknowledged": ids}

    _run(work, url, worker, barrier, results)


def read_leads_checking_acknowledged(
    url: str,
    writers: int,
    acknowledged: AckQueue,
    worker: int,
    barrier: Barrier,
    results: ResultQueue,
) -> None:
    """Query the lead table in a loop; before each query take every id acknowledged
    so far, and report any of them the query's answer lacks."""

    def work(ledger: Ledger) -> dict[str, Any]:
        barrier.wait(timeout=BARRIER_TIMEOUT)
        seen: set[UUID] = set()
        missing: list[str] = []
        done = queries = 0
        while True:
            while True:  # everything acknowledged before this query starts
                try:
                    item = acknowledged.get(timeout=0.001 if done < writers else 1.0)
                except Exception:  # queue.Empty
                    break
                if item is None:
                    done += 1
                else:
                    seen.add(item)
            answer = {row.referral_id for row in ledger.lead_table(limit=1000)}
            queries += 1
            missing += [str(rid) for rid in seen - answer]
            if done == writers:
                break
        return {"queries": queries, "checked": len(seen), "missing": missing}

    _run(work, url, worker, barrier, results)
