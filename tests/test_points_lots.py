"""Lots: pending points, expiry dates in the business time zone, soonest-expiring
draws, returns from the invoice's own lot, and the points-expiry job (once, from
several processes at once)."""

from __future__ import annotations

import multiprocessing
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from uuid import UUID
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

import toy_jobs
from referral_ledger import InvalidInput, Ledger, LoyaltyProgram, PointsExpiry, RedemptionRefused
from referral_ledger.aggregates.lots import Lot, draw, draw_dated, take, uncovered
from referral_ledger.aggregates.loyalty import (
    PointsEarned,
    PointsExpired,
    PointsRedeemed,
    PointsRefunded,
    PointsTakenBack,
    account_id,
)
from referral_ledger.aggregates.loyalty_account import evolve_account
from referral_ledger.policies.expiry import add_days, available_from, expires_at, start_of_next
from support import Clock, run_workers

HCM = ZoneInfo("Asia/Ho_Chi_Minh")
ZONES = [
    ZoneInfo(name)
    for name in (
        "Asia/Ho_Chi_Minh",
        "Europe/Berlin",
        "America/Santiago",
        "America/New_York",
        "Australia/Lord_Howe",
    )
]
T0 = datetime(2026, 1, 31, 3, 0, tzinfo=UTC)  # 10:00 on 31 January in Hồ Chí Minh City


def program(**kwargs: object) -> LoyaltyProgram:
    return LoyaltyProgram(money_per_point=Decimal(1000), point_value=Decimal(1000), **kwargs)


# --- the dates -------------------------------------------------------------


def test_expiry_rounds_to_the_next_day_month_or_year_in_the_business_zone() -> None:
    def local(*parts: int) -> datetime:
        return datetime(*parts, tzinfo=HCM).astimezone(UTC)  # type: ignore[arg-type,misc]

    assert expires_at(T0, PointsExpiry(0, "month"), HCM) == local(2026, 2, 1)
    assert expires_at(T0, PointsExpiry(0, "year"), HCM) == local(2027, 1, 1)
    assert expires_at(T0, PointsExpiry(365), HCM) == local(2027, 2, 1)
    assert expires_at(T0, PointsExpiry(30, "month"), HCM) == local(2026, 4, 1)  # 2 Mar -> 1 Apr
    leap = local(2028, 2, 29, 12)
    assert expires_at(leap, PointsExpiry(365), HCM) == local(2029, 3, 1)
    assert expires_at(T0, None, HCM) is None


@given(
    st.datetimes(
        min_value=datetime(2000, 1, 1), max_value=datetime(2090, 1, 1), timezones=st.just(UTC)
    ),
    st.integers(0, 800),
    st.sampled_from(["day", "month", "year"]),
    st.sampled_from(ZONES),
)
def test_an_expiry_is_the_first_moment_of_a_later_local_period(
    moment: datetime, days: int, round_to: str, zone: ZoneInfo
) -> None:
    shifted = add_days(moment, days, zone)
    end = expires_at(moment, PointsExpiry(days, round_to), zone)
    assert end is not None and end > shifted >= moment
    before = (end - timedelta(microseconds=1)).astimezone(zone)
    after = end.astimezone(zone)
    # The moment before is still in the shifted moment's period; the expiry starts a new one.
    assert before.date() >= shifted.astimezone(zone).date()
    assert after.date() > before.date()
    if round_to != "day":
        assert after.day == 1
    assert start_of_next(shifted, round_to, zone) == end


BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")


