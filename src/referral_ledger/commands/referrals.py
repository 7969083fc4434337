"""Referrals: submit a lead, move it through its lifecycle, reward the referrer.

The automatic reward ("the referred business signed a contract") is not a
call chained inside `sign_contract`: it is a registered reaction
(`reactions/referrals.py`) that follows the log with a tracked position, so
it happens exactly once even if the process dies between the contract and the
reward, or two processes react at once. The unit-level steps it shares with
these commands (the program in force, the self-referral check, freeing a
closed referral's phone) are the module functions at the end.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from uuid import UUID

from referral_ledger.aggregates import customer as customers
from referral_ledger.aggregates import phones
from referral_ledger.aggregates import program as programs
from referral_ledger.aggregates import referral as referrals
from referral_ledger.aggregates.base import Event
from referral_ledger.aggregates.referral import Lead, Referral
from referral_ledger.commands.base import LedgerBase
from referral_ledger.errors import InvalidInput, NotFound, ReferrerNotEligible
from referral_ledger.policies import referral_rules as rules
from referral_ledger.policies.referral import ReferralProgram
from referral_ledger.store import UnitOfWork
from referral_ledger.values import (
    RecordIds,
    normalise_phone,
    parse_flag,
    parse_id,
    parse_money,
    parse_optional_text,
    parse_text,
    parse_website,
)

#: A lifecycle decision: (referral, business time, recording time) -> events.
_Decision = Callable[[Referral, datetime, datetime], list[Event]]
_UnitDecision = Callable[[UnitOfWork, Referral, datetime], list[Event]]


class ReferralCommands(LedgerBase):
    """Referral commands and queries."""

    # --- program -------------------------------------------------------------

    def configure_referrals(self, program: ReferralProgram) -> int:
        """Apply `program`'s reward rules from now on; returns its version number."""
        if not isinstance(program, ReferralProgram):
            raise InvalidInput(f"program must be a ReferralProgram, not {program!r}")

        def decide(unit: UnitOfWork) -> int:
            settings = unit.load(programs.REFERRAL_PROGRAM_ID, programs.evolve_referral_settings)
            unit.record(programs.configure_referrals(settings, program, unit.now))
            return 1 if settings is None else settings.version + 1

        return self._store.run(decide)

    def referral_program(self, as_of: datetime | None = None) -> ReferralProgram:
        """The referral reward rules in force now, or at `as_of`."""
        settings = self._load_as_of(
            programs.REFERRAL_PROGRAM_ID, programs.evolve_referral_settings, as_of
        )
        return ReferralProgram() if settings is None else settings.program

    # --- commands ------------------------------------------------------------

    def submit_referral(
        self,
        referrer_id: UUID,
        name: str,
        phone: str,
        industry: str,
        email: str | None = None,
        business_name: str | None = None,
        website: str | None = None,
        program: str = "pos",
        sales_assistance: bool = False,
        at: datetime | None = None,
    ) -> UUID:
        """Refer a lead; returns the new referral's id.

        Refused unless the referrer has a contract in force on the day of `at`
        (`ReferrerNotEligible`), when the lead's phone belongs to a customer or
        to another open referral (`DuplicatePhone`), or is the referrer's own.
        """
        referrer = parse_id(referrer_id, "referrer_id")
        lead = Lead(
            name=parse_text(name, "name"),
            phone=normalise_phone(phone, self.phone_region),
            industry=parse_text(industry, "industry"),
            email=customers.parse_email(email),
            business_name=parse_optional_text(business_name, "business_name"),
            website=parse_website(website),
        )
        program_name = parse_text(program, "program")
        assistance = parse_flag(sales_assistance, "sales_assistance")
        when = self._business_time(at)
        # The day the referrer must hold a contract on: a given time counts by
        # its date where it was given (as `contract_in_force` does); "now" by
        # the date where the business is.
        day = self._business_day(when) if at is None else at.date()
        referral_id = uuid.uuid4()

        def decide(unit: UnitOfWork) -> UUID:
            customer = unit.load(referrer, customers.evolve_customer)
            if customer is None:
                raise NotFound(f"no customer with id {referrer}")
            rules.check_referrer(referrer, customer.contracts, day)
            index = unit.load(self._claim_id(phones.PHONE, lead.phone), phones.evolve_phone)
            rules.check_lead_phone(
                lead.phone,
                referrer_phones=customer.phones,
                owners=() if index is None else index.owners,
                open_referral=None if index is None else index.open_referral,
            )
            unit.new(referral_id, referrals.evolve)
            unit.record(
                referrals.submit(
                    referral_id,
                    referrer_id=referrer,
                    lead=lead,
                    program=program_name,
                    sales_assistance=assistance,
                    at=when,
                    now=unit.now,
                )
            )
            record_id = self._claim_id(phones.PHONE, lead.phone)
            unit.record(
                phones.claim_for_lead(index, lead.phone, referral_id, unit.now, record_id=record_id)
            )
            return referral_id

        return self._store.run(decide)

    def assign_rep(
        self, referral_id: UUID, rep: str, note: str | None = None, at: datetime | None = None
    ) -> None:
        """Assign (or reassign) the sales rep of an open referral."""
        rep_name = parse_text(rep, "rep")
        text = parse_optional_text(note, "note")
        self._change(
            referral_id,
            at,
            lambda referral, when, now: referrals.assign_rep(
                referral, rep=rep_name, note=text, at=when, now=now
            ),
        )

    def start_referral(
        self,
        referral_id: UUID,
        rep: str | None = None,
        note: str | None = None,
        at: datetime | None = None,
    ) -> None:
        """Move a submitted referral to in progress (`rep=` also assigns the rep)."""
        rep_name = parse_optional_text(rep, "rep")
        text = parse_optional_text(note, "note")
        self._change(
            referral_id,
            at,
            lambda referral, when, now: referrals.start(
                referral, rep=rep_name, note=text, at=when, now=now
            ),
        )

    def reward_referral(
        self,
        referral_id: UUID,
        amount: Decimal | int | str | None = None,
        plan: str | None = None,
        note: str | None = None,
        at: datetime | None = None,
    ) -> Decimal:
        """Reward the referrer; `amount=None` pays the program's reward for `plan`.

        Returns the amount paid. More than the program's cap raises `InvalidInput`.
        A referrer is never rewarded for referring itself: when the lead's
        customer is the referrer, the referrer holds the lead's phone, or the
        two share a phone, `ReferrerNotEligible` says which (nothing recorded).
        """
        paid = None if amount is None else parse_money(amount, "amount")
        plan_name = parse_optional_text(plan, "plan")
        text = parse_optional_text(note, "note")

        def decide(unit: UnitOfWork, referral: Referral, when: datetime) -> list[Event]:
            why = self_referral(unit, referral, referral.referred_customer_id, self._ids)
            if why is not None and referral.status.is_open:
                raise ReferrerNotEligible(f"referral {referral.id} cannot be rewarded: {why}")
            return referrals.reward(
                referral,
                amount=paid,
                plan=plan_name,
                note=text,
                program=referral_program(unit),
                at=when,
                now=unit.now,
            )

        rewarded = self._change_with_unit(referral_id, at, decide)
        assert rewarded.reward is not None
        return rewarded.reward

    def mark_ineligible(self, referral_id: UUID, reason: str, at: datetime | None = None) -> None:
        """Close a referral without a reward, saying why."""
        why = parse_text(reason, "reason")
        self._change(
            referral_id,
            at,
            lambda referral, when, now: referrals.mark_ineligible(
                referral, reason=why, at=when, now=now
            ),
        )

    def get_referral(self, referral_id: UUID, as_of: datetime | None = None) -> Referral:
        """A referral with its status, lead, rep, reward and timeline (now, or at `as_of`)."""
        rid = parse_id(referral_id, "referral_id")
        referral = self._load_as_of(rid, referrals.evolve, as_of)
        if referral is None:
            raise NotFound(f"no referral with id {rid}")
        return referral

    # --- plumbing --------------------------------------------------------------

    def _change(self, referral_id: UUID, at: datetime | None, decide: _Decision) -> None:
        self._change_with_unit(
            referral_id, at, lambda unit, referral, when: decide(referral, when, unit.now)
        )

    def _change_with_unit(
        self, referral_id: UUID, at: datetime | None, decide: _UnitDecision
    ) -> Referral:
        """Load, decide, save one referral; returns it as the change left it."""
        rid = parse_id(referral_id, "referral_id")
        when = self._business_time(at)

        def run(unit: UnitOfWork) -> Referral:
            referral = unit.load(rid, referrals.evolve)
            if referral is None:
                raise NotFound(f"no referral with id {rid}")
            unit.record(decide(unit, referral, when))
            release_if_closed(unit, rid, self._ids)
            changed = unit.load(rid, referrals.evolve)
            assert changed is not None
            return changed

        return self._store.run(run)


