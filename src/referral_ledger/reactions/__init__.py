"""What the ledger does by itself: reactions to its own events, and jobs that fall due.

`registry.py` declares them (one line each), `follow.py` runs reactions
exactly once per event, `due.py` runs jobs exactly once per due item. The
modules that register the ledger's own reactions and jobs are imported here,
so opening a ledger finds them all.
"""

from referral_ledger.reactions import campaigns, commissions, points_expiry, referrals
from referral_ledger.reactions.registry import (
    JOBS,
    REACTIONS,
    Context,
    Job,
    Reaction,
    Registry,
    job,
    reaction,
)

__all__ = [
    "JOBS",
    "REACTIONS",
    "Context",
    "Job",
    "Reaction",
    "Registry",
    "campaigns",
    "commissions",
    "job",
    "points_expiry",
    "reaction",
    "referrals",
]
