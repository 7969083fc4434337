"""Reading a range of the log's rows of some topics, straight from eventsourcing's table.

For the views' catch-up (projections/log.py): rows as stored, without
eventsourcing making a `Notification` and the mapper a full event of each.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any
from uuid import UUID

from eventsourcing.application import Application

from referral_ledger.persistence.errors import retry_reads

#: (position, originator id, originator version, topic, state) of a stored event.
Row = tuple[int, Any, int, str, bytes]

#: Reads the rows after position `after` up to `stop`, at most `limit` of them.
SelectRows = Callable[[int, int, int], Sequence[Row]]


def row_selector(app: Application[UUID], topics: Sequence[str]) -> SelectRows:
    """A function reading the rows of `topics` in a range of the log."""
    from eventsourcing.postgres import PostgresAggregateRecorder
    from eventsourcing.sqlite import SQLiteAggregateRecorder

    recorder: Any = app.recorder
    if isinstance(recorder, SQLiteAggregateRecorder):
        return _sqlite_select(recorder, tuple(topics))
    if isinstance(recorder, PostgresAggregateRecorder):
        return _postgres_select(recorder, tuple(topics))

    def generic(after: int, stop: int, limit: int) -> Sequence[Row]:
        return [
            (n.id, n.originator_id, n.originator_version, n.topic, n.state)
            for n in recorder.select_notifications(
                after, limit, stop=stop, topics=topics, inclusive_of_start=False
            )
        ]

    return generic


def _sqlite_select(recorder: Any, topics: tuple[str, ...]) -> SelectRows:
    datastore = recorder.datastore
    statement = (
        "SELECT rowid, originator_id, originator_version, topic, state "
        f"FROM {recorder.events_table_name} WHERE rowid > ? AND rowid <= ? "
        f"AND topic IN ({', '.join('?' * len(topics))}) ORDER BY rowid LIMIT ?"
    )

    def select(after: int, stop: int, limit: int) -> Sequence[Row]:
        with datastore.transaction(commit=False) as cursor:
            cursor.execute(statement, (after, stop, *topics, limit))
            return [tuple(row) for row in cursor.fetchall()]

    return select


def _postgres_select(recorder: Any, topics: tuple[str, ...]) -> SelectRows:
    from psycopg.rows import tuple_row
    from psycopg.sql import SQL, Identifier

    datastore = recorder.datastore
    statement = SQL(
        "SELECT notification_id, originator_id, originator_version, topic, state "
        "FROM {schema}.{table} WHERE notification_id > %s AND notification_id <= %s "
        "AND topic = ANY(%s) ORDER BY notification_id LIMIT %s"
    ).format(schema=Identifier(datastore.schema), table=Identifier(recorder.events_table_name))
    listed = list(topics)

    @retry_reads
    def select(after: int, stop: int, limit: int) -> Sequence[Row]:
        with datastore.get_connection() as conn, conn.cursor(row_factory=tuple_row) as cursor:
            cursor.execute(statement, (after, stop, listed, limit), prepare=True)
            return [(i, o, v, t, bytes(s)) for i, o, v, t, s in cursor.fetchall()]

    return select
