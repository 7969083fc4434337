"""`import_purchases(..., workers=N)`: one import by 1 and by 2 processes, vs the raw floor.

    .venv/bin/python bench/run.py --scenarios workers --sizes 30000 --store sqlite,postgres

Scenario 11 of bench/run.py (in `make bench`): N purchases over N/10
customers into a fresh store per run, `workers=1` and `workers=2` in turn
(the order swapped each round, so noise hits both), the whole call timed
(spawning the workers and their opening the store included). The raw floor
is scenario 2's: the very rows the workers=1 import stored, written with
`executemany` (SQLite) or `COPY` (PostgreSQL) in transactions of one batch's
rows. Each figure carries the load average when it was taken: the machine
is shared.
"""

from __future__ import annotations

import os
import resource
import statistics
import time
from collections.abc import Callable
from typing import Any

from run import PROGRAM, Places, purchase_rows, raw_floor, register_customers

from referral_ledger import Ledger

WORKER_COUNTS = (1, 2)


Opener = Callable[[str], Ledger]


def _import_once(opener: Opener, url: str, size: int, workers: int) -> Any:
    """A fresh ledger, its customers, then the timed import: (ledger, rate, first
    position, load average before the import)."""
    ledger = opener(url)
    ledger.configure_loyalty(PROGRAM)
    customer_ids = register_customers(ledger, max(1, size // 10))
    first = ledger.event_count()
    load = os.getloadavg()[0]
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = time.process_time()
    start = time.perf_counter()
    report = ledger.import_purchases(purchase_rows(customer_ids, size, "W"), workers=workers)
    took = time.perf_counter() - start
    parent_cpu = time.process_time() - cpu
    done = resource.getrusage(resource.RUSAGE_CHILDREN)  # the workers, joined by now
    workers_cpu = done.ru_utime + done.ru_stime - children.ru_utime - children.ru_stime
    assert report.recorded == size and not report.rejected, report
    cpu_us = {"parent": 1e6 * parent_cpu / size, "workers": max(0.0, 1e6 * workers_cpu / size)}
    return ledger, size / took, first, load, cpu_us


def scenario_import_workers(
    places: Places, store: str, size: int, rounds: int, opener: Opener
) -> dict[str, Any]:
    """`rounds` imports of `size` purchases with each worker count, and the raw floor."""
    rates: dict[int, list[float]] = {n: [] for n in WORKER_COUNTS}
    loads: dict[int, list[float]] = {n: [] for n in WORKER_COUNTS}
    cpu: dict[int, list[dict[str, float]]] = {n: [] for n in WORKER_COUNTS}
    reference: tuple[Ledger, int] | None = None
    for r in range(rounds):
        for workers in WORKER_COUNTS if r % 2 == 0 else WORKER_COUNTS[::-1]:
            ledger, rate, first, load, cpu_us = _import_once(
                opener, places.url(store, f"w{workers}r{r}"), size, workers
            )
            rates[workers].append(rate)
            loads[workers].append(load)
            cpu[workers].append(cpu_us)
            if workers == 1 and reference is None:
                reference = (ledger, first)
            else:
                ledger.close()
    assert reference is not None
    ledger, first = reference
    events = ledger.event_count() - first
    load = os.getloadavg()[0]
    floor = statistics.median(raw_floor(places, store, ledger, first, events, rounds, size))
    ledger.close()
    result: dict[str, Any] = {
        "purchases": size,
        "customers": max(1, size // 10),
        "rounds": rounds,
        "raw_floor_purchases_per_s": floor,
        "raw_floor_load_average": load,
    }
    for workers in WORKER_COUNTS:
        rate = statistics.median(rates[workers])
        result[f"workers_{workers}"] = {
            "purchases_per_s": rate,
            "rounds_per_s": rates[workers],
            "ratio_vs_raw_floor": rate / floor,
            "load_average_1min": loads[workers],
            # CPU per purchase: this process (reading and sharing out the rows,
            # or with workers=1 everything) and the workers together.
            "cpu_us_per_purchase_parent": statistics.median(c["parent"] for c in cpu[workers]),
            "cpu_us_per_purchase_workers": statistics.median(c["workers"] for c in cpu[workers]),
        }
    result["speedup_2_vs_1"] = (
        result["workers_2"]["purchases_per_s"] / result["workers_1"]["purchases_per_s"]
    )
    return result


def report_import_workers(store: str, result: dict[str, Any], table: Any) -> None:
    table(
        f"[{store}] 11. import_purchases(workers=N), {result['purchases']:,} purchases over "
        f"{result['customers']:,} customers (medians of {result['rounds']} rounds)",
        [
            "workers",
            "ours/s",
            "raw floor/s",
            "ratio",
            "CPU us/purchase parent+workers",
            "load (1 min) at each round",
        ],
        [
            [
                n,
                result[f"workers_{n}"]["purchases_per_s"],
                result["raw_floor_purchases_per_s"],
                result[f"workers_{n}"]["ratio_vs_raw_floor"],
                "{:.0f} + {:.0f}".format(
                    result[f"workers_{n}"]["cpu_us_per_purchase_parent"],
                    result[f"workers_{n}"]["cpu_us_per_purchase_workers"],
                ),
                " ".join(f"{x:.1f}" for x in result[f"workers_{n}"]["load_average_1min"]),
            ]
            for n in WORKER_COUNTS
        ],
    )
