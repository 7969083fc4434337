"""Running reactions: each follows the log from its tracked position.

A reaction reads the events of its trigger types after its position and,
for each, saves the events it decides on together with the new position
(a tracking row named after the reaction) in one transaction. A process that
dies between the trigger and the reaction leaves the position behind, so the
next catch-up redoes it; two processes reacting at once cannot both save the
same position (the tracking row is unique), so the reaction happens exactly
once.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from functools import partial

from eventsourcing.persistence import Tracking

from referral_ledger.aggregates.base import Event
from referral_ledger.reactions.registry import REACTIONS, Context, Reaction, Registry
from referral_ledger.store import UnitOfWork


def position(reaction: Reaction, context: Context) -> int:
    """The log position `reaction` has processed up to."""
    return context.store.reacted_up_to(reaction.name)


def catch_up(reaction: Reaction, context: Context, batch_size: int = 100) -> int:
    """React to every trigger recorded since the last run.

    Returns how many triggers it handled (whether or not they led to events).
    """
    store = context.store
    reacted = 0
    at = position(reaction, context)
    topics = reaction.topics
    while True:
        notifications = store.notifications(at, batch_size, topics)
        if not notifications:
            return reacted
        # Most triggers need nothing done (a phone claimed that no lead
        # holds): rather than a transaction each, their position is saved
        # once for the batch. Redoing a no-op after a crash is harmless; a
        # trigger that leads to events is saved with its own position.
        idle_upto: int | None = None
        for notification in notifications:
            event = store.event_of(notification)
            trial = UnitOfWork(store)
            reaction.handle(trial, event, context)
            if trial.pending:
                tracking = Tracking(reaction.name, notification.id)
                store.run(partial(_react, reaction, event, context), tracking=tracking)
                idle_upto = None
            else:
                idle_upto = notification.id
            at = notification.id
            reacted += 1
        if idle_upto is not None:
            store.run(_nothing, tracking=Tracking(reaction.name, idle_upto))


def _react(reaction: Reaction, event: Event, context: Context, unit: UnitOfWork) -> None:
    reaction.handle(unit, event, context)


def _nothing(unit: UnitOfWork) -> None:
    """A reaction that records nothing: only its position is saved."""


class Reactions:
    """The ledger's reactions: all of them on demand, or those a commit triggers.

    `committed` is the store's commit listener when the ledger reacts inline:
    after a command commits, it runs the reactions that follow one of the
    event types the command recorded (a command that recorded none costs a
    set intersection). The events those reactions record may trigger others;
    they are collected while reacting (the listener is re-entered by the
    reactions' own commits) and handled in turn, until nothing new is left.
    """

    def __init__(self, context: Context, registry: Registry[Reaction] = REACTIONS) -> None:
        self.context = context
        self.registry = registry
        # Per thread: the event types recorded while this thread is reacting
        # (None: not reacting). Threads react independently, which is safe:
        # the tracking rows keep each event handled once.
        self._local = threading.local()

    def process(self) -> int:
        """Run every registered reaction over the triggers not yet handled; returns how many."""
        return self._reacting(set(), everything=True)

    def committed(self, events: Sequence[Event]) -> None:
        """Run the reactions that follow the types of `events` (just committed)."""
        recorded = {type(event) for event in events}
        pending: set[type[Event]] | None = getattr(self._local, "pending", None)
        if pending is not None:
            pending |= recorded
            return
        if any(recorded.intersection(r.triggers) for r in self.registry):
            self._reacting(recorded, everything=False)

    def _reacting(self, recorded: set[type[Event]], *, everything: bool) -> int:
        if getattr(self._local, "pending", None) is not None:
            # Called from a handler: the outer loop catches up with what it records.
            return 0
        self._local.pending = set()
        handled = 0
        try:
            while everything or recorded:
                for reaction in self.registry:
                    if everything or recorded.intersection(reaction.triggers):
                        handled += catch_up(reaction, self.context)
                everything = False
                recorded, self._local.pending = self._local.pending, set()
        finally:
            self._local.pending = None
        return handled
