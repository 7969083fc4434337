"""Live views equal views folded from scratch, for random command sequences.

A Hypothesis state machine drives referrals through their lifecycle (submit,
assign, start, reward, mark ineligible), lets leads register as customers and
sign contracts (which rewards their referral by itself), and records purchases
and returns. The views catch up at random moments and in random batch sizes
(queries catch up by themselves; a rule also catches up in small batches).
After every step, the view tables kept live in the store must equal a fold,
done from nothing in plain Python, of the log up to the views' position (they
lag between catch-ups, and must be exact wherever they stopped); at the end, the store's own
`rebuild_projections()` must give the same tables again. It runs on memory,
SQLite and PostgreSQL, each example on a new, empty store.
"""

from __future__ import annotations

import contextlib
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, ClassVar
from uuid import UUID

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, rule

from referral_ledger import Ledger, LedgerError, LoyaltyProgram, ReferralProgram
from referral_ledger.projections import catchup, leaderboard, storage
from referral_ledger.projections.directory import CustomerRow
from referral_ledger.projections.leads import LeadRow
from referral_ledger.projections.rows import customer_params, lead_params
from stores import fresh_store
from support import Clock, views_at_their_position

START = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
NAMES = ["Nguyễn Văn An", "Đặng Thị Ánh", "Trần Bình", "Zoe"]
#: Few phones, so duplicates (refused) and leads that become customers are common.
PHONES = [f"09880000{n:02d}" for n in range(6)]
REPS = ["rep-01", "rep-02", "rep-03"]
PLANS = ["pro", "basic", None]


class FoldedRecords:
    """The fold's records in plain dicts: the views rebuilt without any SQL."""

    def __init__(self) -> None:
        self.leads: dict[UUID, LeadRow] = {}
        self.revenues: dict[UUID, Decimal] = {}
        self.standings: dict[tuple[str, str], leaderboard.Standing] = {}
        self.customers: dict[UUID, CustomerRow] = {}

    def put_standing(self, row: leaderboard.Standing) -> None:
        self.standings[row.campaign_id, row.customer] = row

    def customer(self, customer_id: UUID) -> CustomerRow | None:
        return self.customers.get(customer_id)

    def put_customer(self, row: CustomerRow) -> None:
        self.customers[row.customer_id] = row

    def lead(self, referral_id: UUID) -> LeadRow | None:
        return self.leads.get(referral_id)

    def put_lead(self, row: LeadRow) -> None:
        self.leads[row.referral_id] = row

    def revenue(self, customer_id: UUID) -> Decimal:
        return self.revenues.get(customer_id, Decimal(0))

    def put_revenue(self, customer_id: UUID, revenue: Decimal) -> None:
        self.revenues[customer_id] = revenue

    def dump(self) -> dict[str, list[tuple[Any, ...]]]:
        """The same shape as `ViewStore.dump()`."""
        return {
            "leads": sorted(tuple(str(v) for v in lead_params(row)) for row in self.leads.values()),
            "revenue": sorted((cid.hex, str(amount)) for cid, amount in self.revenues.items()),
            "leaderboard": sorted(tuple(str(v) for v in row) for row in self.standings.values()),
            "customers": sorted(
                tuple(str(v) for v in customer_params(row)) for row in self.customers.values()
            ),
        }


def folded_from_scratch(ledger: Ledger, upto: int) -> dict[str, list[tuple[Any, ...]]]:
    """The views as a fold of the log's events up to position `upto` would make them."""
    records = FoldedRecords()
    if upto:
        for notification in ledger._store.notifications(0, upto, storage.TOPICS, stop=upto):
            catchup.apply(ledger._store.event_of(notification), records)
    return records.dump()


