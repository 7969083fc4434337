"""`import_purchases(..., workers=N)`: a purchase import shared out by customer among N processes.

The parent reads the rows, names each row's customer (a POS id is looked up,
so a customer named by id in one row and by POS id in another is one
customer) and sends it to the worker `customer % N`: each customer's purchases
are earned by one process, in row order. Each worker opens the ledger's store
again (`LedgerContext.reopen`, spawned: no connection or lock crosses a fork)
and imports its rows in batches as `import_purchases` does in one process.
Rows travel in batches through bounded queues, so memory grows with
`batch_size` times N, never with the number of rows.
"""

from __future__ import annotations

import itertools
import multiprocessing
import pickle
import queue
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final
from uuid import UUID

from referral_ledger.aggregates import customer_record as customers
from referral_ledger.aggregates.customer_record import POS_ID
from referral_ledger.errors import InvalidInput, LedgerError, StoreError

if TYPE_CHECKING:
    from multiprocessing.process import BaseProcess

    from referral_ledger.commands.purchase_import import (
        PurchaseImportCommands,
        PurchaseImportReport,
    )
    from referral_ledger.store import Store

#: More processes than this would mostly wait on the store's write lock (and
#: each holds its own PostgreSQL connections).
MAX_WORKERS: Final = 32
#: Batches waiting for each worker: enough to keep it busy while the parent reads.
_QUEUED: Final = 2
#: Seconds between checks that a worker the parent waits for is still alive.
_POLL: Final = 1.0

#: A worker's batch: (row number in the whole import, row).
Batch = list[tuple[int, dict[Any, Any]]]


def check_workers(workers: object, store: Store) -> int:
    """`workers` checked: an int from 1 to MAX_WORKERS, above 1 only for a store
    other processes can open."""
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise InvalidInput(f"workers must be a positive int, not {workers!r}")
    if workers > MAX_WORKERS:
        raise InvalidInput(f"workers must be at most {MAX_WORKERS}, not {workers}")
    if workers > 1 and "mode=memory" in store.app.env.get("SQLITE_DBNAME", ""):
        raise InvalidInput(
            f"workers={workers} needs a store other processes can open: this ledger is "
            "in memory (memory://); use workers=1, or a sqlite:/// or postgresql:// ledger"
        )
    return workers


def import_in_workers(
    commands: PurchaseImportCommands,
    rows: Iterable[Mapping[str, object]],
    batch_size: int,
    sheet: Mapping[str, str] | None,
    workers: int,
    report: PurchaseImportReport,
) -> None:
    """Import `rows` with `workers` processes into `report` (rejected rows in row order)."""
    opener = commands._context.reopen()
    try:
        pickle.dumps(opener)
    except Exception as error:
        raise InvalidInput(
            f"workers={workers} opens the ledger in other processes, and its settings "
            f"cannot be sent there ({error}); a clock must be a picklable callable"
        ) from None
    spawn = multiprocessing.get_context("spawn")
    inboxes = [spawn.Queue(maxsize=_QUEUED) for _ in range(workers)]
    outbox = spawn.Queue()
    processes = [
        spawn.Process(
            target=_work, args=(opener, inbox, outbox, index), name=f"import-{index}", daemon=True
        )
        for index, inbox in enumerate(inboxes)
    ]
    for process in processes:
        process.start()
    try:
        pending: list[Batch] = [[] for _ in range(workers)]
        numbered = enumerate(rows, start=1)
        while window := list(itertools.islice(numbered, batch_size * workers)):
            for number, row, share in _shares(commands, window, sheet, workers, report):
                pending[share].append((number, row))
                if len(pending[share]) >= batch_size:
                    _send(inboxes[share], processes[share], pending[share], report)
                    pending[share] = []
        for share, batch in enumerate(pending):
            if batch:
                _send(inboxes[share], processes[share], batch, report)
            _send(inboxes[share], processes[share], None, report)
        failures = _collect(outbox, processes, report)
    except BaseException:
        # The rows could not all be read or shared out (or the host interrupted
        # the import): the workers stop now; their batches committed so far stay.
        for process in processes:
            process.kill()
        raise
    finally:
        for inbox in inboxes:
            inbox.cancel_join_thread()  # a dead worker's batches are never read
        for process in processes:
            process.join(timeout=5)
            if process.is_alive():
                process.kill()
    report.rejected.sort()
    if failures:
        raise StoreError(
            "import worker(s) ended before finishing their rows: "
            + "; ".join(failures)
            + ". The other rows were imported; run the same import again: it records "
            "each purchase once"
        )


