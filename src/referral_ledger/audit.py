"""Checking a whole ledger, and reading it as it stood at a past moment.

`audit(ledger)` reads every stored event once and checks what the ledger
promises: every stored event decodes; every points account's balance equals
the sum of its movements and never went below zero; no invoice was earned
twice; every referral's timeline follows the allowed moves in time order;
and every read model equals a rebuild of it from the log. It returns an
`AuditReport` listing each problem with the log position it concerns.

`state_as_of(ledger, when)` lists every customer's balance and every
referral's status as recorded by `when`: what an auditor asks first.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Final
from uuid import UUID

import attrs
from eventsourcing.utils import get_topic

from referral_ledger.aggregates import loyalty
from referral_ledger.aggregates.base import Event
from referral_ledger.aggregates.customer import CustomerRegistered
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
from referral_ledger.values import parse_time

if TYPE_CHECKING:
    from referral_ledger.ledger import Ledger

#: Events read from the log per query.
BATCH: Final = 1000

_MOVES: Final[dict[type[Event], ReferralStatus]] = {
    ReferralStarted: ReferralStatus.IN_PROGRESS,
    ReferralRewarded: ReferralStatus.REWARDED,
    ReferralMarkedIneligible: ReferralStatus.INELIGIBLE,
}


_TIMELINE: Final = frozenset({ReferralSubmitted, RepAssigned, ReferredCustomerLinked, *_MOVES})


@attrs.frozen
class Problem:
    """One thing the audit found wrong; `position` is the log position it concerns."""

    check: str
    message: str
    position: int | None = None

    def __str__(self) -> str:
        where = f"position {self.position}: " if self.position is not None else ""
        return f"[{self.check}] {where}{self.message}"


@attrs.frozen
class AuditReport:
    """What `audit` checked and what it found."""

    events: int
    accounts: int
    invoices: int
    referrals: int
    views_compared: bool
    problems: tuple[Problem, ...]

    @property
    def ok(self) -> bool:
        """True when nothing is wrong."""
        return not self.problems

    def summary(self) -> str:
        """One line: what was checked and the verdict."""
        views = "compared with a rebuild" if self.views_compared else "NOT compared"
        checked = (
            f"{self.events} events, {self.accounts} points accounts, {self.invoices} invoices, "
            f"{self.referrals} referrals, views {views}"
        )
        if self.ok:
            return f"audit clean: {checked}"
        return f"audit found {len(self.problems)} problem(s) in {checked}"


@attrs.frozen
class LogEntry:
    """One stored event: its position, topic, and the event (None if it cannot be decoded)."""

    position: int
    topic: str
    event: Event | None
    error: str | None = None


def read_log(
    ledger: Ledger,
    topics: tuple[str, ...] = (),
    progress: Callable[[int, int], None] | None = None,
) -> Iterator[LogEntry]:
    """Every stored event (of `topics`, if given), oldest first, decoding each on its own.

    An event that cannot be decoded (damaged bytes, a wrong key, an unknown
    class) is yielded with `event=None` and the reason, instead of stopping.
    `progress(position, last_position)` is called after each batch.
    """
    store = ledger._store
    last = store.last_position()
    position = 0
    while position < last:
        batch = store.notifications(position, BATCH, topics, stop=last)
        if not batch:
            break
        for notification in batch:
            try:
                event: Event | None = store.event_of(notification)
                error = None
            except Exception as exc:
                event, error = None, _reason(exc)
            yield LogEntry(notification.id, notification.topic, event, error)
        position = batch[-1].id
        if progress is not None:
            progress(position, last)
    if progress is not None:
        progress(last, last)


def _reason(error: Exception) -> str:
    cause = error.__cause__ or error
    return f"{type(cause).__name__}: {cause}".splitlines()[0][:300]


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


def audit(ledger: Ledger, progress: Callable[[int, int], None] | None = None) -> AuditReport:
    """Check the whole store; see the module's docstring for what is checked."""
    problems: list[Problem] = []
    accounts: dict[UUID, _Account] = {}
    earned: Counter[str] = Counter()
    recorded: defaultdict[str, list[int]] = defaultdict(list)
    timelines: dict[UUID, _Timeline] = {}
    events = 0
    undecodable = False

    for entry in read_log(ledger, progress=progress):
        events += 1
        event = entry.event
        if event is None:
            undecodable = True
            problems.append(
                Problem("decode", f"cannot decode {entry.topic}: {entry.error}", entry.position)
            )
            continue
        if isinstance(event, loyalty.PointsEarned | loyalty.PointsRedeemed):
            _move(accounts, event, entry.position, problems)
            if isinstance(event, loyalty.PointsEarned):
                earned[event.invoice_id] += 1
                if earned[event.invoice_id] == 2:
                    problems.append(
                        Problem(
                            "invoices",
                            f"invoice {event.invoice_id!r} earned points more than once",
                            entry.position,
                        )
                    )
        elif isinstance(event, loyalty.PointsTakenBack):
            _move(accounts, event, entry.position, problems)
        elif isinstance(event, loyalty.InvoiceRecorded):
            recorded[event.invoice_id].append(entry.position)
            if len(recorded[event.invoice_id]) == 2:
                problems.append(
                    Problem(
                        "invoices",
                        f"invoice {event.invoice_id!r} was recorded more than once",
                        entry.position,
                    )
                )
        elif type(event) in _TIMELINE:
            _follow(timelines, event, entry.position, problems)

    for account_id, account in accounts.items():
        _check_account(ledger, account_id, account, problems)

    views_compared = not undecodable
    if undecodable:
        problems.append(
            Problem(
                "views",
                "views not compared with a rebuild: the log has undecodable events "
                "(a rebuild would stop at the first one)",
            )
        )
    else:
        problems += _compare_views(ledger)
    return AuditReport(
        events=events,
        accounts=len(accounts),
        invoices=len(recorded),
        referrals=len(timelines),
        views_compared=views_compared,
        problems=tuple(sorted(problems, key=lambda p: (p.position or 0, p.check))),
    )


