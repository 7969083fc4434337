"""The executable specification of vouchers.

A Hypothesis state machine creates vouchers (fixed or percentage, capped,
with minimum orders, tags and limits in all and per customer), sells with
them, returns sales in full or in part and switches vouchers on and off,
against a plain model: each voucher's definition and its uses by invoice.
After every step the ledger must agree with the model on each voucher's
uses, the limits must hold, every discount must be the model's (integer
arithmetic, floored), and a refused sale must have recorded nothing. It runs
on memory, SQLite and PostgreSQL, each example on a new, empty store.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, ClassVar
from uuid import UUID

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from referral_ledger import InvalidInput, Ledger, LoyaltyProgram, Voucher, VoucherRefused
from stores import fresh_store
from till import give_back, sell

CODES = ("TET", "VIP10", "SALE")
TAGS: dict[str, frozenset[str]] = {
    "An": frozenset({"VIP"}),
    "Bình": frozenset(),
    "Cường": frozenset({"VIP", "Sỉ"}),
}

definitions = st.fixed_dictionaries(
    {
        "fixed": st.sampled_from([None, 10_000, 50_000]),
        "percent": st.sampled_from([5, 12, 33, 100]),
        "max_discount": st.sampled_from([None, 20_000]),
        "min_order": st.sampled_from([0, 50_000]),
        "customer_tags": st.sampled_from([None, frozenset({"VIP"})]),
        "usage_limit": st.sampled_from([None, 1, 2, 3]),
        "per_customer_limit": st.sampled_from([None, 1, 2]),
    }
)
amounts = st.integers(min_value=0, max_value=400_000)


class VoucherMachine(RuleBasedStateMachine):
    """Vouchers and their uses against a dict model."""

    kind: ClassVar[str] = "memory"

    def __init__(self) -> None:
        super().__init__()
        url, self._cleanup = fresh_store(self.kind)
        self.ledger = Ledger.open(url)
        self.ledger.configure_loyalty(
            LoyaltyProgram(money_per_point=Decimal(1000), point_value=Decimal(100))
        )
        self.customers: dict[str, UUID] = {
            name: self.ledger.register_customer(name, [f"0912 000 {n:03d}"], tags=list(tags))
            for n, (name, tags) in enumerate(TAGS.items())
        }
        # The model: each voucher's definition and whether it is active, and
        # its uses by invoice: (customer, amount); each sale's voucher.
        self.vouchers: dict[str, dict[str, Any]] = {}
        self.active: dict[str, bool] = {}
        self.uses: dict[str, dict[str, tuple[str, int]]] = {}
        self.sales: dict[str, tuple[str, str, int]] = {}
        self.returned: set[str] = set()
        self.back: dict[str, int] = {}

    def teardown(self) -> None:
        self.ledger.close()
        self._cleanup()

    # --- the model's own arithmetic -------------------------------------------

    def discount(self, code: str, amount: int) -> int:
        d = self.vouchers[code]
        value: int = d["fixed"] if d["fixed"] is not None else amount * d["percent"] // 100
        if d["max_discount"] is not None:
            value = min(value, d["max_discount"])
        return min(value, amount)

    def reason(self, code: str, name: str, amount: int) -> str | None:
        if code not in self.vouchers:
            return "unknown"
        d, uses = self.vouchers[code], self.uses[code].values()
        if not self.active[code]:
            return "inactive"
        if amount < d["min_order"]:
            return "below minimum"
        if d["customer_tags"] is not None and not d["customer_tags"] & TAGS[name]:
            return "tags"
        if d["usage_limit"] is not None and len(uses) >= d["usage_limit"]:
            return "used up"
        mine = sum(1 for who, _ in uses if who == name)
        if d["per_customer_limit"] is not None and mine >= d["per_customer_limit"]:
            return "used up by this customer"
        return None

    @staticmethod
    def voucher(code: str, d: dict[str, Any]) -> Voucher:
        return Voucher(
            code=code.lower(),
            discount=d["fixed"],
            percent=None if d["fixed"] is not None else d["percent"],
            max_discount=d["max_discount"],
            min_order=d["min_order"],
            customer_tags=d["customer_tags"],
            usage_limit=d["usage_limit"],
            per_customer_limit=d["per_customer_limit"],
        )

    # --- rules ----------------------------------------------------------------

    @rule(code=st.sampled_from(CODES), definition=definitions)
    def create(self, code: str, definition: dict[str, Any]) -> None:
        if definition["fixed"] is not None:
            # A fixed discount has no percentage: definitions differing only there are one.
            definition = {**definition, "percent": None}
        before = self.ledger.event_count()
        known = self.vouchers.get(code)
        if known is not None and known != definition:
            with pytest.raises(InvalidInput, match=code):
                self.ledger.create_voucher(self.voucher(code, definition))
            assert self.ledger.event_count() == before
            return
        shown = self.ledger.create_voucher(self.voucher(code, definition))
        if known is None:
            self.vouchers[code], self.active[code], self.uses[code] = definition, True, {}
        else:
            assert self.ledger.event_count() == before
        assert shown.code == code and shown.used == len(self.uses[code])

    @rule(code=st.sampled_from(CODES), name=st.sampled_from(sorted(TAGS)), amount=amounts)
    def sell(self, code: str, name: str, amount: int) -> None:
        invoice = f"HD-{len(self.sales) + 1}"
        expected = self.reason(code, name, amount)
        before = self.ledger.event_count()
        if expected is not None:
            with pytest.raises(VoucherRefused) as refused:
                sell(self.ledger, self.customers[name], invoice, Decimal(amount), voucher=code)
            assert refused.value.reason == expected
            assert self.ledger.event_count() == before
            return
        checked = self.ledger.check_voucher(code, self.customers[name], amount)
        got = sell(self.ledger, self.customers[name], invoice, Decimal(amount), voucher=code)[0]
        assert got == checked == self.discount(code, amount)
        self.uses[code][invoice] = (name, amount)
        self.sales[invoice] = (code, name, amount)

    @precondition(lambda self: self.sales)
    @rule(data=st.data(), full=st.booleans())
    def give_back(self, data: st.DataObject, full: bool) -> None:
        invoice = data.draw(st.sampled_from(sorted(self.sales)))
        code, name, amount = self.sales[invoice]
        if invoice in self.returned:
            return
        returned = amount if full else amount // 2
        give_back(
            self.ledger,
            self.customers[name],
            invoice,
            Decimal(returned),
            Decimal(amount),
        )
        # Returns add up: the one that brings the invoice back whole releases the use.
        self.back[invoice] = min(amount, self.back.get(invoice, 0) + returned)
        if self.back[invoice] >= amount:
            self.uses[code].pop(invoice, None)
            self.returned.add(invoice)

    @precondition(lambda self: self.vouchers)
    @rule(data=st.data(), active=st.booleans())
    def switch(self, data: st.DataObject, active: bool) -> None:
        code = data.draw(st.sampled_from(sorted(self.vouchers)))
        shown = self.ledger.update_voucher(code, active=active)
        self.active[code] = active
        assert shown.active == active

    # --- invariants -----------------------------------------------------------

    @invariant()
    def uses_and_limits_agree_with_the_model(self) -> None:
        for code, definition in self.vouchers.items():
            shown = self.ledger.get_voucher(code)
            uses = self.uses[code]
            assert shown.used == len(uses)
            if definition["usage_limit"] is not None:
                assert shown.used <= definition["usage_limit"]
            limit = definition["per_customer_limit"]
            for name in TAGS:
                mine = sum(1 for who, _ in uses.values() if who == name)
                assert limit is None or mine <= limit

    @invariant()
    def the_audience_is_the_models(self) -> None:
        for code in self.vouchers:
            expected = [
                self.customers[name]
                for name in TAGS
                if self.reason(code, name, self.vouchers[code]["min_order"]) is None
            ]
            assert self.ledger.voucher_audience(code) == expected


STEPS = settings(stateful_step_count=20)


class OnMemory(VoucherMachine):
    kind = "memory"


class OnSQLite(VoucherMachine):
    kind = "sqlite"


class OnPostgres(VoucherMachine):
    kind = "postgres"


TestVouchersOnMemory = OnMemory.TestCase
TestVouchersOnMemory.settings = STEPS
TestVouchersOnSQLite = OnSQLite.TestCase
TestVouchersOnSQLite.settings = STEPS
TestVouchersOnPostgres = pytest.mark.postgres(OnPostgres.TestCase)
TestVouchersOnPostgres.settings = STEPS
