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
- **The hash chain** (see chain.py): each event's link is a nullable
  `chain_link` column of eventsourcing's events table, written by the same
  COPY. eventsourcing names its columns when it inserts, so earlier versions
  of the ledger still write (their events are reported as unchained). The
  previous link is read under the table lock above, so no other writer can
  commit between that read and this commit, and nothing else is serialised.
  It comes back in the round trip that takes the lock: `SET LOCAL
  lock_timeout`, `LOCK TABLE`, `NOTIFY` and the read go as one simple query,
  where three were sent before, so a write makes two round trips fewer, not
  one more. It is read from a one-row head table that a statement trigger
  keeps at the newest chained event (inside the COPY: no round trip either),
  not from the newest event: after someone deletes the newest events, the head
  still names them (the audit reports the cut), and the next event links to
  the deleted one, so the cut stays visible after more writes. The links are
  computed here, in Python: an HMAC on the server would need the key there.

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
from typing import Any, Final, cast
from uuid import UUID

from eventsourcing.persistence import InterfaceError, OperationalError, StoredEvent
from eventsourcing.postgres import PostgresDatastore, PostgresFactory, PostgresProcessRecorder
from eventsourcing.utils import Environment, EnvType
from psycopg import Connection
from psycopg.rows import DictRow
from psycopg.sql import SQL, Composable, Identifier, Literal

from referral_ledger.chain import ChainHead, EventChain, StoredRow, chain_hash_of
from referral_ledger.persistence.errors import (
    CommitOutcomeUnknown,
    StoreUnavailable,
    as_store_error,
    connection_lost,
    retry_reads,
)
from referral_ledger.persistence.stamped import check_guards, command_id_of, guards_of, stamp

#: The column holding the id of the command attempt that wrote a transaction.
COMMAND_COLUMN: Final = "command_id"

