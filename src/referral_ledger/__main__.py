"""`python -m referral_ledger`: the same as the `referral-ledger` command."""

import sys

from referral_ledger.cli import main

sys.exit(main())
