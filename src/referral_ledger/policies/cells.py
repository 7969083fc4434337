"""Text cells a spreadsheet shows as typed and never runs (CSV/XLSX formula injection).

A spreadsheet reads a cell starting with `=`, `+`, `-`, `@`, a tab or a carriage
return as a formula (OWASP's "CSV injection" list), and a formula can run commands
or send the sheet's data away. In csv text, such a cell gets a leading `'` (which
spreadsheets show as "this is text"); so that the escape can be undone exactly on
import, a text starting with `'` gets one too. Numbers are not text: a points
figure of -54 is written as the number -54 and stays a number.
"""

from __future__ import annotations

import re
from typing import Final

#: What makes a spreadsheet read a cell as a formula.
FORMULA_STARTS: Final = ("=", "+", "-", "@", "\t", "\r")
ESCAPE: Final = "'"
_ESCAPED: Final = (*FORMULA_STARTS, ESCAPE)
_NUMBER: Final = re.compile(r"[+-]?[0-9]+(?:\.[0-9]+)?")


def defuse(text: str) -> str:
    """`text` as a csv cell: a `'` before a formula start or a leading `'`, unless the
    text is a plain signed number."""
    if not text.startswith(_ESCAPED) or _NUMBER.fullmatch(text):
        return text
    return ESCAPE + text


def restore(text: str) -> str:
    """The text `defuse` was given (any other text as it is)."""
    if len(text) > 1 and text[0] == ESCAPE and text[1] in _ESCAPED:
        return text[1:]
    return text


def runs_as_formula(text: str) -> bool:
    """Whether a spreadsheet would take `text`, typed in a cell, as a formula."""
    return text.startswith(FORMULA_STARTS)
