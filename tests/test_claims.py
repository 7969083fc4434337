"""Claims (a unique value -> its owner) and the ids of their records.

The pure tests pin the generic claim record and that it reads the claim
events 0.1 stored. The ledger tests pin that, with a cipher key, no record id
can be computed from a phone, a POS id, an invoice or a redemption id without
the key, that stores without a key keep their uuid5 ids, and that an encrypted
store written by 0.1 (tests/fixtures/encrypted-0.1.sqlite, uuid5 ids) still
recognises everything it recorded.
"""

from __future__ import annotations

import json
import shutil
import threading
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from uuid import UUID, uuid4

import pytest

from referral_ledger import DuplicatePhone, Ledger, LoyaltyProgram
from referral_ledger.aggregates import claims
from referral_ledger.aggregates.base import Event, following, next_event, next_version
from referral_ledger.aggregates.claims import (
    ID_SCHEME_RECORD,
    Claim,
    Claimed,
    ClaimKind,
    Released,
    evolve_claim,
)
from referral_ledger.aggregates.customer import ExternalIdLinked
from referral_ledger.aggregates.loyalty import InvoiceRecorded, InvoiceReturned
from referral_ledger.aggregates.phones import PhoneClaimed, PhoneReleased
from referral_ledger.audit import read_log
from referral_ledger.values import UNKEYED_IDS, RecordIds, derived_id

NOW = datetime(2026, 1, 1, tzinfo=UTC)
FIXTURES = Path(__file__).parent / "fixtures"
VOUCHER = ClaimKind("voucher")


def _apply(state: Claim | None, events: list[Event]) -> Claim | None:
    for event in events:
        state = evolve_claim(state, event)
    return state


# --- the record, pure ----------------------------------------------------------------


def test_a_claim_names_its_owners_and_claiming_twice_records_nothing() -> None:
    first, second = uuid4(), uuid4()
    record_id = VOUCHER.record_id("SUMMER-10")
    state = _apply(None, claims.claim(VOUCHER, None, "SUMMER-10", first, NOW))
    assert state is not None
    assert (record_id, 1, "SUMMER-10", first) == (state.id, state.version, state.value, state.owner)
    assert [] == claims.claim(VOUCHER, state, "SUMMER-10", first, NOW)
    state = _apply(state, claims.claim(VOUCHER, state, "SUMMER-10", second, NOW))
    assert state is not None
    assert (first, second) == state.owners
    assert (second,) == state.others(first)


def test_release_frees_the_value_and_a_stranger_releases_nothing() -> None:
    owner = uuid4()
    state = _apply(None, claims.claim(VOUCHER, None, "V-1", owner, NOW))
    assert [] == claims.release(VOUCHER, state, uuid4(), NOW)
    events = claims.release(VOUCHER, state, owner, NOW)
    assert [Released] == [type(e) for e in events]
    # The release says which value was freed and from whom (the audit trail reads it).
    assert [("V-1", owner)] == [e.claimed for e in events if isinstance(e, Released)]
    freed = _apply(state, events)
    assert freed is not None
    assert (None, 2) == (freed.owner, freed.version)
    assert [Claimed] == [type(e) for e in claims.claim(VOUCHER, freed, "V-1", owner, NOW)]


def test_the_claim_events_0_1_stored_read_as_claims() -> None:
    """Phones, POS ids, invoices and redemptions are claim records, whatever their events."""
    customer, record = uuid4(), uuid4()
    origin = next_event(None, NOW, record_id=record)
    claimed = _apply(None, [PhoneClaimed(**origin, phone="+84912345678", customer_id=customer)])
    assert claimed is not None and customer == claimed.owner
    released = _apply(
        claimed,
        [PhoneReleased(**following(_first(claimed)), phone="+84912345678", customer_id=customer)],
    )
    assert released is not None and () == released.owners
    link = _apply(None, [ExternalIdLinked(**origin, external_id="KV-1", customer_id=customer)])
    assert link is not None and ("KV-1", customer) == (link.value, link.owner)
    recorded = InvoiceRecorded(
        **origin,
        customer_id=customer,
        invoice_id="HD-1",
        amount=Decimal(100),
        discounted_amount=Decimal(0),
        points_used=0,
        points=1,
        at=NOW,
    )
    returned = InvoiceReturned(**following(recorded), amount=Decimal(100), points=1, at=NOW)
    invoice = _apply(None, [recorded, returned])
    assert invoice is not None
    assert ("HD-1", customer, 2) == (invoice.value, invoice.owner, invoice.version)


