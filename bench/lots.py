"""Points lots at scale: balance() and a redemption on one account with many lots,
most of them spent or expired, and process_due's expiry throughput.

    .venv/bin/python bench/lots.py --sizes 1000,10000,100000 --expire 100000

Flatness: one account (one customer) buys `size` times, dated a minute
apart a year ago, under a program whose points expire at the end of their
day, and spends everything spendable every 50 purchases (a redemption); what
is left expires (`process_due`). Then the median time of balance() and of a
redemption: both read the account's open lots only, so they stay flat in the
number of lots the account ever had.

Throughput: `--expire` lots over customers of 10 lots each, all expired;
process_due's lots expired per second (one transaction per lot: its effect
plus its due-item record; SQLite file store).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
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


def clock_from(start: datetime) -> Any:
    ticks = iter(range(10**12))

    def clock() -> datetime:
        return start + timedelta(microseconds=next(ticks))

    return clock


def flat(directory: Path, size: int) -> dict[str, float]:
    url = f"sqlite:///{directory}/flat-{size}.db"
    with Ledger.open(url, clock=clock_from(NOW)) as ledger:
        ledger.configure_loyalty(PROGRAM)
        (customer,) = register_customers(ledger, 1)
        for i in range(size):
            at = PAST + timedelta(minutes=i)
            ledger.record_purchase(customer, f"L-{i}", 10_000, at=at)
            if i % 50 == 49 and (points := ledger.balance(customer, at=at)):
                ledger.redeem_points(customer, points, f"S-{i}", at=at)
        ledger.process_due()
        for i in range(20):  # today's lots: open, spendable
            ledger.record_purchase(customer, f"NOW-{i}", 100_000, at=NOW)
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
        assert len(ledger.loyalty_account(customer).lots) == 20  # type: ignore[union-attr]
    return {
        "lots": size,
        "balance_p50_ms": statistics.median(balance_times) * 1000,
        "redeem_p50_ms": statistics.median(redeem_times) * 1000,
    }


def throughput(directory: Path, lots: int) -> float:
    url = f"sqlite:///{directory}/expire-{lots}.db"
    with Ledger.open(url, clock=clock_from(NOW)) as ledger:
        ledger.configure_loyalty(PROGRAM)
        customers = register_customers(ledger, max(1, lots // 10))
        rows = (
            {
                "customer_id": customers[i % len(customers)],
                "invoice_id": f"E-{i}",
                "amount": 10_000,
                "at": PAST + timedelta(seconds=i),
            }
            for i in range(lots)
        )
        report = ledger.import_purchases(rows)
        assert not report.rejected, report.rejected[:3]
        start = time.perf_counter()
        expired = ledger.process_due()
        seconds = time.perf_counter() - start
        assert expired == lots, (expired, lots)
    return lots / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--expire", type=int, default=100_000, help="lots for process_due")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-lots-") as directory:
        print("| lots the account had | balance() p50 ms | redemption p50 ms |")
        print("|---:|---:|---:|")
        for size in (int(s) for s in args.sizes.split(",") if s):
            r = flat(Path(directory), size)
            print(
                f"| {r['lots']:,} | {r['balance_p50_ms']:.2f} | {r['redeem_p50_ms']:.2f} |",
                flush=True,
            )
        if args.expire:
            rate = throughput(Path(directory), args.expire)
            print(f"\nprocess_due: {args.expire:,} lots expired, {rate:,.0f} lots/s", flush=True)


if __name__ == "__main__":
    main()
