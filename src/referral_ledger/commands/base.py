"""The base of every group of ledger commands, and how a store derives record ids.

A command group (`CustomerCommands`, `ReferralCommands`, ...) is an object the
`Ledger` builds with the one `LedgerContext` it shares with every other group,
plus, where a group needs another, that group (see `worker.py`). The `Ledger`
exposes each group's public methods as its own (`delegate.py`).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone, tzinfo
from typing import Final
from uuid import UUID

from referral_ledger.aggregates.base import Evolve
from referral_ledger.aggregates.claims import (
    ID_SCHEME_RECORD,
    Claim,
    ClaimKind,
    adopt_keyed_ids,
    evolve_id_scheme,
)
from referral_ledger.aggregates.customer_record import CustomerRecord
from referral_ledger.commands.context import LedgerContext
from referral_ledger.projections.storage import ViewStore
from referral_ledger.store import S, Store, UnitOfWork
from referral_ledger.values import UNKEYED_IDS, RecordIds

#: Contracts are signed for calendar days; a day is a day where the business
#: is. Vietnam keeps UTC+7 all year.
VIETNAM: Final = timezone(timedelta(hours=7), "ICT")


class LedgerBase:
    """A group of the ledger's commands: built with the context every group shares.

    The context's parts and steps read as `self._store`, `self._customer(...)`
    and so on, as they did when the groups were mixins of the `Ledger`, so a
    command's body reads the same either way.
    """

    def __init__(self, context: LedgerContext) -> None:
        self._context = context

    @property
    def _store(self) -> Store:
        return self._context.store

    @property
    def _views(self) -> ViewStore:
        return self._context.views

    @property
    def _ids(self) -> RecordIds:
        return self._context.ids

    @property
    def phone_region(self) -> str:
        return self._context.phone_region

    @property
    def business_timezone(self) -> tzinfo:
        return self._context.business_timezone

    @property
    def react_inline(self) -> bool:
        return self._context.react_inline

    def _business_time(self, at: object) -> datetime:
        return self._context.business_time(at)

    def _business_day(self, at: datetime) -> date:
        return self._context.business_day(at)

    def _claim_id(self, kind: ClaimKind, value: str) -> UUID:
        return self._context.claim_id(kind, value)

    def _load_claim(self, unit: UnitOfWork, kind: ClaimKind, value: str) -> Claim | None:
        return self._context.load_claim(unit, kind, value)

    def _load_as_of(
        self, aggregate_id: UUID, evolve: Evolve[S], as_of: datetime | None
    ) -> S | None:
        return self._context.load_as_of(aggregate_id, evolve, as_of)

    def _customer(self, unit: UnitOfWork, customer_id: UUID) -> CustomerRecord:
        return self._context.customer(unit, customer_id)

    def _known_customer(self, customer_id: object) -> UUID:
        return self._context.known_customer(customer_id)


def record_ids(store: Store) -> RecordIds:
    """How `store` derives record ids from business values.

    Without a cipher key: uuid5, as always. With one, keyed ids, except in an
    encrypted store written by 0.1, which holds uuid5 ids already: a store
    that takes keyed ids records so (`claims.RecordIdsKeyed`) before its
    first other event, so "events but no such record" means a 0.1 store.
    """
    key = store.app.env.get("CIPHER_KEY")
    if not key:
        return UNKEYED_IDS

    def decide(unit: UnitOfWork) -> bool:
        # The log's end is read before the record: "empty, and still no record
        # after" lets this process write it; a racing opener's record makes
        # this one's save conflict, and the retry then finds it.
        empty = store.last_position() == 0
        if unit.load(ID_SCHEME_RECORD, evolve_id_scheme) is not None:
            return True
        if not empty:
            return False
        unit.record(adopt_keyed_ids(None, unit.now))
        return True

    return RecordIds.for_cipher_key(key) if store.run(decide) else UNKEYED_IDS
