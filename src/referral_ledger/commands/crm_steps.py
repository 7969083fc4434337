"""The CRM steps of every customer command, inside its unit of work: the field
settings (required and unique fields) and owner assignment.

Assignment happens in the customer command's own unit of work, not in a
reaction: the customer, its owner, the rule that chose it and the
department's turn commit together or not at all. A reaction would leave a
moment where the customer has no owner, and a crash between the two
would need the reaction to catch up before the owner is known. In the
same unit, concurrent registrations handed to one department both write its
turn record's next version: one commits, the other decides again from the
new turn, which is what keeps round robin fair across processes.
"""

from __future__ import annotations

from uuid import UUID

import attrs

from referral_ledger.aggregates import claims
from referral_ledger.aggregates import customer_record as customers
from referral_ledger.aggregates.assignment import (
    RULE_BOOK,
    TURN_KIND,
    evolve_rules,
    evolve_turns,
    take_turn,
)
from referral_ledger.aggregates.base import Event
from referral_ledger.aggregates.customer_settings import (
    FIELD_SETTINGS,
    UNIQUE_KINDS,
    evolve_field_settings,
)
from referral_ledger.aggregates.staff import STAFF_DIRECTORY, evolve_staff
from referral_ledger.commands.base import LedgerBase
from referral_ledger.errors import DuplicateValue
from referral_ledger.policies import assignment
from referral_ledger.policies.customer_fields import CustomerFields
from referral_ledger.policies.field_settings import DEFAULT_SETTINGS, FieldSettings, unique_keys
from referral_ledger.store import UnitOfWork


@attrs.frozen
class Assignment:
    """An owner a rule chose, and the events that go with it (a department's turn)."""

    staff_id: str
    rule_id: str
    events: list[Event]


class CrmSteps(LedgerBase):
    """Field settings and owner assignment, as steps of the customer commands."""

    def _field_settings(self, unit: UnitOfWork) -> FieldSettings:
        """The settings in force; the unit saves only if they still are (a
        field made unique meanwhile has its values claimed, and this unit's
        must be too: it is decided again)."""
        record = unit.load(FIELD_SETTINGS, evolve_field_settings)
        unit.guard(FIELD_SETTINGS)
        return record.settings if record else DEFAULT_SETTINGS

    def _unique_claims(
        self,
        unit: UnitOfWork,
        settings: FieldSettings,
        customer_id: UUID,
        before: CustomerFields | None,
        after: CustomerFields,
    ) -> list[Event]:
        """Claim the unique values `after` gains and free those it loses.

        Raises `DuplicateValue` when another customer holds one; decide every
        claim before recording any, so a refusal records nothing.
        """
        events: list[Event] = []
        for field in settings.claimed:
            kind = UNIQUE_KINDS[field]
            had = unique_keys(field, before) if before is not None else frozenset()
            has = unique_keys(field, after)
            for value in sorted(has - had):
                record_id = self._claim_id(kind, value)
                claim = unit.load(record_id, claims.evolve_claim)
                others = claim.others(customer_id) if claim else ()
                for stale in [o for o in others if not self._holds(unit, o, field, value)]:
                    # Claimed while the field was unique once, and changed
                    # while it was not (nothing released it then): free.
                    unit.record(claims.release(kind, claim, stale, unit.now))
                    claim = unit.load(record_id, claims.evolve_claim)
                    others = claim.others(customer_id) if claim else ()
                if others:
                    raise DuplicateValue(
                        f"{field} {getattr(after, field)!r} already belongs to customer {others[0]}"
                    )
                events += claims.claim(
                    kind, claim, value, customer_id, unit.now, record_id=record_id
                )
            for value in sorted(had - has):
                claim = unit.load(self._claim_id(kind, value), claims.evolve_claim)
                events += claims.release(kind, claim, customer_id, unit.now)
        return events

    def _holds(self, unit: UnitOfWork, customer_id: UUID, field: str, value: str) -> bool:
        """Whether the customer holds `value` of `field` now."""
        record = unit.load(customer_id, customers.evolve_customer)
        return record is not None and value in unique_keys(field, record)

    def _assignment(
        self,
        unit: UnitOfWork,
        trigger: assignment.Trigger,
        customer_id: UUID,
        customer: CustomerFields,
        *,
        created_by: str | None,
        edited_by: str | None,
        owner: str | None,
    ) -> Assignment | None:
        """The owner the first matching rule gives the customer (None: no change).

        `customer`: its fields after the command; `owner`: its owner before
        (None for a new customer). On an edit, a customer already with the
        rule's staff member, or with a member of the rule's department, keeps
        its owner (and the department's turn does not move).
        """
        book = unit.load(RULE_BOOK, evolve_rules)
        if book is None or not book.rules:
            return None
        facts = {
            "source": customer.source,
            "group": customer.group,
            "social_page": customer.social_page,
            "created_by": created_by,
            "edited_by": edited_by,
        }
        rule = assignment.first_match(book.rules, trigger, facts)
        if rule is None:
            return None
        kind, target = rule.target
        if kind == "staff":
            return None if owner == target else Assignment(target, rule.rule_id, [])
        directory = unit.load(STAFF_DIRECTORY, evolve_staff)
        members = directory.turn_order(target) if directory else []
        if owner is not None and any(m.staff_id == owner for m in members):
            return None
        turns_id = self._ids(TURN_KIND, target)
        turns = unit.load(turns_id, evolve_turns)
        member = assignment.next_in_turn(members, turns.last_joined if turns else 0)
        if member is None:
            return None  # no active member: the customer keeps its owner
        events = take_turn(
            turns, target, member, customer_id, rule.rule_id, unit.now, record_id=turns_id
        )
        return Assignment(member.staff_id, rule.rule_id, events)
