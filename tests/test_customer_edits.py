"""Every customer field through each way in, and every size limit at its boundary.

A field reaches a customer by registration, by `update_customer`, by the
"update" duplicate policy (a registration merged into the phone's owner), by
POS sync and by import. Each field is checked through each of them here, and
each size limit is checked at the limit (accepted) and one over (refused,
nothing recorded). Then import rows (columns in any order, "phone" with
"phones", blank cells) and what the POS-link and phone records say.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID, uuid4

import pytest

from referral_ledger import InvalidInput, Ledger
from referral_ledger.aggregates import claims
from referral_ledger.aggregates.claims import evolve_claim
from referral_ledger.aggregates.customer import ExternalIdLinked
from referral_ledger.aggregates.customer_record import POS_ID, external_link_id, link_external_id
from referral_ledger.aggregates.phones import PhoneReleased, phone_record_id
from referral_ledger.policies.customer_fields import (
    MAX_ADDRESSES,
    MAX_NOTES,
    MAX_PHONES,
    MAX_TAGS,
    UNCHANGED,
    parse_addresses,
)

START = datetime(2026, 1, 1, 8, 0, tzinfo=UTC)
AN_PHONE = "0912 345 678"
AN_E164 = "+84912345678"

#: A value for every field but name and phones, as a host would give it.
EVERY_FIELD: dict[str, Any] = {
    "email": "an@example.com",
    "group": "retail",
    "source": "facebook",
    "tags": ["potential"],
    "notes": "Prefers calls after 5 pm.\nOwns two shops.",
    "addresses": ["12 Tràng Tiền, Hà Nội", "3 Lê Lợi, Huế"],
    "assigned_staff": "Lan",
    "social_page": "fb.com/an.shop",
}
#: The same fields, each changed.
CHANGED: dict[str, Any] = {
    "email": "an@shop.example",
    "group": "gold",
    "source": "zalo",
    "tags": ["often_returns"],
    "notes": "Moved to Đà Nẵng.",
    "addresses": ["9 Bạch Đằng, Đà Nẵng"],
    "assigned_staff": "Minh",
    "social_page": "zalo.me/an.shop",
}


def shown(field: str, value: Any) -> Any:
    """A field's value as `get_customer` shows it: tags a set, addresses a tuple."""
    if field == "tags":
        return frozenset(value)
    if field == "addresses":
        return tuple(value)
    return value


def view(ledger: Ledger, customer: UUID) -> dict[str, Any]:
    found = ledger.get_customer(customer)
    return {field: getattr(found, field) for field in EVERY_FIELD}


def expected(values: dict[str, Any]) -> dict[str, Any]:
    return {field: shown(field, value) for field, value in values.items()}


def recorded_nothing(ledger: Ledger, command: Callable[[], object]) -> None:
    before = ledger.event_count()
    command()
    assert before == ledger.event_count()


# --- every field, every way in ---------------------------------------------------


def test_every_field_registers_and_reads_back(ledger: Ledger) -> None:
    an = ledger.register_customer("Nguyễn Văn An", [AN_PHONE], **EVERY_FIELD)
    assert expected(EVERY_FIELD) == view(ledger, an)


@pytest.mark.parametrize("field", sorted(CHANGED))
def test_update_customer_changes_each_field_alone(ledger: Ledger, field: str) -> None:
    an = ledger.register_customer("Nguyễn Văn An", [AN_PHONE], **EVERY_FIELD)
    ledger.update_customer(an, **{field: CHANGED[field]})
    assert expected({**EVERY_FIELD, field: CHANGED[field]}) == view(ledger, an)


@pytest.mark.parametrize("field", sorted(CHANGED))
def test_update_customer_clears_each_field_with_none(ledger: Ledger, field: str) -> None:
    an = ledger.register_customer("Nguyễn Văn An", [AN_PHONE], **EVERY_FIELD)
    clear: dict[str, Any] = {field: None}
    ledger.update_customer(an, **clear)
    empty: object = frozenset() if field == "tags" else () if field == "addresses" else None
    assert {**expected(EVERY_FIELD), field: empty} == view(ledger, an)


