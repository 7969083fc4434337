"""The profile of an import batch: Python calls and CPU per purchase, and where the time goes.

    .venv/bin/python bench/import_profile.py            # 3,000 customers, 5,000 purchases
    .venv/bin/python bench/import_profile.py --top 40   # more of the profile
    .venv/bin/python bench/import_profile.py --gc-off   # the timed import without gc

A SQLite ledger with 3,000 customers and 6,000 purchases already imported
(their accounts warm in the cache), then 5,000 more purchases imported
under cProfile. Calls per purchase are deterministic, so they compare two
versions of the code on a machine too busy to compare times; the CPU time
(`time.process_time`, of 5,000 purchases without the profiler) is printed
beside them.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import pstats
import tempfile
import time

from run import PROGRAM, purchase_rows, register_customers

from referral_ledger import Ledger

CUSTOMERS = 3000
PURCHASES = 5000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--top", type=int, default=25, help="functions shown, by own time")
    parser.add_argument(
        "--gc-off", action="store_true", help="the timed (unprofiled) import with gc disabled"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder, Ledger.open(f"sqlite:///{folder}/l.db") as ledger:
        ledger.configure_loyalty(PROGRAM)
        ids = register_customers(ledger, CUSTOMERS)
        ledger.import_purchases(purchase_rows(ids, 2 * CUSTOMERS, "WARM"))
        rows = list(purchase_rows(ids, PURCHASES, "PLAIN"))
        if args.gc_off:
            gc.disable()
        started = time.process_time()
        assert ledger.import_purchases(rows).recorded == PURCHASES
        cpu = time.process_time() - started
        gc.enable()
        rows = list(purchase_rows(ids, PURCHASES, "PROFILED"))
        profile = cProfile.Profile()
        profile.enable()
        assert ledger.import_purchases(rows).recorded == PURCHASES
        profile.disable()
    stats = pstats.Stats(profile)
    print(
        f"{stats.total_calls / PURCHASES:.1f} Python calls per purchase (profiled); "  # type: ignore[attr-defined]
        f"{1e6 * cpu / PURCHASES:.0f} µs CPU per purchase (not profiled)"
    )
    stats.sort_stats("tottime").print_stats(args.top)


if __name__ == "__main__":
    main()
