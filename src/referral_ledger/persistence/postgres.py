"""eventsourcing's PostgreSQL persistence, adapted to the ledger.

- **Events are written with COPY.** eventsourcing 9.5 inserts events as one
  array of a composite type, which psycopg builds in Python, value by value:
  ~35 µs of client CPU per event, measured on this machine (2,000 events:
  70 ms CPU, 170 ms wall). A binary `COPY` of the same rows costs a fraction
  of that. Everything else is eventsourcing's, in its order, in one
  transaction: the tracking row (which makes reactions exactly-once), the
  table lock that keeps notification ids in commit order, the NOTIFY for
  subscribers, then the rows. A duplicate (originator_id, originator_version)
  still fails the whole transaction with eventsourcing's `IntegrityError`, so
  optimistic concurrency is unchanged.
- **A dropped connection is survived.** A pooled connection whose server
  session ended (restart, failover, `pg_terminate_backend`) is noticed
  without a round trip and replaced before use. A save is retried (a few
  times) only when it failed before its COMMIT was sent (the server then
  rolled the transaction back); when the connection dropped during the
  COMMIT, the outcome is unknown and `CommitOutcomeUnknown` is raised: the
  unit of work repeats the write itself and tells its own earlier commit by
  its command id (below).
- Every failure of the connection surfaces as `StoreUnavailable`, a
  `StoreError` that eventsourcing still treats as its `OperationalError`.

Two more (persistence/stamped.py and store/saving.py say why):

- The events are stamped and encoded after the table lock is taken.
- The transaction's first event carries the id of the command attempt that
  wrote it, in a `command_id` column (uuid, NULL on the other rows: a NULL
  costs nothing in a PostgreSQL row). The column is nullable and added to
  existing tables; eventsourcing and earlier versions of the ledger name the
  columns they insert, so they still write, and read it as nothing. After a
  lost acknowledgement, `command_at` reads it back by primary key.

Only imported for PostgreSQL URLs: psycopg is an optional dependency.
"""

from __future__ import annotations

import contextlib
import select
import time
from collections.abc import Iterator, Sequence
from typing import Any, Final
from uuid import UUID

from eventsourcing.persistence import InterfaceError, OperationalError, StoredEvent
from eventsourcing.postgres import PostgresDatastore, PostgresFactory, PostgresProcessRecorder
from eventsourcing.utils import Environment, EnvType
from psycopg import Connection
from psycopg.rows import DictRow
from psycopg.sql import SQL, Identifier, Literal

from referral_ledger.persistence.errors import (
    CommitOutcomeUnknown,
    StoreUnavailable,
    as_store_error,
    connection_lost,
    retry_reads,
)
from referral_ledger.persistence.stamped import command_id_of, stamp

#: The column holding the id of the command attempt that wrote a transaction.
COMMAND_COLUMN: Final = "command_id"

#: Pooled connections checked (and dropped when dead) before giving up the check.
DEAD_CONNECTION_CHECKS: Final = 32
#: Attempts at a save whose connection failed before COMMIT was sent.
SAVE_ATTEMPTS: Final = 5


def _is_dead(conn: Connection[Any]) -> bool:
    """Whether a pooled, idle connection's server session has ended.

    An idle session has nothing to say; a readable socket means the server
    sent its goodbye (FATAL: terminating connection) or closed it.
    """
    if conn.closed or conn.broken:
        return True
    try:
        readable, _, _ = select.select([conn.fileno()], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)


class LedgerPostgresDatastore(PostgresDatastore):
    """eventsourcing's datastore, handing out only live connections, failing as `StoreError`."""

    @contextlib.contextmanager
    def get_connection(self) -> Iterator[Connection[DictRow]]:
        try:
            for _ in range(DEAD_CONNECTION_CHECKS):
                with super().get_connection() as conn:
                    if _is_dead(conn):
                        # The pool drops a closed connection when it comes back.
                        conn.close()
                        continue
                    yield conn
                    return
            with super().get_connection() as conn:
                yield conn
        except (InterfaceError, OperationalError) as error:
            if isinstance(error, StoreUnavailable):
                raise
            raise StoreUnavailable(
                f"cannot reach PostgreSQL: {' '.join(str(error).split())}"
            ) from error


