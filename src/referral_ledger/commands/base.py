"""What every group of ledger commands shares: the store, the views, the clock."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone, tzinfo
from typing import Final
from uuid import UUID

from referral_ledger.aggregates import customer as customers
from referral_ledger.aggregates.base import Evolve
from referral_ledger.aggregates.customer import CustomerRecord
from referral_ledger.errors import NotFound
from referral_ledger.projections.storage import ViewStore
from referral_ledger.store import S, Store, UnitOfWork
from referral_ledger.values import parse_id, parse_optional_time, parse_time

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

    def _business_time(self, at: object) -> datetime:
        return self._store.clock() if at is None else parse_time(at, "at")

    def _business_day(self, at: datetime) -> date:
        return at.astimezone(self.business_timezone).date()

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
