"""`import`'s run and report: the sheet's cells handed to the library's import with
`mapping={}` (the library reads every cell, as for a host's upload handler), and
every row that was not created named on the screen and in `--report FILE`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Final

import attrs

from referral_ledger.cli.base import PROG, Record, UsageError
from referral_ledger.cli.render import write_table
from referral_ledger.ledger import Ledger

#: The columns of `--report FILE`: the row as numbered in the sheet (header = 1).
REPORT_COLUMNS: Final = (
    "row", "outcome", "customer_id", "matched_by", "matched", "other_row", "reason",
)  # fmt: skip


@attrs.frozen
class Imported:
    """What an import did, numbered as in the sheet."""

    #: Each outcome and its count, in the order they are shown.
    counts: dict[str, int]
    #: Every row not created (customers) or not recorded (purchases), as `REPORT_COLUMNS`.
    rows: list[Record]

    def count(self, outcome: str) -> int:
        return sum(1 for row in self.rows if row["outcome"] == outcome)


def check_report_path(path: Path | None) -> None:
    """Refuse a `--report` file that cannot be written, before anything is imported."""
    if path is not None and path.suffix.lower() not in (".csv", ".xlsx"):
        raise UsageError(f"--report {path}: the file must end in .csv or .xlsx")


def import_rows(
    ledger: Ledger,
    args: argparse.Namespace,
    rows: list[tuple[int, Record]],
    advance: Callable[[int], object],
) -> Imported:
    """Import the sheet's rows ({field: cell}) through the library, as a host would
    with `mapping={}`: the library reads the cells."""
    numbers = [number for number, _ in rows]

    def feed() -> Iterator[Record]:
        for _, row in rows:
            yield row
            advance(1)

    if args.kind == "customers":
        report = ledger.import_customers(
            feed(),
            on_duplicate_phone=args.on_duplicate_phone,
            batch_size=args.batch_size,
            mapping={},
        )
        counts = {
            "created": report.created,
            "updated": report.updated,
            "unchanged": report.unchanged,
            "skipped": report.skipped,
        }
        if args.on_duplicate_phone == "update":
            counts["conflicts"] = report.conflicts
        counts["rejected"] = len(report.rejected)
        noted: list[Record] = [
            {
                "row": numbers[row.number - 1],
                "outcome": row.outcome,
                "customer_id": None if row.customer_id is None else str(row.customer_id),
                "matched_by": row.matched_by,
                "matched": row.matched,
                "other_row": None if row.other_row is None else numbers[row.other_row - 1],
                "reason": row.reason,
            }
            for row in report.rows
        ]
        return Imported(counts, noted)
    purchases = ledger.import_purchases(
        feed(), batch_size=args.batch_size, mapping={}, workers=args.workers
    )
    counts = {
        "recorded": purchases.recorded,
        "points earned": purchases.points,
        "already recorded": purchases.duplicates,
        "rejected": len(purchases.rejected),
    }
    noted = [
        {"row": numbers[number - 1], "outcome": "rejected", "reason": reason}
        for number, reason in purchases.rejected
    ]
    return Imported(counts, noted)


def print_report(args: argparse.Namespace, total: int, done: Imported) -> int:
    """Print the counts and the rows, write `--report`; the exit code."""
    counts = ", ".join(f"{n} {k}" for k, n in done.counts.items())
    print(f"{args.file}: {total} rows; {counts}")
    for row in done.rows:
        if row["outcome"] == "unchanged":
            continue  # nothing happened to them: --report lists them
        other = f" (with row {row['other_row']})" if row.get("other_row") else ""
        print(f"  row {row['row']} {row['outcome']}{other}: {row['reason']}")
    unchanged = done.count("unchanged")
    if unchanged and args.report is None:
        print(f"  {unchanged} unchanged row(s) not listed: --report FILE.csv lists every row")
    if args.report is not None:
        write_table(args.report, done.rows, REPORT_COLUMNS)
        print(f"{len(done.rows)} report rows written to {args.report}")
    rejected, conflicts, skipped = (done.count(o) for o in ("rejected", "conflict", "skipped"))
    if rejected:
        print(
            f"{PROG}: warning: {rejected} row(s) rejected (listed above); "
            "the other rows were imported",
            file=sys.stderr,
        )
    if conflicts:
        print(
            f"{PROG}: warning: {conflicts} row(s) conflict with an earlier row over a phone "
            "(listed above) and recorded nothing",
            file=sys.stderr,
        )
    if skipped:
        print(
            f"{PROG}: warning: {skipped} row(s) skipped (listed above): a customer already "
            "had their phone, and their details were not recorded",
            file=sys.stderr,
        )
    return 1 if args.strict and (rejected or conflicts) else 0
