"""A Vietnamese retail loyalty program on an embedded SQLite ledger.

Run it with `make demo`, or `python examples/points_demo.py [PATH]`: with a
PATH the ledger file is created there and kept; without one it lives in a
temporary directory that is deleted on exit.

The story: a shop gives 1 point per 10,000 VND spent (discounted items
excluded, nothing on invoices paid with points), 1 point is worth 1,000 VND,
redeeming needs at least two purchases (min_purchases_before_redeem=1, "more
than 1"), and 500 lifetime points make a customer VIP. Two customers buy,
redeem and return; a POS retry sends an invoice twice; at the end every
balance and statement is printed.
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from uuid import UUID

from referral_ledger import Ledger, LoyaltyProgram, RedemptionRefused, Tier

#: Shop time (Indochina Time) for the business times shown in statements.
ICT = timezone(timedelta(hours=7), "ICT")


def shop_time(day: int, hour: int, minute: int = 0) -> datetime:
    """A moment in March 2025, shop time."""
    return datetime(2025, 3, day, hour, minute, tzinfo=ICT)


def vnd(amount: Decimal) -> str:
    return f"{amount:,.0f} VND"


@contextmanager
def ledger_file(argv: list[str]) -> Iterator[Path]:
    """The ledger file: argv[1] if given (kept), else one in a temporary directory."""
    if len(argv) > 1:
        path = Path(argv[1]).resolve()
        if path.exists():
            sys.exit(f"{path} already exists; give the demo a new file name")
        path.parent.mkdir(parents=True, exist_ok=True)
        print(f"Ledger file: {path}")
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="referral-ledger-demo-") as directory:
        path = Path(directory) / "ledger.db"
        print(f"Ledger file: {path} (temporary; pass a path to keep it)")
        yield path


def tier_of(ledger: Ledger, customer_id: UUID) -> str:
    account = ledger.loyalty_account(customer_id)
    return account.tier if account and account.tier else "-"


def print_statement(ledger: Ledger, name: str, customer_id: UUID) -> None:
    print(f"\nStatement of {name}")
    header = f"{'when (ICT)':<16}  {'kind':<6}  {'reference':<9}  {'amount':>15}  {'points':>6}"
    print(header + f"  {'balance':>7}")
    print("-" * (len(header) + 9))
    for row in ledger.statement(customer_id):
        when = row.at.astimezone(ICT).strftime("%Y-%m-%d %H:%M")
        print(
            f"{when:<16}  {row.kind:<6}  {row.reference:<9}  {vnd(row.amount):>15}  "
            f"{row.points:>+6}  {row.balance:>7}"
        )


def print_balance(ledger: Ledger, name: str, customer_id: UUID) -> None:
    account = ledger.loyalty_account(customer_id)
    lifetime = account.lifetime_points if account else 0
    balance = ledger.balance(customer_id)
    tier = tier_of(ledger, customer_id)
    print(f"{name:<16} balance {balance:>4} points  lifetime {lifetime:>4}  tier {tier}")


def main(argv: list[str]) -> None:
    with ledger_file(argv) as path, Ledger.open(f"sqlite:///{path}") as ledger:
        version = ledger.configure_loyalty(
            LoyaltyProgram(
                money_per_point=Decimal("10000"),
                point_value=Decimal("1000"),
                min_purchases_before_redeem=1,
                earn_on_discounted_items=False,
                earn_on_invoices_paid_with_points=False,
                tiers=(Tier("VIP", min_points=500),),
            )
        )
        print(
            f"Loyalty program v{version}: 1 point per 10,000 VND, 1 point = 1,000 VND, "
            "VIP from 500 lifetime points"
        )

        an = ledger.register_customer(name="Nguyễn Văn An", phones=["0912 345 678"])
        binh = ledger.register_customer(name="Trần Thị Bình", phones=["0987 654 321"])

        print("\nNguyễn Văn An")
        earned = ledger.record_purchase(
            an,
            "HD-1001",
            Decimal("2350000"),
            discounted_amount=Decimal("350000"),
            at=shop_time(3, 9, 15),
        )
        print(f"  HD-1001 2,350,000 VND (350,000 of it discounted) earns {earned} points")
        earned = ledger.record_purchase(an, "HD-1002", Decimal("3480000"), at=shop_time(3, 18, 40))
        print(f"  HD-1002 3,480,000 VND earns {earned} points; tier now {tier_of(ledger, an)}")

        events = ledger.event_count()
        again = ledger.record_purchase(an, "HD-1002", Decimal("3480000"), at=shop_time(3, 18, 40))
        recorded = ledger.event_count() - events
        print(f"  HD-1002 sent again by the POS: {again} points, {recorded} new events")

        value = ledger.redeem_points(an, 100, "DT-2001", at=shop_time(5, 11, 5))
        print(f"  DT-2001 redeems 100 points for {vnd(value)}")
        after_redeeming = datetime.now(UTC)

        taken = ledger.return_purchase(an, "HD-1002", Decimal("1160000"), at=shop_time(6, 10, 30))
        print(
            f"  HD-1002 returns 1,160,000 VND: {taken} points taken back; "
            f"tier now {tier_of(ledger, an)}"
        )

        print("\nTrần Thị Bình")
        earned = ledger.record_purchase(binh, "HD-1003", Decimal("1259000"), at=shop_time(4, 14, 0))
        print(f"  HD-1003 1,259,000 VND earns {earned} points")
        try:
            ledger.redeem_points(binh, 50, "DT-2002", at=shop_time(4, 14, 5))
        except RedemptionRefused as refused:
            print(f"  DT-2002 refused after only one purchase: {refused}")
        earned = ledger.record_purchase(
            binh, "HD-1004", Decimal("640000"), points_used=50, at=shop_time(7, 16, 20)
        )
        print(f"  HD-1004 640,000 VND, partly paid with 50 points, earns {earned} points")
        value = ledger.redeem_points(binh, 50, "DT-2003", at=shop_time(7, 16, 20))
        print(f"  DT-2003 redeems those 50 points for {vnd(value)}")

        print("\nBalances")
        print_balance(ledger, "Nguyễn Văn An", an)
        print_balance(ledger, "Trần Thị Bình", binh)
        audit = ledger.balance(an, as_of=after_redeeming)
        print(f"Nguyễn Văn An's balance as recorded right after DT-2001: {audit} points")

        print_statement(ledger, "Nguyễn Văn An", an)
        print_statement(ledger, "Trần Thị Bình", binh)
        print(f"\n{ledger.event_count()} events in the log")


if __name__ == "__main__":
    main(sys.argv)
