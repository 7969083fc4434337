"""The read models through the public API, on memory, SQLite and PostgreSQL.

The lead table (filters, accent-insensitive search, sorting by every column,
paging), the referral history with its revenue, conversion per sales rep,
read-your-writes (also across two `Ledger` objects on one store), rebuilding,
and the rebuild a newer view version triggers on open.
"""

from __future__ import annotations

import hashlib
import sqlite3
import types
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID

import attrs
import psycopg
import pytest

import referral_ledger.commands.customer_steps as customer_commands
import referral_ledger.commands.referrals as referral_commands
from referral_ledger import (
    ConversionRow,
    HistoryRow,
    InvalidInput,
    LeadRow,
    Ledger,
    LoyaltyProgram,
    ReferralProgram,
    ReferralStatus,
)
from referral_ledger.projections import catchup, dialects, records, storage
from referral_ledger.projections.folding import fold
from stores import in_ci, pg_available, split_pg_url
from support import Clock

START = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
ICT = timezone(timedelta(hours=7))
LEAD_COLUMNS = [field.name for field in attrs.fields(LeadRow)]


class People:
    """Referrers and leads with unique phones."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.count = 0

    def referrer(self, name: str = "Người giới thiệu") -> UUID:
        self.count += 1
        cid = self.ledger.register_customer(name, [f"0911{self.count:06d}"])
        self.ledger.sign_contract(
            cid,
            contract_id=f"C-{self.count}",
            plan="pro",
            starts_on=date(2025, 1, 1),
            ends_on=date(2030, 1, 1),
        )
        return cid

    def phone(self) -> str:
        self.count += 1
        return f"0988{self.count:06d}"

    def lead(self, referrer: UUID, name: str, at: datetime = START, **fields: Any) -> UUID:
        fields.setdefault("industry", "fashion")
        return self.ledger.submit_referral(referrer, name, self.phone(), at=at, **fields)


def names(rows: list[LeadRow]) -> list[str]:
    return [row.name for row in rows]


def all_leads(ledger: Ledger, **query: Any) -> list[LeadRow]:
    return ledger.lead_table(limit=1000, **query)


# --- filters -------------------------------------------------------------------


def test_status_filter_takes_the_enum_or_its_value(ledger: Ledger) -> None:
    people = People(ledger)
    referrer = people.referrer()
    submitted = people.lead(referrer, "Submitted")
    started = people.lead(referrer, "Started")
    rewarded = people.lead(referrer, "Rewarded")
    ineligible = people.lead(referrer, "Ineligible")
    ledger.start_referral(started, at=START)
    ledger.reward_referral(rewarded, plan="pro", at=START)
    ledger.mark_ineligible(ineligible, reason="not a business", at=START)
    expected = {
        ReferralStatus.SUBMITTED: [submitted],
        ReferralStatus.IN_PROGRESS: [started],
        ReferralStatus.REWARDED: [rewarded],
        ReferralStatus.INELIGIBLE: [ineligible],
    }
    for status, ids in expected.items():
        assert ids == [row.referral_id for row in all_leads(ledger, status=status)]
        assert ids == [row.referral_id for row in all_leads(ledger, status=status.value)]
    assert 4 == len(all_leads(ledger))


def test_program_filter_combines_with_status(ledger: Ledger) -> None:
    people = People(ledger)
    referrer = people.referrer()
    pos_open = people.lead(referrer, "POS open", program="pos")
    pos_started = people.lead(referrer, "POS started", program="pos")
    plus_started = people.lead(referrer, "Plus started", program="plus")
    ledger.start_referral(pos_started, at=START)
    ledger.start_referral(plus_started, at=START)
    assert {pos_open, pos_started} == {r.referral_id for r in all_leads(ledger, program="pos")}
    assert [plus_started] == [r.referral_id for r in all_leads(ledger, program="plus")]
    assert [pos_started] == [
        r.referral_id for r in all_leads(ledger, program="pos", status="in_progress")
    ]
    assert [] == all_leads(ledger, program="enterprise")


# --- search --------------------------------------------------------------------


@pytest.fixture
def searchable(ledger: Ledger) -> Ledger:
    people = People(ledger)
    referrer = people.referrer()
    people.lead(
        referrer,
        "Nguyễn Văn An",
        email="An.Nguyen@Example.VN",
        business_name="Cửa Hàng Gia Đình",
        website="https://www.kinhdoanh.vn/",
    )
    people.lead(referrer, "Đặng Thị Ánh", business_name="Giảm 50% Shop", website="banhang.vn")
    people.lead(referrer, "Trần Thị Bình", business_name="Shop_One", industry="dangerous goods")
    people.lead(referrer, "Lê Văn Cường", business_name="Shop One 50 percent")
    return ledger


#: Search term -> the leads it finds (by name, in name order).
SEARCHES: dict[str, list[str]] = {
    "nguyen": ["Nguyễn Văn An"],
    "Nguyễn": ["Nguyễn Văn An"],
    "NGUYEN VAN": ["Nguyễn Văn An"],
    "nguyen  van": ["Nguyễn Văn An"],
    "dang": ["Đặng Thị Ánh"],
    "đặng": ["Đặng Thị Ánh"],
    "ĐẶNG": ["Đặng Thị Ánh"],
    "thi anh": ["Đặng Thị Ánh"],
    "binh": ["Trần Thị Bình"],
    # email, in any case
    "an.nguyen@": ["Nguyễn Văn An"],
    "AN.NGUYEN@EXAMPLE.VN": ["Nguyễn Văn An"],
    # business name, accents folded
    "gia dinh": ["Nguyễn Văn An"],
    "cua hang": ["Nguyễn Văn An"],
    # website, with or without scheme, `www.` and trailing slash
    "kinhdoanh": ["Nguyễn Văn An"],
    "kinhdoanh.vn": ["Nguyễn Văn An"],
    "www.kinhdoanh.vn": ["Nguyễn Văn An"],
    "https://kinhdoanh.vn": ["Nguyễn Văn An"],
    "http://www.kinhdoanh.vn/": ["Nguyễn Văn An"],
    "kinhdoanh.vn/": ["Nguyễn Văn An"],
    "banhang.vn": ["Đặng Thị Ánh"],
    "https://www.banhang.vn": ["Đặng Thị Ánh"],
    # LIKE's wildcards are plain characters in a search term
    "50%": ["Đặng Thị Ánh"],
    "%": ["Đặng Thị Ánh"],
    "p_o": ["Trần Thị Bình"],
    "_": ["Trần Thị Bình"],
    "\\": [],
    # the phone is searched (any spelling, part of it: issue 16), the industry not
    "0988": ["Đặng Thị Ánh", "Lê Văn Cường", "Nguyễn Văn An", "Trần Thị Bình"],
    "dangerous": [],
    "nobody": [],
}


def test_search_matches_name_email_business_or_website(searchable: Ledger) -> None:
    found = {
        term: names(all_leads(searchable, search=term, sort_by="name", descending=False))
        for term in SEARCHES
    }
    assert SEARCHES == found


def test_blank_search_means_no_search(searchable: Ledger) -> None:
    assert 4 == len(all_leads(searchable, search="   "))
    assert 4 == len(all_leads(searchable, search=None))


def test_search_combines_with_filters(searchable: Ledger) -> None:
    assert ["Trần Thị Bình", "Lê Văn Cường", "Đặng Thị Ánh"] == names(
        all_leads(searchable, search="shop", program="pos", sort_by="name", descending=True)
    )
    assert [] == all_leads(searchable, search="shop", status="rewarded")


# --- sorting and paging ----------------------------------------------------------


def _sort_value(row: LeadRow, column: str) -> Any:
    value = getattr(row, column)
    if value is None:
        return None
    if column in ("name", "business_name"):
        return fold(value)
    if column == "status":
        return list(ReferralStatus).index(value)
    return value


def reference_order(rows: list[LeadRow], column: str, descending: bool) -> list[LeadRow]:
    """The documented order: by the column (nulls last either way), then by
    submitted_at and referral_id, both ascending."""
    ordered = sorted(rows, key=lambda r: (r.submitted_at, r.referral_id))
    present = [r for r in ordered if _sort_value(r, column) is not None]
    missing = [r for r in ordered if _sort_value(r, column) is None]
    # Python's sort is stable also with reverse=True: equal keys keep the tie order.
    present.sort(key=lambda r: _sort_value(r, column), reverse=descending)
    return present + missing


class Ids:
    """Deterministic but unordered ids, so two stores hold the very same rows."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self) -> UUID:
        self.count += 1
        digest = hashlib.sha256(str(self.count).encode()).digest()
        return UUID(bytes=digest[:16], version=4)


