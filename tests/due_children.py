"""Child processes of the due index's crash test (spawn imports this module by name)."""

from __future__ import annotations

from datetime import datetime

from referral_ledger import Ledger
from referral_ledger.reactions import due


def expire_in_small_batches(url: str, now: datetime) -> None:
    """Run `process_due(now)` 20 items to a transaction, until killed."""
    setattr(due, "BATCH", 20)  # noqa: B010 (a Final constant, set for this child)
    with Ledger.open(url, react_inline=False) as ledger:
        ledger.process_due(now)
