"""Making a customer field unique claims the values customers hold already.

`configure_customer_fields(unique=...)` claims each value customers hold of
a field it makes unique, refuses (naming the customers and the value, and
recording nothing) when two share one, and cannot be slipped past by a
registration running at the same moment: the registration's unit saves
only if the settings it obeyed are still in force, and the configuration's
only if no customer was registered or edited since it read them. The two
interleavings are forced with two ledgers on one store (one paused in the
middle of its command); a race of OS processes is in test_crm_processes.py.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from referral_ledger import DuplicateValue, Ledger
from referral_ledger.commands.crm_steps import CrmSteps
from referral_ledger.commands.unique_values import UniqueValues
from referral_ledger.policies.field_settings import DEFAULT_SETTINGS

UNIQUE_EMAIL = {"phones", "email"}
PAUSE_TIMEOUT = 30.0


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
    ]
)
def two_ledgers(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Ledger, Ledger]]:
    """Two ledgers on one store, as two processes would have."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/ledger.db"
    else:
        url = request.getfixturevalue("fresh_pg_url")
    with Ledger.open(url) as first, Ledger.open(url) as second:
        yield first, second


def emails(ledger: Ledger, email: str) -> list[UUID]:
    """The customers holding `email`."""
    return [r.customer_id for r in ledger.customers(limit=1000) if r.email == email]


def test_making_email_unique_claims_the_emails_customers_hold(ledger: Ledger) -> None:
    first = ledger.register_customer("An", ["0912000001"], email="an@shop.vn")
    ledger.configure_customer_fields(required={"name", "phones"}, unique=UNIQUE_EMAIL)
    with pytest.raises(DuplicateValue, match=f"already belongs to customer {first}"):
        ledger.register_customer("Bình", ["0912000002"], email="AN@shop.vn")
    second = ledger.register_customer("Bình", ["0912000002"], email="binh@shop.vn")
    with pytest.raises(DuplicateValue):
        ledger.update_customer(second, email="an@shop.vn")
    assert [first] == emails(ledger, "an@shop.vn")


def test_making_email_unique_is_refused_while_customers_share_one_and_records_nothing(
    ledger: Ledger,
) -> None:
    first = ledger.register_customer("An", ["0912000001"], email="chung@shop.vn")
    second = ledger.register_customer("Bình", ["0912000002"], email="Chung@Shop.vn")
    ledger.register_customer("Cường", ["0912000003"], email="cuong@shop.vn")
    events = ledger.event_count()
    with pytest.raises(DuplicateValue) as refused:
        ledger.configure_customer_fields(required={"name", "phones"}, unique=UNIQUE_EMAIL)
    message = str(refused.value)
    assert "email" in message and "'chung@shop.vn'" in message
    assert str(first) in message and str(second) in message
    assert events == ledger.event_count()
    assert DEFAULT_SETTINGS == ledger.customer_field_settings()
    # Once they no longer share it, the field can be made unique.
    ledger.update_customer(second, email="binh@shop.vn")
    ledger.configure_customer_fields(required={"name", "phones"}, unique=UNIQUE_EMAIL)
    with pytest.raises(DuplicateValue):
        ledger.register_customer("Dũng", ["0912000004"], email="cuong@shop.vn")


def test_making_phones_unique_is_refused_while_customers_share_a_phone(ledger: Ledger) -> None:
    ledger.configure_customer_fields(required={"name", "phones"}, unique=set())
    ledger.register_customer("An", ["0912000001"])
    ledger.register_customer("Bình", ["0912 000 001"])
    with pytest.raises(DuplicateValue, match="phones cannot be made unique"):
        ledger.configure_customer_fields(required={"name", "phones"}, unique={"phones"})
    assert frozenset() == ledger.customer_field_settings().unique


def test_a_value_claimed_while_unique_before_is_freed_once_its_holder_changed_it(
    ledger: Ledger,
) -> None:
    """Unique, then not (edits claim and free nothing), then unique again: the
    old claim of a value its holder gave up does not refuse a new holder."""
    first = ledger.register_customer("An", ["0912000001"], email="an@shop.vn")
    ledger.configure_customer_fields(required={"name", "phones"}, unique=UNIQUE_EMAIL)
    ledger.configure_customer_fields(required={"name", "phones"}, unique={"phones"})
    ledger.update_customer(first, email="an.moi@shop.vn")
    ledger.configure_customer_fields(required={"name", "phones"}, unique=UNIQUE_EMAIL)
    second = ledger.register_customer("Bình", ["0912000002"], email="an@shop.vn")
    assert [second] == emails(ledger, "an@shop.vn")
    with pytest.raises(DuplicateValue):
        ledger.register_customer("Cường", ["0912000003"], email="an@shop.vn")


def paused(cls: type, name: str, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, Any]:
    """Pause the first call of `cls.name` (in whichever thread) after it ran,
    until released; returns (reached, release) events."""
    original: Callable[..., Any] = getattr(cls, name)
    reached, release = threading.Event(), threading.Event()

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        result = original(*args, **kwargs)
        if not reached.is_set():
            reached.set()
            assert release.wait(PAUSE_TIMEOUT)
        return result

    monkeypatch.setattr(cls, name, wrapper)
    return reached, release


def in_thread(command: Callable[[], object]) -> tuple[threading.Thread, list[object]]:
    outcome: list[object] = []

    def run() -> None:
        try:
            outcome.append(command())
        except Exception as error:  # the test reads it
            outcome.append(error)

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


def test_a_registration_decided_before_email_became_unique_is_decided_again(
    two_ledgers: tuple[Ledger, Ledger], monkeypatch: pytest.MonkeyPatch
) -> None:
    """It read the settings, then the field was made unique (claiming the
    first customer's email), then it saved: it must not save as decided."""
    admin, shop = two_ledgers
    first = admin.register_customer("An", ["0912000001"], email="an@shop.vn")
    reached, release = paused(CrmSteps, "_unique_claims", monkeypatch)
    thread, outcome = in_thread(
        lambda: shop.register_customer("Bình", ["0912000002"], email="an@shop.vn")
    )
    assert reached.wait(PAUSE_TIMEOUT)
    admin.configure_customer_fields(required={"name", "phones"}, unique=UNIQUE_EMAIL)
    release.set()
    thread.join(PAUSE_TIMEOUT)
    assert isinstance(outcome[0], DuplicateValue), outcome
    assert [first] == emails(admin, "an@shop.vn")


def test_a_customer_registered_while_email_is_made_unique_makes_it_read_again(
    two_ledgers: tuple[Ledger, Ledger], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The configuration read the customers, then one registered with a
    taken email, then it saved: it must see that customer, and refuse."""
    admin, shop = two_ledgers
    first = admin.register_customer("An", ["0912000001"], email="an@shop.vn")
    reached, release = paused(UniqueValues, "_customer_ids", monkeypatch)
    thread, outcome = in_thread(
        lambda: admin.configure_customer_fields(required={"name", "phones"}, unique=UNIQUE_EMAIL)
    )
    assert reached.wait(PAUSE_TIMEOUT)
    second = shop.register_customer("Bình", ["0912000002"], email="an@shop.vn")
    release.set()
    thread.join(PAUSE_TIMEOUT)
    assert isinstance(outcome[0], DuplicateValue), outcome
    assert str(first) in str(outcome[0]) and str(second) in str(outcome[0])
    assert DEFAULT_SETTINGS == admin.customer_field_settings()
