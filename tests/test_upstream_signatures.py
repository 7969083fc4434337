"""eventsourcing's methods that `referral_ledger.persistence` overrides or calls
privately keep the signatures they have in eventsourcing 9.5.

Private methods change without notice between releases. An override whose
upstream method changed shape (a new argument, another return) would still
import and might even run, doing the wrong thing; this test fails first.
After upgrading eventsourcing: read the upstream change, adapt the override,
then update the pin.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from typing import Any

import pytest
from eventsourcing.application import Application
from eventsourcing.persistence import EventStore, Mapper, Transcoder
from eventsourcing.postgres import PostgresDatastore, PostgresFactory, PostgresProcessRecorder
from eventsourcing.sqlite import (
    SQLiteConnectionPool,
    SQLiteDatastore,
    SQLiteFactory,
    SQLiteProcessRecorder,
)

import referral_ledger.persistence
from referral_ledger import Ledger

#: `inspect.signature` of each upstream method, as in eventsourcing 9.5.6.
PINNED: dict[str, str] = {
    # Overridden (found by `overridden()` below).
    "eventsourcing.application.Application.__init__": (
        "(self, env: 'EnvType | None' = None) -> 'None'"
    ),
    "eventsourcing.application.Application.construct_env": (
        "(self, name: 'str', env: 'EnvType | None' = None) -> 'Environment'"
    ),
    "eventsourcing.application.Application.construct_recorder": ("(self) -> 'ApplicationRecorder'"),
    "eventsourcing.application.Application.construct_mapper": ("(self) -> 'Mapper[TAggregateID]'"),
    "eventsourcing.application.Application.construct_event_store": (
        "(self) -> 'EventStore[TAggregateID]'"
    ),
    "eventsourcing.persistence.EventStore.put": (
        "(self, domain_events: 'Sequence[DomainEventProtocol[TAggregateID]]', **kwargs: 'Any')"
        " -> 'list[Recording[TAggregateID]]'"
    ),
    "eventsourcing.sqlite.SQLiteConnectionPool._create_connection": (
        "(self) -> 'SQLiteConnection'"
    ),
    "eventsourcing.sqlite.SQLiteProcessRecorder._insert_events": (
        "(self, c: 'SQLiteCursor', stored_events: 'Sequence[StoredEvent]', **kwargs: 'Any')"
        " -> 'Sequence[int] | None'"
    ),
    "eventsourcing.sqlite.SQLiteFactory.__init__": ("(self, env: 'Environment | EnvType | None')"),
    "eventsourcing.sqlite.SQLiteProcessRecorder.construct_create_table_statements": (
        "(self) -> 'list[str]'"
    ),
    "eventsourcing.postgres.PostgresProcessRecorder.__init__": (
        "(self, datastore: 'PostgresDatastore', *, events_table_name: 'str' = "
        "'stored_events', tracking_table_name: 'str' = 'notification_tracking')"
    ),
    "eventsourcing.postgres.PostgresProcessRecorder.insert_events": (
        "(self, stored_events: 'Sequence[StoredEvent]', **kwargs: 'Any') -> 'Sequence[int] | None'"
    ),
    "eventsourcing.postgres.PostgresFactory.__init__": (
        "(self, env: 'Environment | EnvType | None')"
    ),
    "eventsourcing.sqlite.SQLiteDatastore.get_connection": (
        "(self, *, commit: 'bool') -> 'Iterator[SQLiteConnection]'"
    ),
    "eventsourcing.persistence.Mapper.to_stored_event": (
        "(self, domain_event: 'DomainEventProtocol[TAggregateID]') -> 'StoredEvent'"
    ),
    "eventsourcing.persistence.Mapper.to_domain_event": (
        "(self, stored_event: 'StoredEvent') -> 'DomainEventProtocol[TAggregateID]'"
    ),
    "eventsourcing.persistence.Transcoder.encode": "(self, obj: 'Any') -> 'bytes'",
    "eventsourcing.persistence.Transcoder.decode": "(self, data: 'bytes') -> 'Any'",
    # Called, not overridden.
    "eventsourcing.persistence.Mapper.__init__": (
        "(self, transcoder: 'Transcoder', compressor: 'Compressor | None' = None, "
        "cipher: 'Cipher | None' = None)"
    ),
    "eventsourcing.sqlite.SQLiteConnectionPool.__init__": (
        "(self, *, db_name: 'str', lock_timeout: 'int | None' = None, pool_size: 'int' = 5, "
        "max_overflow: 'int' = 10, pool_timeout: 'float' = 5.0, max_age: 'float | None' = "
        "None, pre_ping: 'bool' = False)"
    ),
    "eventsourcing.sqlite.SQLiteProcessRecorder._insert_tracking": (
        "(self, c: 'SQLiteCursor', tracking: 'Tracking') -> 'None'"
    ),
    "eventsourcing.postgres.PostgresProcessRecorder._insert_events": (
        "(self, curs: 'Cursor[DictRow]', stored_events: 'Sequence[StoredEvent]', "
        "**kwargs: 'Any') -> 'None'"
    ),
    "eventsourcing.postgres.PostgresProcessRecorder._lock_table": (
        "(self, curs: 'Cursor[DictRow]') -> 'None'"
    ),
    "eventsourcing.postgres.PostgresProcessRecorder._notify_channel": (
        "(self, curs: 'Cursor[DictRow]') -> 'None'"
    ),
    "eventsourcing.sqlite.SQLiteDatastore.transaction": (
        "(self, *, commit: 'bool') -> 'Iterator[SQLiteCursor]'"
    ),
    "eventsourcing.postgres.PostgresDatastore.get_connection": (
        "(self) -> 'Iterator[Connection[DictRow]]'"
    ),
}

_UPSTREAM: dict[str, Any] = {
    "eventsourcing.application.Application": Application,
    "eventsourcing.persistence.EventStore": EventStore,
    "eventsourcing.persistence.Mapper": Mapper,
    "eventsourcing.persistence.Transcoder": Transcoder,
    "eventsourcing.sqlite.SQLiteConnectionPool": SQLiteConnectionPool,
    "eventsourcing.sqlite.SQLiteProcessRecorder": SQLiteProcessRecorder,
    "eventsourcing.sqlite.SQLiteFactory": SQLiteFactory,
    "eventsourcing.sqlite.SQLiteDatastore": SQLiteDatastore,
    "eventsourcing.postgres.PostgresProcessRecorder": PostgresProcessRecorder,
    "eventsourcing.postgres.PostgresDatastore": PostgresDatastore,
    "eventsourcing.postgres.PostgresFactory": PostgresFactory,
}


def upstream(key: str) -> Any:
    owner, _, name = key.rpartition(".")
    return getattr(_UPSTREAM[owner], name)


def overridden() -> set[str]:
    """Each eventsourcing method a class in `referral_ledger.persistence` overrides,
    named by the nearest eventsourcing class it derives from."""
    found: set[str] = set()
    package = referral_ledger.persistence
    for info in pkgutil.iter_modules(package.__path__, package.__name__ + "."):
        module = importlib.import_module(info.name)
        for cls in vars(module).values():
            if not isinstance(cls, type) or cls.__module__ != module.__name__:
                continue
            bases = [b for b in cls.__mro__ if b.__module__.startswith("eventsourcing.")]
            if not bases:
                continue
            base = bases[0]
            for name, value in vars(cls).items():
                if inspect.isfunction(value) and hasattr(base, name):
                    found.add(f"{base.__module__}.{base.__qualname__}.{name}")
    return found


def test_every_override_is_pinned() -> None:
    missing = overridden() - PINNED.keys()
    assert not missing, f"pin the upstream signatures of {sorted(missing)}"


@pytest.mark.parametrize("key", sorted(PINNED))
def test_upstream_signature_is_unchanged(key: str) -> None:
    assert str(inspect.signature(upstream(key))) == PINNED[key], (
        f"eventsourcing changed {key}: check referral_ledger.persistence's use of it"
    )


#: Attributes of eventsourcing's objects that the overrides read or set.
SQLITE_ATTRIBUTES = {
    "datastore": ["pool"],
    "pool": [
        "db_name",
        "lock_timeout",
        "max_age",
        "pool_timeout",
        "is_sqlite_memory_mode",
        "is_journal_mode_wal",
        "journal_mode_was_changed_to_wal",
    ],
    "recorder": ["datastore", "events_table_name", "insert_events_statement"],
}
POSTGRES_ATTRIBUTES = {
    "datastore": ["schema", "enable_db_functions"],
    "recorder": [
        "datastore",
        "events_table_name",
        "sql_create_statements",
        "lock_table_statements",
        "channel_name",
    ],
}


def _has_attributes(recorder: Any, wanted: dict[str, list[str]]) -> None:
    objects = {"recorder": recorder, "datastore": recorder.datastore}
    if "pool" in wanted:
        objects["pool"] = recorder.datastore.pool
    for owner, names in wanted.items():
        for name in names:
            assert hasattr(objects[owner], name), f"eventsourcing's {owner} has no {name}"


def test_the_sqlite_attributes_the_overrides_use_exist(sqlite_url: str) -> None:
    with Ledger.open(sqlite_url) as ledger:
        _has_attributes(ledger._store.app.recorder, SQLITE_ATTRIBUTES)


@pytest.mark.postgres
def test_the_postgres_attributes_the_overrides_use_exist(fresh_pg_url: str) -> None:
    with Ledger.open(fresh_pg_url) as ledger:
        _has_attributes(ledger._store.app.recorder, POSTGRES_ATTRIBUTES)
