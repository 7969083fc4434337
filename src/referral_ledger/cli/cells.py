"""Formula-safe cells: the rules live in `policies/cells.py`, shared with the library's
sheet import (`policies/sheet_rows.py`); the CLI's writers import them from here."""

from referral_ledger.policies.cells import (
    ESCAPE,
    FORMULA_STARTS,
    defuse,
    restore,
    runs_as_formula,
)

__all__ = ["ESCAPE", "FORMULA_STARTS", "defuse", "restore", "runs_as_formula"]
