"""Property: every reading by `at` and `as_of` equals a plain model's, for any history.

Hypothesis draws interleavings of purchases, redemptions and returns, each
recorded at its own moment and dated now, backfilled into the past or set in
the future; then reads balances, statements and summaries at moments around
every date and every recording. The model is a list of movements filtered
and summed exactly as API.md "Business time" says, nothing more.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from uuid import uuid4

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from referral_ledger import Ledger, LoyaltyProgram, PointsSummary, RedemptionRefused, Tier
from support import Clock

START = datetime(2026, 1, 1, tzinfo=UTC)
PROGRAM = LoyaltyProgram(
    money_per_point=Decimal(10000), point_value=Decimal(1000), tiers=(Tier("Gold", 30),)
)


@attrs.frozen
class Movement:
    at: datetime
    recorded: datetime
    kind: str
    points: int
    #: What the movement adds to lifetime points (a return owes all it took back).
    lifetime: int
    reference: str


def model_reading(
    movements: list[Movement], at: datetime | None, as_of: datetime | None, now: datetime
) -> list[Movement]:
    """API.md: recorded by `as_of`, dated by `at` (`as_of` alone: at=as_of; neither: now)."""
    when = at if at is not None else as_of if as_of is not None else now
    chosen = [m for m in movements if (as_of is None or m.recorded <= as_of) and m.at <= when]
    return sorted(chosen, key=lambda m: m.at)  # stable: ties stay in recording order


def model_room(movements: list[Movement], at: datetime) -> int:
    """The lowest balance, in business-time order, from a new movement dated `at` on."""
    ordered = sorted(movements, key=lambda m: m.at)
    running = sum(m.points for m in ordered if m.at <= at)
    lowest = running
    for m in ordered:
        if m.at > at:
            running += m.points
            lowest = min(lowest, running)
    return lowest


@contextmanager
def opened(kind: str, clock: Clock) -> Iterator[Ledger]:
    directory = tempfile.mkdtemp(prefix="bitemporal-") if kind == "sqlite" else None
    url = f"sqlite:///{directory}/ledger.db" if directory else f"memory://{uuid4().hex}"
    try:
        with Ledger.open(url, clock=clock, snapshot_interval=2) as ledger:
            yield ledger
    finally:
        if directory:
            shutil.rmtree(directory, ignore_errors=True)


steps = st.lists(
    st.tuples(
        st.sampled_from(["buy", "buy", "redeem", "return"]),
        st.integers(1, 48),  # hours the clock moves before the step
        st.one_of(st.none(), st.integers(-60 * 24, 5 * 24)),  # `at`: hours from now
        st.integers(0, 40),  # amount in 10,000s, or points, or which invoice
    ),
    min_size=1,
    max_size=12,
)


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
@given(history=steps, data=st.data())
def test_readings_by_at_and_as_of_equal_the_models(
    kind: str, history: list[tuple[str, int, int | None, int]], data: st.DataObject
) -> None:
    clock = Clock(START)
    with opened(kind, clock) as ledger:
        ledger.configure_loyalty(PROGRAM)
        customer = ledger.register_customer(name="Lê Thị Hoa", phones=["0912 345 678"])
        movements: list[Movement] = []
        invoices: dict[str, int] = {}
        for number, (step, hours, offset, size) in enumerate(history):
            now = clock.advance(hours=hours)
            at = None if offset is None else now + timedelta(hours=offset)
            moment = now if at is None else at
            balance = sum(m.points for m in movements)
            if step == "buy":
                ref = f"INV-{number}"
                # size 0 earns nothing but is a purchase all the same (and can be returned).
                assert size == ledger.record_purchase(customer, ref, size * 10000 + 5000, at=at)
                invoices[ref] = size
                movements.append(Movement(moment, now, "earn", size, size, ref))
            elif step == "redeem":
                ref = f"R-{number}"
                points = size + 1
                bought = any(m.kind == "earn" for m in movements)
                # No running balance may go negative, now or at any business moment.
                if not bought or points > min(balance, model_room(movements, moment)):
                    with pytest.raises(RedemptionRefused):
                        ledger.redeem_points(customer, points, ref, at=at)
                    continue
                assert Decimal(points * 1000) == ledger.redeem_points(customer, points, ref, at=at)
                movements.append(Movement(moment, now, "redeem", -points, 0, ref))
            elif invoices:
                ref = sorted(invoices)[size % len(invoices)]
                owed = invoices.pop(ref)
                taken = max(0, min(owed, balance, model_room(movements, moment)))
                assert taken == ledger.return_purchase(customer, ref, at=at)
                movements.append(Movement(moment, now, "return", -taken, -owed, ref))

        clock.advance(hours=1)
        moments = sorted(
            {m.at + d for m in movements for d in (-timedelta(microseconds=1), timedelta(0))}
            | {
                m.recorded + d
                for m in movements
                for d in (-timedelta(microseconds=1), timedelta(0))
            }
        )
        times = st.one_of(st.none(), st.sampled_from(moments)) if moments else st.none()
        drawn = data.draw(st.lists(st.tuples(times, times), max_size=5), "pairs")
        pairs: list[tuple[datetime | None, datetime | None]] = [(None, None), *drawn]
        for at, as_of in pairs:
            expected = model_reading(movements, at, as_of, clock.now)
            running = 0
            rows = []
            for m in expected:
                running += m.points
                rows.append((m.at, m.kind, m.points, running, m.reference, m.recorded))
            # DOMAIN.md: the balance never goes negative, at any business moment either.
            assert all(row[3] >= 0 for row in rows)
            lifetime = sum(m.lifetime for m in expected)
            assert running == ledger.balance(customer, as_of, at=at)
            assert rows == [
                (r.at, r.kind, r.points, r.balance, r.reference, r.recorded_at)
                for r in ledger.statement(customer, at=at, as_of=as_of)
            ]
            tier = "Gold" if lifetime >= 30 else None
            assert PointsSummary(running, 0, lifetime, tier) == ledger.points_summary(
                customer, at=at, as_of=as_of
            )
