"""The parsers every command runs its arguments through before touching the store."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from referral_ledger import InvalidInput
from referral_ledger.values import (
    MAX_MONEY,
    derived_id,
    parse_id,
    parse_money,
    parse_optional_time,
    parse_points,
    parse_reference,
    parse_time,
)

# --- money -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (Decimal("105000"), Decimal("105000")),
        (105000, Decimal("105000")),
        ("105000", Decimal("105000")),
        (" 2500.50 ", Decimal("2500.50")),
        ("0.000001", Decimal("0.000001")),
        (0, Decimal(0)),
        (Decimal("0.00"), Decimal(0)),
        (MAX_MONEY, MAX_MONEY),
    ],
)
def test_money_accepts_decimal_int_and_numeric_str(given: object, expected: Decimal) -> None:
    assert expected == parse_money(given)


def test_money_negative_zero_is_plain_zero() -> None:
    """Decimal('-0') is stored as 0, so no statement ever shows '-0'."""
    parsed = parse_money(Decimal("-0"))
    assert Decimal(0) == parsed
    assert not parsed.is_signed()
    assert "0" == str(parse_money("-0"))


@pytest.mark.parametrize(
    ("given", "fragment"),
    [
        (1.5, "1.5"),
        (0.0, "0.0"),
        (float("nan"), "nan"),
        (Decimal("NaN"), "NaN"),
        (Decimal("sNaN"), "sNaN"),
        (Decimal("Infinity"), "Infinity"),
        ("-Infinity", "-Infinity"),
        ("inf", "inf"),
        (-1, "-1"),
        (Decimal("-0.01"), "-0.01"),
        ("-5", "-5"),
        (True, "True"),
        (False, "False"),
        (10**30, str(10**30)),
        (Decimal("0.0000001"), "1E-7"),
        ("1.1234567", "1.1234567"),
        ("", "''"),
        ("abc", "abc"),
        ("1,000", "1,000"),
        (None, "None"),
        ([1], "[1]"),
    ],
)
def test_money_refuses_floats_non_finite_negative_huge_and_too_precise(
    given: object, fragment: str
) -> None:
    """Every refusal is InvalidInput and its message shows the offending value."""
    with pytest.raises(InvalidInput) as raised:
        parse_money(given, "amount")
    assert fragment in str(raised.value)
    assert "amount" in str(raised.value)


def test_money_message_names_the_parameter() -> None:
    with pytest.raises(InvalidInput, match="discounted_amount"):
        parse_money(-1, "discounted_amount")


# --- points ----------------------------------------------------------------


@pytest.mark.parametrize("given", [0, 1, 10**15])
def test_points_accepts_non_negative_ints(given: int) -> None:
    assert given == parse_points(given)


@pytest.mark.parametrize("given", [True, False, 1.0, "1", Decimal(1), None, -1, 10**15 + 1])
def test_points_refuses_bool_float_str_decimal_negative_and_huge(given: object) -> None:
    with pytest.raises(InvalidInput) as raised:
        parse_points(given, "points")
    assert repr(given) in str(raised.value)


@pytest.mark.parametrize("given", [0, -3])
def test_positive_points_refuses_zero_and_negative(given: int) -> None:
    with pytest.raises(InvalidInput, match=str(given)):
        parse_points(given, "points", positive=True)


# --- times -----------------------------------------------------------------


def test_time_accepts_aware_datetimes_and_normalises_to_utc() -> None:
    hanoi = timezone(timedelta(hours=7))
    given = datetime(2026, 3, 1, 9, 30, tzinfo=hanoi)
    parsed = parse_time(given)
    assert datetime(2026, 3, 1, 2, 30, tzinfo=UTC) == parsed
    assert UTC == parsed.tzinfo


@pytest.mark.parametrize(
    "given", [datetime(2026, 3, 1, 9, 30), "2026-03-01T09:30:00+07:00", 1767225600, None]
)
def test_time_refuses_naive_datetimes_and_non_datetimes(given: object) -> None:
    with pytest.raises(InvalidInput, match="at"):
        parse_time(given, "at")


def test_optional_time_passes_none_through() -> None:
    assert None is parse_optional_time(None)
    with pytest.raises(InvalidInput, match="as_of"):
        parse_optional_time(datetime(2026, 1, 1), "as_of")


# --- ids and references ----------------------------------------------------


def test_id_accepts_uuid_and_its_string_form() -> None:
    value = uuid.uuid4()
    assert value == parse_id(value, "customer_id")
    assert value == parse_id(str(value), "customer_id")


@pytest.mark.parametrize("given", ["", "not-a-uuid", 42, None, b"x" * 16])
def test_id_refuses_anything_else(given: object) -> None:
    with pytest.raises(InvalidInput, match="customer_id"):
        parse_id(given, "customer_id")


def test_derived_id_is_deterministic_and_separates_kinds_and_keys() -> None:
    assert derived_id("invoice", "INV-1") == derived_id("invoice", "INV-1")
    assert derived_id("invoice", "INV-1") != derived_id("redemption", "INV-1")
    assert derived_id("invoice", "INV-1") != derived_id("invoice", "INV-2")
    assert 5 == derived_id("invoice", "INV-1").version


def test_reference_is_trimmed() -> None:
    assert "INV-1" == parse_reference("  INV-1 ", "invoice_id")


@pytest.mark.parametrize("given", ["", "   ", None, 7, "x" * 201, "INV\n1", "INV\x001"])
def test_reference_refuses_empty_non_str_too_long_and_control_characters(given: object) -> None:
    with pytest.raises(InvalidInput, match="invoice_id"):
        parse_reference(given, "invoice_id")
