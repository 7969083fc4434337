"""Checking a whole ledger, and reading it as it stood at a past moment.

`audit(ledger)` checks the log's own integrity and what the ledger promises.
Integrity: every stored event is where the hash chain says it was written,
with the bytes it was written with (a deleted, changed, inserted or
reordered event is reported), and every record's versions follow each other.
Promises: every stored event decodes; every points account's balance equals
the sum of its movements and never went below zero; no invoice was earned
twice; every referral's timeline follows the allowed moves in time order;
no campaign handed out more bonus than its budget nor any customer more than
its per-customer limit, and each bonus earned is the one its campaign
counted; and every read model equals a rebuild of it from the log. It returns an
`AuditReport` listing each problem with the log position it concerns.

`state_as_of(ledger, when)` lists every customer's balance and every
referral's status as recorded by `when`: what an auditor asks first.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from referral_ledger.audit.as_of import (
    CUSTOMER_TOPICS,
    REFERRAL_TOPICS,
    BalanceAsOf,
    ReferralAsOf,
    StateAsOf,
    state_as_of,
)
from referral_ledger.audit.integrity import Integrity
from referral_ledger.audit.invariants import Invariants, compare_views
from referral_ledger.audit.log import BATCH, LogEntry, read_log
from referral_ledger.audit.report import AuditReport, Problem
from referral_ledger.chain import ChainHead

if TYPE_CHECKING:
    from referral_ledger.ledger import Ledger

__all__ = [
    "BATCH",
    "CUSTOMER_TOPICS",
    "REFERRAL_TOPICS",
    "AuditReport",
    "BalanceAsOf",
    "ChainHead",
    "LogEntry",
    "Problem",
    "ReferralAsOf",
    "StateAsOf",
    "audit",
    "read_log",
    "state_as_of",
]


def audit(
    ledger: Ledger,
    progress: Callable[[int, int], None] | None = None,
    *,
    anchor: ChainHead | None = None,
) -> AuditReport:
    """Check the whole store; see the module's docstring for what is checked.

    `anchor` is a `chain_head` of an earlier report, kept outside the store:
    the chain must still hold it (see `AuditReport`).
    """
    integrity = Integrity(ledger, anchor)  # reads the recorded chain head first
    last = ledger._store.last_position()
    invariants = Invariants()
    decode: list[Problem] = []
    events = 0
    for entry in read_log(ledger, progress=progress, stop=last):
        events += 1
        if entry.event is None:
            decode.append(
                Problem("decode", f"cannot decode {entry.topic}: {entry.error}", entry.position)
            )
        else:
            invariants.event(entry.event, entry.position)
    problems = _merge(decode, integrity.run(last)) + invariants.finish(ledger)
    if decode:
        problems.append(
            Problem(
                "views",
                "views not compared with a rebuild: the log has undecodable events "
                "(a rebuild would stop at the first one)",
            )
        )
    else:
        problems += compare_views(ledger)
    verifier = integrity.verifier
    return AuditReport(
        events=events,
        accounts=len(invariants.accounts),
        invoices=len(invariants.recorded),
        referrals=len(invariants.timelines),
        views_compared=not decode,
        problems=tuple(sorted(problems, key=lambda p: (p.position or 0, p.check))),
        chain_start=verifier.start,
        unchained=verifier.unchained,
        chain_head=verifier.head,
        chain_keyed=integrity.keyed,
    )


def _merge(decode: list[Problem], integrity: list[Problem]) -> list[Problem]:
    """One problem per damaged event: an undecodable event whose link says it was
    changed after it was written is one finding, not two."""
    chain = {p.position: p for p in integrity if p.check == "chain"}
    merged = []
    for problem in decode:
        found = chain.pop(problem.position, None)
        if found is not None:
            problem = Problem(
                "decode", f"{problem.message} [chain: {found.message}]", problem.position
            )
        merged.append(problem)
    return merged + [p for p in integrity if p.check != "chain" or p.position in chain]
