"""A referrer's account: their referral code and their commission lines.

One record per customer who holds a code, at an id derived from their
customer id. Every commission they earn, its maturity, its voiding and its
payout are events of this record, so a payout pays each due line exactly
once (two payouts at once both save the same next version; one commits),
and the cap per referred customer is checked against every line at once.

A line's status: "pending" (in its return window), "due" (matured, see the
"commission-maturity" job), "paid", or "void" (its purchase fully returned
before payout). A return after payout adds a negative line ("due", then
"paid" by the payout that deducts it).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Final
from uuid import UUID

import attrs
from immutables import Map

from referral_ledger.aggregates.base import Event, next_event
from referral_ledger.values import derived_id


def commission_account_id(customer_id: UUID) -> UUID:
    """The id of `customer_id`'s referrer account."""
    return derived_id("referrer-account", customer_id.hex)


# --- events ----------------------------------------------------------------


@attrs.frozen(kw_only=True)
class ReferralCodeIssued(Event):
    customer_id: UUID
    code: str


@attrs.frozen(kw_only=True)
class CommissionEarned(Event):
    invoice_id: str
    customer_id: UUID
    #: The payable amount the commission is a share of, and the invoice's
    #: amount (returns are shares of it).
    amount: Decimal
    invoice_amount: Decimal
    commission: Decimal
    at: datetime
    due_at: datetime


@attrs.frozen(kw_only=True)
class CommissionMatured(Event):
    invoice_id: str
    at: datetime


@attrs.frozen(kw_only=True)
class CommissionReturned(Event):
    """A return of `returned` of the invoice: `voided` less commission (before payout),
    or a negative line of `-voided` (after)."""

    invoice_id: str
    returned: Decimal
    voided: Decimal
    after_payout: bool
    at: datetime


@attrs.frozen(kw_only=True)
class CommissionsPaid(Event):
    payout_id: str
    amount: Decimal
    #: The keys of the lines paid (`Line.key`).
    lines: tuple[str, ...]
    at: datetime


# --- state -----------------------------------------------------------------


@attrs.frozen(kw_only=True)
class Line:
    """A commission line: a purchase's commission, or a negative line after a return."""

    #: The invoice id, or "<invoice>\x00<version>" for a negative line of it.
    key: str
    #: Its place among the account's lines, in the order recorded (from 0).
    seq: int
    invoice_id: str
    customer_id: UUID
    amount: Decimal
    invoice_amount: Decimal
    #: What the line is worth now (net of returns before payout; negative for a clawback).
    commission: Decimal
    status: str
    due_at: datetime
    #: How much of the invoice has been returned so far (on a purchase line).
    returned: Decimal = Decimal(0)
    #: All the commission ever voided or clawed back for it (on a purchase line).
    voided: Decimal = Decimal(0)
    #: The commission as earned (on a purchase line).
    earned: Decimal = Decimal(0)


#: The statuses of lines a payout has still to deal with.
OPEN: Final = frozenset({"pending", "due"})


@attrs.frozen(kw_only=True)
class CommissionAccount:
    """A referrer's account.

    The maps are persistent (`immutables.Map`, a hash array mapped trie):
    the state after an event shares all but O(log n) of its nodes with the
    state before, so applying an event costs the same with 10 lines or
    100,000. A plain dict copied per event made an import quadratic in the
    referrer's lines (issue #15). Every field is required, so a snapshot of
    an older shape does not load (the events are replayed instead).
    """

    id: UUID
    version: int
    customer_id: UUID
    code: str
    #: By key (`Line.seq` gives the order recorded).
    lines: Map[str, Line]
    #: The keys of the pending and due lines -> their `seq`: what maturing
    #: and paying look at, without walking the paid and void ones.
    open: Map[str, int]
    #: Referred customer -> commission earned on their purchases net of
    #: returns (what the cap counts).
    earned: Map[UUID, Decimal]
    #: Payout id -> amount paid.
    payouts: Map[str, Decimal]

    @property
    def snapshot_size(self) -> int:
        """How many lines a snapshot of the account holds (the store spaces them by it)."""
        return len(self.lines)

    def earned_from(self, customer_id: UUID) -> Decimal:
        """Commission earned on `customer_id`'s purchases, net of returns (what the cap counts)."""
        return self.earned.get(customer_id, Decimal(0))

    def in_order(self) -> list[Line]:
        """Every line, in the order recorded."""
        return sorted(self.lines.values(), key=_seq)

    def open_lines(self) -> list[Line]:
        """The pending and due lines, in the order recorded."""
        return [self.lines[key] for key in sorted(self.open, key=self.open.__getitem__)]


def _seq(line: Line) -> int:
    return line.seq


# --- decisions -------------------------------------------------------------


def issue_code(customer_id: UUID, code: str, now: datetime) -> list[Event]:
    origin = next_event(None, now, record_id=commission_account_id(customer_id))
    return [ReferralCodeIssued(**origin, customer_id=customer_id, code=code)]


