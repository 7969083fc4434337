"""eventsourcing's SQLite persistence, tuned for the ledger's reads and writes,
and writing the log's hash chain.

None of these changes touches eventsourcing's tables, their rows or its
transactions, so stores stay interchangeable with eventsourcing and with
earlier versions of the ledger:

- **Prepared statements are kept.** eventsourcing 9.5 opens its connections
  with `cached_statements=True`, which `sqlite3` reads as a cache of ONE
  statement; every transaction begins with `BEGIN`, so each query is parsed
  and planned again. For the ledger's bulk read that costs ~0.35 ms per
  command (measured: 0.40 ms vs 0.06 ms for BEGIN + read + ROLLBACK on this
  machine). Our connections keep 128 statements.
- **Events are stamped under the write lock** (see persistence/stamped.py):
  eventsourcing begins its transactions with a plain `BEGIN`, which takes
  SQLite's write lock only at the first write; a write that changes nothing
  takes it first, then the events are stamped and encoded.
- **A writer waits for the write lock as long as the ledger says**
  (eventsourcing's `SQLITE_LOCK_TIMEOUT` setting, from the constant of that
  name in store/environment.py): for another process's lock (SQLite's busy
  timeout) and for another thread's of this process (the pool's writer lock,
  which eventsourcing gives up on after 5 s). Past that, or on any other
  failure of the database, the store raises `StoreUnavailable` (a
  `StoreError`), never sqlite3's or eventsourcing's own exception (save
  `IntegrityError`: a conflict, which the unit of work handles).
- **A transaction's events are inserted at once.** The application recorder
  inserts one row per `execute`, to read each row id back; one `executemany`
  does the same work in a single call into SQLite, and the ids follow from
  the last one.

**The hash chain** (see chain.py): each event's link goes into a table of
its own, `event_chain(position, link)`, keyed by the event's log position
(its rowid), in the transaction that inserts the events, after them. The
first insert takes SQLite's write lock, so the newest link read next is the
newest committed one and no writer can slip in before this one commits:
that lock is the only serialisation, and SQLite already has it. SQLite runs
in this process, so no round trip is added. The links are not a column of
`stored_events`: eventsourcing (and so earlier versions of the ledger)
inserts into it by position (`VALUES (?,?,?,?)`), which a fifth column
would break. A deleted event leaves its link behind, so the audit can name
it; a link whose position is taken again (SQLite hands a deleted newest
rowid out again) is replaced, and the chain then breaks at that position.
The in-memory store is SQLite too, and chained the same way.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator, Sequence
from typing import Any, Final
from uuid import UUID

from eventsourcing.persistence import (
    ConnectionUnavailableError,
    InterfaceError,
    OperationalError,
    StoredEvent,
    Tracking,
)
from eventsourcing.sqlite import (
    SQLITE3_DEFAULT_LOCK_TIMEOUT,
    SQLiteConnection,
    SQLiteConnectionPool,
    SQLiteCursor,
    SQLiteDatastore,
    SQLiteFactory,
    SQLiteProcessRecorder,
)
from eventsourcing.utils import Environment, EnvType

from referral_ledger.chain import ChainHead, EventChain, StoredRow, chain_hash_of
from referral_ledger.persistence.errors import StoreUnavailable
from referral_ledger.persistence.stamped import StampedEvents, check_guards

#: The links of the hash chain, by log position.
CHAIN_TABLE: Final = "event_chain"
#: Prepared statements each connection keeps (sqlite3's own default).
STATEMENT_CACHE: Final = 128


class CachingSQLiteConnectionPool(SQLiteConnectionPool):
    """eventsourcing's pool, opening connections that keep their prepared statements."""

    def _create_connection(self) -> SQLiteConnection:
        # As eventsourcing.sqlite.SQLiteConnectionPool._create_connection, but
        # for `cached_statements`.
        try:
            c = sqlite3.connect(
                database=self.db_name,
                uri=True,
                check_same_thread=False,
                isolation_level=None,  # autocommit: transactions begin explicitly
                cached_statements=STATEMENT_CACHE,
                timeout=self.lock_timeout or SQLITE3_DEFAULT_LOCK_TIMEOUT,
            )
        except (sqlite3.Error, TypeError) as e:
            raise InterfaceError(e) from e
        if not self.is_sqlite_memory_mode and not self.is_journal_mode_wal:
            cursor = c.cursor()
            cursor.execute("PRAGMA journal_mode;")
            if cursor.fetchone()[0].lower() != "wal":
                cursor.execute("PRAGMA journal_mode=WAL;")
                self.journal_mode_was_changed_to_wal = True
            self.is_journal_mode_wal = True
        c.row_factory = sqlite3.Row
        return SQLiteConnection(sqlite_conn=c, max_age=self.max_age)


