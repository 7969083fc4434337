"""The due index: which items of the time-driven jobs are still to do, by due date.

A job whose items each come from one event (a lot's expiry from its
`PointsEarned`, a commission's maturity from its `CommissionEarned`)
declares its trigger types and a `schedule`: the (due_at, key) items an
event makes due (`reactions/registry.py`). This index holds those items
as rows, `(job, due_us, item)`, so `process_due` reads the rows due by its
`now` (an index range), never the whole log, and a reading such as
`expiring_points` the rows of a date range.

It is derived data, like the views: each job's rows are folded from the
log after the job's own position, and a batch's rows and the move of its
position commit in ONE transaction, the position moved by compare-and-set,
so of two processes folding at once only one writes a batch. The rows
live beside the views (the ledger's database; a private in-memory one for
an encrypted store, whose item keys name invoices). `rebuild` folds the
whole log again, and a test checks a rebuilt index against the live one.

Rows are deleted once handled, or found to need nothing (a lot already
spent): the table holds what is left to do, and a row deleted early only
costs a decision later. Whether an item was handled is never read from
here: its due-item record in the log says so (`aggregates/due.py`), in the
transaction that records its effect, so the exactly-once guarantee does not
rest on the index, and an index rebuilt from scratch makes `process_due`
re-decide handled items and record nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Protocol

from referral_ledger.aggregates.base import Event
from referral_ledger.projections.dialects import ViewsSQL
from referral_ledger.store import Store

#: Log events read per catch-up transaction.
FOLD_BATCH: Final = 5_000
#: Most log positions one read looks through (see `catchup.SCAN_SPAN`).
SCAN_SPAN: Final = 100_000
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND: Final = timedelta(microseconds=1)


class ScheduledJob(Protocol):
    """What the index needs of a job (`reactions.registry.Job`)."""

    @property
    def name(self) -> str: ...

    @property
    def topics(self) -> tuple[str, ...]: ...

    @property
    def schedule(self) -> Callable[[Event], Iterable[tuple[datetime, str]]] | None: ...


class Superseded(Exception):
    """Another process moved the job's position first."""


def micros(moment: datetime) -> int:
    """`moment` as microseconds since 1970 UTC: one order for every time zone."""
    return (moment - _EPOCH) // _MICROSECOND


