"""Read models in SQL, kept current from the log exactly once.

Views live in the same database as the events: SQLite (also the in-memory
store) or PostgreSQL, in the same schema. A catch-up reads the events after
the view's position, folds them, and in ONE transaction writes the changed
rows and moves the position with a compare-and-set. A crash before commit
leaves both as they were; a second runner that read the same position finds
it moved and writes nothing. So every event is applied exactly once, and
SQLite, which cannot push notifications, is served by the same pull loop.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Final
from uuid import UUID

import attrs
from eventsourcing.sqlite import SQLiteDatastore

from referral_ledger.aggregates.base import Event
from referral_ledger.aggregates.loyalty import PointsEarned, PointsTakenBack
from referral_ledger.aggregates.referral import ReferralStatus, ReferralSubmitted
from referral_ledger.projections import leads as fold
from referral_ledger.projections.folding import fold as fold_text
from referral_ledger.projections.folding import website_key
from referral_ledger.projections.leads import ConversionRow, HistoryRow, LeadRow
from referral_ledger.projections.log import TOPICS, LogReader, RevenueChange
from referral_ledger.store import Store
from referral_ledger.values import EXACT

VIEW_NAME: Final = "views"
#: Bump when the tables' shape or the fold changes: a ledger opened with a
#: newer version drops the views and rebuilds them from the log.
VIEW_VERSION: Final = 2
__all__ = ["TOPICS", "ViewStore"]

_STATUS_RANK: Final = {status: rank for rank, status in enumerate(ReferralStatus)}

_LEAD_COLUMNS: Final = (
    "referral_id", "referrer_id", "name", "phone", "email", "business_name", "website",
    "industry", "program", "status", "status_rank", "rep", "submitted_at", "updated_at",
    "sales_assistance", "contacted", "plan", "reward", "rewarded_at", "referred_customer_id",
    "search", "name_key", "business_key",
)  # fmt: skip

#: What `sort_by` maps to: folded keys for names (so `Đặng` sorts with D, not
#: after Z), lifecycle order for status, numbers for money.
_SORT_KEYS: Final = {
    "status": "status_rank",
    "name": "name_key",
    "business_name": "business_key",
    "reward": "CAST(reward AS NUMERIC)",
}
SORTABLE: Final = frozenset(field.name for field in attrs.fields(LeadRow))
#: The LeadRow columns that can hold NULL (their annotation admits None).
_NULLABLE: Final = frozenset(f.name for f in attrs.fields(LeadRow) if "None" in str(f.type))
#: The array type each non-text column is sent as to PostgreSQL's `unnest`.
_PG_ARRAY_TYPES: Final = {
    "status_rank": "integer[]",
    "sales_assistance": "integer[]",
    "contacted": "integer[]",
}
#: Plain indexes for the filters and the common sorts; each ends with the
#: tie-breakers, so a page in that order can be read off the index.
_LEAD_INDEXES: Final = {
    "submitted": "submitted_at, referral_id",
    "updated": "updated_at, submitted_at, referral_id",
    "status": "status_rank, submitted_at, referral_id",
    "program": "program, submitted_at, referral_id",
    "name": "name_key, submitted_at, referral_id",
    "business": "business_key, submitted_at, referral_id",
    "rep": "rep, submitted_at",
}


#: PostgreSQL leaves room in each page of the revenue table, so updating a
#: customer's revenue (every purchase) writes the new row version in the same
#: page and no index entry (a HOT update), and later reads prune the old
#: versions. Full pages (the default) make every update a new index entry and
#: leave a dead row behind, until a vacuum: a rebuild that updates each
#: customer's row many times got slower as it went (and the table 4x bigger).
_REVENUE_FILL: Final = "fillfactor = 50"
#: A catch-up that folds at least this many events refreshes PostgreSQL's
#: statistics of the view tables: a server with autovacuum off (or one that
#: has not reached them yet after a rebuild) plans the lead table's search
#: without them, measured at 12 ms instead of 5 ms over 5,000 leads.
ANALYZE_AFTER: Final = 10_000
#: Ids per `IN (...)` query: well under SQLite's 32,766 host parameters.
#: (PostgreSQL takes any number as one array: `= ANY(?)`.)
_SELECT_CHUNK: Final = 500
#: Events folded per transaction by a rebuild: few round trips and commits
#: per event, and a row that many events change (a regular customer's
#: revenue) written once per batch, not once per event. A catch-up's default
#: batch is smaller, so a query that catches up holds SQLite's write lock
#: only briefly; a rebuild holds it for a batch at a time (about a second).
REBUILD_BATCH: Final = 50_000
#: Most log positions one read of the log looks through. The read asks for
#: the view events after the position, in order, up to a batch; without a
#: bound on the range, PostgreSQL may plan it as "every view event up to the
#: end of the log, sorted" (it does when the events table has no statistics
#: yet, as after a bulk load), which makes each batch cost the size of the
#: whole remaining log and a rebuild quadratic in it.
SCAN_SPAN: Final = 100_000
#: View rows a catch-up keeps in memory from one batch to the next (see
#: `_Known`): leads (about 1.2 kB each, so up to ~60 MB) and customers'
#: revenue (about 0.2 kB each, up to ~100 MB).
CACHE_LEADS: Final = 50_000
CACHE_CUSTOMERS: Final = 500_000


class _Superseded(Exception):
    """Another runner moved the view's position first."""


