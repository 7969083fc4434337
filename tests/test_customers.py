"""Customers through the public API, on memory, SQLite and PostgreSQL.

Registration and its four duplicate-phone policies, edits, contracts, POS
sync by external id, bulk import, `as_of` reads, and the loyalty commands'
need for a known customer. Every refused command is checked to record nothing.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

import pytest

from referral_ledger import (
    KNOWN_TAGS,
    Contract,
    Customer,
    DuplicatePhone,
    ImportReport,
    InvalidInput,
    Ledger,
    LedgerError,
    LoyaltyProgram,
    NotFound,
    Tier,
)
from referral_ledger.aggregates.customer import CustomerUpdated
from support import Clock

START = datetime(2026, 1, 1, 8, 0, tzinfo=UTC)
AN_PHONE = "0912 345 678"
AN_E164 = "+84912345678"


def register_an(ledger: Ledger, **extra: Any) -> UUID:
    return ledger.register_customer("Nguyễn Văn An", [AN_PHONE], **extra)


def recorded_nothing(ledger: Ledger, command: Callable[[], object]) -> None:
    """Run `command` and check it recorded no event."""
    before = ledger.event_count()
    command()
    assert before == ledger.event_count()


# --- registering -----------------------------------------------------------


def test_a_registered_customer_shows_every_detail_normalised(ledger: Ledger) -> None:
    customer = ledger.register_customer(
        name="  Nguyễn Văn An ",
        phones=["0912 345 678", "+84 912 345 678", "024 3825 1234"],
        email="An.Nguyen@Example.COM",
        group="gold",
        source="retailer",
        tags=["potential", "vip"],
        external_id="KV-1",
        notes="Prefers calls after 6pm\nSpeaks English",
        addresses=["12 Tràng Tiền, Hà Nội"],
        assigned_staff="staff-07",
    )
    expected = Customer(
        id=customer,
        name="Nguyễn Văn An",
        phones=(AN_E164, "+842438251234"),  # the repeated spelling is one number
        email="An.Nguyen@example.com",
        group="gold",
        source="retailer",
        tags=frozenset({"potential", "vip"}),
        external_id="KV-1",
        notes="Prefers calls after 6pm\nSpeaks English",
        addresses=("12 Tràng Tiền, Hà Nội",),
        assigned_staff="staff-07",
        contracts=(),
        registered_at=START,
        level=None,
        purchase_count=0,
        lifetime_points=0,
    )
    assert expected == ledger.get_customer(customer)
    assert AN_E164 == ledger.get_customer(customer).phone
    assert customer == ledger.find_customer_by_phone("024 3825 1234")


def test_known_tags_are_the_seed_defaults() -> None:
    assert frozenset({"potential", "often_returns"}) == KNOWN_TAGS


def test_reject_refuses_a_phone_that_belongs_to_a_customer(ledger: Ledger) -> None:
    an = register_an(ledger)

    def again() -> None:
        with pytest.raises(DuplicatePhone) as raised:
            ledger.register_customer("Trần Thị Bình", ["0987 000 111", "+84 912 345 678"])
        assert AN_E164 in str(raised.value) and str(an) in str(raised.value)

    recorded_nothing(ledger, again)
    assert [an] == ledger.find_customers_by_phone(AN_PHONE)
    # The other phone of the refused registration stayed free.
    assert ledger.find_customer_by_phone("0987 000 111") is None


def test_skip_records_nothing_and_returns_the_owner(ledger: Ledger) -> None:
    an = register_an(ledger)
    recorded_nothing(
        ledger,
        lambda: assert_equal(
            an,
            ledger.register_customer(
                "Someone Else", ["84912345678"], email="x@example.com", on_duplicate_phone="skip"
            ),
        ),
    )
    assert "Nguyễn Văn An" == ledger.get_customer(an).name
    assert ledger.get_customer(an).email is None


def assert_equal(expected: object, actual: object) -> None:
    assert expected == actual


def test_update_merges_the_registration_into_the_owner(ledger: Ledger) -> None:
    an = register_an(ledger, email="an@example.com", tags=["potential"], group="retail")
    again = ledger.register_customer(
        "Nguyễn Văn An (shop)",
        ["0987 000 111", "(091) 234-5678"],
        group="gold",
        tags=["often_returns"],
        external_id="KV-9",
        on_duplicate_phone="update",
    )
    assert an == again
    customer = ledger.get_customer(an)
    assert "Nguyễn Văn An (shop)" == customer.name
    assert (AN_E164, "+84987000111") == customer.phones  # phones added, none lost
    assert frozenset({"potential", "often_returns"}) == customer.tags
    assert "an@example.com" == customer.email  # left out, so kept
    assert "gold" == customer.group
    assert "KV-9" == customer.external_id
    assert an == ledger.find_customer_by_phone("0987 000 111")
    assert an == ledger.find_customer_by_external_id("KV-9")
    # The same registration again changes nothing.
    recorded_nothing(
        ledger,
        lambda: ledger.register_customer(
            "Nguyễn Văn An (shop)",
            ["0987 000 111"],
            group="gold",
            on_duplicate_phone="update",
        ),
    )


def test_create_lets_customers_share_a_phone_and_find_returns_the_first(ledger: Ledger) -> None:
    an = register_an(ledger)
    binh = ledger.register_customer(
        "Trần Thị Bình", ["+84 912 345 678"], on_duplicate_phone="create"
    )
    assert an != binh
    assert an == ledger.find_customer_by_phone(AN_PHONE)
    assert [an, binh] == ledger.find_customers_by_phone(AN_PHONE)
    assert (AN_E164,) == ledger.get_customer(binh).phones


def test_an_unknown_policy_is_refused(ledger: Ledger) -> None:
    def bad() -> None:
        with pytest.raises(InvalidInput, match="'merge'"):
            ledger.register_customer("An", [AN_PHONE], on_duplicate_phone="merge")  # type: ignore[arg-type]

    recorded_nothing(ledger, bad)


def test_the_same_external_id_returns_the_first_customer_and_records_nothing(
    ledger: Ledger,
) -> None:
    first = register_an(ledger, external_id="KV-1")
    recorded_nothing(
        ledger,
        lambda: assert_equal(
            first, ledger.register_customer("Other Name", ["0987 000 111"], external_id="KV-1")
        ),
    )
    assert ledger.find_customer_by_phone("0987 000 111") is None
    assert first == ledger.find_customer_by_external_id("KV-1")
    assert ledger.find_customer_by_external_id("KV-2") is None


# --- editing ---------------------------------------------------------------


def test_update_changes_only_the_given_fields_and_records_only_them(ledger: Ledger) -> None:
    an = register_an(ledger, email="an@example.com", group="retail", tags=["potential"])
    ledger.update_customer(an, group="gold")
    customer = ledger.get_customer(an)
    assert ("gold", "an@example.com", "Nguyễn Văn An") == (
        customer.group,
        customer.email,
        customer.name,
    )
    last = ledger._store.events_of(an)[-1]  # the recorded event, to pin its contents
    assert isinstance(last, CustomerUpdated)
    assert ("gold", None, None, frozenset()) == (last.group, last.name, last.email, last.cleared)


def test_none_clears_an_optional_field(ledger: Ledger) -> None:
    an = register_an(ledger, email="an@example.com", group="retail", tags=["potential"])
    ledger.update_customer(an, email=None, group=None, tags=None)
    customer = ledger.get_customer(an)
    assert (None, None, frozenset()) == (customer.email, customer.group, customer.tags)


def test_an_edit_that_changes_nothing_records_nothing(ledger: Ledger) -> None:
    an = register_an(ledger, email="an@example.com")
    recorded_nothing(ledger, lambda: ledger.update_customer(an))
    recorded_nothing(
        ledger,
        lambda: ledger.update_customer(
            an, name="Nguyễn Văn An", phones=["+84 912 345 678"], email="an@example.com"
        ),
    )


def test_changing_phones_frees_the_old_one(ledger: Ledger) -> None:
    an = register_an(ledger)
    ledger.update_customer(an, phones=["0987 000 111"])
    assert ledger.find_customer_by_phone(AN_PHONE) is None
    assert an == ledger.find_customer_by_phone("0987 000 111")
    binh = ledger.register_customer("Trần Thị Bình", [AN_PHONE])
    assert binh == ledger.find_customer_by_phone(AN_PHONE)


def test_an_edit_to_another_customers_phone_is_refused(ledger: Ledger) -> None:
    an = register_an(ledger)
    binh = ledger.register_customer("Trần Thị Bình", ["0987 000 111"])

    def take() -> None:
        with pytest.raises(DuplicatePhone, match=str(binh)):
            ledger.update_customer(an, name="An 2", phones=[AN_PHONE, "0987 000 111"])

    recorded_nothing(ledger, take)
    assert "Nguyễn Văn An" == ledger.get_customer(an).name


def test_a_shared_phone_can_be_kept_by_either_owner(ledger: Ledger) -> None:
    an = register_an(ledger)
    binh = ledger.register_customer("Trần Thị Bình", [AN_PHONE], on_duplicate_phone="create")
    ledger.update_customer(binh, phones=[AN_PHONE, "0987 000 111"])
    ledger.update_customer(an, phones=["0900 000 001"])
    assert [binh] == ledger.find_customers_by_phone(AN_PHONE)


# --- contracts -------------------------------------------------------------


def test_a_contract_is_in_force_on_both_end_days(ledger: Ledger) -> None:
    an = register_an(ledger)
    ledger.sign_contract(an, "C-1", "pro", date(2026, 1, 1), date(2027, 1, 1))
    assert (Contract("C-1", "pro", date(2026, 1, 1), date(2027, 1, 1)),) == (
        ledger.get_customer(an).contracts
    )
    expected = {
        date(2025, 12, 31): False,
        date(2026, 1, 1): True,
        date(2026, 6, 15): True,
        date(2027, 1, 1): True,
        date(2027, 1, 2): False,
    }
    assert expected == {day: ledger.contract_in_force(an, day) for day in expected}


def test_a_one_day_contract_and_a_customer_without_contracts(ledger: Ledger) -> None:
    an = register_an(ledger)
    assert not ledger.contract_in_force(an, date(2026, 1, 1))
    ledger.sign_contract(an, "C-1", "basic", date(2026, 3, 1), date(2026, 3, 1))
    assert ledger.contract_in_force(an, date(2026, 3, 1))


def test_a_datetime_counts_by_its_own_local_date(ledger: Ledger) -> None:
    an = register_an(ledger)
    ledger.sign_contract(an, "C-1", "pro", date(2026, 1, 1), date(2026, 12, 31))
    hanoi = timezone(timedelta(hours=7))
    # 00:30 on 1 January in Hà Nội is still 31 December in UTC.
    assert ledger.contract_in_force(an, datetime(2026, 1, 1, 0, 30, tzinfo=hanoi))
    assert not ledger.contract_in_force(an, datetime(2027, 1, 1, 0, 30, tzinfo=hanoi))
    with pytest.raises(InvalidInput, match="timezone-aware"):
        ledger.contract_in_force(an, datetime(2026, 1, 1, 0, 30))


# --- bad input ------------------------------------------------------------

BAD_COMMANDS: dict[str, tuple[type[LedgerError], str, Callable[[Ledger, UUID], object]]] = {
    "missing name": (InvalidInput, "name", lambda lg, c: lg.register_customer("  ", [AN_PHONE])),
    "name None": (
        InvalidInput,
        "name",
        lambda lg, c: lg.register_customer(None, ["0987 000 111"]),  # type: ignore[arg-type]
    ),
    "empty phone list": (InvalidInput, "phones", lambda lg, c: lg.register_customer("B", [])),
    "phones as one str": (
        InvalidInput,
        "'0987 000 111'",
        lambda lg, c: lg.register_customer("B", "0987 000 111"),
    ),
    "bad phone": (
        InvalidInput,
        "'12ab'",
        lambda lg, c: lg.register_customer("B", ["0987 000 111", "12ab"]),
    ),
    "bad email": (
        InvalidInput,
        "'binh@'",
        lambda lg, c: lg.register_customer("B", ["0987 000 111"], email="binh@"),
    ),
    "email without a dot": (
        InvalidInput,
        "'binh@localhost'",
        lambda lg, c: lg.register_customer("B", ["0987 000 111"], email="binh@localhost"),
    ),
    "tags as one str": (
        InvalidInput,
        "tags",
        lambda lg, c: lg.register_customer("B", ["0987 000 111"], tags="vip"),
    ),
    "update unknown id": (
        NotFound,
        "no customer",
        lambda lg, c: lg.update_customer(uuid4(), name="X"),
    ),
    "update not a uuid": (
        InvalidInput,
        "'abc'",
        lambda lg, c: lg.update_customer("abc", name="X"),  # type: ignore[arg-type]
    ),
    "update empty name": (InvalidInput, "name", lambda lg, c: lg.update_customer(c, name="")),
    "update clears name": (
        InvalidInput,
        "name",
        lambda lg, c: lg.update_customer(c, name=None),  # type: ignore[arg-type]
    ),
    "update empty phones": (InvalidInput, "phones", lambda lg, c: lg.update_customer(c, phones=[])),
    "update bad email": (
        InvalidInput,
        "'an at example'",
        lambda lg, c: lg.update_customer(c, email="an at example"),
    ),
    "sign unknown id": (
        NotFound,
        "no customer",
        lambda lg, c: lg.sign_contract(uuid4(), "C-9", "pro", date(2026, 1, 1), date(2027, 1, 1)),
    ),
    "end before start": (
        InvalidInput,
        "2025-12-31",
        lambda lg, c: lg.sign_contract(c, "C-9", "pro", date(2026, 1, 1), date(2025, 12, 31)),
    ),
    "duplicate contract id": (
        InvalidInput,
        "'C-1'",
        lambda lg, c: lg.sign_contract(c, "C-1", "basic", date(2026, 1, 1), date(2027, 1, 1)),
    ),
    "datetime for a date": (
        InvalidInput,
        "starts_on",
        lambda lg, c: lg.sign_contract(c, "C-9", "pro", START, date(2027, 1, 1)),
    ),
    "get unknown id": (NotFound, "no customer", lambda lg, c: lg.get_customer(uuid4())),
    "in force unknown id": (
        NotFound,
        "no customer",
        lambda lg, c: lg.contract_in_force(uuid4(), date(2026, 1, 1)),
    ),
    "sync without name": (
        InvalidInput,
        "name",
        lambda lg, c: lg.sync_customer_from_pos("KV-5", "", ["0987 000 111"]),
    ),
    "import batch_size 0": (
        InvalidInput,
        "batch_size",
        lambda lg, c: lg.import_customers(
            [{"name": "B", "phones": ["0987 000 111"]}], batch_size=0
        ),
    ),
}


@pytest.mark.parametrize("case", BAD_COMMANDS)
def test_bad_input_raises_the_matching_error_and_records_nothing(ledger: Ledger, case: str) -> None:
    error, mentioned, command = BAD_COMMANDS[case]
    an = register_an(ledger)
    ledger.sign_contract(an, "C-1", "pro", date(2026, 1, 1), date(2027, 1, 1))
    before = ledger.event_count()
    with pytest.raises(error) as raised:
        command(ledger, an)
    assert mentioned in str(raised.value)
    assert before == ledger.event_count()
    assert ledger.find_customer_by_phone("0987 000 111") is None


# --- reading the past -------------------------------------------------------


def test_get_customer_as_of_answers_as_the_ledger_stood(ledger: Ledger, clock: Clock) -> None:
    before = clock.now
    clock.advance(minutes=1)
    an = register_an(ledger, group="retail")
    registered = clock.now
    clock.advance(minutes=1)
    ledger.update_customer(an, name="An Nguyễn", phones=["0987 000 111"])
    clock.advance(minutes=1)
    ledger.sign_contract(an, "C-1", "pro", date(2026, 1, 1), date(2027, 1, 1))
    with pytest.raises(NotFound):
        ledger.get_customer(an, as_of=before)
    then = ledger.get_customer(an, as_of=registered)
    assert ("Nguyễn Văn An", (AN_E164,), ()) == (then.name, then.phones, then.contracts)
    now = ledger.get_customer(an)
    assert ("An Nguyễn", ("+84987000111",), 1) == (now.name, now.phones, len(now.contracts))


def test_loyalty_standing_comes_from_the_points_account_as_of_too(
    ledger: Ledger, clock: Clock
) -> None:
    ledger.configure_loyalty(
        LoyaltyProgram(
            money_per_point=Decimal(10000), point_value=Decimal(1000), tiers=(Tier("VIP", 20),)
        )
    )
    an = register_an(ledger)
    clock.advance(minutes=1)
    ledger.record_purchase(an, "INV-1", 150000)
    first = clock.now
    clock.advance(minutes=1)
    ledger.record_purchase(an, "INV-2", 100000)
    now = ledger.get_customer(an)
    assert ("VIP", 2, 25) == (now.level, now.purchase_count, now.lifetime_points)
    then = ledger.get_customer(an, as_of=first)
    assert (None, 1, 15) == (then.level, then.purchase_count, then.lifetime_points)


def test_a_customer_loaded_from_a_snapshot_equals_the_replayed_one(
    store_url: str, clock: Clock
) -> None:
    """With a snapshot every 2 events, loading starts from the stored snapshot;
    `as_of` always replays every event: both must agree."""
    with Ledger.open(store_url, clock=clock, snapshot_interval=2) as ledger:
        an = register_an(ledger, tags=["potential"], addresses=["1 Hàng Bài"])
        for n in range(5):
            ledger.update_customer(an, name=f"An {n}", email=f"an{n}@example.com")
        ledger.sign_contract(an, "C-1", "pro", date(2026, 1, 1), date(2027, 1, 1))
        assert ledger._store.app.snapshots is not None
        assert 1 <= len(list(ledger._store.app.snapshots.get(an)))
        from_snapshot = ledger.get_customer(an)
        replayed = ledger.get_customer(an, as_of=clock.now + timedelta(days=1))
    assert replayed == from_snapshot
    assert ("An 4", frozenset({"potential"}), 1) == (
        from_snapshot.name,
        from_snapshot.tags,
        len(from_snapshot.contracts),
    )


# --- POS sync --------------------------------------------------------------


def test_sync_creates_then_edits_and_the_same_payload_twice_records_one_change(
    ledger: Ledger,
) -> None:
    created = ledger.sync_customer_from_pos("KV-1", "Nguyễn Văn An", [AN_PHONE], email=None)
    customer = ledger.get_customer(created)
    assert ("retailer", "KV-1") == (customer.source, customer.external_id)
    recorded_nothing(
        ledger,
        lambda: assert_equal(
            created, ledger.sync_customer_from_pos("KV-1", "Nguyễn Văn An", [AN_PHONE])
        ),
    )
    before = ledger.event_count()

    def edit() -> UUID:
        return ledger.sync_customer_from_pos(
            "KV-1", "An Nguyễn", ["0987 000 111"], email="an@example.com"
        )

    assert created == edit()
    assert before < ledger.event_count()
    recorded_nothing(ledger, edit)
    customer = ledger.get_customer(created)
    assert ("An Nguyễn", ("+84987000111",), "an@example.com") == (
        customer.name,
        customer.phones,
        customer.email,
    )
    assert ledger.find_customer_by_phone(AN_PHONE) is None


def test_sync_keeps_what_the_pos_does_not_manage(ledger: Ledger) -> None:
    created = ledger.sync_customer_from_pos("KV-1", "An", [AN_PHONE], email="an@example.com")
    ledger.update_customer(created, tags=["potential"], assigned_staff="staff-07")
    ledger.sync_customer_from_pos("KV-1", "An", [AN_PHONE], email=None)
    customer = ledger.get_customer(created)
    assert (None, frozenset({"potential"}), "staff-07", "retailer") == (
        customer.email,
        customer.tags,
        customer.assigned_staff,
        customer.source,
    )


def test_sync_edit_to_a_taken_phone_follows_the_policy(ledger: Ledger) -> None:
    binh = ledger.register_customer("Trần Thị Bình", ["0987 000 111"])
    synced = ledger.sync_customer_from_pos("KV-1", "An", [AN_PHONE])
    moved = ["0987 000 111"]

    def reject() -> None:
        with pytest.raises(DuplicatePhone, match=str(binh)):
            ledger.sync_customer_from_pos("KV-1", "An 2", moved)

    recorded_nothing(ledger, reject)
    recorded_nothing(
        ledger,
        lambda: ledger.sync_customer_from_pos("KV-1", "An 2", moved, on_duplicate_phone="skip"),
    )
    assert "An" == ledger.get_customer(synced).name
    ledger.sync_customer_from_pos("KV-1", "An 2", moved, on_duplicate_phone="create")
    assert [binh, synced] == ledger.find_customers_by_phone("0987 000 111")
    assert ledger.find_customer_by_phone(AN_PHONE) is None


# --- bulk import -----------------------------------------------------------

ROWS: list[dict[str, object]] = [
    {"name": "Nguyễn Văn An", "phones": "0912 345 678; 024 3825 1234", "external_id": "KV-1"},
    {"name": "", "phone": "0987 000 222"},  # no name
    {"name": "Trần Thị Bình", "phone": "0987 000 111", "email": "binh@example.com"},
    {"name": "Lê Văn Cường", "phone": "12ab"},  # bad phone
    {"name": "Phạm Thị Dung", "phones": ["0987 000 111"]},  # Bình's phone, earlier row
    {"name": "Hoàng Văn Em", "phones": ["0900 000 005"], "emial": "em@example.com"},  # typo
    {"name": "Đặng Thị Giang", "phones": ["0900 000 006"], "tags": "potential, often_returns"},
    {"name": "Vũ Văn Hải", "phones": ["0900 000 007"], "email": "hai@", "external_id": "KV-7"},
]


def test_an_import_reports_bad_rows_and_imports_the_rest(ledger: Ledger) -> None:
    report = ledger.import_customers(ROWS, batch_size=3)
    assert 3 == report.created
    assert [2, 4, 5, 6, 8] == [number for number, _ in report.rejected]
    reasons = dict(report.rejected)
    assert "name" in reasons[2]
    assert "'12ab'" in reasons[4]
    assert "+84987000111" in reasons[5]  # sees row 3, committed in the same batch
    assert "'emial'" in reasons[6]
    assert "'hai@'" in reasons[8]
    assert len(ROWS) == report.total
    an = ledger.find_customer_by_external_id("KV-1")
    assert an is not None and an == ledger.find_customer_by_phone("+842438251234")
    giang = ledger.find_customer_by_phone("0900 000 006")
    assert giang is not None
    assert frozenset({"potential", "often_returns"}) == ledger.get_customer(giang).tags
    assert ledger.find_customer_by_external_id("KV-7") is None


def test_importing_the_same_rows_twice_changes_nothing(ledger: Ledger) -> None:
    rows = [
        {"external_id": f"KV-{n}", "name": f"Khách {n}", "phones": [f"0900 000 {n:03d}"]}
        for n in range(1, 8)
    ]
    first = ledger.import_customers(rows, batch_size=3)
    assert ImportReport(created=7) == first
    before = ledger.event_count()
    second = ledger.import_customers(rows, batch_size=3)
    assert ImportReport(unchanged=7) == second
    assert before == ledger.event_count()
    # Without external ids, "skip" makes a re-import a no-op too.
    plain = [{"name": "Bình", "phone": "0987 000 111"}]
    assert ImportReport(created=1) == ledger.import_customers(plain, on_duplicate_phone="skip")
    before = ledger.event_count()
    assert ImportReport(skipped=1) == ledger.import_customers(plain, on_duplicate_phone="skip")
    assert before == ledger.event_count()


def test_a_reimport_with_changed_columns_updates_only_those(ledger: Ledger) -> None:
    ledger.import_customers([{"external_id": "KV-1", "name": "An", "phones": [AN_PHONE]}])
    an = ledger.find_customer_by_external_id("KV-1")
    assert an is not None
    ledger.update_customer(an, email="an@example.com")
    report = ledger.import_customers(
        [{"external_id": "KV-1", "name": "An Nguyễn", "phones": [AN_PHONE], "group": "gold"}]
    )
    assert ImportReport(updated=1) == report
    customer = ledger.get_customer(an)
    assert ("An Nguyễn", "gold", "an@example.com") == (
        customer.name,
        customer.group,
        customer.email,
    )


def test_import_policies_update_and_create(ledger: Ledger) -> None:
    an = register_an(ledger)
    rows = [{"name": "An Nguyễn", "phone": AN_PHONE, "group": "gold"}]
    assert ImportReport(updated=1) == ledger.import_customers(rows, on_duplicate_phone="update")
    assert "gold" == ledger.get_customer(an).group
    assert ImportReport(created=1) == ledger.import_customers(rows, on_duplicate_phone="create")
    assert 2 == len(ledger.find_customers_by_phone(AN_PHONE))


def test_a_row_that_is_not_a_mapping_is_rejected(ledger: Ledger) -> None:
    rows: list[Any] = [["An", AN_PHONE], {"name": "An", "phone": AN_PHONE}]
    report = ledger.import_customers(rows)
    assert 1 == report.created
    assert [1] == [n for n, _ in report.rejected]


# --- loyalty needs customers ----------------------------------------------

STANDARD = LoyaltyProgram(money_per_point=Decimal(10000), point_value=Decimal(1000))


def test_points_commands_on_an_unknown_customer_raise_not_found(ledger: Ledger) -> None:
    ledger.configure_loyalty(STANDARD)
    stranger = uuid4()
    commands: list[Callable[[], object]] = [
        lambda: ledger.record_purchase(stranger, "INV-1", 100000),
        lambda: ledger.redeem_points(stranger, 1, "R-1"),
        lambda: ledger.return_purchase(stranger, "INV-1"),
        lambda: ledger.balance(stranger),
        lambda: ledger.statement(stranger),
    ]
    for command in commands:

        def refused(command: Callable[[], object] = command) -> None:
            with pytest.raises(NotFound, match=str(stranger)):
                command()

        recorded_nothing(ledger, refused)


def test_eligible_groups_use_the_customers_group(ledger: Ledger) -> None:
    ledger.configure_loyalty(
        LoyaltyProgram(
            money_per_point=Decimal(10000),
            point_value=Decimal(1000),
            eligible_groups=frozenset({"gold"}),
        )
    )
    gold = ledger.register_customer("Vàng", ["0900 000 001"], group="gold")
    plain = ledger.register_customer("Thường", ["0900 000 002"])
    assert 10 == ledger.record_purchase(gold, "INV-1", 100000)
    assert 0 == ledger.record_purchase(plain, "INV-2", 100000)
    # Joining the group makes later purchases earn; earlier ones stay as recorded.
    ledger.update_customer(plain, group="gold")
    assert 10 == ledger.record_purchase(plain, "INV-3", 100000)
    assert 10 == ledger.balance(plain)


def test_record_purchase_no_longer_takes_a_group() -> None:
    assert "group" not in inspect.signature(Ledger.record_purchase).parameters
