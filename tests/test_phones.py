"""Phone numbers: normalisation as customers see it, and the phone index record.

The table pins which spellings are one number; the index tests pin claim and
release as pure functions; the ledger tests pin that lookups go through the
same normalisation on every store.
"""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

import pytest

from referral_ledger import InvalidInput, Ledger
from referral_ledger.aggregates.base import Event
from referral_ledger.aggregates.phones import (
    PhoneClaimed,
    PhoneOwners,
    PhoneReleased,
    claim,
    evolve_phone,
    phone_record_id,
    release,
)
from referral_ledger.values import normalise_phone

NOW = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    "spelling",
    ["0912 345 678", "+84 912 345 678", "84912345678", "(091) 234-5678", "0912.345.678"],
)
def test_vietnamese_mobile_spellings_are_one_number(spelling: str) -> None:
    assert "+84912345678" == normalise_phone(spelling)


@pytest.mark.parametrize(
    ("spelling", "e164"),
    [
        ("024 3825 1234", "+842438251234"),  # a Hà Nội landline
        ("+84 24 3825 1234", "+842438251234"),
        ("028 3822 1234", "+842838221234"),  # a Hồ Chí Minh City landline
        ("+1 650 253 0000", "+16502530000"),  # a foreign number keeps its country
        ("+44 20 7946 0958", "+442079460958"),
    ],
)
def test_landlines_and_foreign_numbers_normalise(spelling: str, e164: str) -> None:
    assert e164 == normalise_phone(spelling)


@pytest.mark.parametrize(
    "garbage", ["abc", "0912", "+84 12", "12345678901234567890", "091234567x", "   ", "+"]
)
def test_garbage_is_refused_naming_it(garbage: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        normalise_phone(garbage)
    assert repr(garbage) in str(raised.value)


def test_the_region_decides_how_a_national_number_reads() -> None:
    """`(650) 253-0000` is a US number when the ledger's region is US."""
    assert "+16502530000" == normalise_phone("(650) 253-0000", "US")


# --- the index record ------------------------------------------------------


def _apply(index: PhoneOwners | None, events: list[Event]) -> PhoneOwners | None:
    for event in events:
        index = evolve_phone(index, event)
    return index


def test_claims_keep_owners_in_registration_order() -> None:
    first, second = uuid4(), uuid4()
    index = _apply(None, claim(None, "+84912345678", first, NOW))
    index = _apply(index, claim(index, "+84912345678", second, NOW))
    assert index is not None
    assert (first, second) == index.owners
    assert first == index.owner
    assert phone_record_id("+84912345678") == index.id
    assert 2 == index.version
    assert index.open_referral is None


def test_claiming_twice_records_nothing_the_second_time() -> None:
    owner = uuid4()
    index = _apply(None, claim(None, "+84912345678", owner, NOW))
    assert [] == claim(index, "+84912345678", owner, NOW)


def test_release_frees_the_number_and_a_stranger_releases_nothing() -> None:
    owner = uuid4()
    index = _apply(None, claim(None, "+84912345678", owner, NOW))
    assert [] == release(index, "+84912345678", uuid4(), NOW)
    assert [] == release(None, "+84912345678", owner, NOW)
    events = release(index, "+84912345678", owner, NOW)
    assert [PhoneReleased] == [type(e) for e in events]
    freed = _apply(index, events)
    assert freed is not None
    assert () == freed.owners
    assert freed.owner is None
    # A freed number can be claimed again: the record goes on at the next version.
    again = claim(freed, "+84912345678", owner, NOW)
    assert [PhoneClaimed] == [type(e) for e in again]
    assert 3 == again[0].originator_version


def test_the_index_record_id_is_derived_from_the_number() -> None:
    """Two writers of the same number write the same record: the store keeps one."""
    assert phone_record_id("+84912345678") == phone_record_id("+84912345678")
    assert phone_record_id("+84912345678") != phone_record_id("+84912345679")


# --- through the ledger ----------------------------------------------------


def test_lookups_normalise_like_registration(store_url: str) -> None:
    with Ledger.open(store_url) as ledger:
        an = ledger.register_customer("Nguyễn Văn An", ["0912 345 678"])
        shop = ledger.register_customer("Cửa hàng Hoa", ["024 3825 1234"])
        abroad = ledger.register_customer("John Smith", ["+1 650 253 0000"])
        for spelling in ("0912 345 678", "+84 912 345 678", "84912345678", "(091) 234-5678"):
            assert an == ledger.find_customer_by_phone(spelling)
        assert shop == ledger.find_customer_by_phone("+84 24 3825 1234")
        assert abroad == ledger.find_customer_by_phone("+16502530000")
        assert ("+84912345678",) == ledger.get_customer(an).phones
        assert ledger.find_customer_by_phone("0987 654 321") is None
        assert [] == ledger.find_customers_by_phone("0987 654 321")
        with pytest.raises(InvalidInput, match="'not a phone'"):
            ledger.find_customer_by_phone("not a phone")


def test_a_ledger_opened_for_another_region_reads_national_numbers_there() -> None:
    with Ledger.open(phone_region="US") as ledger:
        customer = ledger.register_customer("John Smith", ["(650) 253-0000"])
        assert ("+16502530000",) == ledger.get_customer(customer).phones


def test_an_unknown_phone_region_is_refused_at_open() -> None:
    with pytest.raises(InvalidInput, match="'Vietnam'"):
        Ledger.open(phone_region="Vietnam")
