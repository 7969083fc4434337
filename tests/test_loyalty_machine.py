"""The executable specification of the loyalty account.

A Hypothesis state machine drives the real ledger with random programs,
purchases, redemptions, returns, repeated ids and bad input, and keeps a
plain-Python model of what every figure must be. After every step the ledger
must agree with the model, with its own statement, and with a full replay of
its events. It runs on memory, SQLite and PostgreSQL, with a snapshot every
3 events so that loading from snapshots is exercised all the time.
"""

from __future__ import annotations

import functools
import itertools
import shutil
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import ClassVar
from uuid import UUID, uuid4

import attrs
import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from referral_ledger import (
    InvalidInput,
    Ledger,
    LedgerError,
    LoyaltyProgram,
    PointsSummary,
    ProgramNotConfigured,
    RedemptionRefused,
    Tier,
)
from referral_ledger.aggregates.loyalty import account_id
from referral_ledger.aggregates.loyalty_account import evolve_account
from referral_ledger.projections.statement import statement_rows
from stores import drop_pg_schema, new_pg_url
from support import Clock

START = datetime(2026, 1, 1, tzinfo=UTC)
GROUPS = ("gold", None)


# --- the model -------------------------------------------------------------------


@attrs.define
class ModelAccount:
    group: str | None
    balance: int = 0
    lifetime: int = 0
    purchases: int = 0
    tier: str | None = None
    #: (business `at`, points) of every movement: for readings by `at`. A
    #: movement dated "now" is given the clock's reading right after it, which
    #: orders it exactly against every moment `history` keeps.
    moves: list[tuple[datetime, int]] = attrs.Factory(list)


@attrs.define
class ModelInvoice:
    customer: int
    amount: Decimal
    discounted: Decimal
    points_used: int
    points: int
    returned: Decimal = Decimal(0)
    #: Points the returns owed so far, including what the balance could not cover.
    owed: int = 0


@attrs.frozen
class ModelRedemption:
    customer: int
    points: int
    value: Decimal


