"""Bulk customer import: rows to validated create-or-edits, batches to units of work."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Literal, TypeAlias

import attrs

from referral_ledger.errors import ConcurrencyConflict, InvalidInput, LedgerError
from referral_ledger.policies.customer_fields import CustomerFields

#: What a registration or an edit did to the ledger.
Outcome: TypeAlias = Literal["created", "updated", "unchanged", "skipped"]


@attrs.frozen
class Upsert:
    """A validated create-or-edit: the details, and which of them an edit sets."""

    details: CustomerFields
    fields: tuple[str, ...]
    #: When it happened, in business time (None: when it is recorded).
    at: datetime | None = None


@attrs.frozen
class ImportReport:
    """What a bulk import did; `rejected` holds (row number from 1, reason) pairs."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    rejected: list[tuple[int, str]] = attrs.Factory(list)

    @property
    def total(self) -> int:
        """Every row seen."""
        return self.created + self.updated + self.unchanged + self.skipped + len(self.rejected)


#: Applies a batch of numbered rows in one unit of work: (number, outcome or
#: None for a refused row, the reason) for each.
ApplyBatch: TypeAlias = Callable[[list[tuple[int, Upsert]]], list[tuple[int, Outcome | None, str]]]


def check_batch_size(batch_size: object) -> int:
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise InvalidInput(f"batch_size must be a positive int, not {batch_size!r}")
    return batch_size


def import_in_batches(
    rows: Iterable[Mapping[str, object]],
    batch_size: int,
    parse: Callable[[object], Upsert],
    apply: ApplyBatch,
) -> ImportReport:
    """Parse each row and apply them `batch_size` at a time; never stops on a bad row."""
    if isinstance(rows, Mapping | str | bytes) or not isinstance(rows, Iterable):
        raise InvalidInput(f"rows must be an iterable of mappings, not {rows!r}")
    counts: dict[str, int] = dict.fromkeys(("created", "updated", "unchanged", "skipped"), 0)
    rejected: list[tuple[int, str]] = []
    numbered = enumerate(rows, start=1)
    while batch := list(itertools.islice(numbered, batch_size)):
        parsed: list[tuple[int, Upsert]] = []
        for number, row in batch:
            try:
                parsed.append((number, parse(row)))
            except LedgerError as error:
                rejected.append((number, str(error)))
        try:
            outcomes = apply(parsed)
        except ConcurrencyConflict as error:
            rejected += [(number, str(error)) for number, _ in parsed]
            continue
        for number, outcome, reason in outcomes:
            if outcome is None:
                rejected.append((number, reason))
            else:
                counts[outcome] += 1
    rejected.sort()
    return ImportReport(rejected=rejected, **counts)