@pytest.mark.parametrize("field", sorted(CHANGED))
def test_update_customer_refuses_a_bad_value_of_each_field(ledger: Ledger, field: str) -> None:
    an = ledger.register_customer("Nguyễn Văn An", [AN_PHONE], **EVERY_FIELD)
    bad: dict[str, Any] = {field: 12345}

    def refuse() -> None:
        with pytest.raises(InvalidInput, match=f"{field.rstrip('s')}|12345"):
            ledger.update_customer(an, **bad)

    recorded_nothing(ledger, refuse)
    assert expected(EVERY_FIELD) == view(ledger, an)


def test_every_field_imports_and_a_reimport_changes_each(ledger: Ledger) -> None:
    row = {"external_id": "KV-1", "name": "Nguyễn Văn An", "phone": AN_PHONE, **EVERY_FIELD}
    report = ledger.import_customers([row])
    assert (1, []) == (report.created, report.rejected)
    an = ledger.find_customer_by_external_id("KV-1")
    assert an is not None
    assert expected(EVERY_FIELD) == view(ledger, an)

    report = ledger.import_customers([{**row, **CHANGED}])
    assert (1, []) == (report.updated, report.rejected)
    assert expected(CHANGED) == view(ledger, an)


def test_an_import_cell_splits_lists_and_keeps_multiline_notes(ledger: Ledger) -> None:
    row = {
        "name": "Nguyễn Văn An",
        "phones": f"{AN_PHONE}; 0987 000 111",
        "tags": "potential, often_returns",
        "addresses": "12 Tràng Tiền, Hà Nội\n3 Lê Lợi, Huế",
        "notes": "line one\nline two",
        "source": "facebook",
    }
    report = ledger.import_customers([row])
    assert (1, []) == (report.created, report.rejected)
    an = ledger.find_customer_by_phone(AN_PHONE)
    assert an is not None
    customer = ledger.get_customer(an)
    assert (AN_E164, "+84987000111") == customer.phones
    assert frozenset({"potential", "often_returns"}) == customer.tags
    # An address has commas: only ";" and new lines separate addresses.
    assert ("12 Tràng Tiền, Hà Nội", "3 Lê Lợi, Huế") == customer.addresses
    assert ("line one\nline two", "facebook") == (customer.notes, customer.source)


# --- the "update" duplicate policy --------------------------------------------------


def test_update_policy_adds_addresses_and_keeps_what_the_registration_leaves_out(
    ledger: Ledger,
) -> None:
    an = ledger.register_customer("Nguyễn Văn An", [AN_PHONE], **EVERY_FIELD)
    again = ledger.register_customer(
        "Nguyễn Văn An",
        [AN_PHONE],
        addresses=["9 Bạch Đằng, Đà Nẵng", "3 Lê Lợi, Huế"],
        notes="Moved to Đà Nẵng.",
        on_duplicate_phone="update",
    )
    assert an == again
    customer = ledger.get_customer(an)
    # Added in order, none lost, none twice.
    assert ("12 Tràng Tiền, Hà Nội", "3 Lê Lợi, Huế", "9 Bạch Đằng, Đà Nẵng") == (
        customer.addresses
    )
    assert "Moved to Đà Nẵng." == customer.notes
    kept = {k: v for k, v in EVERY_FIELD.items() if k not in ("addresses", "notes")}
    assert expected(kept) == {k: getattr(customer, k) for k in kept}


def test_update_policy_never_overwrites_a_customers_pos_id(ledger: Ledger) -> None:
    an = ledger.register_customer("Nguyễn Văn An", [AN_PHONE], external_id="KV-1")
    ledger.register_customer(
        "Nguyễn Văn An", [AN_PHONE], external_id="KV-9", on_duplicate_phone="update"
    )
    assert "KV-1" == ledger.get_customer(an).external_id
    assert an == ledger.find_customer_by_external_id("KV-1")


