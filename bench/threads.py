"""Many host threads at once (`--scenarios threads`): group commit (store/group.py).

A host web app shares one `Ledger` among its request threads. Scenarios, each
with its baseline measured in the same run:

- ``earn16``: `record_purchase` from 16 threads sharing one Ledger, each on
  customers of its own, vs a bare eventsourcing `Application` saved from 16
  threads (one event per `save`, the aggregates its own); also 1 thread, and
  the ledger with `group_commit=False`.
- ``mixed16``: earn, redeem, return, submit a referral and query a balance,
  from 16 threads: throughput and p50/p99 latency per call.
- ``hot16``: 16 threads recording purchases of ONE customer: conflicts surfaced
  to the caller (`ConcurrencyConflict`), with group commit on and off.
- ``procs4x4``: 4 processes x 4 threads, each thread on customers of its own,
  vs 1 process x 16 threads on the same store.

The clock starts when every thread (and process) is ready at a barrier.
"""

from __future__ import annotations

import multiprocessing
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event

from referral_ledger import ConcurrencyConflict, Ledger, LedgerError, LoyaltyProgram

START = datetime(2026, 6, 1, tzinfo=UTC)
PROGRAM = LoyaltyProgram(money_per_point=Decimal(1000), point_value=Decimal(100))
THREADS = 16


class Tally(Aggregate):
    """The baseline aggregate: one @event method, eventsourcing's defaults."""

    def __init__(self) -> None:
        self.points = 0

    @event("Earned")
    def earn(self, points: int) -> None:
        self.points += points


def _in_threads(count: int, work: Callable[[int, threading.Barrier], None]) -> float:
    """Run `work(index, barrier)` in `count` threads; seconds from the barrier to the last end."""
    barrier = threading.Barrier(count + 1)
    errors: list[BaseException] = []

    def run(index: int) -> None:
        try:
            work(index, barrier)
        except BaseException as error:
            errors.append(error)
            barrier.abort()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    barrier.wait(300)
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return time.perf_counter() - started


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _ledger(url: str, **options: Any) -> Ledger:
    ledger = Ledger.open(url, **options)
    ledger.configure_loyalty(PROGRAM)
    return ledger


#: Customers registered so far in this process: their phones differ by it.
_REGISTERED = [0]


def _customers(ledger: Ledger, count: int, prefix: str, base: int = 0) -> list[UUID]:
    """`count` new customers; `base` keeps phones apart between processes on one store."""
    first = base + _REGISTERED[0]
    _REGISTERED[0] += count
    return [
        ledger.register_customer(f"Khách {prefix} {n}", [f"091{first + n:07d}"])
        for n in range(count)
    ]


def bare(app: Application[UUID], threads: int, per_thread: int) -> float:
    """Saves/s of one-event saves from `threads` threads, each on its own aggregates."""
    tallies = [Tally() for _ in range(threads)]
    app.save(*tallies)

    def work(index: int, barrier: threading.Barrier) -> None:
        tally = tallies[index]
        barrier.wait(300)
        for _ in range(per_thread):
            tally.earn(1)
            app.save(tally)

    return threads * per_thread / _in_threads(threads, work)


def earn(ledger: Ledger, threads: int, per_thread: int, prefix: str) -> dict[str, Any]:
    """record_purchase/s from `threads` threads, each on a customer of its own."""
    customers = _customers(ledger, threads, prefix)
    store = ledger._store
    commits = store.stats.commits

    def work(index: int, barrier: threading.Barrier) -> None:
        customer = customers[index]
        barrier.wait(300)
        for n in range(per_thread):
            ledger.record_purchase(customer, f"{prefix}-{index}-{n}", 5000, at=START)

    seconds = _in_threads(threads, work)
    operations = threads * per_thread
    return {
        "threads": threads,
        "per_s": round(operations / seconds, 1),
        "commits": store.stats.commits - commits,
        "operations": operations,
    }


