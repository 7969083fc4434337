"""Vouchers: definition, refusals (each reason), exact discounts, uses, returns, bad input."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from referral_ledger import (
    InvalidInput,
    Ledger,
    LoyaltyProgram,
    NotFound,
    Voucher,
    VoucherRefused,
)
from support import Clock
from till import give_back, sell

START = datetime(2026, 2, 1, 3, 0, tzinfo=UTC)


@pytest.fixture
def shop(ledger: Ledger) -> Ledger:
    ledger.configure_loyalty(
        LoyaltyProgram(money_per_point=Decimal(1000), point_value=Decimal(100))
    )
    return ledger


def customer(ledger: Ledger, n: int, tags: tuple[str, ...] = ()) -> Any:
    return ledger.register_customer(f"Khách {n}", [f"0912 345 {n:03d}"], tags=list(tags))


def refusal(ledger: Ledger, code: str, cid: Any, amount: Any, **kw: Any) -> str:
    with pytest.raises(VoucherRefused) as caught:
        ledger.check_voucher(code, cid, amount, **kw)
    assert code.upper() in str(caught.value)
    return caught.value.reason


def test_fixed_voucher_is_created_read_and_checked_case_insensitively(shop: Ledger) -> None:
    cid = customer(shop, 1)
    created = shop.create_voucher(
        Voucher(code="tet2026", discount=Decimal(50_000), min_order=Decimal(300_000))
    )
    assert created.code == "TET2026" and created.used == 0
    assert shop.get_voucher("Tet2026") == created
    assert shop.check_voucher(" tet2026 ", cid, Decimal(300_000)) == Decimal(50_000)
    assert shop.vouchers() == [created]


def test_percent_is_exact_floored_to_the_dong_and_capped(shop: Ledger) -> None:
    cid = customer(shop, 1)
    shop.create_voucher(Voucher(code="P", percent=Decimal("12.5")))
    shop.create_voucher(Voucher(code="CAP", percent=Decimal(10), max_discount=Decimal(20_000)))
    # 12.5% of 333,333 is 41,666.625: floored, never rounded up.
    assert shop.check_voucher("P", cid, Decimal(333_333)) == Decimal(41_666)
    assert shop.check_voucher("P", cid, Decimal(7)) == Decimal(0)
    huge = Decimal("999999999999.999999")
    assert shop.check_voucher("P", cid, huge) == Decimal(124_999_999_999)
    assert shop.check_voucher("CAP", cid, Decimal(150_000)) == Decimal(15_000)
    assert shop.check_voucher("CAP", cid, Decimal(900_000)) == Decimal(20_000)


def test_a_fixed_discount_never_exceeds_the_amount(shop: Ledger) -> None:
    cid = customer(shop, 1)
    shop.create_voucher(Voucher(code="BIG", discount=Decimal(50_000)))
    assert shop.check_voucher("BIG", cid, Decimal(30_000)) == Decimal(30_000)


def test_every_refusal_names_its_reason(shop: Ledger, clock: Clock) -> None:
    vip = customer(shop, 1, ("VIP",))
    plain = customer(shop, 2)
    day = timedelta(days=1)
    shop.create_voucher(Voucher(code="OFF", discount=1000, active=False))
    shop.create_voucher(Voucher(code="LATER", discount=1000, starts_at=START + day))
    shop.create_voucher(Voucher(code="OVER", discount=1000, starts_at=START - day, ends_at=START))
    shop.create_voucher(Voucher(code="MIN", discount=1000, min_order=Decimal(100_000)))
    shop.create_voucher(Voucher(code="WH", discount=1000, warehouses=["Kho HN"]))
    shop.create_voucher(Voucher(code="VIP", discount=1000, customer_tags=["VIP"]))
    assert refusal(shop, "nope", vip, 1) == "unknown"
    assert refusal(shop, "off", vip, 1) == "inactive"
    assert refusal(shop, "later", vip, 1) == "not started"
    # [starts_at, ends_at): the end itself is outside.
    assert refusal(shop, "over", vip, 1) == "ended"
    assert shop.check_voucher("over", vip, 1, at=START - timedelta(seconds=1)) == 1
    assert shop.check_voucher("later", vip, 1, at=START + day) == 1
    assert refusal(shop, "min", vip, Decimal("99999.99")) == "below minimum"
    assert refusal(shop, "wh", vip, 1, warehouse="Kho HCM") == "other warehouse"
    assert refusal(shop, "wh", vip, 1) == "other warehouse"
    assert shop.check_voucher("wh", vip, 1, warehouse="Kho HN") == 1
    assert refusal(shop, "vip", plain, 1) == "tags"
    assert shop.check_voucher("vip", vip, 1) == 1


def test_usage_limits_in_all_and_per_customer(shop: Ledger) -> None:
    a, b, c = (customer(shop, n) for n in (1, 2, 3))
    shop.create_voucher(Voucher(code="V", discount=1000, usage_limit=3, per_customer_limit=2))
    assert sell(shop, a, "HD-1", Decimal(5000), voucher="v")[0] == Decimal(1000)
    assert sell(shop, a, "HD-2", Decimal(5000), voucher="v")[0] == Decimal(1000)
    assert refusal(shop, "V", a, 5000) == "used up by this customer"
    sell(shop, b, "HD-3", Decimal(5000), voucher="V")
    assert shop.get_voucher("V").used == 3
    assert refusal(shop, "V", c, 5000) == "used up"
    before = shop.event_count()
    with pytest.raises(VoucherRefused, match="used up"):
        sell(shop, c, "HD-4", Decimal(5000), voucher="V")
    assert shop.event_count() == before


def test_a_refusal_names_the_figures_that_refuse_it(shop: Ledger) -> None:
    """The refusal's message names the bad value: the order, the warehouse, the uses."""
    a = customer(shop, 1)
    shop.create_voucher(Voucher(code="MIN", discount=1000, min_order=Decimal(100_000)))
    shop.create_voucher(Voucher(code="WH", discount=1000, warehouses=["Kho HN"]))
    shop.create_voucher(Voucher(code="LATER", discount=1000, starts_at=START + timedelta(days=1)))
    shop.create_voucher(Voucher(code="V", discount=1000, usage_limit=2, per_customer_limit=1))
    cases: list[tuple[str, dict[str, Any], str]] = [
        ("MIN", {}, r"\(below minimum\): order 99999 is below the minimum 100000"),
        ("WH", {"warehouse": "Kho HCM"}, r"warehouse 'Kho HCM' is not one of \['Kho HN'\]"),
        ("LATER", {}, r"\(not started\): valid from 2026-02-02 03:00:00\+00:00"),
    ]
    for code, kw, message in cases:
        with pytest.raises(VoucherRefused, match=message):
            shop.check_voucher(code, a, Decimal(99_999), **kw)
    sell(shop, a, "HD-1", Decimal(5000), voucher="V")
    with pytest.raises(VoucherRefused, match="this customer used it 1 of 1 times"):
        shop.check_voucher("V", a, 5000)
    sell(shop, customer(shop, 2), "HD-2", Decimal(5000), voucher="V")
    with pytest.raises(VoucherRefused, match=r"\(used up\): used 2 of 2 times"):
        shop.check_voucher("V", customer(shop, 3), 5000)


