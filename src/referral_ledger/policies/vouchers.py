"""Vouchers: the definition, its validation, the discount and the reasons one does not apply.

Pure rules: no store. Money is exact (`values.EXACT`); a percentage discount
is floored to the currency unit (a whole đồng: no currency the ledger keeps
has a smaller one in use at the till).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from typing import Final

import attrs

from referral_ledger.errors import InvalidInput
from referral_ledger.values import (
    EXACT,
    parse_flag,
    parse_money,
    parse_points,
    parse_text,
    parse_time,
)

#: Letters, digits, "-" and "_": what a cashier can type on any keyboard.
CODE_PATTERN: Final = re.compile(r"[A-Z0-9_-]+")
MAX_CODE: Final = 32

#: Why a voucher does not apply, in the order they are checked.
REASONS: Final = (
    "unknown",
    "inactive",
    "not started",
    "ended",
    "below minimum",
    "other warehouse",
    "tags",
    "used up",
    "used up by this customer",
)


def parse_code(value: object, name: str = "code") -> str:
    """A code as kept: stripped, upper-case, 1-32 of A-Z 0-9 - _."""
    if not isinstance(value, str):
        raise InvalidInput(f"{name} must be a str, not {value!r}")
    code = value.strip().upper()
    if not code:
        raise InvalidInput(f"{name} must not be empty: {value!r}")
    if len(code) > MAX_CODE:
        raise InvalidInput(f"{name} is longer than {MAX_CODE} characters: {value!r}")
    if not CODE_PATTERN.fullmatch(code):
        raise InvalidInput(f"{name} may hold only letters A-Z, digits, '-' and '_': {value!r}")
    return code


def _optional_money(value: object, name: str) -> Decimal | None:
    return None if value is None else parse_money(value, name)


def _optional_limit(value: object, name: str) -> int | None:
    return None if value is None else parse_points(value, name, positive=True)


def _optional_time(value: object, name: str) -> datetime | None:
    return None if value is None else parse_time(value, name)


def _names(value: object, name: str) -> frozenset[str] | None:
    if value is None:
        return None
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise InvalidInput(f"{name} must be a list of names or None, not {value!r}")
    names = frozenset(parse_text(v, name, limit=100) for v in value)
    if not names:
        raise InvalidInput(f"{name} must name at least one (None: all): {value!r}")
    return names


# Named converters, one per field, so each message names its field (and
# mypy's attrs plugin reads their types).


def _discount(value: object) -> Decimal | None:
    return _optional_money(value, "discount")


def _max_discount(value: object) -> Decimal | None:
    return _optional_money(value, "max_discount")


def _min_order(value: object) -> Decimal:
    return parse_money(value, "min_order")


def _starts_at(value: object) -> datetime | None:
    return _optional_time(value, "starts_at")


def _ends_at(value: object) -> datetime | None:
    return _optional_time(value, "ends_at")


def _warehouses(value: object) -> frozenset[str] | None:
    return _names(value, "warehouses")


def _customer_tags(value: object) -> frozenset[str] | None:
    return _names(value, "customer_tags")


def _active(value: object) -> bool:
    return parse_flag(value, "active")


def _free_shipping(value: object) -> bool:
    return parse_flag(value, "free_shipping")


def _usage_limit(value: object) -> int | None:
    return _optional_limit(value, "usage_limit")


def _per_customer_limit(value: object) -> int | None:
    return _optional_limit(value, "per_customer_limit")


def _percent(value: object) -> Decimal | None:
    if value is None:
        return None
    percent = parse_money(value, "percent")
    if not 0 < percent <= 100:
        raise InvalidInput(f"percent must be above 0 and at most 100: {value!r}")
    return percent


@attrs.frozen(kw_only=True)
class Voucher:
    """A voucher's definition: its code, its discount and the conditions of its use."""

    #: Unique, compared case-insensitively, kept upper-case.
    code: str = attrs.field(converter=parse_code)
    #: A fixed amount off ...
    discount: Decimal | None = attrs.field(default=None, converter=_discount)
    #: ... or a percentage of the amount (0 < percent <= 100), floored to the unit,
    percent: Decimal | None = attrs.field(default=None, converter=_percent)
    #: at most this much (None: no cap).
    max_discount: Decimal | None = attrs.field(default=None, converter=_max_discount)
    #: Orders below this amount do not qualify.
    min_order: Decimal = attrs.field(default=Decimal(0), converter=_min_order)
    #: Valid in [starts_at, ends_at); None: no bound.
    starts_at: datetime | None = attrs.field(default=None, converter=_starts_at)
    ends_at: datetime | None = attrs.field(default=None, converter=_ends_at)
    #: None: every warehouse (and sales with no warehouse named).
    warehouses: frozenset[str] | None = attrs.field(default=None, converter=_warehouses)
    #: None: anyone; else customers with at least one of these tags.
    customer_tags: frozenset[str] | None = attrs.field(default=None, converter=_customer_tags)
    active: bool = attrs.field(default=True, converter=_active)
    free_shipping: bool = attrs.field(default=False, converter=_free_shipping)
    #: Uses in all, and per customer (None: no limit).
    usage_limit: int | None = attrs.field(default=None, converter=_usage_limit)
    per_customer_limit: int | None = attrs.field(default=None, converter=_per_customer_limit)

    def __attrs_post_init__(self) -> None:
        if (self.discount is None) == (self.percent is None):
            raise InvalidInput(
                f"voucher {self.code}: give exactly one of discount and percent, not "
                f"discount={self.discount!r} and percent={self.percent!r}"
            )
        if self.discount is not None and self.discount == 0:
            raise InvalidInput(f"voucher {self.code}: discount must be above 0")
        if self.starts_at and self.ends_at and self.ends_at <= self.starts_at:
            raise InvalidInput(
                f"voucher {self.code}: ends_at {self.ends_at.isoformat()} must be after "
                f"starts_at {self.starts_at.isoformat()}"
            )


