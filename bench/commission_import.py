"""What the referrer's commission costs an import: `import_purchases` rows/s on SQLite.

    .venv/bin/python bench/commission_import.py LABEL REFERRED     # e.g. branch 200
    for r in 0 200 1000; do .venv/bin/python bench/commission_import.py after $r; done

2,000 customers; REFERRED of them bought first with one referrer's code, so
their purchases earn that referrer a commission line each. Then 20,000
purchases, ten per customer, in one `import_purchases` call (batches of
1,000). With REFERRED = 0 no row earns commission (the cost of looking);
with 200, 2,000 rows add a commission line to one referrer's account; with
1000, 10,000 rows do (11,000 lines with the first purchases), which shows
whether an event's cost grows with the lines (issue #15).
Prints the rows/s and how many commission lines the referrer has.
"""

from __future__ import annotations

import sys
import tempfile
import time
from decimal import Decimal

from referral_ledger import Ledger, LoyaltyProgram, ReferralCodeProgram

CUSTOMERS = 2000
ROWS = 20_000


def main(label: str, referred: int) -> None:
    with tempfile.TemporaryDirectory() as folder, Ledger.open(f"sqlite:///{folder}/l.db") as ledger:
        ledger.configure_loyalty(
            LoyaltyProgram(money_per_point=Decimal(1000), point_value=Decimal(100))
        )
        ledger.configure_referral_codes(
            ReferralCodeProgram(discount=Decimal(0), commission_percent=Decimal(5))
        )
        ledger.import_customers(
            [
                {"name": f"K{n}", "phones": f"0912{n:06d}", "external_id": f"P{n}"}
                for n in range(CUSTOMERS)
            ]
        )
        referrer = ledger.find_customer_by_external_id("P0")
        assert referrer is not None
        code = ledger.referral_code(referrer)
        for n in range(1, 1 + referred):
            buyer = ledger.find_customer_by_external_id(f"P{n}")
            ledger.checkout(buyer, f"FIRST-{n}", Decimal(1000), referral_code=code)
        rows: list[dict[str, object]] = [
            {"external_id": f"P{n % CUSTOMERS}", "invoice_id": f"I{n}", "amount": "150000"}
            for n in range(ROWS)
        ]
        start = time.perf_counter()
        report = ledger.import_purchases(rows)
        took = time.perf_counter() - start
        lines = len(ledger.commissions(referrer))
        print(
            f"{label}: {report.recorded} rows in {took:.2f} s = {report.recorded / took:,.0f} "
            f"rows/s; commission lines of the referrer: {lines}"
        )


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
