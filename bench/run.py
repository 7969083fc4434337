"""Benchmarks of referral-ledger against eventsourcing baselines measured in the same run.

Usage (from the repository root)::

    make bench                                   # every scenario, default sizes
    .venv/bin/python bench/run.py --quick        # small sizes, a minute or so
    .venv/bin/python bench/run.py --sizes 10000,100000 --store sqlite --scenarios bulk

Scenarios (docs/performance.md explains each figure and its baseline):

1. ``single``  record_purchase, one per transaction, vs a bare eventsourcing
   ``Aggregate`` with one ``@event`` method saved one event per ``save()``.
2. ``bulk``    import_purchases of N purchases over N/10 customers vs eventsourcing
   saving N bare events in 100-event saves, and vs raw ``executemany`` (SQLite) /
   ``COPY`` (PostgreSQL) of the very rows the import stored (the physical floor);
   each size runs in a fresh process, which reports its peak RSS.
3. ``replay``  rebuild_projections of the bulk store vs eventsourcing's
   ``repository.get`` of every bare aggregate of the bulk baseline (default JSON mapper).
4. ``balance`` balance() of one account with N/10 movements (snapshots) vs
   replaying all its events.
5. ``search``  lead_table(search=...) p50/p99 over N leads, accent-insensitive.
6. ``directory`` customers(search=...) p50/p99 over N customers: names, phones,
   emails (``bench/directory.py``; not run by default). ``--directory-bulk``
   writes the rows straight into the directory's table (for 1,000,000).
7. ``chain``   the hash chain's cost: record_purchase one per transaction and
   import_purchases of the smallest size, on a chained store and on one written
   as before the chain (``without_chain``), interleaved in the same run. Not run
   by default: ``--scenarios chain --json docs/performance-chain.json``.
8. ``campaigns`` (not by default) record_purchase from 2 and 8 processes inside one
   campaign (every purchase advances its budget record) vs the same outside its window,
   and checkout inside it.
9. ``lots`` (not by default) balance() and a redemption on one account that had
   1k/10k/100k lots (``--quick``: 100/1k), and process_due over ``--expire`` expired
   lots (``bench/lots.py``, which also runs alone).
10. ``threads`` many host threads at once (group commit, ``bench/threads.py``):
    record_purchase from 16 threads vs bare eventsourcing from 16 threads, a mixed
    workload's p50/p99, one hot customer's conflicts, 4 processes x 4 threads.
11. ``workers`` import_purchases(workers=1) and (workers=2) of the middle size's
    purchases (30,000 by default) vs the raw floor of the same rows
    (``bench/import_workers.py``).
12. ``burst`` the first query after 10,000 record_purchase from 16 threads: its
    catch-up of the views, with the background catch-up off (the baseline) and on
    (``bench/burst.py``).

Times are medians of rounds; ratios compare with the baseline of the same run.
Results go to docs/performance.json (``--json`` to change). PostgreSQL runs in
throwaway schemas of ``--pg`` (default postgresql://postgres@127.0.0.1:5432/test),
dropped afterwards.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import importlib.metadata
import itertools
import json
import os
import platform
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any
from uuid import UUID

import directory
from burst import report_burst, scenario_burst
from campaigns import scenario_campaigns
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event
from threads import report_threads, scenario_threads

from referral_ledger import Ledger, LoyaltyProgram
from referral_ledger.aggregates import customer_record as customers
from referral_ledger.aggregates import loyalty
from referral_ledger.aggregates import referral as referrals
from referral_ledger.aggregates.referral import Lead
from referral_ledger.persistence.application import without_chain
from referral_ledger.policies.customer_fields import CustomerDetails
from referral_ledger.store import (
    DEFAULT_CACHE_SIZE,
    EventLog,
    Store,
    UnitOfWork,
    ensure_postgres_schema,
    environment_for,
)
from referral_ledger.values import now as datetime_now

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/test"
DEFAULT_SIZES = (10_000, 30_000, 100_000)
QUICK_SIZES = (2_000, 5_000, 10_000)
PROGRAM = LoyaltyProgram(money_per_point=1000, point_value=100)
T0 = datetime(2025, 1, 1, tzinfo=UTC)

Row = dict[str, object]


# --- the eventsourcing baseline ---------------------------------------------------------


class BareAccount(Aggregate):
    """The baseline aggregate: one @event method, eventsourcing's defaults throughout."""

    def __init__(self) -> None:
        self.points = 0

    @event("Earned")
    def earn(self, points: int) -> None:
        self.points += points


