"""The events of a customer record (and of its POS-id claim).

Only events live here: a class's module path is its stored topic. The
customer's fields are defined once in `policies/customer_fields.py`; the
record, its decisions and `evolve` are in `customer_record.py`.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Any, ClassVar
from uuid import UUID

import attrs

from referral_ledger.aggregates.base import Event
from referral_ledger.aggregates.claims import ClaimEvent
from referral_ledger.policies.customer_fields import FIELD_NAMES, CustomerFields


def _dated_by_recording(state: dict[str, Any]) -> None:
    # Events stored by 0.1 had no business time: it was when they were recorded.
    state["at"] = state["timestamp"]


@attrs.frozen(kw_only=True)
class CustomerRegistered(Event, CustomerFields):
    """A new customer, with every field (see `CustomerFields`)."""

    class_version: ClassVar[int] = 2
    #: When the customer registered, in business time (a POS backfill's past).
    at: datetime
    #: Who registered the customer (`by=`), if the host said.
    created_by: str | None = None
    #: The owner-assignment rule that set `assigned_staff`, if one did.
    assignment_rule: str | None = None

    upcast_v1_v2 = staticmethod(_dated_by_recording)


@attrs.frozen(kw_only=True)
class CustomerUpdated(Event):
    """Only the fields that changed: a field left `None` did not change, unless
    it is named in `cleared` (an optional field set to nothing).

    The optional twin of `CustomerFields`, stored field by field as 0.1 did;
    the check below keeps the two in step.
    """

    class_version: ClassVar[int] = 2
    name: str | None = None
    phones: tuple[str, ...] | None = None
    email: str | None = None
    group: str | None = None
    source: str | None = None
    tags: frozenset[str] | None = None
    external_id: str | None = None
    notes: str | None = None
    addresses: tuple[str, ...] | None = None
    assigned_staff: str | None = None
    social_page: str | None = None
    cleared: frozenset[str] = frozenset()
    at: datetime
    #: Who made the change (`by=`), if the host said.
    edited_by: str | None = None
    #: The owner-assignment rule that set `assigned_staff`, if one did.
    assignment_rule: str | None = None

    upcast_v1_v2 = staticmethod(_dated_by_recording)


_UPDATABLE = tuple(a.name for a in attrs.fields(CustomerUpdated) if a.name in FIELD_NAMES)
if _UPDATABLE != FIELD_NAMES:  # pragma: no cover - fails at import, on purpose
    raise TypeError(f"CustomerUpdated must have every customer field: {FIELD_NAMES}")


@attrs.frozen(kw_only=True)
class ContractSigned(Event):
    class_version: ClassVar[int] = 2
    customer_id: UUID
    contract_id: str
    plan: str
    starts_on: date
    ends_on: date
    #: When it was signed, in business time (what its automatic reward is dated by).
    at: datetime

    upcast_v1_v2 = staticmethod(_dated_by_recording)


@attrs.frozen(kw_only=True)
class NoteAdded(Event):
    """A dated note in the customer's log (what was said, by whom)."""

    text: str
    by: str | None = None
    #: When it was said, in business time.
    at: datetime


@attrs.frozen(kw_only=True)
class ExternalIdLinked(ClaimEvent):
    """The claim of an upstream (POS) id by the customer it stands for."""

    external_id: str
    customer_id: UUID

    @property
    def claimed(self) -> tuple[str, UUID]:
        return self.external_id, self.customer_id


# Names that lived here in 0.1, for code (other modules, hosts) importing them
# from here; resolved on first use, because their modules import these events.
_MOVED: dict[str, str] = {
    "Contract": "referral_ledger.aggregates.customer_record",
    "CustomerRecord": "referral_ledger.aggregates.customer_record",
    "contract_in_force": "referral_ledger.aggregates.customer_record",
    "evolve_customer": "referral_ledger.aggregates.customer_record",
    "evolve_link": "referral_ledger.aggregates.customer_record",
    "external_link_id": "referral_ledger.aggregates.customer_record",
    "UNCHANGED": "referral_ledger.policies.customer_fields",
    "parse_email": "referral_ledger.policies.customer_fields",
    "DUPLICATE_PHONE_POLICIES": "referral_ledger.policies.customers",
    "KNOWN_TAGS": "referral_ledger.policies.customers",
    "DuplicatePhonePolicy": "referral_ledger.policies.customers",
    "Customer": "referral_ledger.projections.customer",
    "ImportReport": "referral_ledger.commands.customer_import",
}

if TYPE_CHECKING:
    from referral_ledger.aggregates.customer_record import Contract as Contract
    from referral_ledger.aggregates.customer_record import CustomerRecord as CustomerRecord
    from referral_ledger.aggregates.customer_record import contract_in_force as contract_in_force
    from referral_ledger.aggregates.customer_record import evolve_customer as evolve_customer
    from referral_ledger.aggregates.customer_record import evolve_link as evolve_link
    from referral_ledger.aggregates.customer_record import external_link_id as external_link_id
    from referral_ledger.commands.customer_import import ImportReport as ImportReport
    from referral_ledger.policies.customer_fields import UNCHANGED as UNCHANGED
    from referral_ledger.policies.customer_fields import parse_email as parse_email
    from referral_ledger.policies.customers import (
        DUPLICATE_PHONE_POLICIES as DUPLICATE_PHONE_POLICIES,
    )
    from referral_ledger.policies.customers import KNOWN_TAGS as KNOWN_TAGS
    from referral_ledger.policies.customers import DuplicatePhonePolicy as DuplicatePhonePolicy
    from referral_ledger.projections.customer import Customer as Customer
else:

    def __getattr__(name: str) -> Any:
        import importlib

        if name not in _MOVED:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        return getattr(importlib.import_module(_MOVED[name]), name)