def _move(
    accounts: dict[UUID, _Account],
    event: loyalty.PointsEarned | loyalty.PointsRedeemed | loyalty.PointsTakenBack,
    position: int,
    problems: list[Problem],
) -> None:
    account = accounts.setdefault(event.originator_id, _Account(position))
    points = event.points if isinstance(event, loyalty.PointsEarned) else -event.points
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
                f"points account {account_id} cannot be loaded: {_reason(error)}",
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


def _compare_views(ledger: Ledger) -> list[Problem]:
    """Rebuild the views from the log and compare them with the views as they were."""
    try:
        ledger.catch_up_projections()
        before = ledger._views.dump()
        ledger.rebuild_projections()
        after = ledger._views.dump()
    except Exception as error:
        return [Problem("views", f"the views cannot be rebuilt: {_reason(error)}")]
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


# --- the ledger as it stood ---------------------------------------------------------


@attrs.frozen
class BalanceAsOf:
    """A customer's points as they stood."""

    customer_id: UUID
    name: str
    phone: str
    balance: int
    lifetime_points: int
    tier: str | None


@attrs.frozen
class ReferralAsOf:
    """A referral's status as it stood."""

    referral_id: UUID
    referrer_id: UUID
    lead: str
    status: ReferralStatus
    rep: str | None
    reward: Decimal | None


@attrs.frozen
class StateAsOf:
    """Every customer's balance and every referral's status at `as_of`."""

    as_of: datetime
    balances: tuple[BalanceAsOf, ...]
    referrals: tuple[ReferralAsOf, ...]


CUSTOMER_TOPICS: Final = (get_topic(CustomerRegistered),)
REFERRAL_TOPICS: Final = (get_topic(ReferralSubmitted),)


def state_as_of(ledger: Ledger, as_of: datetime) -> StateAsOf:
    """Balances and referral statuses as recorded by `as_of`, replayed from the log."""
    when = parse_time(as_of, "as_of")
    balances = []
    for entry in read_log(ledger, CUSTOMER_TOPICS):
        event = entry.event
        if not isinstance(event, CustomerRegistered) or event.timestamp > when:
            continue
        customer = ledger.get_customer(event.originator_id, as_of=when)
        account = ledger.loyalty_account(event.originator_id, as_of=when)
        balances.append(
            BalanceAsOf(
                customer_id=customer.id,
                name=customer.name,
                phone=customer.phone,
                balance=account.balance if account else 0,
                lifetime_points=account.lifetime_points if account else 0,
                tier=account.tier if account else None,
            )
        )
    referrals = []
    for entry in read_log(ledger, REFERRAL_TOPICS):
        event = entry.event
        if not isinstance(event, ReferralSubmitted) or event.timestamp > when:
            continue
        referral = ledger.get_referral(event.originator_id, as_of=when)
        referrals.append(
            ReferralAsOf(
                referral_id=referral.id,
                referrer_id=referral.referrer_id,
                lead=referral.lead.name,
                status=referral.status,
                rep=referral.rep,
                reward=referral.reward,
            )
        )
    return StateAsOf(when, tuple(balances), tuple(referrals))
