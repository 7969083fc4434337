"""The query commands (`leads`, `customers`, `history`, `statement`, `conversion`)
and `demo`."""

from __future__ import annotations

import argparse
from uuid import UUID

import attrs

from referral_ledger import demo as scenario
from referral_ledger import demo_race
from referral_ledger.cli.base import (
    PROG,
    all_leads,
    find_customer,
    hide_password,
    ledger_url,
    open_ledger,
    sqlite_path,
)
from referral_ledger.cli.campaigns import LEADERBOARD_COLUMNS
from referral_ledger.cli.render import (
    CONVERSION_COLUMNS,
    customer_columns,
    emit,
    history_columns,
    lead_columns,
    make_console,
    records,
    statement_columns,
    table,
    write_table,
)
from referral_ledger.cli.sales import show_demo_sales
from referral_ledger.ledger import Ledger
from referral_ledger.projections.directory import CustomerRow
from referral_ledger.projections.leads import ConversionRow, HistoryRow, LeadRow
from referral_ledger.projections.statement import StatementRow


def _statement_title(ledger: Ledger, customer_id: UUID) -> str:
    customer = ledger.get_customer(customer_id)
    tier = f", tier {customer.level}" if customer.level else ""
    return (
        f"Points statement of {customer.name} ({customer.phone}): "
        f"balance {ledger.balance(customer_id)}{tier}"
    )


def _history_title(ledger: Ledger, referrer_id: UUID) -> str:
    return f"Referral history of {ledger.get_customer(referrer_id).name}"


def run_leads(args: argparse.Namespace) -> int:
    with open_ledger(args.db) as ledger:
        rows: list[LeadRow] = ledger.lead_table(
            status=args.status,
            program=args.program,
            search=args.search,
            sort_by=args.sort,
            descending=args.descending,
            limit=args.limit,
            offset=args.offset,
        )
        zone = ledger.business_timezone
        emit(args.format, rows, lead_columns(zone), "Leads", zone=zone)
    return 0


def run_customers(args: argparse.Namespace) -> int:
    with open_ledger(args.db) as ledger:
        filters = {
            "search": args.search,
            "tag": args.tag,
            "group": args.group,
            "staff": args.staff,
            "level": args.level,
            "source": args.source,
        }
        rows: list[CustomerRow] = ledger.customers(
            **filters,
            sort_by=args.sort,
            descending=args.descending,
            limit=args.limit,
            offset=args.offset,
        )
        total = ledger.count_customers(**filters)
        zone = ledger.business_timezone
        if args.to is not None:
            fields = [f.name for f in attrs.fields(CustomerRow)]
            write_table(args.to, records(rows, zone), fields)
            print(f"{len(rows)} of {total} customers written to {args.to}")
            return 0
        shown = f"{args.offset + 1}-{args.offset + len(rows)}" if rows else "none"
        title = f"Customers ({shown} of {total})"
        emit(args.format, rows, customer_columns(zone), title, zone=zone)
    return 0


def run_history(args: argparse.Namespace) -> int:
    with open_ledger(args.db) as ledger:
        referrer = find_customer(ledger, args.referrer)
        rows: list[HistoryRow] = ledger.referral_history(referrer)
        zone = ledger.business_timezone
        columns = history_columns(zone)
        emit(args.format, rows, columns, _history_title(ledger, referrer), zone=zone)
    return 0


def run_statement(args: argparse.Namespace) -> int:
    with open_ledger(args.db) as ledger:
        customer = find_customer(ledger, args.customer)
        rows: list[StatementRow] = ledger.statement(customer)
        zone = ledger.business_timezone
        columns = statement_columns(zone)
        emit(args.format, rows, columns, _statement_title(ledger, customer), zone=zone)
    return 0


def run_conversion(args: argparse.Namespace) -> int:
    with open_ledger(args.db) as ledger:
        rows: list[ConversionRow] = ledger.conversion_by_rep(
            since=args.since, until=args.until, department=args.department
        )
        where = f" in {args.department}" if args.department else ""
        emit(
            args.format,
            rows,
            CONVERSION_COLUMNS,
            f"Conversion by sales rep{where}",
            zone=ledger.business_timezone,
        )
    return 0


def run_demo(args: argparse.Namespace) -> int:
    # The story's clock: each step is recorded at its story date, so `replay --as-of`
    # shows the story as it stood then.
    clock = scenario.StoryClock()
    with open_ledger(args.db, create=True, clock=clock) as ledger:
        before = ledger.event_count()
        story = scenario.run(ledger, clock, scenes=[demo_race.scene] if args.race else [])
        after = ledger.event_count()
        where = sqlite_path(ledger_url(args.db)) or hide_password(args.db)
        print(f"Ledger: {where}")
        print(
            f"{after - before} new events recorded, {after} in the log "
            "(running the demo again records nothing)"
        )
        zone = ledger.business_timezone
        console = make_console()
        console.print(table("Leads", all_leads(ledger), lead_columns(zone)))
        history = ledger.referral_history(story.referrer_id)
        console.print(
            table(_history_title(ledger, story.referrer_id), history, history_columns(zone))
        )
        statement = ledger.statement(story.customer_id)
        console.print(
            table(_statement_title(ledger, story.customer_id), statement, statement_columns(zone))
        )
        show_demo_sales(console, ledger, story.customers)
        if args.race:
            race = demo_race.RACE
            board = ledger.campaign_leaderboard(race.campaign_id)
            console.print(table(f"Leaderboard of {race.name}", board, LEADERBOARD_COLUMNS))
        db = args.db
        print(
            f"Next: {PROG} leads --db {db} --status rewarded | {PROG} statement POS-C005 --db {db}"
            f" | {PROG} replay --as-of 2025-03-15 --db {db} | {PROG} audit --db {db}"
        )
    return 0
