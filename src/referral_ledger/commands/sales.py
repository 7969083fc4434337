"""The loyalty group the `Ledger` builds: points, checkout and purchase imports."""

from __future__ import annotations

from referral_ledger.commands.checkout import CheckoutCommands
from referral_ledger.commands.purchase_import import PurchaseImportCommands


class SalesCommands(CheckoutCommands, PurchaseImportCommands):
    """Loyalty program, points, `checkout` and `import_purchases`, on one context."""
