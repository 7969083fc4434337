"""A points statement: every movement of an account with its running balance."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal

import attrs

from referral_ledger.aggregates.base import Event
from referral_ledger.aggregates.loyalty import PointsEarned, PointsRedeemed, PointsTakenBack


@attrs.frozen
class StatementRow:
    """One points movement; `balance` is the balance right after it."""

    at: datetime
    kind: str
    points: int
    balance: int
    reference: str
    #: Money involved: the invoice amount, the redemption's value, or the amount returned.
    amount: Decimal
    recorded_at: datetime


def statement_rows(events: Iterable[Event]) -> list[StatementRow]:
    """Fold an account's events, oldest first, into statement rows."""
    rows: list[StatementRow] = []
    balance = 0
    for event in events:
        match event:
            case PointsEarned():
                kind, points, ref, amount = "earn", event.points, event.invoice_id, event.amount
            case PointsRedeemed():
                kind, points, ref, amount = (
                    "redeem",
                    -event.points,
                    event.redemption_id,
                    event.value,
                )
            case PointsTakenBack():
                kind, points, ref = "return", -event.points, event.invoice_id
                amount = event.returned_amount
            case _:
                continue
        balance += points
        rows.append(StatementRow(event.at, kind, points, balance, ref, amount, event.timestamp))
    return rows
