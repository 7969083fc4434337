"""The executable specification of customers and their phones.

A Hypothesis state machine registers customers under every duplicate-phone
policy, re-registers and POS-syncs them by external id, edits their phones and
signs contracts, against a plain-dict model. After every step the ledger must
agree with the model about who owns which phone (`find_customer_by_phone`
returns the first registered owner), every customer's phones must be indexed
to it, and a refused command must have recorded nothing. It runs on memory,
SQLite and PostgreSQL, each example on a new, empty store.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any, ClassVar
from uuid import UUID

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    invariant,
    multiple,
    precondition,
    rule,
)

from referral_ledger import DuplicatePhone, InvalidInput, Ledger
from stores import fresh_store

#: A few numbers, each in several spellings, so clashes are frequent and every
#: spelling must land on the same index record.
NUMBERS: dict[str, tuple[str, ...]] = {
    "+84912345678": ("0912 345 678", "+84 912 345 678", "84912345678", "(091) 234-5678"),
    "+84987654321": ("0987654321", "+84987654321"),
    "+84901000001": ("090 100 0001", "84901000001"),
    "+842438251234": ("024 3825 1234", "+84 24 3825 1234"),
    "+16502530000": ("+1 650 253 0000", "+16502530000"),
}
SPELLINGS = [(e164, spelling) for e164, spellings in NUMBERS.items() for spelling in spellings]
POLICIES = ("reject", "skip", "update", "create")
EXTERNAL_IDS = ("KV-1", "KV-2", "KV-3")
DAY0 = date(2026, 1, 1)

spelled_phones = st.lists(st.sampled_from(SPELLINGS), min_size=1, max_size=3)
names = st.sampled_from(["Nguyễn Văn An", "Trần Thị Bình", "Lê Văn Cường", "Phạm Thị Dung"])
policies = st.sampled_from(POLICIES)


def _unique(phones: list[tuple[str, str]]) -> tuple[str, ...]:
    """The E.164 numbers of `phones`, in order, each once (as the ledger keeps them)."""
    return tuple(dict.fromkeys(e164 for e164, _ in phones))


class CustomerMachine(RuleBasedStateMachine):
    """Customers and the phone index against a dict model."""

    kind: ClassVar[str] = "memory"

    customers = Bundle("customers")

    def __init__(self) -> None:
        super().__init__()
        url, self._cleanup = fresh_store(self.kind)
        self.ledger = Ledger.open(url)
        # The model: each customer's name and phones, each phone's owners in
        # registration order, the external ids, and each customer's contracts.
        self.names: dict[UUID, str] = {}
        self.phones: dict[UUID, tuple[str, ...]] = {}
        self.owners: dict[str, list[UUID]] = {e164: [] for e164 in NUMBERS}
        self.links: dict[str, UUID] = {}
        self.contracts: dict[UUID, dict[str, tuple[date, date]]] = {}

    def teardown(self) -> None:
        self.ledger.close()
        self._cleanup()

    # --- the model's version of registering --------------------------------

    def _first_clash(self, numbers: tuple[str, ...]) -> tuple[str, UUID] | None:
        for e164 in numbers:
            if self.owners[e164]:
                return e164, self.owners[e164][0]
        return None

    def _create(self, customer: UUID, name: str, numbers: tuple[str, ...]) -> None:
        assert customer not in self.names, "a new customer got an existing id"
        self.names[customer] = name
        self.phones[customer] = numbers
        self.contracts[customer] = {}
        for e164 in numbers:
            self.owners[e164].append(customer)

    def _set_phones(self, customer: UUID, numbers: tuple[str, ...]) -> None:
        for e164 in self.phones[customer]:
            if e164 not in numbers:
                self.owners[e164].remove(customer)
        for e164 in numbers:
            if e164 not in self.phones[customer]:
                self.owners[e164].append(customer)
        self.phones[customer] = numbers

    def _expect_refusal(self, error: type[Exception], command: Any) -> None:
        before = self.ledger.event_count()
        with pytest.raises(error):
            command()
        assert before == self.ledger.event_count()

    def _register_in_model(
        self,
        name: str,
        numbers: tuple[str, ...],
        policy: str,
        external_id: str | None,
        returned: UUID,
    ) -> None:
        """Check `returned` against the model and apply the registration to it."""
        if external_id is not None and external_id in self.links:
            assert self.links[external_id] == returned
            return
        clash = self._first_clash(numbers)
        if clash is not None and policy == "skip":
            assert clash[1] == returned
            return
        if clash is not None and policy == "update":
            owner = clash[1]
            assert owner == returned
            self.names[owner] = name
            self._set_phones(owner, tuple(dict.fromkeys((*self.phones[owner], *numbers))))
        else:
            self._create(returned, name, numbers)
        if external_id is not None:
            self.links[external_id] = returned

    # --- rules ---------------------------------------------------------------

    @rule(
        target=customers,
        name=names,
        spelled=spelled_phones,
        policy=policies,
        external_id=st.none() | st.sampled_from(EXTERNAL_IDS),
    )
    def register(
        self,
        name: str,
        spelled: list[tuple[str, str]],
        policy: str,
        external_id: str | None,
    ) -> Any:
        numbers = _unique(spelled)
        known = external_id is not None and external_id in self.links
        clash = self._first_clash(numbers)
        if not known and clash is not None and policy == "reject":
            self._expect_refusal(
                DuplicatePhone,
                lambda: self.ledger.register_customer(
                    name, [s for _, s in spelled], external_id=external_id
                ),
            )
            return multiple()
        before = self.ledger.event_count()
        returned = self.ledger.register_customer(
            name,
            [s for _, s in spelled],
            external_id=external_id,
            on_duplicate_phone=policy,  # type: ignore[arg-type]
        )
        if known or (clash is not None and policy == "skip"):
            assert before == self.ledger.event_count()
        created = returned not in self.names
        self._register_in_model(name, numbers, policy, external_id, returned)
        return returned if created else multiple()

    @rule(customer=customers, spelled=spelled_phones)
    def change_phones(self, customer: UUID, spelled: list[tuple[str, str]]) -> None:
        numbers = _unique(spelled)
        added = [e164 for e164 in numbers if e164 not in self.phones[customer]]
        taken = any(o != customer for e164 in added for o in self.owners[e164])
        if taken:
            self._expect_refusal(
                DuplicatePhone,
                lambda: self.ledger.update_customer(customer, phones=[s for _, s in spelled]),
            )
            return
        self.ledger.update_customer(customer, phones=[s for _, s in spelled])
        self._set_phones(customer, numbers)

    @rule(
        customer=customers,
        contract_id=st.sampled_from(["C-1", "C-2", "C-3"]),
        start=st.integers(0, 30),
        length=st.integers(-2, 30),
        probe=st.integers(-5, 65),
    )
    def sign_contract(
        self, customer: UUID, contract_id: str, start: int, length: int, probe: int
    ) -> None:
        starts_on = DAY0 + timedelta(days=start)
        ends_on = starts_on + timedelta(days=length)

        def sign() -> None:
            self.ledger.sign_contract(customer, contract_id, "pro", starts_on, ends_on)

        if length < 0 or contract_id in self.contracts[customer]:
            self._expect_refusal(InvalidInput, sign)
        else:
            sign()
            self.contracts[customer][contract_id] = (starts_on, ends_on)
        day = DAY0 + timedelta(days=probe)
        expected = any(s <= day <= e for s, e in self.contracts[customer].values())
        assert expected == self.ledger.contract_in_force(customer, day)

    @rule(
        external_id=st.sampled_from(EXTERNAL_IDS),
        name=names,
        spelled=spelled_phones,
        policy=policies,
    )
    def sync_from_pos(
        self, external_id: str, name: str, spelled: list[tuple[str, str]], policy: str
    ) -> None:
        numbers = _unique(spelled)
        payload = [s for _, s in spelled]
        if external_id not in self.links:
            clash = self._first_clash(numbers)
            if clash is not None and policy == "reject":
                self._expect_refusal(
                    DuplicatePhone,
                    lambda: self.ledger.sync_customer_from_pos(external_id, name, payload),
                )
                return
            returned = self.ledger.sync_customer_from_pos(
                external_id,
                name,
                payload,
                on_duplicate_phone=policy,  # type: ignore[arg-type]
            )
            self._register_in_model(name, numbers, policy, external_id, returned)
            return
        customer = self.links[external_id]
        added = [e164 for e164 in numbers if e164 not in self.phones[customer]]
        taken = any(o != customer for e164 in added for o in self.owners[e164])
        if taken and policy == "reject":
            self._expect_refusal(
                DuplicatePhone,
                lambda: self.ledger.sync_customer_from_pos(external_id, name, payload),
            )
            return
        before = self.ledger.event_count()
        returned = self.ledger.sync_customer_from_pos(
            external_id,
            name,
            payload,
            on_duplicate_phone=policy,  # type: ignore[arg-type]
        )
        assert customer == returned
        if taken and policy == "skip":
            assert before == self.ledger.event_count()
            return
        unchanged = (name, numbers) == (self.names[customer], self.phones[customer])
        assert unchanged == (before == self.ledger.event_count()), "one change per new payload"
        self.names[customer] = name
        self._set_phones(customer, numbers)

    @precondition(lambda self: bool(self.names))
    @rule(customer=consumes(customers))
    def forget_handle(self, customer: UUID) -> None:
        """Drop a handle from the bundle (the customer stays): keeps draws varied."""

    # --- invariants ---------------------------------------------------------

    @invariant()
    def phone_owners_agree_with_the_model(self) -> None:
        for e164, owners in self.owners.items():
            assert owners == self.ledger.find_customers_by_phone(e164)
            spelling = NUMBERS[e164][-1]
            assert (owners[0] if owners else None) == self.ledger.find_customer_by_phone(spelling)

    @invariant()
    def every_customers_phones_are_indexed_to_it(self) -> None:
        for customer, numbers in self.phones.items():
            shown = self.ledger.get_customer(customer)
            assert (self.names[customer], numbers) == (shown.name, shown.phones)
            for e164 in numbers:
                assert customer in self.ledger.find_customers_by_phone(e164)

    @invariant()
    def external_ids_stand_for_their_customers(self) -> None:
        for external_id in EXTERNAL_IDS:
            expected = self.links.get(external_id)
            assert expected == self.ledger.find_customer_by_external_id(external_id)


STEPS = settings(stateful_step_count=15)


class OnMemory(CustomerMachine):
    kind = "memory"


class OnSQLite(CustomerMachine):
    kind = "sqlite"


class OnPostgres(CustomerMachine):
    kind = "postgres"


TestCustomersOnMemory = OnMemory.TestCase
TestCustomersOnMemory.settings = STEPS
TestCustomersOnSQLite = OnSQLite.TestCase
TestCustomersOnSQLite.settings = STEPS
TestCustomersOnPostgres = pytest.mark.postgres(OnPostgres.TestCase)
TestCustomersOnPostgres.settings = STEPS
