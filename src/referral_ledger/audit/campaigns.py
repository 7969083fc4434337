"""The campaigns' promises, checked over the log: no campaign handed out more bonus
than its budget, no customer got more than the per-customer limit, and every
bonus a purchase earned is the bonus its campaign counted (so neither side can
be written past the other's limits)."""

from __future__ import annotations

from collections import Counter
from uuid import UUID

import attrs

from referral_ledger.aggregates import loyalty
from referral_ledger.aggregates.base import Event
from referral_ledger.aggregates.campaign import CampaignAdded, CampaignPurchaseCounted
from referral_ledger.audit.report import Problem
from referral_ledger.policies.campaigns import Campaign


@attrs.define
class _Spent:
    """Bonus handed out by one campaign, as one kind of event records it."""

    total: int = 0
    by_customer: Counter[UUID] = attrs.Factory(Counter)


class CampaignLimits:
    """Fed every decoded event in log order (see `Invariants`)."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        self.campaigns: dict[str, Campaign] = {}
        #: By campaign: the bonus customers received (`PointsEarned.bonuses`) and
        #: the bonus the campaign counted (`CampaignPurchaseCounted`).
        self.earned: dict[str, _Spent] = {}
        self.counted: dict[str, _Spent] = {}
        #: (campaign, invoice) -> [bonus earned, bonus counted, position]
        self.sales: dict[tuple[str, str], list[int | None]] = {}

    def event(self, event: Event, position: int) -> None:
        if isinstance(event, CampaignAdded):
            self.campaigns[event.campaign.campaign_id] = event.campaign
        elif isinstance(event, CampaignPurchaseCounted):
            self._spend(
                self.counted, event.campaign_id, event.customer_id, event.bonus, position, "counted"
            )
            self._sale(event.campaign_id, event.invoice_id, position)[1] = event.bonus
        elif isinstance(event, loyalty.PointsEarned):
            for bonus in event.bonuses:
                self._spend(
                    self.earned,
                    bonus.campaign_id,
                    event.customer_id,
                    bonus.points,
                    position,
                    "earned",
                )
                self._sale(bonus.campaign_id, event.invoice_id, position)[0] = bonus.points

    def finish(self) -> None:
        for (campaign_id, invoice_id), (earned, counted, position) in self.sales.items():
            if earned != counted:
                self.problems.append(
                    Problem(
                        "campaigns",
                        f"campaign {campaign_id!r}, invoice {invoice_id!r}: the purchase earned "
                        f"{_bonus(earned)} but the campaign counted {_bonus(counted)}",
                        position,
                    )
                )

    def _sale(self, campaign_id: str, invoice_id: str, position: int) -> list[int | None]:
        return self.sales.setdefault((campaign_id, invoice_id), [None, None, position])

    def _spend(
        self,
        spent: dict[str, _Spent],
        campaign_id: str,
        customer: UUID,
        bonus: int,
        position: int,
        how: str,
    ) -> None:
        campaign = self.campaigns.get(campaign_id)
        if campaign is None:
            self.problems.append(
                Problem("campaigns", f"bonus {how} for unknown campaign {campaign_id!r}", position)
            )
            return
        so_far = spent.setdefault(campaign_id, _Spent())
        so_far.total += bonus
        so_far.by_customer[customer] += bonus
        budget, limit = campaign.budget_points, campaign.per_customer_limit
        # Reported where a limit is first passed, not again for every later bonus.
        if budget is not None and so_far.total - bonus <= budget < so_far.total:
            self.problems.append(
                Problem(
                    "campaigns",
                    f"campaign {campaign_id!r}: bonus {how} reached {so_far.total}, "
                    f"past its budget of {budget}",
                    position,
                )
            )
        held = so_far.by_customer[customer]
        if limit is not None and held - bonus <= limit < held:
            self.problems.append(
                Problem(
                    "campaigns",
                    f"campaign {campaign_id!r}: customer {customer}'s bonus {how} reached "
                    f"{held}, past the per-customer limit of {limit}",
                    position,
                )
            )


def _bonus(points: int | None) -> str:
    return "no bonus from it" if points is None else f"a bonus of {points}"
