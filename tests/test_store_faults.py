"""The store survives what an unlucky operator meets: a SQLite write lock held
for seconds by another process, and PostgreSQL sessions cut under a running
ledger. Commands wait the documented time and succeed, or fail with a
`LedgerError` having recorded nothing; never with a driver's exception.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest

import referral_ledger.store.environment as environment
from referral_ledger import Ledger, LedgerError, LoyaltyProgram, StoreError
from referral_ledger.persistence.postgres import CopyPostgresProcessRecorder
from referral_ledger.store import saving
from stores import postgres_url, split_pg_url

HOLD_LOCK = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], timeout=0, isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
conn.execute("COMMIT")
"""


def hold_write_lock(path: Path, seconds: float) -> subprocess.Popen[str]:
    """Another process holding the SQLite file's write lock for `seconds`."""
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(path), str(seconds)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None
    assert "locked" == holder.stdout.readline().strip()
    return holder


def in_threads(*commands: Callable[[], Any]) -> list[Any]:
    """Run each command in a thread of its own; their results, or the exceptions raised."""
    results: list[Any] = [None] * len(commands)

    def run(i: int) -> None:
        try:
            results[i] = commands[i]()
        except Exception as error:
            results[i] = error

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(commands))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_sqlite_commands_wait_for_another_process_write_lock(tmp_path: Path) -> None:
    """Two threads wait ~7 s behind another process; eventsourcing alone gives
    the second thread (queued behind the first for the pool's writer) 5 s."""
    path = tmp_path / "ledger.db"
    with Ledger.open(f"sqlite:///{path}") as ledger:
        before = ledger.event_count()
        holder = hold_write_lock(path, 7)
        try:
            results = in_threads(
                lambda: ledger.register_customer(name="An", phones=["0912345678"]),
                lambda: ledger.register_customer(name="Bình", phones=["0912345679"]),
            )
        finally:
            holder.wait()
        assert all(isinstance(r, uuid.UUID) for r in results), results
        assert 0 == holder.returncode
        assert ledger.event_count() > before
        assert {"An", "Bình"} == {ledger.get_customer(r).name for r in results}


def test_sqlite_gives_up_after_the_lock_timeout_with_a_ledger_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The same wait as in production, made short so the test need not take 30 s.
    monkeypatch.setattr(environment, "SQLITE_LOCK_TIMEOUT", 1)
    path = tmp_path / "ledger.db"
    with Ledger.open(f"sqlite:///{path}") as ledger:
        before = ledger.event_count()
        holder = hold_write_lock(path, 6)
        try:
            results = in_threads(
                lambda: ledger.register_customer(name="An", phones=["0912345678"]),
                lambda: ledger.register_customer(name="Bình", phones=["0912345679"]),
            )
        finally:
            holder.wait()
        assert all(isinstance(r, StoreError) for r in results), results
        assert any("write lock" in str(r) or "busy" in str(r) for r in results), results
        assert before == ledger.event_count()  # nothing was recorded
        ledger.register_customer(name="An", phones=["0912345678"])  # and it works again


# --- PostgreSQL sessions cut --------------------------------------------------------


def admin() -> psycopg.Connection[Any]:
    dsn, _ = split_pg_url(postgres_url())
    return psycopg.connect(dsn, autocommit=True, application_name="rl-test-admin")


def terminate(pids: list[int]) -> int:
    """`pg_terminate_backend` each of `pids`, and wait until they are gone."""
    with admin() as conn:
        conn.execute("SELECT pg_terminate_backend(pid) FROM unnest(%s::int[]) AS pid", (pids,))
        while True:
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(%s)", (pids,)
            ).fetchone()
            if row is None or row[0] == 0:
                return len(pids)
            time.sleep(0.01)


@pytest.fixture
def pg_ledger(fresh_pg_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Ledger, str]]:
    """A ledger whose PostgreSQL sessions carry a name of their own, so the test
    ends only its sessions (libpq reads PGAPPNAME)."""
    name = f"rl-test-{uuid.uuid4().hex[:12]}"
    monkeypatch.setenv("PGAPPNAME", name)
    with Ledger.open(fresh_pg_url) as ledger:
        ledger.configure_loyalty(
            LoyaltyProgram(money_per_point=Decimal(10000), point_value=Decimal(1000))
        )
        yield ledger, name


