"""Making a customer field unique: the values customers hold already are claimed.

`configure_customer_fields(unique=...)` claims, in its own unit of work, the
value every customer holds of each field it makes unique, and refuses
(`DuplicateValue`, nothing recorded) when two customers hold one value. It
reads the customers from the log up to its end, and saves only if no
customer was registered or edited since (a `Quiet` guard, checked under the
store's write lock), else it is decided again. A registration or edit
decided under the settings before saves only if they are still in force
(`CrmSteps._field_settings` guards them), so it is decided again under the
new ones and claims its value too. Between the two guards no customer can
slip in holding an unclaimed value, from any process.
"""

from __future__ import annotations

from typing import Final
from uuid import UUID

from eventsourcing.utils import get_topic

from referral_ledger.aggregates import claims
from referral_ledger.aggregates import customer_record as customers
from referral_ledger.aggregates.customer import CustomerRegistered, CustomerUpdated
from referral_ledger.aggregates.customer_settings import UNIQUE_KINDS
from referral_ledger.commands.base import LedgerBase
from referral_ledger.errors import DuplicateValue
from referral_ledger.policies.field_settings import SETTABLE, FieldSettings, unique_keys
from referral_ledger.store import UnitOfWork

#: The events that give a customer its details (what a unique value is read from).
DETAIL_TOPICS: Final = (get_topic(CustomerRegistered), get_topic(CustomerUpdated))
_REGISTERED: Final = (get_topic(CustomerRegistered),)
#: Log entries read per query while listing the customers.
_PAGE: Final = 10_000


class UniqueValues(LedgerBase):
    """The claims of the values customers hold when a field is made unique."""

    def _claim_held_values(
        self, unit: UnitOfWork, before: FieldSettings, after: FieldSettings
    ) -> None:
        """Record claims of the values customers hold of each field `after`
        makes unique (phones and POS ids are claimed always: only checked)."""
        newly = [f for f in SETTABLE if f in after.unique and f not in before.unique]
        if not newly:
            return
        position = self._store.last_position()
        unit.guard_quiet(position, DETAIL_TOPICS)
        ids = self._customer_ids(position)
        unit.prefetch((c, customers.evolve_customer) for c in ids)
        for field in newly:
            holders: dict[str, list[UUID]] = {}
            for customer_id in ids:
                record = unit.load(customer_id, customers.evolve_customer)
                assert record is not None
                for value in unique_keys(field, record):
                    holders.setdefault(value, []).append(customer_id)
            shared = sorted((v, o) for v, o in holders.items() if len(o) > 1)
            if shared:
                value, owners = shared[0]
                more = f" ({len(shared)} values are shared)" if len(shared) > 1 else ""
                raise DuplicateValue(
                    f"{field} cannot be made unique: customers "
                    f"{', '.join(str(o) for o in owners)} share {value!r}{more}"
                )
            if field in after.claimed:
                for value, (owner,) in sorted(holders.items()):
                    self._claim_for(unit, field, value, owner)

    def _claim_for(self, unit: UnitOfWork, field: str, value: str, owner: UUID) -> None:
        """`owner` alone holds `value`: claim it, releasing holders recorded
        while the field was unique before who hold it no more."""
        kind = UNIQUE_KINDS[field]
        record_id = self._claim_id(kind, value)
        claim = unit.load(record_id, claims.evolve_claim)
        for stale in claim.others(owner) if claim else ():
            unit.record(claims.release(kind, claim, stale, unit.now))
            claim = unit.load(record_id, claims.evolve_claim)
        unit.record(claims.claim(kind, claim, value, owner, unit.now, record_id=record_id))

    def _customer_ids(self, position: int) -> list[UUID]:
        """Every customer registered up to log position `position`, oldest first."""
        ids: list[UUID] = []
        after = 0
        while after < position:
            page = self._store.notifications(after, _PAGE, topics=_REGISTERED, stop=position)
            if not page:
                break
            ids += (UUID(str(n.originator_id)) for n in page)
            after = page[-1].id
        return ids
