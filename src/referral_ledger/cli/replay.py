"""`replay` (the views rebuilt, or the ledger as of a time) and `audit`."""

from __future__ import annotations

import argparse
import sys

from referral_ledger.audit import audit, state_as_of
from referral_ledger.cli.base import open_ledger
from referral_ledger.cli.render import (
    Column,
    field_names,
    make_console,
    progress_bar,
    records,
    table,
    write_csv,
    write_json,
)


def run_replay(args: argparse.Namespace) -> int:
    if args.as_of is None:
        with open_ledger(args.db) as ledger, progress_bar("replaying the log") as update:
            replayed = ledger.rebuild_projections(progress=update)
            position = ledger.event_count()
        print(f"Views rebuilt: {replayed} events replayed, up to log position {position}")
        return 0
    with open_ledger(args.db, react=False) as ledger:
        state = state_as_of(ledger, args.as_of)
        zone = ledger.business_timezone
    when = args.as_of.astimezone(zone).isoformat()
    if args.format == "json":
        value = {
            "as_of": when,
            "balances": records(state.balances, zone),
            "referrals": records(state.referrals, zone),
        }
        write_json(value)
    elif args.format == "csv":
        write_csv(sys.stdout, records(state.balances, zone), field_names(state.balances))
        print()
        write_csv(sys.stdout, records(state.referrals, zone), field_names(state.referrals))
    else:
        console = make_console()
        balance_columns: list[Column] = [
            ("Customer", lambda r: r.name, "left"),
            ("Phone", lambda r: r.phone, "left"),
            ("Balance", lambda r: r.balance, "right"),
            ("Lifetime", lambda r: r.lifetime_points, "right"),
            ("Tier", lambda r: r.tier, "left"),
        ]
        referral_columns: list[Column] = [
            ("Lead", lambda r: r.lead, "left"),
            ("Status", lambda r: r.status.value, "left"),
            ("Rep", lambda r: r.rep, "left"),
            ("Reward", lambda r: r.reward, "right"),
        ]
        console.print(f"As recorded by {when}:")
        console.print(table("Balances", state.balances, balance_columns))
        console.print(table("Referrals", state.referrals, referral_columns))
    return 0


def run_audit(args: argparse.Namespace) -> int:
    # react=False: opening for an audit records nothing of its own.
    with open_ledger(args.db, react=False) as ledger, progress_bar("auditing") as update:
        report = audit(ledger, progress=update)
    for problem in report.problems:
        print(problem)
    print(report.summary())
    return 0 if report.ok else 1
