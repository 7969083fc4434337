"""Customers: registration with the duplicate-phone policies, edits, contracts,
POS sync and bulk import.

Phones and upstream (POS) ids are claim records of their own at derived ids,
saved in the same transaction as the customer: uniqueness is enforced by the store.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime
from functools import partial
from uuid import UUID

from referral_ledger.aggregates import customer_record as customers
from referral_ledger.aggregates import loyalty
from referral_ledger.aggregates.customer_record import POS_ID
from referral_ledger.aggregates.phones import PHONE, evolve_phone
from referral_ledger.commands.customer_import import (
    ImportReport,
    check_batch_size,
    import_in_batches,
)
from referral_ledger.commands.customer_steps import CustomerSteps
from referral_ledger.errors import NotFound
from referral_ledger.policies import customer_fields as fields
from referral_ledger.policies import customers as rules
from referral_ledger.policies.customer_fields import UNCHANGED, Unchanged
from referral_ledger.policies.customers import DuplicatePhonePolicy
from referral_ledger.policies.sheet_rows import check_mapping
from referral_ledger.projections.customer import Customer, customer_view
from referral_ledger.store import UnitOfWork
from referral_ledger.values import (
    normalise_phone,
    parse_date,
    parse_id,
    parse_optional_text,
    parse_optional_time,
    parse_reference,
    parse_time,
)

#: The columns an import row may have; the CLI still reads it under this name
#: (it is `customer_fields.IMPORT_COLUMNS`).
_ROW_COLUMNS = frozenset(fields.IMPORT_COLUMNS)


class CustomerCommands(CustomerSteps):
    """Customer commands and queries."""

    # --- customers ---------------------------------------------------------

    def register_customer(
        self,
        name: str,
        phones: Iterable[str] | None = None,
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
        social_page: str | None = None,
        at: datetime | None = None,
        by: str | None = None,
    ) -> UUID:
        """Register a customer; returns its id.

        Phones are normalised to E.164. When one already belongs to a customer,
        `on_duplicate_phone` decides: "reject" raises `DuplicatePhone`, "skip"
        records nothing and returns that customer's id, "update" adds these
        details to that customer and returns its id, "create" registers a
        second customer with the phone. A known `external_id` returns the
        customer it stands for and records nothing. `at`: when the customer
        registered, in business time (None: now); `by`: who registered it
        (the `created_by` of owner-assignment rules). Without `assigned_staff`,
        the first matching owner-assignment rule chooses the owner. Fields the
        field settings require must be given (`InvalidInput`); a value of a
        unique field another customer holds raises `DuplicateValue`.
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
            social_page=social_page,
        )
        policy = rules.parse_policy(on_duplicate_phone)
        when = parse_optional_time(at, "at")
        actor = parse_optional_text(by, "by")
        registered = self._store.run(
            lambda unit: self._register(unit, details, policy, when, actor)[0]
        )
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
        social_page: str | Unchanged | None = UNCHANGED,
        at: datetime | None = None,
        by: str | None = None,
    ) -> None:
        """Change the given fields of a customer; the others stay as they are.

        `None` clears an optional field (email, group, source, notes,
        assigned_staff; tags and addresses become empty). `phones` replaces the
        list: numbers left out are freed, and a new number that belongs to
        another customer raises `DuplicatePhone`. Nothing is recorded when
        nothing changes. `at`: when it changed, in business time (None: now);
        `by`: who changed it (the `edited_by` of owner-assignment rules, which
        apply unless the edit sets `assigned_staff`).
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
                "social_page": social_page,
            },
            self.phone_region,
        )
        when = parse_optional_time(at, "at")
        actor = parse_optional_text(by, "by")

        def decide(unit: UnitOfWork) -> None:
            self._edit(unit, self._customer(unit, customer), edit, "reject", when, actor)

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
        social_page: str | Unchanged | None = UNCHANGED,
        at: datetime | None = None,
        by: str | None = None,
    ) -> UUID:
        """Apply a POS create/import/edit webhook for the customer `external_id`.

        Creates the customer when the POS id is new (`source` defaults to
        "retailer"), else sets the fields the POS owns (name, phones, email,
        group) and any other field given. The same payload twice records one
        change. On an edit, a new phone that belongs to another customer is
        handled by `on_duplicate_phone`: "reject" raises `DuplicatePhone`,
        "skip" leaves the customer unchanged, "update" and "create" let the
        two customers share the number. `at`: when it happened at the POS, in
        business time (None: now); `by`: who made the change (`created_by` of
        a new customer, `edited_by` of an edit, for owner-assignment rules).
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
            "social_page": social_page,
        }
        upsert = self._parse_upsert(given, default_source="retailer")
        policy = rules.parse_policy(on_duplicate_phone)
        when = parse_optional_time(at, "at")
        actor = parse_optional_text(by, "by")
        synced = self._store.run(lambda unit: self._upsert(unit, upsert, policy, when, actor)[0])
        return synced

    def import_customers(
        self,
        rows: Iterable[Mapping[str, object]],
        on_duplicate_phone: DuplicatePhonePolicy = "reject",
        batch_size: int = 500,
        *,
        by: str | None = None,
        mapping: Mapping[str, str] | None = None,
    ) -> ImportReport:
        """Register many customers, `batch_size` to a transaction; never stops on a bad row.

        Each row is a mapping with the keys of `register_customer` (`name`,
        `phones` or `phone`, `email`, `group`, `source`, `tags`, `external_id`,
        `notes`, `addresses`, `assigned_staff`, `social_page`); `phones` and `tags` may be one
        string separated by ",", ";" or new lines, `addresses` by ";" or new
        lines (an address has commas); `at` (ISO 8601 text or an aware
        datetime) is when the customer registered or changed. A row with an
        `external_id` is applied like `sync_customer_from_pos` (created, or
        updated with the columns it has), so importing the same rows again
        changes nothing. A bad row is reported in `rejected` with its number
        (counting from 1) and the reason, and the other rows go in. The field
        settings and the owner-assignment rules apply to each row as to
        `register_customer` (`by`: who imports, their `created_by`/`edited_by`).

        With `mapping` ({column: field}, `{}` for none), rows are read as a
        spreadsheet gives them, exactly as `referral-ledger import customers`
        reads a file: headers renamed by the mapping (`"-"` ignores a column),
        field names and the Vietnamese headers of `export --headers vi`
        accepted as they are, blank cells left out, numbers typed in cells
        read as what they spell (a phone 975500600), times without an offset
        in business time (see `policies/sheet_rows.py`).

        Every row not created is named in `ImportReport.rows` with the
        customer it landed on, what matched it (its POS id or a phone) and
        why. Rows of one import that land on one customer (the same POS id,
        or under "update" a shared phone) and disagree on a detail both give
        (a name; phones a POS row sets exactly) are refused as a `conflict`,
        recording nothing; the earlier row is kept. Without this each re-import
        would flip the customer between the rows
        (`policies/import_conflicts.py` says exactly when rows fight).
        """
        policy = rules.parse_policy(on_duplicate_phone)
        size = check_batch_size(batch_size)
        actor = parse_optional_text(by, "by")
        parse = self._parse_row
        if mapping is not None:
            parse = partial(self._parse_sheet_row, mapping=check_mapping(mapping, "customers"))
        report = import_in_batches(
            rows,
            size,
            parse,
            lambda batch: self._store.run(
                partial(self._import_batch, rows=batch, policy=policy, by=actor)
            ),
            conflicts_by_phone=policy == "update",
        )
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