def test_the_till_refuses_what_check_voucher_refuses(shop: Ledger, clock: Clock) -> None:
    """A sale is held to the same rules as `check_voucher`: this customer's own uses,
    and the voucher's dates at the sale's business time."""
    a = customer(shop, 1)
    shop.create_voucher(Voucher(code="ONCE", discount=1000, per_customer_limit=1))
    shop.create_voucher(Voucher(code="OVER", discount=1000, ends_at=START + timedelta(days=1)))
    sell(shop, a, "HD-1", Decimal(5000), voucher="ONCE")
    before = shop.event_count()
    with pytest.raises(VoucherRefused, match="used up by this customer"):
        sell(shop, a, "HD-2", Decimal(5000), voucher="ONCE")
    clock.advance(days=2)
    with pytest.raises(VoucherRefused, match="ended"):
        sell(shop, a, "HD-3", Decimal(5000), voucher="OVER")
    assert shop.event_count() == before


def test_a_full_return_releases_the_use_a_partial_one_does_not(shop: Ledger) -> None:
    a, b = customer(shop, 1), customer(shop, 2)
    shop.create_voucher(Voucher(code="ONE", discount=1000, usage_limit=1))
    sell(shop, a, "HD-1", Decimal(5000), voucher="ONE")
    give_back(shop, a, "HD-1", Decimal(4000), Decimal(5000))
    assert shop.get_voucher("ONE").used == 1
    give_back(shop, a, "HD-1", Decimal(5000), Decimal(5000))
    assert shop.get_voucher("ONE").used == 0
    assert sell(shop, b, "HD-2", Decimal(5000), voucher="ONE")[0] == Decimal(1000)


