"""The loyalty program's settings and the arithmetic of points.

Everything here is a pure function of its arguments, so the rules can be
tested exhaustively and an audit can recompute any figure from the log.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from fractions import Fraction

import attrs

from referral_ledger.errors import InvalidInput, RedemptionRefused
from referral_ledger.policies.expiry import PointsExpiry, expiry_setting, parse_days
from referral_ledger.values import (
    EXACT,
    MAX_MONEY,
    MAX_POINTS,
    parse_count,
    parse_money,
    parse_points,
    parse_text,
)


def _positive_money(value: object) -> Decimal:
    amount = parse_money(value, "money_per_point")
    if amount <= 0:
        raise InvalidInput(f"money_per_point must be positive: {value!r}")
    return amount


def _point_value(value: object) -> Decimal:
    return parse_money(value, "point_value")


def _purchases(value: object) -> int:
    return parse_count(value, "min_purchases_before_redeem")


def _remaining(value: object) -> int:
    return parse_points(value, "min_remaining_points")


def _flag(value: object, name: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidInput(f"{name} must be True or False, not {value!r}")
    return value


def _earn_on_discounted(value: object) -> bool:
    return _flag(value, "earn_on_discounted_items")


def _earn_on_paid_with_points(value: object) -> bool:
    return _flag(value, "earn_on_invoices_paid_with_points")


def _groups(value: object) -> frozenset[str] | None:
    if value is None:
        return None
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise InvalidInput(f"eligible_groups must be None or a set of group names, not {value!r}")
    return frozenset(parse_text(g, "eligible_groups entry") for g in value)


def _tier_name(value: object) -> str:
    return parse_text(value, "tier name")


def _tier_points(value: object) -> int:
    return parse_points(value, "tier min_points")


def _pending(value: object) -> int:
    return parse_days(value, "pending_days")


def _window(value: object) -> int | None:
    if value is None:
        return None
    days = parse_days(value, "tier_window_days")
    if days == 0:
        raise InvalidInput("tier_window_days must be None or a positive number of days, not 0")
    return days


@attrs.frozen
class Tier:
    """A loyalty level reached once lifetime points are at least `min_points`."""

    name: str = attrs.field(converter=_tier_name)
    min_points: int = attrs.field(converter=_tier_points)


def _tiers(value: object) -> tuple[Tier, ...]:
    if isinstance(value, Tier) or not isinstance(value, Iterable):
        raise InvalidInput(f"tiers must be a sequence of Tier, not {value!r}")
    tiers = tuple(value)
    for tier in tiers:
        if not isinstance(tier, Tier):
            raise InvalidInput(f"tiers must contain only Tier objects, not {tier!r}")
    names = [t.name for t in tiers]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise InvalidInput(f"tier names must be unique: {duplicates!r} repeated")
    return tuple(sorted(tiers, key=lambda t: (t.min_points, t.name)))


@attrs.frozen(kw_only=True)
class LoyaltyProgram:
    """How purchases earn points and when points may be redeemed."""

    money_per_point: Decimal = attrs.field(converter=_positive_money)
    point_value: Decimal = attrs.field(converter=_point_value)
    #: Redeeming needs MORE purchases than this: at least N+1 (0: one purchase).
    #: CRMVIET's setting "Số lần mua hàng lớn hơn bao nhiêu mới được đổi điểm thưởng".
    min_purchases_before_redeem: int = attrs.field(default=0, converter=_purchases)
    min_remaining_points: int = attrs.field(default=0, converter=_remaining)
    earn_on_discounted_items: bool = attrs.field(default=True, converter=_earn_on_discounted)
    earn_on_invoices_paid_with_points: bool = attrs.field(
        default=False, converter=_earn_on_paid_with_points
    )
    eligible_groups: frozenset[str] | None = attrs.field(default=None, converter=_groups)
    tiers: tuple[Tier, ...] = attrs.field(default=(), converter=_tiers)
    #: When earned points expire (None: never). Fixed on each lot when earned.
    expiry: PointsExpiry | None = attrs.field(default=None, converter=expiry_setting)
    #: Days earned points wait before they can be spent (a return window).
    pending_days: int = attrs.field(default=0, converter=_pending)
    #: None: tiers by lifetime points; N: by the points earned in the last N days.
    tier_window_days: int | None = attrs.field(default=None, converter=_window)


def eligible_amount(
    program: LoyaltyProgram,
    amount: Decimal,
    discounted_amount: Decimal,
    points_used: int,
    group: str | None,
) -> Decimal:
    """The part of an invoice that earns points under `program`."""
    if program.eligible_groups is not None and group not in program.eligible_groups:
        return Decimal(0)
    if points_used > 0 and not program.earn_on_invoices_paid_with_points:
        return Decimal(0)
    if not program.earn_on_discounted_items:
        return EXACT.subtract(amount, discounted_amount)
    return amount


def points_for(program: LoyaltyProgram, eligible: Decimal) -> int:
    """Points earned by an eligible amount: whole points only, rounded down."""
    # Fractions are exact: Decimal division rounds at 28 digits, which could
    # floor a true 9.999…9 up to 10 on a large invoice.
    return int(Fraction(eligible) // Fraction(program.money_per_point))


def check_points_fit(
    program: LoyaltyProgram, amount: Decimal, points: int, *, balance: int, lifetime: int
) -> None:
    """Raise `InvalidInput` if a purchase earns more points than the ledger holds.

    A tiny `money_per_point` times a large amount can earn more than any store
    encodes (orjson and SQL integers end at 2^63 - 1); refuse it before it is
    recorded rather than fail while saving it.
    """
    for what, total in (("points", points), ("balance", balance), ("lifetime points", lifetime)):
        if total > MAX_POINTS:
            raise InvalidInput(
                f"amount {amount} at money_per_point {program.money_per_point} earns {points} "
                f"points, which would make the {what} {total}: more than {MAX_POINTS:,}"
            )


def redemption_value(program: LoyaltyProgram, points: int) -> Decimal:
    """The money `points` are worth when redeemed: exact, or refused.

    Computed in `EXACT`, not the calling thread's decimal context (28 digits by
    default, or whatever the host set), so it is never rounded.
    """
    value = EXACT.multiply(program.point_value, Decimal(points))
    if value > MAX_MONEY:
        raise InvalidInput(
            f"{points} points at point_value {program.point_value} are worth {value}: "
            f"more than {MAX_MONEY:,}"
        )
    return value


def redeem_count_refusal(program: LoyaltyProgram, purchase_count: int) -> str:
    """Why a customer with `purchase_count` purchases may not redeem yet, in plain words."""
    setting = program.min_purchases_before_redeem
    needed = setting + 1
    return (
        f"redeeming needs at least {needed} purchase{'s' if needed != 1 else ''}; "
        f"the customer has {purchase_count} (min_purchases_before_redeem={setting} "
        f"means more than {setting})"
    )


def check_redemption(
    program: LoyaltyProgram, *, purchase_count: int, balance: int, points: int
) -> None:
    """Raise `RedemptionRefused` unless the program allows redeeming `points`."""
    if purchase_count <= program.min_purchases_before_redeem:
        # The setting counts the purchases that must be *exceeded* (CRMVIET's
        # "Số lần mua hàng lớn hơn bao nhiêu"); the message says the number needed.
        raise RedemptionRefused(redeem_count_refusal(program, purchase_count))
    if points > balance:
        raise RedemptionRefused(f"cannot redeem {points} points: the balance is {balance}")
    if balance - points < program.min_remaining_points:
        raise RedemptionRefused(
            f"redeeming {points} points would leave {balance - points}; "
            f"at least {program.min_remaining_points} must remain"
        )


def tier_for(program: LoyaltyProgram, lifetime_points: int) -> str | None:
    """The highest tier whose threshold `lifetime_points` reaches, if any."""
    reached = [t for t in program.tiers if lifetime_points >= t.min_points]
    return reached[-1].name if reached else None


def points_to_take_back(
    *,
    earned: int,
    invoice_amount: Decimal,
    returned_before: Decimal,
    returned_now: Decimal,
    taken_before: int,
) -> int:
    """Points a return takes back: in proportion to the amount, rounded down.

    Computed on the cumulative returned amount, so several partial returns add
    up to exactly what a single full return would take, never more than earned.
    """
    if invoice_amount == 0:
        return 0
    returned = Fraction(EXACT.add(returned_before, returned_now))
    owed = min(earned, int(returned * earned // Fraction(invoice_amount)))
    return max(0, owed - taken_before)
