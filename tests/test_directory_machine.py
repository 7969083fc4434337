"""The directory under random commands, on every store (issue 16).

Model: each customer's details as the commands gave them, and the loyalty
standing the ledger answers for it (`balance`, `get_customer`). Invariants,
after every step: `customers(...)` with random filters, search, sort and
page equals the model filtered and sorted in Python; `count_customers` its
length; and the directory's tables equal the log folded from scratch.
Teardown: the live views equal a rebuild.
"""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, ClassVar
from uuid import UUID

import attrs
import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, rule

from referral_ledger import CustomerRow, Ledger, LedgerError, LoyaltyProgram, Tier
from referral_ledger.policies.customers import tag_key
from referral_ledger.projections.folding import fold
from referral_ledger.projections.rows import tags_text
from stores import fresh_store
from support import Clock, views_at_their_position
from test_views_machine import folded_from_scratch

START = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
NAMES = ("Nguyễn Văn An", "Đặng Thị Ánh", "Lê Cường", "nguyen van an", "Bùi Yến", "Ánh")
PHONES = (
    "0975500600", "0912345678", "0903111222", "0283 822 1111", "0977100200",
    "0904222333", "0905333444", "0906555666", "0916777888", "0987654321",
)  # fmt: skip
EMAILS = (None, "an@shop.vn", "anh@mail.vn", "yen@shop.vn")
GROUPS = (None, "retail", "wholesale")
TAGS = ("vip", "tiềm năng", "hay hoàn")
STAFF = (None, "nv-01", "nv-02")
SOURCES = (None, "ads", "pos")
SEARCHES = ("nguyen", "anh", "Ánh", "0975 500 600", "+84912345678", "500600", "1111", "shop.vn")
SORTS = tuple(f.name for f in attrs.fields(CustomerRow))


@attrs.define
class Model:
    """A customer's details as the commands gave them."""

    name: str
    phones: tuple[str, ...]
    email: str | None
    group: str | None
    tags: frozenset[str]
    source: str | None
    staff: str | None
    registered_at: datetime


def digits(text: str) -> str:
    return "".join(c for c in text if c.isdigit())


def national(e164: str) -> str:
    return "0" + e164[3:]  # every phone here is Vietnamese: +84 → 0


def matches(model: Model, term: str) -> bool:
    """The search's meaning, written out: a phone in any spelling or part of
    one, else the name without accents or the email."""
    wanted = digits(term)
    if wanted and not term.strip("0123456789 +.-"):
        if wanted.startswith("0") and len(wanted) >= 10:
            wanted = "84" + wanted[1:]  # a whole national number: its E.164 digits
        return any(wanted in digits(p) or wanted in national(p) for p in model.phones)
    folded = fold(term)
    return folded in fold(model.name) or folded in (model.email or "").lower()


