"""Reactions: the ledger following its own log and recording new events.

A reaction (such as "reward a referral when the lead signs a contract") reads
the events after its tracked position and, for each, saves the events it
decides on together with the new position in one transaction. A process that
dies between the trigger and the reaction leaves the position behind, so the
next catch-up redoes it; two processes reacting at once cannot both save the
same position, so the reaction happens exactly once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial

from eventsourcing.persistence import Tracking

from referral_ledger.aggregates.base import Event
from referral_ledger.store import Store, UnitOfWork

React = Callable[[UnitOfWork, Event], None]


class Reaction:
    """Follows the log and applies `react` to each event of the given classes once."""

    def __init__(
        self, store: Store, name: str, triggers: Sequence[type[Event]], react: React
    ) -> None:
        from eventsourcing.utils import get_topic

        self.store = store
        self.name = name
        self.topics = tuple(get_topic(cls) for cls in triggers)
        self.react = react

    @property
    def position(self) -> int:
        """The log position this reaction has processed up to."""
        return self.store.reacted_up_to(self.name)

    def catch_up(self, batch_size: int = 100) -> int:
        """React to every trigger recorded since the last run.

        Returns how many triggers it handled (whether or not they led to events).
        """
        reacted = 0
        position = self.position
        while True:
            notifications = self.store.notifications(position, batch_size, self.topics)
            if not notifications:
                return reacted
            # Most triggers need nothing done (a phone claimed that no lead
            # holds): rather than a transaction each, their position is saved
            # once for the batch. Redoing a no-op after a crash is harmless;
            # a reaction that records events saves them with its own position.
            idle_upto: int | None = None
            for notification in notifications:
                event = self.store.event_of(notification)
                trial = UnitOfWork(self.store)
                self.react(trial, event)
                if trial.pending:
                    tracking = Tracking(self.name, notification.id)
                    self.store.run(partial(self._react_to, event), tracking=tracking)
                    idle_upto = None
                else:
                    idle_upto = notification.id
                position = notification.id
                reacted += 1
            if idle_upto is not None:
                self.store.run(_nothing, tracking=Tracking(self.name, idle_upto))

    def _react_to(self, event: Event, unit: UnitOfWork) -> None:
        self.react(unit, event)


def _nothing(unit: UnitOfWork) -> None:
    """A reaction that records nothing: only its position is saved."""
