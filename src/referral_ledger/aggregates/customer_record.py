"""A customer record: its state, the decisions on it, and `evolve`.

The phone index (`phones.py`) and the POS-id claim below are records of
their own at derived ids (`claims.py`), saved in the same transaction, so "one
owner per phone" and "one customer per upstream id" are enforced by the store
even between processes. The events are in `customer.py`.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Final
from uuid import UUID

import attrs

from referral_ledger.aggregates import claims
from referral_ledger.aggregates.base import Event, Origin, next_event
from referral_ledger.aggregates.claims import Claim, ClaimEvent, ClaimKind
from referral_ledger.aggregates.customer import (
    ContractSigned,
    CustomerRegistered,
    CustomerUpdated,
    ExternalIdLinked,
    NoteAdded,
)
from referral_ledger.errors import InvalidInput
from referral_ledger.policies.customer_fields import (
    EDITABLE,
    FIELD_NAMES,
    CustomerEdit,
    CustomerFields,
)
from referral_ledger.values import (
    UNKEYED_IDS,
    RecordIds,
    parse_date,
    parse_reference,
    parse_text,
)

# --- state -----------------------------------------------------------------


@attrs.frozen
class Contract:
    """A signed contract; in force on every day from `starts_on` to `ends_on`, inclusive."""

    contract_id: str
    plan: str
    starts_on: date
    ends_on: date

    def in_force(self, day: date) -> bool:
        """Whether the contract covers `day`."""
        return self.starts_on <= day <= self.ends_on


@attrs.frozen
class Note:
    """One entry of a customer's dated log of notes (Pancake's "Trao đổi")."""

    at: datetime
    text: str
    by: str | None = None


@attrs.frozen(kw_only=True)
class CustomerRecord(CustomerFields):
    """A customer's details as recorded (the aggregate's state)."""

    id: UUID
    version: int
    #: When the customer registered, in business time.
    registered_at: datetime
    contracts: tuple[Contract, ...] = ()
    #: Who registered the customer (`by=`), if told: what the `created_by`
    #: condition of an owner-assignment rule reads, at every later edit too.
    created_by: str | None = None
    #: Who edited it last, if told: kept with the record for the log's readers
    #: (an edit's own rules read that edit's `by=`, not this).
    edited_by: str | None = None
    #: The dated notes, in the order they were added.
    note_log: tuple[Note, ...] = ()


# --- the POS-id claim --------------------------------------------------------


def _linked(origin: Origin, external_id: str, customer_id: UUID) -> ClaimEvent:
    return ExternalIdLinked(**origin, external_id=external_id, customer_id=customer_id)


#: An upstream (POS) id, claimed by the customer it stands for; the events and
#: id derivation 0.1 stored. A link is never released.
POS_ID: Final = ClaimKind("customer-external-id", _linked)

#: An upstream (POS) id and the customer it stands for (`owner`).
ExternalLink = Claim
evolve_link = claims.evolve_claim


def external_link_id(external_id: str, ids: RecordIds = UNKEYED_IDS) -> UUID:
    """The id of the record linking an upstream (POS) id to a customer."""
    return POS_ID.record_id(external_id, ids)


def link_external_id(
    link: Claim | None,
    external_id: str,
    customer_id: UUID,
    now: datetime,
    *,
    record_id: UUID | None = None,
) -> list[Event]:
    """Make `external_id` stand for `customer_id` (nothing if it already stands for one)."""
    if link is not None and link.owner is not None:
        return []
    return claims.claim(POS_ID, link, external_id, customer_id, now, record_id=record_id)


# --- decisions -------------------------------------------------------------


def register(
    customer_id: UUID,
    details: CustomerFields,
    now: datetime,
    at: datetime | None = None,
    *,
    by: str | None = None,
    rule: str | None = None,
) -> list[Event]:
    """Record a new customer, registered at business time `at` (None: now) by `by`.

    `rule`: the owner-assignment rule that chose `details.assigned_staff`, if one did.
    """
    fields = {name: getattr(details, name) for name in FIELD_NAMES}
    origin = next_event(None, now, record_id=customer_id)
    return [
        CustomerRegistered(**origin, at=at or now, created_by=by, assignment_rule=rule, **fields)
    ]


def changes(customer: CustomerRecord, edit: CustomerEdit) -> bool:
    """Whether `edit` changes anything of the customer."""
    return any(value != getattr(customer, f) for f, value in edit.changes.items())


def update(
    customer: CustomerRecord,
    edit: CustomerEdit,
    now: datetime,
    at: datetime | None = None,
    *,
    by: str | None = None,
    rule: str | None = None,
) -> list[Event]:
    """Record the fields `edit` changes (nothing when it changes none), edited by `by`.

    `rule`: the owner-assignment rule that chose the edit's `assigned_staff`, if one did.
    """
    changed: dict[str, object] = {}
    cleared: set[str] = set()
    for field, value in edit.changes.items():
        if value == getattr(customer, field):
            continue
        if value is None:
            cleared.add(field)
        else:
            changed[field] = value
    if not changed and not cleared:
        return []
    origin = next_event(customer, now)
    return [
        CustomerUpdated(
            **origin,
            at=at or now,
            cleared=frozenset(cleared),
            edited_by=by,
            assignment_rule=rule,
            **changed,  # type: ignore[arg-type]
        )
    ]


def sign_contract(
    customer: CustomerRecord, contract: Contract, now: datetime, at: datetime | None = None
) -> list[Event]:
    """Record a contract signed at business time `at` (None: now); its id must be new."""
    if contract.ends_on < contract.starts_on:
        raise InvalidInput(
            f"contract {contract.contract_id!r} ends before it starts: "
            f"ends_on {contract.ends_on} < starts_on {contract.starts_on}"
        )
    if any(c.contract_id == contract.contract_id for c in customer.contracts):
        raise InvalidInput(
            f"customer {customer.id} already has a contract with contract_id "
            f"{contract.contract_id!r}"
        )
    return [
        ContractSigned(
            **next_event(customer, now),
            customer_id=customer.id,
            contract_id=contract.contract_id,
            plan=contract.plan,
            starts_on=contract.starts_on,
            ends_on=contract.ends_on,
            at=at or now,
        )
    ]


def add_note(customer: CustomerRecord, note: Note, now: datetime) -> list[Event]:
    """Record a note in the customer's log."""
    return [NoteAdded(**next_event(customer, now), text=note.text, by=note.by, at=note.at)]


