"""The ledger as it stood: every customer's balance and every referral's status
as recorded by a past moment, replayed from the log."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Final
from uuid import UUID

import attrs
from eventsourcing.utils import get_topic

from referral_ledger.aggregates.customer import CustomerRegistered
from referral_ledger.aggregates.referral import ReferralStatus, ReferralSubmitted
from referral_ledger.audit.log import read_log
from referral_ledger.values import parse_time

if TYPE_CHECKING:
    from referral_ledger.ledger import Ledger


@attrs.frozen
class BalanceAsOf:
    """A customer's points as they stood."""

    customer_id: UUID
    name: str
    phone: str
    balance: int
    lifetime_points: int
    tier: str | None


@attrs.frozen
class ReferralAsOf:
    """A referral's status as it stood."""

    referral_id: UUID
    referrer_id: UUID
    lead: str
    status: ReferralStatus
    rep: str | None
    reward: Decimal | None


@attrs.frozen
class StateAsOf:
    """Every customer's balance and every referral's status at `as_of`."""

    as_of: datetime
    balances: tuple[BalanceAsOf, ...]
    referrals: tuple[ReferralAsOf, ...]


CUSTOMER_TOPICS: Final = (get_topic(CustomerRegistered),)
REFERRAL_TOPICS: Final = (get_topic(ReferralSubmitted),)


def state_as_of(ledger: Ledger, as_of: datetime) -> StateAsOf:
    """Balances and referral statuses as recorded by `as_of`, replayed from the log."""
    when = parse_time(as_of, "as_of")
    balances = []
    for entry in read_log(ledger, CUSTOMER_TOPICS):
        event = entry.event
        if not isinstance(event, CustomerRegistered) or event.timestamp > when:
            continue
        customer = ledger.get_customer(event.originator_id, as_of=when)
        account = ledger.loyalty_account(event.originator_id, as_of=when)
        balances.append(
            BalanceAsOf(
                customer_id=customer.id,
                name=customer.name,
                phone=customer.phone,
                balance=account.balance if account else 0,
                lifetime_points=account.lifetime_points if account else 0,
                tier=account.tier if account else None,
            )
        )
    referrals = []
    for entry in read_log(ledger, REFERRAL_TOPICS):
        event = entry.event
        if not isinstance(event, ReferralSubmitted) or event.timestamp > when:
            continue
        referral = ledger.get_referral(event.originator_id, as_of=when)
        referrals.append(
            ReferralAsOf(
                referral_id=referral.id,
                referrer_id=referral.referrer_id,
                lead=referral.lead.name,
                status=referral.status,
                rep=referral.rep,
                reward=referral.reward,
            )
        )
    return StateAsOf(when, tuple(balances), tuple(referrals))
