"""A customer: who they are, how to reach them, and the contracts they signed.

The customer record holds the details; the phone index (`phones.py`) and the
external-id link below are records of their own at derived ids, saved in the
same transaction, so "one owner per phone" and "one customer per upstream id"
are enforced by the store even between processes.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime
from typing import Final, Literal, TypeAlias
from uuid import UUID

import attrs
from email_validator import EmailNotValidError, validate_email

from referral_ledger.aggregates.base import Event, next_version
from referral_ledger.errors import InvalidInput
from referral_ledger.values import (
    derived_id,
    normalise_phone,
    parse_date,
    parse_optional_text,
    parse_reference,
    parse_text,
)

#: The tags the seed documents name as defaults ("tiềm năng" = potential,
#: "hay hoàn" = often returns). Tags are free text: hosts may use any others;
#: these are the ones every host can rely on meaning the same thing.
KNOWN_TAGS: Final = frozenset({"potential", "often_returns"})

#: What registering does when a phone already belongs to a customer.
DuplicatePhonePolicy: TypeAlias = Literal["reject", "skip", "update", "create"]
DUPLICATE_PHONE_POLICIES: Final = ("reject", "skip", "update", "create")

MAX_PHONES: Final = 20
MAX_TAGS: Final = 50
MAX_ADDRESSES: Final = 20
MAX_NOTES: Final = 5000


class Unchanged(enum.Enum):
    """The type of :data:`UNCHANGED`."""

    UNCHANGED = "UNCHANGED"

    def __repr__(self) -> str:
        return "UNCHANGED"


#: "Leave this field as it is" in an edit; `None` clears an optional field.
UNCHANGED: Final = Unchanged.UNCHANGED


def external_link_id(external_id: str) -> UUID:
    """The id of the record linking an upstream (POS) id to a customer."""
    return derived_id("customer-external-id", external_id)


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
class CustomerRecord:
    """A customer's details as recorded (the aggregate's state)."""

    id: UUID
    version: int
    name: str
    phones: tuple[str, ...]
    registered_at: datetime
    email: str | None = None
    group: str | None = None
    source: str | None = None
    tags: frozenset[str] = frozenset()
    external_id: str | None = None
    notes: str | None = None
    addresses: tuple[str, ...] = ()
    assigned_staff: str | None = None
    contracts: tuple[Contract, ...] = ()


@attrs.frozen
class ExternalLink:
    """An upstream (POS) id and the customer it stands for."""

    id: UUID
    version: int
    external_id: str
    customer_id: UUID


# --- events ----------------------------------------------------------------


@attrs.frozen(kw_only=True)
class CustomerRegistered(Event):
    name: str
    phones: tuple[str, ...]
    email: str | None
    group: str | None
    source: str | None
    tags: frozenset[str]
    external_id: str | None
    notes: str | None
    addresses: tuple[str, ...]
    assigned_staff: str | None


@attrs.frozen(kw_only=True)
class CustomerUpdated(Event):
    """Only the fields that changed: a field left `None` did not change, unless
    it is named in `cleared` (an optional field set to nothing)."""

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
    cleared: frozenset[str] = frozenset()


@attrs.frozen(kw_only=True)
class ContractSigned(Event):
    customer_id: UUID
    contract_id: str
    plan: str
    starts_on: date
    ends_on: date


@attrs.frozen(kw_only=True)
class ExternalIdLinked(Event):
    external_id: str
    customer_id: UUID


# --- validated input -------------------------------------------------------


@attrs.frozen
class CustomerDetails:
    """What a registration says about a customer, validated."""

    name: str
    phones: tuple[str, ...]
    email: str | None = None
    group: str | None = None
    source: str | None = None
    tags: frozenset[str] = frozenset()
    external_id: str | None = None
    notes: str | None = None
    addresses: tuple[str, ...] = ()
    assigned_staff: str | None = None


@attrs.frozen
class CustomerEdit:
    """The fields an edit sets, validated; `UNCHANGED` leaves a field as it is."""

    name: str | Unchanged = UNCHANGED
    phones: tuple[str, ...] | Unchanged = UNCHANGED
    email: str | Unchanged | None = UNCHANGED
    group: str | Unchanged | None = UNCHANGED
    source: str | Unchanged | None = UNCHANGED
    tags: frozenset[str] | Unchanged = UNCHANGED
    external_id: str | Unchanged | None = UNCHANGED
    notes: str | Unchanged | None = UNCHANGED
    addresses: tuple[str, ...] | Unchanged = UNCHANGED
    assigned_staff: str | Unchanged | None = UNCHANGED


#: The optional fields, which an edit may clear with None.
CLEARABLE: Final = ("email", "group", "source", "external_id", "notes", "assigned_staff")
EDITABLE: Final = tuple(a.name for a in attrs.fields(CustomerEdit))


def parse_name(value: object) -> str:
    return parse_text(value, "name")


def parse_phones(value: object, region: str) -> tuple[str, ...]:
    """One or more phone numbers in E.164, duplicates (after normalising) dropped."""
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise InvalidInput(f"phones must be a list of phone numbers, not {value!r}")
    phones = tuple(dict.fromkeys(normalise_phone(p, region) for p in value))
    if not phones:
        raise InvalidInput(f"phones must name at least one phone number: {value!r}")
    if len(phones) > MAX_PHONES:
        raise InvalidInput(f"a customer has at most {MAX_PHONES} phones, not {len(phones)}")
    return phones


def parse_email(value: object) -> str | None:
    """A syntactically valid email address, normalised (the domain lower-cased)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str):
        raise InvalidInput(f"email must be a str, not {value!r}")
    try:
        # No DNS look-up: commands must not depend on the network, and a
        # customer's mail domain may be down today and fine tomorrow.
        return validate_email(value.strip(), check_deliverability=False).normalized
    except EmailNotValidError as error:
        raise InvalidInput(f"email is not a valid address: {value!r} ({error})") from None


