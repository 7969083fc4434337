"""The referral program's settings and reward arithmetic, without a store.

`ReferralProgram` validates itself on construction (so a bad configuration
never reaches the log), and `reward_for` picks the plan's amount or the
default.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from referral_ledger import InvalidInput, ReferralProgram
from referral_ledger.policies.referral import DEFAULT_REWARD_CAP, check_reward, reward_for


def test_defaults_are_the_seed_documents_cap_and_reward() -> None:
    program = ReferralProgram()
    assert Decimal(500_000) == DEFAULT_REWARD_CAP
    assert Decimal(500_000) == program.reward_cap
    assert Decimal(500_000) == program.default_reward
    assert {} == program.reward_by_plan


def test_ints_and_numeric_strings_become_decimals() -> None:
    program = ReferralProgram(
        reward_cap="400000", reward_by_plan={"pro": 300_000}, default_reward=100_000
    )
    assert (Decimal(400_000), {"pro": Decimal(300_000)}, Decimal(100_000)) == (
        program.reward_cap,
        program.reward_by_plan,
        program.default_reward,
    )
    assert all(type(v) is Decimal for v in (program.reward_cap, *program.reward_by_plan.values()))


@pytest.mark.parametrize(
    "settings",
    [
        pytest.param({"reward_by_plan": {"pro": Decimal(500_001)}}, id="plan-above-cap"),
        pytest.param({"default_reward": Decimal(500_001)}, id="default-above-cap"),
        pytest.param({"reward_cap": Decimal(100_000)}, id="lower-cap-keeps-default-500k-above-it"),
        pytest.param({"reward_cap": 500000.0}, id="float-cap"),
        pytest.param({"default_reward": 1.5}, id="float-default"),
        pytest.param({"reward_by_plan": {"pro": 200000.0}}, id="float-plan-reward"),
        pytest.param({"reward_cap": Decimal(-1)}, id="negative-cap"),
        pytest.param({"default_reward": -1}, id="negative-default"),
        pytest.param({"reward_by_plan": {"pro": -5}}, id="negative-plan-reward"),
        pytest.param({"reward_cap": Decimal("NaN")}, id="nan-cap"),
        pytest.param({"reward_cap": Decimal("Infinity")}, id="infinite-cap"),
        pytest.param({"reward_cap": "lots"}, id="text-cap"),
        pytest.param({"reward_by_plan": [("pro", 1)]}, id="plans-not-a-mapping"),
        pytest.param({"reward_by_plan": {"": 1}}, id="empty-plan-name"),
    ],
)
def test_bad_settings_are_refused(settings: dict[str, Any]) -> None:
    with pytest.raises(InvalidInput):
        ReferralProgram(**settings)


def test_the_refusal_names_the_offending_value() -> None:
    with pytest.raises(InvalidInput, match="700000") as caught:
        ReferralProgram(reward_by_plan={"gold": 700_000})
    assert "gold" in str(caught.value)
    with pytest.raises(InvalidInput, match=r"1\.5"):
        ReferralProgram(default_reward=1.5)


def test_a_plan_reward_equal_to_the_cap_is_allowed() -> None:
    program = ReferralProgram(reward_cap=200_000, reward_by_plan={"pro": 200_000}, default_reward=0)
    assert Decimal(200_000) == program.reward_by_plan["pro"]


def test_reward_for_uses_the_plan_amount_else_the_default() -> None:
    program = ReferralProgram(
        reward_by_plan={"pro": Decimal(500_000), "basic": Decimal(200_000)},
        default_reward=Decimal(300_000),
    )
    assert Decimal(500_000) == reward_for(program, "pro")
    assert Decimal(200_000) == reward_for(program, "basic")
    assert Decimal(300_000) == reward_for(program, "plus")
    assert Decimal(300_000) == reward_for(program, None)
    assert Decimal(500_000) == reward_for(ReferralProgram(), "anything")


def test_check_reward_refuses_only_above_the_cap() -> None:
    program = ReferralProgram(reward_cap=300_000, default_reward=0)
    check_reward(program, Decimal(300_000))
    check_reward(program, Decimal(0))
    with pytest.raises(InvalidInput, match="300001"):
        check_reward(program, Decimal(300_001))


plans = st.dictionaries(
    st.sampled_from(["pro", "basic", "plus"]), st.integers(0, 1_000_000), max_size=3
)


@given(cap=st.integers(0, 1_000_000), by_plan=plans, default=st.integers(0, 1_000_000))
def test_a_valid_program_never_pays_above_its_cap(
    cap: int, by_plan: dict[str, int], default: int
) -> None:
    valid = default <= cap and all(amount <= cap for amount in by_plan.values())
    if not valid:
        with pytest.raises(InvalidInput):
            ReferralProgram(reward_cap=cap, reward_by_plan=by_plan, default_reward=default)
        return
    program = ReferralProgram(reward_cap=cap, reward_by_plan=by_plan, default_reward=default)
    for plan in (None, "pro", "basic", "plus", "other"):
        paid = reward_for(program, plan)
        assert Decimal(by_plan.get(plan, default) if plan else default) == paid
        assert paid <= program.reward_cap
