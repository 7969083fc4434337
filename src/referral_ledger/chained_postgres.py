"""The hash chain on PostgreSQL.

Each event's link is a `chain_link` column of eventsourcing's events table,
written by the same binary COPY as the event. The column is nullable and
added to existing tables, and eventsourcing names its columns when it
inserts, so earlier versions of the ledger still write (their events are
reported as unchained).

The previous link is read under the lock eventsourcing already takes to keep
notification ids in commit order (`LOCK TABLE ... IN EXCLUSIVE MODE`): no
other writer can commit between that read and this transaction's commit, and
nothing else is serialised. It comes back in the round trip that takes the
lock: `SET LOCAL lock_timeout`, `LOCK TABLE`, `NOTIFY` and the read go as
one simple query, where eventsourcing sent three, so a write makes two round
trips fewer than before, not one more.

The previous link is read from a one-row head table that a statement trigger
keeps at the newest chained event, not from the newest event itself: after
someone deletes the newest events, the head still names them (the audit
reports the cut), and the next event links to the deleted one, so the cut
stays visible after more writes. The trigger runs inside the COPY, so the
head costs no round trip either. The links are computed here, in Python,
because the HMAC key must never reach the server.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final, cast

from eventsourcing.persistence import InterfaceError, OperationalError, StoredEvent
from eventsourcing.utils import retry
from psycopg.sql import SQL, Composable, Identifier, Literal

from referral_ledger.chain import ChainHead, EventChain, StoredRow, chain_hash_of
from referral_ledger.postgres_persistence import CopyPostgresProcessRecorder

LINK_COLUMN: Final = "chain_link"


class ChainedPostgresProcessRecorder(CopyPostgresProcessRecorder):
    """The ledger's COPY process recorder, writing each event's link in its row."""

    #: Replaced by the store with the chain of its cipher key.
    chain = EventChain()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        schema = self.datastore.schema
        names = {
            "schema": Identifier(schema),
            "events": Identifier(self.events_table_name),
            "head": Identifier(f"{self.events_table_name}_chain_head"),
            "function": Identifier(f"{self.events_table_name}_chain_head"),
            "trigger": Identifier(f"{self.events_table_name}_chain_head"),
            "link": Identifier(LINK_COLUMN),
            "schema_text": Literal(schema),
            "events_text": Literal(self.events_table_name),
            "link_text": Literal(LINK_COLUMN),
            "events_regclass": Literal(f'"{schema}"."{self.events_table_name}"'),
            "trigger_text": Literal(f"{self.events_table_name}_chain_head"),
        }
        self.copy_statement = SQL(
            "COPY {schema}.{events} (originator_id, originator_version, topic, state, {link}) "
            "FROM STDIN (FORMAT BINARY)"
        ).format(**names)
        self.sql_create_statements += [
            SQL(statement).format(**names)
            for statement in (
                # Catalog checks first: ALTER TABLE and CREATE TRIGGER would take
                # the table's strongest lock at every open, and queue behind any
                # long read (an audit, a rebuild) with every other query behind them.
                "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM information_schema.columns "
                "WHERE table_schema = {schema_text} AND table_name = {events_text} "
                "AND column_name = {link_text}) THEN "
                "ALTER TABLE {schema}.{events} ADD COLUMN {link} bytea; END IF; END $$",
                "CREATE TABLE IF NOT EXISTS {schema}.{head} (id smallint PRIMARY KEY "
                "CHECK (id = 1), position bigint NOT NULL, link bytea)",
                "CREATE OR REPLACE FUNCTION {schema}.{function}() RETURNS trigger "
                "LANGUAGE plpgsql AS $$ BEGIN "
                "INSERT INTO {schema}.{head} AS h (id, position, link) "
                "SELECT 1, notification_id, {link} FROM {schema}.{events} "
                "ORDER BY notification_id DESC LIMIT 1 "
                "ON CONFLICT (id) DO UPDATE SET position = EXCLUDED.position, "
                "link = EXCLUDED.link WHERE EXCLUDED.link IS NOT NULL; "
                "RETURN NULL; END $$",
                "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = "
                "{events_regclass}::regclass AND tgname = {trigger_text}) THEN "
                "CREATE TRIGGER {trigger} AFTER INSERT ON {schema}.{events} "
                "FOR EACH STATEMENT EXECUTE FUNCTION {schema}.{function}(); END IF; END $$",
            )
        ]
        statements: list[Composable] = [
            *cast(list[Composable], self.lock_table_statements),
            SQL("NOTIFY {0}").format(Identifier(self.channel_name)),
            SQL("SELECT link FROM {schema}.{head} WHERE id = 1").format(**names),
        ]
        # One simple query (no parameters), so one round trip.
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
            if stored_events:
                curs.execute(self.lock_and_read_head, prepare=False)
                while curs.description is None and curs.nextset():
                    pass
                head = curs.fetchone()
                previous = chain_hash_of(None if head is None else head["link"])
                links = self.chain.links(previous, stored_events)
                with curs.copy(self.copy_statement) as copy:
                    copy.set_types(["uuid", "int8", "text", "bytea", "bytea"])
                    for e, link in zip(stored_events, links, strict=True):
                        copy.write_row(
                            (e.originator_id, e.originator_version, e.topic, e.state, link)
                        )
        return None

    # --- reading, for the audit -------------------------------------------------------

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
        """The newest chained event as the head table recorded it."""
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(self.select_head)
            row = curs.fetchone()
        if row is None or row["link"] is None:
            return None
        return ChainHead(row["position"], chain_hash_of(bytes(row["link"])))
