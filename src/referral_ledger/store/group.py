"""Group commit: the commands of many threads of one process, saved in one transaction.

Every command is its own transaction otherwise, and a transaction's commit
(its fsync, its round trip, the store's write lock) costs far more than
deciding one command: sixteen threads sharing one `Ledger` would queue on
the lock one commit at a time, and on a record they share they would
conflict with each other and retry.

So `Store.run` first decides the command in its caller's thread, against
the store as committed (`_ahead`: the callers' reads overlap), then queues
it here. The first thread to find nobody leading leads: it takes whatever
is queued and goes through those commands in the order they came. A command
decided ahead whose reads nothing in the batch (nor any commit this process
made since) has changed is taken as it is (`UnitOfWork.adopt`); any other is
decided again, against the state the commands before it left
(`UnitOfWork(store, batch)` reads through the batch). All their events are
saved in one transaction. Meanwhile the next commands
queue; when the commit returns, the leader answers its batch and hands the
lead to the first of them, which takes all that queued meanwhile. A thread
alone waits for nothing: its batch is itself. No thread of this process
saves while another does, so within a process commands never conflict.

What each command is promised is what it was promised alone:

- **Answered after its commit.** A caller gets its result (or its refusal)
  only once the transaction holding its events (or the events its refusal
  saw) is committed; its reactions then run in its own thread, as before.
- **Refused alone.** A command the rules refuse (`LedgerError`) adds nothing
  to the batch; the commands after it never see it, and the batch is saved
  without it. Its refusal was decided on the store's state plus the events
  of the commands before it: it is answered once those are committed (if the
  batch conflicts, it is decided again with them). As alone, a refusal whose
  reads another process has moved since is decided again (`reads_current`).
- **Conflicts.** Another process may have saved a record of the batch: the
  save fails whole (nothing partial), and every command of the batch is
  decided again from the new state, after a jittered backoff, each within
  its own `max_attempts`.
- **Exactly once.** The batch is one write (store/saving.py): a lost
  acknowledgement is recognised by the batch's own id, as a single command's.
- **Reactions** save their position with their events (`tracking`), one per
  transaction: such a command is a batch of its own, but queues like the
  others, so it does not conflict with them either.

A command that runs another from inside its decision (the leader's thread
is then busy deciding) is run alone, at once, as without group commit.
"""

from __future__ import annotations

import random
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final
from uuid import UUID

from eventsourcing.persistence import Tracking

from referral_ledger.aggregates.base import Event
from referral_ledger.errors import LedgerError, StoreError
from referral_ledger.store.saving import Outcome, UnitWrite
from referral_ledger.store.unit import NeedsTurn, UnitOfWork

if TYPE_CHECKING:
    from referral_ledger.store.store import Store

#: The most commands one transaction saves: a PostgreSQL save of thousands of
#: records at once was seen to hang inside psycopg (DESIGN.md), and a caller
#: should not wait behind an unbounded batch.
MAX_BATCH: Final = 128


#: Records created by recent batches whose versions are remembered for `adopt`:
#: a command decided ahead longer ago than this many creations is checked by the
#: save alone (a conflict there decides its batch again; nothing is lost).
REMEMBERED_CREATIONS: Final = 4096


#: Before any command's `now`: where a batch's own `now` starts.
_EARLIEST: Final = datetime.min.replace(tzinfo=UTC)


class _Request:
    """One command waiting in the queue, and then its answer."""

    __slots__ = (
        "ahead",
        "alone",
        "answered",
        "attempts",
        "begun",
        "decide",
        "error",
        "events",
        "lead",
        "result",
        "tracking",
        "wake",
    )

    def __init__(
        self, decide: Callable[[UnitOfWork], Any], tracking: Tracking | None, alone: bool
    ) -> None:
        self.decide = decide
        #: A reaction's position: such a command is saved alone (see the module doc).
        self.tracking = tracking
        #: Saved alone too: its guards read what batch neighbours could write.
        self.alone = alone or tracking is not None
        #: The command's unit and result, decided ahead in its caller's thread.
        self.ahead: tuple[UnitOfWork, Any] | None = None
        #: When a command that asked for a turn ahead began (decided in the batch as such).
        self.begun: datetime | None = None
        self.wake = threading.Event()
        #: Set (with `wake`) when this thread is to lead the next batch.
        self.lead = False
        self.answered = False
        self.attempts = 0
        self.result: Any = None
        self.error: BaseException | None = None
        #: The events committed for it, as stored: for the store's listeners.
        self.events: list[Event] = []

    def answer(
        self,
        result: Any = None,
        events: list[Event] | None = None,
        error: BaseException | None = None,
    ) -> None:
        self.result, self.events, self.error = result, events or [], error
        self.answered = True
        self.wake.set()