@pytest.mark.parametrize(
    ("zone", "eve"),
    [
        (BERLIN, date(2026, 3, 28)),  # clocks go forward in the night of 28-29 March
        (BERLIN, date(2026, 10, 24)),  # and back in the night of 24-25 October
        (NEW_YORK, date(2026, 3, 7)),  # forward in the night of 7-8 March
    ],
)
def test_pending_days_are_counted_on_the_business_clock_across_daylight_saving(
    zone: ZoneInfo, eve: date
) -> None:
    # A purchase at 23:30 on the eve of a clock change becomes available at
    # 23:30 the next business day: 23 or 25 hours later, not 24.
    earned = datetime.combine(eve, time(23, 30), tzinfo=zone)
    next_day = datetime.combine(eve + timedelta(days=1), time(23, 30), tzinfo=zone)
    assert next_day.astimezone(UTC) == available_from(earned.astimezone(UTC), 1, zone)
    assert next_day.astimezone(UTC) - earned.astimezone(UTC) != timedelta(days=1)


@pytest.mark.parametrize(
    ("zone", "eve"), [(BERLIN, date(2026, 3, 28)), (NEW_YORK, date(2026, 3, 7))]
)
def test_expiry_days_are_counted_on_the_business_clock_across_daylight_saving(
    zone: ZoneInfo, eve: date
) -> None:
    # Available at 23:30 on the eve of the spring change, points kept one day
    # are kept until 23:30 the next business day, so they expire at the start
    # of the day after it (24 hours would reach past midnight into a third day).
    available = datetime.combine(eve, time(23, 30), tzinfo=zone).astimezone(UTC)
    two_days_on = datetime.combine(eve + timedelta(days=2), time(0), tzinfo=zone)
    assert two_days_on.astimezone(UTC) == expires_at(available, PointsExpiry(1, "day"), zone)


def test_a_ledger_in_a_zone_with_daylight_saving_dates_lots_by_its_business_clock(
    store_url: str,
) -> None:
    earned = datetime(2026, 3, 28, 23, 30, tzinfo=BERLIN).astimezone(UTC)
    clock = Clock(earned)
    with Ledger.open(store_url, clock=clock, business_timezone=BERLIN) as ledger:
        ledger.configure_loyalty(program(pending_days=1, expiry=PointsExpiry(1, "day")))
        cid = ledger.register_customer("Lê Thị Hoa", ["0912 345 678"])
        assert 100 == ledger.record_purchase(cid, "HD-1", 100_000)
        available = datetime(2026, 3, 29, 23, 30, tzinfo=BERLIN).astimezone(UTC)  # 23 h later
        end = datetime(2026, 3, 31, tzinfo=BERLIN).astimezone(UTC)
        [lot] = ledger.loyalty_account(cid).lots  # type: ignore[union-attr]
        assert (available, end) == (lot.available_from, lot.expires_at)
        assert 0 == ledger.balance(cid, at=available - timedelta(microseconds=1))
        assert 100 == ledger.balance(cid, at=available)


def test_tier_windows_and_refund_lots_are_dated_by_the_business_clock_too(
    store_url: str,
) -> None:
    """A purchase's tier window and the lot a return gives redeemed points back in are
    counted on the business clock across the spring change, like the purchase's lot;
    each refund is a lot of its own, named after the invoice and the return."""
    earned = datetime(2026, 3, 28, 23, 30, tzinfo=BERLIN).astimezone(UTC)
    with Ledger.open(store_url, clock=Clock(earned), business_timezone=BERLIN) as ledger:
        ledger.configure_loyalty(program(tier_window_days=1, expiry=PointsExpiry(1, "day")))
        cid = ledger.register_customer("Lê Thị Hoa", ["0912 345 678"])
        ledger.record_purchase(cid, "HD-1", 100_000)
        ledger.checkout(cid, "HD-2", Decimal(100_000), redeem_points=40)
        ledger.return_purchase(cid, "HD-2", Decimal(50_000))
        ledger.return_purchase(cid, "HD-2")
        account = ledger.loyalty_account(cid)
        assert account is not None
        counts_until = datetime(2026, 3, 29, 23, 30, tzinfo=BERLIN).astimezone(UTC)  # 23 h
        assert (("HD-1", counts_until, 100),) == account.window
        end = datetime(2026, 3, 30, tzinfo=BERLIN).astimezone(UTC)
        refunds = [(lot.invoice_id, lot.points, lot.expires_at) for lot in account.lots[1:]]
        assert [("HD-2#refund2", 20, end), ("HD-2#refund3", 20, end)] == refunds
        recorded = [
            e for e in ledger._store.events_of(account_id(cid)) if isinstance(e, PointsRefunded)
        ]
        assert [("HD-2", "HD-2#refund2"), ("HD-2", "HD-2#refund3")] == [
            (e.invoice_id, e.lot_id) for e in recorded
        ]  # the stored refund says which invoice's return it comes from


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("pending_days", -1),
        ("pending_days", 1.5),
        ("tier_window_days", 0),
        ("tier_window_days", "7"),
    ],
)
def test_bad_settings_are_refused(field: str, value: object) -> None:
    with pytest.raises(InvalidInput, match=field):
        program(**{field: value})
    with pytest.raises(InvalidInput, match="after_days"):
        PointsExpiry(-1)
    with pytest.raises(InvalidInput, match="round_to"):
        PointsExpiry(1, "week")