def build_sortable(ledger: Ledger, clock: Clock) -> None:
    """Leads with equal keys in every column, nulls, and times in two offsets."""
    ledger.configure_loyalty(LoyaltyProgram(money_per_point=Decimal(10000), point_value=1000))
    ledger.configure_referrals(
        ReferralProgram(reward_by_plan={"pro": Decimal(500000), "basic": Decimal(50000)})
    )
    people = People(ledger)
    first, second = people.referrer("Referrer A"), people.referrer("Referrer B")
    same = START + timedelta(hours=1)
    specs: list[tuple[UUID, str, datetime, dict[str, Any]]] = [
        (first, "Nguyễn Văn An", same, {"email": "an@shop.vn", "program": "plus"}),
        (second, "nguyen van an", same, {"business_name": "Cà Phê Đặng"}),
        (first, "Đặng Thị Ánh", same, {"business_name": "ca phe dang", "website": "shop.vn"}),
        (second, "Dang Thi Anh", START, {"email": "an@shop.vn", "sales_assistance": True}),
        (first, "Zoe", START.astimezone(ICT) + timedelta(minutes=30), {"website": "a.vn"}),
        # 07:00 in Vietnam is midnight UTC: before every other lead, though its
        # local clock reading is later than some.
        (second, "Ánh", datetime(2026, 3, 1, 7, 0, tzinfo=ICT), {"industry": "food"}),
        (first, "Bùi Quỳnh", START, {"business_name": "Bánh Mì", "program": "plus"}),
        (second, "Trần Bình", same, {"industry": "food", "website": "www.b.vn"}),
        (first, "Lê Cường", START + timedelta(hours=2), {}),
    ]
    ids = []
    for referrer, name, at, fields in specs:
        clock.advance(seconds=1)
        ids.append(people.lead(referrer, name, at=at, **fields))
    later = START + timedelta(days=1)
    ledger.assign_rep(ids[0], "rep-02", at=later)
    ledger.start_referral(ids[1], rep="rep-01", at=later)
    ledger.start_referral(ids[2], rep="rep-01", at=later)
    ledger.reward_referral(ids[2], plan="pro", at=later + timedelta(hours=1))
    ledger.reward_referral(ids[3], plan="basic", at=later)
    ledger.reward_referral(ids[4], amount=300000, plan="basic", at=later + timedelta(hours=1))
    ledger.mark_ineligible(ids[5], reason="duplicate", at=later)
    ledger.assign_rep(ids[6], "rep-01", at=later + timedelta(hours=2))
    ledger.mark_ineligible(ids[6], reason="closed", at=later + timedelta(hours=2))
    # A lead that became a customer: referred_customer_id is set on one row only.
    phone = ledger.get_referral(ids[7]).lead.phone
    ledger.register_customer("Trần Bình", [phone])


