"""The hash chain on SQLite (and the in-memory store, a shared-cache SQLite).

Links live in their own table, `event_chain(position, link)`, one row per
event, keyed by the event's log position (its rowid). eventsourcing's
`stored_events` table is left exactly as it was: SQLite inserts into it by
position (`VALUES (?,?,?,?)`), so an added column would lock out earlier
versions of the ledger and eventsourcing itself.

The links are written in the transaction that inserts the events, after
them: the first insert takes SQLite's write lock, so the newest link read
next is the newest committed one, and no other writer can slip in between.
That lock is the only serialisation, and SQLite already has it. No round
trip is added: SQLite runs in this process.

A deleted event leaves its link behind, so the audit can name it; a link
whose position is taken again (SQLite reuses the rowid of a deleted newest
row) is replaced, and the chain then breaks at that position instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from eventsourcing.sqlite import SQLiteCursor

from referral_ledger.chain import ChainHead, EventChain, StoredRow, chain_hash_of
from referral_ledger.sqlite_persistence import BulkSQLiteProcessRecorder, LedgerSQLiteFactory

CHAIN_TABLE: Final = "event_chain"


class ChainedSQLiteProcessRecorder(BulkSQLiteProcessRecorder):
    """The ledger's SQLite process recorder, writing each event's link with it."""

    #: Replaced by the store with the chain of its cipher key.
    chain = EventChain()

    def construct_create_table_statements(self) -> list[str]:
        statements = super().construct_create_table_statements()
        statements.append(
            f"CREATE TABLE IF NOT EXISTS {CHAIN_TABLE} "
            "(position INTEGER PRIMARY KEY, link BLOB NOT NULL)"
        )
        return statements

    def _insert_events(
        self, c: SQLiteCursor, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        ids = super()._insert_events(c, stored_events, **kwargs)
        if ids:
            # Under the write lock the events' insert took: the newest link is final.
            c.execute(f"SELECT link FROM {CHAIN_TABLE} ORDER BY position DESC LIMIT 1")
            newest = c.fetchone()
            links = self.chain.links(chain_hash_of(newest and newest[0]), stored_events)
            c.executemany(
                f"INSERT OR REPLACE INTO {CHAIN_TABLE} (position, link) VALUES (?, ?)",
                zip(ids, links, strict=True),
            )
        return ids

    # --- reading, for the audit -------------------------------------------------------

    def chained_rows(self, after: int, limit: int, stop: int) -> list[StoredRow]:
        """Stored events in (after, stop], oldest first, with their links (None: unchained)."""
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                "SELECT e.rowid, e.originator_id, e.originator_version, e.topic, e.state, "
                f"c.link FROM {self.events_table_name} e LEFT JOIN {CHAIN_TABLE} c "
                "ON c.position = e.rowid WHERE e.rowid > ? AND e.rowid <= ? "
                "ORDER BY e.rowid LIMIT ?",
                (after, stop, limit),
            )
            rows = c.fetchall()
        return [
            StoredRow(
                originator_id=UUID(row[1]),
                originator_version=row[2],
                topic=row[3],
                state=bytes(row[4]),
                position=row[0],
                link=None if row[5] is None else bytes(row[5]),
            )
            for row in rows
        ]

    def chain_orphans(self) -> list[tuple[int, bytes]]:
        """Links whose event is gone: deleted events, oldest first."""
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                f"SELECT position, link FROM {CHAIN_TABLE} WHERE NOT EXISTS "
                f"(SELECT 1 FROM {self.events_table_name} e WHERE e.rowid = position) "
                "ORDER BY position"
            )
            return [(int(row[0]), bytes(row[1])) for row in c.fetchall()]

    def chain_head(self) -> ChainHead | None:
        # The links table is its own record of the head: a deleted event's
        # link stays (see `chain_orphans`).
        return None


class ChainedSQLiteFactory(LedgerSQLiteFactory):
    """The ledger's SQLite factory, with the chained process recorder."""

    process_recorder_class = ChainedSQLiteProcessRecorder


#: The recorders as they were before the chain, by the topics that choose them.
_UNCHAINED: Final = {
    "PERSISTENCE_MODULE": "referral_ledger.sqlite_persistence:LedgerSQLiteFactory",
    "PROCESS_RECORDER_TOPIC": "referral_ledger.postgres_persistence:CopyPostgresProcessRecorder",
}


def without_chain(env: dict[str, str]) -> dict[str, str]:
    """The settings `env` with the recorders of before the chain: for the benchmark
    (the chain's cost) and for tests (a store written before the chain existed)."""
    changed = dict(env)
    if changed.get("PERSISTENCE_MODULE") == "eventsourcing.postgres":
        changed["PROCESS_RECORDER_TOPIC"] = _UNCHAINED["PROCESS_RECORDER_TOPIC"]
    else:
        changed["PERSISTENCE_MODULE"] = _UNCHAINED["PERSISTENCE_MODULE"]
    return changed