class CopyPostgresProcessRecorder(PostgresProcessRecorder):
    """eventsourcing's PostgreSQL process recorder, inserting events with binary COPY."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        names = {
            "schema": Identifier(self.datastore.schema),
            "table": Identifier(self.events_table_name),
            "command": Identifier(COMMAND_COLUMN),
            "schema_text": Literal(self.datastore.schema),
            "table_text": Literal(self.events_table_name),
            "command_text": Literal(COMMAND_COLUMN),
        }
        self.copy_statement = SQL(
            "COPY {schema}.{table} (originator_id, originator_version, topic, state, {command}) "
            "FROM STDIN (FORMAT BINARY)"
        ).format(**names)
        # The catalog is checked first: ALTER TABLE would take the table's
        # strongest lock at every open, queueing behind any long read.
        self.sql_create_statements.append(
            SQL(
                "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM information_schema.columns "
                "WHERE table_schema = {schema_text} AND table_name = {table_text} "
                "AND column_name = {command_text}) THEN "
                "ALTER TABLE {schema}.{table} ADD COLUMN {command} uuid; END IF; END $$"
            ).format(**names)
        )
        self.select_command = SQL(
            "SELECT {command} FROM {schema}.{table} "
            "WHERE originator_id = %s AND originator_version = %s"
        ).format(**names)

    # Not eventsourcing's @retry: it retries whatever failed, also a COMMIT
    # that the server may have applied, which would save the events twice.
    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        if self.datastore.enable_db_functions:  # not how the ledger configures it
            ids: Sequence[int] | None = super().insert_events(stored_events, **kwargs)
            return ids
        for attempt in range(SAVE_ATTEMPTS):
            committing = False
            try:
                with (
                    self.datastore.get_connection() as conn,
                    conn.transaction(),
                    conn.cursor() as curs,
                ):
                    self._write(curs, stored_events, **kwargs)
                    # Leaving the block sends COMMIT: from here, a lost
                    # connection leaves the outcome unknown.
                    committing = True
                # Notification ids are not read back: nothing in the ledger uses them.
                return None
            except (InterfaceError, OperationalError) as error:
                if committing and connection_lost(error):
                    # The unit of work repeats the write and tells its own
                    # earlier commit by its command id (store/saving.py).
                    raise CommitOutcomeUnknown(
                        "the connection to PostgreSQL dropped while the command was "
                        "being committed: it may or may not have been recorded; check "
                        f"before repeating it ({' '.join(str(error).split())})"
                    ) from error
                # The connection dropped before COMMIT: the server rolled the
                # transaction back, so saving again cannot save twice.
                if committing or not connection_lost(error) or attempt + 1 == SAVE_ATTEMPTS:
                    raise as_store_error(error, "cannot save to PostgreSQL") from error
                time.sleep(0.05 * 2**attempt)
        raise AssertionError("unreachable")  # pragma: no cover

    def _write(self, curs: Any, stored_events: Sequence[StoredEvent], **kwargs: Any) -> None:
        # The tracking row, if any (eventsourcing's process recorder does it here).
        self._insert_events(curs, stored_events, **kwargs)
        if stored_events:
            self._lock_table(curs)
            self._notify_channel(curs)
            stamp(stored_events)  # under the lock: the recording time
            command = command_id_of(stored_events)
            with curs.copy(self.copy_statement) as copy:
                copy.set_types(["uuid", "int8", "text", "bytea", "uuid"])
                for e in stored_events:
                    copy.write_row(
                        (e.originator_id, e.originator_version, e.topic, e.state, command)
                    )
                    command = None  # only the first row: one is proof of all

    @retry_reads
    def command_at(self, originator_id: UUID, originator_version: int) -> UUID | None:
        """The id of the command attempt that wrote this event (None: none recorded)."""
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(self.select_command, (originator_id, originator_version), prepare=True)
            row = curs.fetchone()
        return None if row is None else row[COMMAND_COLUMN]


class LedgerPostgresFactory(PostgresFactory):
    """eventsourcing's PostgreSQL factory with the datastore and process recorder above."""

    process_recorder_class = CopyPostgresProcessRecorder

    def __init__(self, env: Environment | EnvType | None):
        super().__init__(env)
        # eventsourcing builds its datastore from ~15 settings; the subclass
        # adds behaviour and no state, so the object is kept and re-classed
        # rather than built again from the same settings. Its pool opens on
        # first use, so nothing was connected yet.
        self.datastore.__class__ = LedgerPostgresDatastore
