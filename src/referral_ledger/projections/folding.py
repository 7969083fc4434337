"""Accent- and case-insensitive text keys for search and sorting.

Vietnamese users type without diacritics: `nguyen` must find `Nguyễn` and
`dang` must find `Đặng`. Unicode decomposition strips most marks, but `Đ/đ` is
a letter of its own (no decomposition), so it is mapped by hand.
"""

from __future__ import annotations

import unicodedata
from typing import Final

import phonenumbers

from referral_ledger.errors import InvalidInput
from referral_ledger.values import normalise_phone

_LETTERS = str.maketrans({"đ": "d", "Đ": "d", "ð": "d", "ø": "o", "Ø": "o", "ł": "l", "Ł": "l"})


def fold(text: str) -> str:
    """Lower-case `text` and drop its accents: `Đặng Thị Ánh` → `dang thi anh`."""
    # Case first, then the hand-mapped letters: `Ð` (U+00D0) lower-cases to
    # `ð`, which is in the table, while `Ð` itself is not.
    decomposed = unicodedata.normalize("NFD", text.casefold().translate(_LETTERS))
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(bare.split())


def website_key(url: str) -> str:
    """A website as people type it: no scheme, no `www.`, no trailing slash."""
    key = fold(url)
    for prefix in ("https://", "http://"):
        if key.startswith(prefix):
            key = key[len(prefix) :]
    if key.startswith("www."):
        key = key[4:]
    return key.rstrip("/")


def search_key(*fields: str | None) -> str:
    """The folded text a lead is searched in; fields are kept apart by newlines
    so a search term never matches across two of them."""
    return "\n".join(fold(f) for f in fields if f)


#: What may stand in a phone number as people type it, besides digits.
_PHONE_PUNCTUATION: Final = frozenset(" .-+()/")


def phone_key(phone: str) -> str:
    """The spellings of a stored (E.164) phone a search may type, as digits:
    international (`84975500600`) and national (`0975500600`)."""
    try:
        number = phonenumbers.parse(phone, None)
    except phonenumbers.NumberParseException:
        return _digits(phone)
    national = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
    return f"{_digits(phone)} {_digits(national)}"


def phone_term(term: str, region: str) -> str | None:
    """The digits to look for when a search term is a phone number or part of
    one (`0975 500 600`, `+84975500600`, `500600`); None when it is not."""
    if not term or any(not ch.isdigit() and ch not in _PHONE_PUNCTUATION for ch in term):
        return None
    digits = _digits(term)
    if len(digits) < 3:
        return None
    try:
        return _digits(normalise_phone(term, region))
    except InvalidInput:
        return digits  # part of a number: matched as typed, in either spelling


def _digits(text: str) -> str:
    return "".join(ch for ch in text if ch.isdigit())
