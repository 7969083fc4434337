"""The `referral-ledger` command (also `python -m referral_ledger`).

Every command works on one ledger, named by `--db`: a file path (an embedded
SQLite ledger) or any `Ledger.open` URL; the default is `referral-ledger.db`
in the current directory, or `$REFERRAL_LEDGER_DB` when set. Exit codes: 0
done, 1 the ledger refused or something is wrong (an unknown customer, a bad
file, an audit that found problems, rejected rows with `--strict`), 2 a bad
command line. Errors are one line on stderr, without a traceback.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import re
import sqlite3
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date, datetime, time, tzinfo
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import Any, Final, NoReturn, TypeAlias
from uuid import UUID

import attrs
import orjson
from eventsourcing.domain import EventSourcingError
from eventsourcing.persistence import MapperDeserialisationError
from eventsourcing.utils import get_topic
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from referral_ledger import demo as scenario
from referral_ledger.aggregates.customer import CustomerRegistered
from referral_ledger.aggregates.loyalty import InvoiceRecorded
from referral_ledger.aggregates.referral import ReferralStatus
from referral_ledger.audit import audit, read_log, state_as_of
from referral_ledger.commands.base import VIETNAM
from referral_ledger.commands.customers import _ROW_COLUMNS as CUSTOMER_FIELDS
from referral_ledger.commands.loyalty import _PURCHASE_COLUMNS as PURCHASE_FIELDS
from referral_ledger.errors import InvalidInput, LedgerError, NotFound
from referral_ledger.ledger import Ledger
from referral_ledger.projections.leads import ConversionRow, HistoryRow, LeadRow
from referral_ledger.projections.statement import StatementRow
from referral_ledger.projections.storage import SORTABLE

PROG: Final = "referral-ledger"
DEFAULT_DB: Final = "referral-ledger.db"
FORMATS: Final = ("table", "csv", "json")
#: Rows read from a spreadsheet per ledger transaction (and progress step).
IMPORT_BATCH: Final = 500
#: From this many rows on, an import on a terminal shows a progress bar.
PROGRESS_FROM: Final = 1000
PAGE: Final = 1000
#: Ignore a spreadsheet column: `--map "Ghi chú=-"`.
IGNORE: Final = "-"

Record: TypeAlias = dict[str, object]


class UsageError(Exception):
    """A bad command line: exit code 2."""


class CommandError(Exception):
    """Something outside the ledger is wrong (a missing file, a bad sheet): exit code 1."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see '{self.prog} --help')")


# --- entry point -------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line `argv` (default: `sys.argv[1:]`); returns the exit code."""
    try:
        args = build_parser().parse_args(argv)
        command: Callable[[argparse.Namespace], int] = args.run
        return command(args)
    except UsageError as error:
        return _fail(str(error), 2)
    except (LedgerError, CommandError) as error:
        return _fail(str(error), 1)
    except MapperDeserialisationError as error:
        return _fail(f"the ledger has an event it cannot read ({error}); run '{PROG} audit'", 1)
    except (EventSourcingError, sqlite3.DatabaseError) as error:
        return _fail(f"cannot use the ledger: {type(error).__name__}: {error}", 1)
    except OSError as error:
        return _fail(f"{error.strerror or error}: {error.filename or ''}".rstrip(": "), 1)
    except KeyboardInterrupt:
        return _fail("interrupted", 130)
    except SystemExit as done:  # --help and --version
        return done.code if isinstance(done.code, int) else 0


