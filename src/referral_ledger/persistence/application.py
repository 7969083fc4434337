"""The eventsourcing application holding the ledger's events, configured for it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import ApplicationRecorder, EventStore, Mapper, Recording
from eventsourcing.utils import Environment, EnvType

from referral_ledger.chain import EventChain
from referral_ledger.persistence.connect import postgres_setup_lock
from referral_ledger.persistence.mapper import CattrsMapper, OrjsonTranscoder


class LedgerEventStore(EventStore[UUID]):
    """eventsourcing's event store; given `stamped=`, it writes those stored events.

    `Store.run` passes its unit's events together with `StampedEvents`, which
    encode them only once the recorder holds the write lock
    (persistence/stamped.py); encoding them here would stamp them too early.
    """

    def put(
        self, domain_events: Sequence[DomainEventProtocol[UUID]], **kwargs: Any
    ) -> list[Recording[UUID]]:
        stamped = kwargs.pop("stamped", None)
        if stamped is None:
            return super().put(domain_events, **kwargs)
        assert len(stamped) == len(domain_events)
        # Notification ids are not read back: nothing in the ledger uses them.
        self.recorder.insert_events(stamped, **kwargs)
        return []


class EventLog(Application[UUID]):
    """The eventsourcing application holding the ledger's events."""

    name = "referral_ledger"

    def __init__(self, env: EnvType | None = None) -> None:
        # Opening creates tables, indexes and functions (CREATE OR REPLACE
        # FUNCTION); PostgreSQL fails one of two processes doing that at once
        # ("tuple concurrently updated"), so openers of one store take turns.
        with postgres_setup_lock(dict(env or {})):
            super().__init__(env)

    def construct_env(self, name: str, env: EnvType | None = None) -> Environment:
        # Only what Ledger.open was given: a stray CIPHER_KEY or
        # PERSISTENCE_MODULE in the host's environment must not reconfigure us.
        return Environment(name, dict(env or {}))

    def construct_recorder(self) -> ApplicationRecorder:
        # A process recorder is an application recorder that can also write a
        # tracking row in the same transaction as events: what makes the
        # ledger's own event reactions (automatic rewards) exactly-once.
        recorder = self.factory.process_recorder()
        chained: Any = recorder
        if hasattr(chained, "write_links"):
            # The log's hash chain, keyed by the cipher key when there is one
            # (see chain.py); written unless `without_chain` turned it off.
            chained.chain = EventChain.for_cipher_key(self.env.get("CIPHER_KEY"))
            chained.write_links = self.env.get(_CHAIN) != "off"
        return recorder

    def construct_event_store(self) -> EventStore[UUID]:
        return LedgerEventStore(mapper=self.mapper, recorder=self.recorder)

    def construct_mapper(self) -> Mapper[UUID]:
        return CattrsMapper(
            transcoder=OrjsonTranscoder(),
            compressor=self.factory.compressor(),
            cipher=self.factory.cipher(),
        )


#: The setting that turns the hash chain off (only `without_chain` sets it).
_CHAIN: Final = "EVENT_CHAIN"


def without_chain(env: dict[str, str]) -> dict[str, str]:
    """The settings `env`, writing events without their links, as before the chain
    existed: for the benchmark (the chain's cost) and for tests (a store written
    before the chain). Not reachable from `Ledger.open`."""
    return {**env, _CHAIN: "off"}
