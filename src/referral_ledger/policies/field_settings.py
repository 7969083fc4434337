"""Customer field settings (CRMVIET "Thiết lập trùng lặp dữ liệu") and origins
("Nguồn gốc"): which fields a customer must have, which must be unique, and
the display names of source keys.

Pure functions: the commands load the settings in the customer command's
unit of work, refuse what is missing here, and claim each unique value (a
claim record per value, `aggregates/claims.py`) so the store refuses a
duplicate even between processes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Final

import attrs

from referral_ledger.errors import InvalidInput
from referral_ledger.policies.customer_fields import CustomerFields
from referral_ledger.values import parse_reference, parse_text

#: The fields a setting may name.
SETTABLE: Final = (
    "name",
    "phones",
    "email",
    "group",
    "source",
    "social_page",
    "external_id",
    "addresses",
    "assigned_staff",
)
#: Always required, whatever the settings say.
ALWAYS_REQUIRED: Final = frozenset({"name"})
#: Unique by their own records whatever the settings say: one customer per
#: upstream (POS) id; phones follow the duplicate-phone policies instead.
OWN_CLAIMS: Final = frozenset({"external_id", "phones"})


@attrs.frozen
class FieldSettings:
    """Which customer fields are required and which are unique."""

    required: frozenset[str] = frozenset({"name", "phones"})
    unique: frozenset[str] = frozenset({"phones"})

    @property
    def claimed(self) -> tuple[str, ...]:
        """The unique fields whose values get claim records of their own, in order."""
        return tuple(f for f in SETTABLE if f in self.unique and f not in OWN_CLAIMS)


DEFAULT_SETTINGS: Final = FieldSettings()


def _field_set(value: object, name: str) -> frozenset[str]:
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise InvalidInput(f"{name} must be a set of field names, not {value!r}")
    items = list(value)
    unknown = sorted(repr(f) for f in items if not isinstance(f, str) or f not in SETTABLE)
    if unknown:
        raise InvalidInput(
            f"{name} names fields that are not settable: {', '.join(unknown)} "
            f"(fields: {', '.join(SETTABLE)})"
        )
    return frozenset(items)


def parse_settings(required: object, unique: object) -> FieldSettings:
    """Validated settings; `name` is required whatever `required` says."""
    return FieldSettings(
        required=_field_set(required, "required") | ALWAYS_REQUIRED,
        unique=_field_set(unique, "unique"),
    )


def _empty(value: object) -> bool:
    return value is None or value == () or value == frozenset()


def check_required(
    settings: FieldSettings, details: CustomerFields, fields: Iterable[str] | None = None
) -> None:
    """Refuse a customer missing a required field (of `fields`, when given: what
    an edit sets), naming the field."""
    names = settings.required if fields is None else settings.required & set(fields)
    for field in SETTABLE:
        if field in names and _empty(getattr(details, field)):
            if field == "phones":
                raise InvalidInput("phones is required: phones must name at least one phone number")
            raise InvalidInput(f"{field} is required: a customer must have one")


def unique_keys(field: str, details: CustomerFields) -> frozenset[str]:
    """The values of `field` a claim is kept for: case and spacing do not make
    two emails or names different."""
    value = getattr(details, field)
    values = value if isinstance(value, tuple | frozenset) else () if value is None else (value,)
    return frozenset(" ".join(str(v).casefold().split()) for v in values)


# --- origins ------------------------------------------------------------------

#: The origins every ledger knows: customers synced from a POS (KiotViet's key).
DEFAULT_SOURCES: Final[Mapping[str, str]] = {"retailer": "KiotViet (POS)"}


@attrs.frozen
class Source:
    """An origin of customers: the key recorded on them and its display name."""

    key: str
    name: str


def parse_source(key: object, name: object) -> Source:
    return Source(parse_reference(key, "source key"), parse_text(name, "source name"))
