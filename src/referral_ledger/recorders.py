"""eventsourcing recorders tuned for the ledger's write pattern.

A ledger transaction often holds thousands of events (a bulk import batch).
eventsourcing's SQLite application recorder inserts them with one `execute`
each, to read every row id back; one `executemany` does the same work in a
single call into SQLite, and the ids follow from the last one. The table,
its rows and the transaction are exactly eventsourcing's, so stores stay
interchangeable with it and with earlier versions of the ledger.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent, Tracking
from eventsourcing.sqlite import SQLiteCursor, SQLiteProcessRecorder


class BulkSQLiteProcessRecorder(SQLiteProcessRecorder):
    """eventsourcing's SQLite process recorder, inserting a transaction's events at once."""

    def _insert_events(
        self, c: SQLiteCursor, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        params = [
            (
                e.originator_id.hex if isinstance(e.originator_id, UUID) else e.originator_id,
                e.originator_version,
                e.topic,
                e.state,
            )
            for e in stored_events
        ]
        ids: list[int] = []
        if params:
            c.executemany(self.insert_events_statement, params)
            # This transaction holds SQLite's write lock from its first insert,
            # so its rows took consecutive row ids ending at the last one.
            c.execute("SELECT last_insert_rowid()")
            last = int(c.fetchone()[0])
            ids = list(range(last - len(params) + 1, last + 1))
        tracking: Tracking | None = kwargs.get("tracking")
        if tracking is not None:
            self._insert_tracking(c, tracking)
        return ids