def model_points(program: LoyaltyProgram, invoice: ModelInvoice, group: str | None) -> int:
    """Points an invoice earns, straight from the rules in API.md."""
    if program.eligible_groups is not None and group not in program.eligible_groups:
        return 0
    if invoice.points_used > 0 and not program.earn_on_invoices_paid_with_points:
        return 0
    eligible = invoice.amount
    if not program.earn_on_discounted_items:
        eligible -= invoice.discounted
    return int(Fraction(eligible) // Fraction(program.money_per_point))


def model_tier(program: LoyaltyProgram, lifetime: int) -> str | None:
    reached = [t for t in program.tiers if t.min_points <= lifetime]
    return max(reached, key=lambda t: t.min_points).name if reached else None


# --- strategies --------------------------------------------------------------------

tiers = st.lists(st.integers(0, 120), unique=True, max_size=3).map(
    lambda thresholds: tuple(Tier(f"T{p}", p) for p in thresholds)
)
programs = st.builds(
    LoyaltyProgram,
    money_per_point=st.sampled_from([Decimal(1000), Decimal(10000), Decimal("2500.5")]),
    point_value=st.sampled_from([Decimal(0), Decimal(1000), Decimal("0.5")]),
    min_purchases_before_redeem=st.sampled_from([0, 1, 2]),
    min_remaining_points=st.sampled_from([0, 0, 5, 20]),
    earn_on_discounted_items=st.booleans(),
    earn_on_invoices_paid_with_points=st.booleans(),
    eligible_groups=st.sampled_from([None, None, frozenset({"gold"}), frozenset({"silver"})]),
    tiers=tiers,
)
money = st.integers(0, 300).map(lambda n: Decimal(n * 1000)) | st.decimals(
    min_value=0, max_value=300_000, places=2
)
customers = st.integers(0, len(GROUPS) - 1)

NAIVE = datetime(2026, 1, 1)
BadCommand = Callable[[Ledger, UUID], object]
BAD_COMMANDS: list[BadCommand] = [
    lambda lg, c: lg.record_purchase(c, "INV-BAD", 100000.0),  # type: ignore[arg-type]
    lambda lg, c: lg.record_purchase(c, "INV-BAD", Decimal("NaN")),
    lambda lg, c: lg.record_purchase(c, "INV-BAD", "Infinity"),
    lambda lg, c: lg.record_purchase(c, "INV-BAD", -1),
    lambda lg, c: lg.record_purchase(c, "INV-BAD", 100, discounted_amount=101),
    lambda lg, c: lg.record_purchase(c, "INV-BAD", 100, points_used=-1),
    lambda lg, c: lg.record_purchase(c, "INV-BAD", 100, at=NAIVE),
    lambda lg, c: lg.record_purchase(c, "", 100),
    lambda lg, c: lg.redeem_points(c, 0, "R-BAD"),
    lambda lg, c: lg.redeem_points(c, -5, "R-BAD"),
    lambda lg, c: lg.redeem_points(c, 2.0, "R-BAD"),  # type: ignore[arg-type]
    lambda lg, c: lg.redeem_points(c, 1, " "),
    lambda lg, c: lg.return_purchase(c, "INV-NEVER-SOLD"),
    lambda lg, c: lg.return_purchase(c, "INV-BAD", -1),
    lambda lg, c: lg.return_purchase(c, "INV-BAD", 1.5),  # type: ignore[arg-type]
    lambda lg, c: lg.balance(c, as_of=NAIVE),
]


# --- the machine ---------------------------------------------------------------------


class LoyaltyMachine(RuleBasedStateMachine):
    """The ledger beside a model made of dicts; each step must keep them equal."""

    store_kind: ClassVar[str] = "memory"

    def __init__(self) -> None:
        super().__init__()
        self._directory: str | None = None
        self.url = self._new_url()
        # One second per reading: every event has its own moment.
        self.clock = Clock(START, tick=timedelta(seconds=1))
        self.ledger = Ledger.open(self.url, snapshot_interval=3, clock=self.clock)
        self.program: LoyaltyProgram | None = None
        self.program_version = 0
        self.ids: list[UUID] = []
        self.accounts: list[ModelAccount] = []
        self.invoices: dict[str, ModelInvoice] = {}
        self.redemptions: dict[str, ModelRedemption] = {}
        self.history: list[tuple[datetime, list[int]]] = []
        self.numbers = itertools.count(1)

    def _new_url(self) -> str:
        if self.store_kind == "memory":
            return f"memory://{uuid4().hex}"
        if self.store_kind == "sqlite":
            self._directory = tempfile.mkdtemp(prefix="loyalty-machine-")
            return f"sqlite:///{self._directory}/ledger.db"
        return new_pg_url(prefix="machine_")

    def teardown(self) -> None:
        self.ledger.close()
        if self._directory is not None:
            shutil.rmtree(self._directory, ignore_errors=True)
        if self.store_kind == "postgres":
            drop_pg_schema(self.url)

    # --- helpers ---------------------------------------------------------------

    def expect_refusal(self, error: type[LedgerError], command: Callable[[], object]) -> None:
        """`command` must raise `error` and record nothing."""
        count = self.ledger.event_count()
        with pytest.raises(error):
            command()
        assert count == self.ledger.event_count()

    def purchase(
        self, who: int, invoice_id: str, invoice: ModelInvoice, at: datetime | None = None
    ) -> int:
        return self.ledger.record_purchase(
            self.ids[who], invoice_id, invoice.amount, invoice.discounted, invoice.points_used, at
        )

    def retier(self, account: ModelAccount) -> None:
        assert self.program is not None
        account.tier = model_tier(self.program, account.lifetime)

    # --- rules -----------------------------------------------------------------

    @initialize(program=programs, unconfigured=st.integers(0, 9))
    def register_customers(self, program: LoyaltyProgram, unconfigured: int) -> None:
        first_phone = uuid4().int % 10**5
        for group in GROUPS:
            customer = self.ledger.register_customer(
                name=f"Khách {len(self.ids)}",
                phones=[f"0912{first_phone + len(self.ids):06d}"],
                group=group,
            )
            self.ids.append(customer)
            self.accounts.append(ModelAccount(group))
        # Mostly start configured, so that most steps get past ProgramNotConfigured.
        if unconfigured:
            self.configure(program)

    @rule(program=programs)
    def configure(self, program: LoyaltyProgram) -> None:
        version = self.ledger.configure_loyalty(program)
        # The settings in force again are no change: nothing recorded, same version.
        if program != self.program:
            self.program_version += 1
        assert self.program_version == version
        self.program = program
        assert program == self.ledger.loyalty_program()

    @rule(who=customers, amount=money, data=st.data())
    def buy(self, who: int, amount: Decimal, data: st.DataObject) -> None:
        discounted = data.draw(st.sampled_from([Decimal(0), amount / 2, amount]), "discounted")
        points_used = data.draw(st.sampled_from([0, 0, 3]), "points_used")
        # Backfilled purchases: dated before earlier steps, recorded now.
        days_back = data.draw(st.sampled_from([None, None, 0, 1, 30]), "days back")
        at = None if days_back is None else self.clock.now - timedelta(days=days_back)
        invoice_id = f"INV-{next(self.numbers)}"
        invoice = ModelInvoice(who, amount, discounted, points_used, points=0)
        if self.program is None:
            self.expect_refusal(
                ProgramNotConfigured, lambda: self.purchase(who, invoice_id, invoice, at)
            )
            return
        account = self.accounts[who]
        invoice.points = model_points(self.program, invoice, account.group)
        assert invoice.points == self.purchase(who, invoice_id, invoice, at)
        account.moves.append((self.clock.now if at is None else at, invoice.points))
        self.invoices[invoice_id] = invoice
        account.balance += invoice.points
        account.lifetime += invoice.points
        account.purchases += 1
        self.retier(account)

    @precondition(lambda self: self.invoices)
    @rule(
        data=st.data(),
        change=st.sampled_from(["nothing", "amount", "discounted", "points used", "customer"]),
    )
    def buy_again(self, data: st.DataObject, change: str) -> None:
        """A repeated invoice id: a retry if every figure matches, refused otherwise."""
        invoice_id = data.draw(st.sampled_from(sorted(self.invoices)), "invoice_id")
        original = self.invoices[invoice_id]
        if change == "nothing":
            count = self.ledger.event_count()
            assert original.points == self.purchase(original.customer, invoice_id, original)
            assert count == self.ledger.event_count()
            return
        if change == "amount":
            altered = attrs.evolve(original, amount=original.amount + 1)
        elif change == "discounted":
            altered = attrs.evolve(
                original, discounted=original.discounted + 1, amount=original.amount + 1
            )
        elif change == "points used":
            altered = attrs.evolve(original, points_used=original.points_used + 1)
        else:
            altered = attrs.evolve(original, customer=(original.customer + 1) % len(self.ids))
        self.expect_refusal(
            InvalidInput, lambda: self.purchase(altered.customer, invoice_id, altered)
        )

    @precondition(lambda self: any(a.purchases for a in self.accounts))
    @rule(data=st.data(), size=st.sampled_from(["one", "few", "all", "down to minimum", "over"]))
    def redeem(self, data: st.DataObject, size: str) -> None:
        """Redeem from a customer who has bought something (the model predicts refusals)."""
        buyers = [n for n, a in enumerate(self.accounts) if a.purchases and a.balance] or [
            n for n, a in enumerate(self.accounts) if a.purchases
        ]
        who = data.draw(st.sampled_from(buyers), "who")
        redemption_id = f"R-{next(self.numbers)}"
        balance = self.accounts[who].balance
        minimum = self.program.min_remaining_points if self.program else 0
        points = max(
            1,
            {
                "one": 1,
                "few": 3,
                "all": balance,
                "down to minimum": balance - minimum,
                "over": balance + 1,
            }[size],
        )
        account = self.accounts[who]

        def command() -> Decimal:
            return self.ledger.redeem_points(self.ids[who], points, redemption_id)

        assert self.program is not None  # a purchase went through
        allowed = (
            account.purchases > self.program.min_purchases_before_redeem
            and points <= account.balance
            and account.balance - points >= self.program.min_remaining_points
        )
        if not allowed:
            self.expect_refusal(RedemptionRefused, command)
            return
        value = self.program.point_value * points
        assert value == command()
        account.moves.append((self.clock.now, -points))
        account.balance -= points
        self.redemptions[redemption_id] = ModelRedemption(who, points, value)

    @precondition(lambda self: self.redemptions)
    @rule(data=st.data(), change=st.sampled_from(["nothing", "points", "customer"]))
    def redeem_again(self, data: st.DataObject, change: str) -> None:
        redemption_id = data.draw(st.sampled_from(sorted(self.redemptions)), "redemption_id")
        first = self.redemptions[redemption_id]
        who, points = first.customer, first.points
        if change == "points":
            points += 1
        elif change == "customer":
            who = (who + 1) % len(self.ids)

        def command() -> Decimal:
            return self.ledger.redeem_points(self.ids[who], points, redemption_id)

        if change == "nothing":
            count = self.ledger.event_count()
            assert first.value == command()
            assert count == self.ledger.event_count()
        else:
            self.expect_refusal(InvalidInput, command)

    @precondition(lambda self: self.invoices)
    @rule(
        data=st.data(),
        portion=st.sampled_from(["third", "0.45", "half", "all", "none", "too much"]),
        which=st.sampled_from(["earning", "any"]),
    )
    def give_back(self, data: st.DataObject, portion: str, which: str) -> None:
        """Return part or all of an invoice; mostly one that earned points and has some left."""
        candidates = sorted(
            n
            for n, i in self.invoices.items()
            if which == "any" or (i.points and i.returned < i.amount)
        ) or sorted(self.invoices)
        invoice_id = data.draw(st.sampled_from(candidates), "invoice_id")
        invoice = self.invoices[invoice_id]
        remaining = invoice.amount - invoice.returned
        # Parts of the original amount that do not divide the points evenly, so that
        # rounding each part down on its own would lose points.
        parts = {"third": Decimal(1) / 3, "0.45": Decimal("0.45"), "half": Decimal("0.5")}
        amount: Decimal | None
        if portion == "none":
            amount = None
        elif portion == "all":
            amount = remaining
        elif portion == "too much":
            amount = remaining + Decimal("0.01")
        else:
            amount = (invoice.amount * parts[portion]).quantize(Decimal("0.01"))
        who = invoice.customer
        if data.draw(st.integers(0, 9), "someone else") == 0:
            who = (who + 1) % len(self.ids)

        def command() -> int:
            return self.ledger.return_purchase(self.ids[who], invoice_id, amount)

        returned = remaining if amount is None else amount
        if who != invoice.customer or remaining == 0 or returned == 0 or returned > remaining:
            self.expect_refusal(InvalidInput, command)
            return
        invoice.returned += returned
        owed = min(
            invoice.points,
            int(Fraction(invoice.returned) * invoice.points // Fraction(invoice.amount)),
        )
        owed -= invoice.owed
        invoice.owed += owed
        account = self.accounts[who]
        taken = min(owed, account.balance)
        assert taken == command()
        account.moves.append((self.clock.now, -taken))
        account.balance -= taken
        # A returned invoice stops counting toward tiers, even what the balance could not cover.
        account.lifetime -= owed
        self.retier(account)

    @rule(who=customers, index=st.integers(0, len(BAD_COMMANDS) - 1))
    def bad_input(self, who: int, index: int) -> None:
        self.expect_refusal(LedgerError, lambda: BAD_COMMANDS[index](self.ledger, self.ids[who]))

    @rule()
    def reopen(self) -> None:
        """Another Ledger on the same URL sees the same accounts; carry on with it."""
        reopened = Ledger.open(self.url, snapshot_interval=3, clock=self.clock)
        for customer in self.ids:
            assert self.ledger.loyalty_account(customer) == reopened.loyalty_account(customer)
        self.ledger.close()
        self.ledger = reopened

    @precondition(lambda self: self.history)
    @rule(data=st.data())
    def look_back(self, data: st.DataObject) -> None:
        """`balance(as_of=)` answers as the ledger stood after an earlier step."""
        moment, balances = data.draw(st.sampled_from(self.history), "moment")
        assert balances == [self.ledger.balance(c, as_of=moment) for c in self.ids]
        # By business time: every movement recorded so far that is dated by then.
        dated = [sum(p for at, p in a.moves if at <= moment) for a in self.accounts]
        assert dated == [self.ledger.balance(c, at=moment) for c in self.ids]
        # The public statement is the fold the invariant checks, as of now.
        for customer in self.ids:
            events = self.ledger._store.events_of(account_id(customer))
            assert statement_rows(events) == self.ledger.statement(customer)

    # --- invariants ------------------------------------------------------------------

    @invariant()
    def ledger_agrees_with_model_statement_and_replay(self) -> None:
        store = self.ledger._store
        for customer, model in zip(self.ids, self.accounts, strict=True):
            balance = self.ledger.balance(customer)
            assert model.balance == balance
            assert balance >= 0
            events = store.events_of(account_id(customer))
            rows = statement_rows(events)
            assert balance == sum(row.points for row in rows)
            assert balance == (rows[-1].balance if rows else 0)
            live = store.load(account_id(customer), evolve_account)
            replayed = functools.reduce(evolve_account, events, None)
            assert replayed == live
            if live is not None:
                assert (model.lifetime, model.purchases, model.tier) == (
                    live.lifetime_points,
                    live.purchase_count,
                    live.tier,
                )
            else:
                assert (0, 0, None) == (model.lifetime, model.purchases, model.tier)
            # The summary's tier, and the account record's, follow the program in
            # force, whatever tier the account reached under an earlier one.
            tier = model_tier(self.program, model.lifetime) if self.program else None
            shown = self.ledger.loyalty_account(customer)
            assert (shown.tier if shown else None) == (tier if shown else None)
            assert PointsSummary(model.balance, 0, model.lifetime, tier) == (
                self.ledger.points_summary(customer)
            )
            dates = [row.at for row in self.ledger.statement(customer)]
            assert sorted(dates) == dates
        self.history.append((self.clock.now, [a.balance for a in self.accounts]))


class MemoryMachine(LoyaltyMachine):
    store_kind = "memory"


class SQLiteMachine(LoyaltyMachine):
    store_kind = "sqlite"


class PostgresMachine(LoyaltyMachine):
    store_kind = "postgres"


# Examples come from the Hypothesis profile (dev/ci/long). Memory and SQLite take them
# all and find the logic bugs; PostgreSQL, ~10x slower per step, runs a third of them
# (at least 10) to prove the same behaviour on the production store in well under a
# minute on a 2-core CI machine.
STEPS = settings(stateful_step_count=40)

TestLoyaltyOnMemory = MemoryMachine.TestCase
TestLoyaltyOnMemory.settings = STEPS
TestLoyaltyOnSQLite = SQLiteMachine.TestCase
TestLoyaltyOnSQLite.settings = STEPS
TestLoyaltyOnPostgres = pytest.mark.postgres(PostgresMachine.TestCase)
TestLoyaltyOnPostgres.settings = settings(
    STEPS, max_examples=max(10, settings().max_examples // 3), stateful_step_count=30
)
