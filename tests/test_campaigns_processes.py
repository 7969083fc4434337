"""A campaign's budget and limits under real concurrency: 8 OS processes, one campaign.

Every purchase in the campaign (recorded, or at the till by `checkout`: half
of them) reads and advances the campaign's record in its own transaction,
so the processes' purchases conflict on it and retry: the budget is handed
out exactly, never more, and the purchase that reaches it gets the
remainder. On one SQLite file and on PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from uuid import UUID

import pytest

import campaign_workers
from referral_ledger import Campaign, Ledger, LoyaltyProgram
from test_loyalty_processes import run_workers

START = datetime(2026, 6, 1, tzinfo=UTC)
PROCESSES = 8
PER_WORKER = 6
CUSTOMERS = 16
#: Base 10 points per purchase, bonus 10 (multiplier 2) + 5 fixed: 15 each wanted.
BUDGET = 500
LIMIT = 40

pytestmark = pytest.mark.timeout(300)


def test_eight_processes_hand_out_exactly_the_budget(shared_url: str) -> None:
    with Ledger.open(shared_url) as ledger:
        ledger.configure_loyalty(
            LoyaltyProgram(money_per_point=Decimal(1000), point_value=Decimal(100))
        )
        customers = [
            ledger.register_customer(name=f"Khách {n}", phones=[f"09{n:08d}"])
            for n in range(1, CUSTOMERS + 1)
        ]
        ledger.add_campaign(
            Campaign(
                campaign_id="RACE",
                name="Race",
                starts_at=START,
                ends_at=START + timedelta(days=30),
                multiplier=Decimal(2),
                bonus_points=5,
                per_customer_limit=LIMIT,
                budget_points=BUDGET,
            ),
            at=START,
        )
    at = START + timedelta(days=1)
    # Purchase n of worker w is customer (6w + n) mod 16's: three purchases
    # each, from different workers, wanting 45 bonus points against a limit
    # of 40; and 16 x 40 = 640 against a budget of 500. Both are raced.
    # Every other purchase is a checkout: the till spends the same limits and budget.
    plan = [
        [
            (customers[(w * PER_WORKER + n) % CUSTOMERS], f"W{w}-{n}", 10000, n % 2 == 1)
            for n in range(PER_WORKER)
        ]
        for w in range(PROCESSES)
    ]
    results = run_workers(campaign_workers.buy_in_campaign, [(shared_url, p, at) for p in plan])
    earned = {invoice: points for r in results for invoice, points in r["earned"].items()}
    assert len(earned) == PROCESSES * PER_WORKER
    bonuses = {invoice: points - 10 for invoice, points in earned.items()}
    assert all(0 <= bonus <= 15 for bonus in bonuses.values())
    assert sum(bonuses.values()) == BUDGET
    totals: dict[UUID, int] = {}
    bonus_of: dict[UUID, int] = {}
    for purchases in plan:
        for customer, invoice, _, _ in purchases:
            totals[customer] = totals.get(customer, 0) + earned[invoice]
            bonus_of[customer] = bonus_of.get(customer, 0) + bonuses[invoice]
    assert max(bonus_of.values()) <= LIMIT
    with Ledger.open(shared_url) as ledger:
        board = ledger.campaign_leaderboard("RACE", limit=100)
        assert {row.customer_id: row.points for row in board} == totals
        assert [row.points for row in board] == sorted(totals.values(), reverse=True)


@pytest.mark.postgres
def test_on_postgresql_purchases_in_one_campaign_take_turns_not_retries(fresh_pg_url: str) -> None:
    """Each process buys for customers of its own: the campaign's record is the only
    one they share, and they queue for it (store/turns.py) instead of retrying."""
    with Ledger.open(fresh_pg_url) as ledger:
        ledger.configure_loyalty(
            LoyaltyProgram(money_per_point=Decimal(1000), point_value=Decimal(100))
        )
        customers = [
            ledger.register_customer(name=f"Khách {n}", phones=[f"09{n:08d}"])
            for n in range(1, PROCESSES + 1)
        ]
        ledger.add_campaign(
            Campaign(
                campaign_id="RACE",
                name="Race",
                starts_at=START,
                ends_at=START + timedelta(days=30),
                multiplier=Decimal(2),
                budget_points=BUDGET,
            ),
            at=START,
        )
    plan = [
        [(customers[w], f"W{w}-{n}", 10000) for n in range(PER_WORKER)] for w in range(PROCESSES)
    ]
    at = START + timedelta(days=1)
    results = run_workers(campaign_workers.buy_in_campaign, [(fresh_pg_url, p, at) for p in plan])
    assert [0] * PROCESSES == [r["stats"]["conflicts_retried"] for r in results]
    earned = [points for r in results for points in r["earned"].values()]
    assert sum(earned) == 10 * PROCESSES * PER_WORKER + min(BUDGET, 10 * PROCESSES * PER_WORKER)
