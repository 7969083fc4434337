"""Parsing and validation of the values every command takes.

Each parser either returns a clean value or raises :class:`InvalidInput`
naming the bad value, so commands validate everything before they load or
record anything.
"""

from __future__ import annotations

import functools
import hmac
import itertools
import re
import unicodedata
import uuid
from datetime import UTC, date, datetime
from decimal import (
    Context,
    Decimal,
    Inexact,
    InvalidOperation,
    Overflow,
    Rounded,
    Underflow,
)
from typing import Final
from urllib.parse import urlsplit

import phonenumbers

from referral_ledger.errors import InvalidInput

#: Root of every deterministic id: the same key always gives the same UUID, so
#: "create it twice" becomes a version conflict the store refuses.
NAMESPACE: Final = uuid.uuid5(uuid.NAMESPACE_URL, "https://referral-ledger/ids")

#: Money above this is refused: no real invoice is that large, and a typo
#: (an amount pasted in the wrong unit) should fail loudly, not earn points.
MAX_MONEY: Final = Decimal(10) ** 15
#: VND has no minor unit, others have two or three; more digits than this is a
#: unit mistake, and money is refused rather than rounded.
MAX_MONEY_DECIMALS: Final = 6
#: Points above this are refused, in any one movement and in any balance or
#: lifetime total: 10^15 is far beyond any real program and far inside what
#: every store encodes (orjson and SQL integers stop at 2^63 - 1).
MAX_POINTS: Final = 10**15
#: The first and last moments a time may name. Python's own range ends at
#: 0001-01-01 and 9999-12-31; a year's margin on each side keeps every
#: conversion to a time zone and every rounding to the end of a day, month
#: or year inside it, so no later reading of a recorded time can overflow.
MIN_TIME: Final = datetime(2, 1, 1, tzinfo=UTC)
MAX_TIME: Final = datetime(9998, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)
#: The arithmetic of money, whatever decimal context the calling thread set:
#: 60 digits hold any product of two amounts within the bounds above, and any
#: result that would still be rounded raises instead of being silently cut.
EXACT: Final = Context(
    prec=60,
    Emax=999_999,
    Emin=-999_999,
    traps=[Inexact, Rounded, InvalidOperation, Overflow, Underflow],
)
MAX_TEXT: Final = 500
MAX_REFERENCE: Final = 200
DEFAULT_REGION: Final = "VN"


@functools.lru_cache(maxsize=8_192)
def derived_id(kind: str, key: str) -> uuid.UUID:
    """The stable id of the record `kind` keyed by `key`.

    Memoised: a purchase derives its account and invoice ids several times
    (to read, to decide, to record), and SHA-1 plus `UUID` cost microseconds.
    8,192 entries (~2 MB) cover an import batch's reads and decisions.
    """
    return uuid.uuid5(NAMESPACE, f"{kind}:{key}")


#: What the key of keyed ids is derived for: the cipher key itself is never
#: used twice for different purposes.
_IDS_KEY_LABEL: Final = b"referral-ledger/record-ids/v1"


@functools.lru_cache(maxsize=8_192)
def keyed_id(secret: bytes, kind: str, key: str) -> uuid.UUID:
    """The id of the record `kind` keyed by `key`, unguessable without `secret`.

    HMAC-SHA-256, cut to 128 bits and marked as a version-8 (custom) UUID: a
    phone number's record id cannot be computed from the number, so a copy of
    an encrypted store does not give its phone numbers away to a search of the
    few hundred thousand candidates a country's numbering plan allows.
    """
    digest = hmac.digest(secret, f"{kind}:{key}".encode(), "sha256")
    value = int.from_bytes(digest[:16], "big")
    value &= ~(0xF000 << 64) & ~(0xC000 << 48)
    value |= (0x8000 << 64) | (0x8000 << 48)  # version 8, RFC 4122 variant
    return uuid.UUID(int=value)


class RecordIds:
    """Derives the ids of records keyed by a business value (a phone, an invoice id).

    Without a secret: `derived_id` (uuid5), what every store without a cipher
    key and every encrypted store written by 0.1 uses. With one: `keyed_id`.
    """

    __slots__ = ("_secret",)

    def __init__(self, secret: bytes | None = None) -> None:
        self._secret = secret

    @classmethod
    def for_cipher_key(cls, cipher_key: str) -> RecordIds:
        """Keyed ids whose key is derived from the store's cipher key."""
        return cls(hmac.digest(cipher_key.encode(), _IDS_KEY_LABEL, "sha256"))

    @property
    def keyed(self) -> bool:
        return self._secret is not None

    def __call__(self, kind: str, key: str) -> uuid.UUID:
        if self._secret is None:
            return derived_id(kind, key)
        return keyed_id(self._secret, kind, key)

    def __repr__(self) -> str:  # never shows the secret
        return f"RecordIds(keyed={self.keyed})"


