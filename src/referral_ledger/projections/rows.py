"""The views' rows as SQL stores them: columns, and values in and out.

One encoding for both dialects, so a view's table holds the same text on
SQLite and PostgreSQL, and `ViewStore.dump()` of one equals the other's.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Final
from uuid import UUID

from referral_ledger.aggregates.referral import ReferralStatus
from referral_ledger.projections.directory import CustomerRow
from referral_ledger.projections.leads import LeadRow

#: Lifecycle order: the status column's indexed, sortable twin.
STATUS_RANK: Final = {status: rank for rank, status in enumerate(ReferralStatus)}

#: The lead table's columns, in the order `lead_params` gives their values;
#: the first is the key.
LEAD_COLUMNS: Final = (
    "referral_id", "referrer_id", "name", "phone", "email", "business_name", "website",
    "industry", "program", "status", "status_rank", "rep", "submitted_at", "updated_at",
    "sales_assistance", "contacted", "plan", "reward", "rewarded_at", "referred_customer_id",
    "search", "name_key", "business_key",
)  # fmt: skip


def time_text(value: datetime) -> str:
    """A moment as stored: text whose order is the moments' order."""
    # One offset and one fixed width, so text order is time order on every
    # store: `08:00+07:00` is before `02:00+00:00`, and must sort so.
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def uuid_or_none(value: str | None) -> UUID | None:
    return None if value is None else UUID(value)


def lead_params(lead: LeadRow) -> tuple[Any, ...]:
    """The values of a lead's columns, in `LEAD_COLUMNS` order."""
    return (
        lead.referral_id.hex,
        lead.referrer_id.hex,
        lead.name,
        lead.phone,
        lead.email,
        lead.business_name,
        lead.website,
        lead.industry,
        lead.program,
        lead.status.value,
        STATUS_RANK[lead.status],
        lead.rep,
        time_text(lead.submitted_at),
        time_text(lead.updated_at),
        int(lead.sales_assistance),
        int(lead.contacted),
        lead.plan,
        None if lead.reward is None else str(lead.reward),
        None if lead.rewarded_at is None else time_text(lead.rewarded_at),
        None if lead.referred_customer_id is None else lead.referred_customer_id.hex,
        lead.search,
        lead.name_key,
        lead.business_key,
    )


def lead_from(row: Any) -> LeadRow:
    """The lead a row of the lead table holds (a mapping by column name)."""
    return LeadRow(
        referral_id=UUID(row["referral_id"]),
        referrer_id=UUID(row["referrer_id"]),
        name=row["name"],
        phone=row["phone"],
        email=row["email"],
        business_name=row["business_name"],
        website=row["website"],
        industry=row["industry"],
        program=row["program"],
        status=ReferralStatus(row["status"]),
        rep=row["rep"],
        submitted_at=datetime.fromisoformat(row["submitted_at"]),
        updated_at=datetime.fromisoformat(row["updated_at"]),
        sales_assistance=bool(row["sales_assistance"]),
        contacted=bool(row["contacted"]),
        plan=row["plan"],
        reward=None if row["reward"] is None else Decimal(row["reward"]),
        rewarded_at=None
        if row["rewarded_at"] is None
        else datetime.fromisoformat(row["rewarded_at"]),
        referred_customer_id=uuid_or_none(row["referred_customer_id"]),
    )


#: The directory's columns, in the order `customer_params` gives their values;
#: the first is the key. `group` is a reserved word in SQL: its column is
#: `customer_group`.
CUSTOMER_COLUMNS: Final = (
    "customer_id", "name", "phones", "email", "customer_group", "tags", "level", "source",
    "assigned_staff", "purchase_count", "balance", "registered_at", "name_key", "search",
)  # fmt: skip


def tags_text(tags: frozenset[str]) -> str:
    """Tags as stored: sorted, each between new lines (a tag has none), so a
    filter matches a whole tag: `LIKE '%\\nvip\\n%'`."""
    return "".join(f"\n{tag}" for tag in sorted(tags)) + "\n" if tags else ""


def customer_params(row: CustomerRow) -> tuple[Any, ...]:
    """The values of a directory row's columns, in `CUSTOMER_COLUMNS` order."""
    return (
        row.customer_id.hex,
        row.name,
        "\n".join(row.phones),
        row.email,
        row.group,
        tags_text(row.tags),
        row.level,
        row.source,
        row.assigned_staff,
        row.purchase_count,
        row.balance,
        time_text(row.registered_at),
        row.name_key,
        row.search,
    )


def customer_from(row: Any) -> CustomerRow:
    """The directory row a table row holds (a mapping by column name)."""
    return CustomerRow(
        customer_id=UUID(row["customer_id"]),
        name=row["name"],
        phones=tuple(row["phones"].split("\n")) if row["phones"] else (),
        email=row["email"],
        group=row["customer_group"],
        tags=frozenset(row["tags"].split("\n")) - {""},
        level=row["level"],
        source=row["source"],
        assigned_staff=row["assigned_staff"],
        purchase_count=int(row["purchase_count"]),
        balance=int(row["balance"]),
        registered_at=datetime.fromisoformat(row["registered_at"]),
    )
