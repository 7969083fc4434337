"""Customers: registration with the duplicate-phone policies, edits, contracts,
POS sync and bulk import.

Phones and upstream (POS) ids are records of their own at derived ids, saved
in the same transaction as the customer: uniqueness is enforced by the store.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from functools import partial
from typing import Final, Literal, TypeAlias
from uuid import UUID, uuid4

import attrs

from referral_ledger.aggregates import customer as customers
from referral_ledger.aggregates import loyalty, phones
from referral_ledger.aggregates.base import Event
from referral_ledger.aggregates.customer import (
    UNCHANGED,
    Customer,
    CustomerDetails,
    CustomerEdit,
    CustomerRecord,
    DuplicatePhonePolicy,
    ImportReport,
    Unchanged,
)
from referral_ledger.aggregates.phones import evolve_phone, phone_record_id
from referral_ledger.commands.base import LedgerBase
from referral_ledger.errors import (
    ConcurrencyConflict,
    DuplicatePhone,
    InvalidInput,
    LedgerError,
    NotFound,
)
from referral_ledger.store import (
    UnitOfWork,
)
from referral_ledger.values import (
    normalise_phone,
    parse_date,
    parse_id,
    parse_reference,
    parse_time,
)

#: What a registration or an edit did to the ledger.
Outcome: TypeAlias = Literal["created", "updated", "unchanged", "skipped"]

_ROW_COLUMNS: Final = frozenset(
    {
        "name",
        "phones",
        "phone",
        "email",
        "group",
        "source",
        "tags",
        "external_id",
        "notes",
        "addresses",
        "assigned_staff",
    }
)
_LIST_SEPARATORS: Final = re.compile(r"[,;\n]")


@attrs.frozen
class _Upsert:
    """A validated create-or-edit: the details, and which of them an edit sets."""

    details: CustomerDetails
    fields: tuple[str, ...]


class CustomerCommands(LedgerBase):
    """Customer commands and queries."""

    # --- customers ---------------------------------------------------------

    def register_customer(
        self,
        name: str,
        phones: Iterable[str],
        email: str | None = None,
        group: str | None = None,
        source: str | None = None,
        tags: Iterable[str] = (),
        external_id: str | None = None,
        on_duplicate_phone: DuplicatePhonePolicy = "reject",
        *,
        notes: str | None = None,
        addresses: Iterable[str] = (),
        assigned_staff: str | None = None,
    ) -> UUID:
        """Register a customer; returns its id.

        Phones are normalised to E.164. When one already belongs to a customer,
        `on_duplicate_phone` decides: "reject" raises `DuplicatePhone`, "skip"
        records nothing and returns that customer's id, "update" adds these
        details to that customer and returns its id, "create" registers a
        second customer with the phone. A known `external_id` returns the
        customer it stands for and records nothing.
        """
        details = customers.parse_details(
            name=name,
            phones=phones,
            region=self.phone_region,
            email=email,
            group=group,
            source=source,
            tags=tags,
            external_id=external_id,
            notes=notes,
            addresses=addresses,
            assigned_staff=assigned_staff,
        )
        policy = customers.parse_policy(on_duplicate_phone)
        registered = self._store.run(lambda unit: self._register(unit, details, policy)[0])
        return registered

    def update_customer(
        self,
        customer_id: UUID,
        name: str | Unchanged = UNCHANGED,
        phones: Iterable[str] | Unchanged = UNCHANGED,
        email: str | Unchanged | None = UNCHANGED,
        group: str | Unchanged | None = UNCHANGED,
        tags: Iterable[str] | Unchanged | None = UNCHANGED,
        *,
        source: str | Unchanged | None = UNCHANGED,
        notes: str | Unchanged | None = UNCHANGED,
        addresses: Iterable[str] | Unchanged | None = UNCHANGED,
        assigned_staff: str | Unchanged | None = UNCHANGED,
    ) -> None:
        """Change the given fields of a customer; the others stay as they are.

        `None` clears an optional field (email, group, source, notes,
        assigned_staff; tags and addresses become empty). `phones` replaces the
        list: numbers left out are freed, and a new number that belongs to
        another customer raises `DuplicatePhone`. Nothing is recorded when
        nothing changes.
        """
        customer = parse_id(customer_id, "customer_id")
        edit = customers.parse_edit(
            {
                "name": name,
                "phones": phones,
                "email": email,
                "group": group,
                "tags": tags,
                "source": source,
                "notes": notes,
                "addresses": addresses,
                "assigned_staff": assigned_staff,
            },
            self.phone_region,
        )

        def decide(unit: UnitOfWork) -> None:
            self._edit(unit, self._customer(unit, customer), edit, "reject")

        self._store.run(decide)

    def sync_customer_from_pos(
        self,
        external_id: str,
        name: str,
        phones: Iterable[str],
        email: str | None = None,
        group: str | None = None,
        source: str | Unchanged | None = UNCHANGED,
        tags: Iterable[str] | Unchanged | None = UNCHANGED,
        on_duplicate_phone: DuplicatePhonePolicy = "reject",
        *,
        notes: str | Unchanged | None = UNCHANGED,
        addresses: Iterable[str] | Unchanged | None = UNCHANGED,
        assigned_staff: str | Unchanged | None = UNCHANGED,
    ) -> UUID:
        """Apply a POS create/import/edit webhook for the customer `external_id`.

        Creates the customer when the POS id is new (`source` defaults to
        "retailer"), else sets the fields the POS owns (name, phones, email,
        group) and any other field given. The same payload twice records one
        change. On an edit, a new phone that belongs to another customer is
        handled by `on_duplicate_phone`: "reject" raises `DuplicatePhone`,
        "skip" leaves the customer unchanged, "update" and "create" let the
        two customers share the number.
        """
        fields: dict[str, object] = {
            "external_id": external_id,
            "name": name,
            "phones": phones,
            "email": email,
            "group": group,
            "source": source,
            "tags": tags,
            "notes": notes,
            "addresses": addresses,
            "assigned_staff": assigned_staff,
        }
        upsert = self._parse_upsert(fields, default_source="retailer")
        policy = customers.parse_policy(on_duplicate_phone)
        synced = self._store.run(lambda unit: self._upsert(unit, upsert, policy)[0])
        return synced

    def import_customers(
        self,
        rows: Iterable[Mapping[str, object]],
        on_duplicate_phone: DuplicatePhonePolicy = "reject",
        batch_size: int = 500,
    ) -> ImportReport:
        """Register many customers, `batch_size` to a transaction; never stops on a bad row.

        Each row is a mapping with the keys of `register_customer` (`name`,
        `phones` or `phone`, `email`, `group`, `source`, `tags`, `external_id`,
        `notes`, `addresses`, `assigned_staff`); `phones`, `tags` and
        `addresses` may be one string separated by "," or ";". A row with an
        `external_id` is applied like `sync_customer_from_pos` (created, or
        updated with the columns it has), so importing the same rows again
        changes nothing. A bad row is reported in `rejected` with its number
        (counting from 1) and the reason, and the other rows go in.
        """
        policy = customers.parse_policy(on_duplicate_phone)
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise InvalidInput(f"batch_size must be a positive int, not {batch_size!r}")
        if isinstance(rows, Mapping | str | bytes) or not isinstance(rows, Iterable):
            raise InvalidInput(f"rows must be an iterable of mappings, not {rows!r}")
        counts: dict[str, int] = dict.fromkeys(("created", "updated", "unchanged", "skipped"), 0)
        rejected: list[tuple[int, str]] = []
        numbered = enumerate(rows, start=1)
        while batch := list(itertools.islice(numbered, batch_size)):
            parsed: list[tuple[int, _Upsert]] = []
            for number, row in batch:
                try:
                    parsed.append((number, self._parse_row(row)))
                except LedgerError as error:
                    rejected.append((number, str(error)))
            try:
                outcomes = self._store.run(partial(self._import_batch, rows=parsed, policy=policy))
            except ConcurrencyConflict as error:
                rejected += [(number, str(error)) for number, _ in parsed]
                continue
            for number, outcome, reason in outcomes:
                if outcome is None:
                    rejected.append((number, reason))
                else:
                    counts[outcome] += 1
        rejected.sort()
        return ImportReport(rejected=rejected, **counts)

    def sign_contract(
        self,
        customer_id: UUID,
        contract_id: str,
        plan: str,
        starts_on: date,
        ends_on: date,
    ) -> None:
        """Record a contract the customer signed, in force from `starts_on` to `ends_on`.

        `ends_on` before `starts_on`, or a `contract_id` the customer already
        has, raises `InvalidInput`.
        """
        customer = parse_id(customer_id, "customer_id")
        contract = customers.parse_contract(contract_id, plan, starts_on, ends_on)

        def decide(unit: UnitOfWork) -> None:
            record = self._customer(unit, customer)
            unit.record(customers.sign_contract(record, contract, unit.now))

        self._store.run(decide)

    def get_customer(self, customer_id: UUID, as_of: datetime | None = None) -> Customer:
        """The customer now, or as it stood at `as_of`, with its loyalty standing."""
        customer = parse_id(customer_id, "customer_id")
        record = self._load_as_of(customer, customers.evolve_customer, as_of)
        if record is None:
            raise NotFound(f"no customer with id {customer}")
        account = self._load_as_of(loyalty.account_id(customer), loyalty.evolve_account, as_of)
        return Customer(
            id=record.id,
            name=record.name,
            phones=record.phones,
            email=record.email,
            group=record.group,
            source=record.source,
            tags=record.tags,
            external_id=record.external_id,
            notes=record.notes,
            addresses=record.addresses,
            assigned_staff=record.assigned_staff,
            contracts=record.contracts,
            registered_at=record.registered_at,
            level=account.tier if account else None,
            purchase_count=account.purchase_count if account else 0,
            lifetime_points=account.lifetime_points if account else 0,
        )

    def find_customer_by_phone(self, phone: str) -> UUID | None:
        """The first registered customer with this phone number, if any."""
        found = self.find_customers_by_phone(phone)
        return found[0] if found else None

    def find_customers_by_phone(self, phone: str) -> list[UUID]:
        """Every customer with this phone number, first registered first."""
        number = normalise_phone(phone, self.phone_region)
        index = self._store.load(phone_record_id(number), evolve_phone)
        return list(index.owners) if index else []

    def find_customer_by_external_id(self, external_id: str) -> UUID | None:
        """The customer an upstream (POS) id stands for, if any."""
        reference = parse_reference(external_id, "external_id")
        link = self._store.load(customers.external_link_id(reference), customers.evolve_link)
        return link.customer_id if link else None

    def contract_in_force(self, customer_id: UUID, day: date | datetime) -> bool:
        """Whether the customer has a contract in force on `day`.

        A datetime counts by its date in its own time zone, so a Vietnamese
        host's 00:30 (+07:00) on 1 January is 1 January.
        """
        customer = parse_id(customer_id, "customer_id")
        if isinstance(day, datetime):
            on = parse_time(day, "day").astimezone(day.tzinfo).date()
        else:
            on = parse_date(day, "day")
        record = self._store.load(customer, customers.evolve_customer)
        if record is None:
            raise NotFound(f"no customer with id {customer}")
        return customers.contract_in_force(record, on)

    # --- the shared steps ----------------------------------------------------

    def _register(
        self, unit: UnitOfWork, details: CustomerDetails, policy: DuplicatePhonePolicy
    ) -> tuple[UUID, Outcome]:
        """Register `details` under `policy`; returns the customer's id and what happened."""
        external_id = details.external_id
        if external_id is not None:
            link = unit.load(customers.external_link_id(external_id), customers.evolve_link)
            if link is not None:
                return link.customer_id, "unchanged"
        indexes = {p: unit.load(phone_record_id(p), evolve_phone) for p in details.phones}
        clash = next(
            ((p, i.owner) for p, i in indexes.items() if i is not None and i.owner is not None),
            None,
        )
        if clash is not None and policy != "create":
            phone, owner = clash
            if policy == "reject":
                raise DuplicatePhone(f"phone {phone} already belongs to customer {owner}")
            if policy == "skip":
                return owner, "skipped"
            record = self._customer(unit, owner)
            # The phones this registration adds may belong to others still: the
            # host asked to update, not to be refused, so they are shared.
            events = self._edit_events(
                unit, record, customers.merge_edit(record, details), "create"
            )
            assert events is not None
            if external_id is not None:
                events += customers.link_external_id(None, external_id, owner, unit.now)
            unit.record(events)
            return owner, "updated" if events else "unchanged"
        customer_id = uuid4()
        unit.new(customer_id, customers.evolve_customer)
        events = customers.register(customer_id, details, unit.now)
        for phone, index in indexes.items():
            events += phones.claim(index, phone, customer_id, unit.now)
        if external_id is not None:
            events += customers.link_external_id(None, external_id, customer_id, unit.now)
        unit.record(events)
        return customer_id, "created"

    def _edit_events(
        self,
        unit: UnitOfWork,
        record: CustomerRecord,
        edit: CustomerEdit,
        policy: DuplicatePhonePolicy,
    ) -> list[Event] | None:
        """The events of an edit, with its phones claimed and freed; None: skip it."""
        events = customers.update(record, edit, unit.now)
        if isinstance(edit.phones, Unchanged):
            return events
        for phone in edit.phones:
            if phone in record.phones:
                continue
            index = unit.load(phone_record_id(phone), evolve_phone)
            others = [o for o in index.owners if o != record.id] if index else []
            if others:
                if policy == "reject":
                    raise DuplicatePhone(f"phone {phone} already belongs to customer {others[0]}")
                if policy == "skip":
                    return None
            events += phones.claim(index, phone, record.id, unit.now)
        for phone in record.phones:
            if phone not in edit.phones:
                index = unit.load(phone_record_id(phone), evolve_phone)
                events += phones.release(index, phone, record.id, unit.now)
        return events

    def _edit(
        self,
        unit: UnitOfWork,
        record: CustomerRecord,
        edit: CustomerEdit,
        policy: DuplicatePhonePolicy,
    ) -> Outcome:
        events = self._edit_events(unit, record, edit, policy)
        if events is None:
            return "skipped"
        unit.record(events)
        return "updated" if events else "unchanged"

    def _upsert(
        self, unit: UnitOfWork, upsert: _Upsert, policy: DuplicatePhonePolicy
    ) -> tuple[UUID, Outcome]:
        """Create the customer, or edit the one its external id stands for."""
        external_id = upsert.details.external_id
        if external_id is None:
            return self._register(unit, upsert.details, policy)
        link = unit.load(customers.external_link_id(external_id), customers.evolve_link)
        if link is None:
            return self._register(unit, upsert.details, policy)
        record = self._customer(unit, link.customer_id)
        edit = customers.edit_of(upsert.details, upsert.fields)
        return record.id, self._edit(unit, record, edit, policy)

    def _parse_upsert(self, fields: Mapping[str, object], *, default_source: str | None) -> _Upsert:
        """Validate a create-or-edit; fields left UNCHANGED get defaults on creation."""
        defaults: dict[str, object] = {
            "email": None,
            "group": None,
            "source": default_source,
            "tags": (),
            "external_id": None,
            "notes": None,
            "addresses": (),
            "assigned_staff": None,
        }
        given = {k: v for k, v in fields.items() if v is not UNCHANGED}
        missing = [k for k in ("name", "phones") if k not in given]
        if missing:
            raise InvalidInput(f"{' and '.join(missing)} must be given")
        details = customers.parse_details(region=self.phone_region, **{**defaults, **given})
        edited = tuple(k for k in given if k != "external_id")
        return _Upsert(details, edited)

    def _parse_row(self, row: object) -> _Upsert:
        """Validate one import row (see `import_customers`)."""
        if not isinstance(row, Mapping):
            raise InvalidInput(f"a row must be a mapping of column names to values, not {row!r}")
        unknown = sorted(str(k) for k in row if k not in _ROW_COLUMNS)
        if unknown:
            raise InvalidInput(f"unknown column(s) {', '.join(map(repr, unknown))}")
        fields: dict[str, object] = {}
        for key, value in row.items():
            if key in ("phones", "phone", "tags", "addresses") and isinstance(value, str):
                value = [part for part in _LIST_SEPARATORS.split(value) if part.strip()]
            if key in ("phones", "phone"):
                if value is None:
                    value = []
                elif not isinstance(value, Iterable):
                    raise InvalidInput(f"{key} must be text or a list of phones, not {value!r}")
            if key == "phone":
                key = "phones"
                value = [*fields.get("phones", []), *value]  # type: ignore[misc]
            elif key == "phones" and "phones" in fields:
                value = [*value, *fields["phones"]]  # type: ignore[misc]
            fields[key] = value
        external_id = fields.get("external_id")
        if external_id is None or (isinstance(external_id, str) and not external_id.strip()):
            fields.pop("external_id", None)
        return self._parse_upsert(fields, default_source=None)

    def _import_batch(
        self,
        unit: UnitOfWork,
        rows: list[tuple[int, _Upsert]],
        policy: DuplicatePhonePolicy,
    ) -> list[tuple[int, Outcome | None, str]]:
        """Apply a batch of rows in one unit; a row that fails records nothing."""
        outcomes: list[tuple[int, Outcome | None, str]] = []
        for number, upsert in rows:
            try:
                _, outcome = self._upsert(unit, upsert, policy)
            except LedgerError as error:
                outcomes.append((number, None, str(error)))
            else:
                outcomes.append((number, outcome, ""))
        return outcomes