@pytest.fixture
def fixed_ids(monkeypatch: pytest.MonkeyPatch) -> Callable[[], None]:
    """Make customer and referral ids deterministic; call the result to restart them."""

    def restart() -> None:
        ids = Ids()
        monkeypatch.setattr(customer_commands, "uuid4", ids)
        monkeypatch.setattr(referral_commands, "uuid", types.SimpleNamespace(uuid4=ids))

    restart()
    return restart


def test_sort_by_every_column_is_total_and_identical_on_every_store(
    request: pytest.FixtureRequest, tmp_path: Path, fixed_ids: Callable[[], None]
) -> None:
    urls = {"memory": "memory://", "sqlite": f"sqlite:///{tmp_path}/sort.db"}
    if in_ci() or pg_available()[0]:
        urls["postgres"] = request.getfixturevalue("fresh_pg_url")
    results: dict[str, dict[tuple[str, bool], list[LeadRow]]] = {}
    for store, url in urls.items():
        fixed_ids()
        clock = Clock()
        with Ledger.open(url, clock=clock) as ledger:
            build_sortable(ledger, clock)
            rows = all_leads(ledger)
            assert 9 == len(rows)
            results[store] = {}
            for column in LEAD_COLUMNS:
                for descending in (False, True):
                    got = all_leads(ledger, sort_by=column, descending=descending)
                    expected = reference_order(rows, column, descending)
                    assert names(expected) == names(got), (store, column, descending)
                    assert expected == got
                    results[store][column, descending] = got
    first = next(iter(results.values()))
    for store, result in results.items():
        assert first == result, store


def test_times_in_other_offsets_sort_by_the_instant(ledger: Ledger) -> None:
    people = People(ledger)
    referrer = people.referrer()
    people.lead(referrer, "Utc 01:30", at=datetime(2026, 3, 1, 1, 30, tzinfo=UTC))
    people.lead(referrer, "Ict 08:00 = 01:00 UTC", at=datetime(2026, 3, 1, 8, 0, tzinfo=ICT))
    assert ["Ict 08:00 = 01:00 UTC", "Utc 01:30"] == names(
        all_leads(ledger, sort_by="submitted_at", descending=False)
    )


@pytest.mark.parametrize("column", ["submitted_at", "name", "reward", "rep"])
@pytest.mark.parametrize("descending", [False, True])
def test_pages_cover_every_row_exactly_once(
    ledger: Ledger, clock: Clock, column: str, descending: bool
) -> None:
    build_sortable(ledger, clock)
    everything = all_leads(ledger, sort_by=column, descending=descending)
    for size in (1, 2, 4):
        pages = [
            ledger.lead_table(sort_by=column, descending=descending, limit=size, offset=offset)
            for offset in range(0, len(everything) + size, size)
        ]
        assert everything == [row for page in pages for row in page]
        assert [] == pages[-1]


def test_default_order_is_newest_submitted_first(ledger: Ledger, clock: Clock) -> None:
    build_sortable(ledger, clock)
    rows = all_leads(ledger)
    assert reference_order(rows, "submitted_at", descending=True) == rows
    assert rows[:3] == ledger.lead_table(limit=3)


@pytest.mark.parametrize(
    "query",
    [
        {"sort_by": "search"},  # a stored column, but not a LeadRow field
        {"sort_by": "name; DROP TABLE rl_leads"},
        {"sort_by": "Name"},
        {"descending": "yes"},
        {"limit": 0},
        {"limit": -1},
        {"limit": 1001},
        {"limit": True},
        {"limit": "10"},
        {"limit": 2.0},
        {"offset": -1},
        {"offset": None},
        {"offset": 1.5},
        {"status": "open"},
        {"status": "REWARDED"},
        {"status": 1},
        {"program": 7},
        {"search": 42},
    ],
)
def test_bad_query_arguments_raise_invalid_input(ledger: Ledger, query: dict[str, Any]) -> None:
    with pytest.raises(InvalidInput):
        ledger.lead_table(**query)


