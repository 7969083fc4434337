"""Running time-driven jobs: `process_due`.

Each registered job (see `registry.py`) lists its items as (due_at, key):
what becomes due and when, read from the log or the states. `process_due(now)`
handles every item due by `now` that has not been handled, up to `BATCH`
items per transaction: the job's handler decides each item's events, and the
same unit records version 1 of each item's record, at an id derived from
(job, key) (`aggregates/due.py`). A job that declares a `schedule` is listed
from the due index (`projections/due_index.py`): the rows due by `now`,
never the whole log; the others by their `due` listing.

Why that runs each item exactly once, from any number of processes:

- Two processes handling one item both write version 1 of the same record;
  the store's unique (id, version) key lets one commit and fails the other's
  whole transaction, effects included (every item of its batch). The loser's
  unit of work decides the batch again from fresh state, finds the records
  of the items the winner handled, and records only the others.
- The effect and the record commit together, so a process that dies midway
  leaves neither: the next `process_due` handles the item.
- Calling again finds every handled item's record (read in bulk first, then
  inside the item's unit) and records nothing: it is idempotent, and
  `process_due` returns only what this call recorded.
- An item is handled by `now` alone: items due later are left for a later
  call, whatever the clock says; `now` in the future handles what will be
  due by then, dated by its `due_at` (recorded now).

A handler that finds nothing to do (the points of a lot already spent)
records nothing, and no record either. A listed item is decided again on the
next call, which is harmless; so a job's `due` should leave out items whose
effect is already visible in the state (an expired lot), or every call
re-reads them. An indexed item leaves the index once decided, whatever the
outcome: its schedule must make a new item (a new key or due date) for
anything that calls for it again.
A handler must not raise for a business reason: it stops `process_due` (and a
worker) at that item until the cause is fixed.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import partial
from typing import Any, Final
from uuid import UUID

from referral_ledger.aggregates import due as due_items
from referral_ledger.aggregates.base import Evolve
from referral_ledger.reactions.registry import JOBS, Context, Job, Registry
from referral_ledger.store import LOAD_CHUNK, UnitOfWork

#: Items handled per transaction: a commit per item bounded `process_due` at
#: ~300 lots a second on SQLite. A batch that conflicts is decided again as a
#: whole, so it is kept well below the size where that would cost much.
BATCH: Final = 200
#: Due rows read from the index per query.
PAGE: Final = 5_000

Item = tuple[datetime, str]


def process_due(context: Context, now: datetime, registry: Registry[Job] = JOBS) -> int:
    """Handle every item of every job due by `now`, once; returns how many it recorded."""
    return sum(run_job(job, context, now) for job in registry)


def run_job(job: Job, context: Context, now: datetime) -> int:
    """Handle the items of `job` due by `now` that no one handled yet; returns how many."""
    index = context.index
    if index is None or job.schedule is None:
        return _run_items(job, context, sorted({i for i in job.due(context, now) if i[0] <= now}))
    index.catch_up(job)
    recorded = 0
    after: Item | None = None
    while page := index.due(job, now, after, PAGE):
        recorded += _run_items(job, context, page)
        index.done(job, page)
        after = page[-1]
    return recorded


def _run_items(job: Job, context: Context, due: Sequence[Item]) -> int:
    """Handle `due` (in order) in batches; items already handled are skipped."""
    store = context.store
    recorded = 0
    for start in range(0, len(due), LOAD_CHUNK):
        chunk = due[start : start + LOAD_CHUNK]
        ids = [due_items.due_item_id(job.name, key) for _, key in chunk]
        handled = store.load_many(dict.fromkeys(ids, due_items.evolve_due_item))
        todo = [item for item, i in zip(chunk, ids, strict=True) if handled.get(i) is None]
        for first in range(0, len(todo), BATCH):
            recorded += store.run(partial(_handle, job, todo[first : first + BATCH], context))
    return recorded


def _handle(job: Job, items: Sequence[Item], context: Context, unit: UnitOfWork) -> int:
    ids = [due_items.due_item_id(job.name, key) for _, key in items]
    reads: list[tuple[UUID, Evolve[Any]]] = [(i, due_items.evolve_due_item) for i in ids]
    if job.prefetch is not None:
        reads += job.prefetch([key for _, key in items], context)
    unit.prefetch(reads)
    recorded = 0
    for (due_at, key), item_id in zip(items, ids, strict=True):
        if unit.load(item_id, due_items.evolve_due_item) is not None:
            # Handled meanwhile: we lost the race (or the key is listed twice).
            continue
        before = len(unit.pending)
        job.handle(unit, key, due_at, context)
        if len(unit.pending) > before:
            unit.record(due_items.handled(job.name, key, due_at, unit.now))
            recorded += 1
    return recorded
