"""Spreadsheet rows as the imports take them: one reading for the API and the CLI.

A host's upload handler and `referral-ledger import` both hand rows to
`import_customers` / `import_purchases` with a `mapping`; these functions are
what the mapping turns on. A row is {header: cell} as a sheet gives it:

- a header is a field name, one of the Vietnamese headers of `VI_HEADERS`
  (what `export --headers vi` writes), or a column the mapping renames
  ({"Mã KH": "external_id"}; `IGNORE` drops a column). Headers match
  whatever their case, spacing and Unicode form (Excel and Word differ);
- a blank cell is left out (the column says nothing for that row);
- a number typed in a cell is read as what it spells: a phone 975500600
  stays the digits 975500600, and a float a spreadsheet keeps (1500000.0)
  is the exact number it shows, never a float;
- text has the `'` an export put before a formula start taken off
  (`cells.restore`), and a time without an offset is in business time.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Collection, Iterable, Mapping
from datetime import UTC, date, datetime, time, tzinfo
from decimal import Decimal
from typing import Final, Literal, TypeAlias

from referral_ledger.errors import InvalidInput
from referral_ledger.policies.cells import restore
from referral_ledger.policies.customer_fields import IMPORT_COLUMNS

#: The mapping's name for a column to ignore.
IGNORE: Final = "-"

#: What a sheet holds.
SheetKind: TypeAlias = Literal["customers", "purchases"]

#: The columns `import_purchases` reads.
PURCHASE_IMPORT_COLUMNS: Final = (
    "external_id", "customer_id", "invoice_id", "amount", "discounted_amount", "points_used", "at",
)  # fmt: skip

#: The fields of each kind of sheet.
SHEET_FIELDS: Final[Mapping[str, frozenset[str]]] = {
    "customers": frozenset(IMPORT_COLUMNS),
    "purchases": frozenset(PURCHASE_IMPORT_COLUMNS),
}

#: The Vietnamese header of each field, as a Vietnamese POS or CRM names its
#: columns: `export --headers vi` writes them, and an import reads them
#: without a mapping, so an export is a template for an import.
VI_HEADERS: Final[Mapping[str, Mapping[str, str]]] = {
    "customers": {
        "external_id": "Mã khách hàng",
        "name": "Tên khách hàng",
        "phones": "Điện thoại",
        "phone": "Số điện thoại",
        "email": "Email",
        "group": "Nhóm khách hàng",
        "source": "Nguồn khách hàng",
        "tags": "Thẻ",
        "notes": "Ghi chú",
        "addresses": "Địa chỉ",
        "assigned_staff": "Nhân viên phụ trách",
        "social_page": "Trang mạng xã hội",
        "at": "Thời gian",
    },
    "purchases": {
        "external_id": "Mã khách hàng",
        "customer_id": "ID khách hàng",
        "invoice_id": "Số hóa đơn",
        "amount": "Tổng tiền",
        "discounted_amount": "Tiền hàng giảm giá",
        "points_used": "Điểm đã dùng",
        "at": "Thời gian",
    },
}

#: Cells holding one item a line (an address or a tag may hold commas).
_LINE_LISTS: Final = frozenset({"addresses", "tags"})
_DATE: Final = re.compile(r"\d{4}-\d{2}-\d{2}")


def header_key(header: object) -> str:
    """A header as headers are compared: NFC, case-folded, spaces collapsed."""
    text = unicodedata.normalize("NFC", str(header if header is not None else ""))
    return " ".join(text.casefold().split())


def _kind(kind: object) -> SheetKind:
    if kind == "customers" or kind == "purchases":
        return kind
    raise InvalidInput(f"a sheet holds 'customers' or 'purchases', not {kind!r}")


def check_mapping(mapping: object, kind: SheetKind) -> dict[str, str]:
    """A mapping {column: field or IGNORE}, checked: `InvalidInput` names a bad pair."""
    if not isinstance(mapping, Mapping):
        raise InvalidInput(f"mapping must be a mapping of column to field, not {mapping!r}")
    fields = SHEET_FIELDS[_kind(kind)]
    checked: dict[str, str] = {}
    for column, field in mapping.items():
        if not isinstance(column, str) or not column.strip():
            raise InvalidInput(f"mapping: a column must be a non-empty str, not {column!r}")
        if field != IGNORE and field not in fields:
            raise InvalidInput(
                f"mapping {column!r}: {field!r} is not a field; use one of "
                f"{', '.join(sorted(fields))} or {IGNORE!r} to ignore the column"
            )
        checked[column] = str(field)
    return checked


def header_fields(
    headers: Iterable[object], mapping: Mapping[str, str], kind: SheetKind
) -> list[str | None]:
    """The field under each header (None: an ignored or unnamed column).

    The mapping wins, then field names, then `VI_HEADERS`; `InvalidInput`
    names every header that is none of these, or two columns holding one field."""
    fields = SHEET_FIELDS[_kind(kind)]
    mapped = {header_key(column): field for column, field in mapping.items()}
    known = {header_key(name): name for name in fields}
    known.update((header_key(vi), field) for field, vi in VI_HEADERS[kind].items())
    return fields_under(headers, lambda key: mapped.get(key) or known.get(key))


def fields_under(
    headers: Iterable[object],
    field_of: Callable[[str], str | None],
    key: Callable[[object], str] = header_key,
    skipped: Collection[str] = (),
) -> list[str | None]:
    """The field under each header, `field_of(key(header))`: None for an unnamed
    column, one mapped to `IGNORE` or one in `skipped`. `InvalidInput` names
    every header with no field, or two columns holding one field."""
    result: list[str | None] = []
    unknown: list[str] = []
    column_of: dict[str, str] = {}
    for header in headers:
        text = key(header)
        field = field_of(text)
        if not text or field == IGNORE or field in skipped:
            result.append(None)
        elif field is None:
            unknown.append(str(header).strip())
        elif field in column_of:
            # Two columns for one field: one would silently overwrite the other.
            raise InvalidInput(
                f"columns {column_of[field]!r} and {str(header).strip()!r} both hold {field}"
            )
        else:
            column_of[field] = str(header).strip()
            result.append(field)
    if unknown:
        raise InvalidInput(f"unknown column(s) {', '.join(map(repr, unknown))}")
    return result


def sheet_row(
    row: Mapping[object, object], mapping: Mapping[str, str], kind: SheetKind, zone: tzinfo
) -> dict[str, object]:
    """A sheet row {header: cell} as the import's row {field: value}."""
    if not isinstance(row, Mapping):
        raise InvalidInput(f"a row must be a mapping of column names to values, not {row!r}")
    headers = list(row)
    result: dict[str, object] = {}
    for field, header in zip(header_fields(headers, mapping, kind), headers, strict=True):
        cell = row[header]
        if field is not None and not blank(cell):
            result[field] = cell_value(field, cell, zone)
    return result