class LedgerSQLiteDatastore(SQLiteDatastore):
    """eventsourcing's SQLite datastore, failing with the ledger's `StoreError`s."""

    @contextlib.contextmanager
    def get_connection(self, *, commit: bool) -> Iterator[SQLiteConnection]:
        try:
            with super().get_connection(commit=commit) as conn:
                yield conn
        except ConnectionUnavailableError as error:
            raise StoreUnavailable(
                f"the ledger is busy: another thread of this process kept writing for "
                f"more than {self.pool.pool_timeout:g} s; nothing was recorded"
            ) from error
        except (InterfaceError, OperationalError) as error:
            if isinstance(error, StoreUnavailable):
                raise
            reason = " ".join(str(error).split())
            if "locked" in reason or "busy" in reason:
                reason = (
                    f"another writer held the ledger's write lock for more than "
                    f"{self.pool.lock_timeout or SQLITE3_DEFAULT_LOCK_TIMEOUT} s ({reason})"
                )
            raise StoreUnavailable(f"cannot use the SQLite ledger: {reason}") from error


class BulkSQLiteProcessRecorder(SQLiteProcessRecorder):
    """eventsourcing's SQLite process recorder, inserting a transaction's events at
    once, each with its link in the hash chain."""

    #: The store's chain (its key from the cipher key), set by `EventLog`.
    chain = EventChain()
    #: Whether links are written: False writes as before the chain existed.
    write_links = False

    def construct_create_table_statements(self) -> list[str]:
        statements = super().construct_create_table_statements()
        statements.append(
            f"CREATE TABLE IF NOT EXISTS {CHAIN_TABLE} "
            "(position INTEGER PRIMARY KEY, link BLOB NOT NULL)"
        )
        return statements

    @property
    def take_write_lock_statement(self) -> str:
        table = self.events_table_name
        return f"INSERT INTO {table} SELECT * FROM {table} WHERE 0"

    def _insert_events(
        self, c: SQLiteCursor, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        if isinstance(stored_events, StampedEvents):
            # Inserts no row, but takes the write lock (waiting for it as any
            # write does): the events' recording time is read under it.
            c.execute(self.take_write_lock_statement)
            stored_events.stamp()
            self._check_guards(c, stored_events)
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
            # so its rows took consecutive row ids ending at the last one, and
            # the newest link is final.
            c.execute(self._last_id_and_link)
            last, newest = c.fetchone()
            ids = list(range(last - len(params) + 1, last + 1))
            if self.write_links:
                links = self.chain.links(chain_hash_of(newest), stored_events)
                c.executemany(self._insert_links, zip(ids, links, strict=True))
        tracking: Tracking | None = kwargs.get("tracking")
        if tracking is not None:
            self._insert_tracking(c, tracking)
        return ids

    def _check_guards(self, c: SQLiteCursor, stored_events: StampedEvents) -> None:
        """The reads the command rests on, checked under the write lock (stamped.py)."""
        table = self.events_table_name

        def version_of(record_id: UUID) -> int:
            c.execute(
                f"SELECT MAX(originator_version) FROM {table} WHERE originator_id = ?",
                (record_id.hex,),
            )
            return int(c.fetchone()[0] or 0)

        def recorded_after(position: int, topics: tuple[str, ...]) -> bool:
            marks = ", ".join("?" for _ in topics)
            c.execute(
                f"SELECT 1 FROM {table} WHERE rowid > ? AND topic IN ({marks}) LIMIT 1",
                (position, *topics),
            )
            return c.fetchone() is not None

        check_guards(stored_events.guards, version_of, recorded_after)

    @property
    def _last_id_and_link(self) -> str:
        if not self.write_links:
            return "SELECT last_insert_rowid(), NULL"
        return (
            "SELECT last_insert_rowid(), "
            f"(SELECT link FROM {CHAIN_TABLE} ORDER BY position DESC LIMIT 1)"
        )

    _insert_links: Final = f"INSERT OR REPLACE INTO {CHAIN_TABLE} (position, link) VALUES (?, ?)"

    # --- reading the chain, for the audit ---------------------------------------------

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
        """Links whose event is gone (deleted events), oldest first."""
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


class LedgerSQLiteFactory(SQLiteFactory):
    """eventsourcing's SQLite factory with the datastore, pool and process recorder above."""

    process_recorder_class = BulkSQLiteProcessRecorder

    def __init__(self, env: Environment | EnvType | None):
        super().__init__(env)
        pool = self.datastore.pool
        # No connection is opened before the first query, so swapping the
        # pool here leaves nothing behind. A thread waits for another's write
        # as long as for another process's (eventsourcing: 5 s).
        self.datastore.pool = CachingSQLiteConnectionPool(
            db_name=pool.db_name,
            lock_timeout=pool.lock_timeout,
            pool_timeout=pool.lock_timeout or SQLITE3_DEFAULT_LOCK_TIMEOUT,
        )
        # The subclass adds behaviour, no state: re-classed, not rebuilt.
        self.datastore.__class__ = LedgerSQLiteDatastore
