"""What every group of ledger commands shares: the store, the views, the clock."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone, tzinfo
from typing import Final
from uuid import UUID

from referral_ledger.aggregates import customer_record as customers
from referral_ledger.aggregates.base import Evolve
from referral_ledger.aggregates.claims import (
    ID_SCHEME_RECORD,
    Claim,
    ClaimKind,
    adopt_keyed_ids,
    evolve_claim,
    evolve_id_scheme,
)
from referral_ledger.aggregates.customer_record import CustomerRecord
from referral_ledger.errors import NotFound
from referral_ledger.policies.calendar import business_day
from referral_ledger.projections.storage import ViewStore
from referral_ledger.store import S, Store, UnitOfWork
from referral_ledger.values import (
    UNKEYED_IDS,
    RecordIds,
    parse_id,
    parse_optional_time,
    parse_time,
)

#: Contracts are signed for calendar days; a day is a day where the business
#: is. Vietnam keeps UTC+7 all year.
VIETNAM: Final = timezone(timedelta(hours=7), "ICT")


class LedgerBase:
    """State and helpers the command groups share."""

    _store: Store
    _views: ViewStore
    phone_region: str
    business_timezone: tzinfo
    #: Run the ledger's own reactions (automatic rewards) right after the
    #: commands that trigger them (the ledger listens to the store's commits;
    #: no command calls them); False when a worker process does it.
    react_inline: bool
    #: How this store derives record ids from business values (`record_ids`).
    _ids: RecordIds

    def _business_time(self, at: object) -> datetime:
        return self._store.clock() if at is None else parse_time(at, "at")

    def _business_day(self, at: datetime) -> date:
        return business_day(at, self.business_timezone)

    def _claim_id(self, kind: ClaimKind, value: str) -> UUID:
        """The id of the claim record of `value` in this store."""
        return kind.record_id(value, self._ids)

    def _load_claim(self, unit: UnitOfWork, kind: ClaimKind, value: str) -> Claim | None:
        """Who holds `value` (None: no one ever claimed it)."""
        return unit.load(self._claim_id(kind, value), evolve_claim)

    def _load_as_of(
        self, aggregate_id: UUID, evolve: Evolve[S], as_of: datetime | None
    ) -> S | None:
        when = parse_optional_time(as_of, "as_of")
        if when is None:
            return self._store.load(aggregate_id, evolve)
        return self._store.load_as_of(aggregate_id, evolve, when)

    def _customer(self, unit: UnitOfWork, customer_id: UUID) -> CustomerRecord:
        record = unit.load(customer_id, customers.evolve_customer)
        if record is None:
            raise NotFound(f"no customer with id {customer_id}")
        return record

    def _known_customer(self, customer_id: object) -> UUID:
        customer = parse_id(customer_id, "customer_id")
        if self._store.load(customer, customers.evolve_customer) is None:
            raise NotFound(f"no customer with id {customer}")
        return customer


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
