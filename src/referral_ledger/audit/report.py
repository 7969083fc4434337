"""What an audit found: one `Problem` per finding, and the `AuditReport`."""

from __future__ import annotations

import attrs

from referral_ledger.chain import ChainHead


@attrs.frozen
class Problem:
    """One thing the audit found wrong; `position` is the log position it concerns."""

    check: str
    message: str
    position: int | None = None

    def __str__(self) -> str:
        where = f"position {self.position}: " if self.position is not None else ""
        return f"[{self.check}] {where}{self.message}"


@attrs.frozen
class AuditReport:
    """What `audit` checked and what it found.

    `chain_start` is the first log position the hash chain covers (None: no
    event is chained); the `unchained` events before it were written before
    the store had a chain. `chain_head` is the newest chained event: write it
    down outside the store and pass it to a later `audit(anchor=...)` to prove
    that nothing up to it was removed or rewritten since.
    """

    events: int
    accounts: int
    invoices: int
    referrals: int
    views_compared: bool
    problems: tuple[Problem, ...]
    chain_start: int | None = None
    unchained: int = 0
    chain_head: ChainHead | None = None
    chain_keyed: bool = False

    @property
    def ok(self) -> bool:
        """True when nothing is wrong."""
        return not self.problems

    def summary(self) -> str:
        """One line: what was checked and the verdict."""
        views = "compared with a rebuild" if self.views_compared else "NOT compared"
        checked = (
            f"{self.events} events, {self.accounts} points accounts, {self.invoices} invoices, "
            f"{self.referrals} referrals, views {views}, {self.chain_summary()}"
        )
        if self.ok:
            return f"audit clean: {checked}"
        return f"audit found {len(self.problems)} problem(s) in {checked}"

    def chain_summary(self) -> str:
        """Which part of the log the hash chain covers, and its head."""
        if self.chain_start is None or self.chain_head is None:
            return "no hash chain"
        kind = "keyed hash chain" if self.chain_keyed else "hash chain"
        before = " (the events before it predate the chain)" if self.unchained else ""
        return f"{kind} from position {self.chain_start}{before}, head {self.chain_head}"