def _time(value: datetime) -> str:
    # One offset and one fixed width, so text order is time order on every
    # store: `08:00+07:00` is before `02:00+00:00`, and must sort so.
    return value.astimezone(UTC).isoformat(timespec="microseconds")


class ViewStore:
    """The views' tables in the ledger's own database, and the catch-up loop."""

    def __init__(self, store: Store, *, in_memory: bool = False) -> None:
        """Views in the ledger's own database, or (`in_memory`) in a private
        in-memory SQLite database of this process that is never written to disk."""
        self.store = store
        self._log = LogReader(store)
        self._own_datastore: SQLiteDatastore | None = None
        if in_memory:
            self._own_datastore = SQLiteDatastore(
                db_name=f"file:referral-ledger-views-{uuid.uuid4().hex}?mode=memory&cache=shared"
            )
            self._datastore: Any = self._own_datastore
            self.postgres = False
        else:
            recorder: Any = store.app.recorder
            self._datastore = recorder.datastore
            self.postgres = store.is_postgres
        self._prefix = f'"{self._datastore.schema}".' if self.postgres else ""
        self._create_tables()

    def close(self) -> None:
        """Release a private in-memory database (the ledger's own is closed with it)."""
        if self._own_datastore is not None:
            self._own_datastore.close()

    # --- SQL plumbing --------------------------------------------------------

    def _sql(self, text: str) -> str:
        text = text.replace("{p}", self._prefix)
        return text.replace("?", "%s") if self.postgres else text

    @contextmanager
    def _transaction(self, *, commit: bool) -> Iterator[Any]:
        # eventsourcing's datastores give a DB-API cursor on a pooled connection
        # and commit or roll back around it (sqlite3 and psycopg alike).
        with self._datastore.transaction(commit=commit) as cursor:
            yield cursor

    def _execute(self, cursor: Any, text: str, params: tuple[Any, ...] = ()) -> list[Any]:
        cursor.execute(self._sql(text), params)
        try:
            return list(cursor.fetchall())
        except Exception:  # statements without a result set
            return []

    def _create_tables(self) -> None:
        text = 'TEXT COLLATE "C"' if self.postgres else "TEXT"
        revenue_storage = f" WITH ({_REVENUE_FILL})" if self.postgres else ""
        views = [
            "CREATE TABLE IF NOT EXISTS {p}rl_leads ("
            f"referral_id {text} PRIMARY KEY, referrer_id {text} NOT NULL, "
            f"name {text} NOT NULL, phone {text} NOT NULL, email {text}, "
            f"business_name {text}, website {text}, industry {text} NOT NULL, "
            f"program {text} NOT NULL, status {text} NOT NULL, status_rank INTEGER NOT NULL, "
            f"rep {text}, submitted_at {text} NOT NULL, updated_at {text} NOT NULL, "
            "sales_assistance INTEGER NOT NULL, contacted INTEGER NOT NULL, "
            f"plan {text}, reward {text}, rewarded_at {text}, referred_customer_id {text}, "
            f"search {text} NOT NULL, name_key {text} NOT NULL, business_key {text} NOT NULL)",
            "CREATE INDEX IF NOT EXISTS rl_leads_referrer ON {p}rl_leads (referrer_id, status)",
            *(
                f"CREATE INDEX IF NOT EXISTS rl_leads_{name} ON {{p}}rl_leads ({columns})"
                for name, columns in _LEAD_INDEXES.items()
            ),
            "CREATE TABLE IF NOT EXISTS {p}rl_revenue ("
            f"customer_id {text} PRIMARY KEY, revenue TEXT NOT NULL){revenue_storage}",
        ]
        with self._transaction(commit=True) as cursor:
            if self.postgres:
                # Two processes opening a new schema at once would race on
                # CREATE TABLE IF NOT EXISTS; the lock ends with the transaction.
                self._execute(
                    cursor,
                    "SELECT pg_advisory_xact_lock(hashtext(?)) AS locked",
                    (f"referral_ledger:views:{self._datastore.schema}",),
                )
            self._execute(
                cursor,
                "CREATE TABLE IF NOT EXISTS {p}rl_view_positions ("
                "view_name TEXT PRIMARY KEY, position BIGINT NOT NULL, version INTEGER NOT NULL)",
            )
            rows = self._execute(
                cursor, "SELECT version FROM {p}rl_view_positions WHERE view_name = ?", (VIEW_NAME,)
            )
            current = bool(rows) and rows[0]["version"] == VIEW_VERSION
            if not current:
                # Built by an older fold (or never): new tables, from position 0.
                # Events are never migrated: the views are rebuilt from them.
                self._execute(cursor, "DROP TABLE IF EXISTS {p}rl_leads")
                self._execute(cursor, "DROP TABLE IF EXISTS {p}rl_revenue")
            for statement in views:
                self._execute(cursor, statement)
            if self.postgres:
                self._create_trigram_index(cursor)
            if current:
                return
            self._execute(
                cursor,
                "INSERT INTO {p}rl_view_positions (view_name, position, version) VALUES (?, 0, ?) "
                "ON CONFLICT (view_name) DO UPDATE SET position = 0, version = excluded.version",
                (VIEW_NAME, VIEW_VERSION),
            )

    def _create_trigram_index(self, cursor: Any) -> None:
        """A GIN trigram index, so `search LIKE '%term%'` needs no full scan.

        pg_trgm is an extension: creating it may need rights the ledger's user
        lacks, or the server may not ship it. Then the search still works as
        a sequential LIKE, with the same results. The extension goes to
        `public` (not the ledger's schema): dropping one tenant's schema must
        not drop an extension other schemas' indexes depend on.
        """
        self._try(cursor, "CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public")
        found = self._execute(
            cursor,
            "SELECT extnamespace::regnamespace::text AS namespace "
            "FROM pg_extension WHERE extname = 'pg_trgm'",
        )
        if found:
            namespace = found[0]["namespace"]
            self._try(
                cursor,
                "CREATE INDEX IF NOT EXISTS rl_leads_search ON {p}rl_leads "
                f"USING gin (search {namespace}.gin_trgm_ops)",
            )

    def _try(self, cursor: Any, statement: str) -> bool:
        """Run `statement` in a savepoint; on failure undo it and go on."""
        self._execute(cursor, "SAVEPOINT rl_try")
        try:
            self._execute(cursor, statement)
        except Exception:
            self._execute(cursor, "ROLLBACK TO SAVEPOINT rl_try")
            return False
        self._execute(cursor, "RELEASE SAVEPOINT rl_try")
        return True

    # --- catching up ---------------------------------------------------------

    @property
    def position(self) -> int:
        """The log position the views reflect."""
        with self._transaction(commit=False) as cursor:
            rows = self._execute(
                cursor,
                "SELECT position FROM {p}rl_view_positions WHERE view_name = ?",
                (VIEW_NAME,),
            )
        return int(rows[0]["position"])

    def catch_up(
        self,
        batch_size: int = 1000,
        progress: Callable[[int, int], None] | None = None,
    ) -> int:
        """Fold every event recorded since the views' position; returns how many."""
        processed = 0
        known = _Known()
        while True:
            position = self.position
            known.valid_at(position)
            stop = self.store.last_position()
            if position >= stop:
                if processed >= ANALYZE_AFTER and self.postgres:
                    with self._transaction(commit=True) as cursor:
                        self._execute(cursor, "ANALYZE {p}rl_leads, {p}rl_revenue")
                return processed
            # A bounded range of positions: each read costs at most SCAN_SPAN
            # rows however it is planned (see SCAN_SPAN).
            end = min(stop, position + max(batch_size, SCAN_SPAN))
            # Read and decode before the transaction: keep the write lock short.
            events, last = self._log.read(position, end, batch_size)
            upto = last if len(events) == batch_size else end
            try:
                with self._transaction(commit=True) as cursor:
                    self._advance(cursor, position, upto)
                    records = _SqlRecords(self, cursor, known)
                    records.prefetch(events)
                    for event in events:
                        if isinstance(event, RevenueChange):
                            records.add_revenue(event.customer, event.amount)
                        else:
                            fold.apply(event, records)
                    records.flush()
            except _Superseded:
                continue
            known.committed(records, upto)
            processed += len(events)
            if progress is not None:
                progress(upto, stop)

    def _advance(self, cursor: Any, position: int, upto: int) -> None:
        # First statement of the transaction, and a write: SQLite takes the
        # write lock here, so the rows read below cannot go stale.
        moved = self._execute(
            cursor,
            "UPDATE {p}rl_view_positions SET position = ? "
            "WHERE view_name = ? AND position = ? RETURNING position",
            (upto, VIEW_NAME, position),
        )
        if not moved:
            raise _Superseded

    def rebuild(self, progress: Callable[[int, int], None] | None = None) -> int:
        """Empty the views and fold the whole log again; returns the events folded."""
        with self._transaction(commit=True) as cursor:
            # The position first: every catch-up transaction begins by writing
            # it, so one under way finishes before the tables are emptied, and
            # the next waits for this one and then finds the position moved.
            self._execute(
                cursor,
                "UPDATE {p}rl_view_positions SET position = 0 WHERE view_name = ?",
                (VIEW_NAME,),
            )
            if self.postgres:
                # No dead rows left behind for the rebuild's writes to step over.
                self._execute(cursor, "TRUNCATE {p}rl_leads, {p}rl_revenue")
                # Tables made before the setting get it too (it applies to new pages).
                self._execute(cursor, f"ALTER TABLE {{p}}rl_revenue SET ({_REVENUE_FILL})")
            else:
                self._execute(cursor, "DELETE FROM {p}rl_leads")
                self._execute(cursor, "DELETE FROM {p}rl_revenue")
        return self.catch_up(batch_size=REBUILD_BATCH, progress=progress)

    # --- queries ---------------------------------------------------------------

    def lead_table(
        self,
        *,
        status: ReferralStatus | None,
        program: str | None,
        search: str | None,
        sort_by: str,
        descending: bool,
        limit: int,
        offset: int,
    ) -> list[LeadRow]:
        where: list[str] = ["1 = 1"]
        params: list[object] = []
        if status is not None:
            where.append("status_rank = ?")  # the indexed form of the status
            params.append(_STATUS_RANK[status])
        if program is not None:
            where.append("program = ?")
            params.append(program)
        if search:
            where.append("search LIKE ? ESCAPE '\\'")
            params.append(f"%{_escape_like(search)}%")
        key = _SORT_KEYS.get(sort_by, sort_by)
        direction = "DESC" if descending else "ASC"
        # Nulls last either way, and a total order so pages never overlap.
        # The null test is on the column itself (a folded key is '' for a
        # null), and only where nulls can be: on a NOT NULL column it would
        # keep the planner from reading an index in order and stopping at LIMIT.
        terms = [f"{key} {direction}"] + [
            f"{tie} ASC" for tie in ("submitted_at", "referral_id") if tie != sort_by
        ]
        if sort_by in _NULLABLE:
            terms.insert(0, f"{sort_by} IS NULL")
        order = ", ".join(terms)
        query = (
            "SELECT * FROM {p}rl_leads WHERE " + " AND ".join(where) + f" ORDER BY {order} "
            "LIMIT ? OFFSET ?"
        )
        with self._transaction(commit=False) as cursor:
            rows = self._execute(cursor, query, (*params, limit, offset))
        return [_lead_from(row) for row in rows]

    def referral_history(self, referrer_id: UUID) -> list[HistoryRow]:
        query = (
            "SELECT l.*, r.revenue FROM {p}rl_leads l LEFT JOIN {p}rl_revenue r "
            "ON r.customer_id = l.referred_customer_id "
            "WHERE l.referrer_id = ? AND l.status = ? ORDER BY l.rewarded_at, l.referral_id"
        )
        with self._transaction(commit=False) as cursor:
            rows = self._execute(cursor, query, (referrer_id.hex, ReferralStatus.REWARDED.value))
        return [
            HistoryRow(
                referral_id=UUID(row["referral_id"]),
                referrer_id=UUID(row["referrer_id"]),
                date=datetime.fromisoformat(row["rewarded_at"]),
                plan=row["plan"],
                revenue=Decimal(row["revenue"] or 0),
                reward=Decimal(row["reward"]),
                name=row["name"],
                business_name=row["business_name"],
                referred_customer_id=_uuid(row["referred_customer_id"]),
            )
            for row in rows
        ]

    def conversion_by_rep(
        self, since: datetime | None, until: datetime | None
    ) -> list[ConversionRow]:
        where, params = ["1 = 1"], []
        if since is not None:
            where.append("submitted_at >= ?")
            params.append(_time(since))
        if until is not None:
            where.append("submitted_at < ?")
            params.append(_time(until))
        query = (
            "SELECT rep, COUNT(*) AS leads, SUM(contacted) AS contacts, "
            "SUM(CASE WHEN status = ? THEN 1 ELSE 0 END) AS customers "
            "FROM {p}rl_leads WHERE " + " AND ".join(where) + " GROUP BY rep"
        )
        with self._transaction(commit=False) as cursor:
            rows = self._execute(cursor, query, (ReferralStatus.REWARDED.value, *params))
        result = [
            fold.conversion_row(
                row["rep"], int(row["leads"]), int(row["contacts"]), int(row["customers"])
            )
            for row in rows
        ]
        return sorted(result, key=lambda r: (r.rep is None, r.rep or ""))

    def dump(self) -> dict[str, list[tuple[Any, ...]]]:
        """Every row of every view, sorted: for comparing a live view with a rebuild."""
        tables = {"leads": "rl_leads", "revenue": "rl_revenue"}
        result = {}
        with self._transaction(commit=False) as cursor:
            for name, table in tables.items():
                rows = self._execute(cursor, "SELECT * FROM {p}" + table)
                result[name] = sorted(tuple(str(v) for v in dict(row).values()) for row in rows)
        return result

    # --- records for the fold --------------------------------------------------

    def _select_lead(self, cursor: Any, referral_id: UUID) -> LeadRow | None:
        rows = self._execute(
            cursor, "SELECT * FROM {p}rl_leads WHERE referral_id = ?", (referral_id.hex,)
        )
        return _lead_from(rows[0]) if rows else None

    def _select_many(self, cursor: Any, table: str, key: str, ids: list[str]) -> Iterator[Any]:
        """The rows of `table` whose `key` is one of `ids` (hex): one query on
        PostgreSQL, a chunk of ids per query on SQLite."""
        if not ids:
            return
        if self.postgres:
            yield from self._execute(
                cursor, f"SELECT * FROM {{p}}{table} WHERE {key} = ANY(?)", (ids,)
            )
            return
        for start in range(0, len(ids), _SELECT_CHUNK):
            chunk = ids[start : start + _SELECT_CHUNK]
            marks = ", ".join("?" for _ in chunk)
            yield from self._execute(
                cursor,
                f"SELECT * FROM {{p}}{table} WHERE {key} IN ({marks})",
                tuple(chunk),
            )

    def _select_revenue(self, cursor: Any, customer: str) -> Decimal | None:
        rows = self._execute(
            cursor, "SELECT revenue FROM {p}rl_revenue WHERE customer_id = ?", (customer,)
        )
        return Decimal(rows[0]["revenue"]) if rows else None

    def _upsert_leads(self, cursor: Any, leads: list[LeadRow]) -> None:
        updates = ", ".join(f"{c} = excluded.{c}" for c in _LEAD_COLUMNS[1:])
        self._upsert(
            cursor,
            "rl_leads",
            _LEAD_COLUMNS,
            f"ON CONFLICT (referral_id) DO UPDATE SET {updates}",
            [_lead_params(lead) for lead in leads],
        )

    def _write_revenue(self, cursor: Any, revenue: dict[str, Decimal], stored: set[str]) -> None:
        """Write customers' revenue; `stored`: those whose row is known to exist.

        On PostgreSQL those rows are UPDATEd (a third cheaper per row than an
        upsert, which probes the index for a conflict first), the others
        upserted; the count of rows updated is checked, so a row believed to
        exist that did not would fail the batch, never be lost.
        """
        if not self.postgres:
            self._upsert_revenue(cursor, revenue)
            return
        existing = [(c, str(amount)) for c, amount in revenue.items() if c in stored]
        if existing:
            customers, amounts = (list(column) for column in zip(*existing, strict=True))
            cursor.execute(
                self._sql(
                    "UPDATE {p}rl_revenue AS r SET revenue = u.revenue "
                    "FROM unnest(?::text[], ?::text[]) AS u(customer_id, revenue) "
                    "WHERE r.customer_id = u.customer_id"
                ),
                (customers, amounts),
            )
            if cursor.rowcount != len(existing):
                raise RuntimeError(
                    f"updated {cursor.rowcount} revenue rows of {len(existing)} known to exist"
                )
        self._upsert_revenue(cursor, {c: a for c, a in revenue.items() if c not in stored})

    def _upsert_revenue(self, cursor: Any, revenue: dict[str, Decimal]) -> None:
        self._upsert(
            cursor,
            "rl_revenue",
            ("customer_id", "revenue"),
            "ON CONFLICT (customer_id) DO UPDATE SET revenue = excluded.revenue",
            [(customer, str(amount)) for customer, amount in revenue.items()],
        )

    def _upsert(
        self,
        cursor: Any,
        table: str,
        columns: tuple[str, ...],
        conflict: str,
        rows: list[tuple[Any, ...]],
    ) -> None:
        """Insert or update `rows` (distinct keys) in one statement on PostgreSQL,
        one prepared statement run per row on SQLite (a loop in C)."""
        if not rows:
            return
        names = ", ".join(columns)
        if self.postgres:
            # One array per column: a statement per row, even pipelined, was
            # most of a PostgreSQL catch-up's time.
            arrays = ", ".join(f"?::{_PG_ARRAY_TYPES.get(c, 'text[]')}" for c in columns)
            self._execute(
                cursor,
                f"INSERT INTO {{p}}{table} ({names}) SELECT * FROM unnest({arrays}) {conflict}",
                tuple(list(column) for column in zip(*rows, strict=True)),
            )
            return
        marks = ", ".join("?" for _ in columns)
        cursor.executemany(
            self._sql(f"INSERT INTO {{p}}{table} ({names}) VALUES ({marks}) {conflict}"), rows
        )