def _first(state: Claim) -> Event:
    return PhoneClaimed(
        originator_id=state.id,
        originator_version=state.version,
        timestamp=NOW,
        phone=state.value,
        customer_id=uuid4(),
    )


def test_next_event_numbers_a_records_events() -> None:
    record = uuid4()
    first = next_event(None, NOW, record_id=record)
    assert (record, 1, NOW) == (
        first["originator_id"],
        first["originator_version"],
        first["timestamp"],
    )
    state = Claim(record, 4, "x")
    assert 5 == next_event(state, NOW)["originator_version"]
    with pytest.raises(TypeError):
        next_event(None, NOW)
    with pytest.raises(ValueError):
        next_event(state, NOW, record_id=uuid4())


def test_next_version_is_the_version_of_a_records_next_event() -> None:
    state = Claim(uuid4(), 4, "x")
    assert (1, 5) == (next_version(None), next_version(state))
    assert next_version(state) == next_event(state, NOW)["originator_version"]


def test_a_store_adopting_keyed_ids_records_the_scheme_once() -> None:
    [adopted] = claims.adopt_keyed_ids(None, NOW)
    scheme = claims.evolve_id_scheme(None, adopted)
    # The scheme's name is stored: a later release reads it to know how ids are derived.
    assert claims.IdScheme(ID_SCHEME_RECORD, 1, "hmac-sha256/v1") == scheme
    assert [] == claims.adopt_keyed_ids(scheme, NOW)


# --- ids -----------------------------------------------------------------------------


def test_keyed_ids_are_not_uuid5_and_depend_on_the_key() -> None:
    key, other = Ledger.create_cipher_key(), Ledger.create_cipher_key()
    keyed = RecordIds.for_cipher_key(key)
    assert derived_id("phone", "+84912345678") == UNKEYED_IDS("phone", "+84912345678")
    assert keyed("phone", "+84912345678") != derived_id("phone", "+84912345678")
    assert keyed("phone", "+84912345678") == RecordIds.for_cipher_key(key)("phone", "+84912345678")
    assert keyed("phone", "+84912345678") != RecordIds.for_cipher_key(other)(
        "phone", "+84912345678"
    )
    assert keyed("phone", "+84912345678") != keyed("invoice", "+84912345678")
    assert 8 == keyed("phone", "+84912345678").version
    assert key not in repr(keyed)


def _story(ledger: Ledger) -> UUID:
    ledger.configure_loyalty(LoyaltyProgram(money_per_point=Decimal(10_000), point_value=1000))
    an = ledger.register_customer("Nguyễn Văn An", ["0912 345 678"], external_id="KV-1")
    ledger.record_purchase(an, "HD-1", Decimal(1_000_000))
    ledger.redeem_points(an, 1, "RD-1")
    return an


def _stored_ids(ledger: Ledger) -> set[UUID]:
    return {e.event.originator_id for e in read_log(ledger) if e.event is not None}


_PUBLIC = {
    derived_id("phone", "+84912345678"),
    derived_id("customer-external-id", "KV-1"),
    derived_id("invoice", "HD-1"),
    derived_id("redemption", "RD-1"),
}


def test_with_a_cipher_key_no_claim_id_is_computable_from_its_value(store_url: str) -> None:
    key = Ledger.create_cipher_key()
    with Ledger.open(store_url, cipher_key=key) as ledger:
        an = _story(ledger)
        stored = _stored_ids(ledger)
        assert set() == stored & _PUBLIC
        keyed = RecordIds.for_cipher_key(key)
        assert {
            keyed("phone", "+84912345678"),
            keyed("customer-external-id", "KV-1"),
            keyed("invoice", "HD-1"),
            keyed("redemption", "RD-1"),
            ID_SCHEME_RECORD,
        } <= stored
        # ... and the ledger still finds them, and recognises them.
        assert an == ledger.find_customer_by_phone("0912345678")
        assert an == ledger.find_customer_by_external_id("KV-1")
        before = ledger.event_count()
        assert 100 == ledger.record_purchase(an, "HD-1", Decimal(1_000_000))
        assert Decimal(1000) == ledger.redeem_points(an, 1, "RD-1")
        assert before == ledger.event_count()
    if store_url == "memory://":
        return  # each opening of memory:// is a new store
    with Ledger.open(store_url, cipher_key=key) as reopened:
        assert an == reopened.find_customer_by_phone("0912345678")
        with pytest.raises(DuplicatePhone):
            reopened.register_customer("Someone", ["0912 345 678"])


def test_without_a_key_ids_are_uuid5_as_in_0_1(store_url: str) -> None:
    with Ledger.open(store_url) as ledger:
        _story(ledger)
        stored = _stored_ids(ledger)
        assert _PUBLIC <= stored
        assert ID_SCHEME_RECORD not in stored


