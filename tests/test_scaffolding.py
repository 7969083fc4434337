"""Checks for the test scaffolding itself (does not import referral_ledger)."""

from __future__ import annotations

import psycopg
import pytest

from stores import drop_pg_schema, new_pg_url, split_pg_url


def test_postgres_reachable_or_skipped(fresh_pg_url: str) -> None:
    dsn, schema = split_pg_url(fresh_pg_url)
    assert schema is not None and schema.startswith("t_")
    with psycopg.connect(dsn, connect_timeout=3) as conn:
        row = conn.execute("select 1").fetchone()
    assert row == (1,)


@pytest.mark.postgres
def test_new_pg_url_schema_roundtrip() -> None:
    url = new_pg_url()
    dsn, schema = split_pg_url(url)
    assert schema is not None
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    drop_pg_schema(url)
    with psycopg.connect(dsn) as conn:
        row = conn.execute(
            "select count(*) from information_schema.schemata where schema_name = %s", (schema,)
        ).fetchone()
    assert row == (0,)


def test_store_url_shapes(store_url: str) -> None:
    assert store_url.startswith(("memory://", "sqlite:///", "postgresql://"))
