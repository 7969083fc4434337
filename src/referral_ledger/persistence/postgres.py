"""eventsourcing's PostgreSQL process recorder, writing a transaction's events with COPY.

eventsourcing 9.5 inserts events as one array of a composite type, which
psycopg builds in Python, value by value: ~35 µs of client CPU per event,
measured on this machine (2,000 events: 70 ms CPU, 170 ms wall). A binary
`COPY` of the same rows costs a fraction of that. Everything else is
eventsourcing's, in its order, in one transaction: the tracking row (which
makes reactions exactly-once), the table lock that keeps notification ids in
commit order, the NOTIFY for subscribers, then the rows. A duplicate
(originator_id, originator_version) still fails the whole transaction with
eventsourcing's `IntegrityError`, so optimistic concurrency is unchanged.

**The hash chain** (see chain.py): each event's link is a nullable
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

Only imported for PostgreSQL URLs: psycopg is an optional dependency.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final, cast

from eventsourcing.persistence import InterfaceError, OperationalError, StoredEvent
from eventsourcing.postgres import PostgresProcessRecorder
from eventsourcing.utils import retry
from psycopg.sql import SQL, Composable, Identifier, Literal

from referral_ledger.chain import ChainHead, EventChain, StoredRow, chain_hash_of

LINK_COLUMN: Final = "chain_link"


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
            "schema_text": Literal(schema),
            "events_text": Literal(events),
            "link_text": Literal(LINK_COLUMN),
            "events_regclass": Literal(f'"{schema}"."{events}"'),
            "head_text": Literal(head),
        }
        self.copy_statement = SQL(
            "COPY {schema}.{events} (originator_id, originator_version, topic, state) "
            "FROM STDIN (FORMAT BINARY)"
        ).format(**names)
        self.copy_chained_statement = SQL(
            "COPY {schema}.{events} (originator_id, originator_version, topic, state, {link}) "
            "FROM STDIN (FORMAT BINARY)"
        ).format(**names)
        self.sql_create_statements += [
            SQL(statement).format(**names)
            for statement in (
                # Catalog checks first: ALTER TABLE and CREATE TRIGGER take the
                # table's strongest lock at every open, and would queue behind
                # any long read (an audit, a rebuild) with every query behind them.
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

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        if self.datastore.enable_db_functions:  # not how the ledger configures it
            ids: Sequence[int] | None = super().insert_events(stored_events, **kwargs)
            return ids
        with self.datastore.get_connection() as conn, conn.transaction(), conn.cursor() as curs:
            # The tracking row, if any (eventsourcing's process recorder does it here).
            self._insert_events(curs, stored_events, **kwargs)
            if stored_events and self.write_links:
                curs.execute(self.lock_and_read_head, prepare=False)
                while curs.description is None and curs.nextset():
                    pass  # to the result of the last statement, the read
                head = curs.fetchone()
                previous = chain_hash_of(None if head is None else head["link"])
                links = self.chain.links(previous, stored_events)
                with curs.copy(self.copy_chained_statement) as copy:
                    copy.set_types(["uuid", "int8", "text", "bytea", "bytea"])
                    for e, link in zip(stored_events, links, strict=True):
                        copy.write_row(
                            (e.originator_id, e.originator_version, e.topic, e.state, link)
                        )
            elif stored_events:
                self._lock_table(curs)
                self._notify_channel(curs)
                with curs.copy(self.copy_statement) as copy:
                    copy.set_types(["uuid", "int8", "text", "bytea"])
                    for e in stored_events:
                        copy.write_row((e.originator_id, e.originator_version, e.topic, e.state))
        # Notification ids are not read back: nothing in the ledger uses them.
        return None

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