def cut_sessions(name: str) -> int:
    """End every session of the ledger's (as a server restart or failover would)."""
    with admin() as conn:
        pids = [
            row[0]
            for row in conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE application_name = %s", (name,)
            )
        ]
    assert pids, "the ledger has no sessions to cut"
    return terminate(pids)


@pytest.mark.postgres
def test_after_its_sessions_are_cut_the_ledger_reconnects(pg_ledger: tuple[Ledger, str]) -> None:
    ledger, name = pg_ledger
    customer = ledger.register_customer(name="An", phones=["0912345678"])
    ledger.record_purchase(customer, "INV-0", 100000)
    steps: list[tuple[str, Callable[[], Any]]] = [
        ("purchase", lambda: ledger.record_purchase(customer, "INV-1", 200000)),
        ("balance", lambda: ledger.balance(customer)),
        ("customer", lambda: ledger.get_customer(customer)),
        ("register", lambda: ledger.register_customer(name="Bình", phones=["0912345679"])),
        ("statement", lambda: ledger.statement(customer)),
        ("leads", lambda: ledger.lead_table()),
        ("catch-up", lambda: ledger.catch_up_projections()),
        ("count", lambda: ledger.event_count()),
    ]
    for _, step in steps:
        cut_sessions(name)
        step()  # no exception: it reconnected
    assert 30 == ledger.balance(customer)  # each purchase recorded once


@pytest.mark.postgres
def test_a_save_whose_connection_drops_before_commit_is_saved_once(
    pg_ledger: tuple[Ledger, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    ledger, _ = pg_ledger
    customer = ledger.register_customer(name="An", phones=["0912345678"])
    real_write = CopyPostgresProcessRecorder._write
    cut: list[int] = []

    def write_on_a_cut_session(self: Any, curs: Any, *args: Any, **kwargs: Any) -> None:
        if not cut:
            cut.append(terminate([curs.connection.info.backend_pid]))
        real_write(self, curs, *args, **kwargs)

    monkeypatch.setattr(CopyPostgresProcessRecorder, "_write", write_on_a_cut_session)
    ledger.record_purchase(customer, "INV-0", 100000)
    assert [1] == cut
    assert 10 == ledger.balance(customer)


@pytest.mark.postgres
def test_a_commit_whose_connection_drops_is_repeated_and_recorded_once(
    pg_ledger: tuple[Ledger, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its outcome is unknown: the write is repeated, and the repeat tells whether the
    first was committed (the command id, store/saving.py), so it is recorded once."""
    ledger, _ = pg_ledger
    customer = ledger.register_customer(name="An", phones=["0912345678"])
    real_write = CopyPostgresProcessRecorder._write
    writes: list[int] = []

    def write_then_cut_once(self: Any, curs: Any, *args: Any, **kwargs: Any) -> None:
        writes.append(1)
        real_write(self, curs, *args, **kwargs)
        if len(writes) == 1:
            terminate([curs.connection.info.backend_pid])  # before COMMIT reaches the server

    monkeypatch.setattr(CopyPostgresProcessRecorder, "_write", write_then_cut_once)
    assert 10 == ledger.record_purchase(customer, "INV-0", 100000)
    assert [1, 1] == writes  # repeated once: the server had rolled the first back
    monkeypatch.undo()
    assert 10 == ledger.balance(customer)


@pytest.mark.postgres
def test_a_commit_whose_outcome_stays_unknown_is_a_store_error(
    pg_ledger: tuple[Ledger, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every repeat cut as well: a `StoreError` after a few, never a decision taken again."""
    ledger, _ = pg_ledger
    customer = ledger.register_customer(name="An", phones=["0912345678"])
    real_write = CopyPostgresProcessRecorder._write
    writes: list[int] = []

    def write_then_cut(self: Any, curs: Any, *args: Any, **kwargs: Any) -> None:
        writes.append(1)
        real_write(self, curs, *args, **kwargs)
        terminate([curs.connection.info.backend_pid])  # before COMMIT reaches the server

    monkeypatch.setattr(CopyPostgresProcessRecorder, "_write", write_then_cut)
    with pytest.raises(StoreError, match="may or may not have been recorded"):
        ledger.record_purchase(customer, "INV-0", 100000)
    assert 1 + saving.RESENDS == len(writes)
    monkeypatch.undo()
    assert 0 == ledger.balance(customer)  # the server rolled the cut transactions back
    ledger.record_purchase(customer, "INV-0", 100000)
    assert 10 == ledger.balance(customer)


def test_store_errors_are_ledger_errors() -> None:
    assert issubclass(StoreError, LedgerError)
