"""The bulk read path: Store.load_many / UnitOfWork.prefetch, and import_purchases on it.

Memory staying flat is not tested here (it is not a timing test either way):
bench/run.py reports peak RSS per size, and the import streams its rows.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any
from uuid import UUID

import pytest

import referral_ledger.store.store as store_module
from referral_ledger import Ledger, LoyaltyProgram
from referral_ledger.aggregates import customer as customers
from referral_ledger.aggregates import loyalty
from referral_ledger.aggregates import program as programs
from referral_ledger.aggregates.base import Evolve
from referral_ledger.store import Store, UnitOfWork

PROGRAM = LoyaltyProgram(money_per_point=1000, point_value=100)


@pytest.fixture
def ledger(store_url: str) -> Iterator[Ledger]:
    with Ledger.open(store_url, snapshot_interval=3) as opened:
        opened.configure_loyalty(PROGRAM)
        yield opened


def store_of(ledger: Ledger) -> Store:
    return ledger._store


def register(ledger: Ledger, count: int) -> list[UUID]:
    return [
        ledger.register_customer(name=f"Khách {n}", phones=[f"090{n:07d}"], external_id=f"E{n}")
        for n in range(count)
    ]


def count_reads(monkeypatch: pytest.MonkeyPatch, store: Store) -> dict[str, int]:
    """Count bulk queries and single-record loads of `store` from now on."""
    counts = {"bulk": 0, "single": 0}
    reader = store._reader
    assert reader is not None
    select, load = reader.select, store.load

    def counted_select(ids: Any) -> Any:
        counts["bulk"] += 1
        return select(ids)

    def counted_load(*args: Any) -> Any:
        counts["single"] += 1
        return load(*args)

    monkeypatch.setattr(reader, "select", counted_select)
    monkeypatch.setattr(store, "load", counted_load)
    return counts


def test_load_many_equals_load_for_each_record(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Snapshots, events after them, unknown ids and several chunks: as `load` reads them."""
    people = register(ledger, 3)
    for n in range(8):  # 16+ account events: snapshots at 3, 6, 9, ...
        ledger.record_purchase(people[n % 2], f"INV-{n}", 150_000 + n * 1000)
    records: dict[UUID, Evolve[Any]] = {uuid.uuid4(): loyalty.evolve_account}
    for person in people:
        records[person] = customers.evolve_customer
        records[loyalty.account_id(person)] = loyalty.evolve_account
    for n in range(8):
        records[loyalty.invoice_record_id(f"INV-{n}")] = loyalty.evolve_invoice
    records[programs.LOYALTY_PROGRAM_ID] = programs.evolve_loyalty_settings
    store = store_of(ledger)
    expected = {i: store.load(i, evolve) for i, evolve in records.items()}
    monkeypatch.setattr(store_module, "LOAD_CHUNK", 4)
    assert expected == store.load_many(records)
    assert expected[loyalty.account_id(people[2])] is None
    account = expected[loyalty.account_id(people[0])]
    assert account is not None and account.purchase_count == 4


