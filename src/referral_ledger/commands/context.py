"""What every group of ledger commands shares, built once by the `Ledger`.

The store, the views, how record ids are derived, the ledger's settings, and
the few steps many commands take (the business time of `at=`, loading a
customer or a claim, reading a record as of a moment). A command group gets
this object when it is built (`commands/base.py`); no group reaches into
another's state.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, tzinfo
from typing import Any
from uuid import UUID

import attrs

from referral_ledger.aggregates import customer_record as customers
from referral_ledger.aggregates.base import Evolve
from referral_ledger.aggregates.claims import Claim, ClaimKind, evolve_claim
from referral_ledger.aggregates.customer_record import CustomerRecord
from referral_ledger.errors import NotFound
from referral_ledger.policies.calendar import business_day
from referral_ledger.projections.due_index import DueIndex
from referral_ledger.projections.storage import ViewStore
from referral_ledger.store import S, Store, UnitOfWork
from referral_ledger.values import RecordIds, parse_id, parse_optional_time, parse_time


# Not frozen: hosts may set `ledger.phone_region` (and the other settings) after
# opening, as they could when these were attributes of the ledger itself, and
# every group must see the change.
@attrs.define(eq=False)
class LedgerContext:
    """The store, the views and the settings every command group reads."""

    store: Store
    views: ViewStore
    #: How this store derives record ids from business values (`record_ids`).
    ids: RecordIds
    phone_region: str
    business_timezone: tzinfo
    #: Run the ledger's own reactions (automatic rewards) right after the
    #: commands that trigger them (the ledger listens to the store's commits;
    #: no command calls them); False when a worker process does it.
    react_inline: bool
    #: What the time-driven jobs have still to do, by due date (beside the views).
    due_index: DueIndex = attrs.field(init=False)
    #: How another process opens this same ledger: returns a picklable callable
    #: that opens it (set by the `Ledger`; `import_purchases(workers=N)` uses it).
    reopen: Callable[[], Callable[[], Any]] = attrs.field(init=False, default=None)

    def __attrs_post_init__(self) -> None:
        self.due_index = DueIndex(self.views.sql, self.store)

    def business_time(self, at: object) -> datetime:
        """The business time of a command's `at` (None: the clock's now)."""
        return self.store.clock() if at is None else parse_time(at, "at")

    def business_day(self, at: datetime) -> date:
        """The calendar day `at` falls on where the business is."""
        return business_day(at, self.business_timezone)

    def claim_id(self, kind: ClaimKind, value: str) -> UUID:
        """The id of the claim record of `value` in this store."""
        return kind.record_id(value, self.ids)

    def load_claim(self, unit: UnitOfWork, kind: ClaimKind, value: str) -> Claim | None:
        """Who holds `value` (None: no one ever claimed it)."""
        return unit.load(self.claim_id(kind, value), evolve_claim)

    def load_as_of(self, aggregate_id: UUID, evolve: Evolve[S], as_of: datetime | None) -> S | None:
        """A record as it is now, or as it was recorded by `as_of`."""
        when = parse_optional_time(as_of, "as_of")
        if when is None:
            return self.store.load(aggregate_id, evolve)
        return self.store.load_as_of(aggregate_id, evolve, when)

    def customer(self, unit: UnitOfWork, customer_id: UUID) -> CustomerRecord:
        """The customer's record in `unit`; NotFound if there is none."""
        record = unit.load(customer_id, customers.evolve_customer)
        if record is None:
            raise NotFound(f"no customer with id {customer_id}")
        return record

    def known_customer(self, customer_id: object) -> UUID:
        """`customer_id` parsed, once the customer is known to exist (else NotFound)."""
        customer = parse_id(customer_id, "customer_id")
        if self.store.load(customer, customers.evolve_customer) is None:
            raise NotFound(f"no customer with id {customer}")
        return customer
