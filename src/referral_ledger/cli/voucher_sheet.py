"""`import vouchers FILE`: a sheet of vouchers (Pancake's "Tạo vouchers" fields) into the ledger.

The file is read here; its headers and cells are read by the library
(`policies.voucher_rows`, through `import_vouchers(rows, mapping=...)`), as a
host's upload handler would have them read: English field names or a
Vietnamese shop's labels, cells as typed. Each row is recorded whole or not
at all, and re-running the file records nothing.
"""

from __future__ import annotations

import argparse
import sys

from referral_ledger.cli.base import PROG, CommandError, Record, UsageError, open_ledger
from referral_ledger.cli.sheets import parse_map, read_sheet
from referral_ledger.errors import InvalidInput
from referral_ledger.policies.voucher_rows import (
    READ_ONLY,
    VOUCHER_FIELDS,
    voucher_header_fields,
)


def run_voucher_import(args: argparse.Namespace) -> int:
    """`import vouchers FILE`: each row a voucher, created whole or rejected with its reason."""
    mapping = parse_map(args.map, VOUCHER_FIELDS | READ_ONLY)
    if args.on_duplicate_phone != "reject":
        raise UsageError("--on-duplicate-phone is for customers only")
    if args.workers != 1:
        raise UsageError("--workers is for purchases only, not vouchers")
    if args.report is not None:
        raise UsageError("--report is for customers and purchases; vouchers list their rows")
    if not args.file.exists():
        raise CommandError(f"no such file: {args.file}")
    if args.file.is_dir():
        raise CommandError(f"{args.file} is a directory, not a .csv or .xlsx file")
    # Read whole, headers checked, before the ledger is opened: a bad file records nothing.
    rows = read_sheet(args.file)
    first = next(rows, None)
    if first is None:
        raise CommandError(f"{args.file} is empty: it needs a header row naming the columns")
    headers = [str(h if h is not None else "").strip() for h in first[1]]
    try:
        voucher_header_fields(headers, mapping)
    except InvalidInput as error:
        raise CommandError(
            f"{args.file}: {error}; map them with --map 'COLUMN=FIELD' (fields: "
            f"{', '.join(sorted(VOUCHER_FIELDS))}) or --map 'COLUMN=-'"
        ) from None
    cells: list[tuple[int, Record]] = [
        (number, dict(zip(headers, values, strict=False)))
        for number, values in rows
        if any(v is not None and str(v).strip() for v in values)
    ]
    with open_ledger(args.db, create=True) as ledger:
        report = ledger.import_vouchers(
            [row for _, row in cells], update=args.update, mapping=mapping
        )
    rejected = [(cells[index - 1][0], reason) for index, reason in report.rejected]
    counts = {
        "created": report.created,
        "updated": report.updated,
        "unchanged": report.unchanged,
        "rejected": len(rejected),
    }
    print(f"{args.file}: {len(cells)} rows; " + ", ".join(f"{n} {k}" for k, n in counts.items()))
    for number, reason in rejected:
        print(f"  row {number} rejected: {reason}")
    if rejected:
        print(
            f"{PROG}: warning: {len(rejected)} row(s) rejected (listed above); "
            "the other rows were imported",
            file=sys.stderr,
        )
        return 1 if args.strict else 0
    return 0
