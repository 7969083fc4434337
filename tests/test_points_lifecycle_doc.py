"""docs/points.md "A year of one customer's lots": the statement it shows is what
the ledger gives, before and after `process_due`."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

from referral_ledger import Ledger, LoyaltyProgram, PointsExpiry
from support import Clock

DOC = Path(__file__).resolve().parent.parent / "docs" / "points.md"
ICT = timezone(timedelta(hours=7))
ROW = re.compile(
    r"^(\d{4}-\d\d-\d\d)\s+(earn|redeem|return|expire|refund)\s+(\S+)\s+([+-]\d+)\s+(\d+)$"
)


def doc_rows() -> list[tuple[str, str, str, int, int]]:
    rows = []
    for line in DOC.read_text(encoding="utf-8").splitlines():
        if found := ROW.match(line):
            day, kind, reference, points, balance = found.groups()
            rows.append((day, kind, reference, int(points), int(balance)))
    return rows


def day(month: int, dom: int, year: int = 2026) -> datetime:
    return datetime(year, month, dom, 10, 0, tzinfo=ICT)


def test_the_year_of_lots_gives_the_statement_of_the_doc() -> None:
    clock = Clock(day(1, 1))
    expected = doc_rows()
    assert len(expected) == 10
    with Ledger.open("memory://", clock=clock, business_timezone=ICT) as ledger:
        ledger.configure_loyalty(
            LoyaltyProgram(
                money_per_point=Decimal(1000),
                point_value=Decimal(100),
                pending_days=7,
                expiry=PointsExpiry(90, "month"),
            )
        )
        cid = ledger.register_customer("Lê Thị Hoa", ["0912 345 678"])

        def on(moment: datetime) -> None:
            clock.now = moment

        on(day(1, 10))
        assert 300 == ledger.record_purchase(cid, "HD-1", 300_000)
        on(day(2, 20))
        ledger.record_purchase(cid, "HD-2", 200_000)
        on(day(3, 15))
        ledger.redeem_points(cid, 250, "R-1")
        on(day(4, 10))
        ledger.record_purchase(cid, "HD-3", 500_000)
        on(day(5, 20))
        assert 100 == ledger.return_purchase(cid, "HD-2", 100_000)
        on(day(7, 15))
        ledger.redeem_points(cid, 300, "R-2")
        on(day(12, 1))
        ledger.record_purchase(cid, "HD-4", 100_000)
        on(day(12, 31))

        def shown() -> list[tuple[str, str, str, int, int]]:
            return [
                (r.at.astimezone(ICT).date().isoformat(), r.kind, r.reference, r.points, r.balance)
                for r in ledger.statement(cid)
            ]

        assert expected == shown()
        assert 3 == ledger.process_due()  # HD-1, HD-2 and HD-3 expire
        assert expected == shown()
        summary = ledger.points_summary(cid)
        assert (summary.available, summary.pending) == (100, 0)
        [expiring] = summary.expiring
        assert (expiring.expires_at, expiring.points) == (datetime(2027, 4, 1, tzinfo=ICT), 100)