#: The ids of a store without a cipher key.
UNKEYED_IDS: Final = RecordIds()


def parse_money(value: object, name: str = "amount") -> Decimal:
    """A non-negative, finite `Decimal` from a Decimal, an int or a numeric str."""
    if isinstance(value, (bool, float)):
        raise InvalidInput(f"{name} must be a Decimal, int or numeric str, not {value!r}")
    if isinstance(value, Decimal):
        amount = value
    elif isinstance(value, int):
        amount = Decimal(value)
    elif isinstance(value, str):
        try:
            amount = Decimal(value.strip())
        except InvalidOperation:
            raise InvalidInput(f"{name} is not a number: {value!r}") from None
    else:
        raise InvalidInput(f"{name} must be a Decimal, int or numeric str, not {value!r}")
    if not amount.is_finite():
        raise InvalidInput(f"{name} must be finite: {value!r}")
    if amount < 0:
        raise InvalidInput(f"{name} must not be negative: {value!r}")
    if amount > MAX_MONEY:
        raise InvalidInput(f"{name} is larger than {MAX_MONEY:,}: {value!r}")
    if _decimal_places(amount) > MAX_MONEY_DECIMALS:
        raise InvalidInput(f"{name} has more than {MAX_MONEY_DECIMALS} decimal places: {value!r}")
    # Decimal("-0") is zero money; store one spelling of it.
    return amount if amount else Decimal(0)


def _decimal_places(amount: Decimal) -> int:
    """Significant decimal places ("1.50" has one), read from the digits alone.

    No arithmetic, so the calling thread's decimal context (a precision of 5,
    say) can neither round the amount nor raise.
    """
    _sign, digits, exponent = amount.as_tuple()
    assert isinstance(exponent, int)  # finite: checked before
    trailing = len(digits) - len("".join(map(str, digits)).rstrip("0"))
    return max(0, -(exponent + trailing)) if any(digits) else 0


