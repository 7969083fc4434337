"""A store written by 0.1 keeps working: it opens, reads the same, and takes new commands.

`fixtures/store_0_1/` holds one story as 0.1 wrote it, three times (SQLite,
SQLite with a cipher key, a PostgreSQL dump), and what 0.1 answered about
each (`answers.json`, see `make.py` there). Every test works on a copy, so
the fixture is never changed. A failure here means a later version reads an
old store differently: a renamed event topic, a changed derived id, a view
that rebuilds otherwise, or an answer computed a new way. Fix the code (or
upcast and alias), never the fixture.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID

import attrs
import psycopg
import pytest

from referral_ledger import DuplicatePhone, Ledger, ReferralStatus
from referral_ledger.audit import audit
from stored_answers import Json, answers, restrict, to_json
from stores import split_pg_url
from support import Clock

FIXTURE = Path(__file__).parent / "fixtures" / "store_0_1"
DOCUMENT: dict[str, Any] = json.loads((FIXTURE / "answers.json").read_text(encoding="utf-8"))
#: After the story (which ends in March 2025), for the commands the tests add.
LATER = datetime(2025, 12, 1, 3, 0, tzinfo=UTC)


@attrs.frozen
class Stored:
    """A working copy of one of the fixture's stores, and what 0.1 said about it."""

    url: str
    cipher_key: str | None
    cast: dict[str, Json]
    answers: dict[str, Json]

    def open(self, clock: Clock | None = None) -> Ledger:
        return Ledger.open(self.url, cipher_key=self.cipher_key, clock=clock)

    def customer(self, label: str) -> UUID:
        return UUID(self.cast["customers"][label])


def restore_dump(url: str) -> None:
    """Load the fixture's pg_dump into the (new) schema `url` names."""
    dsn, schema = split_pg_url(url)
    assert schema is not None
    script = (FIXTURE / "postgres.sql").read_text(encoding="utf-8")
    # psql meta-commands (\restrict) are not SQL; the dump names its schema everywhere.
    script = "\n".join(line for line in script.splitlines() if not line.startswith("\\"))
    script = re.sub(rf"\b{DOCUMENT['schema']}\b", schema, script)
    with psycopg.connect(dsn, connect_timeout=3) as conn:
        # The lead search index uses pg_trgm, which the ledger installs in public.
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public")
        conn.execute(script.encode())  # no parameters: sent as one multi-statement query


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("sqlite-encrypted", id="sqlite-encrypted"),
        pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
    ]
)
def stored(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Stored]:
    kind: str = request.param
    recorded = DOCUMENT["stores"][kind]
    cipher_key = DOCUMENT["cipher_key"] if kind == "sqlite-encrypted" else None
    if kind == "postgres":
        url: str = request.getfixturevalue("fresh_pg_url")
        restore_dump(url)
    else:
        name = "ledger-encrypted.db" if cipher_key else "ledger.db"
        shutil.copyfile(FIXTURE / name, tmp_path / name)
        url = f"sqlite:///{tmp_path / name}"
    yield Stored(url, cipher_key, recorded["cast"], recorded["answers"])


def test_a_0_1_store_answers_as_0_1_did(stored: Stored) -> None:
    with stored.open() as ledger:
        now = answers(ledger, stored.cast)
    for question, expected in stored.answers.items():
        assert expected == restrict(now[question], expected), question


def test_retries_of_what_0_1_recorded_record_nothing(stored: Stored) -> None:
    with stored.open(Clock(LATER)) as ledger:
        report = audit(ledger)
        assert report.ok, report.problems
        before = ledger.event_count()
        assert stored.answers["event_count"] == before

        for invoice in stored.cast["invoices"]:
            earned = ledger.record_purchase(
                stored.customer(invoice["customer"]),
                invoice["invoice_id"],
                Decimal(invoice["amount"]),
                Decimal(invoice["discounted_amount"]),
                invoice["points_used"],
            )
            assert invoice["points"] == earned, invoice
        for redemption in stored.cast["redemptions"]:
            value = ledger.redeem_points(
                stored.customer(redemption["customer"]),
                redemption["points"],
                redemption["redemption_id"],
            )
            assert Decimal(redemption["value"]) == value, redemption

        owned = stored.answers["find_customer_by_phone"]
        for phone in (phone for phone in stored.cast["phones"] if owned[phone] is not None):
            with pytest.raises(DuplicatePhone):
                ledger.register_customer(name="Someone Else", phones=[phone])
        for pos_id, customer in stored.answers["find_customer_by_external_id"].items():
            if customer is not None:
                again = ledger.register_customer(
                    name="Someone Else", phones=["0911 000 111"], external_id=pos_id
                )
                assert UUID(customer) == again, pos_id

        assert before == ledger.event_count()
        balances = {
            label: ledger.balance(stored.customer(label)) for label in stored.cast["customers"]
        }
        assert {k: v["balance"] for k, v in stored.answers["customers"].items()} == balances