def test_update_policy_gives_a_pos_id_to_a_customer_without_one(ledger: Ledger) -> None:
    an = ledger.register_customer("Nguyễn Văn An", [AN_PHONE])
    ledger.register_customer(
        "Nguyễn Văn An", [AN_PHONE], external_id="KV-9", on_duplicate_phone="update"
    )
    assert "KV-9" == ledger.get_customer(an).external_id
    assert an == ledger.find_customer_by_external_id("KV-9")


# --- malformed lists -------------------------------------------------------------------


@pytest.mark.parametrize("field", ["phones", "tags", "addresses"])
def test_a_bare_string_for_a_list_field_is_refused(ledger: Ledger, field: str) -> None:
    # "abc" is a sequence of three one-letter items to Python, never to a host.
    given: dict[str, Any] = {"phones": [AN_PHONE], field: "abc"}

    def refuse() -> None:
        with pytest.raises(InvalidInput, match="'abc'"):
            ledger.register_customer("Nguyễn Văn An", **given)

    recorded_nothing(ledger, refuse)


def test_parse_addresses_refuses_a_bare_string_and_bytes() -> None:
    for value in ("abc", b"abc", 5):
        with pytest.raises(InvalidInput, match="addresses must be a list"):
            parse_addresses(value)


# --- size limits: at the limit accepted, one over refused --------------------------------


def phones(n: int) -> list[str]:
    return [f"0912 {i:06d}" for i in range(n)]


#: (field, the largest value accepted, the smallest refused, what the refusal names)
LIMITS: list[tuple[str, Any, Any, str]] = [
    ("phones", phones(MAX_PHONES), phones(MAX_PHONES + 1), f"at most {MAX_PHONES} phones"),
    (
        "tags",
        [f"tag{i}" for i in range(MAX_TAGS)],
        [f"tag{i}" for i in range(MAX_TAGS + 1)],
        f"at most {MAX_TAGS} tags",
    ),
    (
        "tags",
        ["t" * 100],
        ["t" * 101],
        "tag",
    ),
    (
        "addresses",
        [f"{i} Lê Lợi" for i in range(MAX_ADDRESSES)],
        [f"{i} Lê Lợi" for i in range(MAX_ADDRESSES + 1)],
        f"at most {MAX_ADDRESSES} addresses",
    ),
    ("notes", "n" * MAX_NOTES, "n" * (MAX_NOTES + 1), "notes"),
    (
        "notes",
        "short line\n" + "n" * MAX_NOTES,
        "short line\n" + "n" * (MAX_NOTES + 1),
        "notes",
    ),
]


@pytest.mark.parametrize(
    ("field", "at_limit", "over", "named"),
    LIMITS,
    ids=["phones", "tags", "tag length", "addresses", "notes", "a note line"],
)
def test_a_field_at_its_limit_is_accepted_and_one_over_refused(
    ledger: Ledger, field: str, at_limit: Any, over: Any, named: str
) -> None:
    base = {"phones": [AN_PHONE]}

    def refuse_registration() -> None:
        with pytest.raises(InvalidInput, match=named):
            ledger.register_customer("Nguyễn Văn An", **{**base, field: over})

    recorded_nothing(ledger, refuse_registration)
    an = ledger.register_customer("Nguyễn Văn An", **{**base, field: at_limit})
    assert len(at_limit) == len(getattr(ledger.get_customer(an), field))

    def refuse_edit() -> None:
        with pytest.raises(InvalidInput, match=named):
            ledger.update_customer(an, **{field: over})

    recorded_nothing(ledger, refuse_edit)


def test_a_contract_plan_of_100_characters_is_accepted_and_101_refused(ledger: Ledger) -> None:
    an = ledger.register_customer("Nguyễn Văn An", [AN_PHONE])
    starts, ends = date(2026, 1, 1), date(2026, 12, 31)

    def refuse() -> None:
        with pytest.raises(InvalidInput, match="plan is longer than 100"):
            ledger.sign_contract(an, "C-1", "p" * 101, starts, ends)

    recorded_nothing(ledger, refuse)
    ledger.sign_contract(an, "C-1", "p" * 100, starts, ends)
    assert ["p" * 100] == [c.plan for c in ledger.get_customer(an).contracts]


