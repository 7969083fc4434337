"""Queries about a customer's points, by business time `at` and recording time `as_of`.

`at` takes the movements dated at or before it (None: now); `as_of` the
movements the ledger had recorded by then (None: everything so far). `as_of`
alone means `at=as_of` too: what a query asked at that moment showed.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import attrs

from referral_ledger.aggregates import customer as customers
from referral_ledger.aggregates import lots as lot_rules
from referral_ledger.aggregates import loyalty, loyalty_account
from referral_ledger.aggregates import program as programs
from referral_ledger.aggregates.base import Event, Evolve
from referral_ledger.aggregates.lots import Lot
from referral_ledger.aggregates.loyalty_account import LoyaltyAccount
from referral_ledger.aggregates.program import LOYALTY_PROGRAM_ID, ProgramSettings
from referral_ledger.commands.base import LedgerBase
from referral_ledger.errors import InvalidInput, NotFound
from referral_ledger.policies import loyalty as rules
from referral_ledger.policies.loyalty import LoyaltyProgram
from referral_ledger.projections.statement import (
    ExpiringPoints,
    PointsSummary,
    StatementRow,
    Totals,
    expiring,
    room_from,
    statement_rows,
    totals,
)
from referral_ledger.reactions import points_expiry
from referral_ledger.values import parse_id, parse_optional_time


class PointsQueries(LedgerBase):
    """Balance, statement and summary of a customer's points."""

    def balance(
        self, customer_id: UUID, as_of: datetime | None = None, *, at: datetime | None = None
    ) -> int:
        """The points balance by business time `at`, as recorded by `as_of` (both: now)."""
        return self._totals(customer_id, at, as_of)[0].balance

    def statement(
        self, customer_id: UUID, *, at: datetime | None = None, as_of: datetime | None = None
    ) -> list[StatementRow]:
        """Every points movement dated by `at` and recorded by `as_of`, with running balances.

        In business-time order (movements dated alike: in the order recorded),
        as a customer reads a statement; `recorded_at` says when each was recorded.
        """
        customer = parse_id(customer_id, "customer_id")
        when, recorded = self._reading(at, as_of)
        self._known_customer(customer)
        events = self._store.events_of(loyalty.account_id(customer))
        return statement_rows(events, at=when or self._now(events), as_of=recorded)

    def points_summary(
        self, customer_id: UUID, *, at: datetime | None = None, as_of: datetime | None = None
    ) -> PointsSummary:
        """Available, pending and lifetime points and the tier, at one reading.

        The tier is the one the program in force at the reading (as recorded
        by `as_of`) gives the lifetime points.
        """
        reading, settings = self._totals(customer_id, at, as_of, with_program=True)
        program = settings.program if settings else None
        basis = reading.lifetime_points
        if program is not None and program.tier_window_days is not None:
            # The window's earnings are kept on the account as it stands now.
            account = self._store.load(
                loyalty.account_id(parse_id(customer_id, "customer_id")),
                loyalty_account.evolve_account,
            )
            when = parse_optional_time(at, "at") or self._store.clock()
            basis = loyalty_account.tier_points(account, program, when)
        tier = rules.tier_for(program, basis) if program else None
        return PointsSummary(
            available=reading.balance,
            pending=reading.pending,
            lifetime_points=reading.lifetime_points,
            tier=tier,
            expiring=reading.expiring,
        )

    def expiring_points(
        self, within: timedelta, *, at: datetime | None = None
    ) -> list[ExpiringPoints]:
        """Every customer's points that expire after `at` (now) and within `within` of it.

        One entry per customer and expiry moment, soonest first, with
        `customer_id` set: what a host sends notices from ("your 120 points
        expire on 31 March"). Reads the due index's rows of that range and
        the accounts in bulk.
        """
        if not isinstance(within, timedelta) or within < timedelta(0):
            raise InvalidInput(f"within must be a non-negative timedelta, not {within!r}")
        when = self._business_time(at)
        due: dict[tuple[datetime, UUID], int] = {}
        for customer, lot in points_expiry.open_lots(
            self._store, after=when, until=when + within, index=self._context.due_index
        ):
            assert lot.expires_at is not None
            key = (lot.expires_at, customer)
            due[key] = due.get(key, 0) + lot.points
        return [
            ExpiringPoints(moment, points, customer)
            for (moment, customer), points in sorted(
                due.items(), key=lambda i: (i[0][0], str(i[0][1]))
            )
        ]

    def loyalty_account(
        self, customer_id: UUID, as_of: datetime | None = None
    ) -> LoyaltyAccount | None:
        """The customer's points account record (balance, purchase count, lifetime points, tier).

        Every movement recorded by `as_of` (None: now), whatever its business
        date; None when the customer has none.
        """
        customer = parse_id(customer_id, "customer_id")
        when = parse_optional_time(as_of, "as_of")
        account = loyalty.account_id(customer)
        states = self._current(
            customer, {account: loyalty_account.evolve_account} if when is None else {}
        )
        state: LoyaltyAccount | None = (
            states[account]
            if when is None
            else self._store.load_as_of(account, loyalty_account.evolve_account, when)
        )
        settings = self._load_as_of(LOYALTY_PROGRAM_ID, programs.evolve_loyalty_settings, when)
        if state is None or settings is None:
            return state
        # The tier the program in force gives: thresholds changed since the
        # last movement re-tier every customer, and no removed tier shows.
        basis = loyalty_account.tier_points(state, settings.program, when or self._store.clock())
        return attrs.evolve(state, tier=rules.tier_for(settings.program, basis))

    # --- helpers -----------------------------------------------------------

    def _reading(self, at: object, as_of: object) -> tuple[datetime | None, datetime | None]:
        """The reading's business moment and recording moment (None: now)."""
        recorded = parse_optional_time(as_of, "as_of")
        when = parse_optional_time(at, "at")
        return (recorded if when is None else when), recorded

    def _now(self, events: list[Event]) -> datetime:
        """Business "now" for a reading of `events`: the clock, or the newest record.

        Time does not run backwards: a movement recorded (by another process
        whose clock runs ahead of this one's) has happened, so "now" is never
        before the newest recording. Only movements dated after both are left
        out: those dated in the future.
        """
        now = self._store.clock()
        return max([now, *(event.timestamp for event in events)])

    def _room(
        self, account: LoyaltyAccount | None, at: datetime
    ) -> tuple[int | None, tuple[Lot, ...] | None]:
        """How many points a movement dated `at` may take, and the lots then (see `room_from`).

        (None, None): dated after every movement (the usual case), it lowers
        only the spendable balance of the account's own lots, and the events
        need not be read.
        """
        if account is None or at >= account.latest_at:
            return None, None
        # As the unit read the account: a newer version would conflict anyway.
        events = self._store.events_of(account.id)[: account.version]
        return room_from(events, at)

    def _current(self, customer: UUID, records: dict[UUID, Evolve[Any]]) -> dict[UUID, Any]:
        """Current states of `records` and of the customer, in one query; NotFound if unknown."""
        # One query: on PostgreSQL each is a round trip.
        states = self._store.load_many({customer: customers.evolve_customer, **records})
        if states[customer] is None:
            raise NotFound(f"no customer with id {customer}")
        return states

    def _totals(
        self, customer_id: object, at: object, as_of: object, *, with_program: bool = False
    ) -> tuple[Totals, ProgramSettings[LoyaltyProgram] | None]:
        customer = parse_id(customer_id, "customer_id")
        when, recorded = self._reading(at, as_of)
        account_id = loyalty.account_id(customer)
        records: dict[UUID, Evolve[Any]] = {}
        if recorded is None:
            records[account_id] = loyalty_account.evolve_account
            if with_program:
                records[LOYALTY_PROGRAM_ID] = programs.evolve_loyalty_settings
        states = self._current(customer, records)
        settings: ProgramSettings[LoyaltyProgram] | None = None
        if with_program:
            settings = (
                states[LOYALTY_PROGRAM_ID]
                if recorded is None
                else self._load_as_of(
                    LOYALTY_PROGRAM_ID, programs.evolve_loyalty_settings, recorded
                )
            )
        if recorded is None:
            account: LoyaltyAccount | None = states[account_id]
            if account is None:
                return Totals(), settings
            # Nothing dated after the reading: the account's own figures are
            # the answer, without reading its events.
            moment = when or self._store.clock()
            if account.latest_at <= moment:
                lots = account.lots
                return Totals(
                    lot_rules.available(lots, moment),
                    account.lifetime_points,
                    lot_rules.pending(lots, moment),
                    expiring(lots, moment),
                ), settings
        events = self._store.events_of(account_id)
        return totals(events, at=when or self._now(events), as_of=recorded), settings