def _fail(message: str, code: int) -> int:
    print(f"{PROG}: error: {' '.join(message.split())}", file=sys.stderr)
    return code


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
    p.set_defaults(run=run_demo)

    p = commands.add_parser("leads", parents=[db, out], help="the lead table")
    p.add_argument("--status", choices=[s.value for s in ReferralStatus])
    p.add_argument("--program", help="only this program (e.g. pos)")
    p.add_argument("--search", help="name, email, business name or website; accents optional")
    p.add_argument("--sort", default="submitted_at", choices=sorted(SORTABLE), metavar="COLUMN")
    order = p.add_mutually_exclusive_group()
    order.add_argument("--desc", dest="descending", action="store_true", default=True)
    order.add_argument("--asc", dest="descending", action="store_false")
    p.add_argument("--limit", type=_positive, default=50, help="default: 50")
    p.add_argument("--offset", type=_count, default=0)
    p.set_defaults(run=run_leads)

    p = commands.add_parser("history", parents=[db, out], help="a referrer's rewarded referrals")
    p.add_argument("referrer", metavar="REFERRER", help="customer id, external (POS) id or phone")
    p.set_defaults(run=run_history)

    p = commands.add_parser("statement", parents=[db, out], help="a customer's points movements")
    p.add_argument("customer", metavar="CUSTOMER", help="customer id, external (POS) id or phone")
    p.set_defaults(run=run_statement)

    p = commands.add_parser("conversion", parents=[db, out], help="leads → customers per rep")
    p.add_argument("--since", type=_time_arg, help="submitted from (ISO date or time)")
    p.add_argument("--until", type=_time_arg, help="submitted before (exclusive)")
    p.set_defaults(run=run_conversion)

    p = commands.add_parser(
        "import", parents=[db], help="import customers or purchases from .csv or .xlsx"
    )
    p.add_argument("kind", choices=("customers", "purchases"))
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
    p.add_argument("--strict", action="store_true", help="exit 1 if any row was rejected")
    p.add_argument("--batch-size", type=_positive, default=IMPORT_BATCH, help=argparse.SUPPRESS)
    p.set_defaults(run=run_import)

    p = commands.add_parser("export", parents=[db], help="write a table to .xlsx or .csv")
    p.add_argument("kind", choices=("leads", "history", "statement", "customers", "purchases"))
    p.add_argument("who", nargs="?", metavar="ID", help="the referrer (history) or customer")
    p.add_argument("--to", required=True, type=Path, metavar="FILE", help="FILE.xlsx or FILE.csv")
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


def parse_cli_time(text: str, zone: tzinfo = VIETNAM) -> datetime:
    """An ISO date or time; a date means its midnight, and a time without an
    offset is taken in `zone` (Vietnam, UTC+7, by default)."""
    value = text.strip()
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        return datetime.combine(date.fromisoformat(value), time(), zone)
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=zone)


# --- opening the ledger --------------------------------------------------------------


def ledger_url(db: str) -> str:
    """`--db` as a Ledger.open URL: a URL stays as it is, a path becomes `sqlite:///PATH`."""
    if "://" in db:
        return db
    return f"sqlite:///{Path(db).expanduser().resolve()}"


@contextmanager
def open_ledger(db: str, *, create: bool = False, react: bool = True) -> Iterator[Ledger]:
    """Open `--db`; an existing one unless `create` (a typo must not make an empty ledger)."""
    url = ledger_url(db)
    if url.startswith("sqlite:///") and not create:
        path = Path(url[len("sqlite:///") :])
        if not path.exists():
            raise CommandError(
                f"no ledger at {path}: run '{PROG} demo --db {db}' or import customers first"
            )
    with Ledger.open(url, react_inline=react) as ledger:
        yield ledger


def find_customer(ledger: Ledger, who: str) -> UUID:
    """A customer named by its id, its external (POS) id, or one of its phones."""
    try:
        customer_id = UUID(who)
    except ValueError:
        pass
    else:
        return ledger.get_customer(customer_id).id
    found: UUID | None = None
    try:
        found = ledger.find_customer_by_external_id(who)
        if found is None:
            found = ledger.find_customer_by_phone(who)
    except InvalidInput:
        found = None
    if found is None:
        raise NotFound(f"no customer with id, external id or phone {who!r}")
    return found


# --- rendering ----------------------------------------------------------------------


def plain(value: object) -> object:
    """A value as csv, json and spreadsheets show it: ids and times as text (money stays
    a Decimal: a spreadsheet gets a number, json and csv its exact digits)."""
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, frozenset | tuple | list):
        return "; ".join(str(plain(v)) for v in sorted(value, key=str))
    return value


def records(rows: Iterable[Any]) -> list[Record]:
    """attrs rows as dicts of plain values, every field in order."""
    return [{k: plain(v) for k, v in attrs.asdict(row, recurse=False).items()} for row in rows]


