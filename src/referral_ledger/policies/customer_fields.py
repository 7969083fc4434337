"""The customer's fields, defined once.

`CustomerFields` names each field with its type, its default, and (in its
metadata) how it is parsed, whether an edit may clear it, and how it reads
from and writes to a spreadsheet cell. Everything else derives from it: the
recorded state and the `CustomerRegistered` event extend it, the public
`Customer` view extends it, registrations and edits are parsed field by
field from it, and the import and export columns are its field names. A new
field is one line here (and one in `CustomerUpdated`, which checks it).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any, Final

import attrs
from email_validator import EmailNotValidError, validate_email

from referral_ledger.errors import InvalidInput
from referral_ledger.policies.customers import tag_key
from referral_ledger.values import (
    parse_optional_text,
    parse_optional_time,
    parse_reference,
    parse_text,
    phone_numbers,
)

MAX_PHONES: Final = 20
MAX_TAGS: Final = 50
MAX_ADDRESSES: Final = 20
MAX_NOTES: Final = 5000


class Unchanged(enum.Enum):
    """The type of :data:`UNCHANGED`."""

    UNCHANGED = "UNCHANGED"

    def __repr__(self) -> str:
        return "UNCHANGED"


#: "Leave this field as it is" in an edit; `None` clears an optional field.
UNCHANGED: Final = Unchanged.UNCHANGED


# --- parsers: (value, phone region) -> clean value ---------------------------


def parse_name(value: object, region: str = "") -> str:
    return parse_text(value, "name")


def parse_phones(value: object, region: str) -> tuple[str, ...]:
    """Phone numbers in E.164, duplicates (after normalising) dropped; None: none.

    An item holding several numbers ("0912345678; 0987654321") gives them all.
    Whether a customer needs one is a field setting (`policies/field_settings.py`):
    by default it does.
    """
    if value is None:
        return ()
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise InvalidInput(f"phones must be a list of phone numbers, not {value!r}")
    phones = tuple(dict.fromkeys(n for item in value for n in phone_numbers(item, region)))
    if len(phones) > MAX_PHONES:
        raise InvalidInput(f"a customer has at most {MAX_PHONES} phones, not {len(phones)}")
    return phones


def parse_email(value: object, region: str = "") -> str | None:
    """A syntactically valid email address, normalised (the domain lower-cased)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str):
        raise InvalidInput(f"email must be a str, not {value!r}")
    try:
        # No DNS look-up: commands must not depend on the network, and a
        # customer's mail domain may be down today and fine tomorrow.
        return validate_email(value.strip(), check_deliverability=False).normalized
    except EmailNotValidError as error:
        raise InvalidInput(f"email is not a valid address: {value!r} ({error})") from None


def parse_tags(value: object, region: str = "") -> frozenset[str]:
    if value is None:
        return frozenset()
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise InvalidInput(f"tags must be a list of tag names, not {value!r}")
    tags = frozenset(tag_key(parse_text(t, "tag", limit=100)) for t in value)
    if len(tags) > MAX_TAGS:
        raise InvalidInput(f"a customer has at most {MAX_TAGS} tags, not {len(tags)}")
    return tags


def parse_addresses(value: object, region: str = "") -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise InvalidInput(f"addresses must be a list of addresses, not {value!r}")
    addresses = tuple(dict.fromkeys(parse_text(a, "address") for a in value))
    if len(addresses) > MAX_ADDRESSES:
        raise InvalidInput(f"a customer has at most {MAX_ADDRESSES} addresses")
    return addresses


def parse_external_id(value: object, region: str = "") -> str | None:
    return None if value is None else parse_reference(value, "external_id")


def parse_notes(value: object, region: str = "") -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str):
        raise InvalidInput(f"notes must be a str, not {value!r}")
    # Notes may span lines, unlike the other text fields.
    return "\n".join(
        parse_text(line, "notes", limit=MAX_NOTES) if line.strip() else ""
        for line in value.strip().splitlines()
    )


@attrs.frozen
class OptionalText:
    """Reads an optional text field, naming it in a refusal.

    A class, not a closure built when the module is imported: its rule runs
    when a value is read, where a test (and `make mutate`) can reach it.
    """

    name: str

    def __call__(self, value: object, region: str) -> str | None:
        return parse_optional_text(value, self.name)


# --- cells -------------------------------------------------------------------


def _text_cell(value: Any) -> str | None:
    return None if value is None else str(value)


@attrs.frozen
class JoinedCell:
    """Writes a list to one export cell, its items joined by `separator`.

    `sort`: a set (tags) is written in sorted order, so the same customer
    always exports the same cell. Nothing in the list: an empty cell.
    """

    separator: str
    sort: bool = False

    def __call__(self, values: Any) -> str | None:
        items = sorted(values) if self.sort else list(values)
        return self.separator.join(items) or None


