"""The customer's fields, defined once, and the rules about customers as pure functions.

Pins that the record, the events, the view, the edits and the import/export
columns all derive from `CustomerFields`; that an export imports back
unchanged; the duplicate-phone policy without a store; the one function
deciding a moment's business day; and phone text holding several numbers.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, timezone
from uuid import uuid4

import attrs
import pytest
from eventsourcing.persistence import StoredEvent

from referral_ledger import DuplicatePhone, InvalidInput, Ledger
from referral_ledger.aggregates.customer import (
    ContractSigned,
    CustomerRegistered,
    CustomerUpdated,
)
from referral_ledger.aggregates.customer_record import CustomerRecord
from referral_ledger.persistence.mapper import CattrsMapper, OrjsonTranscoder
from referral_ledger.policies import customer_fields as fields
from referral_ledger.policies import customers as rules
from referral_ledger.policies.calendar import business_day
from referral_ledger.projections.customer import Customer
from referral_ledger.values import normalise_phone, phone_numbers
from support import Clock

HANOI = timezone(timedelta(hours=7))


# --- one definition ---------------------------------------------------------------


def _names(cls: type) -> set[str]:
    return {a.name for a in attrs.fields(cls)}


def test_every_shape_of_a_customer_has_exactly_the_defined_fields() -> None:
    defined = set(fields.FIELD_NAMES)
    assert defined == _names(fields.CustomerFields)
    assert defined <= _names(CustomerRecord)
    assert defined <= _names(Customer)
    # Besides the fields: business time, who acted, and the assignment rule (0.2).
    assert defined | {"at", "created_by", "assignment_rule"} == _names(CustomerRegistered) - {
        "originator_id",
        "originator_version",
        "timestamp",
    }
    assert defined | {"at", "cleared", "edited_by", "assignment_rule"} == _names(
        CustomerUpdated
    ) - {
        "originator_id",
        "originator_version",
        "timestamp",
    }
    assert (*fields.FIELD_NAMES, "phone", "at") == fields.IMPORT_COLUMNS
    assert sorted(fields.FIELD_NAMES) == sorted(fields.EXPORT_COLUMNS)
    assert "external_id" == fields.EXPORT_COLUMNS[0]


def test_the_stored_payload_of_a_registration_keeps_its_0_1_keys() -> None:
    """New keys only: `at` (business time) and the class version that says it is there."""
    event = CustomerRegistered(
        originator_id=uuid4(),
        originator_version=1,
        timestamp=datetime(2026, 1, 1, tzinfo=UTC),
        at=datetime(2025, 3, 1, tzinfo=UTC),
        name="An",
        phones=("+84912345678",),
    )
    stored = CattrsMapper(transcoder=OrjsonTranscoder()).to_stored_event(event)
    keys = set(OrjsonTranscoder().decode(stored.state))
    assert {
        "timestamp",
        "name",
        "phones",
        "email",
        "group",
        "source",
        "tags",
        "external_id",
        "notes",
        "addresses",
        "assigned_staff",
        "at",
        "class_version",
        # 0.2: the social page, who registered, which assignment rule chose the owner.
        "social_page",
        "created_by",
        "assignment_rule",
    } == keys


@pytest.mark.parametrize("cls", [CustomerRegistered, CustomerUpdated, ContractSigned])
def test_events_stored_by_0_1_are_dated_by_their_recording_time(cls: type) -> None:
    mapper = CattrsMapper(transcoder=OrjsonTranscoder())
    payloads: dict[type, dict[str, object]] = {
        CustomerRegistered: {
            "name": "An",
            "phones": ["+84912345678"],
            "email": None,
            "group": None,
            "source": None,
            "tags": [],
            "external_id": None,
            "notes": None,
            "addresses": [],
            "assigned_staff": None,
        },
        CustomerUpdated: {"name": "Bình", "cleared": ["email"]},
        ContractSigned: {
            "customer_id": uuid4().hex,
            "contract_id": "C-1",
            "plan": "pro",
            "starts_on": "2025-01-01",
            "ends_on": "2025-12-31",
        },
    }
    recorded = "2025-03-01T09:00:00+00:00"
    old = StoredEvent(
        originator_id=uuid4(),
        originator_version=1,
        topic=f"{cls.__module__}:{cls.__qualname__}",
        state=OrjsonTranscoder().encode({"timestamp": recorded, **payloads[cls]}),
    )
    event = mapper.to_domain_event(old)
    assert datetime.fromisoformat(recorded) == event.at == event.timestamp


def test_an_export_imports_back_unchanged(ledger: Ledger) -> None:
    an = ledger.register_customer(
        "Nguyễn Văn An",
        ["0912 345 678", "0987 654 321"],
        email="an@example.com",
        tags=["potential", "vip"],
        external_id="KV-1",
        notes="first line\nsecond line",
        addresses=["12 Tràng Tiền, Hà Nội", "1 Hàng Bài"],
    )
    row = fields.export_row(ledger.get_customer(an))
    assert list(fields.EXPORT_COLUMNS) == list(row)
    report = ledger.import_customers([row])
    assert (1, []) == (report.unchanged, report.rejected)
    assert ("12 Tràng Tiền, Hà Nội", "1 Hàng Bài") == ledger.get_customer(an).addresses


def test_an_export_writes_each_list_in_one_cell_and_nothing_as_an_empty_cell() -> None:
    """Phones keep their order, tags are sorted (the same customer, the same
    cell), addresses go a line each (they hold commas); an empty list, or a
    field not given, is an empty cell."""
    customer = fields.parse_details(
        region="VN",
        name="Nguyễn Văn An",
        phones=["0987 654 321", "0912 345 678"],
        tags=["vip", "potential", "new", "b2b", "zalo", "hà nội"],
        addresses=["12 Tràng Tiền, Hà Nội", "1 Hàng Bài"],
        group="retail",
    )
    row = fields.export_row(customer)
    assert "+84987654321; +84912345678" == row["phones"]
    assert "b2b; hà nội; new; potential; vip; zalo" == row["tags"]
    assert "12 Tràng Tiền, Hà Nội\n1 Hàng Bài" == row["addresses"]
    assert ("retail", "Nguyễn Văn An") == (row["group"], row["name"])
    assert (None, None, None) == (row["email"], row["notes"], row["source"])
    bare = fields.export_row(fields.parse_details(region="VN", name="An", phones=["0912345678"]))
    assert (None, None) == (bare["tags"], bare["addresses"])


def test_an_optional_text_field_is_trimmed_emptied_to_none_and_refused_by_name() -> None:
    for name in ("group", "source", "assigned_staff", "social_page"):
        parse = fields.SPECS[name].parse
        assert "Bán lẻ" == parse("  Bán lẻ ", "VN")
        assert parse(None, "VN") is None
        with pytest.raises(InvalidInput, match=name):
            parse(5, "VN")


# --- the duplicate-phone policy, pure ------------------------------------------------


def test_registering_with_free_phones_creates_whatever_the_policy() -> None:
    free = {"+84912345678": ()}
    for policy in rules.DUPLICATE_PHONE_POLICIES:
        assert ("create", None) == rules.on_registration(policy, free)


def test_a_held_phone_is_decided_by_the_policy() -> None:
    owner, other = uuid4(), uuid4()
    held = {"+84900000000": (), "+84912345678": (owner, other)}
    with pytest.raises(DuplicatePhone, match=rf"\+84912345678 .*{owner}"):
        rules.on_registration("reject", held)
    assert ("skip", owner) == rules.on_registration("skip", held)
    assert ("update", owner) == rules.on_registration("update", held)
    assert ("create", None) == rules.on_registration("create", held)


def test_an_edit_taking_a_held_phone_is_decided_by_the_policy() -> None:
    other = uuid4()
    with pytest.raises(DuplicatePhone, match=str(other)):
        rules.on_new_phone("reject", "+84912345678", (other,))
    assert "skip" == rules.on_new_phone("skip", "+84912345678", (other,))
    assert "claim" == rules.on_new_phone("update", "+84912345678", (other,))
    assert "claim" == rules.on_new_phone("create", "+84912345678", (other,))
    assert "claim" == rules.on_new_phone("reject", "+84912345678", ())


# --- business days -------------------------------------------------------------------


def test_one_function_says_which_day_a_moment_falls_on() -> None:
    moment = datetime(2026, 1, 1, 0, 30, tzinfo=HANOI)
    assert date(2026, 1, 1) == business_day(moment, HANOI)
    assert date(2025, 12, 31) == business_day(moment, UTC)


def test_contract_in_force_counts_a_datetime_by_the_business_day() -> None:
    """A ledger whose business runs on UTC: 00:30 in Hà Nội on 1 January is 31 December."""
    with Ledger.open(business_timezone=UTC) as ledger:
        an = ledger.register_customer("An", ["0912 345 678"])
        ledger.sign_contract(an, "C-1", "pro", date(2026, 1, 1), date(2026, 12, 31))
        assert not ledger.contract_in_force(an, datetime(2026, 1, 1, 0, 30, tzinfo=HANOI))
        assert ledger.contract_in_force(an, datetime(2026, 1, 1, 7, 30, tzinfo=HANOI))


# --- business time of customer commands ---------------------------------------------


def test_customer_commands_record_their_business_time(store_url: str) -> None:
    clock = Clock(datetime(2026, 6, 1, tzinfo=UTC))
    joined = datetime(2025, 3, 1, 9, 0, tzinfo=HANOI)
    signed = datetime(2025, 3, 15, 10, 0, tzinfo=HANOI)
    with Ledger.open(store_url, clock=clock) as ledger:
        an = ledger.register_customer("An", ["0912 345 678"], at=joined)
        ledger.update_customer(an, group="gold", at=signed - timedelta(days=1))
        ledger.sign_contract(an, "C-1", "pro", date(2025, 3, 15), date(2026, 3, 14), at=signed)
        kv = ledger.sync_customer_from_pos("KV-9", "Bình", ["0987 654 321"], at=joined)
        assert joined == ledger.get_customer(an).registered_at
        assert joined == ledger.get_customer(kv).registered_at
        registered, updated, contract = ledger._store.events_of(an)
        assert isinstance(registered, CustomerRegistered)
        assert isinstance(updated, CustomerUpdated)
        assert isinstance(contract, ContractSigned)
        assert (joined, signed - timedelta(days=1), signed) == (
            registered.at,
            updated.at,
            contract.at,
        )
        assert {clock.now} == {registered.timestamp, updated.timestamp, contract.timestamp}
        # Without `at`, business time is the recording time.
        bình = ledger.register_customer("Bình", ["0903 111 222"])
        assert clock.now == ledger.get_customer(bình).registered_at
        before = ledger.event_count()
        with pytest.raises(InvalidInput, match="at must be timezone-aware"):
            ledger.register_customer("Chi", ["0903 333 444"], at=datetime(2025, 1, 1))
        with pytest.raises(InvalidInput, match="at must be timezone-aware"):
            ledger.sign_contract(
                an, "C-2", "pro", date(2025, 1, 1), date(2025, 2, 1), at=datetime(2025, 1, 1)
            )
        assert before == ledger.event_count()


# --- phone text holding several numbers ---------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "0912345678; 0987654321",
        "0912345678;0987654321",
        "0912345678/0987654321",
        "0912 345 678 / 0987 654 321",
        "0912345678, 0987654321",
        "0912345678 0987654321",
        "0912345678 | 0987654321",
    ],
)
def test_phone_text_with_two_numbers_is_both_or_refused_never_the_first(text: str) -> None:
    assert ("+84912345678", "+84987654321") == phone_numbers(text)
    with pytest.raises(InvalidInput, match="several phone numbers") as raised:
        normalise_phone(text)
    assert repr(text) in str(raised.value)


@pytest.mark.parametrize("text", ["0912345678 hoặc 0987654321", "0912345678 or 0987654321"])
def test_two_numbers_with_words_between_are_refused(text: str) -> None:
    with pytest.raises(InvalidInput, match="several phone numbers and other text"):
        phone_numbers(text)


def test_a_customer_given_two_numbers_in_one_text_gets_both(ledger: Ledger) -> None:
    an = ledger.register_customer("An", ["0912345678; 0987654321"])
    assert ("+84912345678", "+84987654321") == ledger.get_customer(an).phones
    assert an == ledger.find_customer_by_phone("0987 654 321")
    report = ledger.import_customers([{"name": "Bình", "phone": "0903111222/0903333444"}])
    assert 1 == report.created
    bình = ledger.find_customer_by_phone("0903 333 444")
    assert bình is not None
    assert ("+84903111222", "+84903333444") == ledger.get_customer(bình).phones


def test_where_one_number_is_expected_two_are_refused(ledger: Ledger) -> None:
    an = ledger.register_customer("An", ["0912345678"])
    ledger.sign_contract(an, "C-1", "pro", date(2025, 1, 1), date(2027, 1, 1))
    with pytest.raises(InvalidInput, match="several"):
        ledger.find_customer_by_phone("0912345678; 0987654321")
    before = ledger.event_count()
    with pytest.raises(InvalidInput, match="several"):
        ledger.submit_referral(an, "Bình", "0903111222; 0903333444", "fashion")
    assert before == ledger.event_count()


def test_an_import_row_may_say_when_the_customer_registered(ledger: Ledger) -> None:
    report = ledger.import_customers(
        [
            {"name": "An", "phone": "0912 345 678", "at": "2025-03-01T09:00:00+07:00"},
            {"name": "Bình", "phone": "0987 654 321", "at": "last spring"},
            {"name": "Chi", "phone": "0903 111 222", "at": "2025-03-01T09:00:00"},
        ]
    )
    assert 1 == report.created
    assert [2, 3] == [number for number, _ in report.rejected]
    assert "'last spring'" in report.rejected[0][1]
    assert "timezone-aware" in report.rejected[1][1]
    an = ledger.find_customer_by_phone("0912 345 678")
    assert an is not None
    assert datetime(2025, 3, 1, 9, tzinfo=HANOI) == ledger.get_customer(an).registered_at


def test_an_import_rows_phone_typed_as_a_whole_number_is_its_digits_and_nothing_else() -> None:
    """A spreadsheet keeps 0975 500 600 as the number 975500600: that is its digits.
    A bool or a float is passed on as it is, for the phone check to refuse by value
    (a float is never rounded into a phone)."""
    row = fields.row_fields({"name": "An", "phones": [975500600, "0912 345 678", True, 9.0]})
    assert ["975500600", "0912 345 678", True, 9.0] == row["phones"]
    assert ["975500600"] == fields.row_fields({"name": "An", "phone": 975500600})["phones"]
    for bad in (True, 975500600.0):
        with pytest.raises(InvalidInput, match=re.escape(repr(bad))):
            fields.parse_details(region="VN", **fields.row_fields({"name": "An", "phones": [bad]}))


def test_notes_keep_their_blank_lines_and_trim_the_rest() -> None:
    """Notes span lines, blank ones included (a paragraph break stays one); each
    line is trimmed, and the whole has no blank lines around it."""
    parse = fields.SPECS["notes"].parse
    assert "first\n\nthird" == parse("\n first \n   \n third\n\n", "VN")
    assert parse(" \n ", "VN") is None