def blank(cell: object) -> bool:
    """An empty cell: None, or text of spaces."""
    return cell is None or (isinstance(cell, str) and not cell.strip())


def cell_value(field: str, cell: object, zone: tzinfo) -> object:
    """A spreadsheet cell as the ledger takes it; None for an empty cell."""
    if blank(cell):
        return None
    if isinstance(cell, str):
        cell = restore(cell)  # a `'` that an export put before a formula start
    if isinstance(cell, float):
        # A spreadsheet keeps numbers as floats; the ledger takes no floats. The
        # shortest repr is the figure the cell shows.
        cell = int(cell) if cell.is_integer() else Decimal(repr(cell))
    if field == "at":
        if isinstance(cell, str):
            try:
                return parse_sheet_time(cell, zone)
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
    if field == "addresses" or (field in _LINE_LISTS and "\n" in str(cell)):
        # One a line: an address or a tag may have commas of its own. (A tags cell on
        # one line is split at commas and semicolons by the ledger's import.)
        return [line.strip() for line in str(cell).splitlines() if line.strip()]
    return str(cell).strip()


def parse_sheet_time(text: str, zone: tzinfo) -> datetime:
    """An ISO date or time; a date means its midnight, and a time without an
    offset is taken in `zone`. ValueError if it is none, or has no UTC form
    (at the ends of Python's range)."""
    value = text.strip()
    if _DATE.fullmatch(value):
        moment = datetime.combine(date.fromisoformat(value), time(), zone)
    else:
        moment = datetime.fromisoformat(value)
        moment = moment if moment.tzinfo is not None else moment.replace(tzinfo=zone)
    try:
        # At the ends of Python's range a time may have no UTC or business-zone form.
        moment.astimezone(UTC), moment.astimezone(zone)
    except OverflowError:
        raise ValueError(f"out of range: {text!r}") from None
    return moment
