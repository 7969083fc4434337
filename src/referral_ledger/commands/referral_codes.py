"""Referral codes and commissions: commands, queries, and the steps a checkout takes.

The steps (`apply_referral_code`, `earn_commission`, `void_commission`)
record into the caller's unit of work, so they commit with the sale or the
return they belong to, or not at all. A checkout calls `apply_referral_code`
before it records the purchase (the buyer must not have bought before), then
`earn_commission` with the payable amount; a return calls `void_commission`.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from uuid import UUID

import attrs

from referral_ledger.aggregates import claims, loyalty
from referral_ledger.aggregates import commission as accounts
from referral_ledger.aggregates import customer_record as customers
from referral_ledger.aggregates import referral_code as codes
from referral_ledger.aggregates.claims import evolve_claim
from referral_ledger.aggregates.commission import (
    CommissionAccount,
    commission_account_id,
    evolve_commission_account,
)
from referral_ledger.aggregates.customer_record import CustomerRecord
from referral_ledger.aggregates.referral_code import (
    REFERRAL_CODE,
    REFERRAL_CODE_PROGRAM_ID,
    evolve_referred,
    evolve_settings,
    referred_id,
)
from referral_ledger.commands.base import LedgerBase
from referral_ledger.errors import InvalidInput, NotFound, ProgramNotConfigured, ReferralCodeRefused
from referral_ledger.policies import commissions as rules
from referral_ledger.policies.commissions import ReferralCodeProgram, parse_referral_code
from referral_ledger.store import UnitOfWork
from referral_ledger.values import RecordIds, parse_id, parse_reference

#: Draws of a new code before giving up (each taken with odds ~1 in 27 million).
_CODE_DRAWS = 20


@attrs.frozen
class CommissionRow:
    """One line of a referrer's commissions statement."""

    invoice_id: str
    #: The referred customer who bought.
    customer_id: UUID
    #: The payable amount the commission is a share of.
    amount: Decimal
    #: Net of returns before payout; negative on a line a return added after payout.
    commission: Decimal
    #: "pending" | "due" | "paid" | "void"
    status: str
    due_at: datetime


# --- steps a checkout runs in its own unit of work ----------------------------------


def _program(unit: UnitOfWork) -> ReferralCodeProgram | None:
    settings = unit.load(REFERRAL_CODE_PROGRAM_ID, evolve_settings)
    return None if settings is None else settings.program


def _share_contact(a: CustomerRecord, b: CustomerRecord) -> bool:
    return bool(set(a.phones) & set(b.phones)) or (a.email is not None and a.email == b.email)


def _refused(code: str, reason: str, why: str) -> ReferralCodeRefused:
    return ReferralCodeRefused(f"referral code {code!r} refused ({reason}): {why}", reason)


def apply_referral_code(
    unit: UnitOfWork,
    ids: RecordIds,
    code: str,
    *,
    customer_id: UUID,
    amount: Decimal,
    invoice_id: str,
    at: datetime,
) -> Decimal:
    """Use referral `code` on the new customer's first purchase: the discount, and the link.

    `ReferralCodeRefused` (nothing recorded) says why not: unknown code, own
    code, sharing a phone or email with its owner, bought before, referred
    already. The same invoice again returns its discount and records nothing.
    Call it before recording the purchase itself.
    """
    program = _program(unit)
    if program is None:
        raise ProgramNotConfigured("referral codes are not configured: configure_referral_codes")
    referred = unit.load(referred_id(customer_id), evolve_referred)
    if referred is not None and referred.invoice_id == invoice_id and referred.code == code:
        return referred.discount
    claim = unit.load(REFERRAL_CODE.record_id(code, ids), evolve_claim)
    if claim is None or claim.owner is None:
        raise _refused(code, "unknown", "no customer holds this code")
    owner = claim.owner
    if owner == customer_id:
        raise _refused(code, "own code", "a customer cannot use their own code")
    buyer = unit.load(customer_id, customers.evolve_customer)
    if buyer is None:
        raise NotFound(f"no customer with id {customer_id}")
    referrer = unit.load(owner, customers.evolve_customer)
    if referrer is not None and _share_contact(buyer, referrer):
        raise _refused(code, "shares contact", "the buyer shares a phone or email with its owner")
    if referred is not None:
        raise _refused(code, "already referred", f"the buyer was referred with {referred.code}")
    account = unit.load(loyalty.account_id(customer_id), loyalty.evolve_account)
    if account is not None and account.purchase_count > 0:
        raise _refused(code, "bought before", "a code is for a new customer's first purchase")
    discount = rules.referral_discount(program, amount)
    unit.new(referred_id(customer_id), evolve_referred)
    unit.record(codes.refer(customer_id, owner, code, invoice_id, at, discount, unit.now))
    return discount