# --- the ledger ------------------------------------------------------------


def test_pending_then_available_then_expired_even_before_process_due(store_url: str) -> None:
    clock = Clock(T0)
    with Ledger.open(store_url, clock=clock, business_timezone=HCM) as ledger:
        ledger.configure_loyalty(program(pending_days=7, expiry=PointsExpiry(0, "month")))
        cid = ledger.register_customer("Lê Thị Hoa", ["0912 345 678"])
        assert 100 == ledger.record_purchase(cid, "HD-1", 100_000)
        summary = ledger.points_summary(cid)
        assert (summary.available, summary.pending, summary.lifetime_points) == (0, 100, 100)
        end = datetime(2026, 3, 1, tzinfo=HCM).astimezone(UTC)  # 7 Feb + 0 days, end of month
        assert [(e.expires_at, e.points) for e in summary.expiring] == [(end, 100)]
        assert 0 == ledger.balance(cid)
        assert 100 == ledger.balance(cid, at=T0 + timedelta(days=7))
        assert 0 == ledger.balance(cid, at=end)
        clock.advance(days=7)
        assert 100 == ledger.balance(cid)
        [notice] = ledger.expiring_points(timedelta(days=30))
        assert (notice.customer_id, notice.points, notice.expires_at) == (cid, 100, end)
        clock.advance(seconds=(end - clock()).total_seconds())
        assert 0 == ledger.balance(cid)
        kinds = [(r.kind, r.points, r.balance) for r in ledger.statement(cid)]
        assert kinds == [("earn", 100, 100), ("expire", -100, 0)]
        assert 1 == ledger.process_due()
        assert 0 == ledger.process_due()
        assert kinds == [(r.kind, r.points, r.balance) for r in ledger.statement(cid)]
        assert 0 == ledger.balance(cid)
        assert () == ledger.loyalty_account(cid).lots  # type: ignore[union-attr]


def test_redemptions_take_the_soonest_expiring_lots_and_returns_never_charge_expired_points(
    store_url: str,
) -> None:
    clock = Clock(T0)
    with Ledger.open(store_url, clock=clock, business_timezone=HCM) as ledger:
        ledger.configure_loyalty(program(expiry=PointsExpiry(0, "month")))
        cid = ledger.register_customer("Lê Thị Hoa", ["0912 345 678"])
        ledger.record_purchase(cid, "HD-1", 100_000)  # expires 1 Feb
        clock.advance(days=2)
        ledger.record_purchase(cid, "HD-2", 50_000)  # expires 1 Mar
        assert 50 == ledger.balance(cid)
        ledger.redeem_points(cid, 20, "R-1")
        # HD-1 expired (still open until process_due records it); HD-2 paid.
        assert [("HD-1", 100), ("HD-2", 30)] == [
            (lot.invoice_id, lot.points)
            for lot in ledger.loyalty_account(cid).lots  # type: ignore[union-attr]
        ]
        # HD-1's 100 points expired unspent: its return takes nothing from the balance.
        assert 0 == ledger.return_purchase(cid, "HD-1")
        assert 30 == ledger.balance(cid)
        assert ledger.points_summary(cid).lifetime_points == 50
        # HD-2's return takes its own lot (30 left), then 20 more it cannot cover.
        assert 30 == ledger.return_purchase(cid, "HD-2")
        assert 0 == ledger.balance(cid)


