"""Voucher sheet rows as `import_vouchers` takes them: one reading for the API and the CLI.

A host's upload handler and `referral-ledger import vouchers` both hand rows
{header: cell} to `import_vouchers(rows, mapping=...)`; these functions are
what the mapping turns on (as `sheet_rows` is for customers and purchases):

- a header is a `Voucher` field name (`_` or a space), or a label a
  Vietnamese shop uses (`VI_HEADERS`: "Mã voucher", "Giảm giá", "Ngày bắt
  đầu", ... after Pancake POS's "Tạo vouchers"), matched without case or
  accents, or a column the mapping renames; `used` (what `vouchers --to`
  writes beside the settings) and `IGNORE`d columns are dropped;
- cells are read as a person types them: "10%" in the discount column is a
  percentage, "50.000", "50,000" and "50.000 đ" are fifty thousand (groups of
  three digits are thousands: đồng have no fractions), dates are ISO or
  day/month/year in business time, yes/no columns take "có/không", "x",
  "yes/no", "true/false" and 1/0, lists are split at `,`, `;` and line breaks.

What cannot be read is passed on as it is, so the `Voucher` refuses the row
naming the field and the value.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import date, datetime, time, tzinfo
from decimal import Decimal
from typing import Any, Final

import attrs

from referral_ledger.errors import InvalidInput
from referral_ledger.policies.cells import restore
from referral_ledger.policies.folding import fold
from referral_ledger.policies.sheet_rows import IGNORE, blank, fields_under, parse_sheet_time
from referral_ledger.policies.vouchers import Voucher

#: The columns a row may set: the fields of `Voucher`.
VOUCHER_FIELDS: Final = frozenset(f.name for f in attrs.fields(Voucher))
#: Columns a voucher sheet (or `vouchers --to`) may hold that are not settings.
READ_ONLY: Final = frozenset({"used"})

#: The Vietnamese labels of each field (the first is the one to write).
VI_HEADERS: Final[Mapping[str, tuple[str, ...]]] = {
    "code": ("Mã voucher", "Mã giảm giá", "Mã", "Voucher"),
    "discount": ("Giảm giá", "Mức giảm", "Số tiền giảm"),
    "percent": ("Phần trăm giảm", "Giảm (%)", "% giảm"),
    "max_discount": ("Giảm tối đa",),
    "min_order": ("Giá trị đơn hàng", "Giá trị đơn tối thiểu", "Đơn tối thiểu"),
    "starts_at": ("Ngày bắt đầu", "Từ ngày"),
    "ends_at": ("Ngày kết thúc", "Đến ngày"),
    "warehouses": ("Kho áp dụng", "Kho"),
    "customer_tags": ("Thẻ khách hàng", "Khuyến mãi theo thẻ khách hàng"),
    "active": ("Kích hoạt",),
    "free_shipping": ("Miễn phí vận chuyển",),
    "usage_limit": ("Số lượt sử dụng", "Giới hạn sử dụng"),
    "per_customer_limit": ("Số lượt mỗi khách", "Giới hạn mỗi khách"),
    "used": ("Đã dùng",),
}

_YES: Final = frozenset({"yes", "y", "true", "1", "x", "co", "bat"})
_NO: Final = frozenset({"no", "n", "false", "0", "khong", "tat"})
_THOUSANDS: Final = re.compile(r"\d{1,3}(?:[.,]\d{3})+")
_NUMBER: Final = re.compile(r"\d+(?:\.\d+)?")
_CURRENCY: Final = re.compile(r"\s*(?:đ|₫|vnd|vnđ)\s*$", re.IGNORECASE)
_DAY: Final = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})(?:\s+(\d{1,2}):(\d{2}))?")
_MONEY: Final = frozenset({"discount", "max_discount", "min_order", "percent"})


def _key(header: object) -> str:
    return fold(str(header if header is not None else "")).replace("_", " ")


_KNOWN: Final = {
    **{_key(name): name for name in VOUCHER_FIELDS | READ_ONLY},
    **{_key(label): field for field, labels in VI_HEADERS.items() for label in labels},
}


def check_voucher_mapping(mapping: object) -> dict[str, str]:
    """A mapping {column: field or IGNORE}, checked: `InvalidInput` names a bad pair."""
    if not isinstance(mapping, Mapping):
        raise InvalidInput(f"mapping must be a mapping of column to field, not {mapping!r}")
    checked: dict[str, str] = {}
    for column, field in mapping.items():
        if not isinstance(column, str) or not column.strip():
            raise InvalidInput(f"mapping: a column must be a non-empty str, not {column!r}")
        if field != IGNORE and field not in VOUCHER_FIELDS | READ_ONLY:
            raise InvalidInput(
                f"mapping {column!r}: {field!r} is not a field; use one of "
                f"{', '.join(sorted(VOUCHER_FIELDS))} or {IGNORE!r} to ignore the column"
            )
        checked[column] = str(field)
    return checked


def voucher_header_fields(
    headers: Iterable[object], mapping: Mapping[str, str]
) -> list[str | None]:
    """The field under each header (None: ignored, unnamed or read-only).

    The mapping wins, then field names and `VI_HEADERS`; `InvalidInput` names
    every header that is none of these, or two columns holding one field."""
    mapped = {_key(column): field for column, field in mapping.items()}
    return fields_under(
        headers, lambda key: mapped.get(key) or _KNOWN.get(key), _key, skipped=READ_ONLY
    )


def voucher_sheet_row(
    row: Mapping[Any, object], mapping: Mapping[str, str], zone: tzinfo
) -> dict[str, object]:
    """A sheet row {header: cell} as `import_vouchers`' row {field: value}."""
    if not isinstance(row, Mapping):
        raise InvalidInput(f"a row must be a mapping of column names to values, not {row!r}")
    headers = list(row)
    cells = {
        field: row[header]
        for field, header in zip(voucher_header_fields(headers, mapping), headers, strict=True)
        if field is not None and not blank(row[header])
    }
    result = {field: _cell(field, cell, zone) for field, cell in cells.items()}
    discount = result.get("discount")
    if isinstance(discount, str) and discount.endswith("%") and "percent" not in result:
        # "10%" in the discount column: a percentage.
        result["percent"] = _money(discount[:-1].strip())
        del result["discount"]
    return result


