"""Test doubles shared by the test modules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

#: Where a `Clock` starts unless its test module sets `START`.
DEFAULT_START = datetime(2026, 1, 1, 8, 0, tzinfo=UTC)


class Clock:
    """A fake clock: tests move time on explicitly, so `as_of` has exact answers."""

    def __init__(self, start: datetime = DEFAULT_START) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now