class _Known:
    """View rows as one catch-up committed (or read) them, so its next batches
    need not read them back.

    The rows are those of the views at `position` only: a batch may use them
    when it moves the position on from there, which its compare-and-set
    proves (the views at a committed position are always the log folded up
    to it, whoever wrote them). Anything else is forgotten.

    `complete`: these are all the views' rows. A catch-up that starts at
    position 0 starts from empty views (position 0 is only ever set with the
    tables emptied or new), so while it keeps every row it writes, a row it
    does not have does not exist and nothing is read: a rebuild reads no view
    rows at all. At most `CACHE_LEADS` leads and `CACHE_CUSTOMERS` revenues
    are kept; past that the table's rows are dropped, and the rows not kept
    are read from the tables again, a query per table per batch.
    """

    def __init__(self) -> None:
        self.position = -1
        self.complete = False
        self.leads: dict[UUID, LeadRow] = {}
        #: By customer id in hex, as the table keys them.
        self.revenue: dict[str, Decimal] = {}

    def valid_at(self, position: int) -> None:
        """The views are at `position` now: forget rows of any other."""
        if position != self.position:
            self._forget()
            self.position = position
            self.complete = position == 0

    def committed(self, records: _SqlRecords, upto: int) -> None:
        """A batch committed, moving the views to `upto`: keep its rows."""
        self.leads.update(records.leads_read_or_written())
        self.revenue.update(records.revenue_read_or_written())
        self.position = upto
        if len(self.leads) > CACHE_LEADS:
            self.leads.clear()
            self.complete = False
        if len(self.revenue) > CACHE_CUSTOMERS:
            self.revenue.clear()
            self.complete = False

    def _forget(self) -> None:
        self.leads.clear()
        self.revenue.clear()
        self.complete = False


