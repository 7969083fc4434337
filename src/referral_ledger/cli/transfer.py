"""`import` and `export`: customers and purchases in and out of sheets."""

from __future__ import annotations

import argparse
from pathlib import Path

import attrs
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from referral_ledger.cli.base import (
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
    PURCHASE_COLUMNS,
    customer_records,
    purchase_records,
    with_headers,
)
from referral_ledger.cli.import_report import check_report_path, import_rows, print_report
from referral_ledger.cli.render import make_console, records, write_table
from referral_ledger.cli.sales import sale_records
from referral_ledger.cli.sheets import parse_map, sheet_rows
from referral_ledger.cli.voucher_sheet import run_voucher_import
from referral_ledger.commands.campaigns import MAX_LEADERBOARD, LeaderboardRow
from referral_ledger.policies.campaigns import Campaign
from referral_ledger.policies.sheet_rows import SHEET_FIELDS, SheetKind
from referral_ledger.projections.leads import HistoryRow, LeadRow
from referral_ledger.projections.statement import StatementRow


def run_import(args: argparse.Namespace) -> int:
    if args.kind == "vouchers":
        return run_voucher_import(args)
    if args.update:
        raise UsageError(f"--update is for vouchers only, not {args.kind}")
    if args.workers != 1 and args.kind != "purchases":
        raise UsageError(f"--workers is for purchases only, not {args.kind}")
    kind: SheetKind = "purchases" if args.kind == "purchases" else "customers"
    mapping = parse_map(args.map, SHEET_FIELDS[kind])
    check_report_path(args.report)
    if not args.file.exists():
        raise CommandError(f"no such file: {args.file}")
    if args.file.is_dir():
        raise CommandError(f"{args.file} is a directory, not a .csv or .xlsx file")
    cells = sheet_rows(args.file, args.kind, mapping)
    with open_ledger(args.db, create=True) as ledger:
        console = make_console(stderr=True)
        show = console.is_terminal and len(cells) >= PROGRESS_FROM
        with Progress(
            TextColumn(f"importing {args.kind}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            disable=not show,
            transient=True,
        ) as progress:
            task = progress.add_task("import", total=len(cells))
            done = import_rows(ledger, args, cells, lambda n: progress.advance(task, n))
    return print_report(args, len(cells), done)


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
    rows, fields = with_headers(args.kind, rows, fields, args.headers)
    write_table(target, rows, fields)
    print(f"{len(rows)} {args.kind} rows written to {target}")
    return 0