def parse_points(value: object, name: str = "points", *, positive: bool = False) -> int:
    """A whole number of points (an `int`, never a bool or a float)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(f"{name} must be an int, not {value!r}")
    if value < 0 or (positive and value == 0):
        raise InvalidInput(
            f"{name} must be {'positive' if positive else 'non-negative'}: {value!r}"
        )
    if value > MAX_POINTS:
        raise InvalidInput(f"{name} is larger than {MAX_POINTS:,}: {value!r}")
    return value


def parse_count(value: object, name: str) -> int:
    """A non-negative int setting such as a minimum purchase count."""
    return parse_points(value, name)


def parse_time(value: object, name: str = "at") -> datetime:
    """A timezone-aware datetime between `MIN_TIME` and `MAX_TIME`, normalised to UTC."""
    if not isinstance(value, datetime):
        raise InvalidInput(f"{name} must be a timezone-aware datetime, not {value!r}")
    if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
        raise InvalidInput(f"{name} must be timezone-aware: {value!r}")
    try:
        moment = value.astimezone(UTC)
    except OverflowError:
        # datetime.min at +14:00 is before year 1 in UTC.
        moment = None
    if moment is None or not MIN_TIME <= moment <= MAX_TIME:
        raise InvalidInput(
            f"{name} must lie between {MIN_TIME.isoformat()} and {MAX_TIME.isoformat()}: "
            f"{value.isoformat()}"
        )
    return moment


def parse_optional_time(value: object, name: str = "as_of") -> datetime | None:
    return None if value is None else parse_time(value, name)


def parse_date(value: object, name: str) -> date:
    """A calendar date (a `datetime` is refused: its time would be silently lost)."""
    if isinstance(value, datetime) or not isinstance(value, date):
        raise InvalidInput(f"{name} must be a date, not {value!r}")
    return value


def parse_id(value: object, name: str) -> uuid.UUID:
    """A UUID from a UUID or its string form."""
    if isinstance(value, uuid.UUID):
        return value
    if isinstance(value, str):
        try:
            return uuid.UUID(value)
        except ValueError:
            pass
    raise InvalidInput(f"{name} must be a UUID, not {value!r}")


def _has_control_characters(text: str) -> bool:
    # Printable text (C code) has none of these categories; only the rest,
    # such as text with a no-break space, needs the character-by-character look.
    if text.isprintable():
        return False
    return any(unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn") for ch in text)


def parse_text(value: object, name: str, *, limit: int = MAX_TEXT) -> str:
    """A non-empty, single-line text, trimmed, in NFC form."""
    if not isinstance(value, str):
        raise InvalidInput(f"{name} must be a str, not {value!r}")
    text = unicodedata.normalize("NFC", value.strip())
    if not text:
        raise InvalidInput(f"{name} must not be empty: {value!r}")
    if len(text) > limit:
        raise InvalidInput(f"{name} is longer than {limit} characters: {text[:40]!r}…")
    if _has_control_characters(text):
        raise InvalidInput(f"{name} contains control characters: {value!r}")
    return text


def parse_optional_text(value: object, name: str, *, limit: int = MAX_TEXT) -> str | None:
    if value is None:
        return None
    if isinstance(value, str) and not value.strip():
        return None
    return parse_text(value, name, limit=limit)


def parse_reference(value: object, name: str) -> str:
    """An upstream id such as an invoice or redemption id."""
    return parse_text(value, name, limit=MAX_REFERENCE)


#: What may stand between the numbers of a text holding several.
_BETWEEN_NUMBERS: Final = re.compile(r"[\s,;/|&]*")
#: No single number has more digits (E.164's 15, plus a trunk prefix such as
#: the "(0)" in "+84 (0) 912 345 678"); a text with more may hold several.
_MAX_DIGITS_OF_ONE: Final = 16


def phone_numbers(
    value: object, region: str = DEFAULT_REGION, name: str = "phone"
) -> tuple[str, ...]:
    """Every phone number a text holds, in E.164 and in order.

    One number, or several separated by `,` `;` `/` `|` `&` or spaces
    (`"0912345678; 0987654321"` is two): never the first one alone. Text
    holding several numbers and anything else between them is refused.
    """
    several = _several_numbers(value, region, name)
    if several is None:
        return (normalise_phone(value, region, name),)
    return tuple(dict.fromkeys(normalise_phone(n, region, name) for n in several))


def _several_numbers(value: object, region: str, name: str) -> list[str] | None:
    """The spellings of the numbers in `value` if it holds more than one, else None."""
    if not isinstance(value, str) or len(value) > 1000:
        return None
    digits = sum(ch.isdigit() for ch in value)
    if digits <= _MAX_DIGITS_OF_ONE and not any(ch in value for ch in ",;/|&"):
        return None  # the common case, without the matcher's cost
    matches = list(
        phonenumbers.PhoneNumberMatcher(value, region, leniency=phonenumbers.Leniency.VALID)
    )
    if len(matches) < 2:
        return None
    gaps = [value[: matches[0].start]] + [
        value[a.end : b.start] for a, b in itertools.pairwise(matches)
    ]
    gaps.append(value[matches[-1].end :])
    if not all(_BETWEEN_NUMBERS.fullmatch(gap) for gap in gaps):
        raise InvalidInput(f"{name} holds several phone numbers and other text: {value!r}")
    return [match.raw_string for match in matches]


def normalise_phone(value: object, region: str = DEFAULT_REGION, name: str = "phone") -> str:
    """The E.164 form of a phone number (`0912 345 678` → `+84912345678`).

    Text holding several numbers is refused, never cut to the first: where
    several are welcome (a customer's phones), use `phone_numbers`.
    """
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"{name} must be a non-empty str, not {value!r}")
    if len(value) > 64 or _has_control_characters(value):
        raise InvalidInput(f"{name} is not a phone number: {value!r}")
    if _several_numbers(value, region, name) is not None:
        raise InvalidInput(f"{name} holds several phone numbers, give one: {value!r}")
    text = value.strip()
    # "84912345678" is how many POS exports write Vietnamese mobiles: without
    # the plus, phonenumbers would read it as a (too long) national number.
    digits = "".join(ch for ch in text if ch.isdigit())
    if region == "VN" and not text.startswith(("+", "0")) and digits.startswith("84"):
        text = "+" + digits
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        raise InvalidInput(f"{name} is not a phone number: {value!r}") from None
    if not phonenumbers.is_valid_number(number):
        raise InvalidInput(f"{name} is not a valid phone number: {value!r}")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def now() -> datetime:
    """The current time, timezone-aware (UTC)."""
    return datetime.now(UTC)


def parse_website(value: object, name: str = "website") -> str | None:
    """A web address; `shop.vn` is read as `https://shop.vn`."""
    text = parse_optional_text(value, name, limit=300)
    if text is None:
        return None
    candidate = text if "://" in text else f"https://{text}"
    parts = urlsplit(candidate)
    host = parts.hostname or ""
    if parts.scheme not in ("http", "https") or "." not in host or " " in candidate:
        raise InvalidInput(f"{name} is not a web address: {value!r}")
    return candidate


def parse_flag(value: object, name: str) -> bool:
    """A real bool: `"no"` or `0` for a yes/no setting is a mistake, not False."""
    if not isinstance(value, bool):
        raise InvalidInput(f"{name} must be True or False, not {value!r}")
    return value
