"""The views' SQL mechanics, per database: SQLite (also the in-memory store) and PostgreSQL.

Everything that differs between the two is here, behind `ViewsSQL`: the
placeholder and schema prefix, the words the tables' DDL takes, the lock
that serialises creating them, the search indexes each has, statistics,
how the tables are emptied, and how rows are read and written in bulk. The
catch-up, the tracking and the queries are written once against it; the
statements of each view are in `view_tables.py` and `directory_sql.py`.
Statements are written with `?` placeholders and `{p}` before a table name
(the schema on PostgreSQL); `sql()` turns them into the dialect's own.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any, ClassVar, Final

from referral_ledger.projections import view_tables
from referral_ledger.projections.directory_sql import (
    CUSTOMER_CONFLICT,
    CUSTOMER_FILL,
    SQLITE_CUSTOMER_SEARCH,
    escape_like,
    narrower,
)
from referral_ledger.projections.rows import CUSTOMER_COLUMNS, LEAD_COLUMNS
from referral_ledger.projections.view_tables import (
    LEAD_CONFLICT,
    REVENUE_COLUMNS,
    REVENUE_CONFLICT,
    REVENUE_FILL,
    STANDING_COLUMNS,
    STANDING_CONFLICT,
    TableWords,
)

#: The array type each non-text column is sent as to PostgreSQL's `unnest`.
_PG_ARRAY_TYPES: Final = {
    "status_rank": "integer[]",
    "sales_assistance": "integer[]",
    "contacted": "integer[]",
    "points": "bigint[]",
    "reached": "bigint[]",
    "purchase_count": "bigint[]",
    "balance": "bigint[]",
}


#: Ids per `IN (...)` query: well under SQLite's 32,766 host parameters.
#: (PostgreSQL takes any number as one array: `= ANY(?)`.)
_SELECT_CHUNK: Final = 500


class ViewsSQL(ABC):
    """A database's statements for the views, run on the datastore given."""

    #: True on PostgreSQL (the catch-up and queries do not need to know).
    postgres: ClassVar[bool]
    #: What the views' CREATE TABLE statements say in this dialect.
    _words: ClassVar[TableWords]
    #: The events table's column of log positions.
    log_position: ClassVar[str]
    #: "`search` contains the parameter", as a position (0: not found).
    _contains: ClassVar[str]
    #: Whether `customer_search` may use a search index (set at install).
    customer_index = False

    def __init__(self, datastore: Any, prefix: str) -> None:
        #: eventsourcing's datastore: a DB-API cursor on a pooled connection.
        self.datastore = datastore
        self._prefix = prefix

    @property
    def text_type(self) -> str:
        """The column type of text in this dialect (byte order on both)."""
        return self._words.text

    # --- running statements --------------------------------------------------

    def sql(self, text: str) -> str:
        """`text` in this dialect: `{p}` → schema prefix, `?` → its placeholder."""
        return text.replace("{p}", self._prefix)

    @contextmanager
    def transaction(self, *, commit: bool) -> Iterator[Any]:
        # eventsourcing's datastores give a DB-API cursor on a pooled connection
        # and commit or roll back around it (sqlite3 and psycopg alike).
        with self.datastore.transaction(commit=commit) as cursor:
            yield cursor

    def read(self, text: str, params: tuple[Any, ...] = ()) -> list[Any]:
        """The rows of one read-only statement, on a connection of its own."""
        with self.transaction(commit=False) as cursor:
            return self.execute(cursor, text, params)

    def execute(self, cursor: Any, text: str, params: tuple[Any, ...] = ()) -> list[Any]:
        """Run `text` (in `?`/`{p}` form); its rows, or [] if it has none."""
        cursor.execute(self.sql(text), params)
        try:
            return list(cursor.fetchall())
        except Exception:  # statements without a result set
            return []

    # --- the tables -----------------------------------------------------------

    def table_statements(self) -> list[str]:
        """CREATE TABLE and CREATE INDEX of the views (IF NOT EXISTS)."""
        return view_tables.table_statements(self._words)

    def customer_search(self, term: str) -> tuple[str, tuple[str, ...]]:
        """A condition on the directory for "`search` contains `term`", and
        its parameters."""
        narrow = narrower(term)
        if narrow is None:
            return "search LIKE ? ESCAPE '\\'", (f"%{escape_like(term)}%",)
        # The index finds the narrower part; the whole term is checked on
        # those rows only (`strpos`: a test no index is planned for).
        return (
            f"search LIKE ? ESCAPE '\\' AND {self._contains} > 0",
            (f"%{escape_like(narrow)}%", term),
        )

    @abstractmethod
    def lock_schema(self, cursor: Any) -> None:
        """Serialise creating the tables, up to the end of the transaction."""

    @abstractmethod
    def create_search_index(self, cursor: Any) -> None:
        """An index for `search LIKE '%term%'`, where the database has one."""

    @abstractmethod
    def empty_tables(self, cursor: Any) -> None:
        """Delete every row of the views, for a rebuild."""

    @abstractmethod
    def refresh_statistics(self) -> None:
        """After a large catch-up: let the planner see the tables' new size."""

    # --- rows in bulk ---------------------------------------------------------

    @abstractmethod
    def select_many(self, cursor: Any, table: str, key: str, ids: list[str]) -> Iterator[Any]:
        """The rows of `table` whose `key` is one of `ids` (hex)."""

    def write_leads(self, cursor: Any, rows: list[tuple[Any, ...]]) -> None:
        """Insert or update lead rows (`LEAD_COLUMNS` values, distinct keys)."""
        self._upsert(cursor, "rl_leads", LEAD_COLUMNS, LEAD_CONFLICT, rows)

    def write_customers(self, cursor: Any, rows: list[tuple[Any, ...]]) -> None:
        """Insert or update directory rows (`CUSTOMER_COLUMNS` values, distinct keys)."""
        self._upsert(cursor, "rl_customers", CUSTOMER_COLUMNS, CUSTOMER_CONFLICT, rows)

    def write_revenue(self, cursor: Any, revenue: dict[str, Decimal], stored: set[str]) -> None:
        """Write customers' revenue; `stored`: those whose row is known to exist."""
        self._upsert_revenue(cursor, revenue)

    def write_standings(self, cursor: Any, rows: list[tuple[Any, ...]]) -> None:
        """Insert or update leaderboard rows (distinct (campaign, customer) keys)."""
        self._upsert(cursor, "rl_campaign_points", STANDING_COLUMNS, STANDING_CONFLICT, rows)

    def _upsert_revenue(self, cursor: Any, revenue: dict[str, Decimal]) -> None:
        self._upsert(
            cursor,
            "rl_revenue",
            REVENUE_COLUMNS,
            REVENUE_CONFLICT,
            [(customer, str(amount)) for customer, amount in revenue.items()],
        )

    @abstractmethod
    def _upsert(
        self,
        cursor: Any,
        table: str,
        columns: tuple[str, ...],
        conflict: str,
        rows: list[tuple[Any, ...]],
    ) -> None:
        """Insert or update `rows` (distinct keys) of `table`."""


