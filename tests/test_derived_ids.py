"""The ids the ledger derives from business keys, pinned to golden values.

A record keyed by a business value (a phone, an invoice id, a voucher code, a
POS id...) is stored under an id derived from the kind's name and the value.
Those ids are in every live store: if a kind's name, the namespace or the
derivation changed, the ledger would look for a phone's claim, an invoice's
record or a customer's account under a new id, find nothing, and treat every
stored record as absent (double earning, phones claimed twice). These values
were computed once by 0.2 and must never change.
"""

from __future__ import annotations

from collections.abc import Callable
from uuid import UUID

import pytest

from referral_ledger.aggregates import (
    assignment,
    campaign,
    claims,
    commission,
    customer_record,
    customer_settings,
    due,
    loyalty,
    phones,
    program,
    referral_code,
    staff,
    voucher,
)
from referral_ledger.values import NAMESPACE, RecordIds, derived_id

CUSTOMER = UUID("00000000-0000-4000-8000-000000000001")
#: The record ids of a store opened with this cipher key.
KEYED = RecordIds.for_cipher_key("k" * 44)

#: (what, how it is derived now, the id every earlier release stored). Derived in
#: the test, not at import, so that a change to the derivation is seen by the test.
GOLDEN: list[tuple[str, Callable[[], UUID], str]] = [
    ("the namespace", lambda: NAMESPACE, "a9ad7171-7671-5fc4-a732-f2b80eaab8a3"),
    (
        "a phone's claim",
        lambda: phones.phone_record_id("+84912345678"),
        "34e99f8a-a060-57be-9f41-391616ae497b",
    ),
    (
        "an invoice",
        lambda: loyalty.invoice_record_id("INV-1"),
        "ab0bce48-5f9a-5cac-bf46-1cbb026a781a",
    ),
    (
        "a redemption",
        lambda: loyalty.redemption_record_id("R-1"),
        "2c19e3e4-2503-5fe4-9bd9-c20e4c4ad8a3",
    ),
    (
        "a POS link",
        lambda: customer_record.external_link_id("POS-1"),
        "37233bdd-3b35-5f5c-bb19-ce86b20dffbd",
    ),
    (
        "a voucher code",
        lambda: voucher.voucher_id("WELCOME10"),
        "31167641-23c7-5f7d-be3d-e0791537938e",
    ),
    (
        "a referral code",
        lambda: referral_code.REFERRAL_CODE.record_id("AB7K2Q"),
        "86ce8718-87aa-539f-9501-8801eedd3627",
    ),
    (
        "a campaign",
        lambda: campaign.campaign_record_id("tet-2027"),
        "1f93f0f4-d77d-5e31-b437-5a9b25a65abd",
    ),
    (
        "a loyalty account",
        lambda: loyalty.account_id(CUSTOMER),
        "3f553a16-d3b0-5b40-a8ad-9fa62adc77c8",
    ),
    (
        "a referrer's commission account",
        lambda: commission.commission_account_id(CUSTOMER),
        "2953044b-3bd5-5a55-807d-1eca19536d6e",
    ),
    (
        "a referred customer's link",
        lambda: referral_code.referred_id(CUSTOMER),
        "4f156c14-e680-53c2-a267-efc06f025a10",
    ),
    ("a due item", lambda: due.due_item_id("expiry", "x"), "de95c0d2-0ac3-5221-b714-22d49814a438"),
    (
        "a unique email's claim",
        lambda: customer_settings.UNIQUE_KINDS["email"].record_id("an@example.com"),
        "976befa5-5cc8-50e8-953b-7d627c44d634",
    ),
    (
        "the loyalty program",
        lambda: program.LOYALTY_PROGRAM_ID,
        "cf2943de-0006-5e9a-87d6-00cca8f8b3a7",
    ),
    (
        "the referral program",
        lambda: program.REFERRAL_PROGRAM_ID,
        "83221833-f09c-57cb-ae24-7db3bad4bf99",
    ),
    (
        "the referral-code program",
        lambda: referral_code.REFERRAL_CODE_PROGRAM_ID,
        "3b8e4794-668d-5afe-95a0-23c1081e521b",
    ),
    (
        "the campaign book",
        lambda: campaign.CAMPAIGN_BOOK_ID,
        "ba0b2b14-76be-5a2b-8635-299efc15e636",
    ),
    (
        "the assignment rule book",
        lambda: assignment.RULE_BOOK,
        "ab2dd442-b560-5cef-888e-e4f8c1b23341",
    ),
    ("the staff directory", lambda: staff.STAFF_DIRECTORY, "2b7394f1-2085-571a-9a4c-6d07f859eea5"),
    (
        "the field settings",
        lambda: customer_settings.FIELD_SETTINGS,
        "aee92872-5fd5-58e3-b4c4-48ff87c8cb80",
    ),
    ("the sources list", lambda: customer_settings.SOURCES, "99dad577-1407-5358-9473-ab62a7e7d970"),
    (
        "the id-scheme record",
        lambda: claims.ID_SCHEME_RECORD,
        "82c498f4-ec03-5f63-9ab3-c7c90db8f0aa",
    ),
    (
        "a phone's claim in an encrypted store",
        lambda: phones.phone_record_id("+84912345678", KEYED),
        "a0168b0c-7df7-8ef1-ac06-732c61bcf69e",
    ),
    (
        "an invoice in an encrypted store",
        lambda: loyalty.invoice_record_id("INV-1", KEYED),
        "95a66a91-43f2-8c2e-8516-52d7f1301da2",
    ),
    (
        "a redemption in an encrypted store",
        lambda: loyalty.redemption_record_id("R-1", KEYED),
        "a9c3b55f-3265-896d-9cb5-a49f182ea068",
    ),
    (
        "a POS link in an encrypted store",
        lambda: customer_record.external_link_id("POS-1", KEYED),
        "6bea054c-cdac-8199-a51b-c46a2f0a11be",
    ),
    (
        "a voucher code in an encrypted store",
        lambda: voucher.voucher_id("WELCOME10", KEYED),
        "c8938d4c-293f-8099-9009-235bc2f97d23",
    ),
    (
        "a campaign in an encrypted store",
        lambda: campaign.campaign_record_id("tet-2027", KEYED),
        "ac6074af-7ee0-837b-a387-127d5713d056",
    ),
]


