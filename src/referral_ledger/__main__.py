"""`python -m referral_ledger`: the same as the `referral-ledger` command."""

import sys

from referral_ledger.cli import main

# Guarded: the API reference's inspection imports every module of the package.
if __name__ == "__main__":
    sys.exit(main())