def parse_tags(value: object) -> frozenset[str]:
    if value is None:
        return frozenset()
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise InvalidInput(f"tags must be a list of tag names, not {value!r}")
    tags = frozenset(parse_text(t, "tag", limit=100) for t in value)
    if len(tags) > MAX_TAGS:
        raise InvalidInput(f"a customer has at most {MAX_TAGS} tags, not {len(tags)}")
    return tags


def parse_addresses(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise InvalidInput(f"addresses must be a list of addresses, not {value!r}")
    addresses = tuple(dict.fromkeys(parse_text(a, "address") for a in value))
    if len(addresses) > MAX_ADDRESSES:
        raise InvalidInput(f"a customer has at most {MAX_ADDRESSES} addresses")
    return addresses


def parse_external_id(value: object) -> str | None:
    return None if value is None else parse_reference(value, "external_id")


def parse_notes(value: object) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str):
        raise InvalidInput(f"notes must be a str, not {value!r}")
    # Notes may span lines, unlike the other text fields.
    return "\n".join(
        parse_text(line, "notes", limit=MAX_NOTES) if line.strip() else ""
        for line in value.strip().splitlines()
    )


def parse_policy(value: object) -> DuplicatePhonePolicy:
    for policy in DUPLICATE_PHONE_POLICIES:
        if value == policy:
            return policy
    raise InvalidInput(
        f"on_duplicate_phone must be one of {', '.join(DUPLICATE_PHONE_POLICIES)}: {value!r}"
    )


def parse_details(
    *,
    name: object,
    phones: object,
    region: str,
    email: object = None,
    group: object = None,
    source: object = None,
    tags: object = (),
    external_id: object = None,
    notes: object = None,
    addresses: object = (),
    assigned_staff: object = None,
) -> CustomerDetails:
    """Validate everything a registration says, naming the first bad value."""
    return CustomerDetails(
        name=parse_name(name),
        phones=parse_phones(phones, region),
        email=parse_email(email),
        group=parse_optional_text(group, "group"),
        source=parse_optional_text(source, "source"),
        tags=parse_tags(tags),
        external_id=parse_external_id(external_id),
        notes=parse_notes(notes),
        addresses=parse_addresses(addresses),
        assigned_staff=parse_optional_text(assigned_staff, "assigned_staff"),
    )


def parse_edit(fields: Mapping[str, object], region: str) -> CustomerEdit:
    """Validate an edit; fields given as UNCHANGED stay out of it."""
    parsers: dict[str, Callable[[object], object]] = {
        "name": parse_name,
        "phones": lambda v: parse_phones(v, region),
        "email": parse_email,
        "group": lambda v: parse_optional_text(v, "group"),
        "source": lambda v: parse_optional_text(v, "source"),
        "tags": parse_tags,
        "external_id": parse_external_id,
        "notes": parse_notes,
        "addresses": parse_addresses,
        "assigned_staff": lambda v: parse_optional_text(v, "assigned_staff"),
    }
    parsed = {k: parsers[k](v) for k, v in fields.items() if v is not UNCHANGED}
    return CustomerEdit(**parsed)  # type: ignore[arg-type]


def edit_of(details: CustomerDetails, fields: Iterable[str]) -> CustomerEdit:
    """The edit that sets `fields` of a customer to what `details` says."""
    return CustomerEdit(**{field: getattr(details, field) for field in fields})


def merge_edit(customer: CustomerRecord, details: CustomerDetails) -> CustomerEdit:
    """What a registration landing on an existing customer changes (policy "update").

    Phones, tags and addresses are added to the customer's; optional details
    the registration leaves out are kept; an upstream id is set only if the
    customer has none yet (the link record maps the new one to it anyway).
    """
    kept = {
        field
        for field in ("email", "group", "source", "notes", "assigned_staff")
        if getattr(details, field) is not None
    }
    if details.external_id is not None and customer.external_id is None:
        kept.add("external_id")
    return CustomerEdit(
        name=details.name,
        phones=tuple(dict.fromkeys((*customer.phones, *details.phones))),
        tags=customer.tags | details.tags,
        addresses=tuple(dict.fromkeys((*customer.addresses, *details.addresses))),
        **{field: getattr(details, field) for field in kept},
    )


