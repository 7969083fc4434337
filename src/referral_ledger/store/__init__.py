"""The event store: opening one from a URL, loading aggregates, and running
commands as units of work.

- `environment`: ledger URLs and the eventsourcing settings they stand for.
- `snapshot`: the snapshot event (stored topic `referral_ledger.store:Snapshot`).
- `cache`: the newest states this process read or wrote.
- `unit`: one attempt at a command.
- `group`: group commit, the concurrent commands of one process saved in one transaction.
- `turns`: queueing for a hot record (PostgreSQL advisory locks) instead of retrying.
- `store`: `Store`, loading and running commands.
- `opening`: from settings to a readable `Store`, failing only with `LedgerError`s.

The eventsourcing application (`EventLog`) and everything else that touches
eventsourcing's internals or its tables is in `referral_ledger.persistence`.
"""

from referral_ledger.persistence.application import EventLog
from referral_ledger.persistence.connect import ensure_postgres_schema
from referral_ledger.store.cache import DEFAULT_CACHE_SIZE, StateCache
from referral_ledger.store.environment import SQLITE_LOCK_TIMEOUT, environment_for
from referral_ledger.store.opening import open_store
from referral_ledger.store.snapshot import Snapshot
from referral_ledger.store.store import (
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_SNAPSHOT_INTERVAL,
    LOAD_CHUNK,
    VERIFY_EVENTS,
    S,
    Store,
    T,
)
from referral_ledger.store.unit import CommandStats, UnitOfWork

__all__ = [
    "DEFAULT_CACHE_SIZE",
    "DEFAULT_MAX_ATTEMPTS",
    "DEFAULT_SNAPSHOT_INTERVAL",
    "LOAD_CHUNK",
    "SQLITE_LOCK_TIMEOUT",
    "VERIFY_EVENTS",
    "CommandStats",
    "EventLog",
    "S",
    "Snapshot",
    "StateCache",
    "Store",
    "T",
    "UnitOfWork",
    "ensure_postgres_schema",
    "environment_for",
    "open_store",
]
