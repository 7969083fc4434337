"""The command line: one sub-command per job, and the argument types."""

from __future__ import annotations

import argparse
import os
from datetime import datetime
from pathlib import Path
from typing import NoReturn

from referral_ledger.aggregates.referral import ReferralStatus
from referral_ledger.cli.base import (
    DEFAULT_DB,
    FORMATS,
    IGNORE,
    IMPORT_BATCH,
    PROG,
    UsageError,
    parse_cli_time,
)
from referral_ledger.cli.campaigns import run_campaigns, run_leaderboard
from referral_ledger.cli.queries import (
    run_conversion,
    run_customers,
    run_demo,
    run_history,
    run_leads,
    run_statement,
)
from referral_ledger.cli.replay import run_audit, run_replay
from referral_ledger.cli.sales import run_commissions, run_vouchers
from referral_ledger.cli.transfer import run_export, run_import
from referral_ledger.projections.directory_queries import SORTABLE as CUSTOMER_SORTABLE
from referral_ledger.projections.storage import SORTABLE


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see '{self.prog} --help')")


def build_parser() -> argparse.ArgumentParser:
    """The command line: one sub-command per job."""
    parser = _Parser(
        prog=PROG,
        description="Customer referrals and loyalty points kept as an immutable event log.",
        epilog=f"'{PROG} COMMAND --help' tells more about each command.",
    )
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)
    db = _Parser(add_help=False)
    db.add_argument(
        "--db",
        default=os.environ.get("REFERRAL_LEDGER_DB") or DEFAULT_DB,
        help="the ledger: a SQLite file path or a Ledger.open URL "
        "(default: $REFERRAL_LEDGER_DB or ./%(default)s)",
    )
    out = _Parser(add_help=False)
    out.add_argument("--format", choices=FORMATS, default="table", help="default: table")

    p = commands.add_parser(
        "demo", parents=[db], help="play the demo story (Vietnamese retail) and print its tables"
    )
    p.add_argument(
        "--race",
        action="store_true",
        help="April's points race too (a campaign and its leaderboard)",
    )
    p.set_defaults(run=run_demo)

    p = commands.add_parser("leads", parents=[db, out], help="the lead table")
    p.add_argument("--status", choices=[s.value for s in ReferralStatus])
    p.add_argument("--program", help="only this program (e.g. pos)")
    p.add_argument(
        "--search", help="name, email, business name, website or phone; accents optional"
    )
    p.add_argument("--sort", default="submitted_at", choices=sorted(SORTABLE), metavar="COLUMN")
    order = p.add_mutually_exclusive_group()
    order.add_argument("--desc", dest="descending", action="store_true", default=True)
    order.add_argument("--asc", dest="descending", action="store_false")
    p.add_argument("--limit", type=_positive, default=50, help="default: 50")
    p.add_argument("--offset", type=_count, default=0)
    p.set_defaults(run=run_leads)

    p = commands.add_parser("customers", parents=[db, out], help="the customer directory")
    p.add_argument("--search", help="name (accents optional), phone in any spelling, or email")
    p.add_argument("--tag", help="only customers with this tag")
    p.add_argument("--group", help="only this customer group")
    p.add_argument("--staff", help="only customers assigned to this staff member")
    p.add_argument("--level", help="only this loyalty level")
    p.add_argument("--source", help="only customers from this source")
    p.add_argument("--sort", default="name", choices=sorted(CUSTOMER_SORTABLE), metavar="COLUMN")
    order = p.add_mutually_exclusive_group()
    order.add_argument("--asc", dest="descending", action="store_false", default=False)
    order.add_argument("--desc", dest="descending", action="store_true")
    p.add_argument("--limit", type=_positive, default=50, help="default: 50")
    p.add_argument("--offset", type=_count, default=0)
    p.add_argument(
        "--to", type=Path, metavar="FILE", help="write the page to FILE.xlsx or FILE.csv"
    )
    p.set_defaults(run=run_customers)

    p = commands.add_parser("history", parents=[db, out], help="a referrer's rewarded referrals")
    p.add_argument("referrer", metavar="REFERRER", help="customer id, external (POS) id or phone")
    p.set_defaults(run=run_history)

    p = commands.add_parser("statement", parents=[db, out], help="a customer's points movements")
    p.add_argument("customer", metavar="CUSTOMER", help="customer id, external (POS) id or phone")
    p.set_defaults(run=run_statement)

    p = commands.add_parser("conversion", parents=[db, out], help="leads → customers per rep")
    p.add_argument("--since", type=_time_arg, help="submitted from (ISO date or time)")
    p.add_argument("--until", type=_time_arg, help="submitted before (exclusive)")
    p.add_argument("--department", help="only the reps who are members of this department")
    p.set_defaults(run=run_conversion)

    p = commands.add_parser("campaigns", parents=[db, out], help="the points campaigns")
    p.add_argument("--active-at", type=_time_arg, metavar="TIME", help="only those running then")
    p.set_defaults(run=run_campaigns)

    p = commands.add_parser("leaderboard", parents=[db, out], help="a campaign's points race")
    p.add_argument("campaign", metavar="ID", help="the campaign id")
    p.add_argument("--limit", type=_positive, default=10, help="default: 10")
    p.set_defaults(run=run_leaderboard)

    p = commands.add_parser("vouchers", parents=[db, out], help="the vouchers and their uses")
    p.add_argument("--to", type=Path, metavar="FILE", help="write them to FILE.xlsx or FILE.csv")
    p.set_defaults(run=run_vouchers)

    p = commands.add_parser(
        "commissions", parents=[db, out], help="a referrer's commissions (referral codes)"
    )
    p.add_argument("referrer", metavar="REFERRER", help="customer id, external (POS) id or phone")
    p.add_argument("--as-of", type=_time_arg, metavar="TIME", help="as they stood then")
    p.add_argument("--to", type=Path, metavar="FILE", help="write them to FILE.xlsx or FILE.csv")
    p.set_defaults(run=run_commissions)

    p = commands.add_parser(
        "import", parents=[db], help="import customers, purchases or vouchers from .csv or .xlsx"
    )
    p.add_argument("kind", choices=("customers", "purchases", "vouchers"))
    p.add_argument("file", metavar="FILE", type=Path)
    p.add_argument(
        "--map",
        action="append",
        default=[],
        metavar="COLUMN=FIELD",
        help=f"read spreadsheet COLUMN as FIELD (repeatable); FIELD '{IGNORE}' ignores it",
    )
    p.add_argument(
        "--on-duplicate-phone",
        choices=("reject", "skip", "update", "create"),
        default="reject",
        help="customers only (default: reject)",
    )
    p.add_argument(
        "--update",
        action="store_true",
        help="vouchers only: a code that exists with other settings is updated, not rejected",
    )
    p.add_argument(
        "--strict", action="store_true", help="exit 1 if any row was rejected or conflicted"
    )
    p.add_argument(
        "--report",
        type=Path,
        metavar="FILE",
        help="write every row not created (or recorded) to FILE.csv or FILE.xlsx: why, and "
        "what it matched",
    )
    p.add_argument("--batch-size", type=_positive, default=IMPORT_BATCH, help=argparse.SUPPRESS)
    p.add_argument(
        "--workers",
        type=_positive,
        default=1,
        metavar="N",
        help="purchases: share the rows out by customer among N processes (SQLite file or "
        "PostgreSQL; default 1)",
    )
    p.set_defaults(run=run_import)

    p = commands.add_parser("export", parents=[db], help="write a table to .xlsx or .csv")
    p.add_argument(
        "kind",
        choices=(
            "leads",
            "history",
            "statement",
            "customers",
            "purchases",
            "campaigns",
            "leaderboard",
            "vouchers",
            "commissions",
        ),
    )
    p.add_argument(
        "who",
        nargs="?",
        metavar="ID",
        help="the referrer (history, commissions), customer or campaign",
    )
    p.add_argument("--to", required=True, type=Path, metavar="FILE", help="FILE.xlsx or FILE.csv")
    p.add_argument(
        "--headers",
        choices=("en", "vi"),
        default="en",
        help="customers and purchases: field names (en, default) or the Vietnamese headers "
        "import reads (vi)",
    )
    p.set_defaults(run=run_export)

    p = commands.add_parser(
        "replay", parents=[db, out], help="rebuild the views, or show the ledger as of a time"
    )
    p.add_argument("--as-of", type=_time_arg, metavar="TIME", help="ISO date or time")
    p.set_defaults(run=run_replay)

    p = commands.add_parser("audit", parents=[db], help="check the whole store")
    p.set_defaults(run=run_audit)
    return parser


# --- argument types ----------------------------------------------------------------


def _positive(text: str) -> int:
    number = _count(text)
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1: {text!r}")
    return number


def _count(text: str) -> int:
    try:
        number = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if number < 0:
        raise argparse.ArgumentTypeError(f"must not be negative: {text!r}")
    return number


def _time_arg(text: str) -> datetime:
    try:
        return parse_cli_time(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not an ISO date or time: {text!r} (e.g. 2025-03-01 or 2025-03-01T09:30+07:00)"
        ) from None
