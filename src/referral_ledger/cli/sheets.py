"""Reading .csv and .xlsx sheets: headers, `--map`, cell values."""

from __future__ import annotations

import csv
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime, tzinfo
from decimal import Decimal
from pathlib import Path

from referral_ledger.cli.base import IGNORE, CommandError, Record, UsageError, parse_cli_time
from referral_ledger.cli.cells import restore
from referral_ledger.cli.exchange import CUSTOMER_FIELDS, LINE_LISTS, PURCHASE_FIELDS


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
    """(row number in the file, cells) of a .csv or .xlsx file, header first.

    A file that cannot be read as one raises `CommandError` saying why."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        yield from _read_csv(path)
    elif suffix == ".xlsx":
        yield from _read_xlsx(path)
    else:
        raise UsageError(f"{path}: only .csv and .xlsx files can be imported")


def _read_csv(path: Path) -> Iterator[tuple[int, list[object]]]:
    number = 0  # the last row read
    try:
        # utf-8-sig: UTF-8 with or without the BOM that Excel's "CSV UTF-8" writes.
        with path.open(encoding="utf-8-sig", newline="") as stream:
            for number, cells in enumerate(csv.reader(stream), start=1):
                yield number, list(cells)
    except UnicodeDecodeError as error:
        raise CommandError(
            f"{path} is not UTF-8 text (byte 0x{error.object[error.start]:02x} at offset "
            f"{error.start}): save it as 'CSV UTF-8' (with or without a BOM)"
        ) from None
    except csv.Error as error:
        # Raised by csv on the line after the last one read: name that line.
        if "field larger than field limit" in str(error):
            raise CommandError(
                f"{path}, row {number + 1}: a cell is longer than {csv.field_size_limit()} "
                "characters, longer than any ledger field"
            ) from None
        raise CommandError(f"{path}, row {number + 1}: not readable as csv: {error}") from None


def _read_xlsx(path: Path) -> Iterator[tuple[int, list[object]]]:
    from openpyxl import load_workbook

    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except OSError:
        raise  # a missing, unreadable or directory path: main() names it
    except Exception as error:
        raise CommandError(f"{path} is not a readable .xlsx file: {error}") from None
    try:
        sheet = book.worksheets[0]
        # A damaged sheet inside a sound zip only fails while its rows are read.
        try:
            for number, values in enumerate(sheet.iter_rows(values_only=True), start=1):
                yield number, list(values)
        except Exception as error:
            raise CommandError(f"{path} is not a readable .xlsx file: {error}") from None
    finally:
        book.close()


def sheet_rows(path: Path, kind: str, mapping: Mapping[str, str]) -> list[tuple[int, Record]]:
    """The data rows of a sheet as {field: cell} (blank cells left out), numbered as in
    the file (header = 1); read whole before the ledger is opened, so a bad file
    stops the import before anything is created or recorded."""
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
            if header and header != IGNORE and not _blank(cell):
                row[header] = cell
        if row:
            result.append((number, row))
    return result


def ledger_row(cells: Record, zone: tzinfo) -> Record:
    """A row of `sheet_rows` as the ledger's import takes it (times in `zone`)."""
    return {field: cell_value(field, cell, zone) for field, cell in cells.items()}


def _blank(cell: object) -> bool:
    return cell is None or (isinstance(cell, str) and not cell.strip())


def cell_value(field: str, cell: object, zone: tzinfo) -> object:
    """A spreadsheet cell as the ledger takes it; None for an empty cell."""
    if _blank(cell):
        return None
    if isinstance(cell, str):
        cell = restore(cell)  # a `'` that an export put before a formula start
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
    if field == "addresses" or (field in LINE_LISTS and "\n" in str(cell)):
        # One a line: an address or a tag may have commas of its own. (A tags cell on
        # one line is split at commas and semicolons by the ledger's import.)
        return [line.strip() for line in str(cell).splitlines() if line.strip()]
    return str(cell).strip()
