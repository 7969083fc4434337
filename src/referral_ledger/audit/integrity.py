"""The log's own integrity: its hash chain, and every record's versions in order.

This pass reads the stored rows as they are (no decoding), with their links,
through the recorder (see persistence/sqlite.py and persistence/postgres.py).
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING, Protocol
from uuid import UUID

from referral_ledger.audit.log import BATCH
from referral_ledger.audit.report import Problem
from referral_ledger.chain import ChainHead, ChainVerifier, EventChain, StoredRow

if TYPE_CHECKING:
    from referral_ledger.ledger import Ledger


class ChainedLog(Protocol):
    """A recorder that writes the chain and can read it back."""

    chain: EventChain

    def chained_rows(self, after: int, limit: int, stop: int) -> list[StoredRow]: ...
    def chain_orphans(self) -> list[tuple[int, bytes]]: ...
    def chain_head(self) -> ChainHead | None: ...


def chained_log(ledger: Ledger) -> ChainedLog | None:
    """The ledger's recorder, if it keeps a chain."""
    recorder = ledger._store.recorder
    names = ("chain", "chained_rows", "chain_orphans", "chain_head")
    return recorder if all(hasattr(recorder, n) for n in names) else None  # type: ignore[return-value]


class Versions:
    """Every record's versions must follow each other in log order: 1, 2, 3..."""

    def __init__(self) -> None:
        self.newest: dict[UUID | str, int] = {}

    def event(self, row: StoredRow) -> Problem | None:
        record, version = row.originator_id, row.originator_version
        before = self.newest.get(record, 0)
        self.newest[record] = max(before, version)
        if version == before + 1:
            return None
        if version <= before:
            message = (
                f"record {record}: version {version} comes after version {before}: events "
                "were reordered or duplicated"
            )
        elif version == before + 2:
            message = f"record {record}: version {before + 1} is missing"
        else:
            message = f"record {record}: versions {before + 1} to {version - 1} are missing"
        return Problem("versions", message, row.position)


class Integrity:
    """The integrity pass. Created before the log's last position is read, as it
    reads the chain head the store records: writes during the audit come after it."""

    def __init__(self, ledger: Ledger, anchor: ChainHead | None = None) -> None:
        self.log = chained_log(ledger)
        self.anchor = anchor
        recorded = self.log.chain_head() if self.log is not None else None
        chain = self.log.chain if self.log is not None else EventChain()
        self.verifier = ChainVerifier(chain, recorded=recorded, anchor=anchor)
        self.keyed = chain.keyed

    def run(self, last: int) -> list[Problem]:
        """Check every stored row up to position `last` (and every link left behind)."""
        if self.log is None:
            if self.anchor is None:
                return []
            return [Problem("chain", "this store keeps no hash chain to check the anchor")]
        verifier = self.verifier
        chain: defaultdict[int, list[str]] = defaultdict(list)
        problems: list[Problem] = []
        versions = Versions()
        orphans = self.log.chain_orphans()
        position = 0
        while position < last:
            rows = self.log.chained_rows(position, BATCH, last)
            if not rows:
                break
            for row in rows:
                while orphans and orphans[0][0] < row.position:
                    for finding in verifier.deleted(*orphans.pop(0)):
                        chain[finding.position].append(finding.message)
                for finding in verifier.event(row):
                    chain[finding.position].append(finding.message)
                problem = versions.event(row)
                if problem is not None:
                    problems.append(problem)
            position = rows[-1].position
        for orphan in orphans:
            for finding in verifier.deleted(*orphan):
                chain[finding.position].append(finding.message)
        for finding in verifier.finish(last):
            chain[finding.position].append(finding.message)
        problems += [Problem("chain", "; ".join(m), p) for p, m in chain.items()]
        return problems
