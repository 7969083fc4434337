"""Points lots at scale: balance() and a redemption on one account with many lots,
most of them spent or expired, and process_due's expiry throughput.

    .venv/bin/python bench/lots.py --sizes 1000,10000,100000 --expire 1000000
    .venv/bin/python bench/lots.py --store postgres --sizes 1000,10000 --expire 100000
    .venv/bin/python bench/run.py --scenarios lots --store sqlite      # into the JSON

Flatness: one account (one customer) buys `size` times, dated a minute
apart a year ago, under a program whose points expire at the end of their
day (imported 50 purchases at a time), and spends half its balance after
every 50 purchases; the rest expires (`process_due`, run once a day of
purchases, dated then, as a worker would). Then the median time
of balance() and of a 1-point redemption, wall and CPU (this process's own
time, which the load of the shared machine and the disk's flushes do not
inflate): both read the account's open lots only, so they stay flat in the
number of lots the account ever had.

Throughput: `--expire` lots over customers of 10 lots each (each customer's
lots in one import call), all expired; process_due's lots expired per
second. The due index is folded first (a store kept current by its worker
has it folded already), timed apart; then process_due, called a day at a
time (a progress line each) and once more at now, reads the due rows and
handles them `reactions/due.BATCH` to a transaction.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import DEFAULT_PG, Places, register_customers, store_of

from referral_ledger import Ledger, LoyaltyProgram, PointsExpiry
from referral_ledger.aggregates.loyalty import account_id
from referral_ledger.reactions import JOBS

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
PAST = NOW - timedelta(days=365)
PROGRAM = LoyaltyProgram(
    money_per_point=Decimal(1000), point_value=Decimal(100), expiry=PointsExpiry(0, "day")
)
BLOCK = 50
#: Purchases between two `process_due` runs while building (a day's, a minute apart).
DAILY = 1450
IMPORT_ROWS = 20_000
#: Build progress lines every this many lots.
PROGRESS = 100_000


def clock_from(start: datetime) -> Any:
    ticks = iter(range(10**12))

    def clock() -> datetime:
        return start + timedelta(microseconds=next(ticks))

    return clock


def timed(action: Callable[[], object], times: int) -> tuple[float, float]:
    """Median wall and CPU milliseconds of `action`."""
    wall, cpu = [], []
    for _ in range(times):
        w, c = time.perf_counter(), time.process_time()
        action()
        cpu.append(time.process_time() - c)
        wall.append(time.perf_counter() - w)
    return statistics.median(wall) * 1000, statistics.median(cpu) * 1000


def flat(url: str, size: int) -> dict[str, Any]:
    """One account with `size` lots, most spent or expired: balance() and redemption times."""
    with Ledger.open(url, clock=clock_from(NOW)) as ledger:
        ledger.configure_loyalty(PROGRAM)
        (customer,) = register_customers(ledger, 1)
        started = time.perf_counter()
        for block in range(0, size, BLOCK):
            rows = [
                {
                    "customer_id": customer,
                    "invoice_id": f"L-{i}",
                    "amount": 10_000,
                    "at": PAST + timedelta(minutes=i),
                }
                for i in range(block, min(size, block + BLOCK))
            ]
            ledger.import_purchases(rows)
            at = PAST + timedelta(minutes=min(size, block + BLOCK) - 1)
            if points := ledger.balance(customer, at=at) // 2:
                ledger.redeem_points(customer, points, f"S-{block}", at=at)
            if block % DAILY == DAILY - BLOCK:  # a worker's daily run, dated then
                ledger.process_due(at)
        expired = ledger.process_due()
        built = time.perf_counter() - started
        for i in range(20):  # today's lots: open, spendable
            ledger.record_purchase(customer, f"NOW-{i}", 100_000, at=NOW)
        balance_wall, balance_cpu = timed(partial(ledger.balance, customer), 200)
        numbers = iter(range(10**6))
        redeem_wall, redeem_cpu = timed(
            lambda: ledger.redeem_points(customer, 1, f"R-{next(numbers)}"), 50
        )
        # Python function calls per redemption: the load of the machine and
        # the disk leave this count alone.
        profile = cProfile.Profile()
        profile.runcall(lambda: [ledger.redeem_points(customer, 1, f"P-{n}") for n in range(10)])
        calls = pstats.Stats(profile).total_calls / 10  # type: ignore[attr-defined]
        assert ledger.balance(customer) == 20 * 100 - 60
        account = ledger.loyalty_account(customer)
        assert account is not None and len(account.lots) == 20
        events = store_of(ledger).version_of(account_id(customer))
    return {
        "lots": size,
        "expired": expired,
        "account_events": events,
        "build_s": built,
        "balance_p50_ms": balance_wall,
        "balance_cpu_p50_ms": balance_cpu,
        "redeem_p50_ms": redeem_wall,
        "redeem_cpu_p50_ms": redeem_cpu,
        "redeem_python_calls": calls,
    }


def throughput(url: str, lots: int) -> dict[str, Any]:
    """process_due over `lots` expired lots (customers of 10 lots each)."""
    with Ledger.open(url, clock=clock_from(NOW)) as ledger:
        ledger.configure_loyalty(PROGRAM)
        started = time.perf_counter()
        customers = register_customers(ledger, max(1, lots // 10))
        print(
            f"  {len(customers):,} customers in {time.perf_counter() - started:.0f} s", flush=True
        )
        for first in range(0, lots, IMPORT_ROWS):
            last = min(lots, first + IMPORT_ROWS)
            # Round-robin over the customers of this batch only (each has its 10
            # lots in one batch, a second apart from the next customer's): the
            # importer's state cache holds them, so building a million lots does
            # not reload 100,000 accounts per batch. Expiry order is unchanged
            # (by day, then by lot), so process_due still sees a batch's 200 items
            # spread over many accounts.
            window = customers[first // 10 : max(first // 10 + 1, -(-last // 10))]
            report = ledger.import_purchases(
                {
                    "customer_id": window[i % len(window)],
                    "invoice_id": f"E-{i}",
                    "amount": 10_000,
                    "at": PAST + timedelta(seconds=i),
                }
                for i in range(first, last)
            )
            assert not report.rejected, report.rejected[:3]
            if last % PROGRESS == 0 or last == lots:
                print(f"  built {last:,} lots in {time.perf_counter() - started:.0f} s", flush=True)
        built = time.perf_counter() - started
        index = ledger._context.due_index
        wall, cpu = time.perf_counter(), time.process_time()
        folded = sum(index.catch_up(job) for job in JOBS)
        fold_wall, fold_cpu = time.perf_counter() - wall, time.process_time() - cpu
        print(f"  folded {folded:,} events in {fold_wall:.0f} s ({fold_cpu:.0f} s CPU)", flush=True)
        wall, cpu = time.perf_counter(), time.process_time()
        # A day of lots per call (as a daily worker would, late), then the rest:
        # a progress line per day, so a run cut short still gives a rate.
        expired = 0
        day = PAST.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
        while day < NOW:
            expired += ledger.process_due(day)
            spent, used = time.perf_counter() - wall, time.process_time() - cpu
            if expired:
                print(
                    f"  process_due to {day:%Y-%m-%d}: {expired:,} lots in {spent:.0f} s "
                    f"({used:.0f} s CPU): {expired / spent:,.0f} lots/s, "
                    f"{expired / used:,.0f} per CPU s",
                    flush=True,
                )
            if expired >= lots:
                break
            day += timedelta(days=1)
        expired += ledger.process_due()
        due_wall, due_cpu = time.perf_counter() - wall, time.process_time() - cpu
        assert expired == lots, (expired, lots)
        assert ledger.process_due() == 0
    return {
        "lots": lots,
        "build_s": built,
        "fold_events": folded,
        "fold_s": fold_wall,
        "fold_cpu_s": fold_cpu,
        "process_due_s": due_wall,
        "process_due_cpu_s": due_cpu,
        "lots_per_s": lots / due_wall,
        "lots_per_cpu_s": lots / due_cpu,
        "lots_per_s_with_fold": lots / (due_wall + fold_wall),
    }


def scenario_lots(url_for: Callable[[str], str], sizes: list[int], expire: int) -> dict[str, Any]:
    """Both parts, for bench/run.py's JSON."""
    result: dict[str, Any] = {"flat": [flat(url_for(f"flat{s}"), s) for s in sizes]}
    if expire:
        result["process_due"] = throughput(url_for(f"expire{expire}"), expire)
    return result