@pytest.fixture
def quiet_ledger(store_url: str) -> Iterator[Ledger]:
    """A ledger whose views only its queries fold (no background catch-up).

    For tests of one runner's catch-up or rebuild as such: how many events it
    folds, what it reads, where the position stands between two calls.
    """
    with Ledger.open(store_url, background_views=False) as opened:
        yield opened


@pytest.mark.parametrize(
    "query",
    [{"offset": 2**63}, {"offset": 2**64}, {"offset": 10**30}, {"limit": 2**63}],
    ids=["offset-2**63", "offset-2**64", "offset-10**30", "limit-2**63"],
)
def test_a_page_the_store_cannot_encode_is_refused_before_the_views_are_touched(
    quiet_ledger: Ledger, query: dict[str, Any]
) -> None:
    """LIMIT and OFFSET are signed 64-bit on SQLite and PostgreSQL: a larger
    int is `InvalidInput` naming it (not a driver's overflow error), raised
    before the query catches the views up."""
    ledger = quiet_ledger
    people = People(ledger)
    people.lead(people.referrer(), "Nguyễn Văn An")
    position = ledger._views.position
    assert position < ledger.event_count()  # a catch-up would move it
    [value] = query.values()
    with pytest.raises(InvalidInput, match=str(value)):
        ledger.lead_table(**query)
    assert position == ledger._views.position


def test_the_largest_offset_the_store_encodes_is_an_empty_page(ledger: Ledger) -> None:
    people = People(ledger)
    people.lead(people.referrer(), "Nguyễn Văn An")
    assert [] == ledger.lead_table(offset=2**63 - 1, limit=1000)
    assert [] == ledger.lead_table(offset=2**63 - 1, sort_by="name", descending=False)
    assert ["Nguyễn Văn An"] == names(ledger.lead_table(offset=0))


# --- referral history --------------------------------------------------------------


def test_history_lists_rewarded_referrals_with_revenue_kept_current(
    ledger: Ledger, clock: Clock
) -> None:
    ledger.configure_loyalty(LoyaltyProgram(money_per_point=Decimal(10000), point_value=1000))
    ledger.configure_referrals(ReferralProgram(reward_by_plan={"pro": Decimal(500000)}))
    people = People(ledger)
    referrer, other = people.referrer(), people.referrer()
    converted = people.lead(referrer, "Converted", business_name="Quán Ăn")
    manual = people.lead(referrer, "Manual")
    open_lead = people.lead(referrer, "Still open")
    closed = people.lead(referrer, "Ineligible")
    someone_elses = people.lead(other, "Other referrer's")
    ledger.start_referral(open_lead, rep="rep-01")
    ledger.mark_ineligible(closed, reason="no")
    ledger.reward_referral(someone_elses, amount=100000)
    clock.advance(days=1)
    ledger.reward_referral(manual, amount=Decimal(150000), plan="basic")
    manual_at = clock.now

    # The lead registers, buys, then signs: the reward follows the contract by itself.
    customer = ledger.register_customer("Converted", [ledger.get_referral(converted).lead.phone])
    ledger.record_purchase(customer, invoice_id="INV-1", amount=Decimal(1000000))
    clock.advance(days=1)
    ledger.sign_contract(
        customer, contract_id="C-x", plan="pro", starts_on=START.date(), ends_on=date(2027, 3, 1)
    )
    rewarded_at = ledger.get_referral(converted).timeline[-1].at
    assert ReferralStatus.REWARDED == ledger.get_referral(converted).status

    expected = [
        HistoryRow(
            referral_id=manual,
            referrer_id=referrer,
            date=manual_at,
            plan="basic",
            revenue=Decimal(0),
            reward=Decimal(150000),
            name="Manual",
        ),
        HistoryRow(
            referral_id=converted,
            referrer_id=referrer,
            date=rewarded_at,
            plan="pro",
            revenue=Decimal(1000000),
            reward=Decimal(500000),
            name="Converted",
            business_name="Quán Ăn",
            referred_customer_id=customer,
        ),
    ]
    assert expected == ledger.referral_history(referrer)

    # Purchases and returns after the reward still count.
    ledger.record_purchase(customer, invoice_id="INV-2", amount=Decimal(250000))
    assert Decimal(1250000) == ledger.referral_history(referrer)[1].revenue
    ledger.return_purchase(customer, invoice_id="INV-1", amount=Decimal(400000))
    assert Decimal(850000) == ledger.referral_history(referrer)[1].revenue
    ledger.return_purchase(customer, invoice_id="INV-2")
    assert Decimal(600000) == ledger.referral_history(referrer)[1].revenue
    assert [someone_elses] == [row.referral_id for row in ledger.referral_history(other)]
    assert [] == ledger.referral_history(customer)


def test_history_of_an_unknown_or_bad_id(ledger: Ledger) -> None:
    assert [] == ledger.referral_history(uuid.uuid4())
    with pytest.raises(InvalidInput):
        ledger.referral_history("not an id")  # type: ignore[arg-type]


