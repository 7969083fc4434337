"""Opening a store: from settings to a readable `Store`, failing only with `LedgerError`s."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime

from referral_ledger.errors import StoreError
from referral_ledger.persistence.application import EventLog
from referral_ledger.persistence.connect import ensure_postgres_schema
from referral_ledger.persistence.errors import store_errors
from referral_ledger.store.environment import redacted
from referral_ledger.store.store import Store


def open_store(
    url: str,
    env: Mapping[str, str],
    *,
    clock: Callable[[], datetime],
    snapshot_interval: int,
    max_attempts: int,
    cache_size: int,
    group_commit: bool = True,
) -> Store:
    """The store `env` (from `environment_for(url)`) describes, created if new.

    Any failure to reach, create or read it is a `StoreError` naming the URL
    (without its password); what was opened before the failure is closed.
    """
    context = f"cannot open the ledger at {redacted(url)}"
    with _naming(context), store_errors(context):
        _check_sqlite_file(env)
        ensure_postgres_schema(env)
        app = EventLog(env=dict(env))
    try:
        with _naming(context), store_errors(context):
            store = Store(
                app,
                clock=clock,
                snapshot_interval=snapshot_interval,
                max_attempts=max_attempts,
                cache_size=cache_size,
                group_commit=group_commit,
            )
            store.verify_readable()
    except BaseException:
        app.close()
        raise
    return store


@contextmanager
def _naming(context: str) -> Iterator[None]:
    """Store errors raised below without saying which ledger, saying it."""
    try:
        yield
    except StoreError as error:
        if str(error).startswith(context):
            raise
        raise type(error)(f"{context}: {error}") from error


def _check_sqlite_file(env: Mapping[str, str]) -> None:
    """A file path SQLite cannot use, said plainly (SQLite only says "unable to open")."""
    path = env.get("SQLITE_DBNAME")
    if path is None or "mode=memory" in path:
        return
    if os.path.isdir(path):
        raise StoreError(f"{path!r} is a directory; name a file inside it")
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise StoreError(f"the directory {parent!r} does not exist")
