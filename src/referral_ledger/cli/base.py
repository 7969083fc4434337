"""What every command shares: its name, its errors, opening `--db`, naming a customer."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime, time, tzinfo
from pathlib import Path
from typing import Final, TypeAlias
from uuid import UUID

from referral_ledger.commands.base import VIETNAM
from referral_ledger.errors import InvalidInput, NotFound
from referral_ledger.ledger import Ledger
from referral_ledger.projections.leads import LeadRow

PROG: Final = "referral-ledger"
DEFAULT_DB: Final = "referral-ledger.db"
FORMATS: Final = ("table", "csv", "json")
#: Rows read from a spreadsheet per ledger transaction (and progress step).
IMPORT_BATCH: Final = 500
#: From this many rows on, an import on a terminal shows a progress bar.
PROGRESS_FROM: Final = 1000
PAGE: Final = 1000
#: Ignore a spreadsheet column: `--map "Ghi chú=-"`.
IGNORE: Final = "-"

Record: TypeAlias = dict[str, object]


class UsageError(Exception):
    """A bad command line: exit code 2."""


class CommandError(Exception):
    """Something outside the ledger is wrong (a missing file, a bad sheet): exit code 1."""


def parse_cli_time(text: str, zone: tzinfo = VIETNAM) -> datetime:
    """An ISO date or time; a date means its midnight, and a time without an
    offset is taken in `zone` (Vietnam, UTC+7, by default)."""
    value = text.strip()
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        return datetime.combine(date.fromisoformat(value), time(), zone)
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=zone)


# --- opening the ledger --------------------------------------------------------------


def ledger_url(db: str) -> str:
    """`--db` as a Ledger.open URL: a URL stays as it is, a path becomes `sqlite:///PATH`."""
    if "://" in db:
        return db
    return f"sqlite:///{Path(db).expanduser().resolve()}"


@contextmanager
def open_ledger(
    db: str,
    *,
    create: bool = False,
    react: bool = True,
    clock: Callable[[], datetime] | None = None,
) -> Iterator[Ledger]:
    """Open `--db`; an existing one unless `create` (a typo must not make an empty ledger)."""
    url = ledger_url(db)
    if url.startswith("sqlite:///") and not create:
        path = Path(url[len("sqlite:///") :])
        if not path.exists():
            raise CommandError(
                f"no ledger at {path}: run '{PROG} demo --db {db}' or import customers first"
            )
    with Ledger.open(url, react_inline=react, clock=clock) as ledger:
        yield ledger


def find_customer(ledger: Ledger, who: str) -> UUID:
    """A customer named by its id, its external (POS) id, or one of its phones."""
    try:
        customer_id = UUID(who)
    except ValueError:
        pass
    else:
        return ledger.get_customer(customer_id).id
    found: UUID | None = None
    try:
        found = ledger.find_customer_by_external_id(who)
        if found is None:
            found = ledger.find_customer_by_phone(who)
    except InvalidInput:
        found = None
    if found is None:
        raise NotFound(f"no customer with id, external id or phone {who!r}")
    return found


def all_leads(ledger: Ledger) -> list[LeadRow]:
    """Every row of the lead table, oldest first."""
    rows: list[LeadRow] = []
    while page := ledger.lead_table(descending=False, limit=PAGE, offset=len(rows)):
        rows += page
        if len(page) < PAGE:
            break
    return rows
