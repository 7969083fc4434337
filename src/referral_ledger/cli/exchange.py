"""The columns customers and purchases are exchanged in: `export` writes exactly
columns `import` reads (`policies.sheet_rows.SHEET_FIELDS`), from one list each,
so an export imports back."""

from __future__ import annotations

from typing import Final
from uuid import UUID

from eventsourcing.utils import get_topic

from referral_ledger.aggregates.customer import Customer, CustomerRegistered
from referral_ledger.aggregates.loyalty import InvoiceRecorded
from referral_ledger.audit import read_log
from referral_ledger.cli.base import Record, UsageError
from referral_ledger.ledger import Ledger
from referral_ledger.policies.sheet_rows import PURCHASE_IMPORT_COLUMNS, VI_HEADERS

#: What `export customers` writes and `import customers` reads, in that order.
CUSTOMER_COLUMNS: Final = (
    "external_id", "name", "phones", "email", "group", "source", "tags", "notes",
    "addresses", "assigned_staff",
)  # fmt: skip
#: What `export purchases` writes and `import purchases` reads, in that order.
PURCHASE_COLUMNS: Final = PURCHASE_IMPORT_COLUMNS


def customer_row(customer: Customer) -> Record:
    """A customer in `CUSTOMER_COLUMNS`, as `import customers` reads it back."""
    return {
        "external_id": customer.external_id,
        "name": customer.name,
        "phones": "; ".join(customer.phones),
        "email": customer.email,
        "group": customer.group,
        "source": customer.source,
        "tags": _lines(sorted(customer.tags)),
        "notes": customer.notes,
        "addresses": "\n".join(customer.addresses) or None,
        "assigned_staff": customer.assigned_staff,
    }


def _lines(tags: list[str]) -> str | None:
    """Tags one a line. A cell on one line is split at `,` and `;` on import, so a
    lone tag holding one ends with a line break, which makes it read as a line."""
    if len(tags) == 1 and any(mark in tags[0] for mark in ",;"):
        return tags[0] + "\n"
    return "\n".join(tags) or None


def customer_records(ledger: Ledger) -> list[Record]:
    """Every customer, in registration order."""
    result: list[Record] = []
    for entry in read_log(ledger, (get_topic(CustomerRegistered),)):
        if entry.event is not None:
            result.append(customer_row(ledger.get_customer(entry.event.originator_id)))
    return result


def purchase_records(ledger: Ledger) -> list[Record]:
    """Every invoice as recorded, in `PURCHASE_COLUMNS`; times in business time."""
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
                "at": event.at.astimezone(ledger.business_timezone).isoformat(),
            }
        )
    return result


def with_headers(
    kind: str, rows: list[Record], fields: list[str], headers: str
) -> tuple[list[Record], list[str]]:
    """`rows` under `headers`: "en" the field names, "vi" the Vietnamese headers that
    `import` reads without a `--map` (`policies.sheet_rows.VI_HEADERS`)."""
    if headers == "en":
        return rows, fields
    if kind not in ("customers", "purchases"):
        raise UsageError(
            f"--headers {headers}: only the customers and purchases exports (the tables "
            f"import reads) have Vietnamese headers, not {kind}"
        )
    names = VI_HEADERS[kind]
    return [{names[f]: row.get(f) for f in fields} for row in rows], [names[f] for f in fields]
