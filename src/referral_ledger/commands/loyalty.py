"""Loyalty points: the program's rules, earning, redeeming and returns.

Invoices and redemptions get records of their own at ids derived from their
upstream ids, saved with the account's events: the same invoice twice, from
any number of processes, collides in the store and earns once.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from uuid import UUID

from referral_ledger.aggregates import loyalty
from referral_ledger.aggregates import program as programs
from referral_ledger.aggregates.base import Event
from referral_ledger.aggregates.loyalty import LoyaltyAccount, Purchase
from referral_ledger.aggregates.program import LOYALTY_PROGRAM_ID, ProgramSettings
from referral_ledger.commands.base import LedgerBase
from referral_ledger.errors import (
    InvalidInput,
    ProgramNotConfigured,
)
from referral_ledger.policies.loyalty import LoyaltyProgram
from referral_ledger.projections.statement import StatementRow, statement_rows
from referral_ledger.store import (
    UnitOfWork,
)
from referral_ledger.values import (
    parse_id,
    parse_money,
    parse_points,
    parse_reference,
)


class LoyaltyCommands(LedgerBase):
    """Loyalty program and points commands and queries."""

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
        settings = self._load_as_of(LOYALTY_PROGRAM_ID, programs.evolve_loyalty_settings, as_of)
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
    ) -> int:
        """Record a purchase and earn its points; returns the points earned.

        The same `invoice_id` again with the same figures returns the first
        result and records nothing. The program's `eligible_groups` are matched
        against the customer's group as it stands when the purchase is recorded.
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

        def decide(unit: UnitOfWork) -> int:
            record = self._customer(unit, customer)
            invoice = unit.load(
                loyalty.invoice_record_id(purchase.invoice_id), loyalty.evolve_invoice
            )
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
                group=record.group,
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
            self._customer(unit, customer)
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
            self._customer(unit, customer)
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
        """The customer's points account (balance, purchase count, lifetime points, tier).

        None when the customer has no points movement (yet, or by `as_of`).
        """
        customer = self._known_customer(customer_id)
        return self._load_as_of(loyalty.account_id(customer), loyalty.evolve_account, as_of)

    def statement(self, customer_id: UUID) -> list[StatementRow]:
        """Every points movement of the customer, oldest first, with the running balance."""
        customer = self._known_customer(customer_id)
        return statement_rows(self._store.events_of(loyalty.account_id(customer)))


def _points_of(
    events: list[Event], kind: type[loyalty.PointsEarned | loyalty.PointsTakenBack]
) -> int:
    for event in events:
        if isinstance(event, kind):
            return event.points
    raise AssertionError(f"no {kind.__name__} among {events}")
