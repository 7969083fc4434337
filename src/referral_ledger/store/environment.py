"""Ledger URLs: the eventsourcing settings each one stands for.

Pure parsing; nothing here opens a connection (see `persistence.connect`).
"""

from __future__ import annotations

import uuid
from typing import Final
from urllib.parse import parse_qs, unquote, urlsplit

from referral_ledger.errors import InvalidInput

#: Seconds a SQLite writer waits for another process's write lock.
SQLITE_LOCK_TIMEOUT: Final = 30

#: eventsourcing's SQLite persistence, keeping prepared statements and
#: inserting a transaction's events at once (see persistence/sqlite.py).
_SQLITE_FACTORY: Final = "referral_ledger.persistence.sqlite:LedgerSQLiteFactory"


def environment_for(
    url: str, *, cipher_key: str | None = None, compress: bool = False
) -> dict[str, str]:
    """eventsourcing's settings for a ledger URL."""
    if not isinstance(url, str):
        raise InvalidInput(f"url must be a str, not {url!r}")
    env: dict[str, str] = {"IS_SNAPSHOTTING_ENABLED": "y"}
    if url == "memory://" or url.startswith("memory://"):
        # A shared-cache in-memory SQLite database: unlike ":memory:", every
        # thread's connection sees the same data, and the views can use SQL.
        name = url[len("memory://") :] or uuid.uuid4().hex
        env.update(
            PERSISTENCE_MODULE=_SQLITE_FACTORY,
            SQLITE_DBNAME=f"file:referral-ledger-{name}?mode=memory&cache=shared",
        )
    elif url.startswith("sqlite:///"):
        path = unquote(url[len("sqlite:///") :])
        if not path:
            raise InvalidInput(f"sqlite URL names no file: {url!r}")
        env.update(
            PERSISTENCE_MODULE=_SQLITE_FACTORY,
            SQLITE_DBNAME=path,
            SQLITE_LOCK_TIMEOUT=str(SQLITE_LOCK_TIMEOUT),
        )
    elif url.startswith(("postgresql://", "postgres://")):
        env.update(_postgres_environment(url))
    else:
        raise InvalidInput(
            f"unsupported ledger URL {url!r}: use memory://, sqlite:///PATH or "
            "postgresql://USER:PASSWORD@HOST:PORT/DATABASE"
        )
    if cipher_key is not None:
        env["CIPHER_TOPIC"] = "eventsourcing.cryptography:AESCipher"
        env["CIPHER_KEY"] = cipher_key
    if compress:
        env["COMPRESSOR_TOPIC"] = "eventsourcing.compressor:ZlibCompressor"
    return env


def _postgres_environment(url: str) -> dict[str, str]:
    parts = urlsplit(url)
    database = unquote(parts.path.lstrip("/"))
    if not database:
        raise InvalidInput(f"postgresql URL names no database: {url!r}")
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    env = {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        # Events written with COPY (see persistence/postgres.py).
        "PROCESS_RECORDER_TOPIC": (
            "referral_ledger.persistence.postgres:CopyPostgresProcessRecorder"
        ),
        "POSTGRES_DBNAME": database,
        "POSTGRES_HOST": parts.hostname or "127.0.0.1",
        "POSTGRES_PORT": str(parts.port or 5432),
        "POSTGRES_USER": unquote(parts.username or "postgres"),
        "POSTGRES_PASSWORD": unquote(parts.password or ""),
        "POSTGRES_CONNECT_TIMEOUT": query.get("connect_timeout", "10"),
    }
    schema = query.get("schema")
    if schema:
        if not schema.replace("_", "").isalnum():
            raise InvalidInput(f"schema must be letters, digits and _: {schema!r}")
        env["POSTGRES_SCHEMA"] = schema
    return env
