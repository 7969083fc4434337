"""The executable specification of commissions.

A Hypothesis state machine has new customers make their first purchase with
a referrer's code and buy again (at the till, or by `import_purchases`, re-run
at times), returns purchases in part or in full, lets
time pass (`process_due`) and pays the referrer out, against a plain model
of every commission line (earned, returned, paid). After every step each
line the ledger shows must be the model's, and money is conserved:
Σ paid out == Σ "paid" lines, and Σ paid + Σ still owed (pending, due,
negative lines) == Σ commissions earned net of returns. It runs on memory,
SQLite and PostgreSQL, each example on a new, empty store.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import ClassVar
from uuid import UUID

import attrs
import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from referral_ledger import Ledger, LoyaltyProgram, ReferralCodeProgram
from stores import fresh_store
from support import Clock
from till import give_back, sell

START = datetime(2026, 5, 1, 3, 0, tzinfo=UTC)
PERCENT, CAP, DISCOUNT, MATURITY = 3, 40_000, 20_000, 7
BUYERS = ("Mới 1", "Mới 2")


@attrs.define
class Line:
    buyer: str
    amount: int
    earned: int
    due_at: datetime
    returned: int = 0
    status: str = "pending"
    paid: int = 0

    def voided(self) -> int:
        if self.returned >= self.amount:
            return self.earned
        return self.earned * self.returned // self.amount

    def shown(self) -> int:
        return self.paid if self.status == "paid" else self.earned - self.voided()


class CommissionMachine(RuleBasedStateMachine):
    kind: ClassVar[str] = "memory"

    def __init__(self) -> None:
        super().__init__()
        url, self._cleanup = fresh_store(self.kind)
        self.clock = Clock(START)
        self.ledger = Ledger.open(url, clock=self.clock)
        self.ledger.configure_loyalty(
            LoyaltyProgram(money_per_point=Decimal(1000), point_value=Decimal(100))
        )
        self.ledger.configure_referral_codes(
            ReferralCodeProgram(
                discount=DISCOUNT,
                commission_percent=PERCENT,
                commission_cap=CAP,
                commission_months=12,
                maturity_days=MATURITY,
            )
        )
        self.referrer = self.ledger.register_customer("Chủ", ["0912 000 000"])
        self.code = self.ledger.referral_code(self.referrer)
        self.buyers: dict[str, UUID] = {
            name: self.ledger.register_customer(name, [f"0912 000 {n + 1:03d}"])
            for n, name in enumerate(BUYERS)
        }
        self.lines: dict[str, Line] = {}
        #: Negative lines: (invoice, amount, status).
        self.negatives: list[list[object]] = []
        self.bought: set[str] = set()
        self.sales: dict[str, tuple[str, int]] = {}
        self.payouts = 0
        self.paid_out = 0

    def teardown(self) -> None:
        self.ledger.close()
        self._cleanup()

    def net_earned(self, buyer: str) -> int:
        return sum(x.earned - x.voided() for x in self.lines.values() if x.buyer == buyer)

    @rule(buyer=st.sampled_from(BUYERS), amount=st.integers(1_000, 2_000_000))
    def buy(self, buyer: str, amount: int) -> None:
        invoice = f"HD-{len(self.sales) + 1}"
        first = buyer not in self.bought
        code = self.code if first else None
        _, discount, commission = sell(
            self.ledger, self.buyers[buyer], invoice, Decimal(amount), referral_code=code
        )
        expected_discount = min(DISCOUNT, amount) if first else 0
        assert discount == expected_discount
        payable = amount - expected_discount
        room = max(0, CAP - self.net_earned(buyer))
        earned = min(payable * PERCENT // 100, room)
        assert commission == earned
        if earned > 0:
            due = self.clock.now + timedelta(days=MATURITY)
            self.lines[invoice] = Line(buyer, amount, earned, due)
        self.bought.add(buyer)
        self.sales[invoice] = (buyer, amount)

    @precondition(lambda self: self.bought)
    @rule(
        data=st.data(),
        amounts=st.lists(st.integers(1_000, 2_000_000), min_size=1, max_size=3),
        again=st.booleans(),
    )
    def import_purchases(self, data: st.DataObject, amounts: list[int], again: bool) -> None:
        """A POS import of a referred buyer's later purchases earns as the till does; the
        same rows again earn nothing more."""
        buyer = data.draw(st.sampled_from(sorted(self.bought)))
        rows: list[dict[str, object]] = []
        for amount in amounts:
            invoice = f"HD-{len(self.sales) + 1}"
            rows.append(
                {"customer_id": str(self.buyers[buyer]), "invoice_id": invoice, "amount": amount}
            )
            earned = min(amount * PERCENT // 100, max(0, CAP - self.net_earned(buyer)))
            if earned > 0:
                due = self.clock.now + timedelta(days=MATURITY)
                self.lines[invoice] = Line(buyer, amount, earned, due)
            self.sales[invoice] = (buyer, amount)
        assert self.ledger.import_purchases(rows).recorded == len(rows)
        if again:
            assert self.ledger.import_purchases(rows).duplicates == len(rows)

    @precondition(lambda self: self.sales)
    @rule(data=st.data(), part=st.sampled_from([1, 2, 3, 4]))
    def give_back(self, data: st.DataObject, part: int) -> None:
        invoice = data.draw(st.sampled_from(sorted(self.sales)))
        buyer, amount = self.sales[invoice]
        returned = amount * part // 4
        taken = give_back(
            self.ledger, self.buyers[buyer], invoice, Decimal(returned), Decimal(amount)
        )
        line = self.lines.get(invoice)
        if line is None or line.status == "void":
            assert taken == 0
            return
        before = line.voided()
        line.returned = min(amount, line.returned + returned)
        delta = line.voided() - before
        assert taken == delta
        if line.status == "paid":
            if delta > 0:
                self.negatives.append([invoice, -delta, "due"])
        elif line.returned >= amount:
            line.status = "void"

    @rule(days=st.integers(0, 10))
    def time_passes(self, days: int) -> None:
        now = self.clock.advance(days=days)
        self.ledger.process_due(now)
        for line in self.lines.values():
            if line.status == "pending" and line.due_at <= now:
                line.status = "due"

    @rule()
    def pay(self) -> None:
        self.payouts += 1
        now = self.clock.now
        for line in self.lines.values():
            if line.status == "pending" and line.due_at <= now:
                line.status = "due"
        due = [x for x in self.lines.values() if x.status == "due"]
        negatives = [n for n in self.negatives if n[2] == "due"]
        total = sum(x.shown() for x in due) + sum(int(str(n[1])) for n in negatives)
        paid = self.ledger.pay_commissions(self.referrer, f"PO-{self.payouts}")
        if not (due or negatives) or total <= 0:
            assert paid == 0
            return
        assert paid == total
        self.paid_out += total
        for x in due:
            x.paid, x.status = x.shown(), "paid"
        for n in negatives:
            n[2] = "paid"

    @invariant()
    def the_lines_are_the_models(self) -> None:
        rows = self.ledger.commissions(self.referrer)
        expected = Counter(
            [(i, Decimal(x.shown()), x.status) for i, x in self.lines.items()]
            + [(str(n[0]), Decimal(int(str(n[1]))), str(n[2])) for n in self.negatives]
        )
        assert Counter((r.invoice_id, r.commission, r.status) for r in rows) == expected

    @invariant()
    def money_is_conserved(self) -> None:
        rows = self.ledger.commissions(self.referrer)
        paid = sum((r.commission for r in rows if r.status == "paid"), Decimal(0))
        owed = sum((r.commission for r in rows if r.status in ("pending", "due")), Decimal(0))
        net = sum(x.earned - x.voided() for x in self.lines.values())
        assert paid == self.paid_out
        assert paid + owed == net


STEPS = settings(stateful_step_count=25)


class OnMemory(CommissionMachine):
    kind = "memory"


class OnSQLite(CommissionMachine):
    kind = "sqlite"


class OnPostgres(CommissionMachine):
    kind = "postgres"


TestCommissionsOnMemory = OnMemory.TestCase
TestCommissionsOnMemory.settings = STEPS
TestCommissionsOnSQLite = OnSQLite.TestCase
TestCommissionsOnSQLite.settings = STEPS
TestCommissionsOnPostgres = pytest.mark.postgres(OnPostgres.TestCase)
TestCommissionsOnPostgres.settings = STEPS
