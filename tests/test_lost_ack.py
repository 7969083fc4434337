"""A commit whose acknowledgement is lost is applied once, for every kind of command.

A real fault: the ledger talks to PostgreSQL through `pg_proxy.PgProxy`,
which forwards the COMMIT of the command's write, lets the server answer, and
cuts both connections before the answer reaches the client. The write is
repeated on a new connection and collides with its own first commit. Each
command must still return what it decided, record its effect exactly once,
and the next command must work.

Each scenario runs twice, with the same fixed clock: on PostgreSQL behind the
armed proxy, and on an in-memory store without any fault. Both must return
the same result, add the same number of events, and show the same state.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest

import toy_jobs
from pg_proxy import PgProxy
from referral_ledger import Ledger, LoyaltyProgram, ReferralProgram
from referral_ledger.aggregates import loyalty
from stores import drop_pg_schema, new_pg_url
from support import Clock

pytestmark = pytest.mark.postgres

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
LOYALTY = LoyaltyProgram(money_per_point=Decimal(10000), point_value=Decimal(1000))
PHONE, LEAD, OTHER = "0912345678", "0987654321", "0903333333"

Setup = Callable[[Ledger, Clock], Any]
Act = Callable[[Ledger, Any], Any]
Observe = Callable[[Ledger, Any, Any], Any]


@dataclass(frozen=True)
class Scenario:
    setup: Setup
    act: Act
    observe: Observe
    #: Text of a statement of the transaction whose COMMIT is cut.
    matching: str = "COPY"
    #: Snapshot every N events of a record (the ledger's default: 100).
    snapshot_interval: int = 100


# --- setups ----------------------------------------------------------------------------


def nothing(ledger: Ledger, clock: Clock) -> None:
    return None


def customer(ledger: Ledger, clock: Clock) -> UUID:
    return ledger.register_customer(name="An", phones=[PHONE])


def contracted(ledger: Ledger, clock: Clock) -> UUID:
    cid = customer(ledger, clock)
    ledger.sign_contract(
        cid, contract_id="C-1", plan="pro", starts_on=date(2026, 1, 1), ends_on=date(2027, 1, 1)
    )
    return cid


def referral(ledger: Ledger, clock: Clock) -> UUID:
    referrer = contracted(ledger, clock)
    return ledger.submit_referral(referrer_id=referrer, name="Bình", phone=LEAD, industry="retail")


def with_points(ledger: Ledger, clock: Clock) -> UUID:
    ledger.configure_loyalty(LOYALTY)
    cid = customer(ledger, clock)
    ledger.record_purchase(cid, invoice_id="INV-1", amount=Decimal(250000))
    return cid


def lead_registered(ledger: Ledger, clock: Clock) -> UUID:
    referral(ledger, clock)
    # The automatic link of the lead to its referral happens here, not under test.
    return ledger.register_customer(name="Bình", phones=[LEAD])


def reminder_due(ledger: Ledger, clock: Clock) -> UUID:
    cid = customer(ledger, clock)
    clock.advance(days=toy_jobs.REMINDER_DAYS)
    return cid


# --- what is looked at afterwards ------------------------------------------------------


def a_customer(ledger: Ledger, cid: UUID) -> tuple[Any, ...]:
    c = ledger.get_customer(cid)
    return (c.name, c.phones, len(c.contracts), len(ledger.find_customers_by_phone(PHONE)))


def a_referral(ledger: Ledger, rid: UUID) -> tuple[Any, ...]:
    r = ledger.get_referral(rid)
    return (r.status, r.rep, r.reward, [(e.status, e.note) for e in r.timeline])


def points(ledger: Ledger, cid: UUID) -> tuple[Any, ...]:
    rows = ledger.statement(cid)
    return (ledger.balance(cid), [(r.kind, r.points, r.balance, r.reference) for r in rows])


SCENARIOS: dict[str, Scenario] = {
    "register_customer": Scenario(
        nothing,
        lambda lg, _: lg.register_customer(name="An", phones=[PHONE]),
        lambda lg, _, cid: (lg.find_customers_by_phone(PHONE) == [cid], a_customer(lg, cid)),
    ),
    "update_customer": Scenario(
        customer,
        lambda lg, cid: lg.update_customer(cid, name="An Nguyễn", phones=[PHONE, OTHER]),
        lambda lg, cid, _: (a_customer(lg, cid), lg.find_customers_by_phone(OTHER) == [cid]),
    ),
    "sync_customer_from_pos": Scenario(
        nothing,
        lambda lg, _: lg.sync_customer_from_pos("POS-1", "An", [PHONE]),
        lambda lg, _, cid: (lg.find_customer_by_external_id("POS-1") == cid, a_customer(lg, cid)),
    ),
    "sign_contract": Scenario(
        customer,
        lambda lg, cid: lg.sign_contract(
            cid,
            contract_id="C-9",
            plan="pro",
            starts_on=date(2026, 1, 1),
            ends_on=date(2026, 12, 31),
        ),
        lambda lg, cid, _: a_customer(lg, cid),
    ),
    "submit_referral": Scenario(
        contracted,
        lambda lg, cid: lg.submit_referral(referrer_id=cid, name="Bình", phone=LEAD, industry="x"),
        lambda lg, _, rid: a_referral(lg, rid),
    ),
    "assign_rep": Scenario(
        referral,
        lambda lg, rid: lg.assign_rep(rid, rep="rep-01", note="first"),
        lambda lg, rid, _: a_referral(lg, rid),
    ),
    "start_referral": Scenario(
        referral,
        lambda lg, rid: lg.start_referral(rid, rep="rep-02"),
        lambda lg, rid, _: a_referral(lg, rid),
    ),
    "reward_referral": Scenario(
        referral,
        lambda lg, rid: lg.reward_referral(rid, amount=Decimal(400000), plan="pro"),
        lambda lg, rid, _: a_referral(lg, rid),
    ),
    "mark_ineligible": Scenario(
        referral,
        lambda lg, rid: lg.mark_ineligible(rid, reason="not a business"),
        lambda lg, rid, _: a_referral(lg, rid),
    ),
    "record_purchase": Scenario(
        with_points,
        lambda lg, cid: lg.record_purchase(cid, invoice_id="INV-2", amount=Decimal(130000)),
        lambda lg, cid, _: points(lg, cid),
    ),
    "redeem_points": Scenario(
        with_points,
        lambda lg, cid: lg.redeem_points(cid, points=10, redemption_id="R-1"),
        lambda lg, cid, _: points(lg, cid),
    ),
    "return_purchase": Scenario(
        with_points,
        lambda lg, cid: lg.return_purchase(cid, invoice_id="INV-1", amount=Decimal(100000)),
        lambda lg, cid, _: points(lg, cid),
    ),
    "configure_loyalty": Scenario(
        nothing,
        lambda lg, _: lg.configure_loyalty(LOYALTY),
        lambda lg, _, __: lg.loyalty_program(),
    ),
    "configure_referrals": Scenario(
        nothing,
        lambda lg, _: lg.configure_referrals(ReferralProgram(default_reward=Decimal(300000))),
        lambda lg, _, __: lg.referral_program(),
    ),
    "return_purchase_with_snapshots": Scenario(
        with_points,
        lambda lg, cid: lg.return_purchase(cid, invoice_id="INV-1", amount=Decimal(100000)),
        lambda lg, cid, _: (points(lg, cid), snapshot_versions(lg, cid)),
        snapshot_interval=1,
    ),
    "import_customers": Scenario(
        nothing,
        lambda lg, _: lg.import_customers(
            [{"name": "An", "phones": PHONE}, {"name": "Bình", "phones": LEAD}, {"name": "x"}]
        ),
        lambda lg, _, __: [len(lg.find_customers_by_phone(p)) for p in (PHONE, LEAD)],
    ),
    "import_purchases": Scenario(
        with_points,
        lambda lg, cid: lg.import_purchases(
            [
                {"customer_id": str(cid), "invoice_id": f"IMP-{n}", "amount": "120000"}
                for n in range(3)
            ]
        ),
        lambda lg, cid, _: points(lg, cid),
    ),
    "process_due": Scenario(
        reminder_due,
        lambda lg, _: lg.process_due(),
        lambda lg, cid, _: reminders_of(lg, cid),
    ),
    "automatic_reward": Scenario(
        lead_registered,
        lambda lg, cid: lg.sign_contract(
            cid, contract_id="C-L", plan="pro", starts_on=date(2026, 1, 1), ends_on=date(2027, 1, 1)
        ),
        lambda lg, _, __: a_referral_of_lead(lg),
        matching="tracking",
    ),
}


def a_referral_of_lead(ledger: Ledger) -> tuple[Any, ...]:
    referrer = ledger.find_customer_by_phone(PHONE)
    assert referrer is not None
    [row] = ledger.referral_history(referrer)
    return a_referral(ledger, row.referral_id)


def reminders_of(ledger: Ledger, cid: UUID) -> tuple[datetime, ...]:
    notes = toy_jobs.notes_of(ledger, cid)
    assert notes is not None
    return notes.reminders


def snapshot_versions(ledger: Ledger, cid: UUID) -> list[int]:
    """The versions of the account's stored snapshots: one per version, none twice."""
    snapshots = ledger._store.app.snapshots
    assert snapshots is not None
    return [s.originator_version for s in snapshots.get(loyalty.account_id(cid))]


