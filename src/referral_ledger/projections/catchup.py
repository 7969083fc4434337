"""Keeping the views current: the catch-up loop, and the rebuild.

A catch-up reads the view events after the views' position (`tracking`),
folds them (`leads.apply`, `directory.apply` and the leaderboard's `standing`, through
`SqlRecords`), and in ONE transaction
moves the position with a compare-and-set and writes the changed rows. A
crash before commit leaves both as they were; a second runner that read the
same position finds it moved and writes nothing. So every event is applied
exactly once, and SQLite, which cannot push notifications, is served by the
same pull loop. A rebuild empties the tables, sets the position to 0 and
catches up in larger batches: a view rebuilt and a view kept live are made
by the same code.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final, Protocol

from referral_ledger.aggregates.base import Event
from referral_ledger.projections import directory, leaderboard, tracking
from referral_ledger.projections import leads as fold
from referral_ledger.projections.dialects import ViewsSQL
from referral_ledger.projections.log import LogReader, RevenueChange
from referral_ledger.projections.records import Known, SqlRecords
from referral_ledger.store import Store

#: A catch-up that folds at least this many events refreshes PostgreSQL's
#: statistics of the view tables: a server with autovacuum off (or one that
#: has not reached them yet after a rebuild) plans the lead table's search
#: without them, measured at 12 ms instead of 5 ms over 5,000 leads.
ANALYZE_AFTER: Final = 10_000
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

Progress = Callable[[int, int], None]


def catch_up(
    sql: ViewsSQL,
    log: LogReader,
    store: Store,
    batch_size: int = 1000,
    progress: Progress | None = None,
    events_table: str | None = None,
) -> int:
    """Fold every event recorded since the views' position; returns how many.

    `progress(position, last_position)` is called after each batch. `events_table`:
    the events table, when the views are in its database; then the views'
    position and the log's end are read in one statement (every query checks
    them first: one round trip of its three on PostgreSQL).
    """
    processed = 0
    known = Known()
    while True:
        if events_table is None:
            position = tracking.position(sql)
            stop = store.last_position()
        else:
            position, stop = tracking.position_and_head(sql, events_table)
        known.valid_at(position)
        if position >= stop:
            if processed >= ANALYZE_AFTER:
                sql.refresh_statistics()
            return processed
        # A bounded range of positions: each read costs at most SCAN_SPAN
        # rows however it is planned (see SCAN_SPAN).
        end = min(stop, position + max(batch_size, SCAN_SPAN))
        # Read and decode before the transaction: keep the write lock short.
        events, last = log.read(position, end, batch_size)
        upto = last if len(events) == batch_size else end
        try:
            with sql.transaction(commit=True) as cursor:
                tracking.advance(sql, cursor, position, upto)
                records = SqlRecords(sql, cursor, known)
                records.prefetch(events)
                for event in events:
                    apply_read(event, records)
                records.flush()
        except tracking.Superseded:
            continue
        known.committed(records, upto)
        processed += len(events)
        if progress is not None:
            progress(upto, stop)


class Records(
    fold.ViewRecords, directory.DirectoryRecords, leaderboard.LeaderboardRecords, Protocol
):
    """Where the folds of every view read and write their rows."""


def apply_read(event: Event | RevenueChange, records: SqlRecords) -> None:
    """Fold one event as the log reader decoded it into every view it changes."""
    if isinstance(event, RevenueChange):
        records.add_revenue(event.customer, event.amount)
        directory.apply_points(event.customer, event.points, event.purchases, records)
    else:
        apply(event, records)


def apply(event: Event, records: Records) -> None:
    """Fold one event into every view it changes."""
    if isinstance(event, fold.VIEW_EVENTS):
        fold.apply(event, records)
    if isinstance(event, directory.DIRECTORY_EVENTS):
        directory.apply(event, records)
    if isinstance(event, leaderboard.LEADERBOARD_EVENTS):
        records.put_standing(leaderboard.standing(event))


def rebuild(sql: ViewsSQL, log: LogReader, store: Store, progress: Progress | None = None) -> int:
    """Empty the views and fold the whole log again; returns the events folded."""
    with sql.transaction(commit=True) as cursor:
        # The position first: every catch-up transaction begins by writing
        # it, so one under way finishes before the tables are emptied, and
        # the next waits for this one and then finds the position moved.
        tracking.restart(sql, cursor)
        sql.empty_tables(cursor)
    return catch_up(sql, log, store, batch_size=REBUILD_BATCH, progress=progress)
