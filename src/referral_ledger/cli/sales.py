"""The sale commands: `vouchers` (the list, with their uses) and `commissions REFERRER`
(a referrer's commission lines), as tables, csv, json or a .xlsx/.csv file (`--to`)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from datetime import tzinfo
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID

import attrs
from rich.console import Console

from referral_ledger import demo_sales
from referral_ledger.cli.base import Record, UsageError, find_customer, open_ledger
from referral_ledger.cli.render import Column, _day, emit, records, table, write_table
from referral_ledger.commands.referral_codes import CommissionRow
from referral_ledger.ledger import Ledger
from referral_ledger.policies.vouchers import VoucherState

#: The order a referrer's commission lines are summed in the title.
STATUSES = ("pending", "due", "paid", "void")


def _discount(voucher: VoucherState) -> str:
    if voucher.percent is None:
        return f"{voucher.discount:,}"
    cap = "" if voucher.max_discount is None else f" (at most {voucher.max_discount:,})"
    return f"{voucher.percent}%{cap}"


def _names(names: frozenset[str] | None) -> str:
    return "all" if names is None else ", ".join(sorted(names))


def _used(voucher: VoucherState) -> str:
    limit = voucher.usage_limit
    return str(voucher.used) if limit is None else f"{voucher.used} of {limit}"


def voucher_columns(zone: tzinfo) -> list[Column]:
    day = _day(zone)
    return [
        ("Code", lambda v: v.code, "left"),
        ("Discount", _discount, "right"),
        ("Min order", lambda v: v.min_order, "right"),
        ("Starts", lambda v: day(v.starts_at), "left"),
        ("Ends", lambda v: day(v.ends_at), "left"),
        ("Warehouses", lambda v: _names(v.warehouses), "left"),
        ("Tags", lambda v: _names(v.customer_tags), "left"),
        ("Active", lambda v: "yes" if v.active else "no", "left"),
        ("Free shipping", lambda v: "yes" if v.free_shipping else "no", "left"),
        ("Used", _used, "right"),
        ("Per customer", lambda v: v.per_customer_limit, "right"),
    ]


def commission_columns(zone: tzinfo, names: dict[UUID, str]) -> list[Column]:
    day = _day(zone)
    return [
        ("Invoice", lambda r: r.invoice_id, "left"),
        ("Customer", lambda r: names.get(r.customer_id, str(r.customer_id)), "left"),
        ("Amount", lambda r: r.amount, "right"),
        ("Commission", lambda r: r.commission, "right"),
        ("Status", lambda r: r.status, "left"),
        ("Due", lambda r: day(r.due_at), "left"),
    ]


def commissions_title(ledger: Ledger, referrer: UUID, rows: Sequence[CommissionRow]) -> str:
    """The table's title: the referrer's name and the sums by status (those not zero)."""
    customer = ledger.get_customer(referrer)
    sums = {
        status: sum((r.commission for r in rows if r.status == status), Decimal(0))
        for status in STATUSES
    }
    shown = ", ".join(f"{status} {total:,}" for status, total in sums.items() if total)
    return f"Commissions of {customer.name}" + (f": {shown}" if shown else "")


def sale_records(ledger: Ledger, kind: str, who: str | None) -> tuple[list[Record], list[str]]:
    """`export vouchers` / `export commissions ID`: every field, times in business time."""
    zone = ledger.business_timezone
    if kind == "vouchers":
        return records(ledger.vouchers(), zone), [f.name for f in attrs.fields(VoucherState)]
    assert who is not None
    rows = ledger.commissions(find_customer(ledger, who))
    return records(rows, zone), [f.name for f in attrs.fields(CommissionRow)]


def _write(target: Path, rows: Sequence[Any], kind: type[Any], zone: tzinfo) -> None:
    if target.suffix.lower() not in (".csv", ".xlsx"):
        raise UsageError(f"--to {target}: the file must end in .xlsx or .csv")
    write_table(target, records(rows, zone), [f.name for f in attrs.fields(kind)])
    print(f"{len(rows)} rows written to {target}")


def run_vouchers(args: argparse.Namespace) -> int:
    with open_ledger(args.db) as ledger:
        rows = ledger.vouchers()
        zone = ledger.business_timezone
        if args.to is not None:
            _write(args.to, rows, VoucherState, zone)
            return 0
        emit(args.format, rows, voucher_columns(zone), "Vouchers", zone=zone)
    return 0


def run_commissions(args: argparse.Namespace) -> int:
    with open_ledger(args.db) as ledger:
        referrer = find_customer(ledger, args.referrer)
        rows = ledger.commissions(referrer, as_of=args.as_of)
        zone = ledger.business_timezone
        if args.to is not None:
            _write(args.to, rows, CommissionRow, zone)
            return 0
        names = {c: ledger.get_customer(c).name for c in {r.customer_id for r in rows}}
        columns = commission_columns(zone, names)
        emit(args.format, rows, columns, commissions_title(ledger, referrer, rows), zone=zone)
    return 0


def show_demo_sales(console: Console, ledger: Ledger, customers: dict[str, UUID]) -> None:
    """The demo's sales scene (`demo_sales`): the vouchers, and the referrer's commissions."""
    zone = ledger.business_timezone
    console.print(table("Vouchers", ledger.vouchers(), voucher_columns(zone)))
    referrer = customers[demo_sales.REFERRER]
    rows = ledger.commissions(referrer)
    names = {c: ledger.get_customer(c).name for c in {r.customer_id for r in rows}}
    title = f"{commissions_title(ledger, referrer, rows)} (code {ledger.referral_code(referrer)})"
    console.print(table(title, rows, commission_columns(zone, names)))
