"""Points lots at scale: balance() and a redemption on one account with many lots,
most of them expired, and process_due's expiry throughput.

    .venv/bin/python bench/lots.py --sizes 1000,10000,100000

Each size is one account (one customer) whose purchases are dated a second
apart, a year ago, under a program whose points expire at the end of their
day: all but today's lots are expired. The figures: process_due's lots
expired per second (one transaction per lot: effect plus its due-item
record), then the median time of balance() and of a redemption, which read
the account's open lots only and so stay flat in the number of lots.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import register_customers

from referral_ledger import Ledger, LoyaltyProgram, PointsExpiry

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
PAST = NOW - timedelta(days=365)
PROGRAM = LoyaltyProgram(
    money_per_point=Decimal(1000), point_value=Decimal(100), expiry=PointsExpiry(0, "day")
)


def rows(customer: Any, count: int) -> Iterator[dict[str, Any]]:
    for i in range(count):
        yield {
            "customer_id": customer,
            "invoice_id": f"L-{i}",
            "amount": 10_000,
            "at": PAST + timedelta(seconds=i),
        }


def one_size(directory: Path, size: int) -> dict[str, float]:
    url = f"sqlite:///{directory}/lots-{size}.db"
    ticks = iter(range(10**9))

    def clock() -> datetime:
        return NOW + timedelta(microseconds=next(ticks))

    with Ledger.open(url, clock=clock) as ledger:
        ledger.configure_loyalty(PROGRAM)
        (customer,) = register_customers(ledger, 1)
        report = ledger.import_purchases(rows(customer, size))
        assert not report.rejected, report.rejected[:3]
        # Today's lots: open, spendable.
        for i in range(20):
            ledger.record_purchase(customer, f"NOW-{i}", 100_000, at=NOW)
        start = time.perf_counter()
        expired = ledger.process_due()
        seconds = time.perf_counter() - start
        assert expired == size, (expired, size)
        balance_times = []
        for _ in range(200):
            t = time.perf_counter()
            ledger.balance(customer)
            balance_times.append(time.perf_counter() - t)
        redeem_times = []
        for n in range(50):
            t = time.perf_counter()
            ledger.redeem_points(customer, 1, f"R-{n}")
            redeem_times.append(time.perf_counter() - t)
        assert ledger.balance(customer) == 20 * 100 - 50
    return {
        "lots": size,
        "expired_per_s": size / seconds,
        "balance_p50_ms": statistics.median(balance_times) * 1000,
        "redeem_p50_ms": statistics.median(redeem_times) * 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-lots-") as directory:
        print("| lots | process_due lots expired/s | balance() p50 ms | redemption p50 ms |")
        print("|---:|---:|---:|---:|")
        for size in (int(s) for s in args.sizes.split(",")):
            r = one_size(Path(directory), size)
            print(
                f"| {r['lots']:,} | {r['expired_per_s']:,.0f} | {r['balance_p50_ms']:.2f} "
                f"| {r['redeem_p50_ms']:.2f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