def test_returns_of_a_partly_spent_then_expired_invoice_count_its_expired_points_once(
    store_url: str,
) -> None:
    """An invoice's expired points are never charged again, but only once between all
    its returns: what the first return counted, the next cannot count again."""
    clock = Clock(T0)
    with Ledger.open(store_url, clock=clock, business_timezone=HCM) as ledger:
        ledger.configure_loyalty(program(expiry=PointsExpiry(0, "month")))
        cid = ledger.register_customer("Lê Thị Hoa", ["0912 345 678"])
        ledger.record_purchase(cid, "HD-1", 100_000)  # 100 points, expire 1 Feb
        ledger.redeem_points(cid, 60, "R-1")  # out of HD-1: 40 left in it
        clock.advance(days=2)
        ledger.record_purchase(cid, "HD-2", 200_000)  # 200 points, expire 1 Mar
        assert 1 == ledger.process_due()  # HD-1's last 40 points expire
        assert 200 == ledger.balance(cid)
        # Half of HD-1: 50 points owed, 40 of them expired: 10 come out of the balance.
        assert 10 == ledger.return_purchase(cid, "HD-1", 50_000)
        # The other half: 50 owed, the expired 40 already counted: all 50 from the balance.
        assert 50 == ledger.return_purchase(cid, "HD-1")
        assert 140 == ledger.balance(cid)


def test_a_program_change_never_rewrites_lots_already_earned(store_url: str) -> None:
    clock = Clock(T0)
    with Ledger.open(store_url, clock=clock, business_timezone=HCM) as ledger:
        assert 1 == ledger.configure_loyalty(program(expiry=PointsExpiry(0, "month")))
        assert 1 == ledger.configure_loyalty(program(expiry=PointsExpiry(0, "month")))
        cid = ledger.register_customer("Lê Thị Hoa", ["0912 345 678"])
        ledger.record_purchase(cid, "HD-1", 100_000)
        assert 2 == ledger.configure_loyalty(program())
        ledger.record_purchase(cid, "HD-2", 10_000)
        [expiring] = ledger.points_summary(cid).expiring
        assert expiring.points == 100


def test_processes_expiring_at_once_expire_each_lot_once(shared_url: str) -> None:
    lots, processes = 12, 3
    clock = Clock(T0)
    cids = []
    with Ledger.open(shared_url, clock=clock, business_timezone=HCM, react_inline=False) as ledger:
        ledger.configure_loyalty(program(expiry=PointsExpiry(0, "day")))
        for n in range(lots):
            cids.append(ledger.register_customer(f"Khách {n}", [f"09{n:08d}"]))
            ledger.record_purchase(cids[-1], f"HD-{n}", 10_000)
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(processes)
    queue = ctx.Queue()
    later = T0 + timedelta(days=2)
    children = [
        ctx.Process(
            target=toy_jobs.process_due_together,
            args=(shared_url, later, worker, barrier, queue),
            daemon=True,
        )
        for worker in range(processes)
    ]
    run_workers(children, queue, 120.0)
    with Ledger.open(shared_url, clock=clock, business_timezone=HCM, react_inline=False) as ledger:
        expired = [
            sum(isinstance(e, PointsExpired) for e in ledger._store.events_of(account_id(c)))
            for c in cids
        ]
        assert [1] * lots == expired
        assert 0 == ledger.process_due(later)


