"""The automatic reward: a lead who became a customer signs a contract, and its
open referral is rewarded (or, if the referrer would be paid for itself,
closed as ineligible), exactly once.

It follows two event types. A phone claimed by a customer links the open
referral whose lead has that phone to the customer (the lead registered, or
added the number later). A contract signed by a customer rewards the open
referrals linked to that customer: the reward follows the referred
*customer*, so a lead who changed its phone after registering is still
rewarded, and whoever takes the lead's old number does not collect it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final
from uuid import UUID

from referral_ledger.aggregates import customer as customers
from referral_ledger.aggregates import phones
from referral_ledger.aggregates import referral as referrals
from referral_ledger.aggregates.base import Event
from referral_ledger.aggregates.referral import Referral
from referral_ledger.commands.referrals import referral_program as program_in_force
from referral_ledger.commands.referrals import release_if_closed, self_referral
from referral_ledger.reactions.registry import Context, reaction
from referral_ledger.store import UnitOfWork
from referral_ledger.values import RecordIds

#: The reaction's name in the tracking table: stores written by 0.1 hold their
#: position under it, so renaming it would redo (or skip) their rewards.
AUTOMATIC_REWARDS: Final = "automatic-rewards"


def signed_at(event: customers.ContractSigned) -> datetime:
    """When the contract was signed, in business time: what dates its reward."""
    # Events recorded by 0.1 have no business `at`; they are upcast with
    # at = their timestamp (they were signed when they were recorded).
    return event.at


def reward_on_contract(unit: UnitOfWork, event: Event, context: Context) -> None:
    """Link a lead that became a customer; reward it when that customer signs."""
    if isinstance(event, phones.PhoneClaimed):
        referral = _link(unit, event.phone, event.customer_id, event.timestamp, context.ids)
        if referral is not None and referral.referred_customer_id == referral.referrer_id:
            # The referrer took the lead's number itself: this lead will never
            # be a new customer, whatever it signs.
            _close(unit, referral, event.timestamp, None, context.ids)
    elif isinstance(event, customers.ContractSigned):
        for referral in _referrals_of(unit, context, event):
            _close(unit, referral, signed_at(event), event, context.ids)


def _close(
    unit: UnitOfWork,
    referral: Referral,
    at: datetime,
    contract: customers.ContractSigned | None,
    ids: RecordIds,
) -> None:
    """Reward `referral` for `contract`, or mark it ineligible if that would pay a self-referral."""
    # The timeline is a history: never date a change before its last one.
    at = max(at, referral.updated_at)
    why = self_referral(unit, referral, referral.referred_customer_id, ids)
    if why is not None:
        unit.record(
            referrals.mark_ineligible(referral, reason=f"self-referral: {why}", at=at, now=unit.now)
        )
    elif contract is not None:
        unit.record(
            referrals.reward(
                referral,
                amount=None,
                plan=contract.plan,
                note=f"contract {contract.contract_id} signed",
                program=program_in_force(unit),
                at=at,
                now=unit.now,
                automatic=True,
            )
        )
    release_if_closed(unit, referral.id, ids)


def _link(
    unit: UnitOfWork, phone: str, customer_id: UUID, at: datetime, ids: RecordIds
) -> Referral | None:
    """The open referral of the lead `phone`, linked to `customer_id` (None: no such referral,
    or it stands for another customer)."""
    index = unit.load(phones.phone_record_id(phone, ids), phones.evolve_phone)
    if index is None or index.open_referral is None:
        return None
    referral = unit.load(index.open_referral, referrals.evolve)
    if referral is None or referral.referred_customer_id not in (None, customer_id):
        return None
    unit.record(referrals.link_customer(referral, customer_id=customer_id, at=at, now=unit.now))
    return unit.load(index.open_referral, referrals.evolve)


def _referrals_of(
    unit: UnitOfWork, context: Context, contract: customers.ContractSigned
) -> list[Referral]:
    """The open referrals whose lead is the customer who signed `contract`.

    Those linked to the customer, found through every phone it held up to the
    signing (a lead that changed its number since keeps its referral), and
    those of a phone it held when signing that no one is linked to yet (a
    store whose links were recorded before the signing was processed).
    """
    held_when_signing: tuple[str, ...] = ()
    ever_held: set[str] = set()
    record: customers.CustomerRecord | None = None
    for event in context.store.events_of(contract.customer_id):
        if event.originator_version > contract.originator_version:
            break
        record = customers.evolve_customer(record, event)
        ever_held.update(record.phones)
    if record is not None:
        held_when_signing = record.phones
    found: dict[UUID, Referral] = {}
    for phone in sorted(ever_held):
        index = unit.load(phones.phone_record_id(phone, context.ids), phones.evolve_phone)
        if index is None or index.open_referral is None or index.open_referral in found:
            continue
        referral = unit.load(index.open_referral, referrals.evolve)
        if referral is None or not referral.status.is_open:
            continue
        if referral.referred_customer_id is None and phone in held_when_signing:
            referral = _link(unit, phone, contract.customer_id, contract.timestamp, context.ids)
        if referral is not None and referral.referred_customer_id == contract.customer_id:
            found[referral.id] = referral
    return list(found.values())


reaction(AUTOMATIC_REWARDS, (phones.PhoneClaimed, customers.ContractSigned), reward_on_contract)
