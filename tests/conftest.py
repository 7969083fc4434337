"""Shared fixtures: store URLs for memory, SQLite and PostgreSQL, plus Hypothesis profiles.

PostgreSQL policy: in CI (``CI`` set) an unreachable server aborts the whole session at
start; locally, tests that need PostgreSQL (``postgres`` marker or the postgres store
params) are skipped with an explanation.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from referral_ledger import Ledger
from stores import (
    drop_pg_schema,
    in_ci,
    new_pg_url,
    pg_available,
    pg_skip_reason,
    postgres_url,
)
from support import DEFAULT_START, Clock

# --- Hypothesis profiles ---------------------------------------------------------------

_SUPPRESS = [HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
settings.register_profile("ci", max_examples=50, deadline=None, suppress_health_check=_SUPPRESS)
settings.register_profile("dev", max_examples=25, deadline=None, suppress_health_check=_SUPPRESS)
# `make mutate`: the same examples on every run, so a mutant's verdict does not depend on
# which examples one run happened to draw; fewer and shorter than "dev", because each
# mutant runs every test that covers its function (the state machines cover most).
settings.register_profile(
    "mutate",
    max_examples=10,
    stateful_step_count=30,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=_SUPPRESS,
)
settings.register_profile("long", max_examples=500, deadline=None, suppress_health_check=_SUPPRESS)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if in_ci() else "dev"))


# --- PostgreSQL availability -----------------------------------------------------------


def pytest_sessionstart(session: pytest.Session) -> None:
    if not in_ci():
        return
    ok, reason = pg_available()
    if not ok:
        pytest.exit(
            f"CI is set but PostgreSQL is not reachable at {postgres_url()} ({reason}). "
            "PostgreSQL tests are mandatory in CI: start the server or point "
            "REFERRAL_LEDGER_TEST_PG at one.",
            returncode=3,
        )


def pytest_report_header(config: pytest.Config) -> str:
    ok, reason = pg_available()
    return f"postgres: {postgres_url()} -> {'reachable' if ok else reason}; CI={in_ci()}"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if pg_available()[0]:
        return
    skip = pytest.mark.skip(reason=pg_skip_reason())
    for item in items:
        if item.get_closest_marker("postgres") is not None:
            item.add_marker(skip)


def _require_pg() -> None:
    if not pg_available()[0]:
        if in_ci():  # unreachable: sessionstart already aborted, but never skip in CI
            pytest.fail(pg_skip_reason(), pytrace=False)
        pytest.skip(pg_skip_reason())


def _pg_url() -> Iterator[str]:
    _require_pg()
    url = new_pg_url()
    try:
        yield url
    finally:
        drop_pg_schema(url)


# --- Store URL fixtures ----------------------------------------------------------------


@pytest.fixture(
    params=[
        pytest.param("memory", id="memory"),
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
    ]
)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty store URL for each backend."""
    kind: str = request.param
    if kind == "memory":
        yield "memory://"
    elif kind == "sqlite":
        yield f"sqlite:///{tmp_path}/ledger.db"
    elif kind == "postgres":
        yield from _pg_url()
    else:  # pragma: no cover
        raise AssertionError(kind)


@pytest.fixture
def fresh_pg_url() -> Iterator[str]:
    """A PostgreSQL URL with a new unique schema, dropped (CASCADE) after the test."""
    yield from _pg_url()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A SQLite URL for a new database file in the test's tmp_path."""
    return f"sqlite:///{tmp_path}/ledger.db"


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
    ]
)
def shared_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh store that several processes (or `Ledger`s) can open at once.

    A SQLite file or a PostgreSQL schema (memory stores are per opening). Its
    tables are made first, so the tests' openers do not race to create them.
    """
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/ledger.db"
        Ledger.open(url).close()
        yield url
    else:
        for url in _pg_url():
            Ledger.open(url).close()
            yield url


@pytest.fixture
def clock(request: pytest.FixtureRequest) -> Clock:
    """A fake clock starting at the test module's `START` (or the default)."""
    return Clock(getattr(request.module, "START", DEFAULT_START))


@pytest.fixture
def ledger(store_url: str, clock: Clock) -> Iterator[Ledger]:
    """An empty ledger on each store, recording by the fake clock."""
    with Ledger.open(store_url, clock=clock) as opened:
        yield opened
