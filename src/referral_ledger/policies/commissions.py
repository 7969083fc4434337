"""Referral codes and commissions: the program, the code alphabet, and the money rules.

Pure rules: no store. Money is exact (`values.EXACT`) and floored to the
currency unit (a whole đồng).
"""

from __future__ import annotations

import calendar
import secrets
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Final

import attrs

from referral_ledger.errors import InvalidInput
from referral_ledger.values import EXACT, MAX_TIME, parse_count, parse_money

#: Digits and capitals without the look-alikes 0/O, 1/I/L: read aloud or off
#: a receipt, a code cannot be mistyped into another valid one that way.
CODE_ALPHABET: Final = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
#: 31^7 ≈ 2.75e10 codes: a new code hits a taken one about once per 27
#: million issued, and the issuer simply draws again.
CODE_LENGTH: Final = 7
MAX_CODE: Final = 32


def new_code() -> str:
    """A random code of `CODE_LENGTH` characters of `CODE_ALPHABET`."""
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def parse_referral_code(value: object, name: str = "referral_code") -> str:
    """A code as typed: stripped, upper-case; empty, long or untypeable codes refused."""
    if not isinstance(value, str):
        raise InvalidInput(f"{name} must be a str, not {value!r}")
    code = value.strip().upper()
    if not code:
        raise InvalidInput(f"{name} must not be empty: {value!r}")
    if len(code) > MAX_CODE:
        raise InvalidInput(f"{name} is longer than {MAX_CODE} characters: {value!r}")
    if not (code.isascii() and code.isalnum()):
        raise InvalidInput(f"{name} may hold only letters and digits: {value!r}")
    return code


def _money(value: object) -> Decimal:
    return parse_money(value, "discount")


def _percent(value: object) -> Decimal | None:
    if value is None:
        return None
    percent = parse_money(value, "percent")
    if not 0 < percent <= 100:
        raise InvalidInput(f"percent must be above 0 and at most 100: {value!r}")
    return percent


def _max_discount(value: object) -> Decimal | None:
    return None if value is None else parse_money(value, "max_discount")


def _commission_percent(value: object) -> Decimal:
    percent = parse_money(value, "commission_percent")
    if percent > 100:
        raise InvalidInput(f"commission_percent must be at most 100: {value!r}")
    return percent


def _commission_cap(value: object) -> Decimal | None:
    return None if value is None else parse_money(value, "commission_cap")


def _months(value: object) -> int:
    months = parse_count(value, "commission_months")
    if months > 1200:
        raise InvalidInput(f"commission_months must be at most 1200: {value!r}")
    return months


def _maturity(value: object) -> int:
    days = parse_count(value, "maturity_days")
    if days > 36500:
        raise InvalidInput(f"maturity_days must be at most 36500: {value!r}")
    return days


@attrs.frozen(kw_only=True)
class ReferralCodeProgram:
    """What a referral code gives the new customer, and what it earns its owner."""

    #: The new customer's discount on their first purchase: a fixed amount, or
    discount: Decimal = attrs.field(default=Decimal(0), converter=_money)
    #: a percentage of it (floored to the unit), capped by `max_discount`.
    percent: Decimal | None = attrs.field(default=None, converter=_percent)
    max_discount: Decimal | None = attrs.field(default=None, converter=_max_discount)
    #: The owner's commission, in percent of each payable amount of the referred customer's
    commission_percent: Decimal = attrs.field(default=Decimal(5), converter=_commission_percent)
    #: at most this much per referred customer (None: no cap),
    commission_cap: Decimal | None = attrs.field(default=None, converter=_commission_cap)
    #: on purchases less than this many months after the first one,
    commission_months: int = attrs.field(default=12, converter=_months)
    #: pending this many days after the purchase (the return window), then due.
    maturity_days: int = attrs.field(default=14, converter=_maturity)

    def __attrs_post_init__(self) -> None:
        if self.discount and self.percent is not None:
            raise InvalidInput(
                f"give a discount or a percent, not both: discount={self.discount}, "
                f"percent={self.percent}"
            )


def referral_discount(program: ReferralCodeProgram, amount: Decimal) -> Decimal:
    """The new customer's discount on `amount`, never more than the amount."""
    if program.percent is not None:
        discount = _percent_of(amount, program.percent)
    else:
        discount = program.discount
    if program.max_discount is not None:
        discount = min(discount, program.max_discount)
    return min(discount, amount)


def commission_for(program: ReferralCodeProgram, payable: Decimal, earned: Decimal) -> Decimal:
    """The commission on `payable`, when the referred customer's commissions so far are `earned`."""
    commission = _percent_of(payable, program.commission_percent)
    if program.commission_cap is not None:
        commission = min(commission, max(Decimal(0), program.commission_cap - earned))
    return commission


def share_of(commission: Decimal, returned: Decimal, amount: Decimal) -> Decimal:
    """The part of `commission` that `returned` of `amount` takes back (floored; all of it
    when all is returned)."""
    if returned >= amount:
        return commission
    return EXACT.divide_int(EXACT.multiply(commission, returned), amount)


def add_months(moment: datetime, months: int) -> datetime:
    """`moment` `months` calendar months later (the 31st becomes the month's last day)."""
    month0 = moment.month - 1 + months
    year, month = moment.year + month0 // 12, month0 % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def in_commission_window(program: ReferralCodeProgram, first_at: datetime, at: datetime) -> bool:
    """Whether a purchase at `at` earns commission, the first purchase having been at `first_at`."""
    if at < first_at:
        return False
    try:
        return at < add_months(first_at, program.commission_months)
    except (ValueError, OverflowError):
        return True  # the window ends after the last time the ledger can name


def due_at(program: ReferralCodeProgram, at: datetime) -> datetime:
    """When the commission on a purchase at `at` falls due (at the latest, `MAX_TIME`)."""
    try:
        return min(at + timedelta(days=program.maturity_days), MAX_TIME)
    except OverflowError:
        return MAX_TIME


def _percent_of(amount: Decimal, percent: Decimal) -> Decimal:
    # divide_int floors a non-negative quotient and is exact under EXACT.
    return EXACT.divide_int(EXACT.multiply(amount, percent), Decimal(100))