def stored_events(ledger: Ledger) -> int:
    """How many events the log holds (on PostgreSQL, positions have gaps)."""
    return len(ledger._store.notifications(0, 1_000_000))


def normal(result: Any) -> Any:
    return "an id" if isinstance(result, UUID) else result


def play(url: str, scenario: Scenario, proxy: PgProxy | None, **arm: Any) -> tuple[Any, ...]:
    clock = Clock(START)
    with Ledger.open(url, clock=clock, snapshot_interval=scenario.snapshot_interval) as ledger:
        context = scenario.setup(ledger, clock)
        before = stored_events(ledger)
        if proxy is not None:
            proxy.arm(scenario.matching, **arm)
        result = scenario.act(ledger, context)
        if proxy is not None:
            assert 1 == proxy.cuts, "the fault was not injected"
        added = stored_events(ledger) - before
        seen = scenario.observe(ledger, context, result)
        # And the next command works.
        nxt = ledger.register_customer(name="Next", phones=["0900000001"])
        assert [nxt] == ledger.find_customers_by_phone("0900000001")
        return normal(result), added, seen


@pytest.fixture
def pg_url() -> Iterator[str]:
    url = new_pg_url("lostack_")
    try:
        yield url
    finally:
        drop_pg_schema(url)


@pytest.fixture(autouse=True)
def reminders() -> Iterator[None]:
    with toy_jobs.registered(toy_jobs.REMINDERS):
        yield


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_a_lost_acknowledgement_applies_the_command_once(name: str, pg_url: str) -> None:
    scenario = SCENARIOS[name]
    expected = play("memory://", scenario, None)
    with PgProxy() as proxy:
        assert expected == play(proxy.url(pg_url), scenario, proxy)


@pytest.mark.parametrize("name", ["return_purchase", "submit_referral", "automatic_reward"])
def test_a_connection_cut_right_after_commit_still_applies_it_once(name: str, pg_url: str) -> None:
    """Cut as COMMIT leaves: the server may or may not have committed."""
    scenario = SCENARIOS[name]
    expected = play("memory://", scenario, None)
    with PgProxy() as proxy:
        assert expected == play(proxy.url(pg_url), scenario, proxy, wait_for_reply=False)