class DueIndex:
    """The due rows of every scheduled job, in the views' database."""

    def __init__(self, sql: ViewsSQL, store: Store) -> None:
        self.sql = sql
        self.store = store
        text = sql.text_type
        with sql.transaction(commit=True) as cursor:
            sql.lock_schema(cursor)
            for statement in (
                "CREATE TABLE IF NOT EXISTS {p}rl_due_positions ("
                f"job {text} PRIMARY KEY, position BIGINT NOT NULL)",
                "CREATE TABLE IF NOT EXISTS {p}rl_due ("
                f"job {text} NOT NULL, due_us BIGINT NOT NULL, item {text} NOT NULL, "
                f"due_at {text} NOT NULL, PRIMARY KEY (job, due_us, item))",
            ):
                sql.execute(cursor, statement)

    # --- folding the log ---------------------------------------------------------

    def position(self, job: ScheduledJob) -> int:
        """The log position up to which `job`'s rows are folded."""
        with self.sql.transaction(commit=False) as cursor:
            rows = self.sql.execute(
                cursor, "SELECT position FROM {p}rl_due_positions WHERE job = ?", (job.name,)
            )
        return int(rows[0]["position"]) if rows else 0

    def catch_up(self, job: ScheduledJob, batch_size: int = FOLD_BATCH) -> int:
        """Fold the events of `job`'s triggers recorded since its position; returns how many."""
        schedule = job.schedule
        if schedule is None:
            return 0
        folded = 0
        store = self.store
        while True:
            position = self.position(job)
            stop = store.last_position()
            if position >= stop:
                return folded
            end = min(stop, position + max(batch_size, SCAN_SPAN))
            # Read and decode before the transaction: keep the write lock short.
            batch = store.notifications(position, batch_size, job.topics, stop=end)
            upto = batch[-1].id if len(batch) == batch_size else end
            rows = [
                (job.name, micros(at), key, at.isoformat())
                for notification in batch
                for at, key in schedule(store.event_of(notification))
            ]
            try:
                self._write(job, position, upto, rows)
            except Superseded:
                continue
            folded += len(batch)

    def _write(
        self, job: ScheduledJob, position: int, upto: int, rows: list[tuple[Any, ...]]
    ) -> None:
        sql = self.sql
        with sql.transaction(commit=True) as cursor:
            # The position first, by compare-and-set (a write: SQLite takes its
            # write lock here); a job never folded has no row yet.
            if position == 0:
                sql.execute(
                    cursor,
                    "INSERT INTO {p}rl_due_positions (job, position) VALUES (?, 0) "
                    "ON CONFLICT (job) DO NOTHING",
                    (job.name,),
                )
            moved = sql.execute(
                cursor,
                "UPDATE {p}rl_due_positions SET position = ? "
                "WHERE job = ? AND position = ? RETURNING position",
                (upto, job.name, position),
            )
            if not moved:
                raise Superseded
            if rows:
                cursor.executemany(
                    sql.sql(
                        "INSERT INTO {p}rl_due (job, due_us, item, due_at) VALUES (?, ?, ?, ?) "
                        "ON CONFLICT (job, due_us, item) DO NOTHING"
                    ),
                    rows,
                )

    def rebuild(self, job: ScheduledJob) -> int:
        """Empty `job`'s rows and fold the whole log again; returns the events folded.

        Items handled already come back: the next `process_due` finds their
        due-item records, records nothing, and drops them again.
        """
        with self.sql.transaction(commit=True) as cursor:
            # The position first: a catch-up under way finishes before the rows
            # go, and the next finds the position moved.
            self.sql.execute(
                cursor, "UPDATE {p}rl_due_positions SET position = 0 WHERE job = ?", (job.name,)
            )
            self.sql.execute(cursor, "DELETE FROM {p}rl_due WHERE job = ?", (job.name,))
        return self.catch_up(job)

    # --- reading -------------------------------------------------------------------

    def due(
        self, job: ScheduledJob, now: datetime, after: tuple[datetime, str] | None, limit: int
    ) -> list[tuple[datetime, str]]:
        """Up to `limit` items of `job` due by `now` and after `after`, soonest first."""
        start = (-(2**62), "") if after is None else (micros(after[0]), after[1])
        with self.sql.transaction(commit=False) as cursor:
            rows = self.sql.execute(
                cursor,
                "SELECT due_at, item FROM {p}rl_due WHERE job = ? AND due_us <= ? "
                "AND (due_us > ? OR (due_us = ? AND item > ?)) "
                "ORDER BY due_us, item LIMIT ?",
                (job.name, micros(now), start[0], start[0], start[1], limit),
            )
        return [(datetime.fromisoformat(r["due_at"]), r["item"]) for r in rows]

    def between(
        self, job: ScheduledJob, after: datetime, until: datetime
    ) -> list[tuple[datetime, str]]:
        """Every item of `job` still to do, due after `after` and by `until`, soonest first."""
        with self.sql.transaction(commit=False) as cursor:
            rows = self.sql.execute(
                cursor,
                "SELECT due_at, item FROM {p}rl_due WHERE job = ? AND due_us > ? "
                "AND due_us <= ? ORDER BY due_us, item",
                (job.name, micros(after), micros(until)),
            )
        return [(datetime.fromisoformat(r["due_at"]), r["item"]) for r in rows]

    def done(self, job: ScheduledJob, items: Sequence[tuple[datetime, str]]) -> None:
        """Drop `items`: handled, or found to need nothing."""
        if not items:
            return
        with self.sql.transaction(commit=True) as cursor:
            cursor.executemany(
                self.sql.sql("DELETE FROM {p}rl_due WHERE job = ? AND due_us = ? AND item = ?"),
                [(job.name, micros(at), key) for at, key in items],
            )

    def rows(self, job: ScheduledJob) -> list[tuple[str, str]]:
        """Every row of `job` as (due_at, item), in order (for tests and audits)."""
        with self.sql.transaction(commit=False) as cursor:
            rows = self.sql.execute(
                cursor,
                "SELECT due_at, item FROM {p}rl_due WHERE job = ? ORDER BY due_us, item",
                (job.name,),
            )
        return [(r["due_at"], r["item"]) for r in rows]
