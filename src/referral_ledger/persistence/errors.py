"""The store's failures as the ledger's own errors, and which of them may be retried.

Whatever eventsourcing or a driver (sqlite3, psycopg, psycopg_pool) raises
reaches a caller as a `StoreError` (a `LedgerError`), never as the driver's
exception. `IntegrityError` is the exception: it is how a save learns that
another writer got there first, and the unit of work handles it.
"""

from __future__ import annotations

import contextlib
import functools
import sqlite3
import time
from collections.abc import Callable, Iterator
from typing import Final, ParamSpec, TypeVar

from eventsourcing.persistence import IntegrityError, OperationalError, PersistenceError

from referral_ledger.errors import LedgerError, StoreError

#: PostgreSQL error codes of a connection that is gone: class 08 (connection
#: exception) and the server ending the session (admin or crash shutdown,
#: cannot connect now).
_CONNECTION_LOST: Final = ("08", "57P01", "57P02", "57P03")


P = ParamSpec("P")
R = TypeVar("R")

#: Attempts at a read whose connection was lost (reads change nothing: safe to repeat).
READ_ATTEMPTS: Final = 5


class StoreUnavailable(StoreError, OperationalError):
    """The store cannot be reached or is busy beyond the time the ledger waits.

    Also an eventsourcing `OperationalError`, so eventsourcing's own handling
    of one (its bounded retries of reads) still applies.
    """


class CommitOutcomeUnknown(StoreError):
    """The connection dropped while a commit was under way: it may or may not have
    been applied. Retrying blindly could apply a command twice, so it is not retried.
    """


def connection_lost(error: BaseException) -> bool:
    """Whether `error` (or what caused it) says the connection to PostgreSQL is gone.

    Such a failure before a transaction's COMMIT was sent leaves nothing
    behind on the server, so whatever was under way may safely run again.
    """
    cause: BaseException | None = error
    while cause is not None:
        module = type(cause).__module__ or ""
        if module.startswith(("psycopg", "psycopg_pool")):
            import psycopg
            import psycopg_pool

            if isinstance(cause, psycopg_pool.PoolTimeout):
                return False  # no connection for the whole connect timeout: not a blip

            if not isinstance(cause, psycopg.OperationalError | psycopg.InterfaceError):
                return False
            sqlstate = getattr(cause, "sqlstate", None)
            return sqlstate is None or sqlstate.startswith(_CONNECTION_LOST)
        cause = cause.__cause__
    return False


def as_store_error(error: BaseException, context: str) -> StoreError:
    """`error`, a driver's or eventsourcing's, as the ledger's `StoreError`."""
    reason = " ".join(str(error).split()) or type(error).__name__
    if isinstance(error, TimeoutError) or connection_lost(error):
        return StoreUnavailable(f"{context}: {reason}")
    return StoreError(f"{context}: {reason}")


def is_driver_error(error: BaseException) -> bool:
    """Whether `error` comes from the persistence layer (and is not the ledger's own)."""
    if isinstance(error, LedgerError):
        return False
    if isinstance(error, PersistenceError | sqlite3.Error | OSError | TimeoutError):
        return True
    module = type(error).__module__ or ""
    return module.startswith(("psycopg", "psycopg_pool"))


@contextlib.contextmanager
def store_errors(context: str) -> Iterator[None]:
    """Raise the persistence layer's failures inside as `StoreError`s saying `context`.

    The ledger's own errors and `IntegrityError` (a conflict, which the unit
    of work retries) pass through unchanged.
    """
    try:
        yield
    except IntegrityError:
        raise
    except Exception as error:
        if not is_driver_error(error):
            raise
        raise as_store_error(error, context) from error


def retry_reads(read: Callable[P, R]) -> Callable[P, R]:
    """Run `read` again, a bounded number of times, when its connection was lost."""

    @functools.wraps(read)
    def retried(*args: P.args, **kwargs: P.kwargs) -> R:
        for attempt in range(READ_ATTEMPTS - 1):
            try:
                return read(*args, **kwargs)
            except Exception as error:
                if not connection_lost(error):
                    raise
            time.sleep(0.05 * 2**attempt)
        return read(*args, **kwargs)

    return retried


def translated(context: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """A decorator: `store_errors(context)` around every call."""

    def decorate(function: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(function)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            with store_errors(context):
                return function(*args, **kwargs)

        return wrapper

    return decorate
