"""Reading .csv and .xlsx sheets: headers, `--map`, cell values.

How headers and cells are read is the library's (`policies/sheet_rows.py`), so
`referral-ledger import` and `Ledger.import_customers(rows, mapping=...)` agree."""

from __future__ import annotations

import csv
from collections.abc import Iterator, Mapping, Sequence
from datetime import tzinfo
from pathlib import Path

from referral_ledger.cli.base import IGNORE, CommandError, Record, UsageError
from referral_ledger.errors import InvalidInput
from referral_ledger.policies.sheet_rows import SHEET_FIELDS, blank, cell_value, header_fields


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
    stops the import before anything is created or recorded. The headers are read
    as the library's import reads them (`policies.sheet_rows.header_fields`)."""
    rows = read_sheet(path)
    first = next(rows, None)
    if first is None:
        raise CommandError(f"{path} is empty: it needs a header row naming the columns")
    try:
        headers = header_fields(
            first[1], mapping, "purchases" if kind == "purchases" else "customers"
        )
    except InvalidInput as error:
        fields = SHEET_FIELDS["purchases" if kind == "purchases" else "customers"]
        raise CommandError(
            f"{path}: {error}; map them with --map 'COLUMN=FIELD' "
            f"(fields: {', '.join(sorted(fields))}) or --map 'COLUMN={IGNORE}'"
        ) from None
    result = []
    for number, cells in rows:
        row: Record = {}
        for header, cell in zip(headers, cells, strict=False):
            if header and not blank(cell):
                row[header] = cell
        if row:
            result.append((number, row))
    return result


def ledger_row(cells: Record, zone: tzinfo) -> Record:
    """A row of `sheet_rows` as the ledger's import takes it (times in `zone`)."""
    return {field: cell_value(field, cell, zone) for field, cell in cells.items()}