class GroupCommit:
    """The queue of one store's commands, and the lead over it (see the module doc)."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._lock = threading.Lock()
        self._queue: deque[_Request] = deque()
        #: Whether a thread leads. Invariant: the queue is empty when none does.
        self._leading = False
        self._local = threading.local()
        #: Records recent batches created, by id: their versions (`_newest_version`).
        self._created: OrderedDict[UUID, int] = OrderedDict()

    def queued(self) -> int:
        """How many commands wait for the next batch (for tests and operators)."""
        with self._lock:
            return len(self._queue)

    def is_leading(self) -> bool:
        """Whether this thread is the leader, deciding a batch right now."""
        return bool(getattr(self._local, "leading", False))

    def submit(
        self,
        decide: Callable[[UnitOfWork], Any],
        tracking: Tracking | None,
        *,
        alone: bool = False,
    ) -> tuple[Any, list[Event]]:
        """Queue a command; its result and its committed events once it is answered."""
        request = _Request(decide, tracking, alone)
        if not request.alone:
            ahead = self._ahead(request)
            if ahead is not None:
                return ahead
        with self._lock:
            self._queue.append(request)
            if not self._leading:
                # Nobody leads, so the queue held nothing: it leads, at once.
                self._leading = request.lead = True
        if not request.lead:
            request.wake.wait()
        if not request.answered:
            assert request.lead
            self._lead()
        assert request.answered
        if request.error is not None:
            raise request.error
        return request.result, request.events

    def _ahead(self, request: _Request) -> tuple[Any, list[Event]] | None:
        """Decide `request` now, in its caller's thread, against the store as committed.

        The reads of many callers then overlap (a PostgreSQL round trip
        releases the GIL) instead of queueing behind the leader's. What is
        decided is kept for the leader, who takes it as is if its batch has
        changed nothing it read (`UnitOfWork.adopt`), else decides it again in
        the batch. A command that records nothing, or is refused on reads
        still current, is answered at once, as alone: nothing is waited for.
        Returns that answer, or None when the command is to be queued.
        """
        store = self._store
        request.attempts = 1
        store.stats.attempts += 1
        unit = UnitOfWork(store, ahead=True)
        try:
            result = request.decide(unit)
        except NeedsTurn:
            # Not an attempt: it is decided in the batch, where turns are taken,
            # as begun now (a ticking test clock is read as often as alone).
            request.attempts = 0
            store.stats.attempts -= 1
            request.begun = unit.now
            return None
        except LedgerError:
            if store.max_attempts == 1 or unit.reads_current():
                raise
            store.stats.conflicts_retried += 1
            return None
        if not unit.pending:
            return result, []
        request.ahead = (unit, result)
        return None

    def _newest_version(self, aggregate_id: UUID) -> int | None:
        """The newest version of a record this process knows of (None: none known)."""
        cached = self._store.cache.newest_version(aggregate_id)
        with self._lock:
            created = self._created.get(aggregate_id)
        if cached is None or created is None:
            return created if cached is None else cached
        return max(cached, created)

    def _remember_created(self, batch: UnitOfWork) -> None:
        """Keep the versions of records the batch created: the state cache takes records
        only once read again, and a command decided ahead may not know them yet."""
        with self._lock:
            created = self._created
            for record in batch.changed():
                if not record.read:
                    created[record.state.id] = record.state.version
                    created.move_to_end(record.state.id)
            while len(created) > REMEMBERED_CREATIONS:
                created.popitem(last=False)

    def _lead(self) -> None:
        """Decide and save one batch, answer it, and hand the lead on."""
        batch: list[_Request] = []
        self._local.leading = True
        try:
            with self._lock:
                batch = self._take()
            if batch[0].alone:
                self._alone(batch[0])
            else:
                self._save_together(batch)
        finally:
            self._local.leading = False
            self._store.turns.release()
            for request in batch:
                if not request.answered:  # only if something failed outside any command
                    request.answer(error=StoreError("the batch this command was in failed"))
            with self._lock:
                if self._queue:
                    # The first that queued while this batch was saved leads
                    # the next: it takes everything queued by then.
                    successor = self._queue[0]
                    successor.lead = True
                    successor.wake.set()
                else:
                    self._leading = False

    def _take(self) -> list[_Request]:
        """The next batch: the queue's head and the plain commands after it."""
        queue = self._queue
        first = queue.popleft()
        batch = [first]
        if not first.alone:
            while queue and len(batch) < MAX_BATCH and not queue[0].alone:
                batch.append(queue.popleft())
        return batch

    def _alone(self, request: _Request) -> None:
        try:
            request.answer(*self._store.attempts(request.decide, request.tracking))
        except Exception as error:
            request.answer(error=error)

    def _save_together(self, batch: list[_Request]) -> None:
        """Decide `batch` in order and save it in one transaction, until each is answered."""
        store = self._store
        waiting = batch
        while waiting:
            try:
                conflicted = self._attempt(waiting)
            except Exception as error:
                # The save itself failed (the store is unavailable...): nothing
                # was recorded, for any of them.
                for request in waiting:
                    if not request.answered:
                        request.answer(error=error)
                return
            waiting = [r for r in waiting if not r.answered]
            if conflicted:
                # Jittered backoff, so racing processes stop colliding in step.
                attempt = max(r.attempts for r in waiting) if waiting else 0
                time.sleep(random.uniform(0, min(0.05, 0.001 * 2**attempt)))
        store.turns.release()

    def _attempt(self, waiting: list[_Request]) -> bool:
        """One attempt at the commands `waiting`: whether the save conflicted.

        Answers those it settles; the others are decided again.
        """
        store = self._store
        store.turns.release()  # a turn taken by the attempt before ends with it
        # The batch's own `now` is its commands' latest (reading the clock here
        # would move a ticking test clock more often than commands alone do).
        batch = UnitOfWork(store, now=_EARLIEST)
        decided: list[tuple[_Request, UnitOfWork, Any]] = []
        refused: list[tuple[_Request, LedgerError]] = []
        for request in waiting:
            ahead, request.ahead = request.ahead, None
            if ahead is not None and batch.adopt(ahead[0], self._newest_version):
                batch_unit, result = ahead
                decided.append((request, batch_unit, result))
                continue
            request.attempts += 1
            store.stats.attempts += 1
            unit = UnitOfWork(store, batch, now=request.begun)
            request.begun = None
            try:
                result = request.decide(unit)
            except LedgerError as error:
                # As alone (Store.attempts): a refusal on reads another process
                # has moved since may have seen half its commit: decide again.
                if request.attempts >= store.max_attempts or unit.reads_current():
                    refused.append((request, error))
                else:
                    store.stats.conflicts_retried += 1
                continue
            except Exception as error:
                request.answer(error=error)  # saved nothing; its neighbours go on
                continue
            batch.absorb(unit)
            decided.append((request, unit, result))
        if batch.pending:
            write = UnitWrite(store, batch)
            if write.save(None) is Outcome.CONFLICT:
                self._conflicted([r for r, _, _ in decided] + [r for r, _ in refused])
                return True
            store.turns.release()  # committed: another process may go on
            store.committed(batch, write, commands=len(decided))
            self._remember_created(batch)
            stored = iter(batch.pending)  # as saved: stamped with the recording time
            for request, unit, result in decided:
                request.answer(result, [next(stored) for _ in unit.pending])
        else:
            for request, _, result in decided:
                request.answer(result)
        for request, refusal in refused:
            request.answer(error=refusal)
        return False

    def _conflicted(self, requests: list[_Request]) -> None:
        """Another process saved a record of the batch first: decide these again."""
        store = self._store
        for request in requests:
            if request.attempts >= store.max_attempts:
                store.stats.conflicts_surfaced += 1
                request.answer(error=store.gave_up())
            else:
                store.stats.conflicts_retried += 1
