"""Staff, owner-assignment rules, customer field settings and origins, through
the `Ledger`, on every store."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from referral_ledger import (
    AssignmentRule,
    Condition,
    DuplicatePhone,
    DuplicateValue,
    InvalidInput,
    Ledger,
    LedgerError,
    NotFound,
    Source,
    StaffMember,
)
from referral_ledger.aggregates.assignment import TURN_KIND, TurnTaken, evolve_turns
from referral_ledger.aggregates.customer import CustomerRegistered, CustomerUpdated

BOTH = frozenset({"created", "edited"})
FROM_ADS = (Condition("source", "=", "ads"),)


def refused(
    ledger: Ledger, command: Callable[[], object], error: type[LedgerError], match: str
) -> None:
    before = ledger.event_count()
    with pytest.raises(error, match=match):
        command()
    assert before == ledger.event_count()


def sales(ledger: Ledger, *members: str) -> None:
    for member in members:
        ledger.add_staff(member, member.upper(), department="sales")
    ledger.set_assignment_rule(
        AssignmentRule("ads", "Quảng cáo", BOTH, FROM_ADS, "department:sales")
    )


def owner(ledger: Ledger, customer: object) -> str | None:
    return ledger.get_customer(customer).assigned_staff  # type: ignore[arg-type]


# --- staff --------------------------------------------------------------------------


def test_staff_ids_are_upstream_ids(ledger: Ledger) -> None:
    ledger.add_staff("nv1", "An", department="sales")
    before = ledger.event_count()
    ledger.add_staff("nv1", "An", department="sales")
    assert before == ledger.event_count()
    refused(ledger, lambda: ledger.add_staff("nv1", "An", department="care"), InvalidInput, "nv1")
    refused(ledger, lambda: ledger.update_staff("nv9", active=False), NotFound, "nv9")
    assert [StaffMember("nv1", "An", "sales", True, 1)] == ledger.staff()


def test_updating_staff_before_any_was_added_is_not_found_naming_the_id(ledger: Ledger) -> None:
    refused(ledger, lambda: ledger.update_staff("nv1", name="An"), NotFound, "nv1")


def test_departments_list_members_in_the_order_they_joined(ledger: Ledger) -> None:
    ledger.add_staff("nv1", "An", department="care")
    ledger.add_staff("nv2", "Bình", department="sales")
    ledger.add_staff("nv3", "Chi", department="sales")
    ledger.update_staff("nv2", department="care")  # joins care last
    ledger.update_staff("nv2", name="Bình Trần")  # keeps its place
    assert ["nv1", "nv2"] == [m.staff_id for m in ledger.staff("care")]
    assert ["care", "sales"] == ledger.departments()
    assert "Bình Trần" == ledger.staff("care")[1].name


# --- assignment rules ------------------------------------------------------------------


def test_a_department_hands_customers_to_its_active_members_in_turn(ledger: Ledger) -> None:
    sales(ledger, "nv1", "nv2", "nv3")
    ledger.update_staff("nv2", active=False)
    dealt = [
        owner(ledger, ledger.register_customer(f"K{i}", [f"0912000{i:03d}"], source="ads"))
        for i in range(4)
    ]
    assert ["nv1", "nv3", "nv1", "nv3"] == dealt
    ledger.update_staff("nv2", active=True)
    dealt = [
        owner(ledger, ledger.register_customer(f"L{i}", [f"0913000{i:03d}"], source="ads"))
        for i in range(3)
    ]
    assert ["nv1", "nv2", "nv3"] == dealt


def test_the_departments_turn_record_names_who_got_each_customer_and_by_which_rule(
    ledger: Ledger,
) -> None:
    # The turn record is the department's hand-out history.
    sales(ledger, "nv1", "nv2")
    first = ledger.register_customer("K1", ["0912000001"], source="ads")
    second = ledger.register_customer("K2", ["0912000002"], source="ads")
    turns_id = ledger._ids(TURN_KIND, "sales")
    events = ledger._store.events_of(turns_id)
    taken = [e for e in events if isinstance(e, TurnTaken)]
    assert len(taken) == len(events)
    assert [("sales", "nv1", 1, first, "ads"), ("sales", "nv2", 2, second, "ads")] == [
        (e.department, e.staff_id, e.joined, e.customer_id, e.rule_id) for e in taken
    ]
    turns = ledger._store.load(turns_id, evolve_turns)
    assert turns is not None
    assert (turns_id, 2, "sales", 2) == (
        turns.id,
        turns.version,
        turns.department,
        turns.last_joined,
    )


def test_the_turn_survives_reopening(sqlite_url: str) -> None:
    with Ledger.open(sqlite_url) as ledger:
        sales(ledger, "nv1", "nv2")
        first = owner(ledger, ledger.register_customer("A", ["0912000001"], source="ads"))
    with Ledger.open(sqlite_url) as ledger:
        second = owner(ledger, ledger.register_customer("B", ["0912000002"], source="ads"))
    assert ("nv1", "nv2") == (first, second)


def test_the_first_matching_rule_in_priority_order_wins_and_is_recorded(ledger: Ledger) -> None:
    for member in ("nv1", "nv2"):
        ledger.add_staff(member, member)
    ledger.set_assignment_rule(AssignmentRule("b", "Web", BOTH, (), "staff:nv2", priority=5))
    ledger.set_assignment_rule(AssignmentRule("a", "Ads", BOTH, FROM_ADS, "staff:nv1", priority=5))
    from_ads = ledger.register_customer("A", ["0912000001"], source="ads", by="u1")
    other = ledger.register_customer("B", ["0912000002"], source="web")
    assert ("nv1", "nv2") == (owner(ledger, from_ads), owner(ledger, other))
    registered = ledger._store.events_of(from_ads)[0]
    assert isinstance(registered, CustomerRegistered)
    assert ("a", "nv1", "u1") == (
        registered.assignment_rule,
        registered.assigned_staff,
        registered.created_by,
    )


def test_an_explicit_owner_wins_over_the_rules(ledger: Ledger) -> None:
    sales(ledger, "nv1")
    customer = ledger.register_customer("A", ["0912000001"], source="ads", assigned_staff="boss")
    assert "boss" == owner(ledger, customer)
    ledger.update_customer(customer, group="vip", assigned_staff="nv9")
    assert "nv9" == owner(ledger, customer)


def test_rules_on_edit_read_edited_by_and_keep_an_owner_already_in_the_department(
    ledger: Ledger,
) -> None:
    ledger.add_staff("nv1", "An", department="sales")
    ledger.add_staff("nv2", "Bình", department="sales")
    ledger.add_staff("lead", "Lê")
    ledger.set_assignment_rule(
        AssignmentRule(
            "mine",
            "Sửa bởi u9",
            frozenset({"edited"}),
            (Condition("edited_by", "=", "u9"),),
            "staff:lead",
        )
    )
    ledger.set_assignment_rule(
        AssignmentRule(
            "ads", "Quảng cáo", frozenset({"edited"}), FROM_ADS, "department:sales", priority=1
        )
    )
    customer = ledger.register_customer("A", ["0912000001"])
    assert owner(ledger, customer) is None  # no rule on "created"
    ledger.update_customer(customer, source="ads")
    assert "nv1" == owner(ledger, customer)
    ledger.update_customer(customer, group="retail")  # still in sales: no new turn
    assert "nv1" == owner(ledger, customer)
    ledger.update_customer(customer, group="vip", by="u9")
    assert "lead" == owner(ledger, customer)
    edited = ledger._store.events_of(customer)[-1]
    assert isinstance(edited, CustomerUpdated)
    assert ("mine", "u9") == (edited.assignment_rule, edited.edited_by)


def test_imports_and_pos_syncs_apply_the_rules(ledger: Ledger) -> None:
    sales(ledger, "nv1", "nv2")
    report = ledger.import_customers(
        [
            {"name": "A", "phone": "0912000001", "source": "ads"},
            {"name": "B", "phone": "0912000002", "source": "ads"},
        ],
        by="importer",
    )
    assert 2 == report.created
    synced = ledger.sync_customer_from_pos("KV-1", "C", ["0912000003"], source="ads", by="pos")
    owners = [owner(ledger, ledger.find_customer_by_phone(f"091200000{i}")) for i in (1, 2)]
    assert ["nv1", "nv2", "nv1"] == [*owners, owner(ledger, synced)]


@pytest.mark.parametrize(
    ("rule", "match"),
    [
        (AssignmentRule("r", "n", BOTH, (), "staff:nobody"), "staff:nobody"),
        (AssignmentRule("r", "n", BOTH, (), "department:empty"), "department:empty"),
        (AssignmentRule("r", "n", BOTH, (Condition("email", "=", "x"),), "staff:nv1"), "'email'"),
        (AssignmentRule("r", "n", BOTH, (Condition("source", ">", "x"),), "staff:nv1"), "'>'"),
    ],
)
def test_a_bad_rule_is_refused_and_records_nothing(
    ledger: Ledger, rule: AssignmentRule, match: str
) -> None:
    ledger.add_staff("nv1", "An")
    ledger.add_staff("nv2", "Bình", department="paused", active=False)
    refused(ledger, lambda: ledger.set_assignment_rule(rule), InvalidInput, match)


def test_a_rule_id_is_an_upstream_id(ledger: Ledger) -> None:
    ledger.add_staff("nv1", "An")
    rule = AssignmentRule("r", "Một", BOTH, FROM_ADS, "staff:nv1")
    ledger.set_assignment_rule(rule)
    before = ledger.event_count()
    ledger.set_assignment_rule(rule)
    assert before == ledger.event_count()
    other = AssignmentRule("r", "Một", BOTH, FROM_ADS, "staff:nv1", priority=3)
    refused(ledger, lambda: ledger.set_assignment_rule(other), InvalidInput, "'r'")
    ledger.remove_assignment_rule("r")
    assert [] == ledger.assignment_rules()
    refused(ledger, lambda: ledger.remove_assignment_rule("r"), NotFound, "'r'")


# --- field settings ----------------------------------------------------------------------


def test_phones_may_be_made_optional(ledger: Ledger) -> None:
    refused(ledger, lambda: ledger.register_customer("An"), InvalidInput, "phones")
    ledger.configure_customer_fields(required={"name"}, unique={"phones"})
    customer = ledger.register_customer("An")
    assert () == ledger.get_customer(customer).phones


def test_required_fields_are_refused_when_missing(ledger: Ledger) -> None:
    ledger.configure_customer_fields(required={"name", "phones", "email"}, unique={"phones"})
    refused(ledger, lambda: ledger.register_customer("An", ["0912000001"]), InvalidInput, "email")
    customer = ledger.register_customer("An", ["0912000001"], email="an@shop.vn")
    refused(ledger, lambda: ledger.update_customer(customer, email=None), InvalidInput, "email")
    report = ledger.import_customers([{"name": "B", "phone": "0912000002"}])
    assert 1 == len(report.rejected) and "email" in report.rejected[0][1]


def test_unique_fields_are_claimed_freed_and_refused(ledger: Ledger) -> None:
    ledger.configure_customer_fields(
        required={"name", "phones"}, unique={"phones", "email", "social_page"}
    )
    an = ledger.register_customer("An", ["0912000001"], email="an@shop.vn", social_page="fb.com/an")
    refused(
        ledger,
        lambda: ledger.register_customer("Bình", ["0912000002"], email="AN@shop.vn"),
        DuplicateValue,
        str(an),
    )
    refused(
        ledger,
        lambda: ledger.register_customer("Bình", ["0912000002"], social_page="fb.com/an"),
        DuplicateValue,
        "social_page",
    )
    binh = ledger.register_customer("Bình", ["0912000002"], email="binh@shop.vn")
    refused(
        ledger, lambda: ledger.update_customer(binh, email="an@shop.vn"), DuplicateValue, "email"
    )
    ledger.update_customer(an, email="an2@shop.vn")  # frees an@shop.vn
    ledger.update_customer(binh, email="an@shop.vn")
    assert "an@shop.vn" == ledger.get_customer(binh).email


def test_duplicate_phone_is_a_duplicate_value_and_phones_may_stop_being_unique(
    ledger: Ledger,
) -> None:
    assert issubclass(DuplicatePhone, DuplicateValue)
    first = ledger.register_customer("An", ["0912000001"])
    with pytest.raises(DuplicateValue):
        ledger.register_customer("Bình", ["0912000001"])
    ledger.configure_customer_fields(required={"name", "phones"}, unique=set())
    second = ledger.register_customer("Bình", ["0912000001"])
    assert [first, second] == ledger.find_customers_by_phone("0912000001")


@pytest.mark.parametrize(
    ("required", "unique"),
    [({"tags"}, set()), (set(), {"notes"}), ({"mail"}, set()), ("name", set())],
)
def test_field_settings_name_only_the_listed_fields(
    ledger: Ledger, required: object, unique: object
) -> None:
    refused(
        ledger,
        lambda: ledger.configure_customer_fields(required=required, unique=unique),  # type: ignore[arg-type]
        InvalidInput,
        "required|unique",
    )


# --- origins and tags ------------------------------------------------------------------------


def test_sources_have_display_names_and_retailer_is_there_by_default(ledger: Ledger) -> None:
    assert ["retailer"] == [s.key for s in ledger.sources()]
    ledger.add_source("ads", "Quảng cáo Facebook", at=datetime(2026, 1, 1, tzinfo=UTC))
    ledger.add_source("retailer", "KiotViet")
    assert [Source("retailer", "KiotViet"), Source("ads", "Quảng cáo Facebook")] == ledger.sources()
    refused(ledger, lambda: ledger.add_source("", "x"), InvalidInput, "source key")
    refused(ledger, lambda: ledger.add_source("ads", " "), InvalidInput, "^source name")
    # A source that already has the name records nothing (a host adding it at every start).
    before = ledger.event_count()
    ledger.add_source("ads", "Quảng cáo Facebook")
    ledger.add_source("retailer", "KiotViet")
    assert before == ledger.event_count()


def test_field_settings_name_the_bad_field_and_the_same_settings_again_record_nothing(
    ledger: Ledger,
) -> None:
    for required, unique, named in [
        ({"name", "nope"}, set(), "^required names fields that are not settable: 'nope'"),
        ({"name"}, {"phones", 7}, "^unique names fields that are not settable: 7"),
    ]:
        refused(
            ledger,
            lambda r=required, u=unique: ledger.configure_customer_fields(required=r, unique=u),  # type: ignore[misc]
            InvalidInput,
            named,
        )
    ledger.configure_customer_fields(required={"name", "email"}, unique={"email"})
    before = ledger.event_count()
    ledger.configure_customer_fields(required={"name", "email"}, unique={"email"})
    assert before == ledger.event_count()


def test_a_default_tag_typed_in_vietnamese_is_its_key(ledger: Ledger) -> None:
    customer = ledger.register_customer("An", ["0912000001"], tags=["Tiềm năng", "hay hoan", "vip"])
    assert frozenset({"potential", "often_returns", "vip"}) == ledger.get_customer(customer).tags


def test_a_refused_row_takes_no_turn(ledger: Ledger) -> None:
    """The turn is decided with the customer: a row refused for a duplicate
    email leaves the department's turn where it was."""
    sales(ledger, "nv1", "nv2")
    ledger.configure_customer_fields(required={"name", "phones"}, unique={"phones", "email"})
    rows = [
        {"name": "A", "phone": "0912000001", "source": "ads", "email": "a@shop.vn"},
        {"name": "B", "phone": "0912000002", "source": "ads", "email": "A@shop.vn"},
        {"name": "C", "phone": "0912000003", "source": "ads", "email": "c@shop.vn"},
    ]
    report = ledger.import_customers(rows)
    assert (2, [2]) == (report.created, [n for n, _ in report.rejected])
    owners = [owner(ledger, ledger.find_customer_by_phone(f"091200000{i}")) for i in (1, 3)]
    assert ["nv1", "nv2"] == owners


