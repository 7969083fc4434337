"""The snapshot event: an aggregate's state at a version."""

from __future__ import annotations

from typing import Any

import attrs

from referral_ledger.aggregates.base import Event


@attrs.frozen(kw_only=True)
class Snapshot(Event):
    """An aggregate's state at a version: a cache that makes loading constant-time.

    Snapshots live in their own table and are never the only copy of a fact:
    an unreadable or outdated one is ignored and the events are replayed.
    """

    state_topic: str
    state: dict[str, Any]


# Stored snapshots name their class by topic: `referral_ledger.store:Snapshot`
# since 0.1, when it was defined in store.py. Keeping that module name keeps
# the topic of new snapshots the same, readable by 0.1 too (the package
# re-exports the class, so the topic resolves). Its annotations are resolved
# first, here: later they would be looked up in the package's namespace.
attrs.resolve_types(Snapshot)
Snapshot.__module__ = "referral_ledger.store"
