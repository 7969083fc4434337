"""Store URLs for tests.

Importable from tests (``from stores import ...``; pytest puts ``tests/`` on ``sys.path``)
and from subprocesses or Hypothesis state machines, which cannot use function-scoped
fixtures per example and so create/drop their own PostgreSQL schemas with
:func:`new_pg_url` / :func:`drop_pg_schema`.

This module deliberately does not import ``referral_ledger``.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import tempfile
import uuid
from collections.abc import Callable
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg
from psycopg import sql

PG_ENV_VAR = "REFERRAL_LEDGER_TEST_PG"
DEFAULT_PG_DSN = "postgresql://postgres@127.0.0.1:5432/test"

_SCHEMA_RE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def in_ci() -> bool:
    """True when the ``CI`` env var is set to something other than empty/0/false/no/off."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no", "off")


def postgres_url() -> str:
    """Base DSN of the test PostgreSQL server (no ``schema`` parameter)."""
    return os.environ.get(PG_ENV_VAR) or DEFAULT_PG_DSN


@functools.cache
def pg_available() -> tuple[bool, str]:
    """Try to connect to :func:`postgres_url`; return ``(ok, reason)``. Cached per process."""
    dsn = postgres_url()
    try:
        with psycopg.connect(dsn, connect_timeout=3) as conn:
            conn.execute("select 1")
    except Exception as exc:
        reason = " ".join(str(exc).split()) or type(exc).__name__
        return False, f"{type(exc).__name__}: {reason}"
    return True, "ok"


def pg_skip_reason() -> str:
    """Skip reason used when PostgreSQL is unreachable outside CI."""
    _, reason = pg_available()
    return (
        f"PostgreSQL not reachable at {postgres_url()} ({reason}); start it or set "
        f"{PG_ENV_VAR} to run these tests — they are mandatory in CI"
    )


def new_pg_url(prefix: str = "t_") -> str:
    """A PostgreSQL URL with a fresh, unique ``?schema=`` (the library creates the schema)."""
    schema = f"{prefix}{uuid.uuid4().hex[:12]}"
    if not _SCHEMA_RE.match(schema):
        raise ValueError(f"invalid schema name {schema!r}")
    parts = urlsplit(postgres_url())
    query = [*parse_qsl(parts.query, keep_blank_values=True), ("schema", schema)]
    return urlunsplit(parts._replace(query=urlencode(query)))


def split_pg_url(url: str) -> tuple[str, str | None]:
    """Split a ``postgresql://...?schema=NAME`` URL into ``(libpq_dsn, schema_or_None)``."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    schema = next((v for k, v in query if k == "schema"), None)
    rest = [(k, v) for k, v in query if k != "schema"]
    return urlunsplit(parts._replace(query=urlencode(rest))), schema


def drop_pg_schema(url: str) -> None:
    """``DROP SCHEMA IF EXISTS <schema> CASCADE`` for the schema named in ``url``."""
    dsn, schema = split_pg_url(url)
    if schema is None:
        raise ValueError(f"no schema= parameter in {url!r}")
    with psycopg.connect(dsn, connect_timeout=3, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


def fresh_store(kind: str) -> tuple[str, Callable[[], None]]:
    """The URL of a new, empty store of `kind` (memory, sqlite, postgres), and
    how to remove it: for state machines, which need one per example."""
    if kind == "memory":
        return f"memory://{uuid.uuid4().hex}", lambda: None
    if kind == "sqlite":
        directory = tempfile.mkdtemp(prefix="referral-ledger-")
        return f"sqlite:///{directory}/ledger.db", lambda: shutil.rmtree(directory, True)
    url = new_pg_url()
    return url, lambda: drop_pg_schema(url)