def test_load_many_replays_past_an_unreadable_snapshot(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A snapshot whose state no longer structures is ignored: all events are replayed."""
    (person,) = register(ledger, 1)
    for n in range(5):
        ledger.record_purchase(person, f"INV-{n}", 150_000)
    store = store_of(ledger)
    account_id = loyalty.account_id(person)
    expected = store.load(account_id, loyalty.evolve_account)
    monkeypatch.setattr(Store, "_state_from", lambda self, snapshot: None)
    assert {account_id: expected} == store.load_many({account_id: loyalty.evolve_account})


def test_record_purchase_reads_its_records_in_one_query(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    (person,) = register(ledger, 1)
    counts = count_reads(monkeypatch, store_of(ledger))
    assert ledger.record_purchase(person, "INV-1", 150_000) == 150
    assert counts == {"bulk": 1, "single": 0}


def test_balance_reads_the_customer_and_the_account_in_one_query(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    (person,) = register(ledger, 1)
    ledger.record_purchase(person, "INV-1", 150_000)
    counts = count_reads(monkeypatch, store_of(ledger))
    assert ledger.balance(person) == 150
    assert counts == {"bulk": 1, "single": 0}


def test_import_reads_a_batch_in_two_queries(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    """External ids in one query, then every customer, invoice and account in another."""
    people = register(ledger, 5)
    rows = [
        {"external_id": f"E{n % 5}", "invoice_id": f"INV-{n}", "amount": 150_000} for n in range(40)
    ]
    counts = count_reads(monkeypatch, store_of(ledger))
    report = ledger.import_purchases(rows, batch_size=20)
    assert (report.recorded, report.duplicates, report.rejected) == (40, 0, [])
    assert counts == {"bulk": 4, "single": 0}
    assert [ledger.balance(p) for p in people] == [8 * 150] * 5


def test_import_again_records_nothing(ledger: Ledger) -> None:
    people = register(ledger, 4)
    rows = [
        {"customer_id": people[n % 4], "invoice_id": f"INV-{n}", "amount": 150_000 + n}
        for n in range(30)
    ]
    first = ledger.import_purchases(rows, batch_size=7)
    events = ledger.event_count()
    again = ledger.import_purchases(rows, batch_size=7)
    assert (first.recorded, first.duplicates) == (30, 0)
    assert (again.recorded, again.duplicates, again.rejected) == (0, 30, [])
    assert events == ledger.event_count()


def test_import_rejects_an_invoice_repeated_with_other_figures(ledger: Ledger) -> None:
    """Within one batch and across batches: the first figures stand, the other row is refused."""
    people = register(ledger, 2)
    rows = [
        {"customer_id": people[0], "invoice_id": "INV-1", "amount": 150_000},
        {"customer_id": people[0], "invoice_id": "INV-1", "amount": 150_000},  # a retry
        {"customer_id": people[0], "invoice_id": "INV-1", "amount": 990_000},
        {"customer_id": people[1], "invoice_id": "INV-1", "amount": 150_000},
    ]
    report = ledger.import_purchases(rows, batch_size=10)
    assert (report.recorded, report.duplicates) == (1, 1)
    assert [number for number, _ in report.rejected] == [3, 4]
    assert all("other figures" in reason for _, reason in report.rejected)
    later = ledger.import_purchases(
        [{"customer_id": people[0], "invoice_id": "INV-1", "amount": 1}], batch_size=10
    )
    assert [number for number, _ in later.rejected] == [1]
    assert (ledger.balance(people[0]), ledger.balance(people[1])) == (150, 0)


def test_import_retries_a_batch_another_writer_raced(
    ledger: Ledger, store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another Ledger records one of the batch's invoices between prefetch and save.

    The batch's save conflicts in the store, nothing of it is kept, and the
    batch is decided again: the raced invoice is a duplicate, the rest recorded,
    every invoice earns exactly once.
    """
    people = register(ledger, 3)
    rows = [
        {"customer_id": people[n % 3], "invoice_id": f"INV-{n}", "amount": 150_000}
        for n in range(9)
    ]
    prefetch = UnitOfWork.prefetch
    raced: list[bool] = []

    def prefetch_then_race(unit: UnitOfWork, records: Any) -> None:
        wanted = list(records)
        prefetch(unit, wanted)
        # The batch's second prefetch (customers, invoices, accounts): race it once.
        if not raced and any(i == loyalty.invoice_record_id("INV-4") for i, _ in wanted):
            raced.append(True)
            if store_url.startswith("memory://"):  # each open is a new memory store
                Ledger(store_of(ledger)).record_purchase(people[1], "INV-4", 150_000)
            else:
                with Ledger.open(store_url) as other:
                    other.record_purchase(people[1], "INV-4", 150_000)

    monkeypatch.setattr(UnitOfWork, "prefetch", prefetch_then_race)
    stats = store_of(ledger).stats
    before, attempts = stats.conflicts_retried, stats.attempts
    report = ledger.import_purchases(rows, batch_size=100)
    assert raced
    if store_url.startswith("memory://"):
        # The other Ledger shares this store and its group commit, which knows the
        # raced record moved before saving: the batch is decided again at once
        # (the import's first decision, the other writer's, the import's second).
        assert stats.attempts - attempts >= 3
    else:
        assert stats.conflicts_retried > before
    assert (report.recorded, report.duplicates, report.rejected) == (8, 1, [])
    assert [ledger.balance(p) for p in people] == [450, 450, 450]
    invoices = [f"INV-{n}" for n in range(9)]
    earned = [row.reference for p in people for row in ledger.statement(p) if row.kind == "earn"]
    assert sorted(invoices) == sorted(earned)


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_the_bulk_read_probes_the_keys_and_never_scans_the_log(
    kind: str, request: pytest.FixtureRequest
) -> None:
    """Each read must cost the same however long the log grows: no full scan of the
    events or snapshots tables in its plan, whatever the planner's statistics say."""
    url: str = request.getfixturevalue("sqlite_url" if kind == "sqlite" else "fresh_pg_url")
    # Enough snapshots (600) and events (6,000+) that a scan would cost more than probes.
    with Ledger.open(url, snapshot_interval=5) as ledger:
        ledger.configure_loyalty(PROGRAM)
        people = register(ledger, 20)
        rows = [
            {"customer_id": people[n % 20], "invoice_id": f"INV-{n}", "amount": 150_000}
            for n in range(3000)
        ]
        assert ledger.import_purchases(rows).recorded == 3000
        reader: Any = store_of(ledger)._reader
        # A full chunk, as an import batch asks: accounts, customers, invoices.
        wanted = [(loyalty.account_id(p), 0) for p in people] + [(p, 1) for p in people]
        wanted += [(loyalty.invoice_record_id(f"INV-{n}"), 0) for n in range(460)]
        if kind == "sqlite":
            with reader.datastore.transaction(commit=False) as cursor:
                cursor.execute("ANALYZE")
                flat = [x for i, v in wanted for x in (i.hex, v)]
                cursor.execute("EXPLAIN QUERY PLAN " + reader.statement(len(wanted)), flat)
                plan = [row[3] for row in cursor.fetchall()]
            scans = [step for step in plan if step.startswith("SCAN") and "stored_" in step]
        else:
            with reader.datastore.get_connection() as conn, conn.cursor() as cursor:
                cursor.execute("ANALYZE")
                arrays = ([i for i, _ in wanted], [v for _, v in wanted])
                cursor.execute(b"EXPLAIN " + reader.statement.as_bytes(conn), arrays)
                plan = [row["QUERY PLAN"] for row in cursor.fetchall()]
            scans = [step for step in plan if "Seq Scan" in step and "referral_ledger" in step]
        assert plan and not scans, "\n".join(plan)
        assert [ledger.balance(p) for p in people] == [150 * 150] * 20