def _phrase(term: str) -> str:
    """`term` as an FTS5 phrase: the texts holding it."""
    return '"' + term.replace('"', '""') + '"'


class SQLiteViews(ViewsSQL):
    """SQLite: one writer at a time, statements run in-process."""

    postgres = False
    log_position = "rowid"
    _contains = "instr(search, ?)"
    _words = TableWords(
        text="TEXT",
        revenue_storage="",
        customer_key="row_no INTEGER PRIMARY KEY, customer_id TEXT NOT NULL UNIQUE",
        customer_storage="",
    )

    def __init__(self, datastore: Any) -> None:
        super().__init__(datastore, "")

    def lock_schema(self, cursor: Any) -> None:
        pass  # SQLite lets one transaction write at a time: nothing to race

    def create_search_index(self, cursor: Any) -> None:
        """The lead table's search is a scan of the folded text; the
        directory's (a million customers) is an FTS5 trigram index, kept in
        step by triggers. A SQLite built without FTS5 scans instead, with
        the same results."""
        try:
            for statement in SQLITE_CUSTOMER_SEARCH:
                self.execute(cursor, statement)
        except Exception:  # sqlite3.OperationalError: no such module: fts5
            self.customer_index = False
        else:
            self.customer_index = True

    def customer_search(self, term: str) -> tuple[str, tuple[str, ...]]:
        # A phrase of trigrams matches exactly the texts holding `term` (3
        # characters or more; shorter ones scan). Not `LIKE`: FTS5 checks
        # each row a LIKE finds against the text again (4x slower), and an
        # `ESCAPE` clause keeps it from using the index at all (a scan).
        if not self.customer_index or len(term) < 3:
            return super().customer_search(term)
        narrow = narrower(term)
        found = "row_no IN (SELECT rowid FROM rl_customers_fts WHERE rl_customers_fts MATCH ?)"
        if narrow is None:
            return found, (_phrase(term),)
        return f"{found} AND instr(search, ?) > 0", (_phrase(narrow), term)

    def empty_tables(self, cursor: Any) -> None:
        # The search index first: emptying it is one statement, where the
        # customers' delete trigger would take out each row's terms.
        if self.customer_index:
            self.execute(
                cursor, "INSERT INTO rl_customers_fts(rl_customers_fts) VALUES ('delete-all')"
            )
            self.execute(cursor, "DROP TRIGGER IF EXISTS rl_customers_ad")
        for table in ("rl_leads", "rl_revenue", "rl_customers"):
            self.execute(cursor, f"DELETE FROM {{p}}{table}")
        self.create_search_index(cursor)

    def refresh_statistics(self) -> None:
        pass  # the blind plans ANALYZE_AFTER is about were PostgreSQL's

    def select_many(self, cursor: Any, table: str, key: str, ids: list[str]) -> Iterator[Any]:
        """A chunk of ids per query (SQLite has a host parameter limit)."""
        for start in range(0, len(ids), _SELECT_CHUNK):
            chunk = ids[start : start + _SELECT_CHUNK]
            marks = ", ".join("?" for _ in chunk)
            yield from self.execute(
                cursor,
                f"SELECT * FROM {{p}}{table} WHERE {key} IN ({marks})",
                tuple(chunk),
            )

    def _upsert(
        self,
        cursor: Any,
        table: str,
        columns: tuple[str, ...],
        conflict: str,
        rows: list[tuple[Any, ...]],
    ) -> None:
        """One prepared statement run per row (a loop in C)."""
        if not rows:
            return
        names = ", ".join(columns)
        marks = ", ".join("?" for _ in columns)
        cursor.executemany(
            self.sql(f"INSERT INTO {{p}}{table} ({names}) VALUES ({marks}) {conflict}"), rows
        )