def _console(stderr: bool = False) -> Console:
    stream = sys.stderr if stderr else sys.stdout
    # Not a terminal (a pipe, a file, a test): wide enough that rows are not wrapped.
    width = None if stream.isatty() else 160
    return Console(file=stream, width=width, highlight=False, soft_wrap=False)


Column: TypeAlias = tuple[str, Callable[[Any], object], str]  # header, cell, justify


def emit(
    fmt: str,
    rows: Sequence[object],
    columns: Sequence[Column],
    title: str,
    *,
    json_value: object | None = None,
) -> None:
    """Print rows as a rich table (the given columns), csv or json (every field)."""
    if fmt == "json":
        value = records(rows) if json_value is None else json_value
        write_json(value)
    elif fmt == "csv":
        write_csv(sys.stdout, records(rows), _fields(rows))
    else:
        _console().print(table(title, rows, columns))


def write_json(value: object) -> None:
    # Money as a string: a JSON number would go through a float and lose digits.
    text = orjson.dumps(value, default=_exact, option=orjson.OPT_INDENT_2).decode()
    sys.stdout.write(text + "\n")


def _exact(value: object) -> str:
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"cannot write {value!r} as JSON")


def table(title: str, rows: Sequence[object], columns: Sequence[Column]) -> Table:
    result = Table(title=title, title_justify="left", title_style="bold")
    for header, _, justify in columns:
        result.add_column(header, justify=justify)  # type: ignore[arg-type]
    for row in rows:
        # Text(): a name such as "[shop]" is shown as typed, never read as markup.
        result.add_row(*(Text(_show(cell(row))) for _, cell, _ in columns))
    if not rows:
        result.caption = "(none)"
    return result


def _show(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, Decimal):
        return f"{value:,}"
    return str(value)


def _fields(rows: Sequence[Any]) -> list[str]:
    return [f.name for f in attrs.fields(type(rows[0]))] if rows else []


def write_csv(stream: io.TextIOBase | Any, rows: list[Record], fields: Sequence[str]) -> None:
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(fields)
    for row in rows:
        writer.writerow(["" if row.get(f) is None else row[f] for f in fields])


def _when(zone: tzinfo) -> Callable[[datetime | None], str]:
    def show(moment: datetime | None) -> str:
        return "-" if moment is None else moment.astimezone(zone).strftime("%Y-%m-%d %H:%M")

    return show


def _day(zone: tzinfo) -> Callable[[datetime | None], str]:
    def show(moment: datetime | None) -> str:
        return "-" if moment is None else moment.astimezone(zone).strftime("%Y-%m-%d")

    return show


def _percent(rate: float) -> str:
    return f"{rate:.0%}"


def lead_columns(zone: tzinfo) -> list[Column]:
    day = _day(zone)
    return [
        ("Submitted", lambda r: day(r.submitted_at), "left"),
        ("Lead", lambda r: r.name, "left"),
        ("Business", lambda r: r.business_name, "left"),
        ("Phone", lambda r: r.phone, "left"),
        ("Program", lambda r: r.program, "left"),
        ("Status", lambda r: r.status.value, "left"),
        ("Rep", lambda r: r.rep, "left"),
        ("Reward", lambda r: r.reward, "right"),
    ]


def history_columns(zone: tzinfo) -> list[Column]:
    day = _day(zone)
    return [
        ("Rewarded", lambda r: day(r.date), "left"),
        ("Lead", lambda r: r.name, "left"),
        ("Business", lambda r: r.business_name, "left"),
        ("Plan", lambda r: r.plan, "left"),
        ("Revenue", lambda r: r.revenue, "right"),
        ("Reward", lambda r: r.reward, "right"),
    ]


def statement_columns(zone: tzinfo) -> list[Column]:
    when = _when(zone)
    return [
        ("When", lambda r: when(r.at), "left"),
        ("Kind", lambda r: r.kind, "left"),
        ("Reference", lambda r: r.reference, "left"),
        ("Amount", lambda r: r.amount, "right"),
        ("Points", lambda r: f"{r.points:+}", "right"),
        ("Balance", lambda r: r.balance, "right"),
    ]


