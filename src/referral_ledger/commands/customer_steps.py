"""The steps customer commands share: register under a duplicate-phone policy,
edit with the phones claimed and freed, create-or-edit by POS id, parse rows.

Each runs inside a unit of work and records nothing on a refusal.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from uuid import UUID, uuid4

import attrs

from referral_ledger.aggregates import customer_record as customers
from referral_ledger.aggregates import phones
from referral_ledger.aggregates.base import Event
from referral_ledger.aggregates.customer_record import POS_ID, CustomerRecord
from referral_ledger.aggregates.phones import PHONE, PhoneOwners, evolve_phone
from referral_ledger.commands.crm_steps import CrmSteps
from referral_ledger.commands.customer_import import Outcome, RowResult, Upsert
from referral_ledger.errors import InvalidInput, LedgerError
from referral_ledger.policies import customer_fields as fields
from referral_ledger.policies import customers as rules
from referral_ledger.policies import field_settings
from referral_ledger.policies.customer_fields import UNCHANGED, CustomerEdit
from referral_ledger.policies.customers import DuplicatePhonePolicy
from referral_ledger.policies.field_settings import FieldSettings
from referral_ledger.policies.sheet_rows import sheet_row
from referral_ledger.store import UnitOfWork


def _phone_policy(settings: FieldSettings, policy: DuplicatePhonePolicy) -> DuplicatePhonePolicy:
    # Phones not unique: a shared number is no reason to refuse; the other
    # policies are the host's explicit choice of what a duplicate means.
    return "create" if policy == "reject" and "phones" not in settings.unique else policy


class CustomerSteps(CrmSteps):
    """The shared steps of the customer commands."""

    def _phone_index(self, unit: UnitOfWork, phone: str) -> PhoneOwners | None:
        return unit.load(self._claim_id(PHONE, phone), evolve_phone)

    def _register(
        self,
        unit: UnitOfWork,
        details: fields.CustomerFields,
        policy: DuplicatePhonePolicy,
        at: datetime | None,
        by: str | None = None,
    ) -> tuple[UUID, Outcome]:
        """Register `details` under `policy`, by `by`; returns the customer's id and
        what happened."""
        external_id = details.external_id
        if external_id is not None:
            link = self._load_claim(unit, POS_ID, external_id)
            if link is not None and link.owner is not None:
                return link.owner, "unchanged"
        settings = self._field_settings(unit)
        policy = _phone_policy(settings, policy)
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
                unit, record, fields.merge_edit(record, details), "create", at, by
            )
            assert events is not None
            if external_id is not None:
                events += self._link(unit, external_id, owner)
            unit.record(events)
            return owner, "updated" if events else "unchanged"
        customer_id = uuid4()
        unit.new(customer_id, customers.evolve_customer)
        assigned = None
        if details.assigned_staff is None:  # an explicit owner wins over the rules
            assigned = self._assignment(
                unit, "created", customer_id, details, created_by=by, edited_by=None, owner=None
            )
        if assigned is not None:
            details = attrs.evolve(details, assigned_staff=assigned.staff_id)
        field_settings.check_required(settings, details)
        unique = self._unique_claims(unit, settings, customer_id, None, details)
        rule = assigned.rule_id if assigned else None
        events = customers.register(customer_id, details, unit.now, at, by=by, rule=rule)
        events += unique + (assigned.events if assigned else [])
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
        by: str | None = None,
    ) -> list[Event] | None:
        """The events of an edit by `by`, with its phones and unique values claimed
        and freed and the owner-assignment rules applied; None: skip it."""
        if not customers.changes(record, edit):
            return []
        settings = self._field_settings(unit)
        policy = _phone_policy(settings, policy)
        after = attrs.evolve(record, **edit.changes)  # type: ignore[arg-type]
        field_settings.check_required(settings, after, edit.changes)
        events: list[Event] = []
        for phone in edit.phones or ():
            if phone in record.phones:
                continue
            index = self._phone_index(unit, phone)
            others = index.others(record.id) if index else ()
            if rules.on_new_phone(policy, phone, others) == "skip":
                return None
            record_id = self._claim_id(PHONE, phone)
            events += phones.claim(index, phone, record.id, unit.now, record_id=record_id)
        if edit.phones is not None:
            for phone in record.phones:
                if phone not in edit.phones:
                    index = self._phone_index(unit, phone)
                    events += phones.release(index, phone, record.id, unit.now)
        assigned = None
        if not edit.sets("assigned_staff"):  # an explicit owner wins over the rules
            assigned = self._assignment(
                unit,
                "edited",
                record.id,
                after,
                created_by=record.created_by,
                edited_by=by,
                owner=record.assigned_staff,
            )
        if assigned is not None:
            edit = CustomerEdit({**edit.changes, "assigned_staff": assigned.staff_id})
            after = attrs.evolve(after, assigned_staff=assigned.staff_id)
            events += assigned.events
        events += self._unique_claims(unit, settings, record.id, record, after)
        rule = assigned.rule_id if assigned else None
        return customers.update(record, edit, unit.now, at, by=by, rule=rule) + events

    def _edit(
        self,
        unit: UnitOfWork,
        record: CustomerRecord,
        edit: CustomerEdit,
        policy: DuplicatePhonePolicy,
        at: datetime | None,
        by: str | None = None,
    ) -> Outcome:
        events = self._edit_events(unit, record, edit, policy, at, by)
        if events is None:
            return "skipped"
        unit.record(events)
        return "updated" if events else "unchanged"

    def _upsert(
        self,
        unit: UnitOfWork,
        upsert: Upsert,
        policy: DuplicatePhonePolicy,
        at: datetime | None,
        by: str | None = None,
    ) -> tuple[UUID, Outcome]:
        """Create the customer, or edit the one its external id stands for (by `by`)."""
        external_id = upsert.details.external_id
        link = None if external_id is None else self._load_claim(unit, POS_ID, external_id)
        if link is None or link.owner is None:
            return self._register(unit, upsert.details, policy, at, by)
        record = self._customer(unit, link.owner)
        edit = fields.edit_of(upsert.details, upsert.fields)
        return record.id, self._edit(unit, record, edit, policy, at, by)

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

    def _parse_sheet_row(self, row: object, mapping: Mapping[str, str]) -> Upsert:
        """Validate one spreadsheet row: headers through `mapping`, cells as a sheet's."""
        if not isinstance(row, Mapping):
            raise InvalidInput(f"a row must be a mapping of column names to values, not {row!r}")
        return self._parse_row(sheet_row(row, mapping, "customers", self.business_timezone))

    def _import_batch(
        self,
        unit: UnitOfWork,
        rows: list[tuple[int, Upsert]],
        policy: DuplicatePhonePolicy,
        by: str | None = None,
    ) -> list[tuple[int, RowResult]]:
        """Apply a batch of rows in one unit; a row that fails records nothing."""
        outcomes: list[tuple[int, RowResult]] = []
        for number, upsert in rows:
            try:
                result = self._import_row(unit, upsert, policy, by)
            except LedgerError as error:
                result = RowResult(None, reason=str(error))
            outcomes.append((number, result))
        return outcomes

    def _import_row(
        self, unit: UnitOfWork, upsert: Upsert, policy: DuplicatePhonePolicy, by: str | None
    ) -> RowResult:
        """Apply one row, saying what it matched and why when it created nothing."""
        details = upsert.details
        pos_id = details.external_id
        link = None if pos_id is None else self._load_claim(unit, POS_ID, pos_id)
        linked = link is not None and link.owner is not None
        # Who held the row's phones before it was applied: what a registration matches.
        held = {p: i.owners if (i := self._phone_index(unit, p)) else () for p in details.phones}
        customer_id, outcome = self._upsert(unit, upsert, policy, upsert.at, by)
        if outcome == "created":
            return RowResult(outcome, customer_id)
        whose = self._whose(unit, customer_id)
        if linked:
            assert pos_id is not None
            reason = {
                "updated": "the row's columns were applied to it",
                "unchanged": "the row changes nothing",
                "skipped": self._skipped_phone(held, customer_id),
            }[outcome]
            return RowResult(
                outcome,
                customer_id,
                "external_id",
                pos_id,
                f"POS id {pos_id!r} is {whose}: {reason}",
            )
        clash = rules.first_owned({p: o for p, o in held.items() if customer_id in o})
        phone = clash[0] if clash else None
        row = f"the row ({details.name!r}" + (f", POS id {pos_id!r})" if pos_id else ")")
        reason = {
            "skipped": f"under on-duplicate-phone 'skip' {row} recorded nothing",
            "updated": f"under on-duplicate-phone 'update' {row} was merged into it",
            "unchanged": f"under on-duplicate-phone 'update' {row} adds nothing to it",
        }[outcome]
        return RowResult(
            outcome, customer_id, "phone", phone, f"phone {phone} belongs to {whose}: {reason}"
        )

    def _whose(self, unit: UnitOfWork, customer_id: UUID) -> str:
        record = self._customer(unit, customer_id)
        pos = f", POS id {record.external_id!r}" if record.external_id else ""
        return f"customer {customer_id} ({record.name!r}{pos})"

    @staticmethod
    def _skipped_phone(held: Mapping[str, tuple[UUID, ...]], customer_id: UUID) -> str:
        taken = [
            (p, owners[0]) for p, owners in held.items() if owners and customer_id not in owners
        ]
        phone, other = taken[0] if taken else ("a new phone", "another customer")
        return (
            f"its new phone {phone} belongs to customer {other} and on-duplicate-phone is "
            "'skip': the row recorded nothing"
        )