def _shares(
    commands: PurchaseImportCommands,
    window: Sequence[tuple[int, object]],
    sheet: Mapping[str, str] | None,
    workers: int,
    report: PurchaseImportReport,
) -> Iterable[tuple[int, dict[Any, Any], int]]:
    """(number, row, worker) for each row of `window`; rows that cannot be read are
    rejected into `report` as one process would reject them."""
    from referral_ledger.commands.purchase_import import customer_of

    named: list[tuple[int, dict[Any, Any], UUID | str | None]] = []
    for number, row in window:
        try:
            if sheet is not None:
                row = commands._sheet_row(row, sheet)  # a worker gets the row read
            if not isinstance(row, Mapping):
                raise InvalidInput(
                    f"a row must be a mapping of column names to values, not {row!r}"
                )
            plain = dict(row)
        except LedgerError as error:
            report.rejected.append((number, str(error)))
            continue
        try:
            named.append((number, plain, customer_of(plain)))
        except LedgerError:
            named.append((number, plain, None))  # the worker rejects it, as one process would
    # A POS id stands for its customer's id, so both names go to one worker.
    pos_ids = {c for _, _, c in named if isinstance(c, str)}
    claims = {commands._claim_id(POS_ID, c): c for c in pos_ids}
    owners: dict[str, UUID] = {}
    for claim_id, link in commands._store.load_many(
        dict.fromkeys(claims, customers.evolve_link)
    ).items():
        if link is not None and link.owner is not None:
            owners[claims[claim_id]] = link.owner
    for number, row, customer in named:
        if isinstance(customer, str):
            customer = owners.get(customer, customer)
        if isinstance(customer, UUID):
            share = customer.int % workers
        else:
            share = zlib.crc32(str(customer).encode()) % workers
        yield number, row, share


def _send(
    inbox: Any, process: BaseProcess, batch: Batch | None, report: PurchaseImportReport
) -> None:
    """Queue `batch` (None: the end) for a worker, unless it has died; a row holding a
    value that cannot be sent to another process is rejected into `report`."""
    try:
        # Pickled here: the queue would pickle in a thread of its own, where an
        # error is only printed and the worker would wait for the batch forever.
        data = pickle.dumps(batch)
    except Exception:
        assert batch is not None
        sendable: Batch = []
        for number, row in batch:
            try:
                pickle.dumps(row)
            except Exception as error:
                report.rejected.append((number, f"the row cannot be sent to a worker: {error}"))
            else:
                sendable.append((number, row))
        data = pickle.dumps(sendable)
    while process.is_alive():
        try:
            inbox.put(data, timeout=_POLL)
            return
        except queue.Full:
            continue


def _collect(
    outbox: Any, processes: Sequence[BaseProcess], report: PurchaseImportReport
) -> list[str]:
    """Merge each worker's counts into `report`; what went wrong with those that failed."""
    waiting = set(range(len(processes)))
    failures: list[str] = []
    while waiting:
        try:
            index, outcome = outbox.get(timeout=_POLL)
        except queue.Empty:
            for index in sorted(waiting):
                process = processes[index]
                if not process.is_alive() and outbox.empty():
                    waiting.discard(index)
                    failures.append(
                        f"worker {index} (pid {process.pid}) exited with code {process.exitcode}"
                    )
            continue
        waiting.discard(index)
        if isinstance(outcome, str):
            failures.append(f"worker {index}: {outcome}")
            continue
        recorded, duplicates, points, rejected = outcome
        report.recorded += recorded
        report.duplicates += duplicates
        report.points += points
        report.rejected += rejected
    return failures


def _work(opener: Callable[[], Any], inbox: Any, outbox: Any, index: int) -> None:
    """A worker process: import each batch it is sent, then send back its counts."""
    try:
        ledger = opener()
    except Exception as error:
        outbox.put((index, f"cannot open the ledger: {error}"))
        return
    totals = [0, 0, 0]
    rejected: list[tuple[int, str]] = []
    try:
        while (batch := pickle.loads(inbox.get())) is not None:
            numbers = [number for number, _ in batch]
            part = ledger.import_purchases([row for _, row in batch], batch_size=len(batch))
            totals[0] += part.recorded
            totals[1] += part.duplicates
            totals[2] += part.points
            rejected += [(numbers[n - 1], reason) for n, reason in part.rejected]
        outbox.put((index, (*totals, rejected)))
    except Exception as error:
        outbox.put((index, f"{type(error).__name__}: {error}"))
    finally:
        ledger.close()


def reopen_settings(store: Store) -> dict[str, Any]:
    """The store settings a worker opens the same store with (`open_store`'s arguments)."""
    env = dict(store.app.env)
    return {
        "url": _described(env),
        "env": env,
        "clock": store.clock,
        "snapshot_interval": store.snapshot_interval,
        "max_attempts": store.max_attempts,
        "cache_size": store.cache.size,
        "group_commit": store.group is not None,
    }


def _described(env: Mapping[str, str]) -> str:
    """The store, named for messages (never with a password)."""
    if "SQLITE_DBNAME" in env:
        return f"sqlite:///{env['SQLITE_DBNAME']}"
    return (
        f"postgresql://{env.get('POSTGRES_USER', '')}@{env.get('POSTGRES_HOST', '')}:"
        f"{env.get('POSTGRES_PORT', '')}/{env.get('POSTGRES_DBNAME', '')}"
    )
