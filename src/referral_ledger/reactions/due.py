"""Running time-driven jobs: `process_due`.

Each registered job (see `registry.py`) lists its items as (due_at, key):
what becomes due and when, read from the log or the states. `process_due(now)`
handles every item due by `now` that has not been handled, one transaction
per item: the job's handler decides the item's events, and the same unit
records version 1 of the item's record, at an id derived from (job, key)
(`aggregates/due.py`).

Why that runs each item exactly once, from any number of processes:

- Two processes handling one item both write version 1 of the same record;
  the store's unique (id, version) key lets one commit and fails the other's
  whole transaction, effect included. The loser's unit of work decides again
  from fresh state, finds the record, and records nothing.
- The effect and the record commit together, so a process that dies midway
  leaves neither: the next `process_due` handles the item.
- Calling again finds every handled item's record (read in bulk first, then
  inside the item's unit) and records nothing: it is idempotent, and
  `process_due` returns only what this call recorded.
- An item is handled by `now` alone: items due later are left for a later
  call, whatever the clock says; `now` in the future handles what will be
  due by then, dated by its `due_at` (recorded now).

A handler that finds nothing to do (the points of a lot already spent)
records nothing, and no record either: the item is decided again on the next
call, which is harmless. So a job's `due` should leave out items whose effect
is already visible in the state (an expired lot), or every call re-reads them.
A handler must not raise for a business reason: it stops `process_due` (and a
worker) at that item until the cause is fixed.
"""

from __future__ import annotations

from datetime import datetime
from functools import partial
from uuid import UUID

from referral_ledger.aggregates import due as due_items
from referral_ledger.reactions.registry import JOBS, Context, Job, Registry
from referral_ledger.store import LOAD_CHUNK, UnitOfWork


def process_due(context: Context, now: datetime, registry: Registry[Job] = JOBS) -> int:
    """Handle every item of every job due by `now`, once; returns how many it recorded."""
    return sum(run_job(job, context, now) for job in registry)


def run_job(job: Job, context: Context, now: datetime) -> int:
    """Handle the items of `job` due by `now` that no one handled yet; returns how many."""
    due = sorted({(at, key) for at, key in job.due(context, now) if at <= now})
    if not due:
        return 0
    store = context.store
    ids = [due_items.due_item_id(job.name, key) for _, key in due]
    handled: dict[UUID, object] = {}
    for start in range(0, len(ids), LOAD_CHUNK):
        chunk = ids[start : start + LOAD_CHUNK]
        handled.update(store.load_many(dict.fromkeys(chunk, due_items.evolve_due_item)))
    recorded = 0
    for (at, key), item_id in zip(due, ids, strict=True):
        if handled.get(item_id) is None:
            recorded += store.run(partial(_handle, job, key, at, context))
    return recorded


def _handle(job: Job, key: str, due_at: datetime, context: Context, unit: UnitOfWork) -> int:
    if unit.load(due_items.due_item_id(job.name, key), due_items.evolve_due_item) is not None:
        # Handled meanwhile: we lost the race (or listed the key twice).
        return 0
    job.handle(unit, key, due_at, context)
    if not unit.pending:
        return 0
    unit.record(due_items.handled(job.name, key, due_at, unit.now))
    return 1