@attrs.frozen
class FieldSpec:
    """How one customer field is read, edited and written to a sheet."""

    #: Validates an input value: (value, phone region) -> clean value.
    parse: Callable[[object, str], Any]
    #: An optional field an edit may clear with None (lists are emptied instead).
    clearable: bool = False
    #: A list: a spreadsheet cell holds its items separated by `separators`.
    listed: bool = False
    separators: re.Pattern[str] = re.compile(r"[,;\n]")
    #: Writes the value to an export cell (None: an empty cell).
    cell: Callable[[Any], str | None] = _text_cell


SPEC: Final = "referral_ledger.customer_field"


@attrs.frozen(kw_only=True, slots=False)
class CustomerFields:
    """What a host says about a customer: THE definition of the customer's fields.

    Not slotted, so an event class can extend both it and `Event`.
    """

    name: str = attrs.field(metadata={SPEC: FieldSpec(parse_name)})
    phones: tuple[str, ...] = attrs.field(
        default=(), metadata={SPEC: FieldSpec(parse_phones, listed=True, cell=JoinedCell("; "))}
    )
    email: str | None = attrs.field(
        default=None, metadata={SPEC: FieldSpec(parse_email, clearable=True)}
    )
    group: str | None = attrs.field(
        default=None, metadata={SPEC: FieldSpec(OptionalText("group"), clearable=True)}
    )
    source: str | None = attrs.field(
        default=None, metadata={SPEC: FieldSpec(OptionalText("source"), clearable=True)}
    )
    tags: frozenset[str] = attrs.field(
        default=frozenset(),
        metadata={SPEC: FieldSpec(parse_tags, listed=True, cell=JoinedCell("; ", sort=True))},
    )
    external_id: str | None = attrs.field(
        default=None, metadata={SPEC: FieldSpec(parse_external_id, clearable=True)}
    )
    notes: str | None = attrs.field(
        default=None, metadata={SPEC: FieldSpec(parse_notes, clearable=True)}
    )
    addresses: tuple[str, ...] = attrs.field(
        default=(),
        # An address has commas ("12 Tràng Tiền, Hà Nội"): a cell separates
        # addresses by new lines or ";" only.
        metadata={
            SPEC: FieldSpec(
                parse_addresses, listed=True, separators=re.compile(r"[;\n]"), cell=JoinedCell("\n")
            )
        },
    )
    assigned_staff: str | None = attrs.field(
        default=None, metadata={SPEC: FieldSpec(OptionalText("assigned_staff"), clearable=True)}
    )
    #: The social page (a Facebook/Zalo page) the customer came through.
    social_page: str | None = attrs.field(
        default=None, metadata={SPEC: FieldSpec(OptionalText("social_page"), clearable=True)}
    )


#: What a registration says about a customer, validated.
CustomerDetails = CustomerFields

SPECS: Final[Mapping[str, FieldSpec]] = {
    a.name: a.metadata[SPEC] for a in attrs.fields(CustomerFields)
}
#: Every field, in their order.
FIELD_NAMES: Final = tuple(SPECS)
#: The fields a registration must always give; which others it must give
#: (phones, by default) is a field setting, see `policies/field_settings.py`.
REQUIRED: Final = tuple(a.name for a in attrs.fields(CustomerFields) if a.default is attrs.NOTHING)
#: The optional fields, which an edit may clear with None.
CLEARABLE: Final = tuple(name for name, spec in SPECS.items() if spec.clearable)
#: The fields an edit may change (all of them).
EDITABLE: Final = FIELD_NAMES
#: What a registration leaving a field out records.
DEFAULTS: Final[Mapping[str, object]] = {
    a.name: a.default for a in attrs.fields(CustomerFields) if a.default is not attrs.NOTHING
}

#: The columns `import_customers` (and `referral-ledger import customers`)
#: reads: every field, "phone" (one more phone, as many sheets have it) and
#: "at" (when the customer registered or changed, in business time).
IMPORT_COLUMNS: Final = (*FIELD_NAMES, "phone", "at")
#: The columns a customers export writes, in order: the POS id first, the key
#: a re-import matches rows on; what an export writes imports back.
EXPORT_COLUMNS: Final = ("external_id", *(n for n in FIELD_NAMES if n != "external_id"))


def export_row(customer: CustomerFields) -> dict[str, str | None]:
    """A customer's cells under `EXPORT_COLUMNS`."""
    return {name: SPECS[name].cell(getattr(customer, name)) for name in EXPORT_COLUMNS}


