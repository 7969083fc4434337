"""Helpers for the tests of the `referral-ledger` command."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import pytest

from referral_ledger import Ledger
from referral_ledger.cli import main


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Exit code, stdout and stderr of one command."""
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def play_demo(path: Path) -> str:
    """Write the demo ledger at `path`; returns what the demo printed."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert 0 == main(["demo", "--db", str(path)])
    return out.getvalue()


def events(path: Path) -> int:
    """How many events the SQLite ledger at `path` holds."""
    with Ledger.open(f"sqlite:///{path}") as ledger:
        return ledger.event_count()