#: Pooled connections checked (and dropped when dead) before giving up the check.
DEAD_CONNECTION_CHECKS: Final = 32
#: Attempts at a save whose connection failed before COMMIT was sent.
SAVE_ATTEMPTS: Final = 5
#: The column of eventsourcing's events table holding each event's link.
LINK_COLUMN: Final = "chain_link"


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
    """eventsourcing's PostgreSQL process recorder, inserting events with binary COPY,
    each with its link in the hash chain."""

    #: The store's chain (its key from the cipher key), set by `EventLog`.
    chain = EventChain()
    #: Whether links are written: False writes as before the chain existed.
    write_links = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        schema, events = self.datastore.schema, self.events_table_name
        head = f"{events}_chain_head"
        names = {
            "schema": Identifier(schema),
            "events": Identifier(events),
            "head": Identifier(head),
            "link": Identifier(LINK_COLUMN),
            "command": Identifier(COMMAND_COLUMN),
            "schema_text": Literal(schema),
            "events_text": Literal(events),
            "link_text": Literal(LINK_COLUMN),
            "command_text": Literal(COMMAND_COLUMN),
            "events_regclass": Literal(f'"{schema}"."{events}"'),
            "head_text": Literal(head),
        }
        self.copy_statement = SQL(
            "COPY {schema}.{events} (originator_id, originator_version, topic, state, {command}) "
            "FROM STDIN (FORMAT BINARY)"
        ).format(**names)
        self.copy_chained_statement = SQL(
            "COPY {schema}.{events} "
            "(originator_id, originator_version, topic, state, {command}, {link}) "
            "FROM STDIN (FORMAT BINARY)"
        ).format(**names)
        self.select_version = SQL(
            "SELECT MAX(originator_version) AS v FROM {schema}.{events} WHERE originator_id = %s"
        ).format(**names)
        self.select_recorded_after = SQL(
            "SELECT 1 AS found FROM {schema}.{events} "
            "WHERE notification_id > %s AND topic = ANY(%s) LIMIT 1"
        ).format(**names)
        self.sql_create_statements += [
            SQL(statement).format(**names)
            for statement in (
                # Catalog checks first: ALTER TABLE and CREATE TRIGGER take the
                # table's strongest lock at every open, and would queue behind
                # any long read (an audit, a rebuild) with every query behind them.
                "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM information_schema.columns "
                "WHERE table_schema = {schema_text} AND table_name = {events_text} "
                "AND column_name = {command_text}) THEN "
                "ALTER TABLE {schema}.{events} ADD COLUMN {command} uuid; END IF; END $$",
                "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM information_schema.columns "
                "WHERE table_schema = {schema_text} AND table_name = {events_text} "
                "AND column_name = {link_text}) THEN "
                "ALTER TABLE {schema}.{events} ADD COLUMN {link} bytea; END IF; END $$",
                "CREATE TABLE IF NOT EXISTS {schema}.{head} (id smallint PRIMARY KEY "
                "CHECK (id = 1), position bigint NOT NULL, link bytea)",
                # The newest event's link, unless it has none (written unchained).
                "CREATE OR REPLACE FUNCTION {schema}.{head}() RETURNS trigger "
                "LANGUAGE plpgsql AS $$ BEGIN "
                "INSERT INTO {schema}.{head} AS h (id, position, link) "
                "SELECT 1, notification_id, {link} FROM {schema}.{events} "
                "ORDER BY notification_id DESC LIMIT 1 "
                "ON CONFLICT (id) DO UPDATE SET position = EXCLUDED.position, "
                "link = EXCLUDED.link WHERE EXCLUDED.link IS NOT NULL; "
                "RETURN NULL; END $$",
                "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = "
                "{events_regclass}::regclass AND tgname = {head_text}) THEN "
                "CREATE TRIGGER {head} AFTER INSERT ON {schema}.{events} "
                "FOR EACH STATEMENT EXECUTE FUNCTION {schema}.{head}(); END IF; END $$",
            )
        ]
        self.select_command = SQL(
            "SELECT {command} FROM {schema}.{events} "
            "WHERE originator_id = %s AND originator_version = %s"
        ).format(**names)
        statements: list[Composable] = [
            *cast(list[Composable], self.lock_table_statements),
            SQL("NOTIFY {0}").format(Identifier(self.channel_name)),
            SQL("SELECT link FROM {schema}.{head} WHERE id = 1").format(**names),
        ]
        # No parameters: one simple query, so one round trip.
        self.lock_and_read_head = SQL("; ").join(statements)
        self.select_head = SQL("SELECT position, link FROM {schema}.{head} WHERE id = 1").format(
            **names
        )
        self.select_rows = SQL(
            "SELECT notification_id, originator_id, originator_version, topic, state, {link} "
            "FROM {schema}.{events} WHERE notification_id > %s AND notification_id <= %s "
            "ORDER BY notification_id LIMIT %s"
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
        if stored_events and self.write_links:
            curs.execute(self.lock_and_read_head, prepare=False)
            while curs.description is None and curs.nextset():
                pass  # to the result of the last statement, the read
            head = curs.fetchone()
            stamp(stored_events)  # under the lock: the recording time (before the links)
            self._check_guards(curs, stored_events)
            command = command_id_of(stored_events)
            previous = chain_hash_of(None if head is None else head["link"])
            links = self.chain.links(previous, stored_events)
            with curs.copy(self.copy_chained_statement) as copy:
                copy.set_types(["uuid", "int8", "text", "bytea", "uuid", "bytea"])
                for e, link in zip(stored_events, links, strict=True):
                    copy.write_row(
                        (e.originator_id, e.originator_version, e.topic, e.state, command, link)
                    )
                    command = None  # only the first row: one is proof of all
        elif stored_events:
            self._lock_table(curs)
            self._notify_channel(curs)
            stamp(stored_events)  # under the lock: the recording time
            self._check_guards(curs, stored_events)
            command = command_id_of(stored_events)
            with curs.copy(self.copy_statement) as copy:
                copy.set_types(["uuid", "int8", "text", "bytea", "uuid"])
                for e in stored_events:
                    copy.write_row(
                        (e.originator_id, e.originator_version, e.topic, e.state, command)
                    )
                    command = None  # only the first row: one is proof of all

    def _check_guards(self, curs: Any, stored_events: Sequence[StoredEvent]) -> None:
        """The reads the command rests on, checked under the table lock (stamped.py)."""
        guards = guards_of(stored_events)
        if not guards:
            return

        def version_of(record_id: UUID) -> int:
            curs.execute(self.select_version, (record_id,), prepare=True)
            return int(curs.fetchone()["v"] or 0)

        def recorded_after(position: int, topics: tuple[str, ...]) -> bool:
            curs.execute(self.select_recorded_after, (position, list(topics)), prepare=True)
            return curs.fetchone() is not None

        check_guards(guards, version_of, recorded_after)

    @retry_reads
    def command_at(self, originator_id: UUID, originator_version: int) -> UUID | None:
        """The id of the command attempt that wrote this event (None: none recorded)."""
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(self.select_command, (originator_id, originator_version), prepare=True)
            row = curs.fetchone()
        return None if row is None else row[COMMAND_COLUMN]

    # --- reading the chain, for the audit ---------------------------------------------

    def chained_rows(self, after: int, limit: int, stop: int) -> list[StoredRow]:
        """Stored events in (after, stop], oldest first, with their links (None: unchained)."""
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(self.select_rows, (after, stop, limit), prepare=True)
            rows = curs.fetchall()
        return [
            StoredRow(
                originator_id=row["originator_id"],
                originator_version=row["originator_version"],
                topic=row["topic"],
                state=bytes(row["state"]),
                position=row["notification_id"],
                link=None if row[LINK_COLUMN] is None else bytes(row[LINK_COLUMN]),
            )
            for row in rows
        ]

    def chain_orphans(self) -> list[tuple[int, bytes]]:
        # A link lives in its event's row: deleting one deletes the other.
        return []

    def chain_head(self) -> ChainHead | None:
        """The newest chained event, as the head table recorded it."""
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(self.select_head)
            row = curs.fetchone()
        if row is None or row["link"] is None:
            return None
        return ChainHead(row["position"], chain_hash_of(bytes(row["link"])))


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
