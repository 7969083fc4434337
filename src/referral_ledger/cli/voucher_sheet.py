"""`import vouchers FILE`: a sheet of vouchers (Pancake's "Tạo vouchers" fields) into the ledger.

Headers are the `Voucher` field names or the labels a Vietnamese shop uses
("Mã voucher", "Giảm giá", "Ngày bắt đầu", ...), matched without case or
accents; `--map COLUMN=FIELD` names any other. Cells are read as a person
types them: "10%" in the discount column is a percentage, "50.000" and
"50,000 đ" are fifty thousand (đồng have no fractions), dates are ISO or
day/month/year, yes/no columns take "có/không", "x", "yes/no", "true/false"
and 1/0. What cannot be read is passed on as it is, so the ledger rejects the
row naming the value; each row is recorded whole or not at all.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Mapping
from datetime import date, datetime, time, tzinfo
from decimal import Decimal
from pathlib import Path
from typing import Final

from referral_ledger.cli.base import (
    IGNORE,
    PROG,
    CommandError,
    Record,
    UsageError,
    open_ledger,
    parse_cli_time,
)
from referral_ledger.cli.cells import restore
from referral_ledger.cli.sheets import parse_map, read_sheet
from referral_ledger.commands.voucher_import import VOUCHER_FIELDS
from referral_ledger.policies.folding import fold

#: Columns a voucher sheet (or `vouchers --to`) may hold that are not settings.
READ_ONLY: Final = frozenset({"used"})

#: Header spellings (folded: lower case, no accents) → field. The field names
#: themselves, with "_" or " ", are read too.
ALIASES: Final = {
    "ma": "code",
    "ma voucher": "code",
    "ma giam gia": "code",
    "voucher": "code",
    "giam gia": "discount",
    "muc giam": "discount",
    "so tien giam": "discount",
    "phan tram giam": "percent",
    "giam (%)": "percent",
    "% giam": "percent",
    "giam toi da": "max_discount",
    "gia tri don hang": "min_order",
    "gia tri don toi thieu": "min_order",
    "don toi thieu": "min_order",
    "ngay bat dau": "starts_at",
    "tu ngay": "starts_at",
    "ngay ket thuc": "ends_at",
    "den ngay": "ends_at",
    "kho ap dung": "warehouses",
    "kho": "warehouses",
    "the khach hang": "customer_tags",
    "khuyen mai theo the khach hang": "customer_tags",
    "kich hoat": "active",
    "mien phi van chuyen": "free_shipping",
    "so luot su dung": "usage_limit",
    "gioi han su dung": "usage_limit",
    "so luot moi khach": "per_customer_limit",
    "gioi han moi khach": "per_customer_limit",
    "da dung": "used",
}

_YES: Final = frozenset({"yes", "y", "true", "1", "x", "co", "bat"})
_NO: Final = frozenset({"no", "n", "false", "0", "khong", "tat"})
_MONEY: Final = re.compile(r"\d{1,3}(?:[.,]\d{3})+|\d+(?:\.\d+)?")
_CURRENCY: Final = re.compile(r"\s*(?:đ|₫|vnd|vnđ)\s*$", re.IGNORECASE)
_DAY: Final = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})(?:\s+(\d{1,2}):(\d{2}))?")
_MONEY_FIELDS: Final = frozenset({"discount", "max_discount", "min_order", "percent"})


def field_of(header: str, mapping: Mapping[str, str]) -> str | None:
    """The field a column header names (None: a blank header)."""
    text = header.strip()
    if not text:
        return None
    if text in mapping:
        return mapping[text]
    key = fold(text).replace("_", " ")
    if key in ALIASES:
        return ALIASES[key]
    named = key.replace(" ", "_")
    return named if named in VOUCHER_FIELDS | READ_ONLY else text


def voucher_rows(path: Path, mapping: Mapping[str, str]) -> list[tuple[int, Record]]:
    """The data rows as {field: cell} (blank cells left out), numbered as in the file."""
    rows = read_sheet(path)
    first = next(rows, None)
    if first is None:
        raise CommandError(f"{path} is empty: it needs a header row naming the columns")
    fields = [field_of(str(h or ""), mapping) for h in first[1]]
    known = VOUCHER_FIELDS | READ_ONLY | {IGNORE}
    unknown = [f for f in fields if f is not None and f not in known]
    if unknown:
        raise CommandError(
            f"{path}: unknown column(s) {', '.join(map(repr, unknown))}; map them with "
            f"--map 'COLUMN=FIELD' (fields: {', '.join(sorted(VOUCHER_FIELDS))}) "
            f"or --map 'COLUMN={IGNORE}'"
        )
    twice = sorted({f for f in fields if f in VOUCHER_FIELDS and fields.count(f) > 1})
    if twice:
        raise CommandError(f"{path}: more than one column for {', '.join(twice)}")
    result = []
    for number, cells in rows:
        row: Record = {}
        for field, cell in zip(fields, cells, strict=False):
            blank = cell is None or (isinstance(cell, str) and not cell.strip())
            if field in VOUCHER_FIELDS and not blank:
                row[field] = cell
        if row:
            result.append((number, row))
    return result


def voucher_row(cells: Record, zone: tzinfo) -> Record:
    """A sheet row as `import_vouchers` takes it: cells read as typed (times in `zone`)."""
    row = {field: _cell(field, cell, zone) for field, cell in cells.items()}
    discount = row.get("discount")
    if isinstance(discount, str) and discount.endswith("%") and "percent" not in row:
        # "10%" in the discount column: a percentage.
        row["percent"] = _money(discount[:-1].strip())
        del row["discount"]
    return row


def _cell(field: str, cell: object, zone: tzinfo) -> object:
    if isinstance(cell, str):
        cell = restore(cell).strip()
    if isinstance(cell, float):
        # A spreadsheet keeps numbers as floats; the ledger takes no floats.
        cell = int(cell) if cell.is_integer() else Decimal(repr(cell))
    if field in _MONEY_FIELDS:
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
    return str(cell) if isinstance(cell, int) or field != "code" else cell


def _money(text: str) -> object:
    bare = _CURRENCY.sub("", text).strip()
    if not _MONEY.fullmatch(bare):
        return text  # the ledger rejects the row, naming the value
    if re.fullmatch(r"\d{1,3}(?:[.,]\d{3})+", bare):
        return Decimal(re.sub(r"[.,]", "", bare))  # thousands grouped, either way
    return Decimal(bare)


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
        return parse_cli_time(cell, zone)
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


def run_voucher_import(args: argparse.Namespace) -> int:
    """`import vouchers FILE`: each row a voucher, created whole or rejected with its reason."""
    mapping = parse_map(args.map, VOUCHER_FIELDS | READ_ONLY)
    if args.on_duplicate_phone != "reject":
        raise UsageError("--on-duplicate-phone is for customers only")
    if args.report is not None:
        raise UsageError("--report is for customers and purchases; vouchers list their rows")
    if not args.file.exists():
        raise CommandError(f"no such file: {args.file}")
    if args.file.is_dir():
        raise CommandError(f"{args.file} is a directory, not a .csv or .xlsx file")
    cells = voucher_rows(args.file, mapping)
    with open_ledger(args.db, create=True) as ledger:
        zone = ledger.business_timezone
        report = ledger.import_vouchers(
            [voucher_row(row, zone) for _, row in cells], update=args.update
        )
    rejected = [(cells[index - 1][0], reason) for index, reason in report.rejected]
    counts = {
        "created": report.created,
        "updated": report.updated,
        "unchanged": report.unchanged,
        "rejected": len(rejected),
    }
    print(f"{args.file}: {len(cells)} rows; " + ", ".join(f"{n} {k}" for k, n in counts.items()))
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
