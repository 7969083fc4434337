"""The points-expiry job: each lot left unspent expires once, at its `expires_at`.

Readings never wait for it (a balance leaves out expired lots by their
dates); the job records the expiry (statement kind "expire"), closes the lot
in the account's state, and tells the invoice's record how many of its points
expired, so a later return never charges them again.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.utils import get_topic

from referral_ledger.aggregates import loyalty, loyalty_account, loyalty_decisions
from referral_ledger.aggregates import program as programs
from referral_ledger.aggregates.base import Event, Evolve
from referral_ledger.aggregates.lots import Lot
from referral_ledger.aggregates.program import LOYALTY_PROGRAM_ID
from referral_ledger.reactions.registry import BATCH, Context, DueRows, job
from referral_ledger.store import LOAD_CHUNK, Store, UnitOfWork

NAME = "points-expiry"


def lot_expires(event: Event) -> Iterator[tuple[datetime, str]]:
    """The expiry item of the lot an earning or a refund opens (none if it never expires)."""
    if (
        isinstance(event, loyalty.PointsEarned | loyalty.PointsRefunded)
        and event.expires_at is not None
        and event.points
    ):
        yield event.expires_at, _key(event.customer_id, event.lot().invoice_id)


def account_of(key: str) -> UUID:
    """The account record an item keyed "<customer hex>:..." is about."""
    return loyalty.account_id(UUID(hex=key.split(":", 1)[0]))


def lot_records(keys: Sequence[str], context: Context) -> Iterator[tuple[UUID, Evolve[Any]]]:
    """What expiring the lots `keys` reads: their accounts and invoices."""
    for key in keys:
        invoice_id = key.split(":", 1)[1]
        yield account_of(key), loyalty_account.evolve_account
        record = loyalty.INVOICE.record_id(invoice_id.partition("#")[0], context.ids)
        yield record, loyalty.evolve_invoice


def open_lots(
    store: Store, *, after: datetime | None, until: datetime, index: DueRows | None = None
) -> Iterator[tuple[UUID, Lot]]:
    """Every open lot (customer, lot) that expires after `after` (None: any time) and by `until`.

    The due index (or, without one, the log) says which lots were earned
    with such an expiry; the accounts' states (read in bulk) say which are
    still open.
    """
    wanted: dict[UUID, set[str]] = {}
    if index is not None and after is not None:
        index.catch_up(EXPIRY)
        for _, key in index.between(EXPIRY, after, until):
            customer_hex, invoice_id = key.split(":", 1)
            wanted.setdefault(UUID(hex=customer_hex), set()).add(invoice_id)
        yield from _still_open(store, wanted)
        return
    topics = (get_topic(loyalty.PointsEarned), get_topic(loyalty.PointsRefunded))
    position = 0
    while batch := store.notifications(position, BATCH, topics):
        for notification in batch:
            event = store.event_of(notification)
            assert isinstance(event, loyalty.PointsEarned | loyalty.PointsRefunded)
            moment = event.expires_at
            if moment is None or not event.points or moment > until:
                continue
            if after is None or moment > after:
                wanted.setdefault(event.customer_id, set()).add(event.lot().invoice_id)
        position = batch[-1].id
    yield from _still_open(store, wanted)


def _still_open(store: Store, wanted: dict[UUID, set[str]]) -> Iterator[tuple[UUID, Lot]]:
    customers = list(wanted)
    for start in range(0, len(customers), LOAD_CHUNK):
        chunk = customers[start : start + LOAD_CHUNK]
        states = store.load_many(
            {loyalty.account_id(c): loyalty_account.evolve_account for c in chunk}
        )
        for customer in chunk:
            account = states[loyalty.account_id(customer)]
            for lot in account.lots if account else ():
                if lot.invoice_id in wanted[customer]:
                    yield customer, lot


def _key(customer: UUID, invoice_id: str) -> str:
    return f"{customer.hex}:{invoice_id}"


def lots_expiring(context: Context, now: datetime) -> Iterable[tuple[datetime, str]]:
    for customer, lot in open_lots(context.store, after=None, until=now):
        assert lot.expires_at is not None
        yield lot.expires_at, _key(customer, lot.invoice_id)


def expire_lot(unit: UnitOfWork, key: str, due_at: datetime, context: Context) -> None:
    customer_hex, invoice_id = key.split(":", 1)
    customer = UUID(hex=customer_hex)
    account = unit.load(loyalty.account_id(customer), loyalty_account.evolve_account)
    # A refund's lot is "<invoice id>#refund<n>": its invoice's record.
    record = loyalty.INVOICE.record_id(invoice_id.partition("#")[0], context.ids)
    invoice = unit.load(record, loyalty.evolve_invoice)
    if account is None or invoice is None:
        return
    unit.record(loyalty_account.expire(account, invoice, invoice_id, unit.now))


EXPIRY = job(
    NAME,
    due=lots_expiring,
    handle=expire_lot,
    triggers=(loyalty.PointsEarned, loyalty.PointsRefunded),
    schedule=lot_expires,
    prefetch=lot_records,
)


TIERS = "tier-window"


def windows_closing(context: Context, now: datetime) -> Iterable[tuple[datetime, str]]:
    """Each earning that stops counting for a windowed tier by `now`, while still counted."""
    topic = get_topic(loyalty.PointsEarned)
    customers: set[UUID] = set()
    position = 0
    while batch := context.store.notifications(position, BATCH, (topic,)):
        for notification in batch:
            event = context.store.event_of(notification)
            assert isinstance(event, loyalty.PointsEarned)
            if event.counts_until is not None and event.counts_until <= now:
                customers.add(event.customer_id)
        position = batch[-1].id
    ordered = sorted(customers)
    for start in range(0, len(ordered), LOAD_CHUNK):
        chunk = ordered[start : start + LOAD_CHUNK]
        states = context.store.load_many(
            {loyalty.account_id(c): loyalty_account.evolve_account for c in chunk}
        )
        for customer in chunk:
            account = states[loyalty.account_id(customer)]
            for invoice_id, until, _ in account.window if account else ():
                if until <= now:
                    yield until, f"{_key(customer, invoice_id)}@{until.isoformat()}"


def recalculate_tier(unit: UnitOfWork, key: str, due_at: datetime, context: Context) -> None:
    customer = UUID(hex=key.split(":", 1)[0])
    account = unit.load(loyalty.account_id(customer), loyalty_account.evolve_account)
    settings = unit.load(LOYALTY_PROGRAM_ID, programs.evolve_loyalty_settings)
    if account is None or settings is None:
        return
    unit.record(
        loyalty_decisions.tier_change(account, [], customer, settings.program, unit.now, due_at)
    )


def window_closes(event: Event) -> Iterator[tuple[datetime, str]]:
    """When an earning stops counting for a windowed tier."""
    if isinstance(event, loyalty.PointsEarned) and event.counts_until is not None and event.points:
        until = event.counts_until
        yield until, f"{_key(event.customer_id, event.invoice_id)}@{until.isoformat()}"


def tier_records(keys: Sequence[str], context: Context) -> Iterator[tuple[UUID, Evolve[Any]]]:
    """What recalculating the tiers of `keys` reads: the program and the accounts."""
    yield LOYALTY_PROGRAM_ID, programs.evolve_loyalty_settings
    for key in keys:
        yield account_of(key), loyalty_account.evolve_account


job(
    TIERS,
    due=windows_closing,
    handle=recalculate_tier,
    triggers=(loyalty.PointsEarned,),
    schedule=window_closes,
    prefetch=tier_records,
)
