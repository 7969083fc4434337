"""Loyalty points: the program's rules, earning, redeeming and returns.

Invoices and redemptions get records of their own at ids derived from their
upstream ids, saved with the account's events: the same invoice twice, from
any number of processes, collides in the store and earns once.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import attrs

from referral_ledger.aggregates import customer_record as customers
from referral_ledger.aggregates import loyalty, loyalty_account, loyalty_decisions
from referral_ledger.aggregates import program as programs
from referral_ledger.aggregates.base import Event, Evolve
from referral_ledger.aggregates.campaign import CAMPAIGN_BOOK_ID, evolve_book
from referral_ledger.aggregates.customer_record import POS_ID
from referral_ledger.aggregates.loyalty_decisions import Purchase
from referral_ledger.aggregates.program import LOYALTY_PROGRAM_ID, ProgramSettings
from referral_ledger.aggregates.referral_code import (
    REFERRAL_CODE_PROGRAM_ID,
    evolve_referred,
    referred_id,
)
from referral_ledger.aggregates.referral_code import evolve_settings as evolve_code_settings
from referral_ledger.commands import campaigns as campaign_steps
from referral_ledger.commands import sale_steps
from referral_ledger.commands.points import PointsQueries
from referral_ledger.errors import (
    InvalidInput,
    NotFound,
    ProgramNotConfigured,
)
from referral_ledger.policies.loyalty import LoyaltyProgram
from referral_ledger.store import (
    UnitOfWork,
)
from referral_ledger.values import (
    EXACT,
    RecordIds,
    parse_id,
    parse_money,
    parse_points,
    parse_reference,
)


@attrs.frozen
class Earned:
    """What one purchase earned: all its points, the campaigns' part of them, and
    whether this command recorded it (False: the invoice was recorded before)."""

    points: int
    bonus: int
    recorded: bool


class LoyaltyCommands(PointsQueries):
    """Loyalty program and points commands (the queries are `PointsQueries`')."""

    # --- loyalty program ---------------------------------------------------

    def configure_loyalty(self, program: LoyaltyProgram, at: datetime | None = None) -> int:
        """Apply `program` from now on; returns its version number.

        `at` is the business moment of the decision, recorded with it. The
        program applies to purchases recorded from now on, whatever their own
        `at`: a purchase backfilled to before `at` still earns by it, and one
        backfilled after `at` but recorded now does too.
        """
        if not isinstance(program, LoyaltyProgram):
            raise InvalidInput(f"program must be a LoyaltyProgram, not {program!r}")
        when = self._business_time(at)

        def decide(unit: UnitOfWork) -> int:
            settings = unit.load(LOYALTY_PROGRAM_ID, programs.evolve_loyalty_settings)
            if settings is not None and settings.program == program:
                # Hosts configure at every start: the same settings are no change.
                return settings.version
            unit.record(programs.configure_loyalty(settings, program, unit.now, when))
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
        purchase = self._purchase(invoice_id, amount, discounted_amount, points_used, at)
        reads = _earn_reads(customer, purchase, self._ids)

        def decide(unit: UnitOfWork) -> int:
            unit.prefetch(reads)
            points = self._earn(unit, customer, purchase).points
            # A referred customer's ordinary purchases earn their referrer commission too.
            sale_steps.after_purchase(
                unit,
                customer_id=customer,
                invoice_id=purchase.invoice_id,
                amount=purchase.amount,
                payable=purchase.amount,
                at=purchase.at,
            )
            return points

        return self._store.run(decide)

    def _purchase(
        self,
        invoice_id: object,
        amount: object,
        discounted: object,
        points_used: object,
        at: object,
    ) -> Purchase:
        purchase = Purchase(
            invoice_id=parse_reference(invoice_id, "invoice_id"),
            amount=parse_money(amount, "amount"),
            discounted_amount=parse_money(discounted, "discounted_amount"),
            points_used=parse_points(points_used, "points_used"),
            at=self._business_time(at),
        )
        if purchase.discounted_amount > purchase.amount:
            raise InvalidInput(
                f"discounted_amount {purchase.discounted_amount} is more than the amount "
                f"{purchase.amount}"
            )
        return purchase

    def _earn(
        self,
        unit: UnitOfWork,
        customer: UUID,
        purchase: Purchase,
        *,
        redeemed: tuple[int, Decimal] = (0, Decimal(0)),
        discounts: tuple[str | None, Decimal, Decimal] = (None, Decimal(0), Decimal(0)),
    ) -> Earned:
        """Earn for one purchase in `unit`: the one earning step of every sale.

        `record_purchase`, `import_purchases` and `checkout` all come here, so
        campaign bonuses, limits and budgets apply to each alike. `redeemed`
        (points, value) and `discounts` (voucher code, its discount, the
        referral code's) are `checkout`'s: base points are on the money paid
        after them, and a campaign's multiplier on those base points.
        Prefetch `_earn_reads` first, or each record is read by a query of its own.
        """
        record = self._customer(unit, customer)
        invoice_record = self._claim_id(loyalty.INVOICE, purchase.invoice_id)
        invoice = unit.load(invoice_record, loyalty.evolve_invoice)
        if invoice is not None:
            loyalty_decisions.check_same_purchase(invoice, customer, purchase)
            return Earned(invoice.points, invoice.bonus_points, recorded=False)
        settings = self._loyalty_settings(unit)
        account = unit.load(loyalty.account_id(customer), loyalty_account.evolve_account)
        base = loyalty_decisions.base_points(
            purchase, settings.program, record.group, redeemed, discounts
        )
        found = campaign_steps.bonuses(
            unit,
            self._ids,
            record=record,
            tier=account.tier if account else None,
            purchase=purchase,
            base_points=base,
        )
        events = loyalty_decisions.earn(
            account,
            customer_id=customer,
            purchase=purchase,
            program=settings.program,
            program_version=settings.version,
            group=record.group,
            now=unit.now,
            invoice_record=invoice_record,
            zone=self.business_timezone,
            redeemed=redeemed,
            discounts=discounts,
            bonuses=tuple(bonus for _, bonus in found),
        )
        points = _points_of(events, loyalty.PointsEarned)
        events += campaign_steps.counted(
            found,
            customer_id=customer,
            purchase=purchase,
            base_points=base,
            points=points,
            now=unit.now,
        )
        unit.record(events)
        return Earned(points, sum(bonus.points for _, bonus in found), recorded=True)

    def _external(self, unit: UnitOfWork, external_id: str) -> UUID:
        link = self._load_claim(unit, POS_ID, external_id)
        if link is None or link.owner is None:
            raise NotFound(f"no customer with external_id {external_id!r}")
        return link.owner

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

        redemption_record = self._claim_id(loyalty.REDEMPTION, reference)
        reads: list[tuple[UUID, Evolve[Any]]] = [
            (customer, customers.evolve_customer),
            (redemption_record, loyalty.evolve_redemption),
            (LOYALTY_PROGRAM_ID, programs.evolve_loyalty_settings),
            (loyalty.account_id(customer), loyalty_account.evolve_account),
        ]

        def decide(unit: UnitOfWork) -> Decimal:
            unit.prefetch(reads)
            self._customer(unit, customer)
            record = unit.load(redemption_record, loyalty.evolve_redemption)
            if record is not None:
                loyalty_decisions.check_same_redemption(record, customer, wanted)
                return record.value
            settings = self._loyalty_settings(unit)
            account = unit.load(loyalty.account_id(customer), loyalty_account.evolve_account)
            room, lots = self._room(account, when)
            events = loyalty_decisions.redeem(
                account,
                customer_id=customer,
                redemption_id=reference,
                points=wanted,
                program=settings.program,
                program_version=settings.version,
                at=when,
                now=unit.now,
                redemption_record=redemption_record,
                room=room,
                lots=lots,
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
        event's `shortfall`. The referrer's commission is taken back in the same
        proportion, and a full return gives a checkout's voucher use back.
        """
        customer = parse_id(customer_id, "customer_id")
        reference = parse_reference(invoice_id, "invoice_id")
        returned = None if amount is None else parse_money(amount, "amount")
        when = self._business_time(at)

        invoice_record = self._claim_id(loyalty.INVOICE, reference)
        reads: list[tuple[UUID, Evolve[Any]]] = [
            (customer, customers.evolve_customer),
            (invoice_record, loyalty.evolve_invoice),
            (LOYALTY_PROGRAM_ID, programs.evolve_loyalty_settings),
            (loyalty.account_id(customer), loyalty_account.evolve_account),
        ]

        def decide(unit: UnitOfWork) -> int:
            unit.prefetch(reads)
            self._customer(unit, customer)
            invoice = unit.load(invoice_record, loyalty.evolve_invoice)
            settings = self._loyalty_settings(unit)
            account = unit.load(loyalty.account_id(customer), loyalty_account.evolve_account)
            room, lots = self._room(account, when)
            events = loyalty_decisions.take_back(
                account,
                invoice,
                customer_id=customer,
                invoice_id=reference,
                amount=returned,
                program=settings.program,
                at=when,
                now=unit.now,
                room=room,
                lots=lots,
                zone=self.business_timezone,
            )
            assert invoice is not None  # take_back refuses an unknown invoice
            owed = next(e.points for e in events if isinstance(e, loyalty.InvoiceReturned))
            events += campaign_steps.returned(unit, self._ids, invoice, points=owed, at=when)
            unit.record(events)
            back = next(e for e in events if isinstance(e, loyalty.InvoiceReturned))
            sale_steps.after_return(
                unit,
                self._ids,
                customer_id=customer,
                invoice_id=reference,
                voucher=invoice.voucher,
                returned=back.amount,
                fully_returned=EXACT.add(invoice.returned_amount, back.amount) >= invoice.amount,
                at=when,
            )
            return _points_of(events, loyalty.PointsTakenBack)

        return self._store.run(decide)


def _earn_reads(
    customer: UUID, purchase: Purchase, ids: RecordIds
) -> list[tuple[UUID, Evolve[Any]]]:
    """The records earning for `purchase` reads (see `_earn`)."""
    return [
        (customer, customers.evolve_customer),
        (loyalty.INVOICE.record_id(purchase.invoice_id, ids), loyalty.evolve_invoice),
        (LOYALTY_PROGRAM_ID, programs.evolve_loyalty_settings),
        (loyalty.account_id(customer), loyalty_account.evolve_account),
        (CAMPAIGN_BOOK_ID, evolve_book),
        # What the referrer's commission reads (`sale_steps.after_purchase`).
        (referred_id(customer), evolve_referred),
        (REFERRAL_CODE_PROGRAM_ID, evolve_code_settings),
    ]


def _points_of(
    events: list[Event], kind: type[loyalty.PointsEarned | loyalty.PointsTakenBack]
) -> int:
    for event in events:
        if isinstance(event, kind):
            return event.points
    raise AssertionError(f"no {kind.__name__} among {events}")