CONVERSION_COLUMNS: Final[list[Column]] = [
    ("Rep", lambda r: r.rep or "(unassigned)", "left"),
    ("Leads", lambda r: r.leads, "right"),
    ("Contacts", lambda r: r.contacts, "right"),
    ("Customers", lambda r: r.customers, "right"),
    ("Contact rate", lambda r: _percent(r.contact_rate), "right"),
    ("Customer rate", lambda r: _percent(r.customer_rate), "right"),
    ("Conversion", lambda r: _percent(r.conversion_rate), "right"),
]


# --- queries ----------------------------------------------------------------------


def all_leads(ledger: Ledger) -> list[LeadRow]:
    """Every row of the lead table, oldest first."""
    rows: list[LeadRow] = []
    while page := ledger.lead_table(descending=False, limit=PAGE, offset=len(rows)):
        rows += page
        if len(page) < PAGE:
            break
    return rows


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
        emit(args.format, rows, lead_columns(ledger.business_timezone), "Leads")
    return 0


def run_history(args: argparse.Namespace) -> int:
    with open_ledger(args.db) as ledger:
        referrer = find_customer(ledger, args.referrer)
        rows: list[HistoryRow] = ledger.referral_history(referrer)
        columns = history_columns(ledger.business_timezone)
        emit(args.format, rows, columns, _history_title(ledger, referrer))
    return 0


def run_statement(args: argparse.Namespace) -> int:
    with open_ledger(args.db) as ledger:
        customer = find_customer(ledger, args.customer)
        rows: list[StatementRow] = ledger.statement(customer)
        columns = statement_columns(ledger.business_timezone)
        emit(args.format, rows, columns, _statement_title(ledger, customer))
    return 0


def run_conversion(args: argparse.Namespace) -> int:
    with open_ledger(args.db) as ledger:
        rows: list[ConversionRow] = ledger.conversion_by_rep(since=args.since, until=args.until)
        emit(args.format, rows, CONVERSION_COLUMNS, "Conversion by sales rep")
    return 0


def run_demo(args: argparse.Namespace) -> int:
    with open_ledger(args.db, create=True) as ledger:
        before = ledger.event_count()
        story = scenario.run(ledger)
        after = ledger.event_count()
        where = ledger_url(args.db).removeprefix("sqlite:///")
        print(f"Ledger: {where}")
        print(
            f"{after - before} new events recorded, {after} in the log "
            "(running the demo again records nothing)"
        )
        zone = ledger.business_timezone
        console = _console()
        console.print(table("Leads", all_leads(ledger), lead_columns(zone)))
        history = ledger.referral_history(story.referrer_id)
        console.print(
            table(_history_title(ledger, story.referrer_id), history, history_columns(zone))
        )
        statement = ledger.statement(story.customer_id)
        console.print(
            table(_statement_title(ledger, story.customer_id), statement, statement_columns(zone))
        )
        db = args.db
        print(
            f"Next: {PROG} leads --db {db} --status rewarded | {PROG} statement POS-C005 --db {db}"
            f" | {PROG} audit --db {db}"
        )
    return 0


# --- import ------------------------------------------------------------------------


def parse_map(pairs: Sequence[str], fields: frozenset[str]) -> dict[str, str]:
    """`--map COLUMN=FIELD` options as {column: field}."""
    mapping: dict[str, str] = {}
    for pair in pairs:
        column, equals, field = pair.rpartition("=")
        column, field = column.strip(), field.strip()
        if not equals or not column:
            raise UsageError(f"--map wants COLUMN=FIELD, not {pair!r}")
        if field != IGNORE and field not in fields:
            raise UsageError(
                f"--map {pair!r}: {field!r} is not a field; use one of {', '.join(sorted(fields))}"
                f" or '{IGNORE}' to ignore the column"
            )
        mapping[column] = field
    return mapping