def parse_contract(
    contract_id: object, plan: object, starts_on: object, ends_on: object
) -> Contract:
    return Contract(
        contract_id=parse_reference(contract_id, "contract_id"),
        plan=parse_text(plan, "plan", limit=100),
        starts_on=parse_date(starts_on, "starts_on"),
        ends_on=parse_date(ends_on, "ends_on"),
    )


def contract_in_force(customer: CustomerRecord, day: date) -> bool:
    """Whether any of the customer's contracts covers `day` (both ends inclusive)."""
    return any(contract.in_force(day) for contract in customer.contracts)


# --- evolve ----------------------------------------------------------------


def evolve_customer(customer: CustomerRecord | None, event: Event) -> CustomerRecord:
    """Apply one event to a customer record."""
    match event:
        case CustomerRegistered():
            return CustomerRecord(
                id=event.originator_id,
                version=event.originator_version,
                registered_at=event.at,
                created_by=event.created_by,
                **{name: getattr(event, name) for name in FIELD_NAMES},
            )
        case CustomerUpdated() if customer is not None:
            changes: dict[str, object] = {f: None for f in event.cleared}
            for field in EDITABLE:
                value = getattr(event, field)
                if value is not None:
                    changes[field] = value
            if event.edited_by is not None:
                changes["edited_by"] = event.edited_by
            return attrs.evolve(customer, version=event.originator_version, **changes)  # type: ignore[arg-type]
        case NoteAdded() if customer is not None:
            note = Note(at=event.at, text=event.text, by=event.by)
            return attrs.evolve(
                customer, version=event.originator_version, note_log=(*customer.note_log, note)
            )
        case ContractSigned() if customer is not None:
            contract = Contract(event.contract_id, event.plan, event.starts_on, event.ends_on)
            return attrs.evolve(
                customer,
                version=event.originator_version,
                contracts=(*customer.contracts, contract),
            )
    raise TypeError(f"not a customer event: {event!r}")
