"""Points readings by business time `at`, by recording time `as_of`, and by both.

A host backfills purchases: each is dated `at=` in the past and recorded later.
`at` asks what had happened by then, `as_of` what the ledger had recorded by
then; `as_of` alone means `at=as_of` (what a query at that moment showed).
Every figure here is worked out by hand, on memory, SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from uuid import UUID

import pytest

from referral_ledger import (
    ExpiringPoints,
    InvalidInput,
    Ledger,
    LoyaltyProgram,
    NotFound,
    PointsSummary,
    RedemptionRefused,
    Tier,
)
from referral_ledger.aggregates.loyalty import account_id, evolve_account
from referral_ledger.aggregates.program import LOYALTY_PROGRAM_ID, LoyaltyProgramConfigured
from referral_ledger.serialization import converter
from referral_ledger.store import Snapshot
from support import Clock

START = datetime(2026, 4, 1, 9, 0, tzinfo=UTC)
PROGRAM = LoyaltyProgram(
    money_per_point=Decimal(10000), point_value=Decimal(1000), tiers=(Tier("VIP", 15),)
)


def day(month: int, d: int, hour: int = 12) -> datetime:
    return datetime(2026, month, d, hour, tzinfo=UTC)


@pytest.fixture
def backfilled(ledger: Ledger, clock: Clock) -> tuple[Ledger, UUID, dict[str, datetime]]:
    """March's purchases loaded on 1-3 April, out of business order.

    recorded 1 Apr 09:00  INV-20  dated 20 Mar  +10
    recorded 2 Apr 09:00  INV-10  dated 10 Mar   +5
    recorded 2 Apr 09:00  R-15    dated 15 Mar   -3   (redeemed from the 15 already there)
    recorded 3 Apr 09:00  INV-10 returned, dated 25 Mar  -5
    """
    ledger.configure_loyalty(PROGRAM, at=day(1, 1))
    customer = ledger.register_customer(name="Lê Thị Hoa", phones=["0912 345 678"])
    recorded = {"first": clock.now}
    assert 10 == ledger.record_purchase(customer, "INV-20", 100_000, at=day(3, 20))
    recorded["second"] = clock.advance(days=1)
    assert 5 == ledger.record_purchase(customer, "INV-10", 50_000, at=day(3, 10))
    assert Decimal(3000) == ledger.redeem_points(customer, 3, "R-15", at=day(3, 15))
    recorded["third"] = clock.advance(days=1)
    assert 5 == ledger.return_purchase(customer, "INV-10", at=day(3, 25))
    clock.advance(days=1)
    return ledger, customer, recorded


def test_balance_by_business_time_recording_time_and_both(
    backfilled: tuple[Ledger, UUID, dict[str, datetime]],
) -> None:
    ledger, customer, recorded = backfilled
    assert 7 == ledger.balance(customer)
    # By business time, with everything recorded so far.
    assert 0 == ledger.balance(customer, at=day(3, 9))
    assert 5 == ledger.balance(customer, at=day(3, 10))
    assert 2 == ledger.balance(customer, at=day(3, 15))
    assert 12 == ledger.balance(customer, at=day(3, 20))
    assert 7 == ledger.balance(customer, at=day(3, 31))
    # By recording time (`at` is the same moment): only the first purchase was known.
    assert 0 == ledger.balance(customer, as_of=recorded["first"] - timedelta(microseconds=1))
    assert 10 == ledger.balance(customer, as_of=recorded["first"])
    assert 12 == ledger.balance(customer, recorded["second"])
    assert 7 == ledger.balance(customer, as_of=recorded["third"])
    # Both: "what did we know on 2 April about 16 March".
    assert 2 == ledger.balance(customer, at=day(3, 16), as_of=recorded["second"])
    assert 0 == ledger.balance(customer, at=day(3, 16), as_of=recorded["first"])
    assert 10 == ledger.balance(customer, at=day(3, 25), as_of=recorded["first"])
    assert 12 == ledger.balance(customer, at=day(3, 25), as_of=recorded["second"])
    assert 7 == ledger.balance(customer, at=day(3, 25), as_of=recorded["third"])


def test_statement_lists_movements_in_business_time_order_with_when_recorded(
    backfilled: tuple[Ledger, UUID, dict[str, datetime]],
) -> None:
    ledger, customer, recorded = backfilled
    rows = ledger.statement(customer)
    assert [
        (day(3, 10), "earn", 5, 5, "INV-10", recorded["second"]),
        (day(3, 15), "redeem", -3, 2, "R-15", recorded["second"]),
        (day(3, 20), "earn", 10, 12, "INV-20", recorded["first"]),
        (day(3, 25), "return", -5, 7, "INV-10", recorded["third"]),
    ] == [(r.at, r.kind, r.points, r.balance, r.reference, r.recorded_at) for r in rows]
    assert rows[:2] == ledger.statement(customer, at=day(3, 15))
    assert ["INV-10", "R-15", "INV-20"] == [
        r.reference for r in ledger.statement(customer, as_of=recorded["second"])
    ]
    assert [("INV-10", 5), ("R-15", 2)] == [
        (r.reference, r.balance)
        for r in ledger.statement(customer, at=day(3, 19), as_of=recorded["second"])
    ]


def test_movements_dated_alike_keep_their_recording_order(ledger: Ledger, clock: Clock) -> None:
    ledger.configure_loyalty(PROGRAM)
    customer = ledger.register_customer(name="Lê Thị Hoa", phones=["0912 345 678"])
    same = day(3, 1)
    for number in (3, 1, 2):
        ledger.record_purchase(customer, f"INV-{number}", number * 10_000, at=same)
        clock.advance(seconds=1)
    assert ["INV-3", "INV-1", "INV-2"] == [r.reference for r in ledger.statement(customer)]
    assert [3, 4, 6] == [r.balance for r in ledger.statement(customer)]


def test_points_summary_at_each_reading(
    backfilled: tuple[Ledger, UUID, dict[str, datetime]],
) -> None:
    ledger, customer, recorded = backfilled
    assert PointsSummary(available=7, pending=0, lifetime_points=10, tier=None, expiring=()) == (
        ledger.points_summary(customer)
    )
    # On 20 March both purchases were in (15 lifetime points: VIP), none returned yet.
    assert PointsSummary(12, 0, 15, "VIP") == ledger.points_summary(customer, at=day(3, 20))
    assert PointsSummary(10, 0, 10, None) == ledger.points_summary(
        customer, at=day(3, 20), as_of=recorded["first"]
    )
    assert PointsSummary(12, 0, 15, "VIP") == ledger.points_summary(
        customer, as_of=recorded["second"]
    )
    assert () == ledger.points_summary(customer).expiring


def test_the_tier_follows_the_program_in_force_at_the_reading(
    backfilled: tuple[Ledger, UUID, dict[str, datetime]], clock: Clock
) -> None:
    ledger, customer, _ = backfilled
    before = clock.now
    clock.advance(seconds=1)
    ledger.configure_loyalty(
        LoyaltyProgram(money_per_point=1, point_value=1, tiers=(Tier("S", 5),))
    )
    clock.advance(seconds=1)
    assert "S" == ledger.points_summary(customer).tier
    assert "VIP" == ledger.points_summary(customer, at=day(3, 20), as_of=before).tier
    assert "S" == ledger.points_summary(customer, at=day(3, 20)).tier


def test_a_movement_dated_in_the_future_counts_from_its_date(ledger: Ledger, clock: Clock) -> None:
    ledger.configure_loyalty(PROGRAM)
    customer = ledger.register_customer(name="Lê Thị Hoa", phones=["0912 345 678"])
    ledger.record_purchase(customer, "INV-1", 100_000)
    ledger.record_purchase(customer, "INV-2", 50_000, at=START + timedelta(days=9))
    asked = clock.advance(hours=1)
    answer = (ledger.balance(customer), ledger.statement(customer))
    assert 10 == answer[0]
    assert ["INV-1"] == [r.reference for r in answer[1]]
    assert 15 == ledger.balance(customer, at=START + timedelta(days=9))
    clock.advance(days=10)
    assert 15 == ledger.balance(customer)
    assert 15 == ledger.points_summary(customer).lifetime_points
    # A query asked later "as of" the moment of the first gives the first's answer.
    assert answer == (
        ledger.balance(customer, as_of=asked),
        ledger.statement(customer, as_of=asked),
    )


def test_configure_loyalty_records_its_business_time_but_purchases_follow_the_program_recorded(
    ledger: Ledger, clock: Clock
) -> None:
    """A backfilled purchase earns by the program in force when it is recorded.

    Re-deciding which program applies by the purchase's own `at` would change
    what purchases recorded by 0.1 earned on a rebuild; `at` is recorded only.
    """
    ledger.configure_loyalty(PROGRAM, at=day(3, 1))
    customer = ledger.register_customer(name="Lê Thị Hoa", phones=["0912 345 678"])
    assert 10 == ledger.record_purchase(customer, "INV-1", 100_000, at=day(2, 1))
    [configured] = ledger._store.events_of(LOYALTY_PROGRAM_ID)
    assert isinstance(configured, LoyaltyProgramConfigured)
    assert day(3, 1) == configured.at
    count = ledger.event_count()
    with pytest.raises(InvalidInput, match="at"):
        ledger.configure_loyalty(PROGRAM, at=datetime(2026, 3, 1))  # naive
    assert count == ledger.event_count()


@pytest.mark.parametrize(
    "query",
    [
        lambda lg, c: lg.balance(c, at=datetime(2026, 3, 1)),
        lambda lg, c: lg.balance(c, as_of="2026-03-01"),
        lambda lg, c: lg.statement(c, at=1),
        lambda lg, c: lg.statement(c, as_of=datetime(2026, 3, 1)),
        lambda lg, c: lg.points_summary(c, at=datetime.max.replace(tzinfo=UTC)),
        lambda lg, c: lg.points_summary("nobody"),
    ],
)
def test_readings_refuse_bad_times_and_ids(ledger: Ledger, query: object) -> None:
    customer = ledger.register_customer(name="Lê Thị Hoa", phones=["0912 345 678"])
    with pytest.raises(InvalidInput):
        query(ledger, customer)  # type: ignore[operator]


def test_readings_of_an_unknown_customer_raise_not_found(ledger: Ledger) -> None:
    stranger = UUID(int=7)
    for query in (ledger.balance, ledger.statement, ledger.points_summary):
        with pytest.raises(NotFound):
            query(stranger, at=START)


def test_a_customer_without_movements_reads_zero(ledger: Ledger) -> None:
    customer = ledger.register_customer(name="Lê Thị Hoa", phones=["0912 345 678"])
    assert 0 == ledger.balance(customer, at=START, as_of=START)
    assert [] == ledger.statement(customer, at=START)
    assert PointsSummary(0, 0, 0, None) == ledger.points_summary(customer)
    assert ExpiringPoints(START, 3).customer_id is None


# --- stores written by 0.1 ---------------------------------------------------


def test_a_program_configured_by_0_1_without_at_still_reads() -> None:

    stored = converter.unstructure(
        LoyaltyProgramConfigured(
            originator_id=UUID(int=1), originator_version=1, timestamp=START, program=PROGRAM
        )
    )
    del stored["at"]
    event = converter.structure(stored, LoyaltyProgramConfigured)
    assert (PROGRAM, None) == (event.program, event.at)


def test_an_account_snapshot_written_by_0_1_is_replayed_not_trusted(
    sqlite_url: str, clock: Clock
) -> None:
    """A 0.1 snapshot does not know the latest `at`; the account is replayed instead."""

    with Ledger.open(sqlite_url, clock=clock, snapshot_interval=0) as ledger:
        ledger.configure_loyalty(PROGRAM)
        customer = ledger.register_customer(name="Lê Thị Hoa", phones=["0912 345 678"])
        ledger.record_purchase(customer, "INV-1", 100_000, at=START + timedelta(days=30))
        ledger.record_purchase(customer, "INV-2", 50_000)
        account = ledger.loyalty_account(customer)
        assert account is not None
        state = converter.unstructure(account)
        del state["latest_at"]  # the shape 0.1 stored
        ledger._store.app.snapshots.put(  # type: ignore[union-attr]
            [
                Snapshot(
                    originator_id=account.id,
                    originator_version=account.version,
                    timestamp=clock.now,
                    state_topic="referral_ledger.aggregates.loyalty:LoyaltyAccount",
                    state=state,
                )
            ]
        )
    with Ledger.open(sqlite_url, clock=clock) as reopened:
        assert account == reopened._store.load(account_id(customer), evolve_account)
        assert 5 == reopened.balance(customer)
        assert 15 == reopened.balance(customer, at=START + timedelta(days=30))


def test_no_balance_goes_negative_at_any_business_moment(ledger: Ledger, clock: Clock) -> None:
    """A backdated redemption or return lowers every balance dated after it too.

    Judged by today's balance alone, redeeming 5 points dated 10 March would
    pass (the balance is 12) and leave the 20 March balance at -3.
    """
    ledger.configure_loyalty(PROGRAM)
    customer = ledger.register_customer(name="Lê Thị Hoa", phones=["0912 345 678"])
    ledger.record_purchase(customer, "INV-1", 100_000, at=day(3, 1))
    ledger.redeem_points(customer, 8, "R-1", at=day(3, 20))
    ledger.record_purchase(customer, "INV-2", 100_000, at=day(3, 25))
    assert 12 == ledger.balance(customer)
    count = ledger.event_count()
    with pytest.raises(RedemptionRefused, match="leave only 2 points"):
        ledger.redeem_points(customer, 5, "R-2", at=day(3, 10))
    assert count == ledger.event_count()
    assert Decimal(2000) == ledger.redeem_points(customer, 2, "R-3", at=day(3, 10))
    # Returning INV-1 on 12 March may take nothing: 20 March's balance is 0.
    assert 0 == ledger.return_purchase(customer, "INV-1", at=day(3, 12))
    rows = ledger.statement(customer)
    assert [10, 8, 8, 0, 10] == [r.balance for r in rows]
    assert all(r.balance >= 0 for r in rows)
    # Dated after everything, the rules are today's: the balance is what counts.
    assert 10 == ledger.return_purchase(customer, "INV-2")
    assert 0 == ledger.balance(customer)
