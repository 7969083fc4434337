"""What the store keeps after stamping events under its write lock, and the repeat of a
write whose commit's outcome the persistence layer reported unknown.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest

from referral_ledger import Ledger, LoyaltyProgram
from referral_ledger.aggregates import customer as customers
from referral_ledger.aggregates import loyalty
from referral_ledger.aggregates.base import Evolve
from referral_ledger.store import Store, saving
from support import Clock

LOYALTY = LoyaltyProgram(money_per_point=Decimal(10000), point_value=Decimal(1000))


def replayed(store: Store, record: UUID, evolve: Evolve[Any]) -> Any:
    state = None
    for event in store.events_of(record):
        state = evolve(state, event)
    return state


def test_cached_and_snapshotted_states_are_those_of_the_stamped_events(store_url: str) -> None:
    """Every clock reading moves a ticking clock on: the recording time read under the
    lock differs from the command's start, and what the store keeps must follow it."""
    clock = Clock(tick=timedelta(seconds=1))
    with Ledger.open(store_url, clock=clock, snapshot_interval=1) as ledger:
        ledger.configure_loyalty(LOYALTY)
        cid = ledger.register_customer(name="An", phones=["0912345678"])
        ledger.record_purchase(cid, "INV-1", Decimal(250000))
        store = ledger._store
        kept: list[tuple[UUID, Evolve[Any]]] = [
            (cid, customers.evolve_customer),
            (loyalty.account_id(cid), loyalty.evolve_account),
        ]
        for record, evolve in kept:
            truth = replayed(store, record, evolve)
            assert truth == store.load(record, evolve)  # the cache
            store.cache.clear()
            assert truth == store.load(record, evolve)  # the snapshot, then events
        [registered, *_] = store.events_of(cid)
        # registered_at is the registration's business time (decided by the
        # command, never restamped); the recording stamp is taken under the lock.
        assert isinstance(registered, customers.CustomerRegistered)
        assert ledger.get_customer(cid).registered_at == registered.at
        assert registered.at <= registered.timestamp


class Unknown(Exception):
    """Stands for the persistence layer's "the commit's outcome is unknown"."""


@pytest.fixture
def outcome_unknown(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(saving, "OUTCOME_UNKNOWN", (Unknown,))
    yield


@pytest.mark.postgres
@pytest.mark.usefixtures("outcome_unknown")
def test_a_write_reported_unknown_after_its_commit_is_repeated_and_counted_once(
    fresh_pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Ledger.open(fresh_pg_url, clock=Clock(tick=timedelta(seconds=1))) as ledger:
        ledger.configure_loyalty(LOYALTY)
        cid = ledger.register_customer(name="An", phones=["0912345678"])
        ledger.record_purchase(cid, "INV-1", Decimal(250000))
        events = ledger._store.app.events
        real_put = events.put
        calls = 0

        def committed_then_lost(domain_events: Any, **kwargs: Any) -> Any:
            nonlocal calls
            calls += 1
            result = real_put(domain_events, **kwargs)
            if calls == 1:
                raise Unknown("the answer to COMMIT never came")
            return result

        monkeypatch.setattr(events, "put", committed_then_lost)
        assert 10 == ledger.return_purchase(cid, "INV-1", amount=Decimal(100000))
        assert 2 == calls  # repeated once, and the repeat met the first commit
        monkeypatch.undo()
        assert 15 == ledger.balance(cid)
        assert 1 == sum(r.kind == "return" for r in ledger.statement(cid))
        account = loyalty.account_id(cid)
        truth = replayed(ledger._store, account, loyalty.evolve_account)
        assert truth == ledger._store.load(account, loyalty.evolve_account)


@pytest.mark.postgres
@pytest.mark.usefixtures("outcome_unknown")
def test_a_write_whose_outcome_stays_unknown_raises_after_a_few_repeats(
    fresh_pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Ledger.open(fresh_pg_url) as ledger:
        ledger.configure_loyalty(LOYALTY)
        cid = ledger.register_customer(name="An", phones=["0912345678"])

        def never_answered(domain_events: Any, **kwargs: Any) -> Any:
            raise Unknown("no answer")

        monkeypatch.setattr(ledger._store.app.events, "put", never_answered)
        with pytest.raises(Unknown):
            ledger.record_purchase(cid, "INV-1", Decimal(250000))
        monkeypatch.undo()
        assert 0 == ledger.balance(cid)