class PostgresViews(ViewsSQL):
    """PostgreSQL: the ledger's schema, arrays instead of one statement per row."""

    postgres = True
    log_position = "notification_id"
    _contains = "strpos(search, ?)"
    _words = TableWords(
        # Byte order: the same order as SQLite's, whatever the server's locale.
        text='TEXT COLLATE "C"',
        revenue_storage=f" WITH ({REVENUE_FILL})",
        customer_key='customer_id TEXT COLLATE "C" PRIMARY KEY',
        customer_storage=f" WITH ({CUSTOMER_FILL})",
    )

    def __init__(self, datastore: Any) -> None:
        super().__init__(datastore, f'"{datastore.schema}".')

    def sql(self, text: str) -> str:
        return super().sql(text).replace("?", "%s")

    def read(self, text: str, params: tuple[Any, ...] = ()) -> list[Any]:
        """One statement on an autocommit connection: its own snapshot, with
        no BEGIN and ROLLBACK around it (three round trips became one; a
        directory search over 1,000,000 customers was mostly round trips)."""
        with self.datastore.get_connection() as connection, connection.cursor() as cursor:
            cursor.execute(self.sql(text), params)
            return list(cursor.fetchall())

    def lock_schema(self, cursor: Any) -> None:
        # Two processes opening a new schema at once would race on
        # CREATE TABLE IF NOT EXISTS; the lock ends with the transaction.
        self.execute(
            cursor,
            "SELECT pg_advisory_xact_lock(hashtext(?)) AS locked",
            (f"referral_ledger:views:{self.datastore.schema}",),
        )

    def create_search_index(self, cursor: Any) -> None:
        """A GIN trigram index, so `search LIKE '%term%'` needs no full scan.

        pg_trgm is an extension: creating it may need rights the ledger's user
        lacks, or the server may not ship it. Then the search still works as
        a sequential LIKE, with the same results. The extension goes to
        `public` (not the ledger's schema): dropping one tenant's schema must
        not drop an extension other schemas' indexes depend on.
        """
        self._try(cursor, "CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public")
        found = self.execute(
            cursor,
            "SELECT extnamespace::regnamespace::text AS namespace "
            "FROM pg_extension WHERE extname = 'pg_trgm'",
        )
        if found:
            for statement in view_tables.pg_search_indexes(found[0]["namespace"]):
                self._try(cursor, statement)

    def _try(self, cursor: Any, statement: str) -> bool:
        """Run `statement` in a savepoint; on failure undo it and go on."""
        self.execute(cursor, "SAVEPOINT rl_try")
        try:
            self.execute(cursor, statement)
        except Exception:
            self.execute(cursor, "ROLLBACK TO SAVEPOINT rl_try")
            return False
        self.execute(cursor, "RELEASE SAVEPOINT rl_try")
        return True

    def empty_tables(self, cursor: Any) -> None:
        # No dead rows left behind for the rebuild's writes to step over.
        self.execute(
            cursor, "TRUNCATE {p}rl_leads, {p}rl_revenue, {p}rl_customers, {p}rl_campaign_points"
        )
        # Tables made before the setting get it too (it applies to new pages).
        self.execute(cursor, f"ALTER TABLE {{p}}rl_revenue SET ({REVENUE_FILL})")

    def refresh_statistics(self) -> None:
        with self.transaction(commit=True) as cursor:
            self.execute(
                cursor, "ANALYZE {p}rl_leads, {p}rl_revenue, {p}rl_customers, {p}rl_campaign_points"
            )

    def select_many(self, cursor: Any, table: str, key: str, ids: list[str]) -> Iterator[Any]:
        """One query, the ids as one array."""
        if not ids:
            return
        yield from self.execute(cursor, f"SELECT * FROM {{p}}{table} WHERE {key} = ANY(?)", (ids,))

    def write_revenue(self, cursor: Any, revenue: dict[str, Decimal], stored: set[str]) -> None:
        """The rows known to exist are UPDATEd (a third cheaper per row than
        an upsert, which probes the index for a conflict first), the others
        upserted; the count of rows updated is checked, so a row believed to
        exist that did not would fail the batch, never be lost.
        """
        existing = [(c, str(amount)) for c, amount in revenue.items() if c in stored]
        if existing:
            customers, amounts = (list(column) for column in zip(*existing, strict=True))
            cursor.execute(
                self.sql(
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

    def _upsert(
        self,
        cursor: Any,
        table: str,
        columns: tuple[str, ...],
        conflict: str,
        rows: list[tuple[Any, ...]],
    ) -> None:
        """One statement, one array per column: a statement per row, even
        pipelined, was most of a PostgreSQL catch-up's time."""
        if not rows:
            return
        names = ", ".join(columns)
        arrays = ", ".join(f"?::{_PG_ARRAY_TYPES.get(c, 'text[]')}" for c in columns)
        self.execute(
            cursor,
            f"INSERT INTO {{p}}{table} ({names}) SELECT * FROM unnest({arrays}) {conflict}",
            tuple(list(column) for column in zip(*rows, strict=True)),
        )