def hot(ledger: Ledger, threads: int, per_thread: int, prefix: str) -> dict[str, Any]:
    """16 threads on one customer: conflicts surfaced and retried, purchases/s."""
    (customer,) = _customers(ledger, 1, prefix)
    store = ledger._store
    retried = store.stats.conflicts_retried
    surfaced: list[int] = []

    def work(index: int, barrier: threading.Barrier) -> None:
        barrier.wait(300)
        for n in range(per_thread):
            try:
                ledger.record_purchase(customer, f"{prefix}-{index}-{n}", 5000, at=START)
            except ConcurrencyConflict:
                surfaced.append(1)

    seconds = _in_threads(threads, work)
    return {
        "threads": threads,
        "per_s": round(threads * per_thread / seconds, 1),
        "surfaced": len(surfaced),
        "retried": store.stats.conflicts_retried - retried,
        "operations": threads * per_thread,
    }


def mixed(ledger: Ledger, threads: int, per_thread: int, prefix: str) -> dict[str, Any]:
    """Earn, redeem, return, refer and query from `threads` threads: calls/s, p50/p99 (ms)."""
    customers = _customers(ledger, threads, prefix)
    latencies: dict[str, list[float]] = {}
    lock = threading.Lock()

    def work(index: int, barrier: threading.Barrier) -> None:
        customer = customers[index]
        mine: dict[str, list[float]] = {}
        barrier.wait(300)
        for n in range(per_thread):
            kind = ("earn", "redeem", "return", "refer", "query")[n % 5]
            started = time.perf_counter()
            try:
                if kind == "earn":
                    ledger.record_purchase(customer, f"{prefix}-{index}-{n}", 50_000, at=START)
                elif kind == "redeem":
                    ledger.redeem_points(customer, 5, f"R-{prefix}-{index}-{n}", at=START)
                elif kind == "return":
                    ledger.return_purchase(customer, f"{prefix}-{index}-{n - 2}", 10_000, at=START)
                elif kind == "refer":
                    phone = f"097{index:02d}{n:05d}"
                    ledger.submit_referral(customer, f"Lead {index} {n}", phone, "retail")
                else:
                    ledger.balance(customer)
            except LedgerError:
                pass  # a refusal is an answer too
            mine.setdefault(kind, []).append(time.perf_counter() - started)
        with lock:
            for kind, values in mine.items():
                latencies.setdefault(kind, []).extend(values)

    seconds = _in_threads(threads, work)
    every = [v for values in latencies.values() for v in values]
    return {
        "threads": threads,
        "per_s": round(len(every) / seconds, 1),
        "p50_ms": round(_percentile(every, 0.5) * 1000, 2),
        "p99_ms": round(_percentile(every, 0.99) * 1000, 2),
        "by_call_p50_ms": {
            k: round(_percentile(v, 0.5) * 1000, 2) for k, v in sorted(latencies.items())
        },
        "operations": len(every),
    }


def _process(url: str, index: int, threads: int, per_thread: int, barrier: Any, out: Any) -> None:
    try:
        with Ledger.open(url) as ledger:
            prefix = f"P{index}"
            customers = _customers(ledger, threads, prefix, base=(index + 1) * 1_000_000)
            inner = threading.Barrier(threads + 1)

            def work(i: int) -> None:
                inner.wait(300)
                for n in range(per_thread):
                    ledger.record_purchase(customers[i], f"{prefix}-{i}-{n}", 5000, at=START)

            pool = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
            for thread in pool:
                thread.start()
            barrier.wait(300)
            inner.wait(300)
            started = time.perf_counter()
            for thread in pool:
                thread.join()
            out.put(
                {
                    "elapsed": time.perf_counter() - started,
                    "retried": ledger._store.stats.conflicts_retried,
                    "commits": ledger._store.stats.commits,
                }
            )
    except BaseException as error:
        barrier.abort()
        out.put({"error": repr(error)})