def _copy_fixture(tmp_path: Path) -> tuple[str, dict[str, object]]:
    path = tmp_path / "ledger.db"
    shutil.copy(FIXTURES / "encrypted-0.1.sqlite", path)
    answers = json.loads((FIXTURES / "encrypted-0.1.json").read_text())
    return f"sqlite:///{path}", answers


def test_an_encrypted_store_written_by_0_1_recognises_what_it_recorded(tmp_path: Path) -> None:
    url, answers = _copy_fixture(tmp_path)
    key = str(answers["cipher_key"])
    an = UUID(str(answers["customer"]))
    with Ledger.open(url, cipher_key=key) as ledger:
        assert an == ledger.find_customer_by_phone("0912 345 678")
        assert an == ledger.find_customer_by_phone("0987 654 321")
        assert an == ledger.find_customer_by_external_id("KV-1")
        assert answers["balance"] == ledger.balance(an)
        before = ledger.event_count()
        assert answers["events"] == before
        assert answers["points"] == ledger.record_purchase(an, "HD-1", Decimal(1_000_000))
        assert Decimal(str(answers["value"])) == ledger.redeem_points(an, 1, "RD-1")
        assert an == ledger.register_customer("Nguyễn Văn An", ["0999 999 999"], external_id="KV-1")
        with pytest.raises(DuplicatePhone):
            ledger.register_customer("Someone", ["0912 345 678"])
        assert before == ledger.event_count()
        # New claims go on with the store's uuid5 ids, so they are found the same way.
        bình = ledger.register_customer("Trần Thị Bình", ["0903 111 222"], external_id="KV-2")
        stored = _stored_ids(ledger)
        assert derived_id("phone", "+84903111222") in stored
        assert derived_id("customer-external-id", "KV-2") in stored
        assert ID_SCHEME_RECORD not in stored
        assert bình == ledger.find_customer_by_phone("0903 111 222")
        # ContractSigned stored by 0.1 had no business time: it is its recording time.
        contract = next(
            e.event
            for e in read_log(ledger)
            if e.event is not None and type(e.event).__name__ == "ContractSigned"
        )
        assert contract.at == contract.timestamp  # type: ignore[attr-defined]


def test_processes_opening_a_new_encrypted_store_at_once_agree_on_keyed_ids(
    store_url: str,
) -> None:
    """Every opener of an empty store takes keyed ids; none falls back to uuid5."""
    if store_url == "memory://":
        pytest.skip("each opening of memory:// is a new store")
    # The tables first (an opening without a key records nothing): creating
    # them is not what this test races.
    Ledger.open(store_url).close()
    key = Ledger.create_cipher_key()
    start = threading.Barrier(4)
    customers: dict[int, UUID] = {}
    errors: list[BaseException] = []

    def open_and_register(n: int) -> None:
        try:
            start.wait()
            with Ledger.open(store_url, cipher_key=key) as ledger:
                customers[n] = ledger.register_customer(f"Khách {n}", [f"090{n}123456"])
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=open_and_register, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [] == errors
    with Ledger.open(store_url, cipher_key=key) as ledger:
        stored = _stored_ids(ledger)
        assert ID_SCHEME_RECORD in stored
        for n, customer in customers.items():
            assert customer == ledger.find_customer_by_phone(f"090{n}123456")
            assert derived_id("phone", ledger.get_customer(customer).phone) not in stored


def test_with_a_cipher_key_a_leads_phone_shares_the_customers_claim_record(
    store_url: str,
) -> None:
    """Leads' phones are keyed too, and still collide with customers' phones."""
    with Ledger.open(store_url, cipher_key=Ledger.create_cipher_key()) as ledger:
        an = ledger.register_customer("An", ["0912 345 678"])
        ledger.sign_contract(an, "C-1", "pro", date(2025, 1, 1), date(2030, 1, 1))
        ledger.register_customer("Bình", ["0987 654 321"])
        with pytest.raises(DuplicatePhone):
            ledger.submit_referral(an, "Bình", "0987 654 321", "fashion")
        referral = ledger.submit_referral(an, "Chi", "0903 111 222", "fashion")
        with pytest.raises(DuplicatePhone):
            ledger.submit_referral(an, "Chi", "0903 111 222", "fashion")
        chi = ledger.register_customer("Chi", ["0903 111 222"])
        assert chi == ledger.get_referral(referral).referred_customer_id
        assert derived_id("phone", "+84903111222") not in _stored_ids(ledger)
