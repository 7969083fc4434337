"""Questions answered from the views' tables: the same SQL on both dialects.

Callers check their arguments first (`commands/views.py`); these only read.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, Final
from uuid import UUID

import attrs

from referral_ledger.aggregates.referral import ReferralStatus
from referral_ledger.projections import leads as fold
from referral_ledger.projections.dialects import ViewsSQL
from referral_ledger.projections.folding import fold as fold_text
from referral_ledger.projections.folding import phone_term, website_key
from referral_ledger.projections.leads import ConversionRow, HistoryRow, LeadRow
from referral_ledger.projections.rows import STATUS_RANK, lead_from, time_text, uuid_or_none
from referral_ledger.values import DEFAULT_REGION

#: The columns `lead_table` can sort by.
SORTABLE: Final = frozenset(field.name for field in attrs.fields(LeadRow))
#: The largest `OFFSET` either database takes: a signed 64-bit integer
#: (SQLite's INTEGER, PostgreSQL's bigint); Python's ints go past it.
MAX_OFFSET: Final = 2**63 - 1

#: What `sort_by` maps to: folded keys for names (so `Đặng` sorts with D, not
#: after Z), lifecycle order for status, numbers for money.
_SORT_KEYS: Final = {
    "status": "status_rank",
    "name": "name_key",
    "business_name": "business_key",
    "reward": "CAST(reward AS NUMERIC)",
}
#: The LeadRow columns that can hold NULL (their annotation admits None).
_NULLABLE: Final = frozenset(f.name for f in attrs.fields(LeadRow) if "None" in str(f.type))


def lead_table(
    sql: ViewsSQL,
    *,
    status: ReferralStatus | None,
    program: str | None,
    search: str | None,
    sort_by: str,
    descending: bool,
    limit: int,
    offset: int,
    region: str = DEFAULT_REGION,
) -> list[LeadRow]:
    where, params = _lead_where(status, program, search, region)
    key = _SORT_KEYS.get(sort_by, sort_by)
    direction = "DESC" if descending else "ASC"
    # Nulls last either way, and a total order so pages never overlap.
    # The null test is on the column itself (a folded key is '' for a
    # null), and only where nulls can be: on a NOT NULL column it would
    # keep the planner from reading an index in order and stopping at LIMIT.
    terms = [f"{key} {direction}"] + [
        f"{tie} ASC" for tie in ("submitted_at", "referral_id") if tie != sort_by
    ]
    if sort_by in _NULLABLE:
        terms.insert(0, f"{sort_by} IS NULL")
    order = ", ".join(terms)
    query = "SELECT * FROM {p}rl_leads WHERE " + where + f" ORDER BY {order} LIMIT ? OFFSET ?"
    rows = sql.read(query, (*params, limit, offset))
    return [lead_from(row) for row in rows]


def count_leads(
    sql: ViewsSQL,
    *,
    status: ReferralStatus | None,
    program: str | None,
    search: str | None,
    region: str = DEFAULT_REGION,
) -> int:
    """How many leads `lead_table` would page through with these filters."""
    where, params = _lead_where(status, program, search, region)
    rows = sql.read("SELECT COUNT(*) AS n FROM {p}rl_leads WHERE " + where, tuple(params))
    return int(rows[0]["n"])


def _lead_where(
    status: ReferralStatus | None, program: str | None, search: str | None, region: str
) -> tuple[str, list[object]]:
    where: list[str] = ["1 = 1"]
    params: list[object] = []
    if status is not None:
        where.append("status_rank = ?")  # the indexed form of the status
        params.append(STATUS_RANK[status])
    if program is not None:
        where.append("program = ?")
        params.append(program)
    if search:
        where.append("search LIKE ? ESCAPE '\\'")
        params.append(f"%{_escape_like(search, region)}%")
    return " AND ".join(where), params


def referral_history(sql: ViewsSQL, referrer_id: UUID) -> list[HistoryRow]:
    query = (
        "SELECT l.*, r.revenue FROM {p}rl_leads l LEFT JOIN {p}rl_revenue r "
        "ON r.customer_id = l.referred_customer_id "
        "WHERE l.referrer_id = ? AND l.status = ? ORDER BY l.rewarded_at, l.referral_id"
    )
    with sql.transaction(commit=False) as cursor:
        rows = sql.execute(cursor, query, (referrer_id.hex, ReferralStatus.REWARDED.value))
    return [
        HistoryRow(
            referral_id=UUID(row["referral_id"]),
            referrer_id=UUID(row["referrer_id"]),
            date=datetime.fromisoformat(row["rewarded_at"]),
            plan=row["plan"],
            revenue=Decimal(row["revenue"] or 0),
            reward=Decimal(row["reward"]),
            name=row["name"],
            business_name=row["business_name"],
            referred_customer_id=uuid_or_none(row["referred_customer_id"]),
        )
        for row in rows
    ]


def conversion_by_rep(
    sql: ViewsSQL, since: datetime | None, until: datetime | None
) -> list[ConversionRow]:
    where, params = ["1 = 1"], []
    if since is not None:
        where.append("submitted_at >= ?")
        params.append(time_text(since))
    if until is not None:
        where.append("submitted_at < ?")
        params.append(time_text(until))
    query = (
        "SELECT rep, COUNT(*) AS leads, SUM(contacted) AS contacts, "
        "SUM(CASE WHEN status = ? THEN 1 ELSE 0 END) AS customers "
        "FROM {p}rl_leads WHERE " + " AND ".join(where) + " GROUP BY rep"
    )
    with sql.transaction(commit=False) as cursor:
        rows = sql.execute(cursor, query, (ReferralStatus.REWARDED.value, *params))
    result = [
        fold.conversion_row(
            row["rep"], int(row["leads"]), int(row["contacts"]), int(row["customers"])
        )
        for row in rows
    ]
    return sorted(result, key=lambda r: (r.rep is None, r.rep or ""))


def leaderboard(sql: ViewsSQL, campaign_id: str, limit: int) -> list[tuple[UUID, int]]:
    """A campaign's racers, best first, ties to who reached the figure first."""
    with sql.transaction(commit=False) as cursor:
        rows = sql.execute(
            cursor,
            "SELECT customer_id, points FROM {p}rl_campaign_points WHERE campaign_id = ? "
            "ORDER BY points DESC, reached LIMIT ?",
            (campaign_id, limit),
        )
    return [(UUID(row["customer_id"]), int(row["points"])) for row in rows]


def dump(sql: ViewsSQL) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every view, sorted: for comparing a live view with a rebuild."""
    tables = {
        "leads": "rl_leads",
        "revenue": "rl_revenue",
        "customers": "rl_customers",
        "leaderboard": "rl_campaign_points",
    }
    result = {}
    with sql.transaction(commit=False) as cursor:
        for name, table in tables.items():
            rows = sql.execute(cursor, "SELECT * FROM {p}" + table)
            # SQLite's row number of a customer is its search index's key,
            # not a value of the view: it may differ between two builds.
            result[name] = sorted(
                tuple(str(v) for k, v in dict(row).items() if k != "row_no") for row in rows
            )
    return result


def _escape_like(term: str, region: str) -> str:
    # A term that looks like a web address is matched as one: no scheme,
    # `www.` or trailing slash, as the leads' websites are keyed; one that is
    # a phone number (or part of one), as its digits.
    looks_like_url = "://" in term or term.startswith("www.") or term.endswith("/")
    digits = phone_term(term.strip(), region)
    if digits is not None:
        folded = digits
    else:
        folded = website_key(term) if looks_like_url else fold_text(term)
    return folded.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
