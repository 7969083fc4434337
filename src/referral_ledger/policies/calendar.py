"""Which calendar day a moment falls on, where the business is.

Contracts are signed for calendar days and are in force on business days:
this is the one place that turns a moment into such a day.
"""

from __future__ import annotations

from datetime import date, datetime, tzinfo


def business_day(moment: datetime, zone: tzinfo) -> date:
    """The date of `moment` (timezone-aware) in the business's time zone `zone`."""
    return moment.astimezone(zone).date()