def test_the_same_sale_again_keeps_its_discount_and_records_nothing(shop: Ledger) -> None:
    a = customer(shop, 1)
    shop.create_voucher(Voucher(code="ONE", discount=1000, usage_limit=1))
    sell(shop, a, "HD-1", Decimal(5000), voucher="ONE")
    shop.update_voucher("ONE", discount=Decimal(2000))
    before = shop.event_count()
    assert sell(shop, a, "HD-1", Decimal(5000), voucher="ONE")[0] == Decimal(1000)
    assert shop.event_count() == before


def test_updates_apply_from_then_on(shop: Ledger, clock: Clock) -> None:
    a = customer(shop, 1)
    shop.create_voucher(Voucher(code="V", discount=1000, usage_limit=1))
    sell(shop, a, "HD-1", Decimal(5000), voucher="V")
    recorded = clock.advance(minutes=1)
    clock.advance(minutes=1)
    updated = shop.update_voucher("v", usage_limit=2, percent=Decimal(10), discount=None)
    assert updated.used == 1 and updated.usage_limit == 2 and updated.percent == 10
    assert shop.check_voucher("V", a, 5000) == Decimal(500)
    assert shop.get_voucher("V", as_of=recorded).discount == Decimal(1000)
    # The same definition again is a no-op, another one for the code is refused.
    before = shop.event_count()
    shop.create_voucher(Voucher(code="V", discount=1000, usage_limit=1))
    shop.update_voucher("V", usage_limit=2)
    assert shop.event_count() == before
    with pytest.raises(InvalidInput, match="other settings"):
        shop.create_voucher(Voucher(code="v", discount=999))


def test_audience_is_who_the_tags_admit_and_has_uses_left(shop: Ledger) -> None:
    vip, plain, regular = (
        customer(shop, 1, ("VIP",)),
        customer(shop, 2),
        customer(shop, 3, ("Sỉ", "VIP")),
    )
    shop.create_voucher(Voucher(code="V", discount=1, customer_tags=["VIP"], per_customer_limit=1))
    shop.create_voucher(Voucher(code="ALL", discount=1))
    shop.create_voucher(Voucher(code="OFF", discount=1, active=False))
    assert shop.voucher_audience("v") == [vip, regular]
    assert shop.voucher_audience("ALL") == [vip, plain, regular]
    assert shop.voucher_audience("OFF") == []
    sell(shop, vip, "HD-1", Decimal(10), voucher="V")
    assert shop.voucher_audience("V") == [regular]


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"discount": 1, "percent": 5}, "exactly one"),
        ({}, "exactly one"),
        ({"percent": 0}, "percent"),
        ({"percent": Decimal("100.5")}, "percent"),
        ({"discount": -1}, "discount"),
        ({"discount": 1.5}, "discount"),
        ({"discount": 0}, "discount"),
        ({"discount": 1, "min_order": -5}, "min_order"),
        ({"discount": 1, "usage_limit": 0}, "usage_limit"),
        ({"discount": 1, "per_customer_limit": 1.0}, "per_customer_limit"),
        ({"discount": 1, "starts_at": START, "ends_at": START}, "ends_at"),
        ({"discount": 1, "starts_at": datetime(2026, 1, 1)}, "starts_at"),
        ({"discount": 1, "warehouses": "Kho HN"}, "warehouses"),
        ({"discount": 1, "customer_tags": []}, "customer_tags"),
        ({"discount": 1, "active": "yes"}, "active"),
    ],
)
def test_bad_definitions_are_refused(fields: dict[str, Any], named: str) -> None:
    with pytest.raises(InvalidInput, match=named):
        Voucher(code="X", **fields)


@pytest.mark.parametrize(
    "code", ["", "   ", "A" * 33, "TẾT", "TET 2026", "TET\tX", "TET\x00", 2026, None]
)
def test_codes_a_cashier_cannot_type_are_refused(code: object) -> None:
    with pytest.raises(InvalidInput, match="code"):
        Voucher(code=code, discount=1)


def test_bad_commands_record_nothing(shop: Ledger) -> None:
    a = customer(shop, 1)
    shop.create_voucher(Voucher(code="V", discount=1000))
    before = shop.event_count()
    with pytest.raises(InvalidInput, match="colour"):
        shop.update_voucher("V", colour="red")
    with pytest.raises(InvalidInput, match="ends_at"):
        shop.update_voucher("V", starts_at=START, ends_at=START - timedelta(days=1))
    with pytest.raises(InvalidInput, match="exactly one"):
        shop.update_voucher("V", percent=Decimal(5))
    with pytest.raises(NotFound, match="NOPE"):
        shop.update_voucher("nope", active=False)
    with pytest.raises(NotFound):
        shop.get_voucher("nope")
    with pytest.raises(InvalidInput, match="Voucher"):
        shop.create_voucher({"code": "X", "discount": 1})  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="amount"):
        shop.check_voucher("V", a, 1.5)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="amount"):
        shop.check_voucher("V", a, -1)
    with pytest.raises(InvalidInput, match="at"):
        shop.check_voucher("V", a, 1, at=datetime(2026, 1, 1))
    assert shop.event_count() == before


