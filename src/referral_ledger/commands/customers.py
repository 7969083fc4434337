"""Customers: registration with the duplicate-phone policies, edits, contracts,
POS sync and bulk import.

Phones and upstream (POS) ids are claim records of their own at derived ids,
saved in the same transaction as the customer: uniqueness is enforced by the store.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime
from functools import partial
from uuid import UUID, uuid4

import attrs

from referral_ledger.aggregates import customer_record as customers
from referral_ledger.aggregates import loyalty, phones
from referral_ledger.aggregates.base import Event
from referral_ledger.aggregates.customer_record import POS_ID, CustomerRecord
from referral_ledger.aggregates.phones import PHONE, PhoneOwners, evolve_phone
from referral_ledger.commands.base import LedgerBase
from referral_ledger.commands.customer_import import (
    ImportReport,
    Outcome,
    Upsert,
    check_batch_size,
    import_in_batches,
)
from referral_ledger.errors import InvalidInput, LedgerError, NotFound
from referral_ledger.policies import customer_fields as fields
from referral_ledger.policies import customers as rules
from referral_ledger.policies.customer_fields import UNCHANGED, CustomerEdit, Unchanged
from referral_ledger.policies.customers import DuplicatePhonePolicy
from referral_ledger.projections.customer import Customer, customer_view
from referral_ledger.store import UnitOfWork
from referral_ledger.values import (
    normalise_phone,
    parse_date,
    parse_id,
    parse_optional_time,
    parse_reference,
    parse_time,
)

#: The columns an import row may have; the CLI still reads it under this name
#: (it is `customer_fields.IMPORT_COLUMNS`).
_ROW_COLUMNS = frozenset(fields.IMPORT_COLUMNS)


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
        at: datetime | None = None,
    ) -> UUID:
        """Register a customer; returns its id.

        Phones are normalised to E.164. When one already belongs to a customer,
        `on_duplicate_phone` decides: "reject" raises `DuplicatePhone`, "skip"
        records nothing and returns that customer's id, "update" adds these
        details to that customer and returns its id, "create" registers a
        second customer with the phone. A known `external_id` returns the
        customer it stands for and records nothing. `at`: when the customer
        registered, in business time (None: now).
        """
        details = fields.parse_details(
            region=self.phone_region,
            name=name,
            phones=phones,
            email=email,
            group=group,
            source=source,
            tags=tags,
            external_id=external_id,
            notes=notes,
            addresses=addresses,
            assigned_staff=assigned_staff,
        )
        policy = rules.parse_policy(on_duplicate_phone)
        when = parse_optional_time(at, "at")
        registered = self._store.run(lambda unit: self._register(unit, details, policy, when)[0])
        self._after_customer_change()
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
        at: datetime | None = None,
    ) -> None:
        """Change the given fields of a customer; the others stay as they are.

        `None` clears an optional field (email, group, source, notes,
        assigned_staff; tags and addresses become empty). `phones` replaces the
        list: numbers left out are freed, and a new number that belongs to
        another customer raises `DuplicatePhone`. Nothing is recorded when
        nothing changes. `at`: when it changed, in business time (None: now).
        """
        customer = parse_id(customer_id, "customer_id")
        edit = fields.parse_edit(
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
        when = parse_optional_time(at, "at")

        def decide(unit: UnitOfWork) -> None:
            self._edit(unit, self._customer(unit, customer), edit, "reject", when)

        self._store.run(decide)
        self._after_customer_change()

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
        at: datetime | None = None,
    ) -> UUID:
        """Apply a POS create/import/edit webhook for the customer `external_id`.

        Creates the customer when the POS id is new (`source` defaults to
        "retailer"), else sets the fields the POS owns (name, phones, email,
        group) and any other field given. The same payload twice records one
        change. On an edit, a new phone that belongs to another customer is
        handled by `on_duplicate_phone`: "reject" raises `DuplicatePhone`,
        "skip" leaves the customer unchanged, "update" and "create" let the
        two customers share the number. `at`: when it happened at the POS, in
        business time (None: now).
        """
        given: dict[str, object] = {
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
        upsert = self._parse_upsert(given, default_source="retailer")
        policy = rules.parse_policy(on_duplicate_phone)
        when = parse_optional_time(at, "at")
        synced = self._store.run(lambda unit: self._upsert(unit, upsert, policy, when)[0])
        self._after_customer_change()
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
        `notes`, `addresses`, `assigned_staff`); `phones` and `tags` may be one
        string separated by ",", ";" or new lines, `addresses` by ";" or new
        lines (an address has commas); `at` (ISO 8601 text or an aware
        datetime) is when the customer registered or changed. A row with an
        `external_id` is applied like `sync_customer_from_pos` (created, or
        updated with the columns it has), so importing the same rows again
        changes nothing. A bad row is reported in `rejected` with its number
        (counting from 1) and the reason, and the other rows go in.
        """
        policy = rules.parse_policy(on_duplicate_phone)
        size = check_batch_size(batch_size)
        report = import_in_batches(
            rows,
            size,
            self._parse_row,
            lambda batch: self._store.run(partial(self._import_batch, rows=batch, policy=policy)),
        )
        self._after_customer_change()
        return report

    def sign_contract(
        self,
        customer_id: UUID,
        contract_id: str,
        plan: str,
        starts_on: date,
        ends_on: date,
        at: datetime | None = None,
    ) -> None:
        """Record a contract the customer signed, in force from `starts_on` to `ends_on`.

        `at` is when it was signed, in business time (None: now); an automatic
        referral reward is dated by it. `ends_on` before `starts_on`, or a
        `contract_id` the customer already has, raises `InvalidInput`.
        """
        customer = parse_id(customer_id, "customer_id")
        contract = customers.parse_contract(contract_id, plan, starts_on, ends_on)
        when = parse_optional_time(at, "at")

        def decide(unit: UnitOfWork) -> None:
            record = self._customer(unit, customer)
            unit.record(customers.sign_contract(record, contract, unit.now, when))

        self._store.run(decide)
        self._after_customer_change()

    def get_customer(self, customer_id: UUID, as_of: datetime | None = None) -> Customer:
        """The customer now, or as it stood at `as_of`, with its loyalty standing."""
        customer = parse_id(customer_id, "customer_id")
        record = self._load_as_of(customer, customers.evolve_customer, as_of)
        if record is None:
            raise NotFound(f"no customer with id {customer}")
        account = self._load_as_of(loyalty.account_id(customer), loyalty.evolve_account, as_of)
        return customer_view(record, account)

    def find_customer_by_phone(self, phone: str) -> UUID | None:
        """The first registered customer with this phone number, if any."""
        found = self.find_customers_by_phone(phone)
        return found[0] if found else None

    def find_customers_by_phone(self, phone: str) -> list[UUID]:
        """Every customer with this phone number, first registered first."""
        number = normalise_phone(phone, self.phone_region)
        index = self._store.load(self._claim_id(PHONE, number), evolve_phone)
        return list(index.owners) if index else []

    def find_customer_by_external_id(self, external_id: str) -> UUID | None:
        """The customer an upstream (POS) id stands for, if any."""
        reference = parse_reference(external_id, "external_id")
        link = self._store.load(self._claim_id(POS_ID, reference), customers.evolve_link)
        return link.owner if link else None

    def contract_in_force(self, customer_id: UUID, day: date | datetime) -> bool:
        """Whether the customer has a contract in force on `day`.

        A datetime counts by its date where the business is (the ledger's
        `business_timezone`), as every contract check does.
        """
        customer = parse_id(customer_id, "customer_id")
        if isinstance(day, datetime):
            on = self._business_day(parse_time(day, "day"))
        else:
            on = parse_date(day, "day")
        record = self._store.load(customer, customers.evolve_customer)
        if record is None:
            raise NotFound(f"no customer with id {customer}")
        return customers.contract_in_force(record, on)

    # --- the shared steps ----------------------------------------------------

    def _phone_index(self, unit: UnitOfWork, phone: str) -> PhoneOwners | None:
        return unit.load(self._claim_id(PHONE, phone), evolve_phone)

    def _register(
        self,
        unit: UnitOfWork,
        details: fields.CustomerFields,
        policy: DuplicatePhonePolicy,
        at: datetime | None,
    ) -> tuple[UUID, Outcome]:
        """Register `details` under `policy`; returns the customer's id and what happened."""
        external_id = details.external_id
        if external_id is not None:
            link = self._load_claim(unit, POS_ID, external_id)
            if link is not None and link.owner is not None:
                return link.owner, "unchanged"
        indexes = {p: self._phone_index(unit, p) for p in details.phones}
        owners = {p: i.owners if i else () for p, i in indexes.items()}
        decision, owner = rules.on_registration(policy, owners)
        if owner is not None:
            if decision == "skip":
                return owner, "skipped"
            record = self._customer(unit, owner)
            # The phones this registration adds may belong to others still: the
            # host asked to update, not to be refused, so they are shared.
            events = self._edit_events(
                unit, record, fields.merge_edit(record, details), "create", at
            )
            assert events is not None
            if external_id is not None:
                events += self._link(unit, external_id, owner)
            unit.record(events)
            return owner, "updated" if events else "unchanged"
        customer_id = uuid4()
        unit.new(customer_id, customers.evolve_customer)
        events = customers.register(customer_id, details, unit.now, at)
        for phone, index in indexes.items():
            record_id = self._claim_id(PHONE, phone)
            events += phones.claim(index, phone, customer_id, unit.now, record_id=record_id)
        if external_id is not None:
            events += self._link(unit, external_id, customer_id)
        unit.record(events)
        return customer_id, "created"

    def _link(self, unit: UnitOfWork, external_id: str, customer_id: UUID) -> list[Event]:
        record_id = self._claim_id(POS_ID, external_id)
        link = unit.load(record_id, customers.evolve_link)
        return customers.link_external_id(
            link, external_id, customer_id, unit.now, record_id=record_id
        )

    def _edit_events(
        self,
        unit: UnitOfWork,
        record: CustomerRecord,
        edit: CustomerEdit,
        policy: DuplicatePhonePolicy,
        at: datetime | None,
    ) -> list[Event] | None:
        """The events of an edit, with its phones claimed and freed; None: skip it."""
        events = customers.update(record, edit, unit.now, at)
        if edit.phones is None:
            return events
        for phone in edit.phones:
            if phone in record.phones:
                continue
            index = self._phone_index(unit, phone)
            others = index.others(record.id) if index else ()
            if rules.on_new_phone(policy, phone, others) == "skip":
                return None
            record_id = self._claim_id(PHONE, phone)
            events += phones.claim(index, phone, record.id, unit.now, record_id=record_id)
        for phone in record.phones:
            if phone not in edit.phones:
                events += phones.release(self._phone_index(unit, phone), phone, record.id, unit.now)
        return events

    def _edit(
        self,
        unit: UnitOfWork,
        record: CustomerRecord,
        edit: CustomerEdit,
        policy: DuplicatePhonePolicy,
        at: datetime | None,
    ) -> Outcome:
        events = self._edit_events(unit, record, edit, policy, at)
        if events is None:
            return "skipped"
        unit.record(events)
        return "updated" if events else "unchanged"

    def _upsert(
        self, unit: UnitOfWork, upsert: Upsert, policy: DuplicatePhonePolicy, at: datetime | None
    ) -> tuple[UUID, Outcome]:
        """Create the customer, or edit the one its external id stands for."""
        external_id = upsert.details.external_id
        link = None if external_id is None else self._load_claim(unit, POS_ID, external_id)
        if link is None or link.owner is None:
            return self._register(unit, upsert.details, policy, at)
        record = self._customer(unit, link.owner)
        edit = fields.edit_of(upsert.details, upsert.fields)
        return record.id, self._edit(unit, record, edit, policy, at)

    def _parse_upsert(self, given: Mapping[str, object], *, default_source: str | None) -> Upsert:
        """Validate a create-or-edit; fields left UNCHANGED get defaults on creation."""
        values = {k: v for k, v in given.items() if v is not UNCHANGED}
        values.setdefault("source", default_source)
        details = fields.parse_details(region=self.phone_region, **values)
        edited = tuple(k for k in given if given[k] is not UNCHANGED and k != "external_id")
        return Upsert(details, edited)

    def _parse_row(self, row: object) -> Upsert:
        """Validate one import row (see `import_customers`)."""
        if not isinstance(row, Mapping):
            raise InvalidInput(f"a row must be a mapping of column names to values, not {row!r}")
        upsert = self._parse_upsert(fields.row_fields(row), default_source=None)
        return attrs.evolve(upsert, at=fields.row_time(row))

    def _import_batch(
        self,
        unit: UnitOfWork,
        rows: list[tuple[int, Upsert]],
        policy: DuplicatePhonePolicy,
    ) -> list[tuple[int, Outcome | None, str]]:
        """Apply a batch of rows in one unit; a row that fails records nothing."""
        outcomes: list[tuple[int, Outcome | None, str]] = []
        for number, upsert in rows:
            try:
                _, outcome = self._upsert(unit, upsert, policy, upsert.at)
            except LedgerError as error:
                outcomes.append((number, None, str(error)))
            else:
                outcomes.append((number, outcome, ""))
        return outcomes
