"""Rows of one import that fight over a customer, so every re-import would flip it.

Two rows land on the same customer when they share a POS id, or (under
`on_duplicate_phone="update"`) a phone. How a row changes the customer it
lands on decides whether they fight:

- a row with a POS id is applied *exactly* on every re-import (its POS id is
  linked after the first): each field it gives is set to its value, None
  clearing, a list replacing the customer's;
- a row without one is *merged* (`customer_fields.merge_edit`): fields it
  gives as None are kept, lists are added to the customer's.

So two rows of one customer fight when both set a detail (name, email, …) to
different values, or a list an exact row sets does not hold what another row
gives: applied in file order they would leave the customer as the later row
says, and the next import of the same file would change it back and forth
again. The first row is kept and each row that fights with an earlier one is
refused (`find` returns the disagreement); a row that agrees joins its group.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

import attrs

from referral_ledger.policies.customer_fields import SPECS, CustomerFields

#: The fields a list edit replaces and a merge adds to.
_LISTS: Final = frozenset(name for name, spec in SPECS.items() if spec.listed)


@attrs.frozen
class Disagreement:
    """Why a row fights with an earlier one."""

    #: What they share, making them one customer: "phone" or "external_id" (a POS id).
    shared_kind: str
    #: The phone or POS id.
    shared: str
    field: str
    #: The earlier row, and its value and this row's.
    other_row: int
    theirs: object
    mine: object


@attrs.define
class _Customer:
    """What the rows landing on one customer set so far."""

    keys: set[tuple[str, str]] = attrs.Factory(set)
    #: field -> (value, first row giving it) for details.
    scalars: dict[str, tuple[object, int]] = attrs.Factory(dict)
    #: field -> (items, row) set exactly by a row with a POS id.
    exact: dict[str, tuple[frozenset[object], int]] = attrs.Factory(dict)
    #: field -> (items added by merged rows, the first of them).
    added: dict[str, tuple[frozenset[object], int]] = attrs.Factory(dict)


@attrs.define
class ConflictFinder:
    """Finds the rows of one import that fight over a customer; rows come in order."""

    #: Under "update" a shared phone lands two rows on one customer.
    by_phone: bool
    _customers: dict[tuple[str, str], _Customer] = attrs.field(factory=dict, init=False)

    def find(
        self, number: int, details: CustomerFields, given: Iterable[str]
    ) -> Disagreement | None:
        """The disagreement of row `number` with an earlier row of its customer, or
        None (and the row joins that customer's rows)."""
        keys = [("external_id", details.external_id)] if details.external_id is not None else []
        if self.by_phone:
            keys += [("phone", phone) for phone in details.phones]
        exact = details.external_id is not None
        gives = {f: getattr(details, f) for f in given if f != "external_id"}
        if not exact:  # a merged row keeps what it gives as None
            gives = {f: v for f, v in gives.items() if v is not None}
        found: list[tuple[tuple[str, str], _Customer]] = []
        for key in keys:
            customer = self._customers.get(key)
            if customer is not None and all(customer is not c for _, c in found):
                found.append((key, customer))
        for shared, customer in found:
            disagreement = _disagreement(customer, gives, exact, shared)
            if disagreement is not None:
                return disagreement
        joined = found[0][1] if found else _Customer()
        for _, other in found[1:]:
            _absorb(joined, other)
        joined.keys.update(keys)
        for key in joined.keys:
            self._customers[key] = joined
        for field, value in gives.items():
            if field not in _LISTS:
                joined.scalars.setdefault(field, (value, number))
            elif exact:
                joined.exact.setdefault(field, (frozenset(_items(value)), number))
            else:
                had, first = joined.added.get(field, (frozenset(), number))
                joined.added[field] = (had | frozenset(_items(value)), first)
        return None


def _items(value: object) -> Iterable[object]:
    return value if isinstance(value, Iterable) and not isinstance(value, str) else ()


def _disagreement(
    customer: _Customer,
    gives: dict[str, object],
    exact: bool,
    shared: tuple[str, str],
) -> Disagreement | None:
    for field, value in gives.items():
        if field not in _LISTS:
            if field in customer.scalars and customer.scalars[field][0] != value:
                theirs, row = customer.scalars[field]
                return Disagreement(*shared, field, row, theirs, value)
            continue
        mine = frozenset(_items(value))
        if field in customer.exact:
            theirs_set, row = customer.exact[field]
            # An exact row already sets the list: this row must set the same one, or
            # (merged) add nothing to it.
            if (mine != theirs_set) if exact else not mine <= theirs_set:
                return Disagreement(*shared, field, row, sorted(map(str, theirs_set)), value)
        if exact and field in customer.added:
            added, row = customer.added[field]
            if not added <= mine:  # merged rows add what this exact row would remove
                return Disagreement(*shared, field, row, sorted(map(str, added)), value)
    return None


def _absorb(into: _Customer, other: _Customer) -> None:
    into.keys |= other.keys
    for field, scalar in other.scalars.items():
        into.scalars.setdefault(field, scalar)
    for field, items in other.exact.items():
        into.exact.setdefault(field, items)
    for field, (added, row) in other.added.items():
        had, first = into.added.get(field, (frozenset(), row))
        into.added[field] = (had | added, min(first, row))
