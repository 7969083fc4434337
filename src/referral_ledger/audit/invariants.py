"""The ledger's own invariants, checked over the log: balances, invoices, referral
timelines, campaign budgets and limits, and the views against a rebuild."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime
from typing import TYPE_CHECKING, Final
from uuid import UUID

import attrs

from referral_ledger.aggregates import loyalty
from referral_ledger.aggregates.base import Event
from referral_ledger.aggregates.referral import (
    ALLOWED_MOVES,
    ReferralMarkedIneligible,
    ReferralRewarded,
    ReferralStarted,
    ReferralStatus,
    ReferralSubmitted,
    ReferredCustomerLinked,
    RepAssigned,
)
from referral_ledger.audit.campaigns import CampaignLimits
from referral_ledger.audit.log import reason
from referral_ledger.audit.report import Problem

if TYPE_CHECKING:
    from referral_ledger.ledger import Ledger

_MOVES: Final[dict[type[Event], ReferralStatus]] = {
    ReferralStarted: ReferralStatus.IN_PROGRESS,
    ReferralRewarded: ReferralStatus.REWARDED,
    ReferralMarkedIneligible: ReferralStatus.INELIGIBLE,
}


_TIMELINE: Final = frozenset({ReferralSubmitted, RepAssigned, ReferredCustomerLinked, *_MOVES})


@attrs.define
class _Account:
    first_position: int
    balance: int = 0
    lowest: int = 0
    lowest_position: int = 0


@attrs.define
class _Timeline:
    first_position: int
    status: ReferralStatus | None = None
    last_at: datetime | None = None


class Invariants:
    """Fed every decoded event in log order; says what the ledger's promises broke."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []
        self.accounts: dict[UUID, _Account] = {}
        self.earned: Counter[str] = Counter()
        self.recorded: defaultdict[str, list[int]] = defaultdict(list)
        self.timelines: dict[UUID, _Timeline] = {}
        self.campaigns = CampaignLimits(self.problems)

    def event(self, event: Event, position: int) -> None:
        problems = self.problems
        self.campaigns.event(event, position)
        if isinstance(event, loyalty.PointsEarned | loyalty.PointsRedeemed):
            _move(self.accounts, event, position, problems)
            if isinstance(event, loyalty.PointsEarned):
                self.earned[event.invoice_id] += 1
                if self.earned[event.invoice_id] == 2:
                    problems.append(
                        Problem(
                            "invoices",
                            f"invoice {event.invoice_id!r} earned points more than once",
                            position,
                        )
                    )
        elif isinstance(
            event, loyalty.PointsTakenBack | loyalty.PointsExpired | loyalty.PointsRefunded
        ):
            _move(self.accounts, event, position, problems)
        elif isinstance(event, loyalty.InvoiceRecorded):
            self.recorded[event.invoice_id].append(position)
            if len(self.recorded[event.invoice_id]) == 2:
                problems.append(
                    Problem(
                        "invoices",
                        f"invoice {event.invoice_id!r} was recorded more than once",
                        position,
                    )
                )
        elif type(event) in _TIMELINE:
            _follow(self.timelines, event, position, problems)

    def finish(self, ledger: Ledger) -> list[Problem]:
        """After the last event: each account's balance as the ledger answers it."""
        self.campaigns.finish()
        for account_id, account in self.accounts.items():
            _check_account(ledger, account_id, account, self.problems)
        return self.problems


def _move(
    accounts: dict[UUID, _Account],
    event: loyalty.PointsEarned
    | loyalty.PointsRedeemed
    | loyalty.PointsTakenBack
    | loyalty.PointsExpired
    | loyalty.PointsRefunded,
    position: int,
    problems: list[Problem],
) -> None:
    account = accounts.setdefault(event.originator_id, _Account(position))
    # Earnings and refunds (redeemed points a return gave back) add; the rest take away.
    adds = isinstance(event, loyalty.PointsEarned | loyalty.PointsRefunded)
    points = event.points if adds else -event.points
    account.balance += points
    if points < 0 and account.balance < 0:
        problems.append(
            Problem(
                "balances",
                f"customer {event.customer_id}'s balance went negative ({account.balance})",
                position,
            )
        )


def _check_account(
    ledger: Ledger, account_id: UUID, account: _Account, problems: list[Problem]
) -> None:
    # The balance as the ledger answers it: from the latest snapshot plus the
    # events after it. It must equal the movements summed from the log.
    try:
        state = ledger._store.load(account_id, loyalty.evolve_account, cached=False)
    except Exception as error:
        problems.append(
            Problem(
                "balances",
                f"points account {account_id} cannot be loaded: {reason(error)}",
                account.first_position,
            )
        )
        return
    balance = state.balance if state else 0
    if balance != account.balance:
        customer = state.customer_id if state else account_id
        problems.append(
            Problem(
                "balances",
                f"customer {customer}: balance {balance} != sum of movements {account.balance}",
                account.first_position,
            )
        )


def _follow(
    timelines: dict[UUID, _Timeline], event: Event, position: int, problems: list[Problem]
) -> None:
    referral = event.originator_id
    at: datetime = getattr(event, "at")  # noqa: B009 - every referral event has `at`
    if isinstance(event, ReferralSubmitted):
        if referral in timelines:
            problems.append(Problem("referrals", f"referral {referral} submitted twice", position))
            return
        timelines[referral] = _Timeline(position, ReferralStatus.SUBMITTED, at)
        return
    timeline = timelines.get(referral)
    if timeline is None or timeline.status is None:
        problems.append(
            Problem(
                "referrals",
                f"referral {referral}: {type(event).__name__} before it was submitted",
                position,
            )
        )
        return
    if timeline.last_at is not None and at < timeline.last_at:
        problems.append(
            Problem(
                "referrals",
                f"referral {referral}: {type(event).__name__} at {at.isoformat()} is before "
                f"its previous change at {timeline.last_at.isoformat()}",
                position,
            )
        )
    if not isinstance(event, ReferredCustomerLinked):
        # As in the referral's own `updated_at`: noting that the lead became a
        # customer is not a change of the timeline, so a later change may be
        # dated before it (a start backdated to before the lead registered).
        timeline.last_at = max(at, timeline.last_at or at)
    target = _MOVES.get(type(event))
    if target is None:
        if isinstance(event, RepAssigned) and not timeline.status.is_open:
            problems.append(
                Problem(
                    "referrals",
                    f"referral {referral}: rep assigned after it was {timeline.status.value}",
                    position,
                )
            )
        return
    if target not in ALLOWED_MOVES[timeline.status]:
        problems.append(
            Problem(
                "referrals",
                f"referral {referral}: moved from {timeline.status.value} to {target.value}, "
                "which is not an allowed move",
                position,
            )
        )
    timeline.status = target


def compare_views(ledger: Ledger) -> list[Problem]:
    """Rebuild the views from the log and compare them with the views as they were."""
    try:
        ledger.catch_up_projections()
        before = ledger._views.dump()
        ledger.rebuild_projections()
        after = ledger._views.dump()
    except Exception as error:
        return [Problem("views", f"the views cannot be rebuilt: {reason(error)}")]
    problems = []
    for view in sorted(set(before) | set(after)):
        old, new = set(before.get(view, [])), set(after.get(view, []))
        if old != new:
            problems.append(
                Problem(
                    "views",
                    f"view {view!r} differed from its rebuild: {len(old - new)} row(s) only in "
                    f"the view, {len(new - old)} only in the rebuild (the view is now rebuilt)",
                )
            )
    return problems
