"""The executable specification of campaigns: bonuses, limits, budgets and the race.

A Hypothesis state machine adds campaigns (and the same ones again, and the
same ids with other settings), records purchases of three customers at
business times in and out of the windows (by `record_purchase`, and by
`checkout` with and without a voucher: bonuses on the money paid), returns
them, ends campaigns early and closes them with `process_due`, against a
plain model written from the rules in docs/campaigns.md. After every step:
each purchase earned what the model says, no customer got more bonus than a
limit and no campaign more than its budget (in the campaigns' own records
too, and by the audit), a repeated checkout returns the same result, every
leaderboard is the model's, and a refused command recorded nothing. Views
equal a rebuild. On memory, SQLite and PostgreSQL, each example on a new,
empty store.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any, ClassVar
from uuid import UUID

import attrs
import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from referral_ledger import Campaign, InvalidInput, Ledger, LoyaltyProgram, NotFound, Voucher
from referral_ledger.aggregates.campaign import campaign_record_id, evolve_campaign
from referral_ledger.policies.loyalty import points_to_take_back
from stores import fresh_store

T0 = datetime(2026, 6, 1, tzinfo=UTC)
IDS = ("A", "B", "C")
#: (group, tags) of the three customers.
PEOPLE = (("VIP", ("hot",)), (None, ()), ("VIP", ()))
#: A voucher anyone may use at checkout, any number of times.
VOUCHER, VOUCHER_DISCOUNT = "GIAM10", 10000


@attrs.define
class Model:
    """A campaign as the model sees it."""

    campaign: Campaign
    version: int = 1
    ended_at: datetime | None = None
    closed: bool = False
    granted: int = 0
    #: customer -> [purchases, bonus, points, reached]
    racers: dict[UUID, list[int]] = attrs.Factory(dict)

    def end(self) -> datetime:
        e = self.campaign.ends_at
        return e if self.ended_at is None else min(e, self.ended_at)

    def ranking(self) -> list[tuple[UUID, int]]:
        order = sorted(self.racers.items(), key=lambda kv: (-kv[1][2], kv[1][3]))
        return [(c, r[2]) for c, r in order]


campaigns = st.builds(
    lambda cid, start, length, mult, bonus, nth, minimum, groups, tags, limit, budget: Campaign(
        campaign_id=cid,
        name=f"Campaign {cid}",
        starts_at=T0 + timedelta(days=start),
        ends_at=T0 + timedelta(days=start + length),
        multiplier=mult,
        bonus_points=bonus,
        every_nth_purchase=nth,
        min_amount=minimum,
        eligible_groups=groups,
        eligible_tags=tags,
        per_customer_limit=limit,
        budget_points=budget,
    ),
    st.sampled_from(IDS),
    st.integers(0, 6),
    st.integers(1, 8),
    st.sampled_from([Decimal(1), Decimal("1.5"), Decimal(2), Decimal(3)]),
    st.sampled_from([0, 5, 20]),
    st.sampled_from([None, 2, 3]),
    st.sampled_from([Decimal(0), Decimal(50000)]),
    st.sampled_from([None, {"VIP"}]),
    st.sampled_from([None, {"hot"}]),
    st.sampled_from([None, 15, 60]),
    st.sampled_from([None, 40, 150]),
)


class CampaignMachine(RuleBasedStateMachine):
    kind: ClassVar[str] = "memory"

    def __init__(self) -> None:
        super().__init__()
        url, self._cleanup = fresh_store(self.kind)
        self.ledger = Ledger.open(url, clock=lambda: T0)
        self.ledger.configure_loyalty(
            LoyaltyProgram(money_per_point=Decimal(1000), point_value=Decimal(100))
        )
        self.customers = [
            self.ledger.register_customer(
                name=f"Khách {n}", phones=[f"09{n:08d}"], group=group, tags=list(tags)
            )
            for n, (group, tags) in enumerate(PEOPLE, start=1)
        ]
        self.people = dict(zip(self.customers, PEOPLE, strict=True))
        self.ledger.create_voucher(Voucher(code=VOUCHER, discount=Decimal(VOUCHER_DISCOUNT)))
        self.model: dict[str, Model] = {}
        #: invoice -> [customer, amount, returned, points, taken, campaigns]
        self.invoices: dict[str, list[Any]] = {}
        self.latest = T0

    def teardown(self) -> None:
        self.ledger.close()
        self._cleanup()

    def _unchanged(self, before: int) -> None:
        assert self.ledger.event_count() == before

    @rule(campaign=campaigns)
    def add_campaign(self, campaign: Campaign) -> None:
        known = self.model.get(campaign.campaign_id)
        before = self.ledger.event_count()
        if known is not None and known.campaign != campaign:
            with pytest.raises(InvalidInput, match=campaign.campaign_id):
                self.ledger.add_campaign(campaign, at=T0)
            self._unchanged(before)
            return
        self.ledger.add_campaign(campaign, at=T0)
        if known is None:
            self.model[campaign.campaign_id] = Model(campaign)
        else:
            self._unchanged(before)

    @rule(
        who=st.integers(0, 2),
        amount=st.sampled_from([10000, 30000, 60000, 150000]),
        day=st.integers(0, 15),
        hour=st.integers(0, 23),
    )
    def purchase(self, who: int, amount: int, day: int, hour: int) -> None:
        customer, at = self.customers[who], T0 + timedelta(days=day, hours=hour)
        invoice = f"HD-{len(self.invoices) + 1}"
        total, _ = self._sale(customer, invoice, amount, 0, at)
        assert self.ledger.record_purchase(customer, invoice, amount, at=at) == total

    @rule(
        who=st.integers(0, 2),
        amount=st.sampled_from([10000, 30000, 60000, 150000]),
        day=st.integers(0, 15),
        hour=st.integers(0, 23),
        voucher=st.booleans(),
    )
    def checkout(self, who: int, amount: int, day: int, hour: int, voucher: bool) -> None:
        """The till: bonuses on the base points of the money paid after the voucher."""
        customer, at = self.customers[who], T0 + timedelta(days=day, hours=hour)
        invoice = f"HD-{len(self.invoices) + 1}"
        off = VOUCHER_DISCOUNT if voucher else 0
        total, bonus = self._sale(customer, invoice, amount, off, at)
        sale = self.ledger.checkout(
            customer, invoice, amount, voucher=VOUCHER if voucher else None, at=at
        )
        assert (sale.points_earned, sale.bonus_points) == (total, bonus)
        # The same checkout again: the same result, nothing spent again.
        before = self.ledger.event_count()
        again = self.ledger.checkout(
            customer, invoice, amount, voucher=VOUCHER if voucher else None, at=at
        )
        assert again == sale
        self._unchanged(before)

    def _sale(
        self, customer: UUID, invoice: str, amount: int, off: int, at: datetime
    ) -> tuple[int, int]:
        """What the model says a sale earns (all its points, the bonus), and count it."""
        group, tags = self.people[customer]
        base = (amount - off) // 1000
        bonuses = []
        for cid in sorted(self.model):
            m = self.model[cid]
            c = m.campaign
            if m.closed or not c.starts_at <= at < m.end() or amount < c.min_amount:
                continue
            if c.eligible_groups is not None and group not in c.eligible_groups:
                continue
            if c.eligible_tags is not None and not c.eligible_tags & set(tags):
                continue
            racer = m.racers.setdefault(customer, [0, 0, 0, 0])
            extra = math.floor(base * (Fraction(c.multiplier) - 1))
            nth = c.every_nth_purchase
            bonus = extra + (c.bonus_points if nth is None or (racer[0] + 1) % nth == 0 else 0)
            if c.per_customer_limit is not None:
                bonus = min(bonus, c.per_customer_limit - racer[1])
            if c.budget_points is not None:
                bonus = min(bonus, c.budget_points - m.granted)
            bonuses.append((m, max(0, bonus)))
        total = base + sum(b for _, b in bonuses)
        for m, bonus in bonuses:
            racer = m.racers[customer]
            m.version += 1
            m.granted += bonus
            racer[:] = [racer[0] + 1, racer[1] + bonus, racer[2] + total, m.version]
        self.invoices[invoice] = [customer, amount, 0, total, 0, [m for m, _ in bonuses]]
        self.latest = max(self.latest, at)
        return total, sum(b for _, b in bonuses)

    @precondition(lambda self: self.invoices)
    @rule(data=st.data(), half=st.booleans())
    def return_purchase(self, data: st.DataObject, half: bool) -> None:
        invoice = data.draw(st.sampled_from(sorted(self.invoices)))
        customer, amount, returned, points, taken, counted = self.invoices[invoice]
        left = amount - returned
        before = self.ledger.event_count()
        if left == 0:
            with pytest.raises(InvalidInput, match=invoice):
                self.ledger.return_purchase(customer, invoice, at=self.latest)
            self._unchanged(before)
            return
        now = left // 2 if half and left > 1 else left
        owed = points_to_take_back(
            earned=points,
            invoice_amount=Decimal(amount),
            returned_before=Decimal(returned),
            returned_now=Decimal(now),
            taken_before=taken,
        )
        assert self.ledger.return_purchase(customer, invoice, now, at=self.latest) == owed
        self.invoices[invoice][2:5] = [returned + now, points, taken + owed]
        for m in counted:
            if owed:
                m.version += 1
                racer = m.racers[customer]
                racer[2] -= owed
                racer[3] = m.version

    @rule(cid=st.sampled_from(IDS), day=st.integers(0, 15))
    def end_campaign(self, cid: str, day: int) -> None:
        at = T0 + timedelta(days=day)
        before = self.ledger.event_count()
        m = self.model.get(cid)
        if m is None:
            with pytest.raises(NotFound, match=cid):
                self.ledger.end_campaign(cid, at=at)
            self._unchanged(before)
            return
        self.ledger.end_campaign(cid, at=at)
        if not m.closed and at < m.end():
            m.ended_at = at
            m.version += 1
        else:
            self._unchanged(before)

    @rule(day=st.integers(0, 16))
    def process_due(self, day: int) -> None:
        now = T0 + timedelta(days=day)
        self.ledger.process_due(now)
        for m in self.model.values():
            if not m.closed and m.end() <= now:
                m.closed = True
                m.version += 1

    @rule()
    def views_equal_a_rebuild(self) -> None:
        self.ledger.catch_up_projections()
        live = self.ledger._views.dump()
        self.ledger.rebuild_projections()
        assert self.ledger._views.dump() == live

    @rule()
    def the_audit_finds_nothing(self) -> None:
        """The audit's campaign check (budget, limits, earned == counted) agrees."""
        assert list(self.ledger.audit().problems) == []

    @invariant()
    def limits_and_budgets_hold(self) -> None:
        """In the ledger's own records, not only the model's: granted and each racer's bonus."""
        for cid, m in self.model.items():
            c = m.campaign
            state = self.ledger._store.load(campaign_record_id(cid), evolve_campaign)
            assert state is not None
            assert state.granted == m.granted
            if c.budget_points is not None:
                assert m.granted <= c.budget_points
            for customer, racer in m.racers.items():
                held = state.racers.get(customer.hex)
                assert ((held.purchases, held.bonus) if held else (0, 0)) == tuple(racer[:2])
                if c.per_customer_limit is not None:
                    assert racer[1] <= c.per_customer_limit

    @invariant()
    def leaderboards_are_the_models(self) -> None:
        for cid, m in self.model.items():
            rows = self.ledger.campaign_leaderboard(cid, limit=10)
            assert [(r.customer_id, r.points) for r in rows] == m.ranking()
            assert [r.rank for r in rows] == list(range(1, len(rows) + 1))

    @invariant()
    def campaigns_listed(self) -> None:
        assert self.ledger.campaigns() == [self.model[c].campaign for c in sorted(self.model)]
        for day in (0, 3, 9):
            when = T0 + timedelta(days=day, hours=12)
            active = [
                c for c, m in sorted(self.model.items()) if m.campaign.starts_at <= when < m.end()
            ]
            assert [c.campaign_id for c in self.ledger.campaigns(active_at=when)] == active


STEPS = settings(stateful_step_count=20)


class OnMemory(CampaignMachine):
    kind = "memory"


class OnSQLite(CampaignMachine):
    kind = "sqlite"


class OnPostgres(CampaignMachine):
    kind = "postgres"


TestCampaignsOnMemory = OnMemory.TestCase
TestCampaignsOnMemory.settings = STEPS
TestCampaignsOnSQLite = OnSQLite.TestCase
TestCampaignsOnSQLite.settings = STEPS
TestCampaignsOnPostgres = pytest.mark.postgres(OnPostgres.TestCase)
TestCampaignsOnPostgres.settings = STEPS