class DirectoryMachine(RuleBasedStateMachine):
    url_kind: ClassVar[str] = "memory"

    customers = Bundle("customers")

    def __init__(self) -> None:
        super().__init__()
        url, self._cleanup = fresh_store(self.url_kind)
        self.clock = Clock(START)
        self.ledger = Ledger.open(url, clock=self.clock)
        self.ledger.configure_loyalty(
            LoyaltyProgram(
                money_per_point=Decimal(10000),
                point_value=Decimal(1000),
                tiers=(Tier("silver", 5), Tier("gold", 20)),
            )
        )
        self.model: dict[UUID, Model] = {}
        self.invoices = 0

    def teardown(self) -> None:
        try:
            self.ledger.catch_up_projections()
            live = self.ledger._views.dump()
            self.ledger.rebuild_projections()
            assert live == self.ledger._views.dump()
        finally:
            self.ledger.close()
            self._cleanup()

    # --- commands ---------------------------------------------------------------

    @rule(
        target=customers,
        name=st.sampled_from(NAMES),
        phones=st.lists(st.sampled_from(PHONES), min_size=1, max_size=2, unique=True),
        email=st.sampled_from(EMAILS),
        group=st.sampled_from(GROUPS),
        tags=st.frozensets(st.sampled_from(TAGS), max_size=2),
        source=st.sampled_from(SOURCES),
        staff=st.sampled_from(STAFF),
        days_ago=st.integers(0, 30),
    )
    def register(self, **fields: Any) -> UUID | None:
        self.clock.advance(minutes=5)
        at = self.clock.now - timedelta(days=fields.pop("days_ago"))
        try:
            cid = self.ledger.register_customer(
                fields["name"],
                fields["phones"],
                email=fields["email"],
                group=fields["group"],
                tags=fields["tags"],
                source=fields["source"],
                assigned_staff=fields["staff"],
                at=at,
            )
        except LedgerError:  # a phone taken already
            return None
        record = self.ledger.get_customer(cid)
        self.model[cid] = Model(
            record.name,
            record.phones,
            record.email,
            record.group,
            record.tags,
            record.source,
            record.assigned_staff,
            record.registered_at,
        )
        return cid

    @rule(
        customer=customers,
        name=st.none() | st.sampled_from(NAMES),
        email=st.sampled_from(("keep", *EMAILS)),
        tags=st.none() | st.frozensets(st.sampled_from(TAGS), max_size=2),
        staff=st.sampled_from(("keep", *STAFF)),
        group=st.sampled_from(("keep", *GROUPS)),
    )
    def edit(self, customer: UUID | None, **fields: Any) -> None:
        if customer is None:
            return
        self.clock.advance(minutes=5)
        # "keep" (and None for the name and tags): not part of the edit;
        # None for the others clears them.
        changes = {
            k: v
            for k, v in fields.items()
            if v != "keep" and not (v is None and k in ("name", "tags"))
        }
        if "staff" in changes:
            changes["assigned_staff"] = changes.pop("staff")
        self.ledger.update_customer(customer, **changes)
        model = self.model[customer]
        for field, value in changes.items():
            setattr(model, "staff" if field == "assigned_staff" else field, value)
        if "tags" in changes:
            # A default tag typed by its display name is kept by its key.
            model.tags = frozenset(tag_key(t) for t in changes["tags"])

    @rule(
        customer=customers,
        amount=st.integers(1, 30).map(lambda n: Decimal(n * 10000)),
        returned=st.none() | st.integers(1, 30).map(lambda n: Decimal(n * 5000)),
        redeem=st.integers(0, 4),
    )
    def buy(
        self, customer: UUID | None, amount: Decimal, returned: Decimal | None, redeem: int
    ) -> None:
        if customer is None:
            return
        self.clock.advance(minutes=5)
        self.invoices += 1
        invoice = f"INV-{self.invoices}"
        self.ledger.record_purchase(customer, invoice, amount)
        if returned is not None:
            self.ledger.return_purchase(customer, invoice, min(returned, amount))
        if redeem:
            with contextlib.suppress(LedgerError):
                self.ledger.redeem_points(customer, redeem, f"R-{self.invoices}")

    @rule(customer=customers, text=st.sampled_from(("gọi lại", "đã mua")))
    def note(self, customer: UUID | None, text: str) -> None:
        if customer is not None:
            self.ledger.add_note(customer, text)  # not a directory change

    @rule(batch_size=st.integers(1, 3))
    def catch_up_in_small_batches(self, batch_size: int) -> None:
        self.ledger._views.catch_up(batch_size=batch_size)

    # --- the directory against the model ------------------------------------------

    @rule(
        search=st.none() | st.sampled_from(SEARCHES),
        tag=st.none() | st.sampled_from(TAGS),
        group=st.sampled_from(GROUPS),
        staff=st.sampled_from(STAFF),
        level=st.sampled_from((None, "silver", "gold")),
        source=st.sampled_from(SOURCES),
        sort_by=st.sampled_from(SORTS),
        descending=st.booleans(),
        limit=st.integers(1, 4),
        offset=st.integers(0, 3),
    )
    def query(self, **asked: Any) -> None:
        filters = {k: asked[k] for k in ("search", "tag", "group", "staff", "level", "source")}
        rows = self.ledger.customers(
            **filters,
            sort_by=asked["sort_by"],
            descending=asked["descending"],
            limit=asked["limit"],
            offset=asked["offset"],
        )
        expected = self._expected(filters, asked["sort_by"], asked["descending"])
        start, stop = asked["offset"], asked["offset"] + asked["limit"]
        assert expected[start:stop] == rows
        assert len(expected) == self.ledger.count_customers(**filters)

    def _rows(self) -> list[CustomerRow]:
        rows = []
        for cid, model in self.model.items():
            customer = self.ledger.get_customer(cid)
            rows.append(
                CustomerRow(
                    customer_id=cid,
                    name=model.name,
                    phones=model.phones,
                    email=model.email,
                    group=model.group,
                    tags=model.tags,
                    level=customer.level,
                    source=model.source,
                    assigned_staff=model.staff,
                    purchase_count=customer.purchase_count,
                    balance=self.ledger.balance(cid),
                    registered_at=model.registered_at,
                )
            )
        return rows

    def _expected(
        self, filters: dict[str, Any], sort_by: str, descending: bool
    ) -> list[CustomerRow]:
        wanted = []
        for row in self._rows():
            model = self.model[row.customer_id]
            if filters["search"] and not matches(model, filters["search"]):
                continue
            # A default tag asked by its Vietnamese name is its key ("tiềm năng" -> "potential").
            if filters["tag"] is not None and tag_key(filters["tag"]) not in row.tags:
                continue
            if any(
                filters[k] is not None and filters[k] != getattr(row, a)
                for k, a in (
                    ("group", "group"),
                    ("staff", "assigned_staff"),
                    ("level", "level"),
                    ("source", "source"),
                )
            ):
                continue
            wanted.append(row)

        def key(row: CustomerRow) -> Any:
            value = getattr(row, sort_by)
            if sort_by == "name":
                value = fold(value)
            elif sort_by == "phones":
                value = "\n".join(value)
            elif sort_by == "tags":
                value = tags_text(value)
            elif sort_by == "customer_id":
                value = value.hex
            return value

        present = [r for r in wanted if key(r) is not None]
        absent = [r for r in wanted if key(r) is None]
        # Ties by id, ascending either way: sort by id first, then stably by value.
        present.sort(key=lambda r: r.customer_id.hex)
        present.sort(key=key, reverse=descending)  # stable: ties stay by id
        absent.sort(key=lambda r: r.customer_id.hex)
        return present + absent

    @invariant()
    def tables_equal_the_log_folded_up_to_their_position(self) -> None:
        # The background catch-up may fold meanwhile: rows and position read as one.
        position, live = views_at_their_position(self.ledger)
        assert folded_from_scratch(self.ledger, position) == live


MACHINE_SETTINGS = settings(max_examples=10, stateful_step_count=40, deadline=None)


class OnMemory(DirectoryMachine):
    url_kind = "memory"


class OnSQLite(DirectoryMachine):
    url_kind = "sqlite"


class OnPostgres(DirectoryMachine):
    url_kind = "postgres"


TestDirectoryOnMemory = OnMemory.TestCase
TestDirectoryOnMemory.settings = settings(MACHINE_SETTINGS, max_examples=25)
TestDirectoryOnSQLite = OnSQLite.TestCase
TestDirectoryOnSQLite.settings = MACHINE_SETTINGS
TestDirectoryOnPostgres = pytest.mark.postgres(OnPostgres.TestCase)
TestDirectoryOnPostgres.settings = MACHINE_SETTINGS
