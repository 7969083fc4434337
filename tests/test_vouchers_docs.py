"""The worked examples of docs/vouchers.md and docs/referral-codes.md give the figures they show."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

from referral_ledger import CommissionRow, Ledger, LoyaltyProgram

DOCS = Path(__file__).resolve().parent.parent / "docs"
VN = timezone(timedelta(hours=7))


def blocks(page: str) -> list[str]:
    text = (DOCS / page).read_text(encoding="utf-8")
    return [part.split("```", 1)[0] for part in text.split("```python\n")[1:]]


def test_the_voucher_example_runs_as_written() -> None:
    exec(blocks("vouchers.md")[0], {})


def test_the_voucher_import_example_gives_its_report() -> None:
    namespace: dict[str, Any] = {}
    exec(blocks("vouchers.md")[0], namespace)
    exec(blocks("vouchers.md")[1], namespace)
    report = namespace["report"]
    assert (report.created, report.updated, report.unchanged) == (1, 0, 0)
    assert [n for n, _ in report.rejected] == [2]
    assert report.rejected[0][1].startswith("code may hold only letters A-Z")
    assert namespace["ledger"].get_voucher("he2026").percent == 10


def test_the_referral_code_example_gives_its_figures() -> None:
    namespace: dict[str, Any] = {}
    exec(blocks("referral-codes.md")[0], namespace)
    ledger: Ledger = namespace["ledger"]
    an, code = namespace["an"], namespace["code"]
    assert len(code) == 7
    ledger.configure_loyalty(
        LoyaltyProgram(money_per_point=Decimal(1000), point_value=Decimal(100))
    )
    binh = ledger.register_customer("Trần Thị Bình", ["0987 654 321"])
    at = datetime(2026, 3, 1, 10, tzinfo=VN)
    first = ledger.checkout(binh, "HD-1", Decimal(200_000), referral_code=code, at=at)
    assert first.referral_discount == Decimal(30_000)
    assert ledger.referred_by(binh) == an
    assert ledger.commissions(an) == [
        CommissionRow(
            "HD-1", binh, Decimal(170_000), Decimal(4_250), "pending", at + 14 * timedelta(days=1)
        )
    ]
    assert ledger.process_due(datetime(2026, 3, 15, 10, tzinfo=VN)) == 1
    assert ledger.pay_commissions(an, "PO-2026-03") == Decimal(4_250)
    assert ledger.pay_commissions(an, "PO-2026-03") == Decimal(4_250)
