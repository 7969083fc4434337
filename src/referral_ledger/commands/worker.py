"""What the ledger does by itself: run its reactions and due jobs, keep the views current.

The reactions and jobs themselves are declared in `reactions/`; this group
runs them, inline after each commit or from a worker process.
"""

from __future__ import annotations

import threading
from datetime import datetime

from referral_ledger.commands.base import LedgerBase
from referral_ledger.commands.context import LedgerContext
from referral_ledger.commands.views import ViewQueries
from referral_ledger.reactions import Context
from referral_ledger.reactions.due import process_due
from referral_ledger.reactions.follow import Reactions
from referral_ledger.values import parse_time


class Worker(LedgerBase):
    """Reactions, due jobs, and the worker loop that also keeps the views current."""

    def __init__(self, context: LedgerContext, views: ViewQueries) -> None:
        super().__init__(context)
        #: The worker loop catches the views up too.
        self._view_queries = views
        self._reaction_context = Context(
            context.store,
            context.phone_region,
            context.business_timezone,
            context.ids,
            index=context.due_index,
        )
        self._reactions = Reactions(self._reaction_context)

    def start(self) -> None:
        """Follow the store's commits when reacting inline, and finish what is pending."""
        if self.react_inline:
            # After each commit, the reactions that follow what it recorded.
            self._store.listeners.append(self._reactions.committed)
            # A process that died after a contract but before its reward left
            # the reaction behind; whoever opens the ledger next completes it.
            self.process_reactions()

    def process_reactions(self) -> int:
        """Run every reaction (the automatic rewards) over the triggers not yet handled.

        Returns how many triggers were handled. Runs by itself after the
        commands that record a trigger unless the ledger was opened with
        `react_inline=False`; then a worker calls this (see `run_worker`).
        """
        return self._reactions.process()

    def process_due(self, now: datetime | None = None) -> int:
        """Record every time-driven change due by `now` (None: the clock); returns how many.

        Each due item of each registered job is handled exactly once, however
        many processes call this at once; calling again records nothing more.
        `now` in the past handles only what was due by then; in the future,
        what will be due by then (recorded now, dated when it falls due).
        """
        when = self._store.clock() if now is None else parse_time(now, "now")
        return process_due(self._reaction_context, when)

    def run_worker(self, stop: threading.Event | None = None, poll_interval: float = 0.5) -> None:
        """Keep reactions, due jobs and views current until `stop` is set (or forever).

        For deployments that open the ledger with `react_inline=False` and run
        this in a process of its own; several workers may run at once, and
        each event and each due item is still handled exactly once.
        """
        stop = stop or threading.Event()
        while not stop.is_set():
            busy = (
                self.process_reactions()
                + self.process_due()
                + self._view_queries.catch_up_projections()
            )
            if not busy:
                stop.wait(poll_interval)
