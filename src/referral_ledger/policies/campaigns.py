"""Campaigns (the points race): their settings and the arithmetic of bonuses.

Everything here is a pure function of its arguments. A purchase qualifies
for a campaign when its business `at` is in `[starts_at, ends_at)` (and
before the campaign was ended early), its amount reaches `min_amount`, and
the customer is in an eligible group, has an eligible tag and holds an
eligible tier (each `None`: everyone). Its bonus is
`floor(base * (multiplier - 1)) + bonus_points` (the fixed part only on every
Nth qualifying purchase when `every_nth_purchase` is set), cut to what the
customer's limit and the campaign's budget have left. Campaigns that apply
add up, each computed from the base points, in `campaign_id` order.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from fractions import Fraction

import attrs

from referral_ledger.errors import InvalidInput
from referral_ledger.values import (
    MAX_POINTS,
    parse_money,
    parse_points,
    parse_reference,
    parse_text,
    parse_time,
)


def _campaign_id(value: object) -> str:
    return parse_reference(value, "campaign_id")


def _name(value: object) -> str:
    return parse_text(value, "name")


def _starts_at(value: object) -> datetime:
    return parse_time(value, "starts_at")


def _ends_at(value: object) -> datetime:
    return parse_time(value, "ends_at")


def _min_amount(value: object) -> Decimal:
    return parse_money(value, "min_amount")


def _multiplier(value: object) -> Decimal:
    if isinstance(value, float):
        raise InvalidInput(f"multiplier must be a Decimal, int or numeric str, not {value!r}")
    if isinstance(value, Decimal | int | str) and not isinstance(value, bool):
        try:
            number = Decimal(value.strip() if isinstance(value, str) else value)
        except ArithmeticError:
            number = Decimal("NaN")
        if number.is_finite() and number < 1:
            raise InvalidInput(f"multiplier must be at least 1, not {value!r}")
    amount = parse_money(value, "multiplier")
    if amount > 1000:
        raise InvalidInput(f"multiplier must be at most 1000, not {value!r}")
    return amount


def _bonus(value: object) -> int:
    return parse_points(value, "bonus_points")


def _nth(value: object) -> int | None:
    return None if value is None else parse_points(value, "every_nth_purchase", positive=True)


def _limit(value: object, name: str) -> int | None:
    return None if value is None else parse_points(value, name, positive=True)


def _per_customer(value: object) -> int | None:
    return _limit(value, "per_customer_limit")


def _budget(value: object) -> int | None:
    return _limit(value, "budget_points")


def _names(value: object, name: str) -> frozenset[str] | None:
    if value is None:
        return None
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise InvalidInput(f"{name} must be None or a set of names, not {value!r}")
    return frozenset(parse_text(v, f"{name} entry") for v in value)


def _groups(value: object) -> frozenset[str] | None:
    return _names(value, "eligible_groups")


def _tags(value: object) -> frozenset[str] | None:
    return _names(value, "eligible_tags")


def _tiers(value: object) -> frozenset[str] | None:
    return _names(value, "eligible_tiers")


@attrs.frozen(kw_only=True)
class Campaign:
    """A points campaign: who qualifies, when, and how many bonus points it gives."""

    campaign_id: str = attrs.field(converter=_campaign_id)
    name: str = attrs.field(converter=_name)
    starts_at: datetime = attrs.field(converter=_starts_at)
    ends_at: datetime = attrs.field(converter=_ends_at)
    multiplier: Decimal = attrs.field(default=Decimal(1), converter=_multiplier)
    bonus_points: int = attrs.field(default=0, converter=_bonus)
    every_nth_purchase: int | None = attrs.field(default=None, converter=_nth)
    min_amount: Decimal = attrs.field(default=Decimal(0), converter=_min_amount)
    eligible_groups: frozenset[str] | None = attrs.field(
        default=None,
        converter=_groups,
    )
    eligible_tags: frozenset[str] | None = attrs.field(
        default=None,
        converter=_tags,
    )
    eligible_tiers: frozenset[str] | None = attrs.field(
        default=None,
        converter=_tiers,
    )
    per_customer_limit: int | None = attrs.field(
        default=None,
        converter=_per_customer,
    )
    budget_points: int | None = attrs.field(
        default=None,
        converter=_budget,
    )

    def __attrs_post_init__(self) -> None:
        if self.ends_at <= self.starts_at:
            raise InvalidInput(
                f"campaign {self.campaign_id!r}: ends_at {self.ends_at.isoformat()} must be "
                f"after starts_at {self.starts_at.isoformat()}"
            )


@attrs.frozen
class CampaignBonus:
    """One campaign's part of a purchase's points (0 when it counted the purchase
    but gave nothing: not its Nth purchase, or its limit or budget was spent)."""

    campaign_id: str
    points: int


@attrs.frozen
class Standing:
    """What a campaign has counted so far: the customer's qualifying purchases and
    bonus, and the bonus handed out to everyone."""

    purchases: int = 0
    customer_bonus: int = 0
    granted: int = 0


def in_window(campaign: Campaign, at: datetime, ended_at: datetime | None = None) -> bool:
    """Whether `at` is in the campaign's window, `[starts_at, ends_at)`, cut at `ended_at`."""
    end = campaign.ends_at if ended_at is None else min(campaign.ends_at, ended_at)
    return campaign.starts_at <= at < end


def qualifies(
    campaign: Campaign,
    *,
    at: datetime,
    amount: Decimal,
    group: str | None,
    tags: frozenset[str],
    tier: str | None,
    ended_at: datetime | None = None,
) -> bool:
    """Whether a purchase of `amount` at `at` by this customer counts for the campaign."""
    if not in_window(campaign, at, ended_at) or amount < campaign.min_amount:
        return False
    if campaign.eligible_groups is not None and group not in campaign.eligible_groups:
        return False
    if campaign.eligible_tags is not None and not campaign.eligible_tags & tags:
        return False
    return campaign.eligible_tiers is None or tier in campaign.eligible_tiers


def raw_bonus(campaign: Campaign, base_points: int, purchase_number: int) -> int:
    """The bonus before limits: the multiplier's extra (floor) plus the fixed bonus.

    `purchase_number`: this purchase's place (from 1) among the customer's
    qualifying purchases in the campaign.
    """
    extra = math.floor(Fraction(base_points) * (Fraction(campaign.multiplier) - 1))
    nth = campaign.every_nth_purchase
    fixed = campaign.bonus_points if nth is None or purchase_number % nth == 0 else 0
    return min(extra + fixed, MAX_POINTS)


def bonus_for(campaign: Campaign, base_points: int, standing: Standing) -> int:
    """The bonus of a qualifying purchase: `raw_bonus`, never past the customer's
    limit or the campaign's budget (the purchase that reaches one gets the rest)."""
    bonus = raw_bonus(campaign, base_points, standing.purchases + 1)
    if campaign.per_customer_limit is not None:
        bonus = min(bonus, campaign.per_customer_limit - standing.customer_bonus)
    if campaign.budget_points is not None:
        bonus = min(bonus, campaign.budget_points - standing.granted)
    return max(0, bonus)