@attrs.frozen(kw_only=True)
class VoucherState(Voucher):
    """A voucher as `get_voucher` shows it: its definition in force and its uses."""

    #: Uses not released (a fully returned sale gives its use back).
    used: int = 0


def voucher_discount(voucher: Voucher, amount: Decimal) -> Decimal:
    """The discount on `amount`: fixed, or the percentage floored to the unit; capped.

    Never more than the amount itself.
    """
    if voucher.percent is not None:
        # divide_int floors a non-negative quotient and is exact under EXACT.
        discount = EXACT.divide_int(EXACT.multiply(amount, voucher.percent), Decimal(100))
    else:
        assert voucher.discount is not None
        discount = voucher.discount
    if voucher.max_discount is not None:
        discount = min(discount, voucher.max_discount)
    return min(discount, amount)


def refusal(
    voucher: Voucher,
    *,
    amount: Decimal,
    warehouse: str | None,
    customer_tags: frozenset[str],
    at: datetime,
    used: int,
    used_by_customer: int,
) -> str | None:
    """Why `voucher` does not apply to this sale (one of `REASONS`), or None if it does."""
    if not voucher.active:
        return "inactive"
    if voucher.starts_at is not None and at < voucher.starts_at:
        return "not started"
    if voucher.ends_at is not None and at >= voucher.ends_at:
        return "ended"
    if amount < voucher.min_order:
        return "below minimum"
    if voucher.warehouses is not None and warehouse not in voucher.warehouses:
        return "other warehouse"
    if voucher.customer_tags is not None and not voucher.customer_tags & customer_tags:
        return "tags"
    if voucher.usage_limit is not None and used >= voucher.usage_limit:
        return "used up"
    if voucher.per_customer_limit is not None and used_by_customer >= voucher.per_customer_limit:
        return "used up by this customer"
    return None


def explain(code: str, reason: str, voucher: Voucher | None = None, **facts: object) -> str:
    """The message of a refusal: the code, the reason, and the figures behind it."""
    details = {
        "unknown": "no voucher has this code",
        "inactive": "the voucher is not active",
        "not started": f"valid from {voucher.starts_at}" if voucher else "",
        "ended": f"valid until {voucher.ends_at} (exclusive)" if voucher else "",
        "below minimum": (
            f"order {facts.get('amount')} is below the minimum {voucher.min_order}"
            if voucher
            else ""
        ),
        "other warehouse": (
            f"warehouse {facts.get('warehouse')!r} is not one of {sorted(voucher.warehouses or ())}"
            if voucher
            else ""
        ),
        "tags": (
            f"the customer has none of the tags {sorted(voucher.customer_tags or ())}"
            if voucher
            else ""
        ),
        "used up": f"used {facts.get('used')} of {voucher.usage_limit} times" if voucher else "",
        "used up by this customer": (
            f"this customer used it {facts.get('used_by_customer')} of "
            f"{voucher.per_customer_limit} times"
            if voucher
            else ""
        ),
    }[reason]
    return f"voucher {code!r} refused ({reason}): {details}"
