"""The first query after a burst of commands (`--scenarios burst`).

A host records 10,000 purchases from 16 threads sharing one `Ledger`, over
1,000 customers, then asks its first question of the views (the customer
directory). Every query catches the views up from the log before it answers
(read-your-writes), so that first query pays for folding whatever the burst
recorded and the views have not folded yet.

Measured in one run, each mode on a store of its own:

- ``background_views=False`` (the baseline: views folded only by queries);
- ``background_views=True`` (a thread of the ledger folds behind the commits).

For each: the burst's commands/s, the events still unfolded when the last
command returned, and the first query's time with its catch-up part (timed
around `ViewStore.catch_up`, which every query calls first) and the events
it folded. The target: the catch-up ≤ 200 ms.

Run alone, it tries other pauses of the background thread
(`background.PAUSE`) on one store, one burst each::

    .venv/bin/python bench/burst.py --store sqlite --commands 5000 --pauses off,0.05,0.2
    .venv/bin/python bench/burst.py --store sqlite --imports 30000 --pauses on,off

(`--imports`: an import of that many purchases instead of the burst, "on"
or any number for the background catch-up on.)
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from threads import _in_threads

from referral_ledger import Ledger, LoyaltyProgram

START = datetime(2026, 6, 1, tzinfo=UTC)
PROGRAM = LoyaltyProgram(money_per_point=Decimal(1000), point_value=Decimal(100))
THREADS = 16
CUSTOMERS = 1_000
TARGET_MS = 200.0


def _register(ledger: Ledger, count: int, prefix: str) -> list[UUID]:
    """`count` customers, registered from THREADS threads (phones distinct per store)."""
    ids: list[UUID | None] = [None] * count

    def work(index: int) -> None:
        for n in range(index, count, THREADS):
            ids[n] = ledger.register_customer(f"Khách {prefix} {n}", [f"093{n:07d}"])

    _run_threads(work)
    return [i for i in ids if i is not None]


def _run_threads(work: Callable[[int], None]) -> float:
    """`work(index)` in THREADS threads started together; seconds to the last end."""

    def together(index: int, barrier: threading.Barrier) -> None:
        barrier.wait(300)
        work(index)

    return _in_threads(THREADS, together)


class _TimedCatchUp:
    """Wraps a ledger's `ViewStore.catch_up`: the time and events of each call
    made by this thread (not the background catch-up's)."""

    def __init__(self, ledger: Ledger) -> None:
        self.views = ledger._views
        self.inner = self.views.catch_up
        self.thread = threading.get_ident()
        self.calls: list[tuple[float, int]] = []
        self.views.catch_up = self  # type: ignore[method-assign]

    def __call__(self, *args: Any, **kwargs: Any) -> int:
        started = time.perf_counter()
        folded = self.inner(*args, **kwargs)
        if threading.get_ident() == self.thread:
            self.calls.append((time.perf_counter() - started, folded))
        return folded


def burst(url: str, commands: int, background: bool) -> dict[str, Any]:
    """Record `commands` purchases from 16 threads, then time the first query."""
    with Ledger.open(url, background_views=background) as ledger:
        ledger.configure_loyalty(PROGRAM)
        customers = _register(ledger, CUSTOMERS, "B")
        ledger.count_customers()  # the registrations folded: the burst starts level
        store = ledger._store
        per_thread = commands // THREADS

        def work(index: int) -> None:
            for n in range(per_thread):
                customer = customers[(index + n * THREADS) % len(customers)]
                ledger.record_purchase(customer, f"P-{index}-{n}", 150_000, at=START)

        seconds = _run_threads(work)
        head = store.last_position()
        unfolded = head - ledger._views.position
        timer = _TimedCatchUp(ledger)
        started = time.perf_counter()
        rows = ledger.customers(sort_by="name", limit=20)
        query = time.perf_counter() - started
        catch_up_s, folded = timer.calls[0]
        assert len(rows) == 20
        # The second query: nothing left to fold (its cost without the catch-up).
        started = time.perf_counter()
        ledger.customers(sort_by="name", limit=20)
        second = time.perf_counter() - started
    done = per_thread * THREADS
    return {
        "background_views": background,
        "commands": done,
        "threads": THREADS,
        "customers": CUSTOMERS,
        "commands_per_s": round(done / seconds, 1),
        "log_events": head,
        "unfolded_at_end_of_burst": unfolded,
        "first_query_ms": round(query * 1000, 1),
        "first_query_catch_up_ms": round(catch_up_s * 1000, 1),
        "first_query_events_folded": folded,
        "second_query_ms": round(second * 1000, 1),
    }


def scenario_burst(url_for: Callable[[str], str], commands: int) -> dict[str, Any]:
    """The burst without and with the background catch-up, each on a store of its own."""
    off = burst(url_for("burst_off"), commands, background=False)
    on = burst(url_for("burst_on"), commands, background=True)
    return {
        "background_off": off,
        "background_on": on,
        "target_catch_up_ms": TARGET_MS,
        "met": on["first_query_catch_up_ms"] <= TARGET_MS,
    }


def report_burst(store: str, results: dict[str, Any]) -> None:
    """Print the figures of `scenario_burst` for one store."""
    print(f"\n[{store}] the first query after a burst of commands (16 threads)")
    for key in ("background_off", "background_on"):
        r = results[key]
        print(
            f"  background_views={r['background_views']}: {r['commands']} commands at "
            f"{r['commands_per_s']}/s, {r['unfolded_at_end_of_burst']} events unfolded at the "
            f"end; first query {r['first_query_ms']} ms, of it catch-up "
            f"{r['first_query_catch_up_ms']} ms ({r['first_query_events_folded']} events); "
            f"second query {r['second_query_ms']} ms"
        )
    print(f"  target: catch-up <= {results['target_catch_up_ms']} ms: met={results['met']}")


def imported(url: str, purchases: int, background: bool) -> dict[str, Any]:
    """import_purchases of `purchases` over purchases/10 customers, then the first query."""
    import run

    with Ledger.open(url, background_views=background) as ledger:
        ledger.configure_loyalty(PROGRAM)
        ids = run.register_customers(ledger, purchases // 10)
        ledger.count_customers()
        started = time.perf_counter()
        ledger.import_purchases(run.purchase_rows(ids, purchases, "I"))
        seconds = time.perf_counter() - started
        started = time.perf_counter()
        ledger.count_customers()
        query = time.perf_counter() - started
    return {
        "background_views": background,
        "import_per_s": round(purchases / seconds),
        "first_query_ms": round(query * 1000, 1),
    }


def main(argv: list[str] | None = None) -> None:
    """`--pauses`: one burst per value, "off" for `background_views=False`;
    `--imports N`: an import of N purchases instead of a burst, per value."""
    from run import DEFAULT_PG, Places

    from referral_ledger.projections import background

    parser = argparse.ArgumentParser(description="the burst with other background pauses")
    parser.add_argument("--store", default="sqlite", help="sqlite or postgres")
    parser.add_argument("--commands", type=int, default=10_000)
    parser.add_argument("--pauses", default="off,0.2", help='seconds, or "off"')
    parser.add_argument("--imports", type=int, help="import this many purchases instead")
    parser.add_argument("--pg", default=DEFAULT_PG)
    args = parser.parse_args(argv)
    places = Places(args.pg)
    try:
        for n, pause in enumerate(args.pauses.split(",")):
            if pause not in ("off", "on"):
                background.PAUSE = float(pause)  # type: ignore[misc]
            url = places.url(args.store, f"pause{n}")
            on = pause != "off"
            if args.imports:
                result = imported(url, args.imports, background=on)
            else:
                result = burst(url, args.commands, background=on)
            print(pause, json.dumps(result), flush=True)
    finally:
        places.close()


if __name__ == "__main__":
    main()
