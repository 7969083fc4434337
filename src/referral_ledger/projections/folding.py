"""Accent- and case-insensitive text keys for search and sorting.

Vietnamese users type without diacritics: `nguyen` must find `Nguyễn` and
`dang` must find `Đặng`. Unicode decomposition strips most marks, but `Đ/đ` is
a letter of its own (no decomposition), so it is mapped by hand.
"""

from __future__ import annotations

import unicodedata

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
