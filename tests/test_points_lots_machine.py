"""The loyalty account over time, as a state machine: lots with their dates.

A model keeps every open lot (points left, available from, expires at) and
the ledger must agree after every step: time passing, `process_due`, pending
points, expiry, redemptions, checkouts, returns (also after expiry), and
program changes. Invariants after every step: balance == model == the
spendable points of the account's open lots == the statement; nothing is
negative; a replay of the events equals the live state. On memory, SQLite
and PostgreSQL (with a snapshot every 3 events).
"""

from __future__ import annotations

import functools
import itertools
import shutil
import tempfile
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import ClassVar

import attrs
import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from referral_ledger import InvalidInput, Ledger, LoyaltyProgram, PointsExpiry, RedemptionRefused
from referral_ledger.aggregates.loyalty import account_id
from referral_ledger.aggregates.loyalty_account import evolve_account
from referral_ledger.reactions import points_expiry
from stores import drop_pg_schema, new_pg_url
from support import Clock

START = datetime(2026, 1, 30, 9, 0, tzinfo=UTC)
EXPIRIES = [None, PointsExpiry(0, "day"), PointsExpiry(10, "month"), PointsExpiry(20, "day")]


@attrs.define
class MLot:
    lot_id: str
    points: int
    earned: datetime
    available: datetime
    expires: datetime | None

    def expired(self, at: datetime) -> bool:
        return self.expires is not None and self.expires <= at

    def spendable(self, at: datetime) -> bool:
        return self.available <= at and not self.expired(at)


@attrs.define
class MInvoice:
    points: int
    amount: int
    redeemed: int = 0
    returned: bool = False
    expired: int = 0
    counted: int = 0
    #: The invoice record's events: recorded, its lot's expiry, each return.
    events: int = 1