def test_the_directory_balance_follows_expiry_and_refunds(store_url: str) -> None:
    """The directory's balance is the points held: an expiry recorded by
    process_due takes them off, a checkout's return gives redeemed points back."""
    clock = Clock(T0)
    with Ledger.open(store_url, clock=clock, business_timezone=HCM) as ledger:
        ledger.configure_loyalty(program(expiry=PointsExpiry(0, "month")))
        cid = ledger.register_customer("Lê Thị Hoa", ["0912 345 678"])
        ledger.record_purchase(cid, "HD-1", 100_000)
        [row] = ledger.customers()
        assert 100 == row.balance
        clock.advance(days=40)
        assert 1 == ledger.process_due()
        [row] = ledger.customers()
        assert (0, 0) == (ledger.balance(cid), row.balance)
        ledger.record_purchase(cid, "HD-2", 100_000)
        ledger.checkout(cid, "HD-3", amount=Decimal(100_000), redeem_points=50)
        ledger.return_purchase(cid, "HD-3")
        [row] = ledger.customers()
        assert ledger.balance(cid) == row.balance
        assert [] == [p for p in ledger.audit().problems]


def test_points_are_drawn_soonest_expiring_first_and_never_expiring_last() -> None:
    day = timedelta(days=1)
    keeps = Lot("HD-1", 5, T0, T0, None)  # never expires
    late = Lot("HD-2", 5, T0, T0, T0 + 30 * day)  # earned first, expires last of the two
    soon = Lot("HD-3", 5, T0 + day, T0 + day, T0 + 10 * day)
    at = T0 + 2 * day
    assert (
        ("HD-3", 5),
        ("HD-2", 2),
    ) == draw((keeps, late, soon), 7, at)
    assert (
        ("HD-3", 5),
        ("HD-2", 5),
        ("HD-1", 1),
    ) == draw((keeps, late, soon), 11, at)


def test_a_backdated_draw_takes_what_its_date_lacks_from_the_lots_spendable_now() -> None:
    """A movement dated `at`, before the newest one: the lots spendable at `at` first,
    then, for what they no longer hold, those spendable at the newest date, never
    drawing again on what the first draw took."""
    day = timedelta(days=1)
    early = Lot("HD-1", 5, T0, T0, T0 + 30 * day)
    pending_then = Lot("HD-2", 10, T0, T0 + 2 * day, T0 + 20 * day)
    lots = (early, pending_then)
    assert (
        ("HD-1", 5),
        ("HD-2", 3),
    ) == draw_dated(lots, 8, T0 + day, T0 + 3 * day)
    assert (("HD-1", 5),) == draw_dated(lots, 8, T0 + day, T0 + day)  # nothing newer
    at = T0 + 3 * day
    assert (("HD-2", 3),) == draw_dated(lots, 3, at, at)  # HD-2 expires sooner
    # HD-1 expiring soonest: the second draw still finds it spent.
    soonest = Lot("HD-1", 5, T0, T0, T0 + 10 * day)
    assert (("HD-1", 5), ("HD-2", 3)) == draw_dated((soonest, pending_then), 8, T0 + day, at)


def test_points_drawn_from_lots_the_account_no_longer_holds_are_uncovered() -> None:
    """Each lot covers at most its points, once between all the draws on it; a draw on
    a lot that is gone (spent or expired, under backdated history) is uncovered whole."""
    lots = (Lot("HD-1", 5, T0, T0, None), Lot("HD-2", 3, T0, T0, None))
    assert 0 == uncovered(lots, ())
    assert 0 == uncovered(lots, (("HD-1", 2), ("HD-1", 3)))  # 5 of HD-1's 5
    assert 3 == uncovered(lots, (("HD-1", 4), ("HD-1", 4)))  # the second finds 1 left
    assert 2 == uncovered(lots, (("HD-9", 2),))  # no such lot
    assert 4 == uncovered(lots, (("HD-9", 2), ("HD-9", 2)))  # and none after the first
    assert 1 + 0 + 2 == uncovered(lots, (("HD-1", 6), ("HD-2", 1), ("HD-9", 2)))


