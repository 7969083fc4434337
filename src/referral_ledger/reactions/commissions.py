"""The "commission-maturity" job: a commission is pending for `maturity_days`, then due.

Each pending line is one due item, keyed by its referrer account and invoice,
due at its `due_at`; handling it records `CommissionMatured` dated then.
`pay_commissions` also makes due what is due by its `at`; a line it made due
is no longer listed here.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from referral_ledger.aggregates import commission as accounts
from referral_ledger.aggregates.base import Event, Evolve
from referral_ledger.aggregates.commission import CommissionEarned, evolve_commission_account
from referral_ledger.reactions.registry import Context, job
from referral_ledger.store import LOAD_CHUNK, UnitOfWork

JOB = "commission-maturity"


def pending_commissions(context: Context, now: datetime) -> Iterator[tuple[datetime, str]]:
    """(due_at, "<account hex>:<invoice id>") of every line still pending and due by `now`."""
    wanted: dict[UUID, set[str]] = {}
    for event in context.events(CommissionEarned):
        assert isinstance(event, CommissionEarned)
        if event.due_at <= now:
            wanted.setdefault(event.originator_id, set()).add(event.invoice_id)
    ids = list(wanted)
    for start in range(0, len(ids), LOAD_CHUNK):
        chunk = ids[start : start + LOAD_CHUNK]
        states = context.store.load_many(dict.fromkeys(chunk, evolve_commission_account))
        for account_id in chunk:
            account = states[account_id]
            for invoice_id in sorted(wanted[account_id]):
                line = account.lines.get(invoice_id) if account else None
                if line is not None and line.status == "pending":
                    yield line.due_at, f"{account_id.hex}:{invoice_id}"


def mature_commission(unit: UnitOfWork, key: str, due_at: datetime, context: Context) -> None:
    """Make the line `key` due, dated `due_at` (nothing if it is no longer pending)."""
    account_hex, invoice_id = key.split(":", 1)
    account = unit.load(UUID(account_hex), evolve_commission_account)
    if account is not None:
        unit.record(accounts.mature(account, invoice_id, due_at, unit.now))


def commission_due(event: Event) -> Iterator[tuple[datetime, str]]:
    """When a commission line earned falls due."""
    if isinstance(event, CommissionEarned):
        yield event.due_at, f"{event.originator_id.hex}:{event.invoice_id}"


def commission_accounts(
    keys: Sequence[str], context: Context
) -> Iterator[tuple[UUID, Evolve[Any]]]:
    for key in keys:
        yield UUID(key.split(":", 1)[0]), evolve_commission_account


job(
    JOB,
    due=pending_commissions,
    handle=mature_commission,
    triggers=(CommissionEarned,),
    schedule=commission_due,
    prefetch=commission_accounts,
)