# --- decisions -------------------------------------------------------------


def register(customer_id: UUID, details: CustomerDetails, now: datetime) -> list[Event]:
    """Record a new customer."""
    return [
        CustomerRegistered(
            originator_id=customer_id,
            originator_version=1,
            timestamp=now,
            name=details.name,
            phones=details.phones,
            email=details.email,
            group=details.group,
            source=details.source,
            tags=details.tags,
            external_id=details.external_id,
            notes=details.notes,
            addresses=details.addresses,
            assigned_staff=details.assigned_staff,
        )
    ]


def update(customer: CustomerRecord, edit: CustomerEdit, now: datetime) -> list[Event]:
    """Record the fields `edit` changes (nothing when it changes none)."""
    changed: dict[str, object] = {}
    cleared: set[str] = set()
    for field in EDITABLE:
        value = getattr(edit, field)
        if value is UNCHANGED or value == getattr(customer, field):
            continue
        if value is None:
            cleared.add(field)
        else:
            changed[field] = value
    if not changed and not cleared:
        return []
    return [
        CustomerUpdated(
            originator_id=customer.id,
            originator_version=customer.version + 1,
            timestamp=now,
            cleared=frozenset(cleared),
            **changed,  # type: ignore[arg-type]
        )
    ]


def sign_contract(customer: CustomerRecord, contract: Contract, now: datetime) -> list[Event]:
    """Record a signed contract; its id must be new for this customer."""
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
            originator_id=customer.id,
            originator_version=customer.version + 1,
            timestamp=now,
            customer_id=customer.id,
            contract_id=contract.contract_id,
            plan=contract.plan,
            starts_on=contract.starts_on,
            ends_on=contract.ends_on,
        )
    ]


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


def link_external_id(
    link: ExternalLink | None, external_id: str, customer_id: UUID, now: datetime
) -> list[Event]:
    """Make `external_id` stand for `customer_id` (nothing if it already stands for one)."""
    if link is not None:
        return []
    return [
        ExternalIdLinked(
            originator_id=external_link_id(external_id),
            originator_version=next_version(link),
            timestamp=now,
            external_id=external_id,
            customer_id=customer_id,
        )
    ]


# --- evolve ----------------------------------------------------------------


def evolve_customer(customer: CustomerRecord | None, event: Event) -> CustomerRecord:
    """Apply one event to a customer record."""
    match event:
        case CustomerRegistered():
            return CustomerRecord(
                id=event.originator_id,
                version=event.originator_version,
                name=event.name,
                phones=event.phones,
                registered_at=event.timestamp,
                email=event.email,
                group=event.group,
                source=event.source,
                tags=event.tags,
                external_id=event.external_id,
                notes=event.notes,
                addresses=event.addresses,
                assigned_staff=event.assigned_staff,
            )
        case CustomerUpdated() if customer is not None:
            changes: dict[str, object] = {f: None for f in event.cleared}
            for field in EDITABLE:
                value = getattr(event, field)
                if value is not None:
                    changes[field] = value
            return attrs.evolve(customer, version=event.originator_version, **changes)  # type: ignore[arg-type]
        case ContractSigned() if customer is not None:
            contract = Contract(event.contract_id, event.plan, event.starts_on, event.ends_on)
            return attrs.evolve(
                customer,
                version=event.originator_version,
                contracts=(*customer.contracts, contract),
            )
    raise TypeError(f"not a customer event: {event!r}")


def evolve_link(link: ExternalLink | None, event: Event) -> ExternalLink:
    """Apply one event to an external-id link."""
    assert isinstance(event, ExternalIdLinked), event
    return ExternalLink(
        event.originator_id, event.originator_version, event.external_id, event.customer_id
    )


# --- what queries show -----------------------------------------------------


@attrs.frozen
class Customer:
    """A customer as a host sees it: details, contracts and loyalty standing."""

    id: UUID
    name: str
    phones: tuple[str, ...]
    email: str | None
    group: str | None
    source: str | None
    tags: frozenset[str]
    external_id: str | None
    notes: str | None
    addresses: tuple[str, ...]
    assigned_staff: str | None
    contracts: tuple[Contract, ...]
    registered_at: datetime
    #: The loyalty tier reached (None before any), from the points account.
    level: str | None = None
    purchase_count: int = 0
    lifetime_points: int = 0

    @property
    def phone(self) -> str:
        """The first (main) phone number."""
        return self.phones[0]


@attrs.frozen
class ImportReport:
    """What a bulk import did; `rejected` holds (row number from 1, reason) pairs."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    rejected: list[tuple[int, str]] = attrs.Factory(list)

    @property
    def total(self) -> int:
        """Every row seen."""
        return self.created + self.updated + self.unchanged + self.skipped + len(self.rejected)
