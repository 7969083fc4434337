"""Scenario 6, ``directory``: ``customers(search=...)`` over N customers.

Imported by ``bench/run.py`` (``--scenarios directory``); the sizes there are
purchase counts, and this scenario takes them as customer counts as they are:
``--scenarios directory --sizes 100000`` is 100,000 customers.

The customers are written as ``CustomerRegistered`` events in unit-of-work
batches (no phone-index records: the scenario measures the search, not
``register_customer``), with Vietnamese names, phones, emails, groups, tags
and staff. The search terms are what a shop types: a whole name, a name
without accents, a phone in its national spelling, part of a phone, an
email, and a common surname (the worst case: a third of the customers match).
"""

from __future__ import annotations

import json
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from referral_ledger import Ledger
from referral_ledger.aggregates import customer_record as customers
from referral_ledger.policies.customer_fields import CustomerDetails
from referral_ledger.projections.directory import CustomerRow
from referral_ledger.projections.folding import fold
from referral_ledger.projections.rows import customer_params
from referral_ledger.store import UnitOfWork

SURNAMES = ("Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Đặng", "Bùi", "Võ", "Đỗ", "Ngô")
MIDDLE = ("Văn", "Thị", "Minh", "Hữu", "Đức", "Ngọc")
GIVEN = ("An", "Bình", "Cường", "Dũng", "Hạnh", "Lan", "Phương", "Quân", "Thảo", "Yến")
GROUPS = ("retail", "wholesale", "shop")
T0 = datetime(2025, 1, 1, tzinfo=UTC)
ROUNDS = 40


def name_of(n: int) -> str:
    return f"{SURNAMES[n % 10]} {MIDDLE[(n // 10) % 6]} {GIVEN[(n // 60) % 10]} {n}"


def terms(size: int) -> dict[str, str]:
    """The searches, by what they stand for; each finds customers of `size`."""
    n = size // 2 + 7
    digits = f"{n:07d}"
    return {
        "whole name": name_of(n),
        # Without the number: one customer in 600 has this name.
        "name, no accents": fold(name_of(n)).rsplit(" ", 1)[0],
        "phone, national": f"090 {digits[:3]} {digits[3:]}",
        "phone, part": digits[1:],
        "email": f"khach{n}@",
        "common surname": "nguyen",
    }


def register(ledger: Ledger, start: int, stop: int, batch: int = 1000) -> None:
    store = ledger._store
    for first in range(start, stop, batch):

        def decide(unit: UnitOfWork, first: int = first) -> None:
            for n in range(first, min(first + batch, stop)):
                customer_id = uuid.uuid4()
                details = details_of(n)
                unit.new(customer_id, customers.evolve_customer)
                unit.record(
                    customers.register(customer_id, details, unit.now, at=T0 + timedelta(seconds=n))
                )

        store.run(decide)


def details_of(n: int) -> CustomerDetails:
    return CustomerDetails(
        name=name_of(n),
        phones=(f"+8490{n:07d}",),
        email=f"khach{n}@example.vn",
        group=GROUPS[n % 3],
        tags=frozenset({"vip"}) if n % 7 == 0 else frozenset(),
        assigned_staff=f"nv-{n % 20:02d}",
    )


def write_rows(ledger: Ledger, start: int, stop: int, batch: int = 10_000) -> None:
    """The bulk path: the directory's rows written straight into its table,
    as the fold would write them for the customers `register` records (same
    `CustomerRow`, same columns and search text), with no events behind them.
    For sizes where recording a million registrations would take most of an
    hour; the search reads the table and its indexes only."""
    sql = ledger._views.sql
    for first in range(start, stop, batch):
        rows = []
        for n in range(first, min(first + batch, stop)):
            d = details_of(n)
            rows.append(
                customer_params(
                    CustomerRow(
                        customer_id=uuid.UUID(int=n + 1),
                        name=d.name,
                        phones=d.phones,
                        email=d.email,
                        group=d.group,
                        tags=d.tags,
                        level=None,
                        source=None,
                        assigned_staff=d.assigned_staff,
                        purchase_count=0,
                        balance=0,
                        registered_at=T0 + timedelta(seconds=n),
                    )
                )
            )
        with sql.transaction(commit=True) as cursor:
            sql.write_customers(cursor, rows)
    sql.refresh_statistics()


def scenario_directory(
    url: Callable[[str], str], sizes: list[int], *, bulk: bool = False
) -> list[dict[str, Any]]:
    """p50/p99 of `customers(search=...)` per size; `url(name)` is a new store's URL;
    `bulk`: the rows are written by `write_rows`, not registered."""
    ledger = Ledger.open(url("directory"))
    results = []
    registered = 0
    for size in sizes:
        start = time.perf_counter()
        (write_rows if bulk else register)(ledger, registered, size)
        ledger.catch_up_projections()
        load_s = time.perf_counter() - start
        registered = size
        results.append({"customers": size, "bulk_rows": bulk, "load_and_project_s": load_s})
        results[-1].update(measure(ledger, size))
    ledger.close()
    return results


def measure(ledger: Ledger, size: int) -> dict[str, Any]:
    """`ROUNDS` rounds of the searches over a directory of `size` customers."""
    searches = terms(size)
    times: dict[str, list[float]] = {label: [] for label in searches}
    found: dict[str, int] = {}
    for _ in range(ROUNDS):
        for label, term in searches.items():
            start = time.perf_counter()
            rows = ledger.customers(search=term, limit=50)
            times[label].append(time.perf_counter() - start)
            found[label] = len(rows)
    every = sorted(t for ts in times.values() for t in ts)
    return {
        "p50_ms": statistics.median(every) * 1000,
        "p99_ms": every[min(len(every) - 1, int(len(every) * 0.99))] * 1000,
        "per_term_p50_ms": {k: statistics.median(v) * 1000 for k, v in times.items()},
        "terms": searches,
        "rows_found": found,
    }


def main() -> None:
    """Search a directory built before (by `write_rows` or `register`) again:
    ``python bench/directory.py URL SIZE [--build]`` (``--build``: write its
    rows first). Prints the figures as JSON."""
    url, size = sys.argv[1], int(sys.argv[2])
    with Ledger.open(url) as ledger:
        if "--build" in sys.argv:
            write_rows(ledger, 0, size)
        figures = {"customers": size, "url": url.split("?")[0], **measure(ledger, size)}
    print(json.dumps(figures, indent=1))


def report_rows(results: list[dict[str, Any]]) -> tuple[list[str], list[list[object]]]:
    header = ["customers", "load+project s", "p50 ms", "p99 ms", "slowest term", "its p50 ms"]
    rows: list[list[object]] = []
    for b in results:
        slowest = max(b["per_term_p50_ms"], key=b["per_term_p50_ms"].get)
        rows.append(
            [
                b["customers"],
                b["load_and_project_s"],
                b["p50_ms"],
                b["p99_ms"],
                slowest,
                b["per_term_p50_ms"][slowest],
            ]
        )
    return header, rows


if __name__ == "__main__":
    main()
