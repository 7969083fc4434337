"""The ten lines of host code from docs/getting-started.md: run `python examples/quickstart.py`.

A shop with a contract refers a lead, buys, and redeems points. It keeps the
ledger in memory so it can run again and again; a host passes
`sqlite:///PATH` or a `postgresql://` URL to keep it.
"""

from datetime import date
from decimal import Decimal

from referral_ledger import Ledger, LoyaltyProgram

# --8<-- [start:host]
with Ledger.open("memory://") as ledger:  # or "sqlite:////var/lib/shop/ledger.db"
    ledger.configure_loyalty(LoyaltyProgram(money_per_point=10000, point_value=1000))
    shop = ledger.register_customer("Nguyễn Minh Anh", ["0912 345 678"], external_id="POS-1")
    ledger.sign_contract(shop, "HD-1", "pro", starts_on=date(2025, 1, 1), ends_on=date(2030, 1, 1))
    lead = ledger.submit_referral(shop, name="Trần Thị Bình", phone="0987 654 321", industry="spa")
    ledger.record_purchase(shop, invoice_id="INV-1001", amount=Decimal("1059000"))  # 105 points
    ledger.redeem_points(shop, points=50, redemption_id="RDM-1")  # worth Decimal("50000")
    print(ledger.balance(shop), ledger.get_referral(lead).status.value)  # 55 submitted
# --8<-- [end:host]
