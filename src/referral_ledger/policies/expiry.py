"""When a lot of points becomes available and when it expires.

Pure functions of their arguments: the dates of a lot are fixed when it is
earned, by the program then in force, in the ledger's business time zone.
Days are calendar days on the business clock (a purchase at 14:00 becomes
available at 14:00 `pending_days` later, whatever daylight saving did in
between); an expiry is the first moment of the day, month or year that
follows, which in a zone that skips midnight is the moment the clock jumps.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, tzinfo
from typing import Final, Literal

import attrs

from referral_ledger.errors import InvalidInput
from referral_ledger.values import parse_count

RoundTo = Literal["day", "month", "year"]
ROUNDINGS: Final = ("day", "month", "year")
#: Longest a pending period or an expiry may be: far beyond any program, and
#: short enough that every date stays within `datetime`'s years.
MAX_DAYS: Final = 100 * 366


def parse_days(value: object, name: str) -> int:
    """A non-negative int number of days, at most `MAX_DAYS`."""
    days = parse_count(value, name)
    if days > MAX_DAYS:
        raise InvalidInput(f"{name} must be at most {MAX_DAYS} days, not {value!r}")
    return days


def _after_days(value: object) -> int:
    return parse_days(value, "after_days")


def _round_to(value: object) -> str:
    if not isinstance(value, str) or value not in ROUNDINGS:
        raise InvalidInput(f"round_to must be one of {', '.join(ROUNDINGS)}, not {value!r}")
    return value


@attrs.frozen
class PointsExpiry:
    """Points expire `after_days` after they become available, at the next `round_to` start."""

    after_days: int = attrs.field(default=365, converter=_after_days)
    round_to: str = attrs.field(default="day", converter=_round_to)


def expiry_setting(value: object) -> PointsExpiry | None:
    if value is not None and not isinstance(value, PointsExpiry):
        raise InvalidInput(f"expiry must be None or a PointsExpiry, not {value!r}")
    return value


def add_days(moment: datetime, days: int, zone: tzinfo) -> datetime:
    """`moment` plus `days` calendar days on the business clock, as a UTC datetime."""
    local = moment.astimezone(zone)
    # Same-zone arithmetic is wall-clock arithmetic: 14:00 stays 14:00.
    shifted = (local.replace(tzinfo=None) + timedelta(days=days)).replace(tzinfo=zone)
    return shifted.astimezone(UTC)


def available_from(earned_at: datetime, days: int, zone: tzinfo) -> datetime:
    """When the points of a purchase at `earned_at` can be spent."""
    if days == 0:
        return earned_at
    return add_days(earned_at, days, zone)


def start_of_next(local: datetime, round_to: str, zone: tzinfo) -> datetime:
    """The first moment (UTC) of the day, month or year after the one `local` falls in."""
    day = local.astimezone(zone).date()
    if round_to == "day":
        year, month, dom = (day + timedelta(days=1)).timetuple()[:3]
    elif round_to == "month":
        year, month, dom = (day.year + 1, 1, 1) if day.month == 12 else (day.year, day.month + 1, 1)
    else:
        year, month, dom = day.year + 1, 1, 1
    # fold=0: a midnight the clock skips maps to the moment of the jump, and
    # one it passes twice to its first pass: either way the day's first moment.
    return datetime(year, month, dom, tzinfo=zone).astimezone(UTC)


def expires_at(available: datetime, expiry: PointsExpiry | None, zone: tzinfo) -> datetime | None:
    """When a lot available from `available` expires under `expiry` (None: never)."""
    if expiry is None:
        return None
    return start_of_next(add_days(available, expiry.after_days, zone), expiry.round_to, zone)