class _SqlRecords:
    """The fold's records within one catch-up transaction: read once, written once."""

    def __init__(self, views: ViewStore, cursor: Any, known: _Known | None = None) -> None:
        self._views = views
        self._cursor = cursor
        self._known = _Known() if known is None else known
        self._leads: dict[UUID, LeadRow | None] = {}
        self._revenue: dict[str, Decimal] = {}  # by customer id in hex
        self._dirty_leads: set[UUID] = set()
        self._dirty_revenue: set[str] = set()
        #: Customers whose revenue row exists in the table (read, or known).
        self._stored_revenue: set[str] = set()

    def prefetch(self, events: list[Event | RevenueChange]) -> None:
        """Read the rows a batch of events will touch, one query per table,
        except those known already.

        Without it the fold reads a row per new referral or customer, a round
        trip each: most of a rebuild's time on PostgreSQL.
        """
        known = self._known
        if known.complete:
            return  # what is not known does not exist: nothing to read
        submitted = {e.originator_id for e in events if isinstance(e, ReferralSubmitted)}
        leads = {e.originator_id for e in events if isinstance(e, fold.LEAD_CHANGES)} - submitted
        customers = {e.customer for e in events if isinstance(e, RevenueChange)}
        customers.update(
            e.customer_id.hex for e in events if isinstance(e, PointsEarned | PointsTakenBack)
        )
        for referral_id in leads:
            self._leads[referral_id] = known.leads.get(referral_id)
        for customer in customers:
            self._revenue[customer] = known.revenue.get(customer, Decimal(0))
        self._stored_revenue.update(c for c in customers if c in known.revenue)
        unknown_leads = [i.hex for i in leads if i not in known.leads]
        unknown_customers = [i for i in customers if i not in known.revenue]
        views, cursor = self._views, self._cursor
        for row in views._select_many(cursor, "rl_leads", "referral_id", unknown_leads):
            self._leads[UUID(row["referral_id"])] = _lead_from(row)
        for row in views._select_many(cursor, "rl_revenue", "customer_id", unknown_customers):
            self._revenue[row["customer_id"]] = Decimal(row["revenue"])
            self._stored_revenue.add(row["customer_id"])

    def lead(self, referral_id: UUID) -> LeadRow | None:
        if referral_id not in self._leads:
            known = self._known
            if referral_id in known.leads or known.complete:
                self._leads[referral_id] = known.leads.get(referral_id)
            else:
                self._leads[referral_id] = self._views._select_lead(self._cursor, referral_id)
        return self._leads[referral_id]

    def put_lead(self, row: LeadRow) -> None:
        self._leads[row.referral_id] = row
        self._dirty_leads.add(row.referral_id)

    def revenue(self, customer_id: UUID) -> Decimal:
        return self._revenue_of(customer_id.hex)

    def put_revenue(self, customer_id: UUID, revenue: Decimal) -> None:
        self._revenue[customer_id.hex] = revenue
        self._dirty_revenue.add(customer_id.hex)

    def add_revenue(self, customer: str, amount: Decimal) -> None:
        """The fold of a `RevenueChange` (`fold.apply` of the event it was read from)."""
        # EXACT: the caller's decimal context (a precision of 4, say) must not round it.
        self._revenue[customer] = EXACT.add(self._revenue_of(customer), amount)
        self._dirty_revenue.add(customer)

    def _revenue_of(self, customer: str) -> Decimal:
        if customer not in self._revenue:
            known = self._known
            stored = known.revenue.get(customer)
            if stored is None and not known.complete:
                stored = self._views._select_revenue(self._cursor, customer)
            if stored is not None:
                self._stored_revenue.add(customer)
            self._revenue[customer] = Decimal(0) if stored is None else stored
        return self._revenue[customer]

    def leads_read_or_written(self) -> dict[UUID, LeadRow]:
        return {i: row for i, row in self._leads.items() if row is not None}

    def revenue_read_or_written(self) -> dict[str, Decimal]:
        return self._revenue

    def flush(self) -> None:
        leads = [self._leads[i] for i in self._dirty_leads]
        if leads:
            self._views._upsert_leads(self._cursor, [lead for lead in leads if lead is not None])
        if self._dirty_revenue:
            self._views._write_revenue(
                self._cursor,
                {c: self._revenue[c] for c in self._dirty_revenue},
                self._stored_revenue,
            )