def _cell(field: str, cell: object, zone: tzinfo) -> object:
    if isinstance(cell, str):
        cell = restore(cell).strip()  # a `'` an export put before a formula start
    if isinstance(cell, float):
        # A spreadsheet keeps numbers as floats; the ledger takes no floats.
        cell = int(cell) if cell.is_integer() else Decimal(repr(cell))
    if field in _MONEY:
        if isinstance(cell, str) and not (field == "discount" and cell.endswith("%")):
            return _money(cell.removesuffix("%") if field == "percent" else cell)
        return cell
    if field in ("starts_at", "ends_at"):
        return _time(cell, zone)
    if field in ("warehouses", "customer_tags"):
        names = [n.strip() for n in re.split(r"[,;\n]", str(cell)) if n.strip()]
        return names or str(cell)
    if field in ("active", "free_shipping"):
        return _flag(cell)
    if field in ("usage_limit", "per_customer_limit"):
        return int(cell) if isinstance(cell, str) and cell.isdigit() else cell
    return str(cell)


def _money(text: str) -> object:
    bare = _CURRENCY.sub("", text).strip()
    if _THOUSANDS.fullmatch(bare):
        return Decimal(re.sub(r"[.,]", "", bare))  # thousands grouped, either way
    if _NUMBER.fullmatch(bare):
        return Decimal(bare)
    return text  # the voucher refuses it, naming the value


def _time(cell: object, zone: tzinfo) -> object:
    if isinstance(cell, datetime):
        return cell if cell.tzinfo else cell.replace(tzinfo=zone)
    if isinstance(cell, date):
        return datetime.combine(cell, time(), zone)
    if not isinstance(cell, str):
        return cell
    day = _DAY.fullmatch(cell)
    try:
        if day:
            d, m, y, hh, mm = day.groups()
            clock = time(int(hh), int(mm)) if hh else time()
            return datetime.combine(date(int(y), int(m), int(d)), clock, zone)
        return parse_sheet_time(cell, zone)
    except ValueError:
        return cell


def _flag(cell: object) -> object:
    if isinstance(cell, bool):
        return cell
    key = fold(str(cell))
    if key in _YES:
        return True
    if key in _NO:
        return False
    return cell
