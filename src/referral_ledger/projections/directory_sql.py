"""The customer directory's tables in SQL: indexes, storage, SQLite's search index.

Kept apart from `dialects.py`, which uses them, so that module stays about
the differences between the databases.
"""

from __future__ import annotations

import re
from typing import Final

from referral_ledger.projections.rows import CUSTOMER_COLUMNS

#: The directory's indexes: its sorts by name and registration, and its
#: filters, each followed by the default sort.
CUSTOMER_INDEXES: Final = {
    "name": "name_key, customer_id",
    "registered": "registered_at, customer_id",
    "group": "customer_group, name_key",
    "staff": "assigned_staff, name_key",
    "level": "level, name_key",
    "source": "source, name_key",
}
CUSTOMER_CONFLICT: Final = "ON CONFLICT (customer_id) DO UPDATE SET " + ", ".join(
    f"{c} = excluded.{c}" for c in CUSTOMER_COLUMNS[1:]
)
#: Room in the directory's pages for the same reason as the revenue's: a
#: purchase changes a customer's balance, no indexed column.
CUSTOMER_FILL: Final = "fillfactor = 70"


#: How many of a phone's last digits a search looks up in the index first.
PHONE_TAIL: Final = 7
#: The shortest run of digits inside a term that is looked up first.
DIGIT_RUN: Final = 5
_DIGIT_RUNS: Final = re.compile(r"[0-9]+")


def narrower(term: str) -> str | None:
    """A part of `term` the search index finds fewer rows for, when there is
    one; the rows it finds are then checked for the whole term.

    Digits are the rare part of what a shop types. A phone's leading digits
    are shared by most customers (the country code and the carrier's
    prefix: `849`, `090` are in every row's text), so a whole number's
    trigrams include the index's longest lists, and reading them was a phone
    search's whole cost (130 ms over 1,000,000 customers on SQLite); its
    last 7 digits are spread evenly and find a handful of rows (1.5 ms).
    Likewise the letters of a name or an email's domain are shared by many
    customers, while a number in it (`khach500007@`) is nearly its own. Every
    row holding the term holds the part: the results are the same.
    """
    if len(term) > PHONE_TAIL and term.isdigit():
        return term[-PHONE_TAIL:]
    runs = _DIGIT_RUNS.findall(term)
    longest = max(runs, key=len, default="")
    if len(longest) >= DIGIT_RUN and len(longest) < len(term):
        return longest[-PHONE_TAIL:]
    return None


def escape_like(term: str) -> str:
    """`term` matched literally inside a LIKE pattern (with `ESCAPE '\\'`)."""
    return term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


#: SQLite's search index of the directory: FTS5 trigrams of the `search`
#: column (an external-content table: the text is not stored twice), which
#: answers `LIKE '%term%'` for terms of 3 characters or more.
SQLITE_CUSTOMER_SEARCH: Final = (
    "CREATE VIRTUAL TABLE IF NOT EXISTS rl_customers_fts USING fts5(search, "
    "content='rl_customers', content_rowid='row_no', tokenize='trigram')",
    "CREATE TRIGGER IF NOT EXISTS rl_customers_ai AFTER INSERT ON rl_customers BEGIN "
    "INSERT INTO rl_customers_fts(rowid, search) VALUES (new.row_no, new.search); END",
    "CREATE TRIGGER IF NOT EXISTS rl_customers_ad AFTER DELETE ON rl_customers BEGIN "
    "INSERT INTO rl_customers_fts(rl_customers_fts, rowid, search) "
    "VALUES ('delete', old.row_no, old.search); END",
    # Only when the text changed: most updates are a purchase's new balance.
    "CREATE TRIGGER IF NOT EXISTS rl_customers_au AFTER UPDATE ON rl_customers "
    "WHEN old.search IS NOT new.search BEGIN "
    "INSERT INTO rl_customers_fts(rl_customers_fts, rowid, search) "
    "VALUES ('delete', old.row_no, old.search); "
    "INSERT INTO rl_customers_fts(rowid, search) VALUES (new.row_no, new.search); END",
)
