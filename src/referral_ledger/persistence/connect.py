"""Direct PostgreSQL connections of the ledger's own: creating a URL's schema,
and the lock that makes openers of one store take turns setting it up.

Only imports psycopg when a PostgreSQL store is opened: it is optional.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    import psycopg

#: The eventsourcing factory of PostgreSQL stores (see persistence/postgres.py).
POSTGRES_FACTORY: Final = "referral_ledger.persistence.postgres:LedgerPostgresFactory"


def is_postgres(env: Mapping[str, str]) -> bool:
    """Whether eventsourcing settings are those of a PostgreSQL store."""
    return env.get("PERSISTENCE_MODULE") == POSTGRES_FACTORY


def _postgres_connection(env: Mapping[str, str]) -> psycopg.Connection[Any]:
    import psycopg

    return psycopg.connect(
        dbname=env["POSTGRES_DBNAME"],
        host=env["POSTGRES_HOST"],
        port=int(env["POSTGRES_PORT"]),
        user=env["POSTGRES_USER"],
        password=env["POSTGRES_PASSWORD"] or None,
        connect_timeout=int(env["POSTGRES_CONNECT_TIMEOUT"]),
        autocommit=True,
    )


def ensure_postgres_schema(env: Mapping[str, str]) -> None:
    """Create the schema a PostgreSQL URL names, so each tenant/test gets its own."""
    schema = env.get("POSTGRES_SCHEMA")
    if not schema:
        return
    from psycopg import sql

    with _postgres_connection(env) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))


@contextlib.contextmanager
def postgres_setup_lock(env: Mapping[str, str]) -> Iterator[None]:
    """Hold a session advisory lock named after the PostgreSQL schema (no-op otherwise)."""
    if not is_postgres(env):
        yield
        return
    name = f"referral_ledger:{env['POSTGRES_DBNAME']}:{env.get('POSTGRES_SCHEMA') or 'public'}"
    key = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)
    # Closing the connection releases the lock, even if setting up failed.
    with _postgres_connection(env) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (key,))
        yield
