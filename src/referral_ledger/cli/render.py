"""Output: rich tables on a terminal, csv, json, and .xlsx/.csv files."""

from __future__ import annotations

import csv
import io
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime, tzinfo
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, TypeAlias
from uuid import UUID

import attrs
import orjson
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from referral_ledger.cli.base import CommandError, Record
from referral_ledger.cli.cells import defuse, runs_as_formula

if TYPE_CHECKING:  # openpyxl is imported when a workbook is written: a quicker start
    from openpyxl.worksheet.worksheet import Worksheet


def plain(value: object, zone: tzinfo | None = None) -> object:
    """A value as csv, json and spreadsheets show it: ids and times as text (money stays
    a Decimal: a spreadsheet gets a number, json and csv its exact digits). Times are
    ISO text in `zone` (the ledger's business time zone) with its offset, such as
    `2025-03-03T09:15:00+07:00`; without a zone, as stored."""
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, datetime):
        return (value if zone is None else value.astimezone(zone)).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, frozenset | tuple | list):
        return "; ".join(str(plain(v, zone)) for v in sorted(value, key=str))
    return value


def records(rows: Iterable[Any], zone: tzinfo | None = None) -> list[Record]:
    """attrs rows as dicts of plain values, every field in order, times in `zone`."""
    return [
        {k: plain(v, zone) for k, v in attrs.asdict(row, recurse=False).items()} for row in rows
    ]


def make_console(stderr: bool = False) -> Console:
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
    zone: tzinfo,
) -> None:
    """Print rows as a rich table (the given columns), csv or json (every field), with
    times in `zone`."""
    if fmt == "json":
        write_json(records(rows, zone))
    elif fmt == "csv":
        write_csv(sys.stdout, records(rows, zone), field_names(rows))
    else:
        make_console().print(table(title, rows, columns))


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


def field_names(rows: Sequence[Any]) -> list[str]:
    return [f.name for f in attrs.fields(type(rows[0]))] if rows else []


def write_csv(stream: io.TextIOBase | Any, rows: list[Record], fields: Sequence[str]) -> None:
    """Rows as csv; text that a spreadsheet would run as a formula is defused (numbers,
    such as -54 points, are numbers and stay as they are)."""
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(fields)
    for row in rows:
        writer.writerow([csv_cell(row.get(f)) for f in fields])


def csv_cell(value: object) -> object:
    """A value as a csv cell: None empty, text defused, numbers as their digits."""
    if value is None:
        return ""
    return defuse(value) if isinstance(value, str) else value


def _when(zone: tzinfo) -> Callable[[datetime | None], str]:
    def show(moment: datetime | None) -> str:
        if moment is None:
            return "-"
        # The offset too, as csv, json and .xlsx show it: never a time without its zone.
        return moment.astimezone(zone).isoformat(sep=" ", timespec="minutes")

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


def customer_columns(zone: tzinfo) -> list[Column]:
    day = _day(zone)
    return [
        ("Customer", lambda r: r.name, "left"),
        ("Phones", lambda r: ", ".join(r.phones), "left"),
        ("Email", lambda r: r.email, "left"),
        ("Group", lambda r: r.group, "left"),
        ("Tags", lambda r: ", ".join(sorted(r.tags)), "left"),
        ("Level", lambda r: r.level, "left"),
        ("Staff", lambda r: r.assigned_staff, "left"),
        ("Purchases", lambda r: r.purchase_count, "right"),
        ("Balance", lambda r: r.balance, "right"),
        ("Registered", lambda r: day(r.registered_at), "left"),
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


def write_table(target: Path, rows: list[Record], fields: Sequence[str]) -> None:
    """Write rows to a .csv (UTF-8 with a BOM, so Excel reads the accents) or .xlsx file."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        parent = next(p for p in (target.parent, *target.parent.parents) if p.exists())
        raise CommandError(f"cannot write {target}: {parent} is not a directory") from None
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
        sheet.append([xlsx_cell(sheet, row.get(field)) for field in fields])
    book.save(target)


def xlsx_cell(sheet: Worksheet, value: object) -> object:
    """A value as a spreadsheet cell: whole amounts as numbers, the rest as text cells.

    Text is stored as text, never as a formula or an error code (openpyxl would
    store "=..." as a formula and "#N/A" as an error), and text that would run as a
    formula if typed gets the quote-prefix style: what Excel keeps for a leading
    `'`, so even an edit keeps it text. The cell's value is the text, exactly.
    """
    if isinstance(value, Decimal):
        # Only whole amounts that a float holds exactly become numbers.
        if value == value.to_integral_value() and abs(value) < 2**53:
            return int(value)
        value = str(value)
    if isinstance(value, bool | int) or value is None:
        return value
    from openpyxl.cell.cell import Cell

    text = value if isinstance(value, str) else str(plain(value))
    cell = Cell(sheet, row=1, column=1, value=text)  # append() places it
    cell.data_type = "s"
    if runs_as_formula(text):
        cell.quotePrefix = True
    return cell


@contextmanager
def progress_bar(label: str) -> Iterator[Callable[[int, int], None]]:
    """A rich progress bar on stderr (when it is a terminal), fed (done, total)."""
    console = make_console(stderr=True)
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
