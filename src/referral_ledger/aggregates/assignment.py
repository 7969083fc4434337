"""Owner assignment: the rule book, and each department's turn record.

The rule book is one record: every rule set or removed is an event of it.

A department's turn record (at an id derived from the department's name)
holds who was served last; every customer handed to the department is an
event of it, saved in the same transaction as the customer. Two processes
handing out a customer at once both write the record's next version and the
store lets one commit; the other decides again from the new turn. So the
turn is state in the log, the same for every process and after a restart.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final
from uuid import UUID

import attrs

from referral_ledger.aggregates.base import Event, next_event
from referral_ledger.errors import InvalidInput, NotFound
from referral_ledger.policies.assignment import AssignmentRule, Member, ordered
from referral_ledger.values import derived_id

RULE_BOOK: Final = derived_id("crm", "assignment-rules")
#: The kind department turn records' ids derive from (with the store's `RecordIds`).
TURN_KIND: Final = "department-turn"

# --- the rule book -------------------------------------------------------------


@attrs.frozen
class RuleBook:
    id: UUID
    version: int
    #: In the order they are tried.
    rules: tuple[AssignmentRule, ...] = ()

    def rule(self, rule_id: str) -> AssignmentRule | None:
        return next((r for r in self.rules if r.rule_id == rule_id), None)


@attrs.frozen(kw_only=True)
class AssignmentRuleSet(Event):
    rule: AssignmentRule
    at: datetime


@attrs.frozen(kw_only=True)
class AssignmentRuleRemoved(Event):
    rule_id: str
    at: datetime


def set_rule(
    book: RuleBook | None, rule: AssignmentRule, now: datetime, at: datetime
) -> list[Event]:
    """Add `rule` (nothing if it is there already; the same id with other settings is refused)."""
    known = book.rule(rule.rule_id) if book else None
    if known == rule:
        return []
    if known is not None:
        raise InvalidInput(
            f"assignment rule {rule.rule_id!r} exists with other settings "
            "(remove it first to replace it)"
        )
    return [AssignmentRuleSet(**next_event(book, now, record_id=RULE_BOOK), rule=rule, at=at)]


def remove_rule(book: RuleBook | None, rule_id: str, now: datetime, at: datetime) -> list[Event]:
    if book is None or book.rule(rule_id) is None:
        raise NotFound(f"no assignment rule with id {rule_id!r}")
    return [AssignmentRuleRemoved(**next_event(book, now), rule_id=rule_id, at=at)]


def evolve_rules(book: RuleBook | None, event: Event) -> RuleBook:
    state = book or RuleBook(event.originator_id, 0)
    match event:
        case AssignmentRuleSet(rule=rule):
            rules = ordered((*state.rules, rule))
        case AssignmentRuleRemoved(rule_id=rule_id):
            rules = [r for r in state.rules if r.rule_id != rule_id]
        case _:
            raise TypeError(f"not an assignment rule event: {event!r}")
    return attrs.evolve(state, version=event.originator_version, rules=tuple(rules))


# --- a department's turns ---------------------------------------------------------


@attrs.frozen
class DepartmentTurns:
    id: UUID
    version: int
    department: str
    #: The join position of the member served last (0: none yet).
    last_joined: int = 0


@attrs.frozen(kw_only=True)
class TurnTaken(Event):
    """The department handed `customer_id` to `staff_id` (joined at `joined`)."""

    department: str
    staff_id: str
    joined: int
    customer_id: UUID
    #: The rule that sent the customer to the department.
    rule_id: str


def take_turn(
    turns: DepartmentTurns | None,
    department: str,
    member: Member,
    customer_id: UUID,
    rule_id: str,
    now: datetime,
    *,
    record_id: UUID,
) -> list[Event]:
    return [
        TurnTaken(
            **next_event(turns, now, record_id=record_id),
            department=department,
            staff_id=member.staff_id,
            joined=member.joined,
            customer_id=customer_id,
            rule_id=rule_id,
        )
    ]


def evolve_turns(turns: DepartmentTurns | None, event: Event) -> DepartmentTurns:
    assert isinstance(event, TurnTaken), event
    return DepartmentTurns(
        event.originator_id, event.originator_version, event.department, event.joined
    )
