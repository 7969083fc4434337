"""The executable specification of staff, owner-assignment rules and round robin.

A Hypothesis state machine adds and changes staff (departments, active or
not), sets and removes rules, and registers, edits and imports customers,
against a plain model written apart from the library's policies. After every
step each customer's owner must be the model's, a refused command must have
recorded nothing, and in each department the members active throughout
(never changed since its first hand-out) must have been handed customers
within one of each other. It runs on memory, SQLite and PostgreSQL, each
example on a new, empty store.
"""

from __future__ import annotations

from typing import ClassVar
from uuid import UUID

import attrs
import pytest
from hypothesis import event, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, initialize, invariant, rule

from referral_ledger import (
    AssignmentRule,
    Condition,
    InvalidInput,
    Ledger,
    LedgerError,
    NotFound,
)
from stores import fresh_store

STAFF = ("nv1", "nv2", "nv3", "nv4")
DEPARTMENTS = ("sales", "care")
RULE_IDS = ("r1", "r2", "r3")
SOURCES = ("ads", "web")
GROUPS = ("retail", "wholesale")
USERS = ("u1", "u2")

departments = st.sampled_from((*DEPARTMENTS, None))
optional_source = st.sampled_from((*SOURCES, None))
optional_group = st.sampled_from((*GROUPS, None))
optional_user = st.sampled_from((*USERS, None))
conditions = st.lists(
    st.builds(
        Condition,
        st.sampled_from(("source", "group", "created_by", "edited_by")),
        st.sampled_from(("=", "!=")),
        st.sampled_from((*SOURCES, *GROUPS, *USERS)),
    ),
    max_size=2,
).map(tuple)
assign_targets = st.one_of(
    st.sampled_from(STAFF).map(lambda s: f"staff:{s}"),
    st.sampled_from(DEPARTMENTS).map(lambda d: f"department:{d}"),
)
triggers = st.sampled_from(
    (frozenset({"created"}), frozenset({"edited"}), frozenset({"created", "edited"}))
)


@attrs.define
class ModelMember:
    department: str | None
    active: bool
    joined: int
    name: str


@attrs.define
class ModelCustomer:
    owner: str | None
    source: str | None
    group: str | None
    created_by: str | None