def test_views_rebuild_the_same_from_a_0_1_log(stored: Stored) -> None:
    with stored.open(Clock(LATER)) as ledger:
        assert ledger.rebuild_projections() > 0
        leads = to_json(ledger.lead_table(limit=1000))
        assert stored.answers["lead_table"] == restrict(leads, stored.answers["lead_table"])
        assert stored.answers["conversion_by_rep"] == restrict(
            to_json(ledger.conversion_by_rep()), stored.answers["conversion_by_rep"]
        )


def test_a_0_1_store_takes_new_commands(stored: Stored) -> None:
    clock = Clock(LATER)
    shopper, cafe, shop = (stored.customer(x) for x in ("shopper_c", "cafe", "shop_a"))
    balances = {label: v["balance"] for label, v in stored.answers["customers"].items()}
    with stored.open(clock) as ledger:
        newcomer = ledger.register_customer(
            name="Khách Mới", phones=["0911 222 999"], external_id="POS-C100"
        )
        clock.advance(minutes=5)
        earned = ledger.record_purchase(shopper, "INV-9001", Decimal(1_230_000))
        clock.advance(minutes=5)
        value = ledger.redeem_points(cafe, 20, "RDM-9001")
        clock.advance(minutes=5)
        lead = ledger.submit_referral(
            shop, name="Phan Văn Tâm", phone="0973 700 800", industry="pharmacy"
        )
        clock.advance(minutes=5)
        ledger.start_referral(UUID(stored.cast["referrals"]["submitted"]), rep="rep-03")

    # Read back through a second opening: what was recorded is in the store.
    with stored.open(Clock(LATER)) as ledger:
        assert "Khách Mới" == ledger.get_customer(newcomer).name
        assert newcomer == ledger.find_customer_by_phone("+84911222999")
        assert newcomer == ledger.find_customer_by_external_id("POS-C100")
        assert 123 == earned  # the program in force: 10,000 a point
        assert balances["shopper_c"] + 123 == ledger.balance(shopper)
        assert ("INV-9001", 123) == (
            ledger.statement(shopper)[-1].reference,
            ledger.statement(shopper)[-1].points,
        )
        assert Decimal(24_000) == value  # 1,200 a point since the second program
        assert balances["cafe"] - 20 == ledger.balance(cafe)
        assert ReferralStatus.SUBMITTED == ledger.get_referral(lead).status
        statuses = {row.referral_id: row.status for row in ledger.lead_table(limit=1000)}
        assert ReferralStatus.SUBMITTED == statuses[lead]
        started = UUID(stored.cast["referrals"]["submitted"])
        assert ReferralStatus.IN_PROGRESS == statuses[started]
        assert "rep-03" == ledger.get_referral(started).rep
        assert audit(ledger).ok


def test_a_0_1_store_is_chained_from_its_next_event_on(stored: Stored) -> None:
    """0.1 wrote no hash chain: its events stay as they are, the chain starts with
    the next event, and the audit says from which position."""
    with stored.open(Clock(LATER)) as ledger:
        report = ledger.audit()
        assert (True, None) == (report.ok, report.chain_start)
        assert report.events == report.unchained
        assert "no hash chain" in report.summary()
        last = ledger.event_count()
        ledger.record_purchase(stored.customer("shopper_c"), "INV-9002", Decimal(500_000))
        after = ledger.audit()
    assert after.ok, after.problems
    assert after.chain_start is not None and last < after.chain_start
    assert report.events == after.unchained
    assert f"hash chain from position {after.chain_start} (the events before it" in (
        after.summary()
    )