def parse_details(*, region: str, **values: object) -> CustomerFields:
    """Validate everything a registration says, naming the first bad value."""
    unknown = sorted(set(values) - set(FIELD_NAMES))
    if unknown:
        raise TypeError(f"not customer fields: {', '.join(unknown)}")
    missing = [name for name in REQUIRED if name not in values]
    if missing:
        raise InvalidInput(f"{' and '.join(missing)} must be given")
    parsed = {
        name: spec.parse(values[name] if name in values else DEFAULTS[name], region)
        for name, spec in SPECS.items()
    }
    return CustomerFields(**parsed)


@attrs.frozen
class CustomerEdit:
    """The fields an edit sets, validated; a field left out stays as it is.

    `None` for an optional field clears it.
    """

    changes: Mapping[str, object] = attrs.field(factory=dict)

    def sets(self, field: str) -> bool:
        return field in self.changes

    @property
    def phones(self) -> tuple[str, ...] | None:
        """The new phone list, if the edit sets one."""
        phones = self.changes.get("phones")
        assert phones is None or isinstance(phones, tuple)
        return phones


def parse_edit(fields: Mapping[str, object], region: str) -> CustomerEdit:
    """Validate an edit; fields given as UNCHANGED stay out of it."""
    unknown = sorted(set(fields) - set(FIELD_NAMES))
    if unknown:
        raise TypeError(f"not customer fields: {', '.join(unknown)}")
    return CustomerEdit(
        {k: SPECS[k].parse(v, region) for k, v in fields.items() if v is not UNCHANGED}
    )


def edit_of(details: CustomerFields, fields: Iterable[str]) -> CustomerEdit:
    """The edit that sets `fields` of a customer to what `details` says."""
    return CustomerEdit({field: getattr(details, field) for field in fields})


def merge_edit(customer: CustomerFields, details: CustomerFields) -> CustomerEdit:
    """What a registration landing on an existing customer changes (policy "update").

    List fields (phones, tags, addresses) are added to the customer's;
    optional details the registration leaves out are kept; an upstream id is
    set only if the customer has none yet (its claim maps the new one to it anyway).
    """
    changes: dict[str, object] = {}
    for name, spec in SPECS.items():
        given = getattr(details, name)
        if spec.listed:
            had = getattr(customer, name)
            changes[name] = (
                had | given
                if isinstance(had, frozenset)
                else (tuple(dict.fromkeys((*had, *given))))
            )
        elif name == "external_id":
            if given is not None and customer.external_id is None:
                changes[name] = given
        elif given is not None:
            changes[name] = given
    return CustomerEdit(changes)


def row_fields(row: Mapping[object, object]) -> dict[str, object]:
    """The fields of one import row: list cells split, "phone" added to "phones".

    Raises `InvalidInput` for a column that is not in `IMPORT_COLUMNS`.
    """
    unknown = sorted(str(k) for k in row if k not in IMPORT_COLUMNS)
    if unknown:
        raise InvalidInput(f"unknown column(s) {', '.join(map(repr, unknown))}")
    fields: dict[str, object] = {}
    for key, value in row.items():
        if key == "at":
            continue  # see `row_time`
        name = "phones" if key == "phone" else str(key)
        spec = SPECS[name]
        if name == "phones":
            value = _typed_phones(value)
        if spec.listed and isinstance(value, str):
            value = [part for part in spec.separators.split(value) if part.strip()]
        if name == "phones":
            if value is None:
                value = []
            elif not isinstance(value, Iterable):
                raise InvalidInput(f"{key} must be text or a list of phones, not {value!r}")
            # "phone" and "phones" together: the sheet's phones, "phones" first.
            had = fields.get("phones", [])
            assert isinstance(had, list)
            value = [*had, *value] if key == "phone" else [*value, *had]
        fields[name] = value
    external_id = fields.get("external_id")
    if external_id is None or (isinstance(external_id, str) and not external_id.strip()):
        fields.pop("external_id", None)
    return fields


def _typed_phones(value: object) -> object:
    """A phone typed as a number (975500600, as a spreadsheet keeps it) as its digits."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, list | tuple):
        return [str(v) if isinstance(v, int) and not isinstance(v, bool) else v for v in value]
    return value


def row_time(row: Mapping[object, object]) -> datetime | None:
    """The business time of an import row: its "at" cell (ISO 8601 text or a datetime)."""
    at = row.get("at")
    if isinstance(at, str):
        try:
            at = datetime.fromisoformat(at.strip()) if at.strip() else None
        except ValueError:
            raise InvalidInput(f"at is not an ISO-8601 time: {at!r}") from None
    return parse_optional_time(at, "at")
