"""Ledger URLs: the eventsourcing settings each one stands for.

Pure parsing; nothing here opens a connection (see `persistence.connect`).
"""

from __future__ import annotations

import re
import uuid
from typing import Final
from urllib.parse import parse_qs, unquote, urlsplit, urlunsplit

from referral_ledger.errors import InvalidInput
from referral_ledger.persistence.connect import POSTGRES_FACTORY

#: Seconds a SQLite writer waits for another process's write lock.
SQLITE_LOCK_TIMEOUT: Final = 30

#: PostgreSQL's limit on identifiers (NAMEDATALEN - 1): longer names are
#: silently cut to it, so two long schema names could name one schema.
MAX_SCHEMA_BYTES: Final = 63
#: A schema name that needs no quoting: ASCII letters, digits, _; not a digit first.
_PLAIN_IDENTIFIER: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
#: Seconds to wait for a PostgreSQL server to accept a connection, unless the
#: URL says otherwise (`?connect_timeout=`).
DEFAULT_CONNECT_TIMEOUT: Final = 10

#: A PostgreSQL ledger keeps `pool_size` connections open and opens up to
#: `max_overflow` more under load (eventsourcing's defaults: 5 and 10); a
#: thread that finds all in use waits up to `connect_timeout` for one. The URL
#: may say otherwise (`?pool_size=10&max_overflow=30`): see docs/operations.md.
_POOL_SETTINGS: Final = (
    ("pool_size", "POSTGRES_POOL_SIZE", 1),
    ("max_overflow", "POSTGRES_MAX_OVERFLOW", 0),
)
MAX_POOL: Final = 1000

#: eventsourcing's SQLite persistence, keeping prepared statements and
#: inserting a transaction's events at once (see persistence/sqlite.py).
_SQLITE_FACTORY: Final = "referral_ledger.persistence.sqlite:LedgerSQLiteFactory"


def environment_for(
    url: str, *, cipher_key: str | None = None, compress: bool = False
) -> dict[str, str]:
    """eventsourcing's settings for a ledger URL.

    A malformed URL or value is `InvalidInput` naming it (never its password).
    """
    if not isinstance(url, str):
        raise InvalidInput(f"url must be a str, not {url!r}")
    if "\x00" in url:
        raise InvalidInput(f"the ledger URL holds a NUL character: {redacted(url)!r}")
    env: dict[str, str] = {"IS_SNAPSHOTTING_ENABLED": "y"}
    if url == "memory://" or url.startswith("memory://"):
        # A shared-cache in-memory SQLite database: unlike ":memory:", every
        # thread's connection sees the same data, and the views can use SQL.
        name = url[len("memory://") :] or uuid.uuid4().hex
        env.update(
            PERSISTENCE_MODULE=_SQLITE_FACTORY,
            SQLITE_DBNAME=f"file:referral-ledger-{name}?mode=memory&cache=shared",
            SQLITE_LOCK_TIMEOUT=str(SQLITE_LOCK_TIMEOUT),
        )
    elif url.startswith("sqlite:///"):
        path = unquote(url[len("sqlite:///") :])
        if not path:
            raise InvalidInput(f"sqlite URL names no file: {redacted(url)!r}")
        env.update(
            PERSISTENCE_MODULE=_SQLITE_FACTORY,
            SQLITE_DBNAME=path,
            SQLITE_LOCK_TIMEOUT=str(SQLITE_LOCK_TIMEOUT),
        )
    elif url.startswith(("postgresql://", "postgres://")):
        env.update(_postgres_environment(url))
    else:
        raise InvalidInput(
            f"unsupported ledger URL {redacted(url)!r}: use memory://, sqlite:///PATH or "
            "postgresql://USER:PASSWORD@HOST:PORT/DATABASE"
        )
    if cipher_key is not None:
        env["CIPHER_TOPIC"] = "eventsourcing.cryptography:AESCipher"
        env["CIPHER_KEY"] = cipher_key
    if compress:
        env["COMPRESSOR_TOPIC"] = "eventsourcing.compressor:ZlibCompressor"
    return env


def redacted(url: str) -> str:
    """`url` with its password, if any, replaced by `***`: fit for messages and logs."""
    try:
        parts = urlsplit(url)
        if parts.password is None:
            return url
        netloc = parts.netloc.rpartition("@")
        user = netloc[0].partition(":")[0]
        return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc[2]}"))
    except ValueError:
        # Unparseable (say, a bad IPv6 host): hide whatever follows "user:".
        return re.sub(r"(//[^/@:]*):[^/@]*@", r"\1:***@", url)


def _postgres_environment(url: str) -> dict[str, str]:
    shown = redacted(url)
    try:
        parts = urlsplit(url)
        port = parts.port
        query = {k: v[-1] for k, v in parse_qs(parts.query, strict_parsing=False).items()}
    except ValueError as error:
        raise InvalidInput(f"malformed postgresql URL {shown!r}: {error}") from None
    database = unquote(parts.path.lstrip("/"))
    if not database:
        raise InvalidInput(f"postgresql URL names no database: {shown!r}")
    timeout = query.get("connect_timeout", str(DEFAULT_CONNECT_TIMEOUT))
    if not timeout.isdigit() or not 1 <= int(timeout) <= 3600:
        raise InvalidInput(
            f"connect_timeout must be whole seconds from 1 to 3600, not {timeout!r} in {shown!r}"
        )
    env = {
        # Events written with COPY, dropped connections replaced (see
        # persistence/postgres.py).
        "PERSISTENCE_MODULE": POSTGRES_FACTORY,
        "POSTGRES_DBNAME": database,
        "POSTGRES_HOST": parts.hostname or "127.0.0.1",
        "POSTGRES_PORT": str(port or 5432),
        "POSTGRES_USER": unquote(parts.username or "postgres"),
        "POSTGRES_PASSWORD": unquote(parts.password or ""),
        "POSTGRES_CONNECT_TIMEOUT": str(int(timeout)),
    }
    for setting, name, least in _POOL_SETTINGS:
        value = query.get(setting)
        if value is None:
            continue
        if not value.isdigit() or not least <= int(value) <= MAX_POOL:
            raise InvalidInput(
                f"{setting} must be a whole number from {least} to {MAX_POOL}, "
                f"not {value!r} in {shown!r}"
            )
        env[name] = str(int(value))
    schema = query.get("schema")
    if schema is not None:
        env["POSTGRES_SCHEMA"] = checked_schema(schema)
    return env


def checked_schema(schema: str) -> str:
    """A PostgreSQL schema name that is exactly the schema the tables go to.

    PostgreSQL cuts identifiers to 63 bytes without a word, so two longer
    names sharing their first 63 bytes would be one schema: two tenants
    reading each other's data. Names are plain identifiers, and not `pg_*`
    (reserved by PostgreSQL for its own schemas).
    """
    if not _PLAIN_IDENTIFIER.fullmatch(schema):
        raise InvalidInput(
            f"schema must be ASCII letters, digits and _, not starting with a digit: {schema!r}"
        )
    if len(schema.encode()) > MAX_SCHEMA_BYTES:
        raise InvalidInput(
            f"schema must be at most {MAX_SCHEMA_BYTES} bytes (PostgreSQL cuts longer "
            f"names, so two could name one schema): {schema!r} has {len(schema.encode())}"
        )
    if schema.lower().startswith("pg_"):
        raise InvalidInput(f"schema names starting with pg_ are PostgreSQL's own: {schema!r}")
    return schema