def start_of(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def model_expiry(available: datetime, expiry: PointsExpiry | None) -> datetime | None:
    """API.md's rule, restated for UTC."""
    if expiry is None:
        return None
    day = (available + timedelta(days=expiry.after_days)).date()
    if expiry.round_to == "day":
        return start_of(day + timedelta(days=1))
    if expiry.round_to == "month":
        return start_of(date(day.year + day.month // 12, day.month % 12 + 1, 1))
    return start_of(date(day.year + 1, 1, 1))


class LotsMachine(RuleBasedStateMachine):
    store_kind: ClassVar[str] = "memory"

    def __init__(self) -> None:
        super().__init__()
        self._directory: str | None = None
        if self.store_kind == "memory":
            self.url = "memory://"
        elif self.store_kind == "sqlite":
            self._directory = tempfile.mkdtemp(prefix="lots-machine-")
            self.url = f"sqlite:///{self._directory}/ledger.db"
        else:
            self.url = new_pg_url(prefix="lots_machine_")
        self.clock = Clock(START)
        self.ledger = Ledger.open(
            self.url, snapshot_interval=3, clock=self.clock, business_timezone=UTC
        )
        self.cid = self.ledger.register_customer("Lê Thị Hoa", ["0912 345 678"])
        self.pending_days = 0
        self.expiry: PointsExpiry | None = None
        self.configure(0, 0)
        self.lots: list[MLot] = []
        self.invoices: dict[str, MInvoice] = {}
        self.purchases = 0
        self.numbers = itertools.count(1)

    def teardown(self) -> None:
        self.ledger.close()
        if self._directory is not None:
            shutil.rmtree(self._directory, ignore_errors=True)
        if self.store_kind == "postgres":
            drop_pg_schema(self.url)

    # --- model helpers -------------------------------------------------------------

    @property
    def now(self) -> datetime:
        return self.clock.now

    def available(self) -> int:
        return sum(lot.points for lot in self.lots if lot.spendable(self.now))

    def draw(self, points: int, exclude: str | None = None) -> int:
        """Take up to `points` from spendable lots, soonest-expiring first; returns how many."""
        order = sorted(
            (lot for lot in self.lots if lot.spendable(self.now) and lot.lot_id != exclude),
            key=lambda lot: (lot.expires is None, lot.expires or lot.earned, lot.earned),
        )
        taken = 0
        for lot in order:
            take = min(points - taken, lot.points)
            lot.points -= take
            taken += take
        self.lots = [lot for lot in self.lots if lot.points]
        return taken

    def earn(self, invoice_id: str, points: int) -> None:
        if points:
            available = self.now + timedelta(days=self.pending_days)
            expires = model_expiry(available, self.expiry)
            self.lots.append(MLot(invoice_id, points, self.now, available, expires))

    # --- rules -----------------------------------------------------------------------

    @rule(pending=st.sampled_from([0, 0, 3]), expiry=st.integers(0, len(EXPIRIES) - 1))
    def configure(self, pending: int, expiry: int) -> None:
        program = LoyaltyProgram(
            money_per_point=Decimal(1000),
            point_value=Decimal(100),
            earn_on_invoices_paid_with_points=True,
            pending_days=pending,
            expiry=EXPIRIES[expiry],
        )
        version = self.ledger.configure_loyalty(program)
        # The same settings again record nothing.
        count = self.ledger.event_count()
        assert version == self.ledger.configure_loyalty(program)
        assert count == self.ledger.event_count()
        self.pending_days, self.expiry = pending, EXPIRIES[expiry]

    @rule(days=st.integers(0, 40), hours=st.integers(0, 23))
    def time_passes(self, days: int, hours: int) -> None:
        self.clock.advance(days=days, hours=hours)

    @rule()
    def process_due(self) -> None:
        due = [lot for lot in self.lots if lot.expired(self.now)]
        assert len(due) == self.ledger.process_due()
        for lot in due:
            if lot.lot_id in self.invoices:
                self.invoices[lot.lot_id].expired += lot.points
                self.invoices[lot.lot_id].events += 1
        self.lots = [lot for lot in self.lots if not lot.expired(self.now)]
        assert 0 == self.ledger.process_due()

    @rule(size=st.integers(0, 60))
    def buy(self, size: int) -> None:
        invoice_id = f"HD-{next(self.numbers)}"
        assert size == self.ledger.record_purchase(self.cid, invoice_id, size * 1000 + 500)
        self.invoices[invoice_id] = MInvoice(size, size * 1000 + 500)
        self.purchases += 1
        self.earn(invoice_id, size)

    @rule(points=st.integers(1, 80))
    def redeem(self, points: int) -> None:
        reference = f"R-{next(self.numbers)}"
        if not self.purchases or points > self.available():
            count = self.ledger.event_count()
            with pytest.raises(RedemptionRefused):
                self.ledger.redeem_points(self.cid, points, reference)
            assert count == self.ledger.event_count()
            return
        self.ledger.redeem_points(self.cid, points, reference)
        assert points == self.draw(points)

    @rule(size=st.integers(1, 60), points=st.integers(0, 80))
    def checkout(self, size: int, points: int) -> None:
        invoice_id = f"CO-{next(self.numbers)}"
        amount = size * 1000
        refused = points > 0 and (not self.purchases or points > self.available())
        if refused or points * 100 > amount:
            count = self.ledger.event_count()
            with pytest.raises(RedemptionRefused if refused else InvalidInput):
                self.ledger.checkout(self.cid, invoice_id, amount, redeem_points=points)
            assert count == self.ledger.event_count()
            return
        result = self.ledger.checkout(self.cid, invoice_id, amount, redeem_points=points)
        if points:
            assert points == self.draw(points)
        earned = (amount - points * 100) // 1000
        assert (result.points_earned, result.points_redeemed) == (earned, points)
        self.invoices[invoice_id] = MInvoice(earned, amount, redeemed=points)
        self.purchases += 1
        self.earn(invoice_id, earned)

    @precondition(lambda self: any(not i.returned for i in self.invoices.values()))
    @rule(data=st.data())
    def return_in_full(self, data: st.DataObject) -> None:
        open_ones = sorted(k for k, i in self.invoices.items() if not i.returned)
        invoice_id = data.draw(st.sampled_from(open_ones))
        invoice = self.invoices[invoice_id]
        owed, budget = invoice.points, self.available()
        own = next((lot for lot in self.lots if lot.lot_id == invoice_id), None)
        expired = invoice.expired - invoice.counted
        from_own = 0
        if own is not None and own.expired(self.now):
            expired += own.points
        elif own is not None:
            from_own = min(owed, own.points)
            if own.spendable(self.now):
                from_own = min(from_own, budget)
                budget -= from_own
            own.points -= from_own
            self.lots = [lot for lot in self.lots if lot.points]
        counted = min(owed - from_own, max(0, expired))
        taken = from_own + self.draw(min(owed - from_own - counted, budget), invoice_id)
        assert taken == self.ledger.return_purchase(self.cid, invoice_id)
        invoice.returned, invoice.counted = True, invoice.counted + counted
        invoice.events += 1
        if invoice.redeemed:
            # A checkout's return gives back every redeemed point, as a new lot named
            # by the return's place among the invoice's events (unique per return).
            self.lots.append(
                MLot(
                    f"{invoice_id}#refund{invoice.events}",
                    invoice.redeemed,
                    self.now,
                    self.now,
                    model_expiry(self.now, self.expiry),
                )
            )

    # --- invariants ------------------------------------------------------------------

    @invariant()
    def ledger_agrees_with_the_model_its_lots_its_statement_and_a_replay(self) -> None:
        balance = self.ledger.balance(self.cid)
        assert balance == self.available() >= 0
        store = self.ledger._store
        live = store.load(account_id(self.cid), evolve_account)
        lots = live.lots if live else ()
        assert [
            (lot.invoice_id, lot.points, lot.available_from, lot.expires_at) for lot in lots
        ] == [(lot.lot_id, lot.points, lot.available, lot.expires) for lot in self.lots]
        assert all(lot.points > 0 for lot in lots)
        assert balance == sum(lot.points for lot in lots if lot.spendable(self.now))
        rows = self.ledger.statement(self.cid)
        assert balance == sum(row.points for row in rows) == (rows[-1].balance if rows else 0)
        assert all(row.balance >= 0 for row in rows)
        summary = self.ledger.points_summary(self.cid)
        assert summary.available == balance
        assert summary.pending == sum(
            lot.points
            for lot in self.lots
            if self.now < lot.available and not lot.expired(self.now)
        )
        events = store.events_of(account_id(self.cid))
        assert functools.reduce(evolve_account, events, None) == live
        # The due index never loses an expiry: every open lot that expires is a row.
        index = self.ledger._context.due_index
        index.catch_up(points_expiry.EXPIRY)
        indexed = {
            (datetime.fromisoformat(at), key) for at, key in index.rows(points_expiry.EXPIRY)
        }
        assert {
            (lot.expires, f"{self.cid.hex}:{lot.lot_id}") for lot in self.lots if lot.expires
        } <= indexed
        within = timedelta(days=400)
        assert sum(e.points for e in self.ledger.expiring_points(within)) == sum(
            lot.points
            for lot in self.lots
            if lot.expires is not None and self.now < lot.expires <= self.now + within
        )


class SQLiteLots(LotsMachine):
    store_kind = "sqlite"


class PostgresLots(LotsMachine):
    store_kind = "postgres"


STEPS = settings(stateful_step_count=30)
TestLotsOnMemory = LotsMachine.TestCase
TestLotsOnMemory.settings = STEPS
TestLotsOnSQLite = SQLiteLots.TestCase
TestLotsOnSQLite.settings = settings(STEPS, max_examples=max(10, settings().max_examples // 3))
TestLotsOnPostgres = pytest.mark.postgres(PostgresLots.TestCase)
TestLotsOnPostgres.settings = settings(
    STEPS, max_examples=max(10, settings().max_examples // 5), stateful_step_count=20
)
