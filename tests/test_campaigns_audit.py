"""The audit checks the campaigns' promises over the log.

A ledger of accepted commands (purchases, checkouts, imports and returns that
reach limits and the budget) audits clean. Events that break a promise are
reported with their position: bonus past the budget or a customer's limit
written by a faulty writer (through the store, so the hash chain is intact and
only this check sees it), a bonus earned that its campaign never counted, and
a counted purchase deleted from the file with SQL.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Generator, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from uuid import UUID

import pytest

from referral_ledger import Campaign, CampaignBonus, Ledger, LoyaltyProgram
from referral_ledger.aggregates import campaign as campaigns
from referral_ledger.aggregates import loyalty, loyalty_account, loyalty_decisions
from referral_ledger.aggregates.loyalty_decisions import Purchase
from referral_ledger.audit import AuditReport
from referral_ledger.store import UnitOfWork

T0 = datetime(2026, 6, 1, tzinfo=UTC)
DAY1 = T0 + timedelta(days=1)
PROGRAM = LoyaltyProgram(money_per_point=Decimal(1000), point_value=Decimal(100))


@pytest.fixture
def shop(store_url: str) -> Iterator[tuple[Ledger, UUID, UUID]]:
    yield from _shop(store_url)


def _shop(url: str) -> Generator[tuple[Ledger, UUID, UUID]]:
    with Ledger.open(url, clock=lambda: T0 + timedelta(days=2)) as ledger:
        ledger.configure_loyalty(PROGRAM)
        ledger.add_campaign(
            Campaign(
                campaign_id="DUA-T6",
                name="Đua tích điểm",
                starts_at=T0,
                ends_at=T0 + timedelta(days=30),
                multiplier=Decimal(2),
                per_customer_limit=150,
                budget_points=250,
            )
        )
        a = ledger.register_customer("An", ["0901000001"])
        b = ledger.register_customer("Bình", ["0901000002"])
        ledger.record_purchase(a, "HD-1", Decimal(100_000), at=DAY1)  # +100
        ledger.checkout(a, "HD-2", Decimal(100_000), at=DAY1)  # +50: A's limit
        ledger.import_purchases(
            [{"customer_id": b, "invoice_id": "HD-3", "amount": 80_000, "at": DAY1}]
        )  # +80
        ledger.checkout(b, "HD-4", Decimal(100_000), at=DAY1)  # +20: the budget's remainder
        ledger.return_purchase(a, "HD-1", Decimal(50_000), at=DAY1)
        yield ledger, a, b


def campaign_problems(report: AuditReport) -> list[tuple[int | None, str]]:
    return [(p.position, p.message) for p in report.problems if p.check == "campaigns"]


def test_accepted_commands_that_reach_the_limits_audit_clean(
    shop: tuple[Ledger, UUID, UUID],
) -> None:
    ledger, _, _ = shop
    report = ledger.audit()
    assert list(report.problems) == []
    state = ledger._store.load(campaigns.campaign_record_id("DUA-T6"), campaigns.evolve_campaign)
    assert state is not None and state.granted == 250


def _forge_purchase(ledger: Ledger, customer: UUID, bonus: int, *, counted: bool) -> int:
    """What a faulty earning step would write: a purchase with `bonus` from DUA-T6 that no
    rule gave (and, unless `counted`, that the campaign never counted). Returns its position."""
    purchase = Purchase("FORGED", Decimal(10_000), Decimal(0), 0, DAY1)
    record_id = campaigns.campaign_record_id("DUA-T6")

    def write(unit: UnitOfWork) -> None:
        account = unit.load(loyalty.account_id(customer), loyalty_account.evolve_account)
        unit.new(loyalty.invoice_record_id("FORGED"), loyalty.evolve_invoice)
        events = loyalty_decisions.earn(
            account,
            customer_id=customer,
            purchase=purchase,
            program=PROGRAM,
            program_version=1,
            group=None,
            now=unit.now,
            bonuses=(CampaignBonus("DUA-T6", bonus),),
        )
        if counted:
            state = unit.load(record_id, campaigns.evolve_campaign)
            assert state is not None
            events.append(
                campaigns.count_purchase(
                    state,
                    customer_id=customer,
                    invoice_id="FORGED",
                    base_points=10,
                    bonus=bonus,
                    points=10 + bonus,
                    at=DAY1,
                    now=unit.now,
                )
            )
        unit.record(events)

    ledger._store.run(write)
    return ledger._store.last_position()


def test_bonus_past_the_budget_and_the_limit_is_reported_where_it_was_written(
    shop: tuple[Ledger, UUID, UUID],
) -> None:
    ledger, _, b = shop
    position = _forge_purchase(ledger, b, 75, counted=True)
    report = ledger.audit()
    # The chain holds (the store wrote it): only the campaigns check sees it.
    assert {p.check for p in report.problems} == {"campaigns"}
    found = campaign_problems(report)
    assert [message for _, message in found] == [
        "campaign 'DUA-T6': bonus earned reached 325, past its budget of 250",
        f"campaign 'DUA-T6': customer {b}'s bonus earned reached 175, past the per-customer "
        "limit of 150",
        "campaign 'DUA-T6': bonus counted reached 325, past its budget of 250",
        f"campaign 'DUA-T6': customer {b}'s bonus counted reached 175, past the per-customer "
        "limit of 150",
    ]
    # Reported at the forged events: PointsEarned, (InvoiceRecorded,) CampaignPurchaseCounted.
    assert [p for p, _ in found] == [position - 2, position - 2, position, position]


def test_a_bonus_its_campaign_never_counted_is_reported(
    shop: tuple[Ledger, UUID, UUID],
) -> None:
    ledger, _, b = shop
    position = _forge_purchase(ledger, b, 0, counted=False)
    assert campaign_problems(ledger.audit()) == [
        (
            position - 1,
            "campaign 'DUA-T6', invoice 'FORGED': the purchase earned a bonus of 0 but the "
            "campaign counted no bonus from it",
        )
    ]


def test_a_counted_purchase_deleted_with_sql_is_reported(sqlite_url: str) -> None:
    shop = _shop(sqlite_url)
    ledger, _, _ = next(shop)
    path = Path(sqlite_url.removeprefix("sqlite:///"))
    with contextlib.closing(sqlite3.connect(path)) as db, db:
        (row,) = db.execute(
            "SELECT rowid FROM stored_events WHERE topic LIKE '%:CampaignPurchaseCounted' "
            "ORDER BY rowid LIMIT 1"
        ).fetchone()
        db.execute("DELETE FROM stored_events WHERE rowid = ?", (row,))
    found = campaign_problems(ledger.audit())
    assert len(found) == 1
    position, message = found[0]
    assert position is not None and position < row
    assert message == (
        "campaign 'DUA-T6', invoice 'HD-1': the purchase earned a bonus of 100 but the "
        "campaign counted no bonus from it"
    )
    shop.close()
