"""Customer rules: the known tags, and what registering or editing does when a
phone already belongs to another customer (the duplicate-phone policy).

The policy is a pure function over who holds each phone, so it is tested
without a store; the commands load the phone claims and apply its answer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final, Literal, TypeAlias
from uuid import UUID

from referral_ledger.errors import DuplicatePhone, InvalidInput
from referral_ledger.policies.folding import fold

#: The tags the seed documents name as defaults ("tiềm năng" = potential,
#: "hay hoàn" = often returns). Tags are free text: hosts may use any others;
#: these are the ones every host can rely on meaning the same thing.
KNOWN_TAGS: Final = frozenset({"potential", "often_returns"})
#: The default tags' display names, as the seed's screens show them. A tag
#: typed as its display name (with or without accents) is recorded as its key.
TAG_NAMES: Final[Mapping[str, str]] = {"potential": "tiềm năng", "often_returns": "hay hoàn"}
_TAG_KEYS: Final = {fold(name): key for key, name in TAG_NAMES.items()}


def tag_key(tag: str) -> str:
    """The key of a default tag typed by its display name ("Tiềm năng", "tiem nang"),
    else the tag as given."""
    return _TAG_KEYS.get(fold(tag), tag)


#: What registering does when a phone already belongs to a customer.
DuplicatePhonePolicy: TypeAlias = Literal["reject", "skip", "update", "create"]
DUPLICATE_PHONE_POLICIES: Final = ("reject", "skip", "update", "create")

#: What a registration does, once the policy has looked at its phones.
Registration: TypeAlias = Literal["create", "skip", "update"]
#: What an edit does with a new phone another customer holds.
EditOfPhone: TypeAlias = Literal["claim", "skip"]


def parse_policy(value: object) -> DuplicatePhonePolicy:
    for policy in DUPLICATE_PHONE_POLICIES:
        if value == policy:
            return policy
    raise InvalidInput(
        f"on_duplicate_phone must be one of {', '.join(DUPLICATE_PHONE_POLICIES)}: {value!r}"
    )


def first_owned(owners: Mapping[str, Sequence[UUID]]) -> tuple[str, UUID] | None:
    """The first of the phones (in the order given) that a customer holds, and its owner."""
    for phone, holders in owners.items():
        if holders:
            return phone, holders[0]
    return None


def on_registration(
    policy: DuplicatePhonePolicy, owners: Mapping[str, Sequence[UUID]]
) -> tuple[Registration, UUID | None]:
    """What registering with these phones does, given who holds each of them.

    Returns ("create", None) when none is held or the policy is "create";
    else "skip" or "update" with the first holder; "reject" raises `DuplicatePhone`.
    """
    clash = first_owned(owners)
    if clash is None or policy == "create":
        return "create", None
    phone, owner = clash
    if policy == "reject":
        raise DuplicatePhone(f"phone {phone} already belongs to customer {owner}")
    return policy, owner


def on_new_phone(policy: DuplicatePhonePolicy, phone: str, others: Sequence[UUID]) -> EditOfPhone:
    """What an edit giving a customer `phone`, held by `others`, does.

    "reject" raises `DuplicatePhone`, "skip" leaves the customer as it is;
    "update" and "create" let the customers share the number.
    """
    if others and policy == "reject":
        raise DuplicatePhone(f"phone {phone} already belongs to customer {others[0]}")
    if others and policy == "skip":
        return "skip"
    return "claim"
