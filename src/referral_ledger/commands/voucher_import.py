"""Voucher imports: many vouchers from rows (a spreadsheet), each row recorded whole or not.

A voucher is one record whose creation (or update) is one event, decided
whole before it is recorded: rows go 500 to a unit of work (one
transaction), and a refused row records nothing while the others go on. Re-running
the same rows records nothing: a code whose voucher has the same settings
(as created, or as they stand now) is `unchanged`. A code with other settings
is refused, naming the fields that differ, unless the import is told to
update it (`update=True`: `update_voucher`, uses made before stand).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from datetime import datetime
from functools import partial
from typing import Final, Literal

import attrs

from referral_ledger.aggregates import voucher as vouchers
from referral_ledger.aggregates.voucher import evolve_voucher, voucher_id
from referral_ledger.commands.base import LedgerBase
from referral_ledger.errors import ConcurrencyConflict, InvalidInput, LedgerError
from referral_ledger.policies.voucher_rows import (
    VOUCHER_FIELDS,
    check_voucher_mapping,
    voucher_sheet_row,
)
from referral_ledger.policies.vouchers import Voucher
from referral_ledger.store import UnitOfWork

Outcome = Literal["created", "updated", "unchanged"]
#: Rows decided in one unit of work (one transaction).
_BATCH: Final = 500


@attrs.define
class VoucherImportReport:
    """What a voucher import did; `rejected` holds (row number from 1, reason) pairs."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: list[tuple[int, str]] = attrs.Factory(list)

    @property
    def total(self) -> int:
        """Every row seen."""
        return self.created + self.updated + self.unchanged + len(self.rejected)


def differing(a: Voucher, b: Voucher) -> list[str]:
    """The fields whose values differ between two definitions of a voucher."""
    return [f.name for f in attrs.fields(Voucher) if getattr(a, f.name) != getattr(b, f.name)]


class VoucherImportCommands(LedgerBase):
    """`import_vouchers`: vouchers from rows, as `create_voucher` makes them."""

    def import_vouchers(
        self,
        rows: Iterable[Mapping[str, object]],
        update: bool = False,
        at: datetime | None = None,
        mapping: Mapping[str, str] | None = None,
    ) -> VoucherImportReport:
        """Create the voucher each row defines; never stops on a bad row.

        A row maps `Voucher` field names to values (`code` and one of
        `discount` and `percent` at least; a missing field takes its default).
        A row that is not a valid voucher is rejected with the reason, recording
        nothing. A code that exists with the same settings is `unchanged`;
        with other settings the row is rejected, or, with `update=True`, the
        voucher is updated to them from now on.

        With `mapping` ({column: field}, `{}` for none), rows are read as a
        sheet gives them, {header: cell}: Vietnamese headers and cells as
        typed (`policies.voucher_rows`), as `referral-ledger import vouchers`
        reads a file.
        """
        if isinstance(rows, Mapping | str | bytes) or not isinstance(rows, Iterable):
            raise InvalidInput(f"rows must be an iterable of mappings, not {rows!r}")
        if not isinstance(update, bool):
            raise InvalidInput(f"update must be True or False, not {update!r}")
        sheet = None if mapping is None else check_voucher_mapping(mapping)
        when = self._business_time(at)
        report = VoucherImportReport()
        numbered = enumerate(rows, start=1)
        while batch := list(itertools.islice(numbered, _BATCH)):
            parsed: list[tuple[int, Voucher]] = []
            for number, row in batch:
                try:
                    if sheet is not None:
                        if not isinstance(row, Mapping):
                            raise InvalidInput(
                                f"a row must be a mapping of column names to values, not {row!r}"
                            )
                        row = voucher_sheet_row(row, sheet, self.business_timezone)
                    parsed.append((number, _voucher(row)))
                except LedgerError as error:
                    report.rejected.append((number, str(error)))
            decide = partial(self._import_batch, parsed=parsed, update=update, at=when)
            try:
                outcomes = self._store.run(decide)
            except ConcurrencyConflict as error:  # retried until max_attempts: give up the batch
                report.rejected += [(number, str(error)) for number, _ in parsed]
                continue
            for number, outcome, reason in outcomes:
                if outcome is None:
                    report.rejected.append((number, reason))
                else:
                    setattr(report, outcome, getattr(report, outcome) + 1)
        report.rejected.sort()
        return report

    def _import_batch(
        self, unit: UnitOfWork, parsed: list[tuple[int, Voucher]], update: bool, at: datetime
    ) -> list[tuple[int, Outcome | None, str]]:
        """Decide each row in `unit`; a refused row records nothing (its one event or none)."""
        unit.prefetch((voucher_id(v.code, self._ids), evolve_voucher) for _, v in parsed)
        outcomes: list[tuple[int, Outcome | None, str]] = []
        for number, voucher in parsed:
            try:
                outcome = self._import_one(unit, voucher, update, at)
            except LedgerError as error:
                outcomes.append((number, None, str(error)))
            else:
                outcomes.append((number, outcome, ""))
        return outcomes

    def _import_one(
        self, unit: UnitOfWork, voucher: Voucher, update: bool, at: datetime
    ) -> Outcome:
        record_id = voucher_id(voucher.code, self._ids)
        record = unit.load(record_id, evolve_voucher)
        if record is None:
            unit.new(record_id, evolve_voucher)
            unit.record(vouchers.create(None, voucher, record_id, unit.now, at))
            return "created"
        if voucher in (record.voucher, record.created):
            return "unchanged"
        if not update:
            fields = ", ".join(differing(record.voucher, voucher))
            raise InvalidInput(
                f"voucher {voucher.code!r} exists with other settings ({fields}); "
                "import with update to change it"
            )
        unit.record(vouchers.update(record, voucher, unit.now, at))
        return "updated"


def _voucher(row: object) -> Voucher:
    if not isinstance(row, Mapping):
        raise InvalidInput(f"a row must be a mapping of field names to values, not {row!r}")
    unknown = sorted(str(k) for k in row if k not in VOUCHER_FIELDS)
    if unknown:
        raise InvalidInput(f"vouchers have no field {', '.join(map(repr, unknown))}")
    return Voucher(**{str(k): v for k, v in row.items()})


__all__ = ["VOUCHER_FIELDS", "VoucherImportCommands", "VoucherImportReport"]
