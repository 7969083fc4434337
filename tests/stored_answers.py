"""The answers a ledger gives about a stored story, in a stable JSON form.

`tests/fixtures/store_0_1/make.py` wrote a story with 0.1 code and kept what
0.1 answered (`answers.json`); `test_stored_0_1.py` asks today's code the same
questions about the same files and compares. Both go through `answers()` and
`to_json()` here, so a difference is a difference in the ledger, never in how
the answers were written down.

The questions are named by the story's cast (labels for customers and
referrals, the phones and POS ids it recorded, moments in the middle of the
story), which make.py also writes into answers.json.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, TypeAlias
from uuid import UUID

import attrs

from referral_ledger import Ledger, LedgerError
from referral_ledger.audit import audit

Json: TypeAlias = Any  # None | bool | int | float | str | list[Json] | dict[str, Json]


def to_json(value: object) -> Json:
    """`value` as plain JSON: ids, money and enums as text, moments as UTC ISO-8601.

    Moments are compared as instants (in UTC), not as the offset a version
    happens to show them in; sets are sorted so their order never matters.
    """
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, enum.Enum):
        return to_json(value.value)
    if isinstance(value, UUID | Decimal):
        return str(value)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(f"a naive datetime in an answer: {value!r}")
        return value.astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if attrs.has(cls := type(value)):
        return {f.name: to_json(getattr(value, f.name)) for f in attrs.fields(cls)}
    if isinstance(value, Mapping):
        return {str(k): to_json(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, set | frozenset):
        return sorted((to_json(v) for v in value), key=repr)
    if isinstance(value, list | tuple):
        return [to_json(v) for v in value]
    raise TypeError(f"no JSON form for {type(value).__name__}: {value!r}")


def restrict(actual: Json, expected: Json) -> Json:
    """`actual` with only the keys `expected` has, at every depth.

    Rows and records may gain fields in later versions ("more may be added");
    what was answered before must still be answered the same.
    """
    if isinstance(actual, dict) and isinstance(expected, dict):
        return {
            k: restrict(actual[k], expected[k]) if k in actual else "<missing>" for k in expected
        }
    if isinstance(actual, list) and isinstance(expected, list) and len(actual) == len(expected):
        return [restrict(a, e) for a, e in zip(actual, expected, strict=True)]
    return actual


def answers(ledger: Ledger, cast: Json) -> dict[str, Json]:
    """What `ledger` answers about the story whose cast is `cast` (see make.py)."""
    customers: dict[str, Json] = {}
    for label, cid in cast["customers"].items():
        customer_id = UUID(cid)
        customers[label] = {
            "get_customer": to_json(ledger.get_customer(customer_id)),
            "balance": ledger.balance(customer_id),
            "statement": to_json(ledger.statement(customer_id)),
        }
    report = audit(ledger)
    return {
        "customers": customers,
        "find_customer_by_phone": {
            phone: to_json(ledger.find_customer_by_phone(phone)) for phone in cast["phones"]
        },
        "find_customer_by_external_id": {
            pos_id: to_json(ledger.find_customer_by_external_id(pos_id))
            for pos_id in cast["external_ids"]
        },
        "referrals": {
            label: to_json(ledger.get_referral(UUID(rid)))
            for label, rid in cast["referrals"].items()
        },
        "lead_table": to_json(ledger.lead_table(limit=1000)),
        "referral_history": {
            label: to_json(ledger.referral_history(UUID(cast["customers"][label])))
            for label in cast["referrers"]
        },
        "conversion_by_rep": to_json(ledger.conversion_by_rep()),
        "loyalty_program": to_json(ledger.loyalty_program()),
        "referral_program": to_json(ledger.referral_program()),
        "event_count": ledger.event_count(),
        "audit": {"ok": report.ok, **to_json(report)},
        "balance_as_of": {
            moment: {
                label: _or_error(
                    ledger.balance, UUID(cast["customers"][label]), datetime.fromisoformat(moment)
                )
                for label in cast["as_of_customers"]
            }
            for moment in cast["as_of_moments"]
        },
        "get_customer_as_of": {
            moment: {
                label: _or_error(
                    ledger.get_customer,
                    UUID(cast["customers"][label]),
                    datetime.fromisoformat(moment),
                )
                for label in cast["as_of_customers"]
            }
            for moment in cast["as_of_moments"]
        },
    }


def _or_error(query: Callable[[UUID, datetime], object], key: UUID, as_of: datetime) -> Json:
    """The answer as of a moment, or the kind of error it was (a customer not yet registered)."""
    try:
        return to_json(query(key, as_of))
    except LedgerError as error:
        return {"error": type(error).__name__}