def test_taking_draws_leaves_each_lot_less_all_its_draws_and_closes_empty_lots() -> None:
    lots = (Lot("HD-1", 5, T0, T0, None), Lot("HD-2", 3, T0, T0, None))
    assert lots == take(lots, ())
    assert (Lot("HD-1", 2, T0, T0, None), lots[1]) == take(lots, (("HD-1", 2), ("HD-1", 1)))
    assert (lots[0],) == take(lots, (("HD-2", 1), ("HD-2", 2)))  # HD-2 spent: it closes


def test_a_backdated_redemption_takes_what_its_dates_lots_no_longer_hold_from_those_held_now(
    store_url: str,
) -> None:
    """HD-1's lot was spendable on day 1 but a later redemption spent it; a
    redemption dated day 1 then takes its points from HD-2's lot (earned on day
    2), which the room later movements leave allows: no debt, and the lots hold
    exactly the balance."""
    day = timedelta(days=1)
    clock = Clock(T0)
    with Ledger.open(store_url, clock=clock, business_timezone=HCM) as ledger:
        ledger.configure_loyalty(program(expiry=PointsExpiry(365)))
        cid = ledger.register_customer("Lê Thị Hoa", ["0912 345 678"])
        ledger.record_purchase(cid, "HD-1", 100_000)
        clock.advance(days=2)
        ledger.record_purchase(cid, "HD-2", 100_000)
        clock.advance(days=1)
        ledger.redeem_points(cid, 100, "R-1")  # HD-1's lot, the soonest expiring
        ledger.redeem_points(cid, 50, "R-0", at=T0 + day)
        account = ledger.loyalty_account(cid)
        assert account is not None
        assert (0, 50) == (account.debt, account.balance)
        assert [("HD-2", 50)] == [(lot.invoice_id, lot.points) for lot in account.lots]
        assert 50 == ledger.balance(cid)


def test_a_backdated_redemption_keeps_the_minimum_balance_of_the_balance_as_it_stands(
    store_url: str,
) -> None:
    """The minimum remaining balance is checked against the balance now (300 - 60
    leaves 240), not the balance on the redemption's date (100 - 60 would leave
    40); the room later movements leave (100) bounds it too."""
    day = timedelta(days=1)
    clock = Clock(T0)
    with Ledger.open(store_url, clock=clock, business_timezone=HCM) as ledger:
        ledger.configure_loyalty(program(min_remaining_points=50))
        cid = ledger.register_customer("Lê Thị Hoa", ["0912 345 678"])
        ledger.record_purchase(cid, "HD-1", 100_000)
        clock.advance(days=2)
        ledger.record_purchase(cid, "HD-2", 200_000)
        assert Decimal(60_000) == ledger.redeem_points(cid, 60, "R-0", at=T0 + day)
        assert 240 == ledger.balance(cid)
        with pytest.raises(RedemptionRefused, match="leave only 40 points"):
            ledger.redeem_points(cid, 60, "R-00", at=T0 + day)


def test_a_customer_who_never_bought_is_refused_for_the_purchases_needed() -> None:
    with Ledger.open("memory://") as ledger:
        ledger.configure_loyalty(program())
        cid = ledger.register_customer("Lê Thị Hoa", ["0912 345 678"])
        with pytest.raises(
            RedemptionRefused, match="needs at least 1 purchase; the customer has 0"
        ):
            ledger.redeem_points(cid, 1, "R-1")


def test_a_return_at_the_purchases_very_moment_takes_its_pending_points_from_its_lot() -> None:
    """Pending points are the invoice's own, from the moment it is recorded: taking
    them back lowers no spendable balance, so nothing is short."""
    with Ledger.open("memory://", clock=Clock(T0), business_timezone=HCM) as ledger:
        ledger.configure_loyalty(program(pending_days=7))
        cid = ledger.register_customer("Lê Thị Hoa", ["0912 345 678"])
        ledger.record_purchase(cid, "HD-1", 100_000)
        assert 100 == ledger.return_purchase(cid, "HD-1")
        assert (0, 0) == (ledger.balance(cid), ledger.points_summary(cid).pending)


