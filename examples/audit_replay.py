"""What an auditor runs: open a ledger file and print it as it stood at a moment.

    python examples/audit_replay.py LEDGER.db 2025-03-15
    python examples/audit_replay.py LEDGER.db 2025-03-15T18:00+07:00

Every balance and referral status is replayed from the log as recorded by
that time (a date means its midnight, Vietnam time). The ledger is opened
with `react_inline=False`, so reading it records nothing.
"""

from __future__ import annotations

import sys
from pathlib import Path

from referral_ledger import Ledger
from referral_ledger.audit import state_as_of
from referral_ledger.cli import parse_cli_time


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print("usage: audit_replay.py LEDGER.db TIME", file=sys.stderr)
        return 2
    path, when = Path(argv[1]), parse_cli_time(argv[2])
    if not path.exists():
        print(f"no ledger at {path}", file=sys.stderr)
        return 1
    with Ledger.open(f"sqlite:///{path.resolve()}", react_inline=False) as ledger:
        state = state_as_of(ledger, when)
    print(f"As recorded by {when.isoformat()}")
    print("Balances")
    for b in state.balances:
        print(
            f"  {b.name:<20} {b.balance:>6} points  lifetime {b.lifetime_points:>6}  tier {b.tier}"
        )
    print("Referrals")
    for r in state.referrals:
        reward = f"  reward {r.reward:,}" if r.reward is not None else ""
        print(f"  {r.lead:<20} {r.status.value:<12} rep {r.rep}{reward}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
