"""Taking turns on a hot record: writers queue instead of retrying (PostgreSQL).

A record that many concurrent commands advance (a campaign's budget) makes
optimistic concurrency thrash on PostgreSQL: each attempt reads it, decides,
and loses to whoever committed in between, so more processes record less.
A unit of work that is about to read such a record calls
`UnitOfWork.take_turn(key)` first: on PostgreSQL that waits for a session
advisory lock on the key (on a connection of its own, held for the attempt),
so the commands advancing the record run one at a time and each reads it
current. The lock is released when the attempt ends (committed, refused or
conflicted), before any backoff. Correctness never depends on it: a writer
that does not take the turn is still caught by the optimistic check. SQLite
already lets one writer commit at a time, and the memory store is one
process: there it does nothing.

A unit waits only for its first turn; a further one is taken only if it is
free at once (else the unit goes on without it), so two units never wait for
each other; and no one waits more than `WAIT_MS` for a holder that hangs.

Threads of one process queue for a turn on an in-process lock first, and
only the one at its head waits on a pooled connection for the advisory
lock. Otherwise 40 request threads sharing one ledger (and its pool of 15
connections) all sat on a connection waiting for the turn while its holder
waited for a connection to read with: every turn then cost the pool's
10 s timeout (tests/test_threads.py stalled past 300 s on PostgreSQL).
"""

from __future__ import annotations

import threading
from typing import Any, Final

#: How long a writer waits for a turn before going on without it (ms).
WAIT_MS: Final = 10_000


class Turns:
    """The advisory locks the current thread's attempt holds (PostgreSQL only)."""

    def __init__(self, datastore: Any | None, namespace: str) -> None:
        #: eventsourcing's PostgresDatastore (None: not PostgreSQL, nothing to do).
        self._datastore = datastore
        self._namespace = namespace
        self._local = threading.local()
        #: One in-process lock per key: this process's threads queue on it
        #: without holding a connection (see the module's docstring).
        self._gates: dict[str, threading.Lock] = {}
        self._gates_lock = threading.Lock()

    def _gate(self, key: str) -> threading.Lock:
        with self._gates_lock:
            return self._gates.setdefault(key, threading.Lock())

    def take(self, key: str) -> None:
        """Wait for the turn on `key` (see the module's docstring), held until `release`."""
        if self._datastore is None:
            return
        held: set[str] = getattr(self._local, "held", set())
        if key in held:
            return
        name = f"{self._namespace}:{key}"
        gate = self._gate(key)
        if held:
            # Never wait while holding a turn, so two units can never wait for
            # each other (a batch may ask for turns in any order): take it if
            # free, else go on without it (the optimistic check still holds).
            if not gate.acquire(blocking=False):
                return
            row = self._local.connection.execute(
                "SELECT pg_try_advisory_lock(hashtext(%s)) AS ok", (name,)
            ).fetchone()
            if row["ok"]:
                held.add(key)
                self._local.gates.append(gate)
            else:
                gate.release()
            return
        # This process's threads queue here, holding no connection.
        if not gate.acquire(timeout=WAIT_MS / 1000):
            return
        try:
            context = self._datastore.get_connection()
            connection = context.__enter__()
        except BaseException:
            gate.release()
            raise
        try:
            with connection.transaction():
                # A holder that hangs delays the others by at most WAIT_MS; then
                # they go on without the turn. (The advisory lock is a session
                # lock: it outlives this transaction; the setting does not.)
                connection.execute(f"SET LOCAL lock_timeout = '{WAIT_MS}ms'")
                connection.execute("SELECT pg_advisory_lock(hashtext(%s))", (name,))
        except Exception:
            context.__exit__(None, None, None)
            gate.release()
            return
        self._local.context, self._local.connection = context, connection
        self._local.held = {key}
        self._local.gates = [gate]

    def release(self) -> None:
        """Release every turn this thread holds (nothing held: nothing to do)."""
        held: set[str] = getattr(self._local, "held", set())
        if not held:
            return
        self._local.held = set()
        context, connection = self._local.context, self._local.connection
        self._local.context = self._local.connection = None
        gates: list[threading.Lock] = self._local.gates
        self._local.gates = []
        try:
            connection.execute("SELECT pg_advisory_unlock_all()")
        finally:
            try:
                context.__exit__(None, None, None)
            finally:
                for gate in gates:
                    gate.release()