def _escape_like(term: str) -> str:
    # A term that looks like a web address is matched as one: no scheme,
    # `www.` or trailing slash, as the leads' websites are keyed.
    looks_like_url = "://" in term or term.startswith("www.") or term.endswith("/")
    folded = website_key(term) if looks_like_url else fold_text(term)
    return folded.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _uuid(value: str | None) -> UUID | None:
    return None if value is None else UUID(value)


def _lead_params(lead: LeadRow) -> tuple[Any, ...]:
    return (
        lead.referral_id.hex,
        lead.referrer_id.hex,
        lead.name,
        lead.phone,
        lead.email,
        lead.business_name,
        lead.website,
        lead.industry,
        lead.program,
        lead.status.value,
        _STATUS_RANK[lead.status],
        lead.rep,
        _time(lead.submitted_at),
        _time(lead.updated_at),
        int(lead.sales_assistance),
        int(lead.contacted),
        lead.plan,
        None if lead.reward is None else str(lead.reward),
        None if lead.rewarded_at is None else _time(lead.rewarded_at),
        None if lead.referred_customer_id is None else lead.referred_customer_id.hex,
        lead.search,
        lead.name_key,
        lead.business_key,
    )


def _lead_from(row: Any) -> LeadRow:
    return LeadRow(
        referral_id=UUID(row["referral_id"]),
        referrer_id=UUID(row["referrer_id"]),
        name=row["name"],
        phone=row["phone"],
        email=row["email"],
        business_name=row["business_name"],
        website=row["website"],
        industry=row["industry"],
        program=row["program"],
        status=ReferralStatus(row["status"]),
        rep=row["rep"],
        submitted_at=datetime.fromisoformat(row["submitted_at"]),
        updated_at=datetime.fromisoformat(row["updated_at"]),
        sales_assistance=bool(row["sales_assistance"]),
        contacted=bool(row["contacted"]),
        plan=row["plan"],
        reward=None if row["reward"] is None else Decimal(row["reward"]),
        rewarded_at=None
        if row["rewarded_at"] is None
        else datetime.fromisoformat(row["rewarded_at"]),
        referred_customer_id=_uuid(row["referred_customer_id"]),
    )
