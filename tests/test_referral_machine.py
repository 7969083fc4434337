"""The executable specification of the referral lifecycle.

A Hypothesis state machine submits referrals (by an eligible and an
ineligible referrer, with lead phones in several spellings so duplicates are
frequent), assigns reps, starts, rewards (from the program or an explicit
amount, above the cap too), marks ineligible, and lets leads register as
customers and sign contracts (the automatic reward), beside a plain model.
Moves the model forbids must raise and record nothing. After every step the
ledger must agree with the model, every timeline must follow the allowed
moves with non-decreasing times, closed referrals must never change, no
reward may exceed the cap, a phone may hold at most one open referral, and
the lead table must agree with `get_referral`. It runs on memory, SQLite and
PostgreSQL, each example on a new, empty store, with a fake clock that moves
on between steps.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, ClassVar
from uuid import UUID

import attrs
import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, multiple, rule

from referral_ledger import (
    DuplicatePhone,
    InvalidInput,
    InvalidTransition,
    Ledger,
    LedgerError,
    Referral,
    ReferralProgram,
    ReferralStatus,
    ReferrerNotEligible,
)
from referral_ledger.aggregates.referral import ALLOWED_MOVES
from stores import fresh_store
from support import Clock

S = ReferralStatus
#: A few lead numbers, each in several spellings, so duplicates are frequent.
NUMBERS: dict[str, tuple[str, ...]] = {
    "+84987000001": ("0987 000 001", "+84 987 000 001", "84987000001"),
    "+84987000002": ("0987000002", "+84987000002"),
    "+84987000003": ("098 700 0003", "84987000003"),
}
SPELLINGS = [(e164, spelling) for e164, spellings in NUMBERS.items() for spelling in spellings]
CAP = Decimal(500_000)
BY_PLAN = {"pro": Decimal(500_000), "basic": Decimal(200_000)}
DEFAULT = Decimal(300_000)
PLANS = ("pro", "basic", "plus")
REPS = ("rep-01", "rep-02")

reps = st.sampled_from(REPS)
plans = st.sampled_from(PLANS)
minutes = st.integers(0, 90)
#: Explicit rewards, with the cap's edges and amounts above it drawn often.
amounts = st.sampled_from([0, 200_000, 500_000, 500_001, 600_000]) | st.integers(0, 600_000)


@attrs.define
class Expected:
    """What the model says about one referral."""

    phone: str
    status: ReferralStatus = S.SUBMITTED
    rep: str | None = None
    reward: Decimal | None = None
    customer: UUID | None = None


class ReferralMachine(RuleBasedStateMachine):
    """Referrals and their automatic rewards against a plain model."""

    kind: ClassVar[str] = "memory"

    referrals = Bundle("referrals")

    def __init__(self) -> None:
        super().__init__()
        url, self._cleanup = fresh_store(self.kind)
        self.clock = Clock(datetime(2026, 3, 1, 2, 0, tzinfo=UTC))
        self.ledger = Ledger.open(url, clock=self.clock)
        self.ledger.configure_referrals(
            ReferralProgram(reward_cap=CAP, reward_by_plan=BY_PLAN, default_reward=DEFAULT)
        )
        eligible = self.ledger.register_customer("Nguyễn Văn An", ["0912 345 678"])
        self.ledger.sign_contract(eligible, "C-1", "pro", date(2026, 1, 1), date(2026, 12, 31))
        lapsed = self.ledger.register_customer("Lê Văn Cường", ["0912 345 679"])
        self.ledger.sign_contract(lapsed, "C-1", "pro", date(2025, 1, 1), date(2025, 12, 31))
        self.referrers = {"eligible": eligible, "lapsed": lapsed}
        # The model: each referral's expected state; which referral holds each
        # phone while open; which lead customer registered each phone.
        self.expected: dict[UUID, Expected] = {}
        self.open_by_phone: dict[str, UUID] = {}
        self.customer_by_phone: dict[str, UUID] = {}
        self.contracts = 0
        # A closed referral as it stood when it closed: it must never change.
        self.closed: dict[UUID, Referral] = {}

    def teardown(self) -> None:
        self.ledger.close()
        self._cleanup()

    # --- helpers --------------------------------------------------------------

    def _tick(self, elapsed: int) -> None:
        self.clock.now += timedelta(minutes=elapsed)

    def _refused(self, error: type[LedgerError], command: Callable[[], object]) -> None:
        before = self.ledger.event_count()
        with pytest.raises(error):
            command()
        assert before == self.ledger.event_count(), "a refused command recorded something"

    def _close(self, rid: UUID, status: ReferralStatus, reward: Decimal | None = None) -> None:
        expected = self.expected[rid]
        expected.status = status
        expected.reward = reward
        del self.open_by_phone[expected.phone]
        self.closed[rid] = self.ledger.get_referral(rid)

    # --- rules ------------------------------------------------------------------

    @rule(
        target=referrals,
        referrer=st.sampled_from(["eligible", "eligible", "lapsed"]),
        spelled=st.sampled_from(SPELLINGS),
        elapsed=minutes,
    )
    def submit(self, referrer: str, spelled: tuple[str, str], elapsed: int) -> Any:
        self._tick(elapsed)
        e164, spelling = spelled

        def command() -> UUID:
            return self.ledger.submit_referral(
                self.referrers[referrer], "Trần Thị Bình", spelling, "fashion"
            )

        if referrer == "lapsed":
            self._refused(ReferrerNotEligible, command)
            return multiple()
        if e164 in self.customer_by_phone or e164 in self.open_by_phone:
            self._refused(DuplicatePhone, command)
            return multiple()
        rid = command()
        assert rid not in self.expected
        self.expected[rid] = Expected(phone=e164)
        self.open_by_phone[e164] = rid
        return rid

    @rule(rid=referrals, rep=reps, elapsed=minutes)
    def assign_rep(self, rid: UUID, rep: str, elapsed: int) -> None:
        self._tick(elapsed)
        expected = self.expected[rid]
        if not expected.status.is_open:
            self._refused(InvalidTransition, lambda: self.ledger.assign_rep(rid, rep))
            return
        self.ledger.assign_rep(rid, rep)
        expected.rep = rep

    @rule(rid=referrals, rep=st.none() | reps, elapsed=minutes)
    def start(self, rid: UUID, rep: str | None, elapsed: int) -> None:
        self._tick(elapsed)
        expected = self.expected[rid]
        if expected.status is not S.SUBMITTED:
            self._refused(InvalidTransition, lambda: self.ledger.start_referral(rid, rep=rep))
            return
        self.ledger.start_referral(rid, rep=rep)
        expected.status = S.IN_PROGRESS
        expected.rep = rep or expected.rep

    @rule(
        rid=referrals,
        amount=st.none() | amounts,
        plan=st.none() | plans,
        elapsed=minutes,
    )
    def reward(self, rid: UUID, amount: int | None, plan: str | None, elapsed: int) -> None:
        self._tick(elapsed)
        expected = self.expected[rid]

        def command() -> Decimal:
            return self.ledger.reward_referral(rid, amount=amount, plan=plan)

        if not expected.status.is_open:
            self._refused(InvalidTransition, command)
            return
        if amount is not None and amount > CAP:
            self._refused(InvalidInput, command)
            return
        due = Decimal(amount) if amount is not None else BY_PLAN.get(plan or "", DEFAULT)
        assert due == command()
        self._close(rid, S.REWARDED, due)

    @rule(rid=referrals, elapsed=minutes)
    def mark_ineligible(self, rid: UUID, elapsed: int) -> None:
        self._tick(elapsed)
        if not self.expected[rid].status.is_open:
            self._refused(InvalidTransition, lambda: self.ledger.mark_ineligible(rid, "no"))
            return
        self.ledger.mark_ineligible(rid, "no answer")
        self._close(rid, S.INELIGIBLE)

    @rule(spelled=st.sampled_from(SPELLINGS), elapsed=minutes)
    def lead_registers(self, spelled: tuple[str, str], elapsed: int) -> None:
        """The lead registers as a customer: the open referral of its phone is linked."""
        self._tick(elapsed)
        e164, spelling = spelled

        def command() -> UUID:
            return self.ledger.register_customer("Trần Thị Bình", [spelling])

        if e164 in self.customer_by_phone:
            self._refused(DuplicatePhone, command)
            return
        customer = command()
        self.customer_by_phone[e164] = customer
        if e164 in self.open_by_phone:
            self.expected[self.open_by_phone[e164]].customer = customer

    @rule(e164=st.sampled_from(sorted(NUMBERS)), plan=plans, elapsed=minutes)
    def lead_signs(self, e164: str, plan: str, elapsed: int) -> None:
        """A registered lead signs: its open, linked referral is rewarded by itself."""
        self._tick(elapsed)
        customer = self.customer_by_phone.get(e164)
        if customer is None:
            return
        self.contracts += 1
        self.ledger.sign_contract(
            customer, f"C-{self.contracts}", plan, date(2026, 3, 1), date(2027, 2, 28)
        )
        rid = self.open_by_phone.get(e164)
        if rid is not None and self.expected[rid].customer == customer:
            self._close(rid, S.REWARDED, BY_PLAN.get(plan, DEFAULT))

    # --- invariants -------------------------------------------------------------

    @invariant()
    def every_referral_agrees_with_the_model(self) -> None:
        for rid, expected in self.expected.items():
            referral = self.ledger.get_referral(rid)
            actual = Expected(
                phone=referral.lead.phone,
                status=referral.status,
                rep=referral.rep,
                reward=referral.reward,
                customer=referral.referred_customer_id,
            )
            assert expected == actual

    @invariant()
    def timelines_follow_the_allowed_moves_in_time_order(self) -> None:
        for rid in self.expected:
            timeline = self.ledger.get_referral(rid).timeline
            assert S.SUBMITTED == timeline[0].status
            for before, after in itertools.pairwise(timeline):
                assert before.at <= after.at, (before, after)
                moved = before.status != after.status
                assert not moved or after.status in ALLOWED_MOVES[before.status]
                assert before.status.is_open, "nothing follows a final state"

    @invariant()
    def closed_referrals_never_change(self) -> None:
        for rid, closed in self.closed.items():
            assert closed == self.ledger.get_referral(rid)

    @invariant()
    def no_reward_exceeds_the_cap(self) -> None:
        for rid in self.expected:
            reward = self.ledger.get_referral(rid).reward
            assert reward is None or Decimal(0) <= reward <= CAP

    @invariant()
    def a_phone_holds_at_most_one_open_referral(self) -> None:
        referrals = [self.ledger.get_referral(rid) for rid in self.expected]
        open_phones = Counter(r.lead.phone for r in referrals if r.status.is_open)
        assert all(1 == count for count in open_phones.values()), open_phones

    @invariant()
    def the_lead_table_agrees_with_get_referral(self) -> None:
        rows = {row.referral_id: row for row in self.ledger.lead_table(limit=1000)}
        assert set(self.expected) == set(rows)
        for rid, row in rows.items():
            referral = self.ledger.get_referral(rid)
            assert (referral.status, referral.rep, referral.lead.phone) == (
                row.status,
                row.rep,
                row.phone,
            )


STEPS = settings(stateful_step_count=20)
#: The in-memory store is cheap: explore more and longer runs there.
MORE_STEPS = settings(max_examples=4 * settings().max_examples, stateful_step_count=30)


class OnMemory(ReferralMachine):
    kind = "memory"


class OnSQLite(ReferralMachine):
    kind = "sqlite"


class OnPostgres(ReferralMachine):
    kind = "postgres"


TestReferralsOnMemory = OnMemory.TestCase
TestReferralsOnMemory.settings = MORE_STEPS
TestReferralsOnSQLite = OnSQLite.TestCase
TestReferralsOnSQLite.settings = STEPS
TestReferralsOnPostgres = pytest.mark.postgres(OnPostgres.TestCase)
TestReferralsOnPostgres.settings = STEPS