def test_unchanged_reads_as_its_name_in_signatures_and_errors() -> None:
    # `update_customer`'s defaults show as UNCHANGED in help() and the API reference.
    assert "UNCHANGED" == repr(UNCHANGED)


# --- import rows -------------------------------------------------------------------------


def test_an_import_row_reads_every_column_whatever_their_order(ledger: Ledger) -> None:
    at = datetime(2025, 12, 24, 9, 0, tzinfo=UTC)
    rows: list[dict[str, object]] = [
        {"at": at.isoformat(), "name": "An", "phone": "0912 000 001", "source": "facebook"},
        {"name": "Bình", "at": "  ", "phones": "0912 000 002", "group": "gold"},
        # A blank POS id cell is no POS id: the row is registered like one without it.
        {"name": "Chi", "phone": "0912 000 003", "external_id": " "},
        {"name": "Dũng", "phone": "0912 000 004", "external_id": None},
    ]
    report = ledger.import_customers(rows)
    assert (4, []) == (report.created, report.rejected)
    chi = ledger.find_customer_by_phone("0912 000 003")
    assert chi is not None and ledger.get_customer(chi).external_id is None
    an = ledger.find_customer_by_phone("0912 000 001")
    binh = ledger.find_customer_by_phone("0912 000 002")
    assert an is not None and binh is not None
    assert ("An", "facebook") == (ledger.get_customer(an).name, ledger.get_customer(an).source)
    # A blank "at" cell means now, like a row without one.
    assert ("Bình", "gold") == (ledger.get_customer(binh).name, ledger.get_customer(binh).group)


def test_phone_and_phones_columns_add_up_phones_first(ledger: Ledger) -> None:
    for row in (
        {"name": "An", "phones": "0912 000 001; 0912 000 002", "phone": "0912 000 003"},
        {"name": "Bình", "phone": "0912 000 006", "phones": "0912 000 004; 0912 000 005"},
    ):
        assert 1 == ledger.import_customers([row]).created
    an = ledger.find_customer_by_phone("0912 000 003")
    binh = ledger.find_customer_by_phone("0912 000 006")
    assert an is not None and binh is not None
    assert ("+84912000001", "+84912000002", "+84912000003") == ledger.get_customer(an).phones
    assert ("+84912000004", "+84912000005", "+84912000006") == ledger.get_customer(binh).phones


def test_an_import_row_with_a_bad_phone_cell_is_rejected_by_name(ledger: Ledger) -> None:
    # A whole number typed in a phone cell is the digits it spells (policies/sheet_rows.py);
    # a fraction is no phone.
    report = ledger.import_customers([{"name": "An", "phone": 1.5}])
    assert 0 == report.created
    [(row, reason)] = report.rejected
    assert 1 == row and "phone must be text or a list of phones, not 1.5" in reason


# --- what the claim records say ---------------------------------------------------------


def test_the_pos_link_and_a_freed_phone_name_their_value(ledger: Ledger) -> None:
    an = ledger.register_customer("An", [AN_PHONE], external_id="KV-1")
    [linked] = ledger._store.events_of(external_link_id("KV-1"))
    assert isinstance(linked, ExternalIdLinked)
    assert ("KV-1", an) == (linked.external_id, linked.customer_id)
    ledger.update_customer(an, phones=["0987 000 111"])
    released = [
        e for e in ledger._store.events_of(phone_record_id(AN_E164)) if isinstance(e, PhoneReleased)
    ]
    assert [(AN_E164, an)] == [(e.phone, e.customer_id) for e in released]


def test_a_pos_id_is_linked_once_and_again_after_it_was_freed() -> None:
    first, second = uuid4(), uuid4()
    now = START
    [linked] = link_external_id(None, "KV-1", first, now)
    link = evolve_claim(None, linked)
    assert [] == link_external_id(link, "KV-1", second, now)
    [freed] = claims.release(POS_ID, link, first, now)
    link = evolve_claim(link, freed)
    [again] = link_external_id(link, "KV-1", second, now)
    relinked = evolve_claim(link, again)
    assert ("KV-1", (second,), 3) == (relinked.value, relinked.owners, relinked.version)
