"""Summarise a `make mutate` run per module from mutmut's result files.

mutmut 3 keeps each mutated module's results beside its copy under
`mutants/` (`<module>.py.meta`: an exit code per mutant). This prints, per
module of `aggregates/` and `policies/`: mutants, killed, survived, no tests,
timeouts, not yet run, and the score killed / (killed + survived + no tests).

    .venv/bin/python tools/mutation_report.py              # the table
    .venv/bin/python tools/mutation_report.py --survivors  # and the survivors' names
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from mutmut.stats import status_by_exit_code  # run with the venv's python

ROOT = Path(__file__).resolve().parent.parent / "mutants" / "src"


def main() -> int:
    show = "--survivors" in sys.argv
    rows = []
    survivors: list[str] = []
    totals = [0, 0, 0, 0, 0, 0]
    for meta in sorted(ROOT.glob("referral_ledger/*/*.py.meta")):
        if meta.parent.name not in ("aggregates", "policies"):
            continue
        codes = json.loads(meta.read_text())["exit_code_by_key"]
        if not codes:
            continue
        n = len(codes)
        status = {k: status_by_exit_code[c] for k, c in codes.items()}
        pending = sum(1 for s in status.values() if s == "not checked")
        # A mutant that makes the tests hang or crash is caught as surely as a failing one.
        killed = sum(1 for s in status.values() if s in ("killed", "timeout", "segfault"))
        timeout = sum(1 for s in status.values() if s == "timeout")
        untested = sum(1 for s in status.values() if s == "no tests")
        survived = [k for k, s in status.items() if s in ("survived", "suspicious")]
        ran = killed + len(survived) + untested
        score = 100.0 * killed / ran if ran else 0.0
        name = f"{meta.parent.name}/{meta.name.removesuffix('.meta')}"
        rows.append((name, n, killed, len(survived), untested, timeout, pending, score))
        for i, v in enumerate((n, killed, len(survived), untested, timeout, pending)):
            totals[i] += v
        survivors += sorted(survived)
    print(
        f"{'module':34} {'mutants':>7} {'killed':>6} {'surv':>5} {'notest':>6} "
        f"{'tmout':>5} {'todo':>5} {'score':>6}"
    )
    for name, n, k, s, u, t, p, score in rows:
        print(f"{name:34} {n:7} {k:6} {s:5} {u:6} {t:5} {p:5} {score:6.1f}")
    n, k, s, u, t, p = totals
    ran = k + s + u
    print(f"{'total':34} {n:7} {k:6} {s:5} {u:6} {t:5} {p:5} {100.0 * k / max(ran, 1):6.1f}")
    if show:
        print("\n".join(survivors))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
