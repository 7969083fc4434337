"""Folding the views behind this process's commits, in a thread of the ledger.

Every query catches the views up from the log before it answers, so it sees
every command that returned before it (read-your-writes). After a burst of
commands that catch-up is the whole burst's events: seconds for 10,000
purchases (1.6 to 2.2 s on SQLite, 2.4 to 5.0 s on PostgreSQL, measured in
docs/performance.md §10).
`BackgroundCatchUp` runs the same catch-up (`catchup.catch_up`: exactly
once, a compare-and-set on the views' position in each batch's transaction)
in a thread woken by the store's commits, so a query finds the views close
to the head and folds only the remainder. Queries still catch up: it is
they, not this thread, that guarantee read-your-writes, and that fold what
other processes recorded (this thread follows only its own process's commits).

Short write transactions: it gathers commits for `PAUSE` after each round,
so one transaction folds many commands' events (not one fsync per command),
and folds at most `BATCH` events per transaction, so a command waits for
the SQLite write lock no longer than that. It gives way to this process's
queries (`ViewStore.catch_up_behind`): a query waits for at most one of its
batches. It stays out of the way of bulk writes: after a commit of `BULK`
events or more (an import's), it folds only once no such commit has come for
`QUIET` seconds, so an import's transactions do not share the write lock
with it (folding along, it slowed an import on SQLite by ~40 %:
docs/performance.md §10). A failed round is logged (with
its traceback) and retried after the next commit; the query that comes next
catches up by itself, so nothing is lost and the failure, if lasting,
reaches the caller from the query's own catch-up.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Final

from referral_ledger.aggregates.base import Event
from referral_ledger.projections import directory, leaderboard
from referral_ledger.projections import leads as fold

logger = logging.getLogger(__name__)

#: Events folded per transaction by the thread (a query's catch-up: 1,000).
BATCH: Final = 200
#: Seconds the thread waits after a round for more commits to fold together.
PAUSE: Final = 0.2
#: Seconds it waits after a failed round before trying again.
PAUSE_AFTER_FAILURE: Final = 1.0
#: Events in one commit that make it a bulk write (an import's batch; a group
#: commit of 16 commands holds ~50).
BULK: Final = 500
#: Seconds without a bulk commit before the thread folds what bulk writes
#: recorded: at least this, and twice the longest gap between two bulk commits
#: of the run (an import under load commits a batch a second or slower), up to
#: `MAX_QUIET`.
QUIET: Final = 1.0
MAX_QUIET: Final = 10.0
#: The events some view folds: a commit of none of them wakes nothing.
FOLDED: Final = (*fold.VIEW_EVENTS, *directory.DIRECTORY_EVENTS, *leaderboard.LEADERBOARD_EVENTS)

CatchUp = Callable[[int], object]


class BackgroundCatchUp:
    """A thread that catches the views up after this process's commits.

    `catch_up(batch_size)` folds everything recorded since the views'
    position (`ViewStore.catch_up_behind`). Give `committed` to the store's
    listeners; `close` stops the thread and waits for it.
    """

    def __init__(self, catch_up: CatchUp) -> None:
        self._catch_up = catch_up
        self._wake = threading.Event()
        self._stopping = threading.Event()
        #: Rounds run and rounds failed since opening (what tests and operators read).
        self.rounds = 0
        self.failures = 0
        #: The newest failure, None once a round succeeds again.
        self.failure: Exception | None = None
        #: When the newest bulk commit was seen (`time.monotonic()`; None: no
        #: bulk writes under way), and the longest gap between two of them.
        self._bulk_at: float | None = None
        self._bulk_gap = 0.0
        self._thread = threading.Thread(target=self._run, name="referral-ledger-views", daemon=True)
        self._thread.start()

    @property
    def running(self) -> bool:
        """True until `close` has stopped the thread."""
        return self._thread.is_alive()

    def committed(self, events: Sequence[Event]) -> None:
        """A store listener: wake the thread if the commit recorded a folded event."""
        if len(events) >= BULK:
            now = time.monotonic()
            if self._bulk_at is not None:  # the longest gap of this run of bulk writes
                self._bulk_gap = max(self._bulk_gap, now - self._bulk_at)
            self._bulk_at = now
        if any(isinstance(event, FOLDED) for event in events):
            self._wake.set()

    def close(self) -> None:
        """Stop the thread after its current round (a batch commits or rolls back)."""
        self._stopping.set()
        self._wake.set()
        if self._thread is not threading.current_thread():
            self._thread.join()

    def _quiet_left(self) -> float:
        """Seconds still to wait for bulk writes to stop (<= 0: none under way)."""
        if self._bulk_at is None:
            return 0.0
        quiet = max(QUIET, min(2 * self._bulk_gap, MAX_QUIET))
        return self._bulk_at + quiet - time.monotonic()

    def _run(self) -> None:
        while True:
            self._wake.wait()
            if self._stopping.is_set():
                return
            self._wake.clear()
            # Bulk writes under way: wait until they stop, then fold them at once.
            while (quiet := self._quiet_left()) > 0:
                if self._stopping.wait(quiet):
                    return
            self._bulk_at, self._bulk_gap = None, 0.0  # that run of bulk writes is over
            pause = PAUSE
            try:
                self._catch_up(BATCH)
                self.failure = None
            except Exception as error:
                # Logged before it is counted: whoever watches the count finds the log.
                logger.exception("catching up the views in the background failed")
                self.failure = error
                self.failures += 1
                pause = PAUSE_AFTER_FAILURE
            self.rounds += 1
            # Gather the commits of the next moment into the next round.
            if self._stopping.wait(pause):
                return