def test_on_an_encrypted_store_codes_derive_keyed_record_ids() -> None:
    """A copy of an encrypted store does not tell which voucher or referral codes exist."""
    from referral_ledger.aggregates.referral_code import REFERRAL_CODE
    from referral_ledger.aggregates.voucher import voucher_id
    from referral_ledger.values import derived_id

    with Ledger.open(cipher_key=Ledger.create_cipher_key()) as ledger:
        ledger.configure_loyalty(
            LoyaltyProgram(money_per_point=Decimal(1000), point_value=Decimal(100))
        )
        an = customer(ledger, 1)
        ledger.create_voucher(Voucher(code="TET", discount=1000, usage_limit=1))
        assert sell(ledger, an, "HD-1", Decimal(5000), voucher="tet")[0] == Decimal(1000)
        code = ledger.referral_code(an)
        assert ledger.referral_code_owner(code) == an
        ids = ledger._store.app.recorder
        assert voucher_id("TET", ledger._ids) != derived_id("voucher-code", "TET")
        assert ids.select_events(derived_id("voucher-code", "TET")) == []
        assert ids.select_events(derived_id(REFERRAL_CODE.name, code)) == []
        assert ledger.get_voucher("TET").used == 1


def test_voucher_and_referrer_records_survive_snapshots(sqlite_url: str) -> None:
    """Records with uses, lines and payouts are snapshotted and read back the same."""
    from referral_ledger import ReferralCodeProgram

    with Ledger.open(sqlite_url, snapshot_interval=2) as ledger:
        ledger.configure_loyalty(
            LoyaltyProgram(money_per_point=Decimal(1000), point_value=Decimal(100))
        )
        ledger.configure_referral_codes(ReferralCodeProgram(discount=1000))
        owner, buyers = customer(ledger, 0), [customer(ledger, n) for n in range(1, 6)]
        ledger.create_voucher(
            Voucher(code="V", percent=10, warehouses=["Kho 1"], customer_tags=["x", "y"])
        )
        ledger.update_voucher("V", customer_tags=None)
        code = ledger.referral_code(owner)
        for n, buyer in enumerate(buyers):
            sell(
                ledger,
                buyer,
                f"HD-{n}",
                Decimal(10_000),
                voucher="V",
                referral_code=code,
                warehouse="Kho 1",
            )
        give_back(ledger, buyers[0], "HD-0", Decimal(10_000), Decimal(10_000))
        ledger.pay_commissions(owner, "PO-1", at=START + timedelta(days=30))
        expected = (ledger.get_voucher("V"), ledger.commissions(owner))
    with Ledger.open(sqlite_url, cache_size=0) as reopened:
        snapshots = reopened._store.app.snapshots
        assert snapshots is not None
        assert (reopened.get_voucher("V"), reopened.commissions(owner)) == expected
        assert expected[0].used == 4


def test_voucher_settings_accept_their_bounds_and_refuse_one_past_them() -> None:
    """A code of 32 characters, a percent of any amount above 0 up to 100, a
    warehouse or tag name of 100 characters: accepted; one past: refused by name."""
    assert "A" * 32 == Voucher(code="a" * 32, discount=1).code
    with pytest.raises(InvalidInput, match="code is longer than 32 characters"):
        Voucher(code="A" * 33, discount=1)
    for percent in (Decimal("0.01"), Decimal(1), Decimal(100)):
        assert percent == Voucher(code="P", percent=percent).percent
    for percent in (Decimal(0), Decimal("100.01")):
        with pytest.raises(
            InvalidInput, match=re.escape(f"percent must be above 0 and at most 100: {percent!r}")
        ):
            Voucher(code="P", percent=percent)
    for field in ("warehouses", "customer_tags"):
        held = Voucher(code="W", discount=1, **{field: ["K" * 100]})
        assert frozenset({"K" * 100}) == getattr(held, field)
        with pytest.raises(InvalidInput, match=field):
            Voucher(code="W", discount=1, **{field: ["K" * 101]})
        # A bare name is not a list of names (not one per letter).
        with pytest.raises(InvalidInput, match=f"{field} must be a list of names"):
            Voucher(code="W", discount=1, **{field: "HN"})