# --- conversion per rep --------------------------------------------------------------


def test_conversion_counts_leads_contacts_and_customers_per_current_rep(
    ledger: Ledger,
) -> None:
    people = People(ledger)
    referrer = people.referrer()
    day = [START + timedelta(days=n) for n in range(4)]
    # rep-01: four leads; started, started then ineligible, rewarded straight
    # from submitted (a rep reached it), ineligible straight from submitted (not).
    a = [people.lead(referrer, f"A{n}", at=day[1]) for n in range(4)]
    for lead in a:
        ledger.assign_rep(lead, "rep-01", at=day[1])
    ledger.start_referral(a[0], at=day[2])
    ledger.start_referral(a[1], at=day[2])
    ledger.mark_ineligible(a[1], reason="no budget", at=day[3])
    ledger.reward_referral(a[2], amount=100000, at=day[3])
    ledger.mark_ineligible(a[3], reason="unreachable", at=day[3])
    # Reassigned from rep-01 to rep-02: counts for rep-02 only.
    moved = people.lead(referrer, "Moved", at=day[1])
    ledger.assign_rep(moved, "rep-01", at=day[1])
    ledger.start_referral(moved, at=day[2])
    ledger.assign_rep(moved, "rep-02", at=day[2])
    ledger.reward_referral(moved, amount=100000, at=day[3])
    # rep-03: a lead nobody reached yet.
    untouched = people.lead(referrer, "Untouched", at=day[2])
    ledger.assign_rep(untouched, "rep-03", at=day[2])
    # Unassigned.
    people.lead(referrer, "Nobody's", at=day[0])

    expected = [
        ConversionRow("rep-01", 4, 3, 1, 0.75, 1 / 3, 0.25),
        ConversionRow("rep-02", 1, 1, 1, 1.0, 1.0, 1.0),
        ConversionRow("rep-03", 1, 0, 0, 0.0, 0.0, 0.0),
        ConversionRow(None, 1, 0, 0, 0.0, 0.0, 0.0),
    ]
    assert expected == ledger.conversion_by_rep()

    # since is inclusive, until exclusive, both on submitted_at.
    assert expected[:3] == ledger.conversion_by_rep(since=day[1])
    assert [expected[3]] == ledger.conversion_by_rep(until=day[1])
    assert [expected[2]] == ledger.conversion_by_rep(since=day[2], until=day[3])
    assert expected[:2] == ledger.conversion_by_rep(since=day[1], until=day[2])
    assert [] == ledger.conversion_by_rep(since=day[1], until=day[1])
    assert [] == ledger.conversion_by_rep(since=day[3])
    # A boundary in another offset is the same instant.
    assert expected[:3] == ledger.conversion_by_rep(since=day[1].astimezone(ICT))
    assert [expected[3]] == ledger.conversion_by_rep(until=day[1].astimezone(ICT))


def test_conversion_of_an_empty_ledger_and_bad_bounds(ledger: Ledger) -> None:
    assert [] == ledger.conversion_by_rep()
    with pytest.raises(InvalidInput):
        ledger.conversion_by_rep(since=datetime(2026, 1, 1))  # naive
    with pytest.raises(InvalidInput):
        ledger.conversion_by_rep(until="2026-01-01")  # type: ignore[arg-type]


# --- read-your-writes, second ledger, rebuild ------------------------------------------


def test_every_query_reflects_the_command_just_returned(ledger: Ledger) -> None:
    people = People(ledger)
    referrer = people.referrer()
    lead = people.lead(referrer, "Fresh")
    assert [ReferralStatus.SUBMITTED] == [row.status for row in ledger.lead_table()]
    ledger.assign_rep(lead, "rep-01")
    assert ["rep-01"] == [row.rep for row in ledger.lead_table()]
    assert [ConversionRow("rep-01", 1, 0, 0, 0.0, 0.0, 0.0)] == ledger.conversion_by_rep()
    ledger.start_referral(lead)
    assert [ReferralStatus.IN_PROGRESS] == [row.status for row in ledger.lead_table()]
    ledger.reward_referral(lead, amount=1000)
    assert [lead] == [row.referral_id for row in ledger.referral_history(referrer)]
    assert [ReferralStatus.REWARDED] == [row.status for row in ledger.lead_table()]


def test_a_second_ledger_on_the_same_store_sees_the_first_ones_commands(
    shared_url: str,
) -> None:
    with Ledger.open(shared_url) as writer, Ledger.open(shared_url) as reader:
        people = People(writer)
        referrer = people.referrer()
        lead = people.lead(referrer, "Nguyễn Văn An")
        assert [lead] == [row.referral_id for row in reader.lead_table(search="nguyen")]
        writer.start_referral(lead, rep="rep-01")
        assert [ConversionRow("rep-01", 1, 1, 0, 1.0, 0.0, 0.0)] == reader.conversion_by_rep()
        # And the other way round, the reader's views having moved on first.
        reader.reward_referral(lead, amount=1000)
        assert [lead] == [row.referral_id for row in writer.referral_history(referrer)]
        assert writer._views.dump() == reader._views.dump()


