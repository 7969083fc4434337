"""The `referral-ledger` command (also `python -m referral_ledger`).

Every command works on one ledger, named by `--db`: a file path (an embedded
SQLite ledger) or any `Ledger.open` URL; the default is `referral-ledger.db`
in the current directory, or `$REFERRAL_LEDGER_DB` when set. Exit codes: 0
done, 1 the ledger refused or something is wrong (an unknown customer, a bad
file, an audit that found problems, rejected rows with `--strict`), 2 a bad
command line. Errors are one line on stderr, without a traceback.

The package: `base` (errors, opening `--db`, naming a customer), `parser`
(the command line), `render` (tables, csv, json, .xlsx), `sheets` (reading
.csv/.xlsx), and the commands: `queries` (and `demo`), `transfer` (import,
export), `replay` (replay, audit), `campaigns`, `sales` (vouchers,
commissions) and `voucher_sheet` (import vouchers).
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
from collections.abc import Callable, Sequence
from typing import Final

from eventsourcing.domain import EventSourcingError
from eventsourcing.persistence import MapperDeserialisationError

from referral_ledger.cli.base import (
    PROG,
    CommandError,
    UsageError,
    find_customer,
    ledger_url,
    open_ledger,
    parse_cli_time,
)
from referral_ledger.cli.parser import build_parser
from referral_ledger.cli.render import plain, records
from referral_ledger.errors import LedgerError

#: Set (to anything) to get the traceback of an unexpected error instead of one line.
TRACEBACK_VARIABLE: Final = "REFERRAL_LEDGER_TRACEBACK"

__all__ = [
    "PROG",
    "TRACEBACK_VARIABLE",
    "CommandError",
    "UsageError",
    "build_parser",
    "find_customer",
    "ledger_url",
    "main",
    "open_ledger",
    "parse_cli_time",
    "plain",
    "records",
]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line `argv` (default: `sys.argv[1:]`); returns the exit code."""
    try:
        args = build_parser().parse_args(argv)
        command: Callable[[argparse.Namespace], int] = args.run
        return command(args)
    except UsageError as error:
        return _fail(str(error), 2)
    except (LedgerError, CommandError) as error:
        return _fail(str(error), 1)
    except MapperDeserialisationError as error:
        return _fail(f"the ledger has an event it cannot read ({error}); run '{PROG} audit'", 1)
    except (EventSourcingError, sqlite3.DatabaseError) as error:
        return _fail(f"cannot use the ledger: {type(error).__name__}: {error}", 1)
    except BrokenPipeError:
        # The reader went away (`| head`): stop quietly, and keep Python from
        # complaining when it flushes stdout at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except OSError as error:
        return _fail(f"{error.strerror or error}: {error.filename or ''}".rstrip(": "), 1)
    except KeyboardInterrupt:
        return _fail("interrupted", 130)
    except SystemExit as done:  # --help and --version
        return done.code if isinstance(done.code, int) else 0
    except Exception as error:
        # Whatever was not foreseen: still one line, never a traceback (a user of the
        # command is not its programmer); the variable shows where, for a bug report.
        if os.environ.get(TRACEBACK_VARIABLE):
            raise
        return _fail(
            f"unexpected {type(error).__name__}: {error} (set {TRACEBACK_VARIABLE}=1 to see where)",
            1,
        )


def _fail(message: str, code: int) -> int:
    print(f"{PROG}: error: {' '.join(message.split())}", file=sys.stderr)
    return code
