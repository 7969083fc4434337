"""The referral program's reward rules."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

import attrs

from referral_ledger.errors import InvalidInput
from referral_ledger.values import parse_money, parse_text

#: The reward cap the seed documents give: up to 500,000 VND per referral.
DEFAULT_REWARD_CAP = Decimal(500_000)


def _cap(value: object) -> Decimal:
    return parse_money(value, "reward_cap")


def _default(value: object) -> Decimal:
    return parse_money(value, "default_reward")


def _by_plan(value: object) -> dict[str, Decimal]:
    if not isinstance(value, Mapping):
        raise InvalidInput(f"reward_by_plan must be a mapping of plan to amount, not {value!r}")
    return {
        parse_text(plan, "reward_by_plan plan"): parse_money(amount, f"reward for plan {plan!r}")
        for plan, amount in value.items()
    }


@attrs.frozen(kw_only=True)
class ReferralProgram:
    """How much a successful referral earns its referrer, by the plan signed."""

    reward_cap: Decimal = attrs.field(default=DEFAULT_REWARD_CAP, converter=_cap)
    reward_by_plan: dict[str, Decimal] = attrs.field(factory=dict, converter=_by_plan)
    default_reward: Decimal = attrs.field(default=DEFAULT_REWARD_CAP, converter=_default)

    def __attrs_post_init__(self) -> None:
        over = {p: a for p, a in self.reward_by_plan.items() if a > self.reward_cap}
        if over:
            raise InvalidInput(f"rewards above the cap {self.reward_cap}: {over!r}")
        if self.default_reward > self.reward_cap:
            raise InvalidInput(
                f"default_reward {self.default_reward} is above the cap {self.reward_cap}"
            )


def reward_for(program: ReferralProgram, plan: str | None) -> Decimal:
    """The reward the program pays for a referral that signed `plan`."""
    if plan is None:
        return program.default_reward
    return program.reward_by_plan.get(plan, program.default_reward)


def check_reward(program: ReferralProgram, amount: Decimal) -> None:
    """Refuse a reward above the program's cap."""
    if amount > program.reward_cap:
        raise InvalidInput(f"reward {amount} is above the cap {program.reward_cap}")
