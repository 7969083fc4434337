"""The views' tables in SQL: their columns, DDL, indexes and upsert clauses.

What each view's table looks like, written once for both databases; the
few words that differ (the text type, storage options, the directory's
key) come from the dialect (`dialects.py`, which runs these statements).
The directory's own pieces (its indexes, search index) are in
`directory_sql.py`. Statements use `{p}` before a table name (the schema on
PostgreSQL).
"""

from __future__ import annotations

from typing import Final

import attrs

from referral_ledger.projections.directory_sql import CUSTOMER_INDEXES
from referral_ledger.projections.rows import LEAD_COLUMNS

#: The views' tables (the position table is the tracking's, and outlives
#: them); SQLite's search index of the directory is a table of its own.
VIEW_TABLES: Final = (
    "rl_leads",
    "rl_revenue",
    "rl_customers",
    "rl_customers_fts",
    "rl_campaign_points",
)

#: Plain indexes for the filters and the common sorts; each ends with the
#: tie-breakers, so a page in that order can be read off the index.
LEAD_INDEXES: Final = {
    "submitted": "submitted_at, referral_id",
    "updated": "updated_at, submitted_at, referral_id",
    "status": "status_rank, submitted_at, referral_id",
    "program": "program, submitted_at, referral_id",
    "name": "name_key, submitted_at, referral_id",
    "business": "business_key, submitted_at, referral_id",
    "rep": "rep, submitted_at",
}
LEAD_CONFLICT: Final = "ON CONFLICT (referral_id) DO UPDATE SET " + ", ".join(
    f"{c} = excluded.{c}" for c in LEAD_COLUMNS[1:]
)
REVENUE_COLUMNS: Final = ("customer_id", "revenue")
REVENUE_CONFLICT: Final = "ON CONFLICT (customer_id) DO UPDATE SET revenue = excluded.revenue"
STANDING_COLUMNS: Final = ("campaign_id", "customer_id", "points", "reached")
STANDING_CONFLICT: Final = (
    "ON CONFLICT (campaign_id, customer_id) DO UPDATE SET "
    "points = excluded.points, reached = excluded.reached"
)

#: PostgreSQL leaves room in each page of the revenue table, so updating a
#: customer's revenue (every purchase) writes the new row version in the same
#: page and no index entry (a HOT update), and later reads prune the old
#: versions. Full pages (the default) make every update a new index entry and
#: leave a dead row behind, until a vacuum: a rebuild that updates each
#: customer's row many times got slower as it went (and the table 4x bigger).
REVENUE_FILL: Final = "fillfactor = 50"


@attrs.frozen(kw_only=True)
class TableWords:
    """What a dialect puts into the views' CREATE TABLE statements."""

    #: The column type of text values.
    text: str
    #: What follows the revenue table's column list.
    revenue_storage: str
    #: The directory's key column(s): SQLite's search index needs a stable
    #: integer row number as well.
    customer_key: str
    #: What follows the directory's column list.
    customer_storage: str


def table_statements(words: TableWords) -> list[str]:
    """CREATE TABLE and CREATE INDEX of the views (IF NOT EXISTS)."""
    text = words.text
    return [
        "CREATE TABLE IF NOT EXISTS {p}rl_leads ("
        f"referral_id {text} PRIMARY KEY, referrer_id {text} NOT NULL, "
        f"name {text} NOT NULL, phone {text} NOT NULL, email {text}, "
        f"business_name {text}, website {text}, industry {text} NOT NULL, "
        f"program {text} NOT NULL, status {text} NOT NULL, status_rank INTEGER NOT NULL, "
        f"rep {text}, submitted_at {text} NOT NULL, updated_at {text} NOT NULL, "
        "sales_assistance INTEGER NOT NULL, contacted INTEGER NOT NULL, "
        f"plan {text}, reward {text}, rewarded_at {text}, referred_customer_id {text}, "
        f"search {text} NOT NULL, name_key {text} NOT NULL, business_key {text} NOT NULL)",
        "CREATE INDEX IF NOT EXISTS rl_leads_referrer ON {p}rl_leads (referrer_id, status)",
        *(
            f"CREATE INDEX IF NOT EXISTS rl_leads_{name} ON {{p}}rl_leads ({columns})"
            for name, columns in LEAD_INDEXES.items()
        ),
        "CREATE TABLE IF NOT EXISTS {p}rl_revenue ("
        f"customer_id {text} PRIMARY KEY, revenue TEXT NOT NULL){words.revenue_storage}",
        "CREATE TABLE IF NOT EXISTS {p}rl_campaign_points ("
        f"campaign_id {text} NOT NULL, customer_id {text} NOT NULL, "
        "points BIGINT NOT NULL, reached BIGINT NOT NULL, "
        "PRIMARY KEY (campaign_id, customer_id))",
        "CREATE INDEX IF NOT EXISTS rl_campaign_points_rank "
        "ON {p}rl_campaign_points (campaign_id, points DESC, reached)",
        f"CREATE TABLE IF NOT EXISTS {{p}}rl_customers ({words.customer_key}, "
        f"name {text} NOT NULL, phones {text} NOT NULL, email {text}, "
        f"customer_group {text}, tags {text} NOT NULL, level {text}, source {text}, "
        f"assigned_staff {text}, purchase_count BIGINT NOT NULL, balance BIGINT NOT NULL, "
        f"registered_at {text} NOT NULL, name_key {text} NOT NULL, search {text} NOT NULL)"
        f"{words.customer_storage}",
        *(
            f"CREATE INDEX IF NOT EXISTS rl_customers_{name} ON {{p}}rl_customers ({columns})"
            for name, columns in CUSTOMER_INDEXES.items()
        ),
    ]


def pg_search_indexes(trgm_schema: str) -> tuple[str, ...]:
    """PostgreSQL's GIN trigram indexes of the searched text (pg_trgm's
    operator class lives in `trgm_schema`)."""
    return (
        "CREATE INDEX IF NOT EXISTS rl_leads_search ON {p}rl_leads "
        f"USING gin (search {trgm_schema}.gin_trgm_ops)",
        # Without GIN's pending list: its unsorted entries are scanned by
        # every search until a vacuum merges them, and a server with
        # autovacuum off (or behind) made a one-customer search 17 ms
        # over 10,000 customers. Inserts pay instead, once per customer
        # (a purchase leaves the text as it was: a HOT update, see
        # `CUSTOMER_FILL`).
        "CREATE INDEX IF NOT EXISTS rl_customers_search ON {p}rl_customers "
        f"USING gin (search {trgm_schema}.gin_trgm_ops) WITH (fastupdate = off)",
    )
