"""Voucher commands and queries, and the steps a checkout takes inside its unit of work.

`use_voucher` and `release_voucher_use` record into the caller's unit, so a
checkout's voucher use commits (or conflicts and is decided again) together
with the rest of the sale: a refused part refuses the whole sale, and the
voucher's count is exact however many processes sell at once.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import attrs
from eventsourcing.utils import get_topic

from referral_ledger.aggregates import customer_record as customers
from referral_ledger.aggregates import voucher as vouchers
from referral_ledger.aggregates.customer import CustomerRegistered
from referral_ledger.aggregates.voucher import VoucherRecord, evolve_voucher, voucher_id
from referral_ledger.commands.base import LedgerBase
from referral_ledger.errors import InvalidInput, NotFound, VoucherRefused
from referral_ledger.policies import vouchers as rules
from referral_ledger.policies.vouchers import Voucher, VoucherState, parse_code
from referral_ledger.store import Store, UnitOfWork
from referral_ledger.values import RecordIds, parse_id, parse_money, parse_reference, parse_text

#: Customers read per query when listing a voucher's audience.
_BATCH = 500

# --- steps a checkout runs in its own unit of work ----------------------------------


def use_voucher(
    unit: UnitOfWork,
    ids: RecordIds,
    code: str,
    *,
    customer_id: UUID,
    customer_tags: frozenset[str],
    amount: Decimal,
    warehouse: str | None,
    at: datetime,
    invoice_id: str,
) -> Decimal:
    """Use voucher `code` on the sale `invoice_id`: its discount, the use recorded into `unit`.

    `VoucherRefused` (nothing recorded) if it does not apply. The same invoice
    again returns the discount it had and records nothing. Arguments must be
    parsed already (`parse_code` for the code).
    """
    record = unit.load(voucher_id(code, ids), evolve_voucher)
    discount, events = vouchers.use(
        record,
        code,
        invoice_id=invoice_id,
        customer_id=customer_id,
        customer_tags=customer_tags,
        amount=amount,
        warehouse=warehouse,
        at=at,
        now=unit.now,
    )
    unit.record(events)
    return discount


def release_voucher_use(
    unit: UnitOfWork, ids: RecordIds, code: str, invoice_id: str, at: datetime
) -> bool:
    """Give back the use sale `invoice_id` made of voucher `code` (a full return).

    Returns whether there was one to give back.
    """
    record = unit.load(voucher_id(code, ids), evolve_voucher)
    events = vouchers.release(record, invoice_id, unit.now, at)
    unit.record(events)
    return bool(events)


# --- commands and queries -----------------------------------------------------------


class VoucherCommands(LedgerBase):
    """Vouchers: create, update, read, check, and who may use one."""

    def create_voucher(self, voucher: Voucher, at: datetime | None = None) -> VoucherState:
        """Create `voucher`; its code is unique, compared case-insensitively.

        The same definition again is a no-op; the same code with other
        settings raises `InvalidInput` (change a voucher with `update_voucher`).
        """
        if not isinstance(voucher, Voucher):
            raise InvalidInput(f"voucher must be a Voucher, not {voucher!r}")
        when = self._business_time(at)
        record_id = voucher_id(voucher.code, self._ids)

        def decide(unit: UnitOfWork) -> VoucherRecord:
            record = unit.load(record_id, evolve_voucher)
            if record is None:
                unit.new(record_id, evolve_voucher)
            unit.record(vouchers.create(record, voucher, record_id, unit.now, when))
            created = unit.load(record_id, evolve_voucher)
            assert created is not None
            return created

        return _shown(self._store.run(decide))

    def update_voucher(
        self, /, code: str, at: datetime | None = None, **changes: Any
    ) -> VoucherState:
        """Change any field of voucher `code` but the code; uses made before stand.

        The changes apply to uses from now on. Unknown fields and bad values
        raise `InvalidInput`, an unknown code `NotFound`; nothing is recorded.
        """
        key = parse_code(code)
        when = self._business_time(at)
        unknown = sorted(set(changes) - {f.name for f in attrs.fields(Voucher)})
        if unknown:
            raise InvalidInput(f"vouchers have no field {', '.join(map(repr, unknown))}")
        record_id = voucher_id(key, self._ids)

        def decide(unit: UnitOfWork) -> VoucherRecord:
            record = unit.load(record_id, evolve_voucher)
            if record is None:
                raise NotFound(f"no voucher with code {key!r}")
            # Validated as a whole: ends_at against starts_at, one kind of discount.
            voucher = attrs.evolve(record.voucher, **changes)
            unit.record(vouchers.update(record, voucher, unit.now, when))
            updated = unit.load(record_id, evolve_voucher)
            assert updated is not None
            return updated

        return _shown(self._store.run(decide))

    def get_voucher(self, code: str, as_of: datetime | None = None) -> VoucherState:
        """Voucher `code` as it stands (or stood at `as_of`), with `.used`; NotFound if none."""
        key = parse_code(code)
        record = self._load_as_of(voucher_id(key, self._ids), evolve_voucher, as_of)
        if record is None:
            raise NotFound(f"no voucher with code {key!r}")
        return _shown(record)

    def check_voucher(
        self,
        code: str,
        customer_id: UUID,
        amount: Decimal | int | str,
        warehouse: str | None = None,
        at: datetime | None = None,
    ) -> Decimal:
        """The discount voucher `code` would give this sale now; records nothing.

        `VoucherRefused` says why it does not apply.
        """
        key = parse_code(code)
        customer = parse_id(customer_id, "customer_id")
        money = parse_money(amount)
        where = _warehouse(warehouse)
        when = self._business_time(at)
        record = self._store.load(voucher_id(key, self._ids), evolve_voucher)
        found = self._store.load(customer, customers.evolve_customer)
        if found is None:
            raise NotFound(f"no customer with id {customer}")
        return vouchers.check(
            record,
            key,
            customer_id=customer,
            customer_tags=found.tags,
            amount=money,
            warehouse=where,
            at=when,
        )

    def voucher_audience(self, code: str, at: datetime | None = None) -> list[UUID]:
        """The customers who may use voucher `code` at `at` (None: now), in registration order.

        Those its tags admit who have not used up their own uses, while it is
        active, within its dates and not used up ("create and send").
        """
        key = parse_code(code)
        when = self._business_time(at)
        record = self._store.load(voucher_id(key, self._ids), evolve_voucher)
        if record is None:
            raise NotFound(f"no voucher with code {key!r}")
        voucher = record.voucher
        # The order and the customer's own tags play no part here.
        open_reason = rules.refusal(
            voucher,
            amount=voucher.min_order,
            warehouse=next(iter(voucher.warehouses)) if voucher.warehouses else None,
            customer_tags=voucher.customer_tags or frozenset(),
            at=when,
            used=record.used,
            used_by_customer=0,
        )
        if open_reason is not None:
            return []
        audience: list[UUID] = []
        for batch in _customer_batches(self._store):
            states = self._store.load_many(dict.fromkeys(batch, customers.evolve_customer))
            for customer_id in batch:
                found = states[customer_id]
                if found is None:
                    continue
                if voucher.customer_tags is not None and not voucher.customer_tags & found.tags:
                    continue
                limit = voucher.per_customer_limit
                if limit is not None and record.used_by(customer_id) >= limit:
                    continue
                audience.append(customer_id)
        return audience

    def vouchers(self) -> list[VoucherState]:
        """Every voucher, in the order they were created."""
        topic = get_topic(vouchers.VoucherCreated)
        ids: list[UUID] = []
        position = 0
        while batch := self._store.notifications(position, _BATCH, (topic,)):
            ids.extend(n.originator_id for n in batch)  # type: ignore[misc]
            position = batch[-1].id
        states = self._store.load_many(dict.fromkeys(ids, evolve_voucher))
        return [_shown(states[i]) for i in ids if states[i] is not None]


def parse_voucher_code(value: object) -> str:
    """A voucher code as a checkout takes it (`parse_code`)."""
    return parse_code(value, "voucher")


def _warehouse(value: object) -> str | None:
    return None if value is None else parse_text(value, "warehouse", limit=100)


def parse_warehouse(value: object) -> str | None:
    """A warehouse name, or None (a sale with no warehouse named)."""
    return _warehouse(value)


def parse_invoice(value: object) -> str:
    return parse_reference(value, "invoice_id")


def _shown(record: VoucherRecord) -> VoucherState:
    fields = {f.name: getattr(record.voucher, f.name) for f in attrs.fields(Voucher)}
    return VoucherState(**fields, used=record.used)


def _customer_batches(store: Store) -> Iterator[list[UUID]]:
    """The ids of every customer registered, in batches, oldest first."""
    topic = get_topic(CustomerRegistered)
    position = 0
    while batch := store.notifications(position, _BATCH, (topic,)):
        yield [n.originator_id for n in batch]  # type: ignore[misc]
        position = batch[-1].id


__all__ = [
    "VoucherCommands",
    "VoucherRefused",
    "parse_invoice",
    "parse_voucher_code",
    "parse_warehouse",
    "release_voucher_use",
    "use_voucher",
]
