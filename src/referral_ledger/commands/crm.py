"""CRM settings: staff and departments, owner-assignment rules, customer field
settings and origins (sources).

Each setting is a record of its own (`aggregates/staff.py`,
`aggregates/assignment.py`, `aggregates/customer_settings.py`); the customer
commands read them in their own units of work (`crm_steps.py`).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from referral_ledger.aggregates import assignment as rule_book
from referral_ledger.aggregates import customer_settings, staff
from referral_ledger.aggregates.assignment import RULE_BOOK, evolve_rules
from referral_ledger.aggregates.customer_settings import (
    DEFAULT_SOURCE_BOOK,
    FIELD_SETTINGS,
    SOURCES,
    evolve_field_settings,
    evolve_sources,
)
from referral_ledger.aggregates.staff import STAFF_DIRECTORY, StaffMember, evolve_staff
from referral_ledger.commands.unique_values import UniqueValues
from referral_ledger.errors import InvalidInput
from referral_ledger.policies import assignment as rules
from referral_ledger.policies import field_settings
from referral_ledger.policies.assignment import AssignmentRule
from referral_ledger.policies.customer_fields import UNCHANGED, Unchanged
from referral_ledger.policies.field_settings import DEFAULT_SETTINGS, FieldSettings, Source
from referral_ledger.store import UnitOfWork
from referral_ledger.values import (
    parse_flag,
    parse_optional_text,
    parse_reference,
    parse_text,
)


class CrmCommands(UniqueValues):
    """Staff, owner-assignment rules, customer field settings and sources."""

    # --- staff ---------------------------------------------------------------

    def add_staff(
        self,
        staff_id: str,
        name: str,
        department: str | None = None,
        active: bool = True,
        at: datetime | None = None,
    ) -> None:
        """Add a staff member (the host's id), in `department` (None: none).

        Adding the same member again records nothing; the same id with other
        settings raises `InvalidInput` (change a member with `update_staff`).
        A member joins its department last: departments hand customers out in
        the order members joined.
        """
        member = StaffMember(
            staff_id=parse_reference(staff_id, "staff_id"),
            name=parse_text(name, "name"),
            department=parse_optional_text(department, "department"),
            active=parse_flag(active, "active"),
        )
        when = self._business_time(at)

        def decide(unit: UnitOfWork) -> None:
            directory = unit.load(STAFF_DIRECTORY, evolve_staff)
            unit.record(staff.add(directory, member, unit.now, when))

        self._store.run(decide)

    def update_staff(
        self,
        staff_id: str,
        name: str | Unchanged = UNCHANGED,
        department: str | Unchanged | None = UNCHANGED,
        active: bool | Unchanged = UNCHANGED,
        at: datetime | None = None,
    ) -> None:
        """Change a member's name, department (None: none) or whether it is active.

        Moving to another department puts the member last in it; an inactive
        member is skipped by its department's round robin. An unknown id
        raises `NotFound`.
        """
        member = parse_reference(staff_id, "staff_id")
        changes: dict[str, object] = {}
        if name is not UNCHANGED:
            changes["name"] = parse_text(name, "name")
        if department is not UNCHANGED:
            changes["department"] = parse_optional_text(department, "department")
        if active is not UNCHANGED:
            changes["active"] = parse_flag(active, "active")
        when = self._business_time(at)

        def decide(unit: UnitOfWork) -> None:
            directory = unit.load(STAFF_DIRECTORY, evolve_staff)
            unit.record(staff.update(directory, member, changes, unit.now, when))

        self._store.run(decide)

    def staff(self, department: str | None = None) -> list[StaffMember]:
        """Every staff member in the order added, or a department's in the order they joined."""
        directory = self._store.load(STAFF_DIRECTORY, evolve_staff)
        if directory is None:
            return []
        if department is None:
            return list(directory.members)
        return directory.department(parse_text(department, "department"))

    def departments(self) -> list[str]:
        """The departments (the members' `department` values), in the order they formed."""
        directory = self._store.load(STAFF_DIRECTORY, evolve_staff)
        return directory.departments() if directory else []

    # --- owner-assignment rules -------------------------------------------------

    def set_assignment_rule(self, rule: AssignmentRule, at: datetime | None = None) -> None:
        """Add an owner-assignment rule (see `AssignmentRule`).

        The same rule again records nothing; the same `rule_id` with other
        settings raises `InvalidInput` (remove it first). So does a rule
        assigning to an unknown staff member or a department with no active member.
        """
        parsed = rules.parse_rule(rule)
        when = self._business_time(at)

        def decide(unit: UnitOfWork) -> None:
            directory = unit.load(STAFF_DIRECTORY, evolve_staff)
            kind, target = parsed.target
            if kind == "staff" and (directory is None or directory.member(target) is None):
                raise InvalidInput(f"assign_to names no staff member: {parsed.assign_to!r}")
            if kind == "department" and not any(
                m.active for m in (directory.department(target) if directory else [])
            ):
                raise InvalidInput(
                    f"assign_to names a department with no active member: {parsed.assign_to!r}"
                )
            book = unit.load(RULE_BOOK, evolve_rules)
            unit.record(rule_book.set_rule(book, parsed, unit.now, when))

        self._store.run(decide)

    def remove_assignment_rule(self, rule_id: str, at: datetime | None = None) -> None:
        """Remove an owner-assignment rule; an unknown id raises `NotFound`."""
        wanted = parse_reference(rule_id, "rule_id")
        when = self._business_time(at)

        def decide(unit: UnitOfWork) -> None:
            book = unit.load(RULE_BOOK, evolve_rules)
            unit.record(rule_book.remove_rule(book, wanted, unit.now, when))

        self._store.run(decide)

    def assignment_rules(self, search: str | None = None) -> list[AssignmentRule]:
        """The rules in the order they are tried; `search`: part of the name,
        accent- and case-insensitive."""
        text = parse_optional_text(search, "search")
        book = self._store.load(RULE_BOOK, evolve_rules)
        return rules.search(book.rules if book else (), text)

    # --- customer field settings ------------------------------------------------

    def configure_customer_fields(
        self,
        required: Iterable[str] = DEFAULT_SETTINGS.required,
        unique: Iterable[str] = DEFAULT_SETTINGS.unique,
        at: datetime | None = None,
    ) -> None:
        """Say which customer fields are required and which unique, from now on.

        Fields: name, phones, email, group, source, social_page, external_id,
        addresses, assigned_staff; `name` is always required. A registration
        or edit missing a required field raises `InvalidInput`; a value of a
        unique field another customer holds raises `DuplicateValue`.

        Making a field unique claims the values customers hold already; if two
        customers share one, it raises `DuplicateValue` naming them and the
        value, and records nothing (see `commands/unique_values.py`).
        """
        settings = field_settings.parse_settings(required, unique)
        when = self._business_time(at)

        def decide(unit: UnitOfWork) -> None:
            record = unit.load(FIELD_SETTINGS, evolve_field_settings)
            events = customer_settings.configure(record, settings, unit.now, when)
            if events:
                before = record.settings if record else DEFAULT_SETTINGS
                unit.record(events)
                self._claim_held_values(unit, before, settings)

        # Alone, never in a group commit's batch: its guard reads the customers'
        # events up to a position, which a registration in the same batch would
        # pass unseen (the guard is checked before the batch's events are written).
        self._store.run(decide, alone=True)

    def customer_field_settings(self) -> FieldSettings:
        """The field settings in force."""
        record = self._store.load(FIELD_SETTINGS, evolve_field_settings)
        return record.settings if record else DEFAULT_SETTINGS

    # --- origins --------------------------------------------------------------

    def add_source(self, key: str, name: str, at: datetime | None = None) -> None:
        """Name an origin: customers' `source` key and the name screens show.

        A known key takes the new name (the default `retailer` too).
        """
        source = field_settings.parse_source(key, name)
        when = self._business_time(at)

        def decide(unit: UnitOfWork) -> None:
            book = unit.load(SOURCES, evolve_sources)
            unit.record(customer_settings.add_source(book, source, unit.now, when))

        self._store.run(decide)

    def sources(self) -> list[Source]:
        """Every origin with its display name, the defaults (`retailer`) first."""
        book = self._store.load(SOURCES, evolve_sources) or DEFAULT_SOURCE_BOOK
        return list(book.names)