def test_rebuild_returns_the_events_folded_and_reports_progress(
    quiet_ledger: Ledger, clock: Clock
) -> None:
    ledger = quiet_ledger
    people = People(ledger)
    referrer = people.referrer()
    first = people.lead(referrer, "First")
    people.lead(referrer, "Second")
    ledger.assign_rep(first, "rep-01")  # RepAssigned
    ledger.start_referral(first)  # ReferralStarted
    ledger.configure_loyalty(LoyaltyProgram(money_per_point=Decimal(10000), point_value=1000))
    ledger.record_purchase(referrer, invoice_id="INV-1", amount=Decimal(50000))  # PointsEarned
    ledger.return_purchase(referrer, invoice_id="INV-1")  # PointsTakenBack
    ledger.catch_up_projections()
    live = ledger._views.dump()
    calls: list[tuple[int, int]] = []
    # Two submissions, an assignment, a start, a purchase, a return, and the
    # referrer's registration (the directory's); contracts and the phone
    # index are not view events.
    assert 7 == ledger.rebuild_projections(progress=lambda *call: calls.append(call))
    assert live == ledger._views.dump()
    assert [(ledger.event_count(), ledger.event_count())] == calls
    assert ledger.event_count() == ledger._views.position
    # Nothing new: catching up folds nothing, rebuilding folds it all again.
    assert 0 == ledger.catch_up_projections()
    assert 7 == ledger.rebuild_projections()


def test_catch_up_in_small_batches_reports_each_batch(quiet_ledger: Ledger) -> None:
    ledger = quiet_ledger
    people = People(ledger)
    referrer = people.referrer()
    for n in range(5):
        people.lead(referrer, f"Lead {n}")
    ledger.catch_up_projections()
    live = ledger._views.dump()
    last = ledger.event_count()
    with ledger._views.sql.transaction(commit=True) as cursor:  # back to an empty view
        ledger._views.sql.execute(cursor, "UPDATE {p}rl_view_positions SET position = 0")
        ledger._views.sql.execute(cursor, "DELETE FROM {p}rl_leads")
        ledger._views.sql.execute(cursor, "DELETE FROM {p}rl_customers")
    batches: list[tuple[int, int]] = []
    # The five leads, and the referrer's registration (the directory's).
    assert 6 == ledger._views.catch_up(batch_size=2, progress=lambda *c: batches.append(c))
    # Three full batches, then one that finds the rest of the log has none.
    assert 4 == len(batches)
    assert [last] * 4 == [stop for _, stop in batches]
    assert sorted(position for position, _ in batches) == [p for p, _ in batches]
    assert last == batches[-1][0]
    assert live == ledger._views.dump()


def test_views_of_an_older_version_are_rebuilt_on_open(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Ledger.open(sqlite_url) as ledger:
        people = People(ledger)
        lead = people.lead(people.referrer(), "Nguyễn Văn An")
        assert ["Nguyễn Văn An"] == names(ledger.lead_table())
    # Spoil the stored view behind the ledger's back.
    database = sqlite_url.removeprefix("sqlite:///")
    with sqlite3.connect(database) as connection:
        connection.execute("UPDATE rl_leads SET name = 'stale'")
    with Ledger.open(sqlite_url) as ledger:
        assert ["stale"] == names(ledger.lead_table())  # same version: kept as it is
    monkeypatch.setattr(storage, "VIEW_VERSION", storage.VIEW_VERSION + 1)
    with Ledger.open(sqlite_url) as ledger:
        assert [lead] == [row.referral_id for row in ledger.lead_table()]
        assert ["Nguyễn Văn An"] == names(ledger.lead_table())
    with sqlite3.connect(database) as connection:
        version = connection.execute("SELECT version FROM rl_view_positions").fetchone()[0]
    assert storage.VIEW_VERSION == version


# --- indexes -------------------------------------------------------------------------


def pg_indexes(url: str) -> dict[str, str]:
    dsn, schema = split_pg_url(url)
    with psycopg.connect(dsn) as connection:
        rows = connection.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = %s "
            "AND tablename = 'rl_leads'",
            (schema,),
        ).fetchall()
    return {name: definition for name, definition in rows}


@pytest.mark.postgres
def test_postgres_search_has_a_trigram_index(fresh_pg_url: str) -> None:
    with Ledger.open(fresh_pg_url):
        pass
    indexes = pg_indexes(fresh_pg_url)
    assert "gin_trgm_ops" in indexes["rl_leads_search"]
    assert {"rl_leads_status", "rl_leads_program", "rl_leads_name"} <= set(indexes)


