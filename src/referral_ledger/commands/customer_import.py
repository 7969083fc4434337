"""Bulk customer import: rows to validated create-or-edits, batches to units of work.

Every row that is not created is named in the report with what it matched and
why, and rows of one import that fight over a customer (a POS id, or under
`on_duplicate_phone="update"` a phone) are refused as conflicts, the first row
kept: otherwise each re-import would flip the customer between them.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Literal, TypeAlias
from uuid import UUID

import attrs

from referral_ledger.errors import ConcurrencyConflict, InvalidInput, LedgerError
from referral_ledger.policies.customer_fields import CustomerFields
from referral_ledger.policies.import_conflicts import ConflictFinder

#: What a registration or an edit did to the ledger.
Outcome: TypeAlias = Literal["created", "updated", "unchanged", "skipped"]
#: What became of an import row that was not created.
RowOutcomeName: TypeAlias = Literal["updated", "unchanged", "skipped", "conflict", "rejected"]


@attrs.frozen
class RowOutcome:
    """An import row that was not created: what it matched, and why it went as it did."""

    #: The row's number, counting from 1.
    number: int
    outcome: RowOutcomeName
    #: The customer the row landed on (None: rejected, or a conflict).
    customer_id: UUID | None = None
    #: What identified that customer: "external_id" (the POS id) or "phone".
    matched_by: Literal["external_id", "phone"] | None = None
    #: The POS id or the phone (E.164) that matched.
    matched: str | None = None
    #: Why, in words a clerk can act on.
    reason: str = ""
    #: For a conflict: the earlier row it fights with.
    other_row: int | None = None


@attrs.frozen
class Upsert:
    """A validated create-or-edit: the details, and which of them an edit sets."""

    details: CustomerFields
    fields: tuple[str, ...]
    #: When it happened, in business time (None: when it is recorded).
    at: datetime | None = None


@attrs.frozen
class ImportReport:
    """What a bulk import did; `rejected` holds (row number from 1, reason) pairs.

    `rows` names every row that was not created, in row order: updated,
    unchanged, skipped, conflicting and rejected rows alike (`RowOutcome`);
    `conflicts` counts rows refused for fighting over a phone under "update".
    """

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    rejected: list[tuple[int, str]] = attrs.Factory(list)
    conflicts: int = 0
    #: Not compared: two reports are equal when their counts and rejections are.
    rows: list[RowOutcome] = attrs.field(factory=list, eq=False)

    @property
    def total(self) -> int:
        """Every row seen."""
        counted = self.created + self.updated + self.unchanged + self.skipped + self.conflicts
        return counted + len(self.rejected)

    def of(self, outcome: RowOutcomeName) -> list[RowOutcome]:
        """The rows that went `outcome`."""
        return [row for row in self.rows if row.outcome == outcome]


@attrs.frozen
class RowResult:
    """What applying one row did: the outcome (None: refused), the customer, what
    matched it and why (empty for a created row)."""

    outcome: Outcome | None
    customer_id: UUID | None = None
    matched_by: Literal["external_id", "phone"] | None = None
    matched: str | None = None
    reason: str = ""


#: Applies a batch of numbered rows in one unit of work: (number, result) for each.
ApplyBatch: TypeAlias = Callable[[list[tuple[int, Upsert]]], list[tuple[int, RowResult]]]


def check_batch_size(batch_size: object) -> int:
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise InvalidInput(f"batch_size must be a positive int, not {batch_size!r}")
    return batch_size


def import_in_batches(
    rows: Iterable[Mapping[str, object]],
    batch_size: int,
    parse: Callable[[object], Upsert],
    apply: ApplyBatch,
    *,
    conflicts_by_phone: bool = False,
) -> ImportReport:
    """Parse each row and apply them `batch_size` at a time; never stops on a bad row.

    A row that fights over a customer with an earlier row of this import (see
    `policies/import_conflicts.py`; sharing a phone counts with
    `conflicts_by_phone`, policy "update") is refused."""
    if isinstance(rows, Mapping | str | bytes) or not isinstance(rows, Iterable):
        raise InvalidInput(f"rows must be an iterable of mappings, not {rows!r}")
    counts: dict[str, int] = dict.fromkeys(("created", "updated", "unchanged", "skipped"), 0)
    rejected: list[tuple[int, str]] = []
    noted: list[RowOutcome] = []
    # Held for the whole import, so conflicts are found across batches: a few
    # dozen bytes for each phone and POS id.
    finder = ConflictFinder(by_phone=conflicts_by_phone)
    numbered = enumerate(rows, start=1)
    while batch := list(itertools.islice(numbered, batch_size)):
        parsed: list[tuple[int, Upsert]] = []
        for number, row in batch:
            try:
                upsert = parse(row)
            except LedgerError as error:
                rejected.append((number, str(error)))
                continue
            conflict = _conflict(number, upsert, finder)
            if conflict is not None:
                noted.append(conflict)
            else:
                parsed.append((number, upsert))
        try:
            outcomes = apply(parsed)
        except ConcurrencyConflict as error:
            rejected += [(number, str(error)) for number, _ in parsed]
            continue
        for number, result in outcomes:
            if result.outcome is None:
                rejected.append((number, result.reason))
                continue
            counts[result.outcome] += 1
            if result.outcome != "created":
                noted.append(_noted(number, result.outcome, result))
    rejected.sort()
    noted += [RowOutcome(number, "rejected", reason=reason) for number, reason in rejected]
    noted.sort(key=lambda row: row.number)
    conflicts = sum(1 for row in noted if row.outcome == "conflict")
    return ImportReport(rejected=rejected, conflicts=conflicts, rows=noted, **counts)


def _noted(number: int, outcome: RowOutcomeName, result: RowResult) -> RowOutcome:
    return RowOutcome(
        number, outcome, result.customer_id, result.matched_by, result.matched, result.reason
    )


def _conflict(number: int, upsert: Upsert, finder: ConflictFinder) -> RowOutcome | None:
    """Row `number` refused as a conflict if it fights with an earlier row."""
    found = finder.find(number, upsert.details, upsert.fields)
    if found is None:
        return None
    phone = found.shared_kind == "phone"
    shared = f"phone {found.shared}" if phone else f"POS id {found.shared!r}"
    return RowOutcome(
        number,
        "conflict",
        matched_by="phone" if phone else "external_id",
        matched=found.shared,
        other_row=found.other_row,
        reason=(
            f"an earlier row with {shared} gives {found.field} {found.theirs!r}, this "
            f"row {found.mine!r}: both land on one customer and every re-import would flip "
            "it; the earlier row was kept, this one recorded nothing"
        ),
    )
