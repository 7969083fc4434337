"""Purchase imports: many purchases, a batch to a transaction, never stopping on a bad row.

Each row is earned by `record_purchase`'s rules (`LoyaltyCommands._earn`, then
`sale_steps.after_purchase`: a referred customer's purchase earns the referrer's
commission), so an import and the till can never disagree; a batch prefetches every record its
rows read in a few queries, and a row that fails records nothing.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from functools import partial
from typing import Final
from uuid import UUID

import attrs

from referral_ledger.aggregates import customer_record as customers
from referral_ledger.aggregates.customer_record import POS_ID
from referral_ledger.aggregates.loyalty_decisions import Purchase
from referral_ledger.commands import sale_steps
from referral_ledger.commands.import_workers import check_workers, import_in_workers
from referral_ledger.commands.loyalty import LoyaltyCommands, _earn_reads
from referral_ledger.errors import ConcurrencyConflict, InvalidInput, LedgerError
from referral_ledger.policies.sheet_rows import PURCHASE_IMPORT_COLUMNS, check_mapping, sheet_row
from referral_ledger.store import UnitOfWork
from referral_ledger.values import parse_id, parse_reference, parse_time

_PURCHASE_COLUMNS: Final = frozenset(PURCHASE_IMPORT_COLUMNS)


@attrs.define
class PurchaseImportReport:
    """What a purchase import did; `rejected` holds (row number from 1, reason) pairs."""

    recorded: int = 0
    duplicates: int = 0
    #: Points earned by the rows recorded in this run.
    points: int = 0
    rejected: list[tuple[int, str]] = attrs.Factory(list)

    @property
    def total(self) -> int:
        """Every row seen."""
        return self.recorded + self.duplicates + len(self.rejected)


def customer_of(row: Mapping[object, object]) -> UUID | str:
    """Whom a row names: its `customer_id`, else its POS `external_id`."""
    if row.get("customer_id") not in (None, ""):
        return parse_id(row["customer_id"], "customer_id")
    if row.get("external_id") not in (None, ""):
        return parse_reference(row["external_id"], "external_id")
    raise InvalidInput("a row needs customer_id or external_id")


class PurchaseImportCommands(LoyaltyCommands):
    """`import_purchases`: the loyalty rules applied to rows from a POS export."""

    def import_purchases(
        self,
        rows: Iterable[Mapping[str, object]],
        batch_size: int = 1000,
        *,
        mapping: Mapping[str, str] | None = None,
        workers: int = 1,
    ) -> PurchaseImportReport:
        """Record many purchases, `batch_size` to a transaction; never stops on a bad row.

        Each row has `customer_id` (or the POS `external_id`), `invoice_id`,
        `amount`, and optionally `discounted_amount`, `points_used` and `at`
        (an aware datetime or ISO-8601 text with an offset). The rules are
        `record_purchase`'s: an invoice already recorded with the same figures
        counts as `duplicates` and records nothing, so re-running an import is
        safe; with other figures the row is rejected. Rows are streamed:
        memory grows with `batch_size` (one batch's rows and events are held
        at a time), never with the number of rows.

        With `mapping` ({column: field}, `{}` for none), rows are read as a
        spreadsheet gives them, as `referral-ledger import purchases` reads a
        file (see `import_customers`): an amount a sheet keeps as 1500000.0 is
        1500000, a time without an offset is in business time.

        With `workers` N > 1 the rows are shared out by customer among N
        worker processes that each open this ledger's store again (a SQLite
        file or PostgreSQL; not `memory://`), so each customer's purchases are
        earned in their order, by one process; the report is the same as one
        process gives. A referrer's commission or a campaign's budget can be
        written by two workers at once: the store detects it and the batch is
        decided again (halved until it commits), never rejected for it. Which
        of two customers takes the last of a campaign's budget or limit, or
        an invoice id both their rows give, may then differ from row order.
        If a worker dies, `StoreError` says so once the others finish: run
        the same import again, it records each purchase once. The workers
        are spawned, so they import the host's main module: a script calling
        this at its top level must guard it with `if __name__ == "__main__":`;
        the ledger's `clock` must pickle. Each worker takes about a second of
        CPU to start; docs/performance.md says what workers buy.
        """
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise InvalidInput(f"batch_size must be a positive int, not {batch_size!r}")
        if isinstance(rows, Mapping | str | bytes) or not isinstance(rows, Iterable):
            raise InvalidInput(f"rows must be an iterable of mappings, not {rows!r}")
        sheet = None if mapping is None else check_mapping(mapping, "purchases")
        report = PurchaseImportReport()
        if check_workers(workers, self._store) > 1:
            import_in_workers(self, rows, batch_size, sheet, workers, report)
            return report
        numbered = enumerate(rows, start=1)
        while batch := list(itertools.islice(numbered, batch_size)):
            self._import_batch(report, batch, sheet)
        report.rejected.sort()
        return report

    def _import_batch(
        self,
        report: PurchaseImportReport,
        batch: Sequence[tuple[int, object]],
        sheet: Mapping[str, str] | None,
    ) -> None:
        """Import one batch of (row number, row) into `report`, in one transaction."""
        parsed: list[tuple[int, UUID | str, Purchase]] = []
        for number, row in batch:
            try:
                if sheet is not None:
                    row = self._sheet_row(row, sheet)
                parsed.append((number, *self._purchase_row(row)))
            except LedgerError as error:
                report.rejected.append((number, str(error)))
        for number, points, recorded, reason in self._earn_parsed(parsed):
            if reason:
                report.rejected.append((number, reason))
            elif recorded:
                report.recorded += 1
                report.points += points
            else:
                report.duplicates += 1

    def _earn_parsed(
        self, parsed: list[tuple[int, UUID | str, Purchase]]
    ) -> list[tuple[int, int, bool, str]]:
        """Earn for `parsed` in one transaction; one that still conflicts with other
        writers after the store's retries is earned again in halves, so a batch
        sharing a referrer or a campaign with another process's never fails for it."""
        try:
            return self._store.run(partial(self._earn_batch, rows=parsed))
        except ConcurrencyConflict as error:
            if len(parsed) == 1:
                return [(parsed[0][0], 0, False, str(error))]
            half = len(parsed) // 2
            return self._earn_parsed(parsed[:half]) + self._earn_parsed(parsed[half:])

    def _sheet_row(self, row: object, mapping: Mapping[str, str]) -> dict[str, object]:
        if not isinstance(row, Mapping):
            raise InvalidInput(f"a row must be a mapping of column names to values, not {row!r}")
        return sheet_row(row, mapping, "purchases", self.business_timezone)

    def _purchase_row(self, row: object) -> tuple[UUID | str, Purchase]:
        if not isinstance(row, Mapping):
            raise InvalidInput(f"a row must be a mapping of column names to values, not {row!r}")
        unknown = sorted(str(k) for k in row if k not in _PURCHASE_COLUMNS)
        if unknown:
            raise InvalidInput(f"unknown column(s) {', '.join(map(repr, unknown))}")
        customer = customer_of(row)
        at = row.get("at")
        if isinstance(at, str):
            try:
                at = datetime.fromisoformat(at.strip()) if at.strip() else None
            except ValueError:
                raise InvalidInput(f"at is not an ISO-8601 time: {at!r}") from None
        at = None if at is None else parse_time(at, "at")
        purchase = self._purchase(
            row.get("invoice_id"),
            row.get("amount"),
            row.get("discounted_amount") or Decimal(0),
            row.get("points_used") or 0,
            at,
        )
        return customer, purchase

    def _earn_batch(
        self, unit: UnitOfWork, rows: list[tuple[int, UUID | str, Purchase]]
    ) -> list[tuple[int, int, bool, str]]:
        """Earn for each row in one unit; a row that fails records nothing."""
        # Every record the rows read, in a few queries rather than four per row.
        unit.prefetch(
            (self._claim_id(POS_ID, customer), customers.evolve_link)
            for _, customer, _ in rows
            if isinstance(customer, str)
        )
        known: list[tuple[UUID, Purchase]] = []
        for _, customer, purchase in rows:
            if isinstance(customer, str):
                link = self._load_claim(unit, POS_ID, customer)
                if link is None or link.owner is None:
                    continue
                customer = link.owner
            known.append((customer, purchase))
        unit.prefetch(itertools.chain.from_iterable(_earn_reads(c, p, self._ids) for c, p in known))
        outcomes: list[tuple[int, int, bool, str]] = []
        for number, customer, purchase in rows:
            try:
                customer_id = (
                    customer if isinstance(customer, UUID) else self._external(unit, customer)
                )
                earned = self._earn(unit, customer_id, purchase)
                # As `record_purchase`: the referrer's commission on the amount paid
                # (the same invoice again finds its line and records nothing).
                sale_steps.after_purchase(
                    unit,
                    customer_id=customer_id,
                    invoice_id=purchase.invoice_id,
                    amount=purchase.amount,
                    payable=purchase.amount,
                    at=purchase.at,
                )
            except LedgerError as error:
                outcomes.append((number, 0, False, str(error)))
            else:
                outcomes.append((number, earned.points, earned.recorded, ""))
        return outcomes