def test_a_backdated_return_takes_no_more_than_the_room_later_movements_leave() -> None:
    """HD-1 (100 points) is 80 spent on day 1; HD-2 (100) is earned on day 2. A
    return of HD-1 dated before HD-2 (at the purchase's moment, or just after the
    redemption) finds a balance of 20 at that date: it takes HD-1's 20 and no
    more (HD-2's points did not exist then), the other 80 are short."""
    day = timedelta(days=1)
    with Ledger.open("memory://", clock=Clock(T0 + 3 * day), business_timezone=HCM) as ledger:
        ledger.configure_loyalty(program(expiry=PointsExpiry(365)))
        for n, at in enumerate((T0, T0 + day + timedelta(hours=1))):
            cid = ledger.register_customer(f"Khách {n}", [f"0912 345 67{n}"])
            ledger.record_purchase(cid, f"HD-1-{n}", 100_000, at=T0)
            ledger.redeem_points(cid, 80, f"R-{n}", at=T0 + day)
            ledger.record_purchase(cid, f"HD-2-{n}", 100_000, at=T0 + 2 * day)
            assert 20 == ledger.return_purchase(cid, f"HD-1-{n}", at=at)
            account = ledger.loyalty_account(cid)
            assert account is not None
            assert [(f"HD-2-{n}", 100)] == [(lot.invoice_id, lot.points) for lot in account.lots]
            assert 100 == ledger.balance(cid)


def test_a_backdated_return_takes_from_lots_earned_after_its_date_what_the_room_allows() -> None:
    """HD-1's lot is spent (by a redemption on day 2); its return dated day 0.5 owes
    100 points. The balance from then on never falls below 50, so 50 are taken,
    from HD-2 (earned on day 1, after the return's date, the only lot left), and
    50 are short."""
    day = timedelta(days=1)
    with Ledger.open("memory://", clock=Clock(T0 + 3 * day), business_timezone=HCM) as ledger:
        ledger.configure_loyalty(program(expiry=PointsExpiry(365)))
        cid = ledger.register_customer("Lê Thị Hoa", ["0912 345 678"])
        ledger.record_purchase(cid, "HD-1", 100_000, at=T0)
        ledger.record_purchase(cid, "HD-2", 100_000, at=T0 + day)
        ledger.redeem_points(cid, 150, "R-1", at=T0 + 2 * day)  # HD-1's 100, HD-2's 50
        assert 50 == ledger.return_purchase(cid, "HD-1", at=T0 + day / 2)
        account = ledger.loyalty_account(cid)
        assert account is not None
        assert ((), 0, 0) == (account.lots, account.balance, account.debt)
        [back] = [r for r in ledger.statement(cid) if r.kind == "return"]
        assert -50 == back.points


