"""Reading every stored event once, decoding each on its own."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Final

import attrs

from referral_ledger.aggregates.base import Event

if TYPE_CHECKING:
    from referral_ledger.ledger import Ledger

#: Events read from the log per query.
BATCH: Final = 1000


@attrs.frozen
class LogEntry:
    """One stored event: its position, topic, and the event (None if it cannot be decoded)."""

    position: int
    topic: str
    event: Event | None
    error: str | None = None


def read_log(
    ledger: Ledger,
    topics: tuple[str, ...] = (),
    progress: Callable[[int, int], None] | None = None,
    stop: int | None = None,
) -> Iterator[LogEntry]:
    """Every stored event (of `topics`, if given; up to position `stop`), oldest first.

    An event that cannot be decoded (damaged bytes, a wrong key, an unknown
    class) is yielded with `event=None` and the reason, instead of stopping.
    `progress(position, last_position)` is called after each batch.
    """
    store = ledger._store
    last = store.last_position() if stop is None else stop
    position = 0
    while position < last:
        batch = store.notifications(position, BATCH, topics, stop=last)
        if not batch:
            break
        for notification in batch:
            try:
                event: Event | None = store.event_of(notification)
                error = None
            except Exception as exc:
                event, error = None, reason(exc)
            yield LogEntry(notification.id, notification.topic, event, error)
        position = batch[-1].id
        if progress is not None:
            progress(position, last)
    if progress is not None:
        progress(last, last)


def reason(error: Exception) -> str:
    """The first line of what went wrong, for a report."""
    cause = error.__cause__ or error
    return f"{type(cause).__name__}: {cause}".splitlines()[0][:300]
