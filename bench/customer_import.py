"""What naming every row costs: `import_customers` rows per second on SQLite.

    .venv/bin/python bench/customer_import.py [ROWS]     # default 5000

Three passes over one file of ROWS customers (each with a POS id and a phone,
every tenth row a walk-in without a POS id holding the phone of the next row):
the first import (rows created, the walk-ins' neighbours skipped), the same
file again (every row unchanged or skipped, so every row is explained in
`ImportReport.rows`), and the file again under "update" (rows matched by
phone; the conflict finder compares every row). Prints rows/s for each pass.
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

from referral_ledger import DuplicatePhonePolicy, Ledger


def rows(count: int) -> list[dict[str, object]]:
    result: list[dict[str, object]] = []
    for n in range(count):
        phone = f"09{(n + 1 if n % 10 == 0 else n):08d}"
        row: dict[str, object] = {"name": f"Khách {n}", "phone": phone}
        if n % 10:
            row["external_id"] = f"KH-{n:06d}"
        result.append(row)
    return result


def timed(work: Callable[[], object]) -> tuple[float, object]:
    start = time.perf_counter()
    result = work()
    return time.perf_counter() - start, result


def main(count: int) -> None:
    sheet = rows(count)
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'bench.db'}"
        with Ledger.open(url) as ledger:
            passes: list[tuple[str, DuplicatePhonePolicy]] = [
                ("first", "skip"), ("again", "skip"), ("update", "update"),
            ]  # fmt: skip
            for label, policy in passes:
                seconds, report = timed(partial(ledger.import_customers, sheet, policy))
                counts = ", ".join(
                    f"{name} {getattr(report, name, 0)}"
                    for name in ("created", "updated", "unchanged", "skipped", "conflicts")
                )
                print(f"{label:>7}: {count / seconds:8.0f} rows/s  ({counts})")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5000)
