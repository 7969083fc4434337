"""Accent- and case-insensitive matching of names people type.

Vietnamese users type without diacritics: `tiem nang` must match `tiềm năng`
and `dang` must match `Đặng`. Unicode decomposition strips most marks, but
`Đ/đ` is a letter of its own (no decomposition), so it is mapped by hand.
(The read models fold the same way, in `projections/folding.py`.)
"""

from __future__ import annotations

import unicodedata

_LETTERS = str.maketrans({"đ": "d", "Đ": "d", "ð": "d", "ø": "o", "Ø": "o", "ł": "l", "Ł": "l"})


def fold(text: str) -> str:
    """Lower-case `text`, drop its accents and repeated spaces: `Đặng  Ánh` → `dang anh`."""
    decomposed = unicodedata.normalize("NFD", text.casefold().translate(_LETTERS))
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(bare.split())
