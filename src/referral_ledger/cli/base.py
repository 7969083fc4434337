"""What every command shares: its name, its errors, opening `--db`, naming a customer."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Final, TypeAlias
from urllib.parse import quote, unquote
from uuid import UUID

from referral_ledger.commands.base import VIETNAM
from referral_ledger.errors import InvalidInput, LedgerError, NotFound
from referral_ledger.ledger import Ledger
from referral_ledger.policies.sheet_rows import parse_sheet_time
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
    offset is taken in `zone` (Vietnam, UTC+7, by default). ValueError if it is none,
    or has no UTC form (at the ends of Python's range). The sheet import's reading
    (`policies.sheet_rows.parse_sheet_time`), so options and cells agree."""
    return parse_sheet_time(text, zone)


# --- opening the ledger --------------------------------------------------------------


def ledger_url(db: str) -> str:
    """`--db` as a Ledger.open URL: a URL stays as it is, a path becomes `sqlite:///PATH`."""
    if "://" in db:
        return db
    if not db.strip():
        raise UsageError("--db must name a ledger file or URL, not an empty string")
    # Quoted: Ledger.open unquotes the path, so a '%' in a file name stays a '%'.
    return f"sqlite:///{quote(str(Path(db).expanduser().resolve()), safe='/')}"


def sqlite_path(url: str) -> Path | None:
    """The file of a `sqlite:///PATH` URL (None for other stores)."""
    return Path(unquote(url[len(_SQLITE) :])) if url.startswith(_SQLITE) else None


_SQLITE: Final = "sqlite:///"
#: The files SQLite keeps beside a ledger file while it is open.
_SIDECARS: Final = ("-wal", "-shm", "-journal")


@contextmanager
def open_ledger(
    db: str,
    *,
    create: bool = False,
    react: bool = True,
    clock: Callable[[], datetime] | None = None,
) -> Iterator[Ledger]:
    """Open `--db`; an existing one unless `create` (a typo must not make an empty ledger).

    A ledger file this opening creates is removed again if the command fails or
    records nothing: a failed command leaves no new file behind.
    """
    url = ledger_url(db)
    path = sqlite_path(url)
    new = path is not None and not path.exists()
    if path is not None:
        if path.is_dir():
            raise CommandError(f"{path} is a directory, not a ledger file")
        if new and not create:
            raise CommandError(
                f"no ledger at {path}: run '{PROG} demo --db {db}' or import customers first"
            )
        if new and not path.parent.is_dir():
            raise CommandError(f"no directory {path.parent} for the new ledger {path.name}")
    keep = not new
    try:
        with _open(url, react=react, clock=clock) as ledger:
            yield ledger
            keep = keep or ledger.event_count() > 0
    finally:
        if path is not None and not keep:
            for name in ("", *_SIDECARS):
                Path(f"{path}{name}").unlink(missing_ok=True)


def _open(url: str, *, react: bool, clock: Callable[[], datetime] | None) -> Ledger:
    try:
        return Ledger.open(url, react_inline=react, clock=clock)
    except LedgerError:
        raise
    except Exception as error:
        # A bad port or host, an unreachable server, a file that is no database: one
        # line naming the ledger (without its password) and the reason.
        raise CommandError(
            f"cannot open the ledger {hide_password(url)}: {type(error).__name__}: {error}"
        ) from None


def hide_password(url: str) -> str:
    """`url` with the password of `scheme://user:password@host` replaced by `***`."""
    # Greedy up to the last '@' before the path: a password may hold an '@' of its own.
    return re.sub(r"(://[^:/@]*):[^/]*@", r"\1:***@", url)


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
