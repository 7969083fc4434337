"""The directory's questions: customers filtered, searched, sorted and paged.

The same SQL on both dialects, but for the search, which each answers from
its own index (`ViewsSQL.customer_search`: FTS5 trigrams on SQLite, a GIN
trigram index on PostgreSQL). Callers check their arguments
first (`commands/directory.py`); these only read.
"""

from __future__ import annotations

from typing import Final

import attrs

from referral_ledger.projections.dialects import ViewsSQL
from referral_ledger.projections.directory import CustomerRow
from referral_ledger.projections.directory_sql import escape_like
from referral_ledger.projections.folding import fold, phone_term
from referral_ledger.projections.rows import customer_from

#: The columns `customers` can sort by.
SORTABLE: Final = frozenset(field.name for field in attrs.fields(CustomerRow))
#: What `sort_by` maps to: the folded key for the name (so `Đặng` sorts with
#: D), the column of `group` (a reserved word in SQL).
_SORT_KEYS: Final = {"name": "name_key", "group": "customer_group"}
#: The columns that can hold NULL (their annotation admits None).
_NULLABLE: Final = frozenset(f.name for f in attrs.fields(CustomerRow) if "None" in str(f.type))


@attrs.frozen(kw_only=True)
class CustomerFilter:
    """Which customers: every given filter must hold."""

    search: str | None = None
    tag: str | None = None
    group: str | None = None
    staff: str | None = None
    level: str | None = None
    source: str | None = None
    #: The phone region a phone typed without a country code is read in.
    region: str = "VN"


def customers(
    sql: ViewsSQL,
    which: CustomerFilter,
    *,
    sort_by: str,
    descending: bool,
    limit: int,
    offset: int,
) -> list[CustomerRow]:
    where, params = _where(sql, which)
    column = _SORT_KEYS.get(sort_by, sort_by)
    direction = "DESC" if descending else "ASC"
    # Nulls last either way, and a total order (the id breaks ties) so pages
    # never overlap.
    terms = [f"{column} {direction}"]
    if sort_by in _NULLABLE:
        terms.insert(0, f"{column} IS NULL")
    if sort_by != "customer_id":
        terms.append("customer_id ASC")
    order = f"ORDER BY {', '.join(terms)} LIMIT ? OFFSET ?"
    if sql.postgres and which.search and len(search_term(which.search, which.region)) >= 3:
        # The matches first, then their order: PostgreSQL's planner, unable
        # to tell how many rows a trigram search finds, walked the name
        # index and tested every row on the way (16 s over 1,000,000
        # customers for a name 1,667 of them share; 160 ms this way).
        query = (
            f"WITH hits AS MATERIALIZED (SELECT * FROM {{p}}rl_customers WHERE {where}) "
            f"SELECT * FROM hits {order}"
        )
    else:
        query = f"SELECT * FROM {{p}}rl_customers WHERE {where} {order}"
    rows = sql.read(query, (*params, limit, offset))
    return [customer_from(row) for row in rows]


def count_customers(sql: ViewsSQL, which: CustomerFilter) -> int:
    where, params = _where(sql, which)
    rows = sql.read(f"SELECT COUNT(*) AS n FROM {{p}}rl_customers WHERE {where}", tuple(params))
    return int(rows[0]["n"])


def _where(sql: ViewsSQL, which: CustomerFilter) -> tuple[str, list[object]]:
    where: list[str] = ["1 = 1"]
    params: list[object] = []
    for column, value in (
        ("customer_group", which.group),
        ("assigned_staff", which.staff),
        ("level", which.level),
        ("source", which.source),
    ):
        if value is not None:
            where.append(f"{column} = ?")
            params.append(value)
    if which.tag is not None:
        where.append("tags LIKE ? ESCAPE '\\'")
        params.append(f"%\n{escape_like(which.tag)}\n%")
    if which.search:
        clause, values = sql.customer_search(search_term(which.search, which.region))
        where.append(clause)
        params.extend(values)
    return " AND ".join(where), params


def search_term(search: str, region: str) -> str:
    """What a search looks for in the folded text: a phone number's digits
    (as typed, or all of them when it is a whole number), else the folded term."""
    digits = phone_term(search.strip(), region)
    return digits if digits is not None else fold(search)