class ViewsMachine(RuleBasedStateMachine):
    url_kind: ClassVar[str] = "memory"

    referrals = Bundle("referrals")
    customers = Bundle("customers")

    def __init__(self) -> None:
        super().__init__()
        url, self._cleanup = fresh_store(self.url_kind)
        self.clock = Clock(START)
        self.ledger = Ledger.open(url, clock=self.clock)
        self.ledger.configure_loyalty(
            LoyaltyProgram(money_per_point=Decimal(10000), point_value=Decimal(1000))
        )
        self.ledger.configure_referrals(
            ReferralProgram(reward_by_plan={"pro": Decimal(500000), "basic": Decimal(200000)})
        )
        self.invoices = 0
        self.referrers = []
        for n in range(2):
            cid = self.ledger.register_customer(f"Referrer {n}", [f"09110000{n:02d}"])
            self.ledger.sign_contract(
                cid, f"R-{n}", "pro", starts_on=date(2025, 1, 1), ends_on=date(2030, 1, 1)
            )
            self.referrers.append(cid)

    def teardown(self) -> None:
        try:
            self.ledger.catch_up_projections()
            live = self.ledger._views.dump()
            self.ledger.rebuild_projections()
            assert live == self.ledger._views.dump()
        finally:
            self.ledger.close()
            self._cleanup()

    def _tick(self) -> None:
        self.clock.advance(minutes=7)

    @staticmethod
    def _refusable(command: Any) -> None:
        # Many random moves are against the rules (a duplicate phone, a closed
        # referral); a refused command records nothing, and the views must
        # still agree with the log.
        with contextlib.suppress(LedgerError):
            command()

    # --- referrals -------------------------------------------------------------

    @rule(
        target=referrals,
        referrer=st.integers(0, 1),
        name=st.sampled_from(NAMES),
        phone=st.sampled_from(PHONES),
        program=st.sampled_from(["pos", "plus"]),
    )
    def submit(self, referrer: int, name: str, phone: str, program: str) -> UUID | None:
        self._tick()
        try:
            return self.ledger.submit_referral(
                self.referrers[referrer], name, phone, industry="retail", program=program
            )
        except LedgerError:
            return None

    @rule(referral=referrals, rep=st.sampled_from(REPS))
    def assign(self, referral: UUID | None, rep: str) -> None:
        self._tick()
        if referral is not None:
            self._refusable(lambda: self.ledger.assign_rep(referral, rep))

    @rule(referral=referrals, rep=st.none() | st.sampled_from(REPS))
    def start(self, referral: UUID | None, rep: str | None) -> None:
        self._tick()
        if referral is not None:
            self._refusable(lambda: self.ledger.start_referral(referral, rep=rep))

    @rule(referral=referrals, plan=st.sampled_from(PLANS))
    def reward(self, referral: UUID | None, plan: str | None) -> None:
        self._tick()
        if referral is not None:
            self._refusable(lambda: self.ledger.reward_referral(referral, plan=plan))

    @rule(referral=referrals)
    def mark_ineligible(self, referral: UUID | None) -> None:
        self._tick()
        if referral is not None:
            self._refusable(lambda: self.ledger.mark_ineligible(referral, reason="no"))

    # --- leads becoming customers, and their purchases ---------------------------

    @rule(target=customers, phone=st.sampled_from(PHONES))
    def register_lead(self, phone: str) -> UUID:
        self._tick()
        return self.ledger.register_customer("Lead", [phone], on_duplicate_phone="skip")

    @rule(customer=customers, plan=st.sampled_from(["pro", "basic"]))
    def sign_contract(self, customer: UUID, plan: str) -> None:
        self._tick()
        self.invoices += 1
        self.ledger.sign_contract(
            customer, f"C-{self.invoices}", plan, date(2026, 1, 1), date(2027, 1, 1)
        )

    @rule(
        customer=customers,
        amount=st.integers(1, 50).map(lambda n: Decimal(n * 10000)),
        returned=st.none() | st.integers(0, 50).map(lambda n: Decimal(n * 5000)),
    )
    def purchase(self, customer: UUID, amount: Decimal, returned: Decimal | None) -> None:
        self._tick()
        self.invoices += 1
        invoice = f"INV-{self.invoices}"
        self.ledger.record_purchase(customer, invoice_id=invoice, amount=amount)
        if returned is not None:
            self._refusable(
                lambda: self.ledger.return_purchase(
                    customer, invoice_id=invoice, amount=min(returned, amount)
                )
            )

    @rule(customer=customers)
    def return_everything_bought_so_far(self, customer: UUID) -> None:
        self._tick()
        for row in self.ledger.statement(customer):
            if row.kind == "earn":
                with contextlib.suppress(LedgerError):
                    self.ledger.return_purchase(customer, invoice_id=row.reference)

    # --- catching up -----------------------------------------------------------

    @rule(batch_size=st.integers(1, 4))
    def catch_up_in_small_batches(self, batch_size: int) -> None:
        self.ledger._views.catch_up(batch_size=batch_size)

    @rule()
    def query(self) -> None:
        self.ledger.lead_table(limit=5)

    @invariant()
    def live_views_equal_the_log_folded_up_to_their_position(self) -> None:
        # No catching up here: the views lag behind the log between queries,
        # and must be exact at whatever position they stopped.
        # The background catch-up may fold meanwhile: rows and position read as one.
        position, live = views_at_their_position(self.ledger)
        assert position <= self.ledger.event_count()
        assert folded_from_scratch(self.ledger, position) == live


MACHINE_SETTINGS = settings(max_examples=10, stateful_step_count=25, deadline=None)


class OnMemory(ViewsMachine):
    url_kind = "memory"


class OnSQLite(ViewsMachine):
    url_kind = "sqlite"


class OnPostgres(ViewsMachine):
    url_kind = "postgres"


TestViewsOnMemory = OnMemory.TestCase
TestViewsOnMemory.settings = settings(MACHINE_SETTINGS, max_examples=30)
TestViewsOnSQLite = OnSQLite.TestCase
TestViewsOnSQLite.settings = MACHINE_SETTINGS
TestViewsOnPostgres = pytest.mark.postgres(OnPostgres.TestCase)
TestViewsOnPostgres.settings = MACHINE_SETTINGS