def earn_commission(
    unit: UnitOfWork,
    *,
    customer_id: UUID,
    invoice_id: str,
    payable: Decimal,
    invoice_amount: Decimal,
    at: datetime,
) -> Decimal:
    """The commission a referred customer's purchase earns their referrer, recorded into `unit`.

    Zero (nothing recorded) when the buyer was not referred by code, the
    purchase is outside the commission window, the cap is reached, or buyer
    and referrer share a phone or email at this moment.
    """
    referred = unit.load(referred_id(customer_id), evolve_referred)
    program = _program(unit)
    if referred is None or program is None:
        return Decimal(0)
    if not rules.in_commission_window(program, referred.first_at, at):
        return Decimal(0)
    account = unit.load(commission_account_id(referred.referrer_id), evolve_commission_account)
    if account is None:
        return Decimal(0)
    if invoice_id in account.lines:
        return account.lines[invoice_id].earned
    buyer = unit.load(customer_id, customers.evolve_customer)
    referrer = unit.load(referred.referrer_id, customers.evolve_customer)
    if buyer is None or referrer is None or _share_contact(buyer, referrer):
        return Decimal(0)
    commission = rules.commission_for(program, payable, account.earned_from(customer_id))
    unit.record(
        accounts.earn(
            account,
            invoice_id=invoice_id,
            customer_id=customer_id,
            amount=payable,
            invoice_amount=invoice_amount,
            commission=commission,
            at=at,
            due_at=rules.due_at(program, at),
            now=unit.now,
        )
    )
    return commission if commission > 0 else Decimal(0)


def void_commission(
    unit: UnitOfWork, *, customer_id: UUID, invoice_id: str, returned: Decimal, at: datetime
) -> Decimal:
    """A return of `returned` (of the invoice's amount) takes back commission in proportion.

    Before payout the line shrinks (all of it returned: "void"); after, a
    negative line the next payout deducts. Returns the commission taken back.
    """
    referred = unit.load(referred_id(customer_id), evolve_referred)
    if referred is None:
        return Decimal(0)
    account = unit.load(commission_account_id(referred.referrer_id), evolve_commission_account)
    line = None if account is None else account.lines.get(invoice_id)
    if account is None or line is None:
        return Decimal(0)
    total_returned = min(line.returned + returned, line.invoice_amount)
    voided = rules.share_of(line.earned, total_returned, line.invoice_amount) - line.voided
    more = total_returned - line.returned
    unit.record(accounts.take_back(account, invoice_id, more, voided, at, unit.now))
    return voided


def mature_commissions(unit: UnitOfWork, account: CommissionAccount, at: datetime) -> None:
    """Make due, in `unit`, every pending line of `account` whose `due_at` is by `at`."""
    for line in account.open_lines():
        current = unit.load(account.id, evolve_commission_account)
        assert current is not None
        if line.status == "pending" and line.due_at <= at:
            unit.record(accounts.mature(current, line.invoice_id, line.due_at, unit.now))


# --- commands and queries -----------------------------------------------------------


