"""Exactly-once tracking: the log position the views reflect, and their version.

One row of `rl_view_positions` per view set: the position of the last log
event folded into the tables, and the version of the tables' shape and fold.
A catch-up batch moves the position with a compare-and-set as the first
statement of the transaction that writes the batch's rows, so the rows and
the position commit together or not at all, and of two runners that read
the same position only the first moves it (the other's batch is
`Superseded` and writes nothing).
"""

from __future__ import annotations

from typing import Any, Final

from referral_ledger.projections.dialects import ViewsSQL
from referral_ledger.projections.view_tables import VIEW_TABLES

VIEW_NAME: Final = "views"


class Superseded(Exception):
    """Another runner moved the view's position first."""


def install(sql: ViewsSQL, version: int) -> None:
    """Create the tables; views of another `version` (or none) are dropped and
    made anew, from position 0: events are never migrated, the views are
    rebuilt from them."""
    with sql.transaction(commit=True) as cursor:
        sql.lock_schema(cursor)
        sql.execute(
            cursor,
            "CREATE TABLE IF NOT EXISTS {p}rl_view_positions ("
            "view_name TEXT PRIMARY KEY, position BIGINT NOT NULL, version INTEGER NOT NULL)",
        )
        rows = sql.execute(
            cursor, "SELECT version FROM {p}rl_view_positions WHERE view_name = ?", (VIEW_NAME,)
        )
        current = bool(rows) and rows[0]["version"] == version
        if not current:
            for table in VIEW_TABLES:
                sql.execute(cursor, f"DROP TABLE IF EXISTS {{p}}{table}")
        for statement in sql.table_statements():
            sql.execute(cursor, statement)
        sql.create_search_index(cursor)
        if current:
            return
        sql.execute(
            cursor,
            "INSERT INTO {p}rl_view_positions (view_name, position, version) VALUES (?, 0, ?) "
            "ON CONFLICT (view_name) DO UPDATE SET position = 0, version = excluded.version",
            (VIEW_NAME, version),
        )


def position(sql: ViewsSQL) -> int:
    """The log position the views reflect."""
    rows = sql.read("SELECT position FROM {p}rl_view_positions WHERE view_name = ?", (VIEW_NAME,))
    return int(rows[0]["position"])


def position_and_head(sql: ViewsSQL, events: str) -> tuple[int, int]:
    """The views' position and the log's newest position (0: empty), in one
    statement: the views in the events' own database (table `events`)."""
    rows = sql.read(
        f"SELECT position, (SELECT MAX({sql.log_position}) FROM {{p}}{events}) AS head "
        "FROM {p}rl_view_positions WHERE view_name = ?",
        (VIEW_NAME,),
    )
    return int(rows[0]["position"]), int(rows[0]["head"] or 0)


def advance(sql: ViewsSQL, cursor: Any, position: int, upto: int) -> None:
    """Move the views from `position` to `upto`, or raise `Superseded`."""
    # First statement of the transaction, and a write: SQLite takes the
    # write lock here, so the rows read below cannot go stale.
    moved = sql.execute(
        cursor,
        "UPDATE {p}rl_view_positions SET position = ? "
        "WHERE view_name = ? AND position = ? RETURNING position",
        (upto, VIEW_NAME, position),
    )
    if not moved:
        raise Superseded


def restart(sql: ViewsSQL, cursor: Any) -> None:
    """Back to position 0 (the caller empties the tables in the same transaction)."""
    sql.execute(
        cursor,
        "UPDATE {p}rl_view_positions SET position = 0 WHERE view_name = ?",
        (VIEW_NAME,),
    )
