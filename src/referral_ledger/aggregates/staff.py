"""The staff: one record listing every staff member, their department and
whether they are active.

Departments are the members' `department` values. A member's place in its
department is the directory's version when it joined that department, so
"the order members joined" is in the log and the same in every process.
Staff ids are upstream ids (the host's): adding the same member again
records nothing; the same id with other settings is refused.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final
from uuid import UUID

import attrs

from referral_ledger.aggregates.base import Event, next_event
from referral_ledger.errors import InvalidInput, NotFound
from referral_ledger.policies.assignment import Member
from referral_ledger.values import derived_id

STAFF_DIRECTORY: Final = derived_id("crm", "staff")


@attrs.frozen
class StaffMember:
    """A staff member: the host's id, name, department (None: none) and whether active."""

    staff_id: str
    name: str
    department: str | None = None
    active: bool = True
    #: Its place in its department: the directory's version when it joined it.
    joined: int = 0


@attrs.frozen
class StaffDirectory:
    id: UUID
    version: int
    #: Every member, in the order they were added.
    members: tuple[StaffMember, ...] = ()

    def member(self, staff_id: str) -> StaffMember | None:
        return next((m for m in self.members if m.staff_id == staff_id), None)

    def department(self, name: str) -> list[StaffMember]:
        """The members of department `name`, in the order they joined it."""
        return sorted((m for m in self.members if m.department == name), key=lambda m: m.joined)

    def departments(self) -> list[str]:
        """Every department with a member, in the order their first current member joined."""
        joined = sorted((m.joined, m.department) for m in self.members if m.department)
        return list(dict.fromkeys(name for _, name in joined if name is not None))

    def turn_order(self, department: str) -> list[Member]:
        """The department as round robin sees it."""
        return [Member(m.joined, m.staff_id, m.active) for m in self.department(department)]


@attrs.frozen(kw_only=True)
class StaffAdded(Event):
    staff_id: str
    name: str
    department: str | None
    active: bool
    at: datetime


@attrs.frozen(kw_only=True)
class StaffUpdated(Event):
    """The member's settings after the change (all of them)."""

    staff_id: str
    name: str
    department: str | None
    active: bool
    at: datetime


def add(
    directory: StaffDirectory | None, member: StaffMember, now: datetime, at: datetime
) -> list[Event]:
    """Add `member` (nothing if it is there with the same settings)."""
    known = directory.member(member.staff_id) if directory else None
    if known is not None:
        if attrs.evolve(known, joined=0) == member:
            return []
        raise InvalidInput(
            f"staff {member.staff_id!r} exists with other settings: {known.name!r}, "
            f"department {known.department!r}, active {known.active} (use update_staff)"
        )
    origin = next_event(directory, now, record_id=STAFF_DIRECTORY)
    return [
        StaffAdded(
            **origin,
            staff_id=member.staff_id,
            name=member.name,
            department=member.department,
            active=member.active,
            at=at,
        )
    ]


def update(
    directory: StaffDirectory | None,
    staff_id: str,
    changes: dict[str, object],
    now: datetime,
    at: datetime,
) -> list[Event]:
    """Change a member's name, department or active flag (nothing if none changes)."""
    known = directory.member(staff_id) if directory else None
    if directory is None or known is None:
        raise NotFound(f"no staff member with id {staff_id!r}")
    changed = attrs.evolve(known, **changes)  # type: ignore[arg-type]
    if changed == known:
        return []
    return [
        StaffUpdated(
            **next_event(directory, now),
            staff_id=staff_id,
            name=changed.name,
            department=changed.department,
            active=changed.active,
            at=at,
        )
    ]


def evolve_staff(directory: StaffDirectory | None, event: Event) -> StaffDirectory:
    """Apply one event to the staff directory."""
    state = directory or StaffDirectory(event.originator_id, 0)
    version = event.originator_version
    match event:
        case StaffAdded():
            member = StaffMember(
                event.staff_id, event.name, event.department, event.active, version
            )
            return attrs.evolve(state, version=version, members=(*state.members, member))
        case StaffUpdated():
            members = []
            for m in state.members:
                if m.staff_id == event.staff_id:
                    # Moving to another department puts the member last in it.
                    joined = m.joined if m.department == event.department else version
                    m = StaffMember(m.staff_id, event.name, event.department, event.active, joined)
                members.append(m)
            return attrs.evolve(state, version=version, members=tuple(members))
    raise TypeError(f"not a staff event: {event!r}")
