"""The CRM rules as pure functions: owner-assignment rules, round robin, field
settings and tag names, without a store."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from referral_ledger import AssignmentRule, Condition, InvalidInput
from referral_ledger.policies import assignment, field_settings
from referral_ledger.policies.assignment import Member, first_match, next_in_turn
from referral_ledger.policies.customer_fields import CustomerFields
from referral_ledger.policies.customers import tag_key

BOTH = frozenset({"created", "edited"})


def rule(
    rule_id: str, *conditions: Condition, priority: int = 0, on: frozenset[str] = BOTH
) -> AssignmentRule:
    return AssignmentRule(rule_id, f"Rule {rule_id}", on, conditions, f"staff:{rule_id}", priority)


FACTS = {"source": "ads", "group": None, "social_page": "fb", "created_by": "u1", "edited_by": None}


def test_every_condition_must_hold_and_unset_fields_equal_nothing() -> None:
    assert Condition("source", "=", "ads").holds(FACTS)
    assert not Condition("source", "!=", "ads").holds(FACTS)
    assert Condition("group", "!=", "wholesale").holds(FACTS)  # unset: not "wholesale"
    assert not Condition("group", "=", "wholesale").holds(FACTS)
    both = rule("a", Condition("source", "=", "ads"), Condition("social_page", "=", "fb"))
    one_fails = rule("b", Condition("source", "=", "ads"), Condition("created_by", "=", "u2"))
    assert both == first_match([one_fails, both], "created", FACTS)
    assert first_match([one_fails], "created", FACTS) is None


def test_rules_are_tried_by_priority_then_rule_id_and_the_first_match_wins() -> None:
    rules = [rule("c", priority=1), rule("b", priority=0), rule("a", priority=1)]
    assert ["b", "a", "c"] == [r.rule_id for r in assignment.ordered(rules)]
    assert "b" == first_match(rules, "created", FACTS).rule_id  # type: ignore[union-attr]


def test_a_rule_applies_only_on_its_triggers() -> None:
    created_only = rule("a", on=frozenset({"created"}))
    assert first_match([created_only], "edited", FACTS) is None
    assert created_only == first_match([created_only], "created", FACTS)


def test_search_finds_rules_by_part_of_the_name_without_accents() -> None:
    rules = [
        AssignmentRule("x", "Quảng cáo → Kinh doanh", BOTH, (), "staff:a"),
        AssignmentRule("y", "Đại lý", BOTH, (), "staff:a"),
    ]
    assert ["x"] == [r.rule_id for r in assignment.search(rules, "quang CAO")]
    assert ["y"] == [r.rule_id for r in assignment.search(rules, "dai ly")]
    assert ["x", "y"] == [r.rule_id for r in assignment.search(rules, None)]


@pytest.mark.parametrize(
    ("bad", "named"),
    [
        (AssignmentRule("r", "n", BOTH, (Condition("phone", "=", "x"),), "staff:a"), "'phone'"),
        (AssignmentRule("r", "n", BOTH, (Condition("source", "~", "x"),), "staff:a"), "'~'"),
        (AssignmentRule("r", "n", frozenset({"deleted"}), (), "staff:a"), "deleted"),
        (AssignmentRule("r", "n", frozenset(), (), "staff:a"), "on"),
        (AssignmentRule("r", "n", BOTH, (), "team:a"), "'team:a'"),
        (AssignmentRule("r", "n", BOTH, (), "staff:"), "assign_to"),
        (AssignmentRule("r", "", BOTH, (), "staff:a"), "rule name"),
        (AssignmentRule("r", "n", BOTH, (), "staff:a", priority=1.5), "1.5"),  # type: ignore[arg-type]
        ("rule r", "'rule r'"),
        (AssignmentRule("r", "n", "created", (), "staff:a"), "'created'"),  # type: ignore[arg-type]
        (AssignmentRule("r", "n", BOTH, "source=ads", "staff:a"), "'source=ads'"),  # type: ignore[arg-type]
        (AssignmentRule("r", "n", BOTH, ("source=ads",), "staff:a"), "'source=ads'"),  # type: ignore[arg-type]
    ],
)
def test_a_malformed_rule_is_refused_naming_what_is_wrong(bad: AssignmentRule, named: str) -> None:
    with pytest.raises(InvalidInput, match=named):
        assignment.parse_rule(bad)


def test_a_rule_holds_at_most_50_conditions_and_a_priority_of_at_most_a_billion_either_way() -> (
    None
):
    ads = Condition("source", "=", "ads")
    assert 50 == len(assignment.parse_rule(rule("a", *[ads] * 50)).conditions)
    with pytest.raises(InvalidInput, match="at most 50 conditions, not 51"):
        assignment.parse_rule(rule("a", *[ads] * 51))
    for priority in (10**9, -(10**9)):
        assert priority == assignment.parse_rule(rule("a", priority=priority)).priority
    for priority in (10**9 + 1, -(10**9) - 1):
        with pytest.raises(InvalidInput, match=str(priority)):
            assignment.parse_rule(rule("a", priority=priority))


def test_round_robin_walks_the_join_order_and_skips_inactive_members() -> None:
    members = [Member(1, "a", True), Member(2, "b", False), Member(5, "c", True)]
    assert "a" == next_in_turn(members, 0).staff_id  # type: ignore[union-attr]
    assert "c" == next_in_turn(members, 1).staff_id  # type: ignore[union-attr]
    assert "a" == next_in_turn(members, 5).staff_id  # type: ignore[union-attr]
    # The member served last left: the next one after its place.
    assert "c" == next_in_turn(members, 3).staff_id  # type: ignore[union-attr]
    assert next_in_turn([Member(1, "a", False)], 0) is None


@given(
    st.lists(st.booleans(), min_size=1, max_size=6),
    st.lists(st.tuples(st.integers(0, 5), st.booleans()), max_size=30),
    st.integers(1, 40),
)
def test_members_active_throughout_never_differ_by_more_than_one(
    steady: list[bool], toggles: list[tuple[int, bool]], handouts: int
) -> None:
    """Members flagged steady stay active; the others are paused and resumed
    between hand-outs: the steady ones still get turns within one of each other."""
    members = [Member(i + 1, f"m{i}", True) for i in range(len(steady))]
    counts: Counter[str] = Counter()
    last = 0
    for n in range(handouts):
        if toggles:
            index, active = toggles[n % len(toggles)]
            if index < len(members) and not steady[index]:
                members[index] = Member(members[index].joined, members[index].staff_id, active)
        member = next_in_turn(members, last)
        if member is None:
            continue
        counts[member.staff_id] += 1
        last = member.joined
    got = [counts[f"m{i}"] for i, s in enumerate(steady) if s]
    if got:
        assert max(got) - min(got) <= 1


# --- field settings ------------------------------------------------------------------


def test_field_settings_default_to_name_and_phones_required_phones_unique() -> None:
    settings = field_settings.parse_settings({"phones"}, {"phones", "email"})
    assert frozenset({"name", "phones"}) == settings.required  # name always
    assert ("email",) == settings.claimed  # phones keep their own claim records
    assert field_settings.FieldSettings() == field_settings.DEFAULT_SETTINGS


@pytest.mark.parametrize("bad", [{"tags"}, {"notes"}, "email", {"mail"}, [["email"]], None])
def test_field_settings_name_only_the_settable_fields(bad: object) -> None:
    with pytest.raises(InvalidInput):
        field_settings.parse_settings(bad, set())
    with pytest.raises(InvalidInput):
        field_settings.parse_settings(set(), bad)


def test_a_missing_required_field_is_named() -> None:
    settings = field_settings.parse_settings({"email", "phones"}, set())
    with pytest.raises(InvalidInput, match="phones"):
        field_settings.check_required(settings, CustomerFields(name="An", email="a@b.vn"))
    with pytest.raises(InvalidInput, match="email"):
        field_settings.check_required(settings, CustomerFields(name="An", phones=("+84912345678",)))
    # An edit is checked on the fields it sets.
    field_settings.check_required(settings, CustomerFields(name="An"), ["group"])


def test_unique_values_ignore_case_and_spacing() -> None:
    customer = CustomerFields(name="An", email="An@Shop.vn", addresses=("1 Phố  Huế", "2 Lý"))
    assert frozenset({"an@shop.vn"}) == field_settings.unique_keys("email", customer)
    assert frozenset({"1 phố huế", "2 lý"}) == field_settings.unique_keys("addresses", customer)
    assert frozenset() == field_settings.unique_keys("group", customer)


def test_default_tags_typed_by_their_vietnamese_names_are_their_keys() -> None:
    assert "potential" == tag_key("tiềm năng")
    assert "potential" == tag_key("Tiem nang")
    assert "often_returns" == tag_key("HAY HOÀN")
    assert "vip" == tag_key("vip")
