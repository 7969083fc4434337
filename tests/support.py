"""Test doubles shared by the test modules."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from multiprocessing.process import BaseProcess
from typing import Any, Protocol

#: Where a `Clock` starts unless its test module sets `START`.
DEFAULT_START = datetime(2026, 1, 1, 8, 0, tzinfo=UTC)


class Clock:
    """A fake clock: tests move time on explicitly, so `as_of` has exact answers.

    With a `tick`, every reading first moves the clock on by it, so each event
    has a moment of its own and `now` is the moment of the last reading; set
    `now` to jump (say, to the next month).
    """

    def __init__(self, start: datetime = DEFAULT_START, tick: timedelta = timedelta(0)) -> None:
        self.now = start
        self.tick = tick

    def __call__(self) -> datetime:
        self.now += self.tick
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


class Reports(Protocol):
    """Where worker processes put their one report each (a multiprocessing queue)."""

    def get(self, block: bool = True, timeout: float | None = None) -> dict[str, Any]: ...


def run_workers(
    processes: Sequence[BaseProcess], reports: Reports, timeout: float
) -> list[dict[str, Any]]:
    """Start `processes`, take one report from each, and wait for them to end.

    Fails the test with the workers' own tracebacks when any reported an error;
    a worker that hangs is terminated rather than left behind.
    """
    for process in processes:
        process.start()
    try:
        results = [reports.get(timeout=timeout) for _ in processes]
    finally:
        for process in processes:
            process.join(timeout=10)
            if process.is_alive():
                process.terminate()
                process.join()
    errors = [r["error"] for r in results if "error" in r]
    assert [] == errors, "\n".join(errors)
    return results


def race(
    target: Callable[..., None], args: Sequence[tuple[Any, ...]], timeout: float
) -> list[dict[str, Any]]:
    """Run `target(*args[w], w, barrier, reports)` in one spawned process per entry.

    The workers meet at `barrier` so that they really act at once; each puts
    one report (a dict with its `"worker"` number, or an `"error"` traceback)
    in `reports`. Returns the reports in worker order; fails the test with the
    workers' tracebacks if any raised, or if any exited other than cleanly.
    """
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(len(args))
    reports = context.Queue()
    processes = [
        context.Process(target=target, args=(*a, w, barrier, reports), daemon=True)
        for w, a in enumerate(args)
    ]
    results = run_workers(processes, reports, timeout)
    assert [0] * len(processes) == [p.exitcode for p in processes]
    return sorted(results, key=lambda r: int(r["worker"]))


def views_at_their_position(ledger: Any) -> tuple[int, dict[str, list[tuple[Any, ...]]]]:
    """The views' position and their rows as of it.

    The ledger's background catch-up may fold at any moment, between reading
    the position and reading the rows; the same position read before and
    after the rows shows that no batch committed in between (a batch commits
    its rows and the position together).
    """
    while True:
        position: int = ledger._views.position
        rows: dict[str, list[tuple[Any, ...]]] = ledger._views.dump()
        if ledger._views.position == position:
            return position, rows