def test_a_registration_landing_on_an_existing_customer_is_an_edit(ledger: Ledger) -> None:
    ledger.add_staff("nv1", "An")
    ledger.set_assignment_rule(
        AssignmentRule("e", "Sửa", frozenset({"edited"}), FROM_ADS, "staff:nv1")
    )
    first = ledger.register_customer("An", ["0912000001"])
    again = ledger.register_customer(
        "An", ["0912000001"], source="ads", on_duplicate_phone="update", by="u1"
    )
    assert first == again
    assert "nv1" == owner(ledger, first)


def test_rules_on_edit_read_who_registered_the_customer(ledger: Ledger) -> None:
    """`created_by` is the registration's `by=`, kept with the customer: a rule on
    "edited" reads it at every later edit, whoever makes the edit."""
    ledger.add_staff("lead", "Lê")
    ledger.set_assignment_rule(
        AssignmentRule(
            "theirs",
            "Tạo bởi u1",
            frozenset({"edited"}),
            (Condition("created_by", "=", "u1"),),
            "staff:lead",
        )
    )
    by_u1 = ledger.register_customer("A", ["0912000001"], by="u1")
    by_u2 = ledger.register_customer("B", ["0912000002"], by="u2")
    assert (None, None) == (owner(ledger, by_u1), owner(ledger, by_u2))
    for customer in (by_u1, by_u2):
        ledger.update_customer(customer, group="vip", by="u3")
    assert ("lead", None) == (owner(ledger, by_u1), owner(ledger, by_u2))