class ReferralCodeCommands(LedgerBase):
    """Referral codes: the program, each customer's code, and the commissions they earn."""

    def configure_referral_codes(
        self, program: ReferralCodeProgram, at: datetime | None = None
    ) -> ReferralCodeProgram:
        """Set the referral-code rules from now on (the same rules again record nothing)."""
        if not isinstance(program, ReferralCodeProgram):
            raise InvalidInput(f"program must be a ReferralCodeProgram, not {program!r}")
        when = self._business_time(at)

        def decide(unit: UnitOfWork) -> None:
            settings = unit.load(REFERRAL_CODE_PROGRAM_ID, evolve_settings)
            unit.record(codes.configure(settings, program, unit.now, when))

        self._store.run(decide)
        return program

    def referral_code_program(self) -> ReferralCodeProgram | None:
        """The referral-code rules in force (None before any)."""
        settings = self._store.load(REFERRAL_CODE_PROGRAM_ID, evolve_settings)
        return None if settings is None else settings.program

    def referral_code(self, customer_id: UUID) -> str:
        """The customer's referral code: issued on first asking, the same ever after.

        Short (7 of 31 unambiguous characters) and unique: the code is a
        claim record, so two customers can never be issued the same one.
        """
        customer = parse_id(customer_id, "customer_id")
        account_id = commission_account_id(customer)

        def decide(unit: UnitOfWork) -> str:
            self._customer(unit, customer)
            account = unit.load(account_id, evolve_commission_account)
            if account is not None:
                return account.code
            for _ in range(_CODE_DRAWS):
                code = rules.new_code()
                record_id = REFERRAL_CODE.record_id(code, self._ids)
                if unit.load(record_id, evolve_claim) is None:
                    break
            else:  # pragma: no cover - odds of 1 in 27 million, twenty times over
                raise InvalidInput("could not draw a free referral code; try again")
            unit.new(account_id, evolve_commission_account)
            unit.record(
                claims.claim(REFERRAL_CODE, None, code, customer, unit.now, record_id=record_id)
            )
            unit.record(accounts.issue_code(customer, code, unit.now))
            return code

        return self._store.run(decide)

    def referral_code_owner(self, code: str) -> UUID:
        """Who holds referral `code`; NotFound if no one."""
        key = parse_referral_code(code)
        claim = self._store.load(REFERRAL_CODE.record_id(key, self._ids), evolve_claim)
        if claim is None or claim.owner is None:
            raise NotFound(f"no customer holds referral code {key!r}")
        return claim.owner

    def referred_by(self, customer_id: UUID) -> UUID | None:
        """Whose code the customer's first purchase used (None: none)."""
        customer = self._known_customer(customer_id)
        referred = self._store.load(referred_id(customer), evolve_referred)
        return None if referred is None else referred.referrer_id

    def commissions(self, referrer_id: UUID, as_of: datetime | None = None) -> list[CommissionRow]:
        """The referrer's commission lines, in the order recorded."""
        referrer = self._known_customer(referrer_id)
        account = self._load_as_of(
            commission_account_id(referrer), evolve_commission_account, as_of
        )
        if account is None:
            return []
        return [
            CommissionRow(
                invoice_id=line.invoice_id,
                customer_id=line.customer_id,
                amount=line.amount,
                commission=line.commission,
                status=line.status,
                due_at=line.due_at,
            )
            for line in account.in_order()
        ]

    def pay_commissions(
        self, referrer_id: UUID, payout_id: str, at: datetime | None = None
    ) -> Decimal:
        """Pay every due commission line of the referrer once; returns the amount paid.

        Lines whose `due_at` is by `at` are made due first (as `process_due`
        would). Negative lines (returns after an earlier payout) are deducted.
        Nothing due, or no more due than deducted: `Decimal(0)`, nothing
        recorded (the negative lines wait for the next payout). The same
        `payout_id` again returns the first amount.
        """
        referrer = self._known_customer(referrer_id)
        payout = parse_reference(payout_id, "payout_id")
        when = self._business_time(at)
        account_id = commission_account_id(referrer)

        def decide(unit: UnitOfWork) -> Decimal:
            account = unit.load(account_id, evolve_commission_account)
            if account is None:
                return Decimal(0)
            if payout in account.payouts:
                return account.payouts[payout]
            mature_commissions(unit, account, when)
            current = unit.load(account_id, evolve_commission_account)
            assert current is not None
            due = [line for line in current.open_lines() if line.status == "due"]
            total = sum((line.commission for line in due), Decimal(0))
            if not due or total <= 0:
                return Decimal(0)
            unit.record(accounts.pay(current, payout, due, when, unit.now))
            return total

        return self._store.run(decide)


__all__ = [
    "CommissionRow",
    "ReferralCodeCommands",
    "apply_referral_code",
    "earn_commission",
    "mature_commissions",
    "parse_referral_code",
    "void_commission",
]
