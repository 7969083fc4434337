"""`import` and `export`: customers and purchases in and out of sheets."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import attrs
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from referral_ledger.cli.base import (
    PROG,
    PROGRESS_FROM,
    CommandError,
    Record,
    UsageError,
    all_leads,
    find_customer,
    open_ledger,
)
from referral_ledger.cli.exchange import (
    CUSTOMER_COLUMNS,
    CUSTOMER_FIELDS,
    PURCHASE_COLUMNS,
    PURCHASE_FIELDS,
    customer_records,
    purchase_records,
)
from referral_ledger.cli.render import make_console, records, write_table
from referral_ledger.cli.sales import sale_records
from referral_ledger.cli.sheets import ledger_row, parse_map, sheet_rows
from referral_ledger.cli.voucher_sheet import run_voucher_import
from referral_ledger.commands.campaigns import MAX_LEADERBOARD, LeaderboardRow
from referral_ledger.ledger import Ledger
from referral_ledger.policies.campaigns import Campaign
from referral_ledger.projections.leads import HistoryRow, LeadRow
from referral_ledger.projections.statement import StatementRow


def run_import(args: argparse.Namespace) -> int:
    if args.kind == "vouchers":
        return run_voucher_import(args)
    if args.update:
        raise UsageError(f"--update is for vouchers only, not {args.kind}")
    fields = CUSTOMER_FIELDS if args.kind == "customers" else PURCHASE_FIELDS
    mapping = parse_map(args.map, fields)
    if not args.file.exists():
        raise CommandError(f"no such file: {args.file}")
    if args.file.is_dir():
        raise CommandError(f"{args.file} is a directory, not a .csv or .xlsx file")
    cells = sheet_rows(args.file, args.kind, mapping)
    with open_ledger(args.db, create=True) as ledger:
        zone = ledger.business_timezone
        rows = [(number, ledger_row(row, zone)) for number, row in cells]
        counts: dict[str, int] = {}
        rejected: list[tuple[int, str]] = []
        console = make_console(stderr=True)
        show = console.is_terminal and len(rows) >= PROGRESS_FROM
        with Progress(
            TextColumn(f"importing {args.kind}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            disable=not show,
            transient=True,
        ) as progress:
            task = progress.add_task("import", total=len(rows))
            for start in range(0, len(rows), args.batch_size):
                batch = rows[start : start + args.batch_size]
                found = _import_batch(ledger, args, [row for _, row in batch])
                for name, count in found[0].items():
                    counts[name] = counts.get(name, 0) + count
                rejected += [(batch[index - 1][0], reason) for index, reason in found[1]]
                progress.advance(task, len(batch))
    print(f"{args.file}: {len(rows)} rows; " + ", ".join(f"{n} {k}" for k, n in counts.items()))
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


def _import_batch(
    ledger: Ledger, args: argparse.Namespace, rows: list[Record]
) -> tuple[dict[str, int], list[tuple[int, str]]]:
    if args.kind == "customers":
        report = ledger.import_customers(
            rows, on_duplicate_phone=args.on_duplicate_phone, batch_size=len(rows)
        )
        counts = {
            "created": report.created,
            "updated": report.updated,
            "unchanged": report.unchanged,
            "skipped": report.skipped,
            "rejected": len(report.rejected),
        }
        return counts, report.rejected
    purchases = ledger.import_purchases(rows, batch_size=len(rows))
    counts = {
        "recorded": purchases.recorded,
        "points earned": purchases.points,
        "already recorded": purchases.duplicates,
        "rejected": len(purchases.rejected),
    }
    return counts, purchases.rejected


def run_export(args: argparse.Namespace) -> int:
    target: Path = args.to
    if target.suffix.lower() not in (".csv", ".xlsx"):
        raise UsageError(f"--to {target}: the file must end in .xlsx or .csv")
    needs_who = args.kind in ("history", "statement", "leaderboard", "commissions")
    if needs_who and not args.who:
        whose = "campaign" if args.kind == "leaderboard" else "customer"
        raise UsageError(f"export {args.kind} needs the {whose}: export {args.kind} ID --to FILE")
    if not needs_who and args.who:
        raise UsageError(f"export {args.kind} takes no ID, got {args.who!r}")
    with open_ledger(args.db) as ledger:
        zone = ledger.business_timezone
        rows: list[Record]
        if args.kind == "leads":
            leads = all_leads(ledger)
            rows, fields = records(leads, zone), [f.name for f in attrs.fields(LeadRow)]
        elif args.kind == "history":
            history = ledger.referral_history(find_customer(ledger, args.who))
            rows, fields = records(history, zone), [f.name for f in attrs.fields(HistoryRow)]
        elif args.kind == "statement":
            statement = ledger.statement(find_customer(ledger, args.who))
            rows, fields = records(statement, zone), [f.name for f in attrs.fields(StatementRow)]
        elif args.kind == "customers":
            rows, fields = customer_records(ledger), list(CUSTOMER_COLUMNS)
        elif args.kind == "campaigns":
            rows, fields = (
                records(ledger.campaigns(), zone),
                [f.name for f in attrs.fields(Campaign)],
            )
        elif args.kind in ("vouchers", "commissions"):
            rows, fields = sale_records(ledger, args.kind, args.who)
        elif args.kind == "leaderboard":
            board = ledger.campaign_leaderboard(args.who, limit=MAX_LEADERBOARD)
            rows, fields = records(board, zone), [f.name for f in attrs.fields(LeaderboardRow)]
        else:
            rows, fields = purchase_records(ledger), list(PURCHASE_COLUMNS)
    write_table(target, rows, fields)
    print(f"{len(rows)} {args.kind} rows written to {target}")
    return 0
