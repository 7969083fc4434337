"""Owner-assignment rules (CRMVIET "Quy tắc chuyển chủ sở hữu") and round robin.

Pure functions, tested without a store: which rule applies to a customer
created or edited, and which member of a department takes the next turn.
The commands load the rules, the staff and the department's turn record in
the customer command's unit of work and record what these decide.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Final, Literal, TypeAlias

import attrs

from referral_ledger.errors import InvalidInput
from referral_ledger.policies.folding import fold
from referral_ledger.values import parse_reference, parse_text

#: The customer facts a condition may test.
CONDITION_FIELDS: Final = ("source", "group", "social_page", "created_by", "edited_by")
OPERATORS: Final = ("=", "!=")
#: When a rule is considered: on a customer created, or edited.
Trigger: TypeAlias = Literal["created", "edited"]
TRIGGERS: Final = ("created", "edited")
STAFF: Final = "staff:"
DEPARTMENT: Final = "department:"
MAX_CONDITIONS: Final = 50

#: What a condition reads: each of `CONDITION_FIELDS`, None when unset.
Facts: TypeAlias = Mapping[str, str | None]


@attrs.frozen
class Condition:
    """`field op value`: `Condition("source", "=", "ads")`; unset fields equal nothing."""

    field: str
    op: str
    value: str

    def holds(self, facts: Facts) -> bool:
        equal = facts.get(self.field) == self.value
        return equal if self.op == "=" else not equal


@attrs.frozen
class AssignmentRule:
    """An owner-assignment rule.

    On a customer `on` ("created", "edited" or both) whose facts meet every
    condition, `assign_to` ("staff:ID" or "department:NAME") becomes its
    owner. Rules are tried by `priority` (lower first), ties by `rule_id`.
    """

    rule_id: str
    name: str
    on: frozenset[str]
    conditions: tuple[Condition, ...]
    assign_to: str
    priority: int = 0

    @property
    def target(self) -> tuple[Literal["staff", "department"], str]:
        """("staff", ID) or ("department", NAME)."""
        if self.assign_to.startswith(STAFF):
            return "staff", self.assign_to[len(STAFF) :]
        return "department", self.assign_to[len(DEPARTMENT) :]

    @property
    def order(self) -> tuple[int, str]:
        return self.priority, self.rule_id


def parse_condition(value: object) -> Condition:
    if not isinstance(value, Condition):
        raise InvalidInput(f"a condition must be a Condition, not {value!r}")
    if value.field not in CONDITION_FIELDS:
        raise InvalidInput(
            f"condition field must be one of {', '.join(CONDITION_FIELDS)}: {value.field!r}"
        )
    if value.op not in OPERATORS:
        raise InvalidInput(f"condition operator must be '=' or '!=': {value.op!r}")
    return Condition(value.field, value.op, parse_text(value.value, "condition value"))


def parse_rule(value: object) -> AssignmentRule:
    """A rule with every part checked (the staff and departments it names are the
    command's to check against the staff)."""
    if not isinstance(value, AssignmentRule):
        raise InvalidInput(f"rule must be an AssignmentRule, not {value!r}")
    on = value.on
    if isinstance(on, str) or not isinstance(on, Iterable):
        raise InvalidInput(f"on must be a set of triggers ('created', 'edited'), not {on!r}")
    items = list(on)
    if not items or any(t not in TRIGGERS for t in items):
        raise InvalidInput(f"on must name 'created' and/or 'edited', not {on!r}")
    conditions = value.conditions
    if isinstance(conditions, str | Condition) or not isinstance(conditions, Iterable):
        raise InvalidInput(f"conditions must be a list of Condition, not {conditions!r}")
    parsed = tuple(parse_condition(c) for c in conditions)
    if len(parsed) > MAX_CONDITIONS:
        raise InvalidInput(f"a rule has at most {MAX_CONDITIONS} conditions, not {len(parsed)}")
    assign_to = value.assign_to
    if not isinstance(assign_to, str) or not assign_to.startswith((STAFF, DEPARTMENT)):
        raise InvalidInput(f"assign_to must be 'staff:ID' or 'department:NAME': {assign_to!r}")
    prefix = STAFF if assign_to.startswith(STAFF) else DEPARTMENT
    target = parse_reference(assign_to[len(prefix) :], "assign_to")
    priority = value.priority
    if isinstance(priority, bool) or not isinstance(priority, int) or abs(priority) > 10**9:
        raise InvalidInput(f"priority must be an int, not {priority!r}")
    return AssignmentRule(
        rule_id=parse_reference(value.rule_id, "rule_id"),
        name=parse_text(value.name, "rule name"),
        on=frozenset(items),
        conditions=parsed,
        assign_to=prefix + target,
        priority=priority,
    )


def ordered(rules: Iterable[AssignmentRule]) -> list[AssignmentRule]:
    """The rules in the order they are tried: priority, then rule id."""
    return sorted(rules, key=lambda r: r.order)


def first_match(
    rules: Iterable[AssignmentRule], trigger: Trigger, facts: Facts
) -> AssignmentRule | None:
    """The first rule (in priority order) for `trigger` whose conditions all hold."""
    for rule in ordered(rules):
        if trigger in rule.on and all(c.holds(facts) for c in rule.conditions):
            return rule
    return None


def search(rules: Iterable[AssignmentRule], text: str | None) -> list[AssignmentRule]:
    """The rules whose name holds `text` (accent- and case-insensitive), in order."""
    wanted = fold(text or "")
    return [r for r in ordered(rules) if wanted in fold(r.name)]


# --- round robin --------------------------------------------------------------


@attrs.frozen
class Member:
    """A department member as round robin sees it: its join position and whether active."""

    joined: int
    staff_id: str
    active: bool


def next_in_turn(members: Sequence[Member], last_joined: int) -> Member | None:
    """Who takes the next customer: the first active member who joined after the
    one served last (`last_joined`: its join position, 0 before any), else the
    first active member from the start; None when no one is active.

    Walking the join order like this, every member active throughout gets one
    customer per lap, so two of them never differ by more than one; a member
    who leaves or pauses is skipped without shifting the others' turns.
    """
    active = sorted((m for m in members if m.active), key=lambda m: m.joined)
    if not active:
        return None
    return next((m for m in active if m.joined > last_joined), active[0])
