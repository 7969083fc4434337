"""How the views read their events from the log (`projections/log.py`).

Purchases and returns are decoded to the customer and the signed amount
without building the attrs event; everything else, and any payload that is
not exactly what the mapper expects, goes through the mapper. So the views
rebuilt this way must equal the log folded from fully decoded events, on
plain, compressed and encrypted stores, and a damaged payload must still
raise `CorruptEvent`.
"""

from __future__ import annotations

import contextlib
import sqlite3
from datetime import date
from decimal import Decimal
from pathlib import Path
from uuid import UUID

import orjson
import pytest

from referral_ledger import CorruptEvent, Ledger, LoyaltyProgram
from referral_ledger.projections import log
from test_views_machine import folded_from_scratch

PROGRAM = LoyaltyProgram(money_per_point=Decimal(10000), point_value=Decimal(1000))
KEY = Ledger.create_cipher_key()


def purchases_and_returns(ledger: Ledger) -> list[UUID]:
    ledger.configure_loyalty(PROGRAM)
    buyers = [ledger.register_customer(f"Buyer {n}", [f"0912{n:06d}"]) for n in range(3)]
    rows = [
        {"customer_id": buyers[n % 3], "invoice_id": f"INV-{n}", "amount": Decimal("10000.5") * n}
        for n in range(1, 10)
    ]
    assert 9 == ledger.import_purchases(rows).recorded
    ledger.return_purchase(buyers[0], invoice_id="INV-3")
    referrer = buyers[1]
    ledger.sign_contract(referrer, "C-1", "pro", date(2025, 1, 1), date(2030, 1, 1))
    lead = ledger.submit_referral(referrer, "Nguyễn Văn An", "0988000001", "retail")
    ledger.start_referral(lead, rep="rep-01")
    return buyers


@pytest.mark.parametrize(
    "options",
    [{}, {"compress": True}, {"cipher_key": KEY}, {"cipher_key": KEY, "compress": True}],
    ids=["plain", "compressed", "encrypted", "encrypted-compressed"],
)
def test_rebuilt_views_equal_the_log_folded_from_full_events(
    tmp_path: Path, options: dict[str, object]
) -> None:
    with Ledger.open(f"sqlite:///{tmp_path}/ledger.db", **options) as ledger:  # type: ignore[arg-type]
        purchases_and_returns(ledger)
        ledger.rebuild_projections()
        assert folded_from_scratch(ledger, ledger.event_count()) == ledger._views.dump()
        # Invoices 3, 6 and 9 less the return of 3; 1, 4 and 7; 2, 5 and 8.
        unit = Decimal("10000.5")
        expected = sorted([unit * (3 + 6 + 9 - 3), unit * (1 + 4 + 7), unit * (2 + 5 + 8)])
        assert expected == sorted(Decimal(row[1]) for row in ledger._views.dump()["revenue"])


def rewrite_first(path: Path, event_class: str, change: object) -> None:
    """Rewrite the JSON payload of the first stored `event_class` with `change`."""
    with contextlib.closing(sqlite3.connect(path)) as db, db:
        rowid, state = db.execute(
            "SELECT rowid, state FROM stored_events WHERE topic LIKE ? ORDER BY rowid LIMIT 1",
            (f"%:{event_class}",),
        ).fetchone()
        payload = orjson.loads(state)
        change(payload)  # type: ignore[operator]
        db.execute(
            "UPDATE stored_events SET state = ? WHERE rowid = ?", (orjson.dumps(payload), rowid)
        )


def dashed_id(payload: dict[str, object]) -> None:
    payload["customer_id"] = str(UUID(str(payload["customer_id"]))).upper()


def store_with_first_purchase_rewritten(tmp_path: Path, change: object) -> str:
    """A SQLite store of purchases and returns whose first `PointsEarned` payload
    has been rewritten by `change`; returns its URL."""
    path = tmp_path / "ledger.db"
    with Ledger.open(f"sqlite:///{path}") as ledger:
        purchases_and_returns(ledger)
    rewrite_first(path, "PointsEarned", change)
    return f"sqlite:///{path}"


def extra_field(payload: dict[str, object]) -> None:
    payload["surprise"] = 1  # the mapper ignores it


@pytest.mark.parametrize("change", [dashed_id, extra_field])
def test_a_payload_in_another_form_is_read_as_the_mapper_reads_it(
    tmp_path: Path, change: object
) -> None:
    url = store_with_first_purchase_rewritten(tmp_path, change)
    with Ledger.open(url) as ledger:
        ledger.rebuild_projections()
        assert folded_from_scratch(ledger, ledger.event_count()) == ledger._views.dump()


@pytest.mark.parametrize(
    "change",
    [
        lambda payload: payload.pop("eligible_amount"),
        lambda payload: payload.update(amount="lots"),
        lambda payload: payload.update(customer_id="not an id"),
    ],
    ids=["missing-field", "bad-amount", "bad-customer"],
)
def test_a_purchase_payload_the_mapper_would_refuse_raises_corrupt_event(
    tmp_path: Path, change: object
) -> None:
    url = store_with_first_purchase_rewritten(tmp_path, change)
    with Ledger.open(url) as ledger:
        with pytest.raises(CorruptEvent):
            ledger.rebuild_projections()
        with pytest.raises(CorruptEvent):
            ledger.referral_history(UUID(int=0))


def test_only_purchases_and_returns_take_the_short_path() -> None:
    assert {"PointsEarned", "PointsTakenBack"} == {t.split(":")[1] for t in log._REVENUE}
    assert set(log._REVENUE) < set(log.TOPICS)
