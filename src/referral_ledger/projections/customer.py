"""What `get_customer` shows: a customer's details, contracts and loyalty standing."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import attrs

from referral_ledger.aggregates.customer_record import Contract, CustomerRecord, Note
from referral_ledger.aggregates.loyalty_account import LoyaltyAccount
from referral_ledger.policies.customer_fields import FIELD_NAMES, CustomerFields


@attrs.frozen(kw_only=True)
class Customer(CustomerFields):
    """A customer as a host sees it: details (see `CustomerFields`), contracts and
    loyalty standing."""

    id: UUID
    contracts: tuple[Contract, ...]
    registered_at: datetime
    #: The loyalty tier reached (None before any), from the points account.
    level: str | None = None
    purchase_count: int = 0
    lifetime_points: int = 0
    #: The dated log of notes (`Ledger.add_note`), oldest first. `notes`
    #: stays the one free-text field a host sets with the other details.
    note_log: tuple[Note, ...] = ()

    @property
    def phone(self) -> str:
        """The first (main) phone number ("" for a customer with none: phones
        may be made optional)."""
        return self.phones[0] if self.phones else ""


def customer_view(record: CustomerRecord, account: LoyaltyAccount | None) -> Customer:
    """The customer as recorded, with its points account's standing."""
    return Customer(
        id=record.id,
        contracts=record.contracts,
        registered_at=record.registered_at,
        level=account.tier if account else None,
        purchase_count=account.purchase_count if account else 0,
        lifetime_points=account.lifetime_points if account else 0,
        note_log=record.note_log,
        **{name: getattr(record, name) for name in FIELD_NAMES},
    )