def earn(
    account: CommissionAccount,
    *,
    invoice_id: str,
    customer_id: UUID,
    amount: Decimal,
    invoice_amount: Decimal,
    commission: Decimal,
    at: datetime,
    due_at: datetime,
    now: datetime,
) -> list[Event]:
    if invoice_id in account.lines or commission <= 0:
        return []
    return [
        CommissionEarned(
            **next_event(account, now),
            invoice_id=invoice_id,
            customer_id=customer_id,
            amount=amount,
            invoice_amount=invoice_amount,
            commission=commission,
            at=at,
            due_at=due_at,
        )
    ]


def mature(account: CommissionAccount, invoice_id: str, at: datetime, now: datetime) -> list[Event]:
    """Make a pending line due (nothing if it is not pending)."""
    line = account.lines.get(invoice_id)
    if line is None or line.status != "pending":
        return []
    return [CommissionMatured(**next_event(account, now), invoice_id=invoice_id, at=at)]


def take_back(
    account: CommissionAccount,
    invoice_id: str,
    returned: Decimal,
    voided: Decimal,
    at: datetime,
    now: datetime,
) -> list[Event]:
    """Record a return of `returned` more of the invoice, voiding `voided` more commission."""
    line = account.lines.get(invoice_id)
    if line is None or line.status == "void" or returned <= 0:
        return []
    return [
        CommissionReturned(
            **next_event(account, now),
            invoice_id=invoice_id,
            returned=returned,
            voided=voided,
            after_payout=line.status == "paid",
            at=at,
        )
    ]


def pay(
    account: CommissionAccount, payout_id: str, due: list[Line], at: datetime, now: datetime
) -> list[Event]:
    """Pay the `due` lines (negative ones deducted) under `payout_id`."""
    total = sum((line.commission for line in due), Decimal(0))
    return [
        CommissionsPaid(
            **next_event(account, now),
            payout_id=payout_id,
            amount=total,
            lines=tuple(line.key for line in due),
            at=at,
        )
    ]


# --- evolve ----------------------------------------------------------------


def evolve_commission_account(state: CommissionAccount | None, event: Event) -> CommissionAccount:
    version = event.originator_version
    if isinstance(event, ReferralCodeIssued):
        return CommissionAccount(
            id=event.originator_id,
            version=version,
            customer_id=event.customer_id,
            code=event.code,
            lines=Map(),
            open=Map(),
            earned=Map(),
            payouts=Map(),
        )
    if state is None:
        raise TypeError(f"not the first event of a referrer account: {event!r}")
    if isinstance(event, CommissionsPaid):
        # One mutation per map, however many lines the payout pays.
        with state.lines.mutate() as paid_lines, state.open.mutate() as left_open:
            for key in event.lines:
                paid_lines[key] = attrs.evolve(paid_lines[key], status="paid")
                left_open.pop(key, None)
            return attrs.evolve(
                state,
                version=version,
                lines=paid_lines.finish(),
                open=left_open.finish(),
                payouts=state.payouts.set(event.payout_id, event.amount),
            )
    changed: list[Line] = []
    earned = state.earned
    if isinstance(event, CommissionEarned):
        changed.append(
            Line(
                key=event.invoice_id,
                seq=len(state.lines),
                invoice_id=event.invoice_id,
                customer_id=event.customer_id,
                amount=event.amount,
                invoice_amount=event.invoice_amount,
                commission=event.commission,
                earned=event.commission,
                status="pending",
                due_at=event.due_at,
            )
        )
        earned = earned.set(
            event.customer_id, state.earned_from(event.customer_id) + event.commission
        )
    elif isinstance(event, CommissionMatured):
        changed.append(attrs.evolve(state.lines[event.invoice_id], status="due"))
    elif isinstance(event, CommissionReturned):
        line = state.lines[event.invoice_id]
        returned = line.returned + event.returned
        voided = line.voided + event.voided
        earned = earned.set(line.customer_id, state.earned_from(line.customer_id) - event.voided)
        if event.after_payout and event.voided > 0:
            # Invoice ids hold no control characters: no purchase line has this key.
            key = f"{event.invoice_id}\x00{version}"
            changed.append(
                attrs.evolve(
                    line,
                    key=key,
                    seq=len(state.lines),
                    commission=-event.voided,
                    status="due",
                    due_at=event.at,
                    returned=Decimal(0),
                    voided=Decimal(0),
                    earned=Decimal(0),
                )
            )
            changed.append(attrs.evolve(line, returned=returned, voided=voided))
        elif event.after_payout:
            changed.append(attrs.evolve(line, returned=returned))
        else:
            full = returned >= line.invoice_amount
            changed.append(
                attrs.evolve(
                    line,
                    returned=returned,
                    voided=voided,
                    commission=line.commission - event.voided,
                    status="void" if full else line.status,
                )
            )
    else:
        raise TypeError(f"not a referrer account event: {event!r}")
    lines, still_open = state.lines, state.open
    for line in changed:
        lines = lines.set(line.key, line)
        if line.status in OPEN:
            still_open = still_open.set(line.key, line.seq)
        elif line.key in still_open:
            still_open = still_open.delete(line.key)
    return attrs.evolve(state, version=version, lines=lines, open=still_open, earned=earned)
