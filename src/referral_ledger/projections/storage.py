"""Read models in SQL, kept current from the log exactly once.

Views live in the same database as the events: SQLite (also the in-memory
store) or PostgreSQL, in the same schema. `ViewStore` puts together the
parts, each in a module of its own:

- `leads`: the lead table's rows and the pure fold of events into them;
- `leaderboard`: the campaigns' race rows, folded from the campaign records;
- `directory`: the customer directory's rows and fold (`directory_queries`
  answers its questions);
- `rows`: those rows as SQL columns and values;
- `dialects`: every statement that differs between SQLite and PostgreSQL;
- `tracking`: the views' log position and version (exactly once);
- `catchup` and `records`: folding new events into the tables, and rebuilding;
- `queries`: the questions the tables answer;
- `log`: reading the views' events from the log.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any, Final
from uuid import UUID

from eventsourcing.sqlite import SQLiteDatastore

from referral_ledger.aggregates.referral import ReferralStatus
from referral_ledger.projections import catchup, directory_queries, queries, tracking
from referral_ledger.projections.dialects import PostgresViews, SQLiteViews, ViewsSQL
from referral_ledger.projections.directory import CustomerRow
from referral_ledger.projections.directory_queries import CustomerFilter
from referral_ledger.projections.leads import ConversionRow, HistoryRow, LeadRow
from referral_ledger.projections.log import TOPICS, LogReader
from referral_ledger.projections.queries import SORTABLE
from referral_ledger.store import Store
from referral_ledger.values import DEFAULT_REGION

#: Bump when the tables' shape or the fold changes: a ledger opened with a
#: newer version drops the views and rebuilds them from the log.
VIEW_VERSION: Final = 5
__all__ = ["SORTABLE", "TOPICS", "ViewStore"]


class _GaveWay(Exception):
    """The background catch-up stops between two batches: a query waits to fold."""


class ViewStore:
    """The views' tables in the ledger's own database, and the catch-up loop."""

    def __init__(self, store: Store, *, in_memory: bool = False) -> None:
        """Views in the ledger's own database, or (`in_memory`) in a private
        in-memory SQLite database of this process that is never written to disk."""
        self.store = store
        self._log = LogReader(store)
        self._own_datastore: SQLiteDatastore | None = None
        self.sql: ViewsSQL
        if in_memory:
            self._own_datastore = SQLiteDatastore(
                db_name=f"file:referral-ledger-views-{uuid.uuid4().hex}?mode=memory&cache=shared"
            )
            self.sql = SQLiteViews(self._own_datastore)
        else:
            recorder: Any = store.app.recorder
            datastore = recorder.datastore
            self.sql = PostgresViews(datastore) if store.is_postgres else SQLiteViews(datastore)
        tracking.install(self.sql, VIEW_VERSION)
        #: The events table, when the views share its database (None: they do not).
        self._events_table: str | None = (
            None if in_memory else store.app.recorder.events_table_name  # type: ignore[attr-defined]
        )
        #: Held by whoever of this process folds: a query, a rebuild, or the
        #: background catch-up (projections/background.py), which gives way.
        self._folding = threading.Lock()
        #: Queries (and rebuilds) of this process waiting for `_folding`.
        self._waiting = 0
        self._waiting_lock = threading.Lock()

    def in_memory(self) -> bool:
        """Whether the views live in this process only (`Ledger.open(views="memory")`)."""
        return self._own_datastore is not None

    def close(self) -> None:
        """Release a private in-memory database (the ledger's own is closed with it)."""
        if self._own_datastore is not None:
            self._own_datastore.close()

    @property
    def postgres(self) -> bool:
        """True when the views are in a PostgreSQL database."""
        return self.sql.postgres

    # --- catching up -----------------------------------------------------------

    @property
    def position(self) -> int:
        """The log position the views reflect."""
        return tracking.position(self.sql)

    def catch_up(
        self,
        batch_size: int = 1000,
        progress: Callable[[int, int], None] | None = None,
    ) -> int:
        """Fold every event recorded since the views' position; returns how many."""
        with self._turn():
            return catchup.catch_up(
                self.sql,
                self._log,
                self.store,
                batch_size,
                progress,
                events_table=self._events_table,
            )

    def catch_up_behind(self, batch_size: int) -> None:
        """The background catch-up's: `catch_up`, giving way to this process's queries.

        It folds nothing while a query of this process folds (the query folds
        to the head), and stops after the batch under way when one starts to
        wait, which then folds the rest in its larger batches: a query waits
        for at most one of these batches, never for a whole backlog. Other
        processes are kept apart by the position's compare-and-set alone.
        """
        if not self._folding.acquire(blocking=False):
            return

        def give_way(position: int, stop: int) -> None:
            if self._waiting:
                raise _GaveWay

        try:
            catchup.catch_up(
                self.sql,
                self._log,
                self.store,
                batch_size,
                give_way,
                events_table=self._events_table,
            )
        except _GaveWay:
            pass  # the batches before were committed; the query folds the rest
        finally:
            self._folding.release()

    def rebuild(self, progress: Callable[[int, int], None] | None = None) -> int:
        """Empty the views and fold the whole log again; returns the events folded."""
        with self._turn():
            return catchup.rebuild(self.sql, self._log, self.store, progress)

    @contextmanager
    def _turn(self) -> Iterator[None]:
        """Hold `_folding`, as a caller the background catch-up gives way to."""
        with self._waiting_lock:
            self._waiting += 1
        try:
            self._folding.acquire()
        finally:
            with self._waiting_lock:
                self._waiting -= 1
        try:
            yield
        finally:
            self._folding.release()

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
        region: str = DEFAULT_REGION,
    ) -> list[LeadRow]:
        return queries.lead_table(
            self.sql,
            status=status,
            program=program,
            search=search,
            sort_by=sort_by,
            descending=descending,
            limit=limit,
            offset=offset,
            region=region,
        )

    def count_leads(
        self,
        *,
        status: ReferralStatus | None,
        program: str | None,
        search: str | None,
        region: str = DEFAULT_REGION,
    ) -> int:
        return queries.count_leads(
            self.sql, status=status, program=program, search=search, region=region
        )

    def customers(
        self,
        which: CustomerFilter,
        *,
        sort_by: str,
        descending: bool,
        limit: int,
        offset: int,
    ) -> list[CustomerRow]:
        return directory_queries.customers(
            self.sql, which, sort_by=sort_by, descending=descending, limit=limit, offset=offset
        )

    def count_customers(self, which: CustomerFilter) -> int:
        return directory_queries.count_customers(self.sql, which)

    def referral_history(self, referrer_id: UUID) -> list[HistoryRow]:
        return queries.referral_history(self.sql, referrer_id)

    def conversion_by_rep(
        self, since: datetime | None, until: datetime | None
    ) -> list[ConversionRow]:
        return queries.conversion_by_rep(self.sql, since, until)

    def leaderboard(self, campaign_id: str, limit: int) -> list[tuple[UUID, int]]:
        return queries.leaderboard(self.sql, campaign_id, limit)

    def dump(self) -> dict[str, list[tuple[Any, ...]]]:
        """Every row of every view, sorted: for comparing a live view with a rebuild."""
        return queries.dump(self.sql)
