"""The `Ledger`: what a host application calls.

Every command validates its arguments first, then runs as one unit of work:
load the records it needs, decide (pure functions in `aggregates/`), save the
resulting events in one transaction. A conflict with another writer re-runs
the unit from fresh state; nothing partial is ever stored.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from types import TracebackType
from typing import Any, Self
from uuid import UUID

from referral_ledger.aggregates import loyalty
from referral_ledger.aggregates import program as programs
from referral_ledger.aggregates.base import Event
from referral_ledger.aggregates.loyalty import LoyaltyAccount, Purchase
from referral_ledger.aggregates.program import LOYALTY_PROGRAM_ID, ProgramSettings
from referral_ledger.errors import InvalidInput, ProgramNotConfigured
from referral_ledger.policies.loyalty import LoyaltyProgram
from referral_ledger.projections.statement import StatementRow, statement_rows
from referral_ledger.store import (
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_SNAPSHOT_INTERVAL,
    EventLog,
    Store,
    UnitOfWork,
    ensure_postgres_schema,
    environment_for,
)
from referral_ledger.values import (
    DEFAULT_REGION,
    now,
    parse_id,
    parse_money,
    parse_optional_text,
    parse_optional_time,
    parse_points,
    parse_reference,
    parse_time,
)


class Ledger:
    """A referral and loyalty ledger kept as an immutable, replayable event log."""

    def __init__(self, store: Store, *, phone_region: str = DEFAULT_REGION) -> None:
        """Use :meth:`Ledger.open`; this wires an already opened store."""
        self._store = store
        self.phone_region = phone_region

    # --- opening -----------------------------------------------------------

    @classmethod
    def open(
        cls,
        url: str = "memory://",
        *,
        cipher_key: str | None = None,
        compress: bool = False,
        snapshot_interval: int = DEFAULT_SNAPSHOT_INTERVAL,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        phone_region: str = DEFAULT_REGION,
        clock: Callable[[], datetime] | None = None,
    ) -> Ledger:
        """Open (creating if needed) the ledger stored at `url`.

        `memory://` keeps everything in this process; `sqlite:///PATH` is an
        embedded file; `postgresql://USER:PW@HOST:PORT/DB[?schema=NAME]` is the
        production store. `cipher_key` (from :meth:`create_cipher_key`)
        encrypts events at rest; `compress` zlib-compresses them. A snapshot is
        taken every `snapshot_interval` events of a record (0: never).
        """
        if isinstance(snapshot_interval, bool) or not isinstance(snapshot_interval, int):
            raise InvalidInput(f"snapshot_interval must be an int, not {snapshot_interval!r}")
        if snapshot_interval < 0:
            raise InvalidInput(f"snapshot_interval must not be negative: {snapshot_interval}")
        if isinstance(max_attempts, bool) or not isinstance(max_attempts, int) or max_attempts < 1:
            raise InvalidInput(f"max_attempts must be a positive int, not {max_attempts!r}")
        env = environment_for(url, cipher_key=cipher_key, compress=compress)
        ensure_postgres_schema(env)
        store = Store(
            EventLog(env=env),
            clock=clock or now,
            snapshot_interval=snapshot_interval,
            max_attempts=max_attempts,
        )
        store.verify_readable()
        return cls(store, phone_region=phone_region)

    @staticmethod
    def create_cipher_key() -> str:
        """A new random AES-256 key for `Ledger.open(cipher_key=...)`. Keep it safe."""
        from eventsourcing.cryptography import AESCipher

        return AESCipher.create_key(num_bytes=32)

    def close(self) -> None:
        """Release the store's connections."""
        self._store.app.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def stats(self) -> object:
        """Command counts since opening: attempts, conflicts retried and surfaced."""
        return self._store.stats

    def event_count(self) -> int:
        """The position of the newest event in the log (0 for an empty ledger)."""
        return self._store.last_position()

    # --- loyalty program ---------------------------------------------------

    def configure_loyalty(self, program: LoyaltyProgram) -> int:
        """Apply `program` from now on; returns its version number."""
        if not isinstance(program, LoyaltyProgram):
            raise InvalidInput(f"program must be a LoyaltyProgram, not {program!r}")

        def decide(unit: UnitOfWork) -> int:
            settings = unit.load(LOYALTY_PROGRAM_ID, programs.evolve_loyalty_settings)
            unit.record(programs.configure_loyalty(settings, program, unit.now))
            return 1 if settings is None else settings.version + 1

        return self._store.run(decide)

    def loyalty_program(self, as_of: datetime | None = None) -> LoyaltyProgram:
        """The loyalty rules in force now, or at `as_of`."""
        settings = self._load_as_of(
            LOYALTY_PROGRAM_ID, programs.evolve_loyalty_settings, as_of
        )
        if settings is None:
            raise ProgramNotConfigured("no loyalty program has been configured yet")
        return settings.program

    def _loyalty_settings(self, unit: UnitOfWork) -> ProgramSettings[LoyaltyProgram]:
        settings = unit.load(LOYALTY_PROGRAM_ID, programs.evolve_loyalty_settings)
        if settings is None:
            raise ProgramNotConfigured(
                "configure a loyalty program (Ledger.configure_loyalty) before recording points"
            )
        return settings

    # --- points ------------------------------------------------------------

    def record_purchase(
        self,
        customer_id: UUID,
        invoice_id: str,
        amount: Decimal | int | str,
        discounted_amount: Decimal | int | str = Decimal(0),
        points_used: int = 0,
        at: datetime | None = None,
        *,
        group: str | None = None,
    ) -> int:
        """Record a purchase and earn its points; returns the points earned.

        The same `invoice_id` again with the same figures returns the first
        result and records nothing. `group` is the customer's group for the
        program's `eligible_groups`.
        """
        customer = parse_id(customer_id, "customer_id")
        purchase = Purchase(
            invoice_id=parse_reference(invoice_id, "invoice_id"),
            amount=parse_money(amount, "amount"),
            discounted_amount=parse_money(discounted_amount, "discounted_amount"),
            points_used=parse_points(points_used, "points_used"),
            at=self._business_time(at),
        )
        if purchase.discounted_amount > purchase.amount:
            raise InvalidInput(
                f"discounted_amount {purchase.discounted_amount} is more than the amount "
                f"{purchase.amount}"
            )
        customer_group = parse_optional_text(group, "group")

        def decide(unit: UnitOfWork) -> int:
            invoice = unit.load(loyalty.invoice_record_id(purchase.invoice_id), loyalty.evolve_invoice)
            if invoice is not None:
                loyalty.check_same_purchase(invoice, customer, purchase)
                return invoice.points
            settings = self._loyalty_settings(unit)
            account = unit.load(loyalty.account_id(customer), loyalty.evolve_account)
            events = loyalty.earn(
                account,
                customer_id=customer,
                purchase=purchase,
                program=settings.program,
                program_version=settings.version,
                group=customer_group,
                now=unit.now,
            )
            unit.record(events)
            return _points_of(events, loyalty.PointsEarned)

        return self._store.run(decide)

    def redeem_points(
        self, customer_id: UUID, points: int, redemption_id: str, at: datetime | None = None
    ) -> Decimal:
        """Spend points; returns the money they are worth.

        Raises `RedemptionRefused` when the program's rules forbid it. The same
        `redemption_id` again with the same figures returns the first result.
        """
        customer = parse_id(customer_id, "customer_id")
        wanted = parse_points(points, "points", positive=True)
        reference = parse_reference(redemption_id, "redemption_id")
        when = self._business_time(at)

        def decide(unit: UnitOfWork) -> Decimal:
            record = unit.load(loyalty.redemption_record_id(reference), loyalty.evolve_redemption)
            if record is not None:
                loyalty.check_same_redemption(record, customer, wanted)
                return record.value
            settings = self._loyalty_settings(unit)
            account = unit.load(loyalty.account_id(customer), loyalty.evolve_account)
            events = loyalty.redeem(
                account,
                customer_id=customer,
                redemption_id=reference,
                points=wanted,
                program=settings.program,
                program_version=settings.version,
                at=when,
                now=unit.now,
            )
            unit.record(events)
            redeemed = events[0]
            assert isinstance(redeemed, loyalty.PointsRedeemed)
            return redeemed.value

        return self._store.run(decide)

    def return_purchase(
        self,
        customer_id: UUID,
        invoice_id: str,
        amount: Decimal | int | str | None = None,
        at: datetime | None = None,
    ) -> int:
        """Record a (partial) return and take back its points; returns the points taken.

        Points are taken in proportion to the amount returned (`None`: all that
        is left), rounded down, never more than the invoice earned, and never
        below a zero balance: what the balance cannot cover is recorded as the
        event's `shortfall`.
        """
        customer = parse_id(customer_id, "customer_id")
        reference = parse_reference(invoice_id, "invoice_id")
        returned = None if amount is None else parse_money(amount, "amount")
        when = self._business_time(at)

        def decide(unit: UnitOfWork) -> int:
            invoice = unit.load(loyalty.invoice_record_id(reference), loyalty.evolve_invoice)
            settings = self._loyalty_settings(unit)
            account = unit.load(loyalty.account_id(customer), loyalty.evolve_account)
            events = loyalty.take_back(
                account,
                invoice,
                customer_id=customer,
                invoice_id=reference,
                amount=returned,
                program=settings.program,
                at=when,
                now=unit.now,
            )
            unit.record(events)
            return _points_of(events, loyalty.PointsTakenBack)

        return self._store.run(decide)

    def balance(self, customer_id: UUID, as_of: datetime | None = None) -> int:
        """The customer's points balance now, or as it stood at `as_of`."""
        account = self.loyalty_account(customer_id, as_of=as_of)
        return account.balance if account else 0

    def loyalty_account(
        self, customer_id: UUID, as_of: datetime | None = None
    ) -> LoyaltyAccount | None:
        """The customer's points account (balance, purchase count, lifetime points, tier)."""
        customer = parse_id(customer_id, "customer_id")
        return self._load_as_of(loyalty.account_id(customer), loyalty.evolve_account, as_of)

    def statement(self, customer_id: UUID) -> list[StatementRow]:
        """Every points movement of the customer, oldest first, with the running balance."""
        customer = parse_id(customer_id, "customer_id")
        return statement_rows(self._store.events_of(loyalty.account_id(customer)))

    # --- helpers -----------------------------------------------------------

    def _business_time(self, at: datetime | None) -> datetime:
        return self._store.clock() if at is None else parse_time(at, "at")

    def _load_as_of(self, aggregate_id: UUID, evolve: Any, as_of: datetime | None) -> Any:
        when = parse_optional_time(as_of, "as_of")
        if when is None:
            return self._store.load(aggregate_id, evolve)
        return self._store.load_as_of(aggregate_id, evolve, when)


def _points_of(
    events: list[Event], kind: type[loyalty.PointsEarned | loyalty.PointsTakenBack]
) -> int:
    for event in events:
        if isinstance(event, kind):
            return event.points
    raise AssertionError(f"no {kind.__name__} among {events}")

