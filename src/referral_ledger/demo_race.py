"""April's points race, a scene of the demo story (`referral-ledger demo --race`).

A campaign with double points, a bonus on every second purchase, a limit per
customer and a budget; three customers buy in April, one returns half an
invoice, and `process_due` closes the race on 1 May with its final ranking.
docs/campaigns.md walks through its figures (a test replays them).
"""

from __future__ import annotations

from decimal import Decimal
from functools import partial
from typing import Final
from uuid import UUID

from referral_ledger.demo import Action, give_back, purchase, shop_time
from referral_ledger.ledger import Ledger
from referral_ledger.policies.campaigns import Campaign

#: The points race of April (`referral-ledger demo --race`):
#: double points, 50 more on every second purchase, at most 400 bonus points a
#: customer and 1,000 in all.
RACE: Final = Campaign(
    campaign_id="DUA-T4",
    name="Đua tích điểm tháng 4",
    starts_at=shop_time(4, 1, 0),
    ends_at=shop_time(5, 1, 0),
    multiplier=Decimal(2),
    bonus_points=50,
    every_nth_purchase=2,
    per_customer_limit=400,
    budget_points=1000,
)
RACE_PURCHASES: Final = (
    ("POS-C004", "INV-0101", Decimal(1_200_000), Decimal(0), shop_time(4, 3, 10, 0)),
    ("POS-C003", "INV-0102", Decimal(2_500_000), Decimal(0), shop_time(4, 5, 17, 30)),
    ("POS-C005", "INV-0103", Decimal(1_800_000), Decimal(0), shop_time(4, 8, 9, 45)),
    ("POS-C004", "INV-0104", Decimal(900_000), Decimal(0), shop_time(4, 12, 15, 0)),
    ("POS-C003", "INV-0105", Decimal(3_100_000), Decimal(0), shop_time(4, 20, 19, 10)),
    ("POS-C005", "INV-0106", Decimal(2_400_000), Decimal(0), shop_time(4, 26, 11, 20)),
    ("POS-C004", "INV-0107", Decimal(1_600_000), Decimal(0), shop_time(4, 29, 16, 0)),
)
RACE_RETURNS: Final = (("POS-C005", "INV-0106", Decimal(1_200_000), shop_time(4, 28, 9, 0)),)
#: When the race is closed (`process_due`): its final ranking is recorded.
RACE_CLOSED: Final = shop_time(5, 1, 0)


def scene(ledger: Ledger, ids: dict[str, UUID]) -> list[Action]:
    """The race's actions (a `demo.Scene`): the campaign, its purchases and return, the close."""
    actions: list[Action] = [(RACE.starts_at, partial(ledger.add_campaign, RACE, RACE.starts_at))]
    for pos_id, invoice, amount, discounted, at in RACE_PURCHASES:
        actions.append(
            (at, partial(purchase, ledger, ids, pos_id, invoice, amount, discounted, at))
        )
    for pos_id, invoice, amount, at in RACE_RETURNS:
        actions.append((at, partial(give_back, ledger, ids, pos_id, invoice, amount, at)))
    actions.append((RACE_CLOSED, partial(ledger.process_due, RACE_CLOSED)))
    return actions