def read_sheet(path: Path) -> Iterator[tuple[int, list[object]]]:
    """(row number in the file, cells) of a .csv or .xlsx file, header first."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        with path.open(encoding="utf-8-sig", newline="") as stream:
            for number, cells in enumerate(csv.reader(stream), start=1):
                yield number, list(cells)
    elif suffix == ".xlsx":
        from openpyxl import load_workbook

        try:
            book = load_workbook(path, read_only=True, data_only=True)
        except Exception as error:
            raise CommandError(f"{path} is not a readable .xlsx file: {error}") from None
        try:
            sheet = book.worksheets[0]
            for number, values in enumerate(sheet.iter_rows(values_only=True), start=1):
                yield number, list(values)
        finally:
            book.close()
    else:
        raise UsageError(f"{path}: only .csv and .xlsx files can be imported")


def sheet_rows(
    path: Path, kind: str, mapping: Mapping[str, str], zone: tzinfo
) -> list[tuple[int, Record]]:
    """The data rows of a sheet as ledger rows, numbered as in the file (header = 1)."""
    fields = CUSTOMER_FIELDS if kind == "customers" else PURCHASE_FIELDS
    rows = read_sheet(path)
    first = next(rows, None)
    if first is None:
        raise CommandError(f"{path} is empty: it needs a header row naming the columns")
    headers = [mapping.get(str(h or "").strip(), str(h or "").strip()) for h in first[1]]
    unknown = [h for h in headers if h and h != IGNORE and h not in fields]
    if unknown:
        raise CommandError(
            f"{path}: unknown column(s) {', '.join(map(repr, unknown))}; map them with "
            f"--map 'COLUMN=FIELD' (fields: {', '.join(sorted(fields))}) or --map 'COLUMN={IGNORE}'"
        )
    result = []
    for number, cells in rows:
        row: Record = {}
        for header, cell in zip(headers, cells, strict=False):
            if not header or header == IGNORE:
                continue
            value = cell_value(header, cell, zone)
            if value is not None:
                row[header] = value
        if row:
            result.append((number, row))
    return result


def cell_value(field: str, cell: object, zone: tzinfo) -> object:
    """A spreadsheet cell as the ledger takes it; None for an empty cell."""
    if cell is None or (isinstance(cell, str) and not cell.strip()):
        return None
    if isinstance(cell, float):
        # A spreadsheet keeps numbers as floats; the ledger takes no floats.
        cell = int(cell) if cell.is_integer() else Decimal(repr(cell))
    if field == "at":
        if isinstance(cell, str):
            try:
                return parse_cli_time(cell, zone)
            except ValueError:
                return cell  # the ledger rejects the row, naming the value
        if isinstance(cell, datetime):
            return cell if cell.tzinfo else cell.replace(tzinfo=zone)
        return cell
    if field == "points_used":
        if isinstance(cell, str) and cell.strip().isdigit():
            return int(cell)
        return cell
    if field in ("amount", "discounted_amount"):
        return cell.strip() if isinstance(cell, str) else cell
    if field == "addresses":
        # One address a line: addresses have commas of their own.
        return [line.strip() for line in str(cell).splitlines() if line.strip()]
    return str(cell).strip()


def run_import(args: argparse.Namespace) -> int:
    fields = CUSTOMER_FIELDS if args.kind == "customers" else PURCHASE_FIELDS
    mapping = parse_map(args.map, fields)
    if not args.file.exists():
        raise CommandError(f"no such file: {args.file}")
    with open_ledger(args.db, create=True) as ledger:
        rows = sheet_rows(args.file, args.kind, mapping, ledger.business_timezone)
        counts: dict[str, int] = {}
        rejected: list[tuple[int, str]] = []
        console = _console(stderr=True)
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


# --- export ------------------------------------------------------------------------

CUSTOMER_EXPORT: Final = (
    "external_id", "name", "phones", "email", "group", "source", "tags", "notes",
    "addresses", "assigned_staff",
)  # fmt: skip
PURCHASE_EXPORT: Final = (
    "external_id", "customer_id", "invoice_id", "amount", "discounted_amount", "points_used", "at",
)  # fmt: skip


def customer_records(ledger: Ledger) -> list[Record]:
    """Every customer, in the columns `import customers` reads."""
    result: list[Record] = []
    for entry in read_log(ledger, (get_topic(CustomerRegistered),)):
        if entry.event is None:
            continue
        customer = ledger.get_customer(entry.event.originator_id)
        result.append(
            {
                "external_id": customer.external_id,
                "name": customer.name,
                "phones": "; ".join(customer.phones),
                "email": customer.email,
                "group": customer.group,
                "source": customer.source,
                "tags": "; ".join(sorted(customer.tags)) or None,
                "notes": customer.notes,
                "addresses": "\n".join(customer.addresses) or None,
                "assigned_staff": customer.assigned_staff,
            }
        )
    return result


def purchase_records(ledger: Ledger) -> list[Record]:
    """Every invoice as recorded, in the columns `import purchases` reads."""
    external: dict[UUID, str | None] = {}
    result: list[Record] = []
    for entry in read_log(ledger, (get_topic(InvoiceRecorded),)):
        event = entry.event
        if not isinstance(event, InvoiceRecorded):
            continue
        if event.customer_id not in external:
            external[event.customer_id] = ledger.get_customer(event.customer_id).external_id
        pos_id = external[event.customer_id]
        result.append(
            {
                "external_id": pos_id,
                "customer_id": None if pos_id else str(event.customer_id),
                "invoice_id": event.invoice_id,
                "amount": event.amount,
                "discounted_amount": event.discounted_amount,
                "points_used": event.points_used,
                "at": event.at.isoformat(),
            }
        )
    return result


def run_export(args: argparse.Namespace) -> int:
    target: Path = args.to
    if target.suffix.lower() not in (".csv", ".xlsx"):
        raise UsageError(f"--to {target}: the file must end in .xlsx or .csv")
    needs_who = args.kind in ("history", "statement")
    if needs_who and not args.who:
        raise UsageError(f"export {args.kind} needs the customer: export {args.kind} ID --to FILE")
    if not needs_who and args.who:
        raise UsageError(f"export {args.kind} takes no ID, got {args.who!r}")
    with open_ledger(args.db) as ledger:
        rows: list[Record]
        if args.kind == "leads":
            leads = all_leads(ledger)
            rows, fields = records(leads), [f.name for f in attrs.fields(LeadRow)]
        elif args.kind == "history":
            history = ledger.referral_history(find_customer(ledger, args.who))
            rows, fields = records(history), [f.name for f in attrs.fields(HistoryRow)]
        elif args.kind == "statement":
            statement = ledger.statement(find_customer(ledger, args.who))
            rows, fields = records(statement), [f.name for f in attrs.fields(StatementRow)]
        elif args.kind == "customers":
            rows, fields = customer_records(ledger), list(CUSTOMER_EXPORT)
        else:
            rows, fields = purchase_records(ledger), list(PURCHASE_EXPORT)
    write_table(target, rows, fields)
    print(f"{len(rows)} {args.kind} rows written to {target}")
    return 0


def write_table(target: Path, rows: list[Record], fields: Sequence[str]) -> None:
    """Write rows to a .csv (UTF-8 with a BOM, so Excel reads the accents) or .xlsx file."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.suffix.lower() == ".csv":
        with target.open("w", encoding="utf-8-sig", newline="") as stream:
            write_csv(stream, rows, fields)
        return
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(list(fields))
    for row in rows:
        sheet.append([xlsx_cell(row.get(field)) for field in fields])
    book.save(target)


def xlsx_cell(value: object) -> object:
    """A value as a spreadsheet cell: whole amounts as numbers, the rest as text."""
    if isinstance(value, Decimal):
        # Only whole amounts that a float holds exactly become numbers.
        if value == value.to_integral_value() and abs(value) < 2**53:
            return int(value)
        return str(value)
    if isinstance(value, bool | int | str) or value is None:
        return value
    return str(plain(value))


# --- replay and audit ------------------------------------------------------------------


@contextmanager
def progress_bar(label: str) -> Iterator[Callable[[int, int], None]]:
    """A rich progress bar on stderr (when it is a terminal), fed (done, total)."""
    console = _console(stderr=True)
    with Progress(
        TextColumn(label),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        disable=not console.is_terminal,
        transient=True,
    ) as progress:
        task = progress.add_task(label, total=None)

        def update(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        yield update


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
            "as_of": args.as_of.isoformat(),
            "balances": records(state.balances),
            "referrals": records(state.referrals),
        }
        write_json(value)
    elif args.format == "csv":
        write_csv(sys.stdout, records(state.balances), _fields(state.balances))
        print()
        write_csv(sys.stdout, records(state.referrals), _fields(state.referrals))
    else:
        console = _console()
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