@pytest.mark.parametrize(("what", "derived", "stored"), GOLDEN, ids=[g[0] for g in GOLDEN])
def test_a_derived_id_is_the_one_earlier_releases_stored(
    what: str, derived: Callable[[], UUID], stored: str
) -> None:
    assert UUID(stored) == derived(), f"the id of {what} changed: stored records would be orphaned"


def test_the_kind_names_that_ids_derive_from_never_change() -> None:
    # Each name is part of the stored id of every record of its kind.
    assert "phone" == phones.PHONE.name
    assert ("invoice", "redemption") == (loyalty.INVOICE.name, loyalty.REDEMPTION.name)
    assert "customer-external-id" == customer_record.POS_ID.name
    assert "voucher-code" == voucher.VOUCHER_CODE.name
    assert "referral-code" == referral_code.REFERRAL_CODE.name
    assert "department-turn" == assignment.TURN_KIND
    assert {
        "addresses": "customer-addresses",
        "assigned_staff": "customer-assigned_staff",
        "email": "customer-email",
        "external_id": "customer-external_id",
        "group": "customer-group",
        "name": "customer-name",
        "phones": "customer-phones",
        "social_page": "customer-social_page",
        "source": "customer-source",
    } == {field: kind.name for field, kind in customer_settings.UNIQUE_KINDS.items()}


def test_a_due_item_id_keeps_job_and_item_apart() -> None:
    # The job's length is part of the key: ("a:b", "c") and ("a", "b:c") differ.
    assert due.due_item_id("a:b", "c") != due.due_item_id("a", "b:c")
    assert derived_id("due-item", "3:a:b:c") == due.due_item_id("a:b", "c")