def test_events_that_name_no_lots_are_drawn_on_replay_and_what_no_lot_holds_is_a_debt() -> None:
    """Events written by 0.1 name no lots: replaying them draws the spendable lots
    then (a return its invoice's lot first). Points no lot held are a debt that the
    next points earned or refunded pay first, so the open lots always hold exactly
    the balance (lots - debt = balance after every event)."""
    customer = UUID(int=7)
    record = account_id(customer)
    day = timedelta(days=1)
    common = {"originator_id": record, "timestamp": T0, "customer_id": customer}

    def earned(invoice: str, points: int, at: datetime) -> dict[str, object]:
        money = Decimal(points * 1000)
        return {"kind": PointsEarned, "invoice_id": invoice, "points": points, "at": at,
                "amount": money, "eligible_amount": money, "program_version": 1}  # fmt: skip

    def redeemed(
        points: int, at: datetime, lots: tuple[tuple[str, int], ...] = ()
    ) -> dict[str, object]:
        return {"kind": PointsRedeemed, "redemption_id": f"R-{at.day}", "points": points,
                "value": Decimal(points), "program_version": 1, "at": at, "lots": lots}  # fmt: skip

    def taken(invoice: str, points: int, at: datetime) -> dict[str, object]:
        return {"kind": PointsTakenBack, "invoice_id": invoice, "points": points, "shortfall": 0,
                "returned_amount": Decimal(1), "at": at}  # fmt: skip

    def refunded(lot: str, points: int, at: datetime) -> dict[str, object]:
        return {"kind": PointsRefunded, "invoice_id": lot.split("#")[0], "lot_id": lot,
                "points": points, "at": at}  # fmt: skip

    a, r, c = "HD-1", "HD-1#refund4", "HD-3"
    steps: list[tuple[dict[str, object], tuple[int, int, list[tuple[str, int]]]]] = [
        # (event, (balance, debt, open lots) after it)
        (earned(a, 100, T0 + 2 * day), (100, 0, [(a, 100)])),
        # Dated before HD-1 was earned: no lot was spendable then.
        (redeemed(50, T0), (50, 50, [(a, 100)])),
        (earned("HD-2", 30, T0 + 3 * day), (80, 20, [(a, 100)])),
        (refunded(r, 30, T0 + 4 * day), (110, 0, [(a, 100), (r, 10)])),
        (redeemed(60, T0 + 5 * day), (50, 0, [(a, 40), (r, 10)])),
        (taken("HD-9", 10, T0), (40, 10, [(a, 40), (r, 10)])),
        (refunded("HD-9#refund7", 10, T0 + 7 * day), (50, 0, [(a, 40), (r, 10)])),
        (earned(c, 50, T0 + 8 * day), (100, 0, [(a, 40), (r, 10), (c, 50)])),
        # A return takes its invoice's own lot first, though HD-1 is older.
        (taken(c, 20, T0 + 9 * day), (80, 0, [(a, 40), (r, 10), (c, 30)])),
        # An event that names its lots is taken as it says.
        (redeemed(5, T0 + 10 * day, ((c, 5),)), (75, 0, [(a, 40), (r, 10), (c, 25)])),
    ]  # fmt: skip
    state = None
    for version, (fields, (balance, debt, lots)) in enumerate(steps, start=1):
        kind = fields.pop("kind")
        assert isinstance(kind, type)
        state = evolve_account(state, kind(originator_version=version, **common, **fields))
        held = [(lot.invoice_id, lot.points) for lot in state.lots]
        assert (balance, debt, lots) == (state.balance, state.debt, held), version
        assert sum(points for _, points in held) - state.debt == state.balance


def test_a_reading_dated_between_movements_counts_only_those_before_it(store_url: str) -> None:
    """Each movement moves the account's newest date (an earning, an expiry), so a
    reading dated before it replays the events instead of reading the account as
    it stands now."""
    day = timedelta(days=1)
    clock = Clock(T0)
    with Ledger.open(store_url, clock=clock, business_timezone=HCM) as ledger:
        ledger.configure_loyalty(program(expiry=PointsExpiry(10)))
        cid = ledger.register_customer("Lê Thị Hoa", ["0912 345 678"])
        ledger.record_purchase(cid, "HD-1", 100_000)
        clock.advance(days=2)
        ledger.record_purchase(cid, "HD-2", 50_000)
        assert (100, 150) == (ledger.balance(cid, at=T0 + day), ledger.balance(cid))
        assert 100 == ledger.points_summary(cid, at=T0 + day).lifetime_points
        clock.advance(days=10)  # HD-1 expired at the start of day 11, HD-2 stays
        assert 1 == ledger.process_due()  # records HD-1's expiry
        assert (150, 50) == (ledger.balance(cid, at=T0 + 5 * day), ledger.balance(cid))
