"""`Ledger.open` fails only with the ledger's own errors: `InvalidInput` for a
malformed URL or value, `StoreError` for a store it cannot reach, create or
read; never ValueError, sqlite3, psycopg or eventsourcing exceptions. And
PostgreSQL schema names are checked, so no two tenants share a schema.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import psycopg
import pytest

from referral_ledger import InvalidInput, Ledger, LedgerError, StoreError
from stores import drop_pg_schema, postgres_url, split_pg_url

PASSWORD = "s3cret-pw"


def closed_port() -> int:
    """A local TCP port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.mark.parametrize(
    ("url", "named"),
    [
        (f"postgresql://u:{PASSWORD}@127.0.0.1:99999/test", "99999"),
        (f"postgresql://u:{PASSWORD}@127.0.0.1:abc/test", "abc"),
        (f"postgresql://u:{PASSWORD}@[::1/test", "[::1"),
        ("postgresql://127.0.0.1/test?connect_timeout=abc", "abc"),
        ("postgresql://127.0.0.1/test?connect_timeout=0", "connect_timeout"),
        ("postgresql://127.0.0.1/test?connect_timeout=-1", "-1"),
        ("postgresql://127.0.0.1/", "no database"),
        ("sqlite:///ledger\x00.db", "NUL"),
        ("sqlite:///", "no file"),
        ("mysql://host/db", "mysql://host/db"),
    ],
)
def test_a_malformed_url_is_invalid_input_naming_it(url: str, named: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        Ledger.open(url)
    assert named in str(raised.value)
    assert PASSWORD not in str(raised.value)


@pytest.mark.parametrize(
    "url",
    [
        f"postgresql://u:{PASSWORD}@127.0.0.1:{closed_port()}/test?connect_timeout=2",
        "postgresql://postgres@no-such-host.invalid:5432/test?connect_timeout=2",
    ],
    ids=["closed-port", "unknown-host"],
)
def test_an_unreachable_server_is_a_store_error(url: str) -> None:
    with pytest.raises(StoreError) as raised:
        Ledger.open(url)
    message = str(raised.value)
    assert "cannot open the ledger at postgresql://" in message
    assert PASSWORD not in message


@pytest.mark.postgres
def test_a_missing_database_is_a_store_error() -> None:
    dsn, _ = split_pg_url(postgres_url())
    url = dsn.rsplit("/", 1)[0] + "/no_such_database_rl?connect_timeout=2"
    with pytest.raises(StoreError, match="no_such_database_rl"):
        Ledger.open(url)


def test_a_missing_directory_is_a_store_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="does not exist"):
        Ledger.open(f"sqlite:///{tmp_path}/missing/ledger.db")
    assert not (tmp_path / "missing").exists()


def test_a_directory_for_a_file_is_a_store_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="is a directory"):
        Ledger.open(f"sqlite:///{tmp_path}")


def test_an_unwritable_place_is_a_store_error(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        # root writes through permissions; /proc takes no new files from anyone.
        url = "sqlite:////proc/referral-ledger-test.db"
    else:
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        url = f"sqlite:///{locked}/ledger.db"
    with pytest.raises(StoreError, match="cannot open the ledger at sqlite:///"):
        Ledger.open(url)


def test_every_open_failure_is_a_ledger_error(tmp_path: Path) -> None:
    """The driver errors that once escaped, all at once."""
    for url in [
        "postgresql://127.0.0.1:70000/test",
        f"postgresql://127.0.0.1:{closed_port()}/test?connect_timeout=1",
        f"sqlite:///{tmp_path}/nope/x.db",
        f"sqlite:///{tmp_path}",
    ]:
        with pytest.raises(LedgerError):
            Ledger.open(url)


# --- schema names -------------------------------------------------------------------


def schema_url(schema: str) -> str:
    return f"{postgres_url()}?schema={schema}"


@pytest.mark.parametrize(
    "schema",
    [
        "a" * 64,
        "tenant_" + "x" * 57,  # 64 bytes
        "a-b",
        "a b",
        "1tenant",
        "tenänt",
        'x"y',
        "pg_tenant",
    ],
)
def test_a_schema_name_that_is_not_a_short_plain_identifier_is_refused(schema: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        Ledger.open(schema_url(schema))
    assert repr(schema) in str(raised.value)


def test_two_long_schema_names_sharing_63_bytes_are_both_refused() -> None:
    """PostgreSQL would cut both to one schema: two tenants reading each other's data."""
    shared = "tenant_" + "x" * 56  # 63 bytes
    for schema in (shared + "_acme", shared + "_beta"):
        with pytest.raises(InvalidInput, match="at most 63 bytes"):
            Ledger.open(schema_url(schema))


@pytest.mark.postgres
def test_a_63_byte_schema_name_is_the_schema_used() -> None:
    schema = "t_" + os.urandom(4).hex() + "_" + "y" * 52  # 63 bytes
    assert 63 == len(schema)
    url = schema_url(schema)
    try:
        with Ledger.open(url) as ledger:
            ledger.register_customer(name="An", phones=["0912345678"])
        dsn, _ = split_pg_url(url)
        with psycopg.connect(dsn, autocommit=True) as conn:
            row = conn.execute(
                "SELECT count(*) FROM information_schema.tables WHERE table_schema = %s",
                (schema,),
            ).fetchone()
        assert row is not None and row[0] > 0
    finally:
        drop_pg_schema(url)