def bare_app(store: str, where: str) -> Application[UUID]:
    """An eventsourcing Application with its default mapper on the same kind of store."""
    if store == "sqlite":
        env = {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": where}
    else:
        env = {
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "POSTGRES_DBNAME": "test",
            "POSTGRES_HOST": "127.0.0.1",
            "POSTGRES_PORT": "5432",
            "POSTGRES_USER": "postgres",
            "POSTGRES_PASSWORD": "",
            "POSTGRES_SCHEMA": where,
        }
        create_schema(where)
    return Application(env=env)


# --- stores ------------------------------------------------------------------------------


class Places:
    """Where a scenario's stores live: files in a temp dir, or PostgreSQL schemas."""

    def __init__(self, pg: str) -> None:
        self.pg = pg
        self.dir = Path(tempfile.mkdtemp(prefix="rl-bench-"))
        self.schemas: list[str] = []

    def url(self, store: str, name: str) -> str:
        if store == "sqlite":
            return f"sqlite:///{self.dir / (name + '.db')}"
        return f"{self.pg}?schema={self.schema(name)}"

    def schema(self, name: str) -> str:
        schema = f"bench_{name}_{uuid.uuid4().hex[:8]}"
        self.schemas.append(schema)
        return schema

    def bare(self, store: str, name: str) -> Application[UUID]:
        where = str(self.dir / (name + ".db")) if store == "sqlite" else self.schema(name)
        return bare_app(store, where)

    def close(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)
        for schema in self.schemas:
            drop_schema(schema, self.pg)


def pg_connect(pg: str = DEFAULT_PG) -> Any:
    import psycopg

    return psycopg.connect(pg, autocommit=True)


def create_schema(schema: str, pg: str = DEFAULT_PG) -> None:
    with pg_connect(pg) as conn:
        conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")


def drop_schema(schema: str, pg: str = DEFAULT_PG) -> None:
    with contextlib.suppress(Exception), pg_connect(pg) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


#: `--cache-size`: the state cache the import scenarios open their ledger with
#: (None: the library's default).
CACHE_SIZE: int | None = None


def open_ledger(url: str) -> Ledger:
    return Ledger.open(url) if CACHE_SIZE is None else Ledger.open(url, cache_size=CACHE_SIZE)


def store_of(ledger: Ledger) -> Store:
    return ledger._store


# --- data --------------------------------------------------------------------------------

SURNAMES = ("Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Đặng", "Bùi", "Võ", "Đỗ", "Ngô")
MIDDLE = ("Văn", "Thị", "Minh", "Hữu", "Đức", "Ngọc")
GIVEN = ("An", "Bình", "Cường", "Dũng", "Hạnh", "Lan", "Phương", "Quân", "Thảo", "Yến")


def register_customers(ledger: Ledger, count: int, batch: int = 1000) -> list[UUID]:
    """Customers written as CustomerRegistered events in unit-of-work batches.

    Faster than import_customers (no phone-index records): the bench needs
    customers that exist, not the duplicate-phone rules.
    """
    ids = [uuid.uuid4() for _ in range(count)]
    for start in range(0, count, batch):
        chunk = ids[start : start + batch]

        def decide(unit: UnitOfWork, chunk: list[UUID] = chunk, start: int = start) -> None:
            for n, customer_id in enumerate(chunk, start=start):
                details = CustomerDetails(name=f"Khách {n}", phones=(f"+8490{n:07d}",))
                unit.new(customer_id, customers.evolve_customer)
                unit.record(customers.register(customer_id, details, unit.now))

        store_of(ledger).run(decide)
    return ids


def purchase_rows(customer_ids: list[UUID], count: int, prefix: str) -> Iterator[Row]:
    """`count` purchases spread round-robin over the customers (streamed)."""
    n = len(customer_ids)
    for i in range(count):
        yield {
            "customer_id": customer_ids[i % n],
            "invoice_id": f"{prefix}-{i}",
            "amount": 150_000 + (i % 7) * 10_000,
            "at": T0 + timedelta(seconds=i),
        }


# --- helpers ------------------------------------------------------------------------------


def timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def median(values: list[float]) -> float:
    return statistics.median(values)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def table(title: str, header: list[str], rows: list[list[object]]) -> None:
    cells = [header] + [[format_cell(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    print(f"\n{title}")
    for n, row in enumerate(cells):
        print("  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)))
        if n == 0:
            print("  ".join("-" * w for w in widths))
    sys.stdout.flush()


def format_cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:,.2f}" if value < 100 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


# --- 1. single commands -------------------------------------------------------------------


def scenario_single(places: Places, store: str, rounds: int, per_round: int) -> dict[str, Any]:
    ledger = Ledger.open(places.url(store, "single"))
    ledger.configure_loyalty(PROGRAM)
    ids = register_customers(ledger, 100)
    app = places.bare(store, "single_bare")
    accounts = [BareAccount() for _ in range(per_round)]  # kept in memory: save only
    loaded = [BareAccount() for _ in range(per_round)]  # read back before each change
    app.save(*accounts, *loaded)
    ours: list[float] = []
    save_only: list[float] = []
    get_and_save: list[float] = []
    counter = itertools.count()

    def record() -> None:
        for _ in range(per_round):
            i = next(counter)
            ledger.record_purchase(ids[i % len(ids)], f"S-{i}", Decimal(150_000))

    def bare_save() -> None:
        for account in accounts:
            account.earn(15)
            app.save(account)

    def bare_get_save() -> None:
        for account_id in [a.id for a in loaded]:
            account: BareAccount = app.repository.get(account_id)
            account.earn(15)
            app.save(account)

    for _ in range(rounds):  # interleaved, so noise hits all three alike
        ours.append(per_round / timed(record))
        save_only.append(per_round / timed(bare_save))
        get_and_save.append(per_round / timed(bare_get_save))
    ledger.close()
    app.close()
    result = {
        "commands_per_round": per_round,
        "rounds": rounds,
        "record_purchase_per_s": median(ours),
        "bare_save_per_s": median(save_only),
        "bare_get_save_per_s": median(get_and_save),
    }
    result["ratio_vs_bare_save"] = result["record_purchase_per_s"] / result["bare_save_per_s"]
    result["ratio_vs_bare_get_save"] = (
        result["record_purchase_per_s"] / result["bare_get_save_per_s"]
    )
    return result


# --- 2 and 3. bulk import and replay (one fresh process per size) ---------------------------


def bulk_child(store: str, size: int, rounds: int, pg: str) -> dict[str, Any]:
    """Run in a fresh process: import, its baselines, then the replay scenario."""
    places = Places(pg)
    try:
        return _bulk(places, store, size, rounds)
    finally:
        places.close()


def _bulk(places: Places, store: str, size: int, rounds: int) -> dict[str, Any]:
    ledger = open_ledger(places.url(store, "bulk"))
    ledger.configure_loyalty(PROGRAM)
    customer_ids = register_customers(ledger, max(1, size // 10))
    first_position = ledger.event_count()
    part = size // rounds
    rss_before = peak_rss_mb()
    rates: list[float] = []
    for r in range(rounds):
        rows = purchase_rows(customer_ids, part, f"R{r}")
        report: Any = None

        def run(rows: Iterator[Row] = rows) -> None:
            nonlocal report
            report = ledger.import_purchases(rows)

        rates.append(part / timed(run))
        assert report is not None and report.recorded == part, report
    rss_after = peak_rss_mb()
    events = ledger.event_count() - first_position
    # Re-running is idempotent: every row a duplicate, nothing recorded.
    again = ledger.import_purchases(purchase_rows(customer_ids, part, "R0"))
    assert again.duplicates == part and ledger.event_count() - first_position == events

    # Baseline: eventsourcing saving the same number of bare events, 100 per save.
    app = places.bare(store, "bulk_bare")
    accounts = [BareAccount() for _ in range(len(customer_ids))]
    bare_rates: list[float] = []
    pending = list(accounts)  # their creation events are the first bare events

    def bare_round() -> None:
        nonlocal pending
        left = part
        while left:
            if not pending:
                for account in accounts:
                    account.earn(15)
                pending = list(accounts)
            batch, pending = pending[: min(100, left)], pending[min(100, left) :]
            app.save(*batch)
            left -= len(batch)

    for _ in range(rounds):
        bare_rates.append(part / timed(bare_round))

    floor_rates = raw_floor(places, store, ledger, first_position, events, rounds, part)

    # 3. Replay: rebuild the views of this store vs repository.get of every bare account.
    replay_rounds = 3 if size <= 50_000 else 1
    rebuild_rates: list[float] = []
    folded = 0
    for _ in range(replay_rounds):
        start = time.perf_counter()
        folded = ledger.rebuild_projections()
        rebuild_rates.append(folded / (time.perf_counter() - start))
    bare_events = sum(a.version for a in accounts)
    get_rates: list[float] = []
    for _ in range(replay_rounds):
        start = time.perf_counter()
        for account in accounts:
            app.repository.get(account.id)
        get_rates.append(bare_events / (time.perf_counter() - start))
    log_size = ledger.event_count()
    ledger.close()
    app.close()
    return {
        "purchases": size,
        "customers": len(customer_ids),
        "rounds": rounds,
        "events_written": events,
        "import_purchases_per_s": median(rates),
        "import_events_per_s": median(rates) * events / size,
        "bare_100_event_saves_purchases_per_s": median(bare_rates),
        "raw_floor_purchases_per_s": median(floor_rates),
        "ratio_vs_bare": median(rates) / median(bare_rates),
        "ratio_vs_raw_floor": median(rates) / median(floor_rates),
        "peak_rss_mb_before_import": rss_before,
        "peak_rss_mb_after_import": rss_after,
        "import_rss_growth_mb": rss_after - rss_before,
        "replay": {
            "log_events": log_size,
            "events_folded": folded,
            "rounds": replay_rounds,
            "rebuild_events_per_s": median(rebuild_rates),
            "bare_events_replayed": bare_events,
            "repository_get_events_per_s": median(get_rates),
            "ratio": median(rebuild_rates) / median(get_rates),
        },
    }


def raw_floor(
    places: Places, store: str, ledger: Ledger, after: int, events: int, rounds: int, part: int
) -> list[float]:
    """Purchases/s when the import's own stored rows are written with no Python logic."""
    per_purchase = events / (part * rounds)
    batch_rows = round(1000 * per_purchase)  # what one 1,000-row import batch stores
    rows = [
        (n.originator_id, n.originator_version, n.topic, n.state)
        for n in store_of(ledger).notifications(after, events)
    ][: int(part * per_purchase)]
    rates: list[float] = []
    for r in range(rounds):
        if store == "sqlite":
            rates.append(part / sqlite_floor(places.dir / f"floor{r}.db", rows, batch_rows))
        else:
            rates.append(part / postgres_floor(places.schema(f"floor{r}"), rows, batch_rows))
    return rates


def sqlite_floor(path: Path, rows: list[tuple[Any, ...]], batch: int) -> float:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")  # as eventsourcing does; synchronous as default
    conn.execute(
        "CREATE TABLE stored_events (originator_id TEXT, originator_version INTEGER, "
        "topic TEXT, state BLOB, PRIMARY KEY (originator_id, originator_version))"
    )
    params = [(i.hex, v, t, s) for i, v, t, s in rows]
    start = time.perf_counter()
    for n in range(0, len(params), batch):
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO stored_events VALUES (?,?,?,?)", params[n : n + batch])
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - start
    conn.close()
    return elapsed


def postgres_floor(schema: str, rows: list[tuple[Any, ...]], batch: int) -> float:
    with pg_connect() as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
        conn.execute(
            f"CREATE TABLE {schema}.events (originator_id uuid NOT NULL, "
            "originator_version bigint NOT NULL, topic text, state bytea, "
            "notification_id bigserial, PRIMARY KEY (originator_id, originator_version))"
        )
        conn.execute(f"CREATE UNIQUE INDEX ON {schema}.events (notification_id)")
        start = time.perf_counter()
        for n in range(0, len(rows), batch):
            with conn.transaction(), conn.cursor() as cursor:
                copy_sql = (
                    f"COPY {schema}.events (originator_id, originator_version, topic, state) "
                    "FROM STDIN"
                )
                with cursor.copy(copy_sql) as copy:
                    for row in rows[n : n + batch]:
                        copy.write_row(row)
        return time.perf_counter() - start


def scenario_bulk(store: str, sizes: list[int], rounds: int, pg: str) -> list[dict[str, Any]]:
    results = []
    for size in sizes:
        command = [sys.executable, __file__, "--child-bulk", store, str(size), str(rounds)]
        command += ["--pg", pg, *cache_size_args()]
        out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
        results.append(json.loads(out.strip().splitlines()[-1]))
    return results


def memory_child(store: str, size: int, pg: str) -> dict[str, Any]:
    """Run in a fresh process: import `size` purchases once, for its peak RSS."""
    places = Places(pg)
    try:
        ledger = open_ledger(places.url(store, "memory"))
        ledger.configure_loyalty(PROGRAM)
        customer_ids = register_customers(ledger, max(1, size // 10))
        rss_before = peak_rss_mb()
        report: Any = None

        def run() -> None:
            nonlocal report
            report = ledger.import_purchases(purchase_rows(customer_ids, size, "M"))

        rate = size / timed(run)
        assert report is not None and report.recorded == size, report
        rss_after = peak_rss_mb()
        ledger.close()
    finally:
        places.close()
    return {
        "purchases": size,
        "customers": len(customer_ids),
        "import_purchases_per_s": rate,
        "peak_rss_mb_before_import": rss_before,
        "peak_rss_mb_after_import": rss_after,
        "import_rss_growth_mb": rss_after - rss_before,
    }


def cache_size_args() -> list[str]:
    return [] if CACHE_SIZE is None else ["--cache-size", str(CACHE_SIZE)]


def scenario_memory(store: str, sizes: list[int], pg: str) -> list[dict[str, Any]]:
    """Peak RSS of one import per size, each in a process of its own (no baselines)."""
    results = []
    for size in sizes:
        command = [sys.executable, __file__, "--child-memory", store, str(size), "--pg", pg]
        command += cache_size_args()
        out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
        results.append(json.loads(out.strip().splitlines()[-1]))
    return results


# --- 4. balance of a long account ----------------------------------------------------------


def scenario_balance(places: Places, store: str, sizes: list[int]) -> list[dict[str, Any]]:
    """balance() as the importing process answers it (its state cache holds the
    account) and as a fresh process does (no cache: the latest snapshot and the
    events after it)."""
    url = places.url(store, "balance")
    ledger = Ledger.open(url)
    ledger.configure_loyalty(PROGRAM)
    (customer,) = register_customers(ledger, 1)
    account_id = loyalty.account_id(customer)
    results = []
    recorded = 0
    for size in sizes:
        report = ledger.import_purchases(purchase_rows([customer], size - recorded, f"H{recorded}"))
        assert not report.rejected, report.rejected[:3]
        recorded = size
        times = []
        for _ in range(200):
            start = time.perf_counter()
            ledger.balance(customer)
            times.append(time.perf_counter() - start)
        cold_times = []
        with Ledger.open(url, cache_size=0) as fresh:
            for _ in range(200):
                start = time.perf_counter()
                fresh.balance(customer)
                cold_times.append(time.perf_counter() - start)
        replay = []
        for _ in range(3):
            start = time.perf_counter()
            store_of(ledger).load_as_of(account_id, loyalty.evolve_account, T0.replace(year=2100))
            replay.append(time.perf_counter() - start)
        results.append(
            {
                "movements": size,
                "balance_p50_ms": median(times) * 1000,
                "balance_p99_ms": percentile(times, 0.99) * 1000,
                "balance_no_cache_p50_ms": median(cold_times) * 1000,
                "balance_no_cache_p99_ms": percentile(cold_times, 0.99) * 1000,
                "replay_all_events_ms": median(replay) * 1000,
                "ratio": median(replay) / median(times),
                "ratio_no_cache": median(replay) / median(cold_times),
            }
        )
    ledger.close()
    return results


# --- 5. lead search -------------------------------------------------------------------------


SEARCHES = ("nguyen", "dang", "tran van", "hạnh", "shop4242")


def scenario_search(places: Places, store: str, sizes: list[int]) -> list[dict[str, Any]]:
    ledger = Ledger.open(places.url(store, "leads"))
    results = []
    submitted = 0
    for size in sizes:
        start = time.perf_counter()
        submit_leads(ledger, submitted, size)
        ledger.catch_up_projections()
        load_s = time.perf_counter() - start
        submitted = size
        times: dict[str, list[float]] = {term: [] for term in SEARCHES}
        found: dict[str, int] = {}
        for _ in range(40):
            for term in SEARCHES:
                start = time.perf_counter()
                rows = ledger.lead_table(search=term, limit=50)
                times[term].append(time.perf_counter() - start)
                found[term] = len(rows)
        every = [t for ts in times.values() for t in ts]
        results.append(
            {
                "leads": size,
                "load_and_project_s": load_s,
                "p50_ms": median(every) * 1000,
                "p99_ms": percentile(every, 0.99) * 1000,
                "per_term_p50_ms": {t: median(ts) * 1000 for t, ts in times.items()},
                "rows_found": found,
            }
        )
    ledger.close()
    return results


def submit_leads(ledger: Ledger, start: int, stop: int) -> None:
    """Leads `start`..`stop` as ReferralSubmitted events in unit-of-work batches of 1,000.

    Direct units of work (no eligibility check, no phone-index record): the
    scenario measures the search, not submit_referral.
    """
    referrer = uuid.uuid4()
    for first in range(start, stop, 1000):

        def decide(unit: UnitOfWork, first: int = first) -> None:
            for n in range(first, min(first + 1000, stop)):
                name = f"{SURNAMES[n % 10]} {MIDDLE[(n // 10) % 6]} {GIVEN[(n // 60) % 10]} {n}"
                lead = Lead(
                    name=name,
                    phone=f"+8491{n:07d}",
                    industry="retail",
                    email=f"lead{n}@example.vn",
                    business_name=f"Cửa hàng {n}",
                    website=f"shop{n}.example.vn",
                )
                referral_id = uuid.uuid4()
                unit.new(referral_id, referrals.evolve)
                unit.record(
                    referrals.submit(
                        referral_id,
                        referrer_id=referrer,
                        lead=lead,
                        program="pos",
                        sales_assistance=False,
                        at=T0 + timedelta(seconds=n),
                        now=unit.now,
                    )
                )

        store_of(ledger).run(decide)


# --- 6. the hash chain's cost --------------------------------------------------------------


def open_unchained(url: str) -> Ledger:
    """A ledger writing as before the hash chain existed: the baseline of its cost."""
    env = without_chain(environment_for(url))
    ensure_postgres_schema(env)
    return Ledger(Store(EventLog(env=env), clock=datetime_now))


def scenario_chain(
    places: Places, store: str, rounds: int, per_round: int, size: int
) -> dict[str, Any]:
    """Chain on and off in pairs of short runs, back to back, order alternating.

    The machine may be busy with other work: comparing each "on" run with the
    "off" run next to it (a paired ratio) cancels what drifts between pairs,
    and the median of the pairs ignores the ones a burst of load hit.
    """
    ledgers = {
        "on": Ledger.open(places.url(store, "chain_on")),
        "off": open_unchained(places.url(store, "chain_off")),
    }
    customers: dict[str, list[UUID]] = {}
    for mode, ledger in ledgers.items():
        ledger.configure_loyalty(PROGRAM)
        customers[mode] = register_customers(ledger, max(100, size // 10))
    # Single commands in many short runs (a command on SQLite is mostly its
    # fsync, whose latency on a shared disk comes in bursts), then the imports.
    pairs = {"single": 20 * rounds, "import": 12 * rounds}
    commands, purchases = 10, max(50, size // pairs["import"])
    seconds: dict[str, dict[str, list[float]]] = {
        kind: {"on": [], "off": []} for kind in ("single", "import")
    }
    cpu: dict[str, dict[str, float]] = {kind: {"on": 0.0, "off": 0.0} for kind in seconds}
    counter = itertools.count()

    def record(ledger: Ledger, ids: list[UUID]) -> None:
        for _ in range(commands):
            i = next(counter)
            ledger.record_purchase(ids[i % 100], f"S-{i}", Decimal(150_000))

    def load(ledger: Ledger, ids: list[UUID]) -> None:
        ledger.import_purchases(purchase_rows(ids, purchases, f"P{next(counter)}"))

    for kind, action in (("single", record), ("import", load)):
        for pair in range(pairs[kind]):
            for mode in ("on", "off") if pair % 2 == 0 else ("off", "on"):
                ledger, ids = ledgers[mode], customers[mode]
                started = time.process_time()
                seconds[kind][mode].append(timed(functools.partial(action, ledger, ids)))
                cpu[kind][mode] += time.process_time() - started
    from referral_ledger.audit import audit

    assert audit(ledgers["on"]).ok
    for ledger in ledgers.values():
        ledger.close()
    result: dict[str, Any] = {
        "pairs": pairs,
        "commands_per_run": commands,
        "purchases_per_run": purchases,
    }
    for kind, count in (("single", commands), ("import", purchases)):
        runs = seconds[kind]
        ratios = [on / off for on, off in zip(runs["on"], runs["off"], strict=True)]
        result[kind] = {
            "per_s": {m: count / median(v) for m, v in runs.items()},
            "cost_paired_median": median(ratios) - 1,
            "cost_total_time": sum(runs["on"]) / sum(runs["off"]) - 1,
            "client_cpu_ms_per_item": {
                m: 1000 * c / (count * pairs[kind]) for m, c in cpu[kind].items()
            },
        }
    return result


# --- the run ---------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    cpu = "unknown"
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as info:
        cpu = next((ln.split(":", 1)[1].strip() for ln in info if ln.startswith("model name")), cpu)
    memory = "unknown"
    with contextlib.suppress(OSError), open("/proc/meminfo") as info:
        kb = int(next(ln for ln in info if ln.startswith("MemTotal")).split()[1])
        memory = f"{kb / 1024 / 1024:.1f} GiB"
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "memory": memory,
        "os": platform.platform(),
        "python": platform.python_version(),
    }


def versions(pg: str, stores: list[str]) -> dict[str, str]:
    found = {"sqlite": sqlite3.sqlite_version}
    for package in ("eventsourcing", "cattrs", "orjson", "attrs", "psycopg"):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            found[package] = importlib.metadata.version(package)
    if "postgres" in stores:
        with pg_connect(pg) as conn:
            found["postgresql"] = conn.execute("SHOW server_version").fetchone()[0]
    return found


def report(results: dict[str, Any]) -> None:
    for store, by in results["stores"].items():
        if "campaigns" in by:
            table(
                f"[{store}] 6. purchases in one campaign (the shared budget record), per second",
                [
                    "processes",
                    "in campaign/s",
                    "retried",
                    "surfaced",
                    "outside window/s",
                    "ratio",
                    "checkouts in campaign/s",
                ],
                [
                    [
                        r["processes"],
                        r["in_campaign"]["per_s"],
                        r["in_campaign"]["conflicts_retried"],
                        r["in_campaign"]["conflicts_surfaced"],
                        r["outside"]["per_s"],
                        r["ratio"],
                        r.get("checkout_in_campaign", {}).get("per_s", "-"),
                    ]
                    for r in by["campaigns"]
                ],
            )
        if "single" in by:
            r = by["single"]
            table(
                f"[{store}] 1. record_purchase, one per transaction ({r['rounds']} rounds of "
                f"{r['commands_per_round']})",
                ["ours/s", "bare save/s", "ratio", "bare get+save/s", "ratio"],
                [
                    [
                        r["record_purchase_per_s"],
                        r["bare_save_per_s"],
                        r["ratio_vs_bare_save"],
                        r["bare_get_save_per_s"],
                        r["ratio_vs_bare_get_save"],
                    ]
                ],
            )
        if "bulk" in by:
            table(
                f"[{store}] 2. import_purchases (purchases/s; medians of rounds)",
                [
                    "purchases",
                    "customers",
                    "ours/s",
                    "events/s",
                    "es 100-event saves/s",
                    "ratio",
                    "raw floor/s",
                    "ratio",
                    "peak RSS MB",
                    "import RSS growth MB",
                ],
                [
                    [
                        b["purchases"],
                        b["customers"],
                        b["import_purchases_per_s"],
                        b["import_events_per_s"],
                        b["bare_100_event_saves_purchases_per_s"],
                        b["ratio_vs_bare"],
                        b["raw_floor_purchases_per_s"],
                        b["ratio_vs_raw_floor"],
                        b["peak_rss_mb_after_import"],
                        b["import_rss_growth_mb"],
                    ]
                    for b in by["bulk"]
                ],
            )
            table(
                f"[{store}] 3. rebuild_projections vs eventsourcing repository.get replay",
                ["log events", "folded", "rebuild ev/s", "replayed", "repo.get ev/s", "ratio"],
                [
                    [
                        b["replay"]["log_events"],
                        b["replay"]["events_folded"],
                        b["replay"]["rebuild_events_per_s"],
                        b["replay"]["bare_events_replayed"],
                        b["replay"]["repository_get_events_per_s"],
                        b["replay"]["ratio"],
                    ]
                    for b in by["bulk"]
                ],
            )
        if "memory" in by:
            table(
                f"[{store}] 2b. import_purchases once per size, in a fresh process (peak RSS)",
                ["purchases", "customers", "ours/s", "peak RSS MB", "import RSS growth MB"],
                [
                    [
                        b["purchases"],
                        b["customers"],
                        b["import_purchases_per_s"],
                        b["peak_rss_mb_after_import"],
                        b["import_rss_growth_mb"],
                    ]
                    for b in by["memory"]
                ],
            )
        if "balance" in by:
            table(
                f"[{store}] 4. balance() of one account (200 calls per size; cached, and "
                "from a fresh ledger with cache_size=0)",
                [
                    "movements",
                    "p50 ms",
                    "p99 ms",
                    "no-cache p50 ms",
                    "no-cache p99 ms",
                    "replay-all ms",
                    "ratio (no cache)",
                ],
                [
                    [
                        b["movements"],
                        b["balance_p50_ms"],
                        b["balance_p99_ms"],
                        b["balance_no_cache_p50_ms"],
                        b["balance_no_cache_p99_ms"],
                        b["replay_all_events_ms"],
                        b["ratio_no_cache"],
                    ]
                    for b in by["balance"]
                ],
            )
        if "chain" in by:
            c = by["chain"]
            table(
                f"[{store}] 6. the hash chain's cost (pairs of runs, on and off back to back: "
                f"{c['pairs']['single']} of {c['commands_per_run']} record_purchase, "
                f"{c['pairs']['import']} of {c['purchases_per_run']} imported purchases)",
                ["", "on /s", "off /s", "cost (paired median)", "cost (total)", "CPU ms on/off"],
                [
                    [
                        name,
                        c[kind]["per_s"]["on"],
                        c[kind]["per_s"]["off"],
                        f"{c[kind]['cost_paired_median']:+.1%}",
                        f"{c[kind]['cost_total_time']:+.1%}",
                        "{:.3f} / {:.3f}".format(
                            c[kind]["client_cpu_ms_per_item"]["on"],
                            c[kind]["client_cpu_ms_per_item"]["off"],
                        ),
                    ]
                    for name, kind in (
                        ("record_purchase", "single"),
                        ("import_purchases", "import"),
                    )
                ],
            )
        if "search" in by:
            table(
                f"[{store}] 5. lead_table(search=...) over N leads ({len(SEARCHES)} terms x 40)",
                ["leads", "load+project s", "p50 ms", "p99 ms", "slowest term p50 ms"],
                [
                    [
                        b["leads"],
                        b["load_and_project_s"],
                        b["p50_ms"],
                        b["p99_ms"],
                        max(b["per_term_p50_ms"].values()),
                    ]
                    for b in by["search"]
                ],
            )


def report_directory(store: str, results: list[dict[str, Any]]) -> None:
    header, rows = directory.report_rows(results)
    terms = len(results[0]["terms"]) if results else 0
    title = f"[{store}] 6. customers(search=...) over N customers ({terms} terms x 40)"
    table(title, header, rows)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    parser.add_argument("--sizes", help="comma-separated purchase counts (default 10k,30k,100k)")
    parser.add_argument("--store", default="sqlite,postgres", help="sqlite, postgres or both")
    parser.add_argument(
        "--scenarios",
        default="single,bulk,balance,search,threads,workers,burst",
        help=(
            "which scenarios (replay: bulk; memory: import-only peak RSS; chain: the "
            "hash chain's cost; campaigns: purchases/s of 2 and 8 processes in one "
            "campaign; these three not by default)"
        ),
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--pg", default=DEFAULT_PG)
    parser.add_argument("--json", default=str(ROOT / "docs" / "performance.json"))
    parser.add_argument(
        "--cache-size", type=int, help="Ledger.open(cache_size=...) for the import scenarios"
    )
    parser.add_argument(
        "--directory-bulk",
        action="store_true",
        help="directory: write its rows straight into the table (no events; for 1M)",
    )
    parser.add_argument(
        "--expire", type=int, default=1_000_000, help="lots process_due expires (lots scenario)"
    )
    parser.add_argument("--child-bulk", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--child-memory", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    global CACHE_SIZE
    CACHE_SIZE = args.cache_size
    if args.child_bulk:
        store, size, rounds = args.child_bulk
        print(json.dumps(bulk_child(store, int(size), int(rounds), args.pg)))
        return
    if args.child_memory:
        store, size = args.child_memory
        print(json.dumps(memory_child(store, int(size), args.pg)))
        return
    sizes = [int(s) for s in args.sizes.split(",")] if args.sizes else None
    sizes = sizes or list(QUICK_SIZES if args.quick else DEFAULT_SIZES)
    stores = [s.strip() for s in args.store.split(",")]
    scenarios = {s.strip() for s in args.scenarios.split(",")}
    results: dict[str, Any] = {
        "command": " ".join(["bench/run.py", *(argv if argv is not None else sys.argv[1:])]),
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "versions": versions(args.pg, stores),
        "sizes": sizes,
        "cache_size": CACHE_SIZE if CACHE_SIZE is not None else DEFAULT_CACHE_SIZE,
        "stores": {},
    }
    print(json.dumps({k: results[k] for k in ("machine", "versions", "sizes")}, indent=1))
    started = time.perf_counter()
    for store in stores:
        by: dict[str, Any] = {}
        results["stores"][store] = by
        places = Places(args.pg)
        try:
            if "single" in scenarios:
                per_round = 50 if args.quick else 200
                by["single"] = scenario_single(places, store, max(3, args.rounds + 2), per_round)
            if "bulk" in scenarios:
                by["bulk"] = scenario_bulk(store, sizes, args.rounds, args.pg)
            if "balance" in scenarios:
                by["balance"] = scenario_balance(places, store, [s // 10 for s in sizes])
            if "search" in scenarios:
                by["search"] = scenario_search(places, store, sizes)
            if "chain" in scenarios:
                by["chain"] = scenario_chain(
                    places, store, max(5, args.rounds + 2), 50 if args.quick else 200, sizes[0]
                )
            if "memory" in scenarios:
                by["memory"] = scenario_memory(store, sizes, args.pg)
            if "campaigns" in scenarios:
                per_process = 50 if args.quick else 200
                by["campaigns"] = scenario_campaigns(partial(places.url, store), per_process)
            if "threads" in scenarios:
                by["threads"] = scenario_threads(
                    partial(places.url, store),
                    partial(places.bare, store),
                    10 if args.quick else 100,
                )
            if "workers" in scenarios:
                # Imported here: bench/import_workers.py imports this module.
                from import_workers import scenario_import_workers

                size = sizes[len(sizes) // 2]
                by["workers"] = scenario_import_workers(
                    places, store, size, args.rounds, open_ledger
                )
            if "burst" in scenarios:
                by["burst"] = scenario_burst(
                    partial(places.url, store), 2_000 if args.quick else 10_000
                )
            if "directory" in scenarios:
                by["directory"] = directory.scenario_directory(
                    functools.partial(places.url, store), sizes, bulk=args.directory_bulk
                )
            if "lots" in scenarios:
                # Imported here: bench/lots.py imports this module.
                from lots import print_flat, print_throughput, scenario_lots

                flat_sizes = [100, 1000] if args.quick else [1000, 10_000, 100_000]
                by["lots"] = scenario_lots(partial(places.url, store), flat_sizes, args.expire)
                print(f"\n[{store}] 9. points lots")
                for row in by["lots"]["flat"]:
                    print_flat(row)
                if "process_due" in by["lots"]:
                    print_throughput(by["lots"]["process_due"])
        finally:
            places.close()
        report({"stores": {store: by}})
        if "directory" in by:
            report_directory(store, by["directory"])
        if "threads" in by:
            report_threads(store, by["threads"])
        if "workers" in by:
            from import_workers import report_import_workers

            report_import_workers(store, by["workers"], table)
        if "burst" in by:
            report_burst(store, by["burst"])
    results["seconds"] = time.perf_counter() - started
    Path(args.json).write_text(json.dumps(results, indent=1) + "\n")
    print(f"\n{results['seconds']:.0f} s; results in {args.json}")


if __name__ == "__main__":
    main()
