"""A POS sends customer webhooks (create, import, edit); the host applies them with
`Ledger.sync_customer_from_pos`. POS webhooks are delivered at least once, so
here every webhook arrives twice (the retry records nothing), and then the
whole stream is replayed: no customer doubles, and each ends as it was.

Run it: `python examples/pos_sync.py`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from referral_ledger import Ledger

#: What a POS sends: one customer per create/update, many per import.
WEBHOOKS: list[dict[str, Any]] = [
    {
        "event": "customer.create",
        "data": {"id": "POS-1001", "name": "Nguyễn Văn An", "phone": "0912 345 678"},
    },
    {
        "event": "customer.create",
        "data": {"id": "POS-1002", "name": "Trần Thị Bình", "phone": "0987 654 321"},
    },
    {
        "event": "customer.import",
        "data": [
            {"id": "POS-1003", "name": "Lê Văn Cường", "phone": "0903 111 222", "group": "retail"},
            {"id": "POS-1004", "name": "Phạm Thị Dung", "phone": "+84 905 333 444"},
        ],
    },
    {
        "event": "customer.update",
        "data": {
            "id": "POS-1001",
            "name": "Nguyễn Văn An",
            "phone": "0912 345 678, 0909 000 111",
            "email": "an.nguyen@example.vn",
        },
    },
    {
        "event": "customer.update",
        "data": {"id": "POS-1002", "name": "Trần Thị Bình", "phone": "0987654321", "group": "vip"},
    },
]


def customers_in(payload: Mapping[str, Any]) -> Iterable[Mapping[str, Any]]:
    """The customer records a webhook carries."""
    data = payload["data"]
    return data if isinstance(data, list) else [data]


def apply(ledger: Ledger, payloads: Iterable[Mapping[str, Any]]) -> int:
    """Apply webhooks; returns how many customer records they carried."""
    applied = 0
    for payload in payloads:
        for customer in customers_in(payload):
            ledger.sync_customer_from_pos(
                external_id=customer["id"],
                name=customer["name"],
                phones=[p.strip() for p in customer["phone"].split(",")],
                email=customer.get("email"),
                group=customer.get("group"),
            )
            applied += 1
    return applied


Row = tuple[str | None, str, tuple[str, ...], str | None, str | None]


def customers(ledger: Ledger) -> list[Row]:
    """(POS id, name, phones, email, group) of every customer the POS ids stand for."""
    found: list[Row] = []
    for number in range(1001, 1010):
        customer_id = ledger.find_customer_by_external_id(f"POS-{number}")
        if customer_id is not None:
            c = ledger.get_customer(customer_id)
            found.append((c.external_id, c.name, c.phones, c.email, c.group))
    return found


def main() -> None:
    with Ledger.open("memory://") as ledger:
        records = by_retries = 0
        for payload in WEBHOOKS:
            records += apply(ledger, [payload])
            before = ledger.event_count()
            apply(ledger, [payload])  # the POS retries the same webhook
            by_retries += ledger.event_count() - before
        print(f"{len(WEBHOOKS)} webhooks ({records} customer records), each delivered twice")
        print(f"events recorded by the retries: {by_retries}")
        first = customers(ledger)
        print(f"customers: {len(first)}")
        apply(ledger, WEBHOOKS)
        again = customers(ledger)
        print(
            f"after replaying the whole stream: {len(again)} customers, unchanged: {again == first}"
        )
        for external_id, name, phones, email, group in again:
            print(f"  {external_id}  {name}  {', '.join(phones)}  email={email}  group={group}")


if __name__ == "__main__":
    main()
