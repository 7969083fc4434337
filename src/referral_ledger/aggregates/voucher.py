"""A voucher record: its definition, its uses, the decisions on it, and `evolve`.

The record lives at the id its code derives (`VOUCHER_CODE`, a claim kind:
keyed ids in encrypted stores), so the code is its claim: two processes
creating the same code both write version 1 of one record and the store lets
one commit. Every use is an event of this record, so the use and the
voucher's count are one write: two concurrent uses of the last one both save
the same next version, one commits, and the other decides again from the new
count. That is what keeps usage limits exact from any number of processes.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Final
from uuid import UUID

import attrs

from referral_ledger.aggregates.base import Event, next_event
from referral_ledger.aggregates.claims import ClaimKind
from referral_ledger.errors import InvalidInput, VoucherRefused
from referral_ledger.policies import vouchers as rules
from referral_ledger.policies.vouchers import Voucher
from referral_ledger.values import UNKEYED_IDS, RecordIds

#: Voucher codes, upper-cased. The name is part of every voucher's record id.
VOUCHER_CODE: Final = ClaimKind("voucher-code")


def voucher_id(code: str, ids: RecordIds = UNKEYED_IDS) -> UUID:
    """The id of the record of the voucher `code` (already upper-cased)."""
    return VOUCHER_CODE.record_id(code, ids)


# --- events ----------------------------------------------------------------


@attrs.frozen(kw_only=True)
class VoucherCreated(Event):
    voucher: Voucher
    at: datetime


@attrs.frozen(kw_only=True)
class VoucherUpdated(Event):
    #: The whole definition from now on (uses already made stand).
    voucher: Voucher
    at: datetime


@attrs.frozen(kw_only=True)
class VoucherUsed(Event):
    invoice_id: str
    customer_id: UUID
    amount: Decimal
    discount: Decimal
    at: datetime


@attrs.frozen(kw_only=True)
class VoucherUseReleased(Event):
    """A fully returned sale gives its use back."""

    invoice_id: str
    customer_id: UUID
    at: datetime


# --- state -----------------------------------------------------------------


@attrs.frozen(kw_only=True)
class VoucherUse:
    """One use, by invoice: who, and the discount it gave."""

    customer_id: UUID
    amount: Decimal
    discount: Decimal


@attrs.frozen(kw_only=True)
class VoucherRecord:
    """A voucher as recorded: its definition in force, and its uses (by invoice)."""

    id: UUID
    version: int
    #: The definition in force (after any updates).
    voucher: Voucher
    #: The definition first created: creating it again is a no-op.
    created: Voucher
    #: The uses not released, by invoice id.
    uses: dict[str, VoucherUse] = attrs.field(factory=dict)

    @property
    def code(self) -> str:
        return self.voucher.code

    @property
    def used(self) -> int:
        """Uses not released."""
        return len(self.uses)

    def used_by(self, customer_id: UUID) -> int:
        return sum(1 for use in self.uses.values() if use.customer_id == customer_id)


# --- decisions -------------------------------------------------------------


def create(
    state: VoucherRecord | None, voucher: Voucher, record_id: UUID, now: datetime, at: datetime
) -> list[Event]:
    """Create the voucher; the same definition again records nothing, another refuses."""
    if state is not None:
        if state.created == voucher:
            return []
        raise InvalidInput(
            f"voucher {voucher.code!r} exists with other settings; use update_voucher to change it"
        )
    return [VoucherCreated(**next_event(None, now, record_id=record_id), voucher=voucher, at=at)]


def update(state: VoucherRecord, voucher: Voucher, now: datetime, at: datetime) -> list[Event]:
    """Replace the definition from now on (nothing if it is the same)."""
    if voucher == state.voucher:
        return []
    return [VoucherUpdated(**next_event(state, now), voucher=voucher, at=at)]


def check(
    state: VoucherRecord | None,
    code: str,
    *,
    customer_id: UUID,
    customer_tags: frozenset[str],
    amount: Decimal,
    warehouse: str | None,
    at: datetime,
) -> Decimal:
    """The discount the voucher gives this sale; `VoucherRefused` if it does not apply."""
    if state is None:
        raise VoucherRefused(rules.explain(code, "unknown"), "unknown")
    facts = {
        "amount": amount,
        "warehouse": warehouse,
        "used": state.used,
        "used_by_customer": state.used_by(customer_id),
    }
    reason = rules.refusal(
        state.voucher,
        amount=amount,
        warehouse=warehouse,
        customer_tags=customer_tags,
        at=at,
        used=state.used,
        used_by_customer=state.used_by(customer_id),
    )
    if reason is not None:
        raise VoucherRefused(rules.explain(code, reason, state.voucher, **facts), reason)
    return rules.voucher_discount(state.voucher, amount)


def use(
    state: VoucherRecord | None,
    code: str,
    *,
    invoice_id: str,
    customer_id: UUID,
    customer_tags: frozenset[str],
    amount: Decimal,
    warehouse: str | None,
    at: datetime,
    now: datetime,
) -> tuple[Decimal, list[Event]]:
    """Use the voucher on a sale: the discount and the event counting the use.

    The same invoice again (a retried checkout) gives the discount it had and
    records nothing.
    """
    if state is not None and invoice_id in state.uses:
        return state.uses[invoice_id].discount, []
    discount = check(
        state,
        code,
        customer_id=customer_id,
        customer_tags=customer_tags,
        amount=amount,
        warehouse=warehouse,
        at=at,
    )
    assert state is not None
    event = VoucherUsed(
        **next_event(state, now),
        invoice_id=invoice_id,
        customer_id=customer_id,
        amount=amount,
        discount=discount,
        at=at,
    )
    return discount, [event]


def release(
    state: VoucherRecord | None, invoice_id: str, now: datetime, at: datetime
) -> list[Event]:
    """Give back the use of `invoice_id` (nothing if it holds none)."""
    if state is None or invoice_id not in state.uses:
        return []
    customer = state.uses[invoice_id].customer_id
    return [
        VoucherUseReleased(
            **next_event(state, now), invoice_id=invoice_id, customer_id=customer, at=at
        )
    ]


# --- evolve ----------------------------------------------------------------


def evolve_voucher(state: VoucherRecord | None, event: Event) -> VoucherRecord:
    """Apply one event to a voucher record."""
    version = event.originator_version
    if isinstance(event, VoucherCreated):
        return VoucherRecord(
            id=event.originator_id, version=version, voucher=event.voucher, created=event.voucher
        )
    if state is None:
        raise TypeError(f"not the first event of a voucher: {event!r}")
    if isinstance(event, VoucherUpdated):
        return attrs.evolve(state, version=version, voucher=event.voucher)
    if isinstance(event, VoucherUsed):
        use = VoucherUse(
            customer_id=event.customer_id, amount=event.amount, discount=event.discount
        )
        return attrs.evolve(state, version=version, uses={**state.uses, event.invoice_id: use})
    if isinstance(event, VoucherUseReleased):
        uses = {k: v for k, v in state.uses.items() if k != event.invoice_id}
        return attrs.evolve(state, version=version, uses=uses)
    raise TypeError(f"not a voucher event: {event!r}")