def print_flat(r: dict[str, Any]) -> None:
    print(
        f"| {r['lots']:,} | {r['account_events']:,} | {r['balance_p50_ms']:.2f} | "
        f"{r['balance_cpu_p50_ms']:.2f} | {r['redeem_p50_ms']:.2f} | "
        f"{r['redeem_cpu_p50_ms']:.2f} | {r['redeem_python_calls']:,.0f} |",
        flush=True,
    )


def print_throughput(r: dict[str, Any]) -> None:
    print(
        f"\nprocess_due: {r['lots']:,} lots expired in {r['process_due_s']:.0f} s "
        f"({r['process_due_cpu_s']:.0f} s CPU): {r['lots_per_s']:,.0f} lots/s "
        f"({r['lots_per_cpu_s']:,.0f} per CPU second); folding the due index first: "
        f"{r['fold_events']:,} events in {r['fold_s']:.0f} s ({r['fold_cpu_s']:.0f} s CPU), "
        f"{r['lots_per_s_with_fold']:,.0f} lots/s with it; store built in {r['build_s']:.0f} s",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--expire", type=int, default=1_000_000, help="lots for process_due")
    parser.add_argument("--store", default="sqlite", choices=["sqlite", "postgres"])
    parser.add_argument("--pg", default=DEFAULT_PG)
    args = parser.parse_args()
    places = Places(args.pg)
    places.dir = Path(tempfile.mkdtemp(prefix="bench-lots-"))
    try:
        sizes = [int(s) for s in args.sizes.split(",") if s]
        if sizes:
            print(f"{args.store}:")
            print(
                "| lots the account had | its events | balance() p50 ms | CPU ms "
                "| redemption p50 ms | CPU ms | Python calls |"
            )
            print("|---:|---:|---:|---:|---:|---:|---:|")
        for size in sizes:
            print_flat(flat(places.url(args.store, f"flat{size}"), size))
        if args.expire:
            print_throughput(throughput(places.url(args.store, "expire"), args.expire))
    finally:
        places.close()


if __name__ == "__main__":
    main()
