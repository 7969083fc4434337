"""Reading the rows of many records in one statement, from eventsourcing's own tables.

`Store.load_many` uses it to load the records of a bulk command (an import,
a batch of purchases) in one query per chunk instead of two per record.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.persistence import StoredEvent

from referral_ledger.persistence.connect import is_postgres
from referral_ledger.persistence.errors import retry_reads


class BulkReader:
    """Reads the rows of many records in one statement, from eventsourcing's own tables.

    Each record comes with the version this process already holds it at (0:
    not held). For a held record the statement returns the events after that
    version; for the others, the latest snapshot (flag 0) and the events after
    it (flag 1). Rows come snapshots first, then events oldest first; being
    one statement, it sees one consistent state of the store, so no snapshot
    written meanwhile can open a gap between a snapshot and its events.
    """

    def select(self, versions: Sequence[tuple[UUID, int]]) -> list[tuple[bool, StoredEvent]]:
        raise NotImplementedError


class _SQLiteBulkReader(BulkReader):
    def __init__(self, app: Application[UUID]) -> None:
        from eventsourcing.sqlite import SQLiteAggregateRecorder

        recorder = cast(SQLiteAggregateRecorder, app.recorder)
        self.datastore = recorder.datastore
        self.events = recorder.events_table_name
        self.snapshots = ""
        if app.snapshots is not None:
            self.snapshots = cast(SQLiteAggregateRecorder, app.snapshots.recorder).events_table_name
        self.statements: dict[int, str] = {}

    def statement(self, count: int) -> str:
        if count not in self.statements:
            # The wanted (id, version) pairs drive the joins, so each one
            # probes the (originator_id, originator_version) primary keys.
            wanted = "WITH w(id, after) AS (VALUES " + ",".join(["(?,?)"] * count) + ")"
            if not self.snapshots:
                self.statements[count] = (
                    f"{wanted} SELECT 1, e.originator_id, e.originator_version, e.topic, "
                    f"e.state FROM w JOIN {self.events} e ON e.originator_id = w.id "
                    "AND e.originator_version > w.after ORDER BY 1, 2, 3"
                )
            else:
                # SQLite gives the bare columns of the row that holds the MAX().
                self.statements[count] = (
                    f"{wanted}, s AS (SELECT originator_id, MAX(originator_version) AS "
                    f"originator_version, topic, state FROM {self.snapshots} "
                    "WHERE originator_id IN (SELECT id FROM w WHERE after = 0) "
                    "GROUP BY originator_id) "
                    "SELECT 0, originator_id, originator_version, topic, state FROM s "
                    "UNION ALL "
                    "SELECT 1, e.originator_id, e.originator_version, e.topic, e.state "
                    "FROM w LEFT JOIN s ON s.originator_id = w.id "
                    f"JOIN {self.events} e ON e.originator_id = w.id "
                    "AND e.originator_version > MAX(w.after, COALESCE(s.originator_version, 0)) "
                    "ORDER BY 1, 2, 3"
                )
        return self.statements[count]

    def select(self, versions: Sequence[tuple[UUID, int]]) -> list[tuple[bool, StoredEvent]]:
        params = [p for i, version in versions for p in (i.hex, version)]
        with self.datastore.transaction(commit=False) as cursor:
            cursor.execute(self.statement(len(versions)), params)
            rows = cursor.fetchall()
        return [
            (
                bool(row[0]),
                StoredEvent(
                    originator_id=UUID(row[1]),
                    originator_version=row[2],
                    topic=row[3],
                    state=row[4],
                ),
            )
            for row in rows
        ]


class _PostgresBulkReader(BulkReader):
    def __init__(self, app: Application[UUID]) -> None:
        from eventsourcing.postgres import PostgresAggregateRecorder
        from psycopg.sql import SQL, Identifier

        recorder = cast(PostgresAggregateRecorder, app.recorder)
        self.datastore = recorder.datastore
        schema = Identifier(self.datastore.schema)
        events = Identifier(recorder.events_table_name)
        # LATERAL subqueries (OFFSET 0 keeps the planner from flattening them)
        # make PostgreSQL probe the primary keys once per wanted record; a
        # plain join plans a hash join that scans the whole events table, so
        # each read would grow with the log.
        wanted = "WITH w AS (SELECT * FROM unnest(%s::uuid[], %s::bigint[]) AS w(id, after))"
        self.statement: Any = SQL(
            wanted + " SELECT 1 AS flag, w.id AS originator_id, e.originator_version, e.topic, "
            "e.state FROM w CROSS JOIN LATERAL (SELECT originator_version, topic, state "
            "FROM {schema}.{events} WHERE originator_id = w.id "
            "AND originator_version > w.after OFFSET 0) e ORDER BY 1, 2, 3"
        ).format(schema=schema, events=events)
        if app.snapshots is not None:
            snapshots = cast(PostgresAggregateRecorder, app.snapshots.recorder)
            self.statement = SQL(
                wanted + ", s AS (SELECT w.id AS originator_id, n.originator_version, n.topic, "
                "n.state FROM w CROSS JOIN LATERAL (SELECT originator_version, topic, state "
                "FROM {schema}.{snapshots} WHERE originator_id = w.id "
                "ORDER BY originator_version DESC LIMIT 1) n WHERE w.after = 0) "
                "SELECT 0 AS flag, originator_id, originator_version, topic, state FROM s "
                "UNION ALL "
                "SELECT 1, w.id, e.originator_version, e.topic, e.state "
                "FROM w LEFT JOIN s ON s.originator_id = w.id "
                "CROSS JOIN LATERAL (SELECT originator_version, topic, state "
                "FROM {schema}.{events} WHERE originator_id = w.id AND originator_version > "
                "GREATEST(w.after, COALESCE(s.originator_version, 0)) OFFSET 0) e "
                "ORDER BY 1, 2, 3"
            ).format(
                schema=schema, events=events, snapshots=Identifier(snapshots.events_table_name)
            )

    @retry_reads
    def select(self, versions: Sequence[tuple[UUID, int]]) -> list[tuple[bool, StoredEvent]]:
        params = ([i for i, _ in versions], [v for _, v in versions])
        with self.datastore.get_connection() as conn, conn.cursor() as cursor:
            cursor.execute(self.statement, params, prepare=True)
            rows = cursor.fetchall()
        return [
            (
                bool(row["flag"]),
                StoredEvent(
                    originator_id=row["originator_id"],
                    originator_version=row["originator_version"],
                    topic=row["topic"],
                    state=bytes(row["state"]),
                ),
            )
            for row in rows
        ]


def bulk_reader(app: Application[UUID]) -> BulkReader | None:
    """A bulk reader for the app's store (None: an unknown store, load one by one)."""
    from eventsourcing.sqlite import SQLiteAggregateRecorder

    if isinstance(app.recorder, SQLiteAggregateRecorder):
        return _SQLiteBulkReader(app)
    if is_postgres(app.env):
        return _PostgresBulkReader(app)
    return None