def processes(url: str, count: int, threads: int, per_thread: int) -> dict[str, Any]:
    """record_purchase/s from `count` processes x `threads` threads, customers their own."""
    with _ledger(url):
        pass
    context = multiprocessing.get_context("spawn")
    barrier, out = context.Barrier(count), context.Queue()
    workers = [
        context.Process(target=_process, args=(url, i, threads, per_thread, barrier, out))
        for i in range(count)
    ]
    for worker in workers:
        worker.start()
    reports = [out.get(timeout=600) for _ in workers]
    for worker in workers:
        worker.join()
    errors = [r["error"] for r in reports if "error" in r]
    if errors:
        raise RuntimeError(errors[0])
    seconds = max(r["elapsed"] for r in reports)
    return {
        "processes": count,
        "threads": threads,
        "per_s": round(count * threads * per_thread / seconds, 1),
        "retried": sum(r["retried"] for r in reports),
        "operations": count * threads * per_thread,
    }


def scenario_threads(
    url_for: Callable[[str], str],
    bare_for: Callable[[str], Application[UUID]],
    per_thread: int,
) -> dict[str, Any]:
    """Every scenario of this module on one kind of store (see the module doc)."""
    results: dict[str, Any] = {}
    one = THREADS * per_thread
    bare1 = bare(bare_for("bare1"), 1, one)
    bare16 = bare(bare_for("bare16"), THREADS, per_thread)
    with _ledger(url_for("earn")) as ledger:
        single = earn(ledger, 1, one, "one")
        grouped = earn(ledger, THREADS, per_thread, "many")
    with _ledger(url_for("alone"), group_commit=False) as ledger:
        alone = earn(ledger, THREADS, per_thread, "alone")
    results["earn16"] = {
        "bare_1_thread_per_s": round(bare1, 1),
        "bare_16_threads_per_s": round(bare16, 1),
        "ledger_1_thread": single,
        "ledger_16_threads": grouped,
        "ledger_16_threads_group_commit_off": alone,
        "ratio_vs_bare_16": round(grouped["per_s"] / bare16, 2),
        "target_ratio": 5.0,
    }
    with _ledger(url_for("mixed")) as ledger:
        results["mixed16"] = mixed(ledger, THREADS, per_thread, "mixed")
    with _ledger(url_for("hot")) as ledger:
        on = hot(ledger, THREADS, per_thread, "hot")
    with _ledger(url_for("hotoff"), group_commit=False) as ledger:
        off = hot(ledger, THREADS, per_thread, "hotoff")
    results["hot16"] = {"group_commit": on, "group_commit_off": off}
    per = max(1, per_thread)
    results["procs4x4"] = {
        "4x4": processes(url_for("procs4"), 4, 4, per),
        "1x16": processes(url_for("procs1"), 1, 16, per),
    }
    return results


def report_threads(store: str, results: dict[str, Any]) -> None:
    """Print the figures of `scenario_threads` for one store."""
    earn16 = results["earn16"]
    print(f"\n[{store}] many threads (group commit)")
    print(
        f"  bare eventsourcing: 1 thread {earn16['bare_1_thread_per_s']}/s, "
        f"16 threads {earn16['bare_16_threads_per_s']}/s"
    )
    print(
        f"  record_purchase: 1 thread {earn16['ledger_1_thread']['per_s']}/s, "
        f"16 threads {earn16['ledger_16_threads']['per_s']}/s "
        f"({earn16['ledger_16_threads']['commits']} transactions for "
        f"{earn16['ledger_16_threads']['operations']}), group commit off "
        f"{earn16['ledger_16_threads_group_commit_off']['per_s']}/s; "
        f"ratio vs bare 16 threads {earn16['ratio_vs_bare_16']} (target >= 5)"
    )
    m = results["mixed16"]
    print(f"  mixed, 16 threads: {m['per_s']}/s, p50 {m['p50_ms']} ms, p99 {m['p99_ms']} ms")
    h = results["hot16"]
    print(
        f"  one hot customer, 16 threads: surfaced {h['group_commit']['surfaced']} "
        f"({h['group_commit']['per_s']}/s); group commit off: surfaced "
        f"{h['group_commit_off']['surfaced']} ({h['group_commit_off']['per_s']}/s)"
    )
    p = results["procs4x4"]
    print(
        f"  4 processes x 4 threads: {p['4x4']['per_s']}/s (retried {p['4x4']['retried']}); "
        f"1 x 16: {p['1x16']['per_s']}/s"
    )