@pytest.mark.postgres
def test_without_pg_trgm_search_falls_back_to_a_scan(
    fresh_pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server without the extension (or a user without the right to create
    it): the failed statement is undone, opening succeeds, search still works."""
    failed: list[bool] = []

    def no_extension(self: dialects.PostgresViews, cursor: Any) -> None:
        failed.append(self._try(cursor, "CREATE EXTENSION IF NOT EXISTS no_such_extension"))

    monkeypatch.setattr(dialects.PostgresViews, "create_search_index", no_extension)
    with Ledger.open(fresh_pg_url) as ledger:
        people = People(ledger)
        people.lead(people.referrer(), "Nguyễn Văn An")
        assert ["Nguyễn Văn An"] == names(ledger.lead_table(search="nguyen"))
    assert [False] == failed
    assert "rl_leads_search" not in pg_indexes(fresh_pg_url)


def pg_reltuples(url: str) -> dict[str, float]:
    """The planner's row estimates of the view tables (-1: never analysed)."""
    dsn, schema = split_pg_url(url)
    with psycopg.connect(dsn) as connection:
        rows = connection.execute(
            "SELECT c.relname, c.reltuples FROM pg_class c JOIN pg_namespace n "
            "ON n.oid = c.relnamespace WHERE n.nspname = %s "
            "AND c.relname IN ('rl_leads', 'rl_revenue')",
            (schema,),
        ).fetchall()
    return {name: float(tuples) for name, tuples in rows}


@pytest.mark.postgres
def test_a_large_catch_up_gives_postgresql_statistics_of_the_view_tables(
    fresh_pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without them (autovacuum off, or not there yet) the search is planned blind."""
    monkeypatch.setattr(catchup, "ANALYZE_AFTER", 5)
    # One catch-up folds them all: no background thread folding some before it.
    with Ledger.open(fresh_pg_url, background_views=False) as ledger:
        people = People(ledger)
        referrer = people.referrer()
        people.lead(referrer, "Nguyễn Văn An")
        assert ledger.catch_up_projections() < 5  # below the threshold
        dsn, _ = split_pg_url(fresh_pg_url)
        with psycopg.connect(dsn) as connection:
            autovacuum = connection.execute("SHOW autovacuum").fetchone()
        if autovacuum == ("off",):  # nothing else analyses the tables meanwhile
            assert {"rl_leads": -1.0, "rl_revenue": -1.0} == pg_reltuples(fresh_pg_url)
        for n in range(6):
            people.lead(referrer, f"Trần Văn {n}")
        assert ledger.catch_up_projections() >= 5
        estimates = pg_reltuples(fresh_pg_url)
        assert estimates["rl_leads"] == 7
        assert estimates["rl_revenue"] >= 0


# --- how a batch reads its rows ------------------------------------------------


def test_a_catch_up_batch_reads_the_rows_it_changes_with_one_query_per_table(
    quiet_ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows are read in bulk, not one round trip per lead or customer."""
    ledger = quiet_ledger
    ledger.configure_loyalty(LoyaltyProgram(money_per_point=1000, point_value=1000))
    people = People(ledger)
    referrer = people.referrer()
    leads = [people.lead(referrer, f"Lead {n}") for n in range(12)]
    buyers = [ledger.register_customer(f"Buyer {n}", [people.phone()]) for n in range(12)]
    ledger.catch_up_projections()  # the leads and customers are in the views already
    for n, lead in enumerate(leads):
        ledger.start_referral(lead, rep=f"rep-{n % 3}", at=START)
    for n, buyer in enumerate(buyers):
        ledger.record_purchase(buyer, f"INV-BATCH-{n}", 50000)
    row_reads: list[str] = []
    execute = dialects.ViewsSQL.execute

    def counting(self: dialects.ViewsSQL, cursor: Any, text: str, params: Any = ()) -> Any:
        if text.startswith("SELECT * FROM {p}rl_") or "FROM {p}rl_revenue WHERE" in text:
            row_reads.append(text.split("FROM {p}")[1].split()[0])
        return execute(self, cursor, text, params)

    monkeypatch.setattr(dialects.ViewsSQL, "execute", counting)
    ledger.catch_up_projections()
    assert ["rl_customers", "rl_leads", "rl_revenue"] == sorted(row_reads)
    assert {"rep-0", "rep-1", "rep-2"} == {row.rep for row in all_leads(ledger)}


# --- how a rebuild reads the log and its rows -----------------------------------------


def buyers_with_purchases(ledger: Ledger, buyers: int, purchases: int) -> list[UUID]:
    ledger.configure_loyalty(LoyaltyProgram(money_per_point=1000, point_value=1000))
    people = People(ledger)
    ids = [ledger.register_customer(f"Buyer {n}", [people.phone()]) for n in range(buyers)]
    rows = [
        {"customer_id": ids[n % buyers], "invoice_id": f"INV-R-{n}", "amount": 10000 + n}
        for n in range(purchases)
    ]
    assert purchases == ledger.import_purchases(rows).recorded
    return ids


def test_a_rebuild_reads_no_view_rows_and_its_reads_of_the_log_are_bounded(
    quiet_ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    """From position 0 the views are empty and the catch-up has every row it
    writes: it reads none back. Each read of the log covers at most
    SCAN_SPAN positions, however few view events they hold."""
    ledger = quiet_ledger  # only the rebuild reads: no background catch-up
    people = People(ledger)
    referrer = people.referrer()
    leads = [people.lead(referrer, f"Lead {n}") for n in range(4)]
    buyers_with_purchases(ledger, 3, 12)
    for n, lead in enumerate(leads):
        ledger.start_referral(lead, rep=f"rep-{n % 2}", at=START)
    ledger.catch_up_projections()
    live = ledger._views.dump()
    monkeypatch.setattr(catchup, "REBUILD_BATCH", 3)
    monkeypatch.setattr(catchup, "SCAN_SPAN", 5)
    row_reads: list[str] = []
    execute = dialects.ViewsSQL.execute

    def counting(self: dialects.ViewsSQL, cursor: Any, text: str, params: Any = ()) -> Any:
        reads_rows = "FROM {p}rl_leads" in text or "FROM {p}rl_revenue" in text
        if text.startswith("SELECT") and reads_rows:
            row_reads.append(text)
        return execute(self, cursor, text, params)

    ranges: list[int] = []
    read = ledger._views._log.read

    def bounded(after: int, stop: int, limit: int) -> Any:
        ranges.append(stop - after)
        return read(after, stop, limit)

    monkeypatch.setattr(dialects.ViewsSQL, "execute", counting)
    monkeypatch.setattr(ledger._views._log, "read", bounded)
    ledger.rebuild_projections()
    assert [] == row_reads
    assert ranges and max(ranges) <= 5
    assert live == ledger._views.dump()


def test_a_catch_up_forgets_its_rows_when_another_runner_moved_the_views(
    shared_url: str,
) -> None:
    """Rows kept from one batch to the next are the views at that batch's
    position only: after another runner folded more, they are read again."""
    # Only the runners below fold (no background thread folding behind the commits).
    with (
        Ledger.open(shared_url, background_views=False) as first,
        Ledger.open(shared_url, background_views=False) as second,
    ):
        buyers = buyers_with_purchases(first, 2, 6)
        moved: list[int] = []

        def other_runner_moves_on(position: int, stop: int) -> None:
            if not moved:  # once, after the first batch: more revenue for both buyers,
                for n, buyer in enumerate(buyers):
                    first.record_purchase(buyer, f"INV-OTHER-{n}", 50000)
                moved.append(second.catch_up_projections())  # folded by the other runner,
                for n, buyer in enumerate(buyers):  # and more still, for this one
                    first.record_purchase(buyer, f"INV-LATE-{n}", 50000)

        with first._views.sql.transaction(commit=True) as cursor:  # back to empty views
            first._views.sql.execute(cursor, "UPDATE {p}rl_view_positions SET position = 0")
            first._views.sql.execute(cursor, "DELETE FROM {p}rl_revenue")
        first._views.catch_up(batch_size=2, progress=other_runner_moves_on)
        assert moved and moved[0] > 0
        assert first.event_count() == first._views.position
        live = first._views.dump()
        first.rebuild_projections()
        assert live == first._views.dump()
        assert (
            sum(Decimal(r[1]) for r in live["revenue"])
            == sum(10000 + n for n in range(6)) + 4 * 50000
        )


@pytest.mark.parametrize("cap", ["CACHE_LEADS", "CACHE_CUSTOMERS"])
def test_a_rebuild_past_the_rows_it_may_keep_reads_them_again(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch, cap: str
) -> None:
    people = People(ledger)
    referrer = people.referrer()
    leads = [people.lead(referrer, f"Lead {n}") for n in range(5)]
    buyers_with_purchases(ledger, 4, 16)
    for lead in leads:
        ledger.assign_rep(lead, "rep-01")
        ledger.reward_referral(lead, amount=1000)
    ledger.catch_up_projections()
    live = ledger._views.dump()
    monkeypatch.setattr(catchup, "REBUILD_BATCH", 2)
    monkeypatch.setattr(records, cap, 2)  # past it after the first few batches
    reads: list[str] = []
    dialect = type(ledger._views.sql)
    select_many = dialect.select_many

    def counting(self: dialects.ViewsSQL, cursor: Any, table: str, key: str, ids: Any) -> Any:
        if ids:
            reads.append(table)
        return select_many(self, cursor, table, key, ids)

    monkeypatch.setattr(dialect, "select_many", counting)
    ledger.rebuild_projections()
    assert {"CACHE_LEADS": "rl_leads", "CACHE_CUSTOMERS": "rl_revenue"}[cap] in reads
    assert live == ledger._views.dump()


@pytest.mark.postgres
def test_a_revenue_row_believed_stored_but_gone_fails_the_batch_instead_of_being_lost(
    fresh_pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL updates the rows a catch-up knows exist and checks the count."""
    # Only the rebuilds fold (no background thread folding behind the import).
    with Ledger.open(fresh_pg_url, background_views=False) as ledger:
        buyers_with_purchases(ledger, 2, 8)
        monkeypatch.setattr(catchup, "REBUILD_BATCH", 2)

        def delete_behind_its_back(position: int, stop: int) -> None:
            with ledger._views.sql.transaction(commit=True) as cursor:
                ledger._views.sql.execute(cursor, "DELETE FROM {p}rl_revenue")

        with pytest.raises(RuntimeError, match="known to exist"):
            ledger.rebuild_projections(progress=delete_behind_its_back)
        position = ledger._views.position
        ledger.rebuild_projections()
        assert 0 < position < ledger._views.position