class AssignmentMachine(RuleBasedStateMachine):
    """Owners against a model of staff, rules and each department's turn."""

    kind: ClassVar[str] = "memory"
    customers = Bundle("customers")

    def __init__(self) -> None:
        super().__init__()
        url, self._cleanup = fresh_store(self.kind)
        self.ledger = Ledger.open(url)
        self.members: dict[str, ModelMember] = {}
        self.staff_version = 0
        self.rule_book: dict[str, AssignmentRule] = {}
        self.last_joined: dict[str, int] = {}
        self.owners: dict[UUID, ModelCustomer] = {}
        self.phone = 0
        # Per department: hand-outs per member, and the members changed (or
        # not active and in it at some hand-out) since its first hand-out.
        self.handed: dict[str, dict[str, int]] = {d: {} for d in DEPARTMENTS}
        self.unsteady: dict[str, set[str]] = {d: set() for d in DEPARTMENTS}

    def teardown(self) -> None:
        self.ledger.close()
        self._cleanup()

    # --- the model ----------------------------------------------------------------

    def _in_order(self, department: str) -> list[tuple[int, str, bool]]:
        return sorted(
            (m.joined, s, m.active) for s, m in self.members.items() if m.department == department
        )

    def _hand_out(self, department: str) -> str | None:
        active = [(j, s) for j, s, a in self._in_order(department) if a]
        if not active:
            return None
        last = self.last_joined.get(department, 0)
        joined, staff = next(((j, s) for j, s in active if j > last), active[0])
        self.last_joined[department] = joined
        if not self.handed[department]:
            # The first hand-out: who is not in it and active now is not "throughout".
            self.unsteady[department] |= set(STAFF) - {s for _, s in active}
        for member in set(STAFF) - {s for _, s in active}:
            self.unsteady[department].add(member)
        self.handed[department][staff] = self.handed[department].get(staff, 0) + 1
        event(f"hand-outs in a department: {min(sum(self.handed[department].values()), 5)}")
        return staff

    def _owner_by_rules(
        self, trigger: str, facts: dict[str, str | None], owner: str | None
    ) -> str | None:
        """The new owner the rules give (None: unchanged)."""
        for each in sorted(self.rule_book.values(), key=lambda r: (r.priority, r.rule_id)):
            if trigger not in each.on:
                continue
            if not all((facts[c.field] == c.value) == (c.op == "=") for c in each.conditions):
                continue
            kind, _, target = each.assign_to.partition(":")
            if kind == "staff":
                return None if owner == target else target
            if owner is not None and any(s == owner for _, s, _ in self._in_order(target)):
                return None
            return self._hand_out(target)
        return None

    def _refused(self, call: object, error: type[LedgerError]) -> None:
        before = self.ledger.event_count()
        with pytest.raises(error):
            call()  # type: ignore[operator]
        assert before == self.ledger.event_count()

    # --- a start where departments hand customers out -------------------------------

    @initialize(members=st.integers(2, 3), priority=st.integers(0, 2))
    def sales_takes_ads(self, members: int, priority: int) -> None:
        """Sales has members and a rule sends it customers from ads, so most
        examples hand customers out (the other rules change all of it)."""
        for staff in STAFF[:members]:
            self.add_staff(staff, "An", "sales", True)
        self.set_rule(
            "r0", frozenset({"created", "edited"}), (Condition("source", "=", "ads"),),
            "department:sales", priority,
        )  # fmt: skip

    # --- staff -----------------------------------------------------------------

    @rule(
        staff=st.sampled_from(STAFF),
        name=st.sampled_from(("An", "Bình")),
        department=departments,
        active=st.booleans(),
    )
    def add_staff(self, staff: str, name: str, department: str | None, active: bool) -> None:
        known = self.members.get(staff)
        if known is not None and (known.name, known.department, known.active) != (
            name,
            department,
            active,
        ):
            self._refused(
                lambda: self.ledger.add_staff(staff, name, department, active), InvalidInput
            )
            return
        self.ledger.add_staff(staff, name, department=department, active=active)
        if known is None:
            self.staff_version += 1
            self.members[staff] = ModelMember(department, active, self.staff_version, name)
            for d in DEPARTMENTS:
                if self.handed[d]:  # joined after hand-outs began: not "throughout"
                    self.unsteady[d].add(staff)

    @rule(staff=st.sampled_from(STAFF), department=departments, active=st.booleans())
    def update_staff(self, staff: str, department: str | None, active: bool) -> None:
        known = self.members.get(staff)
        if known is None:
            self._refused(lambda: self.ledger.update_staff(staff, active=active), NotFound)
            return
        self.ledger.update_staff(staff, department=department, active=active)
        if (known.department, known.active) == (department, active):
            return
        self.staff_version += 1
        for d in DEPARTMENTS:
            if self.handed[d]:
                self.unsteady[d].add(staff)
        if known.department != department:
            known.joined = self.staff_version
        known.department, known.active = department, active

    # --- rules -----------------------------------------------------------------

    @rule(
        rule_id=st.sampled_from(RULE_IDS),
        on=triggers,
        conditions=conditions,
        assign_to=assign_targets,
        priority=st.integers(0, 2),
    )
    def set_rule(
        self,
        rule_id: str,
        on: frozenset[str],
        conditions: tuple[Condition, ...],
        assign_to: str,
        priority: int,
    ) -> None:
        new = AssignmentRule(rule_id, f"Quy tắc {rule_id}", on, conditions, assign_to, priority)
        kind, _, name = assign_to.partition(":")
        valid = (
            name in self.members if kind == "staff" else any(a for _, _, a in self._in_order(name))
        )
        known = self.rule_book.get(rule_id)
        if not valid or (known is not None and known != new):
            self._refused(lambda: self.ledger.set_assignment_rule(new), InvalidInput)
            return
        self.ledger.set_assignment_rule(new)
        self.rule_book[rule_id] = new

    @rule(rule_id=st.sampled_from(RULE_IDS))
    def remove_rule(self, rule_id: str) -> None:
        if rule_id not in self.rule_book:
            self._refused(lambda: self.ledger.remove_assignment_rule(rule_id), NotFound)
            return
        self.ledger.remove_assignment_rule(rule_id)
        del self.rule_book[rule_id]

    # --- customers -------------------------------------------------------------

    def _next_phone(self) -> str:
        self.phone += 1
        return f"0912{self.phone:06d}"

    @rule(
        target=customers,
        source=optional_source,
        group=optional_group,
        by=optional_user,
        explicit=st.sampled_from((None, "boss")),
    )
    def register(
        self, source: str | None, group: str | None, by: str | None, explicit: str | None
    ) -> UUID:
        cid = self.ledger.register_customer(
            "Khách", [self._next_phone()], source=source, group=group,
            assigned_staff=explicit, by=by,
        )  # fmt: skip
        owner = explicit
        if explicit is None:
            facts = {"source": source, "group": group, "created_by": by, "edited_by": None}
            owner = self._owner_by_rules("created", facts, None)
        self.owners[cid] = ModelCustomer(owner, source, group, by)
        return cid

    @rule(count=st.integers(1, 4), by=optional_user)
    def register_from_ads(self, count: int, by: str | None) -> None:
        for _ in range(count):
            self.register("ads", None, by, None)

    @rule(source=optional_source, by=optional_user, rows=st.integers(1, 3))
    def import_rows(self, source: str | None, by: str | None, rows: int) -> None:
        sheet = [
            {"name": "Nhập", "phones": self._next_phone(), "source": source} for _ in range(rows)
        ]
        report = self.ledger.import_customers(sheet, by=by)
        assert (rows, []) == (report.created, report.rejected)
        found = [self.ledger.find_customer_by_phone(row["phones"]) for row in sheet]  # type: ignore[arg-type]
        for cid in found:
            assert cid is not None
            facts = {"source": source, "group": None, "created_by": by, "edited_by": None}
            owner = self._owner_by_rules("created", facts, None)
            self.owners[cid] = ModelCustomer(owner, source, None, by)

    @rule(
        customer=customers,
        source=optional_source,
        group=optional_group,
        by=optional_user,
        explicit=st.sampled_from((None, "boss", "nv1")),
    )
    def edit(
        self,
        customer: UUID,
        source: str | None,
        group: str | None,
        by: str | None,
        explicit: str | None,
    ) -> None:
        model = self.owners[customer]
        if explicit is None:
            self.ledger.update_customer(customer, source=source, group=group, by=by)
        else:
            self.ledger.update_customer(
                customer, source=source, group=group, assigned_staff=explicit, by=by
            )
        changed = (model.source, model.group) != (source, group) or (
            explicit is not None and explicit != model.owner
        )
        model.source, model.group = source, group
        if not changed:
            return
        if explicit is not None:
            model.owner = explicit
            return
        facts = {"source": source, "group": group, "created_by": model.created_by, "edited_by": by}
        new = self._owner_by_rules("edited", facts, model.owner)
        if new is not None:
            model.owner = new

    # --- what must hold ------------------------------------------------------------

    @invariant()
    def owners_are_the_models(self) -> None:
        for cid, model in self.owners.items():
            assert model.owner == self.ledger.get_customer(cid).assigned_staff, cid

    @invariant()
    def members_active_throughout_differ_by_at_most_one(self) -> None:
        for department, handed in self.handed.items():
            steady = [
                handed.get(s, 0)
                for s, m in self.members.items()
                if m.department == department and s not in self.unsteady[department]
            ]
            if handed and steady:
                assert max(steady) - min(steady) <= 1, (department, handed)

    @invariant()
    def rules_are_the_models_in_order(self) -> None:
        expected = sorted(self.rule_book.values(), key=lambda r: (r.priority, r.rule_id))
        assert expected == self.ledger.assignment_rules()


STEPS = settings(stateful_step_count=25)


class OnMemory(AssignmentMachine):
    kind = "memory"


class OnSQLite(AssignmentMachine):
    kind = "sqlite"


class OnPostgres(AssignmentMachine):
    kind = "postgres"


TestAssignmentOnMemory = OnMemory.TestCase
TestAssignmentOnMemory.settings = STEPS
TestAssignmentOnSQLite = OnSQLite.TestCase
TestAssignmentOnSQLite.settings = STEPS
TestAssignmentOnPostgres = pytest.mark.postgres(OnPostgres.TestCase)
TestAssignmentOnPostgres.settings = STEPS