# --- unit-level steps shared with the automatic reward -------------------------------


def referral_program(unit: UnitOfWork) -> ReferralProgram:
    """The referral program in force, as this unit reads it."""
    settings = unit.load(programs.REFERRAL_PROGRAM_ID, programs.evolve_referral_settings)
    return ReferralProgram() if settings is None else settings.program


def self_referral(
    unit: UnitOfWork, referral: Referral, lead_customer: UUID | None, ids: RecordIds
) -> str | None:
    """Why rewarding `referral` now would pay the referrer for itself, or None.

    `lead_customer` is the customer the lead became (None: not linked yet;
    then whoever holds the lead's phone stands for it).
    """
    referrer = unit.load(referral.referrer_id, customers.evolve_customer)
    index = unit.load(phones.phone_record_id(referral.lead.phone, ids), phones.evolve_phone)
    owners = () if index is None else index.owners
    if lead_customer is None and owners:
        lead_customer = owners[0]
    lead = None if lead_customer is None else unit.load(lead_customer, customers.evolve_customer)
    return rules.self_referral(
        referrer_id=referral.referrer_id,
        referrer_phones=() if referrer is None else referrer.phones,
        lead_phone=referral.lead.phone,
        lead_phone_owners=owners,
        lead_customer_id=lead_customer,
        lead_customer_phones=() if lead is None else lead.phones,
    )


def release_if_closed(unit: UnitOfWork, referral_id: UUID, ids: RecordIds) -> None:
    """Free the lead's phone of a referral that is rewarded or ineligible."""
    # A closed referral no longer holds its lead's phone: the lead may be
    # referred again (by anyone) once this one is rewarded or ineligible.
    referral = unit.load(referral_id, referrals.evolve)
    assert referral is not None
    if referral.status.is_open:
        return
    index = unit.load(phones.phone_record_id(referral.lead.phone, ids), phones.evolve_phone)
    unit.record(phones.release_lead(index, referral.lead.phone, referral_id, unit.now))
