"""The customer directory, the lead pager, purchases, the notes log (issue 16)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest

from referral_ledger import (
    CustomerRow,
    InvalidInput,
    Ledger,
    LoyaltyProgram,
    Note,
    NotFound,
    PurchaseRow,
    ReferralProgram,
    Tier,
)
from referral_ledger.projections import dialects
from support import Clock

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def shop(ledger: Ledger) -> dict[str, UUID]:
    ledger.configure_loyalty(
        LoyaltyProgram(
            money_per_point=Decimal(10000),
            point_value=Decimal(1000),
            tiers=(Tier("silver", 10), Tier("gold", 100)),
        )
    )
    return {
        "an": ledger.register_customer(
            "Nguyễn Văn An",
            ["0975 500 600"],
            email="an@shop.vn",
            group="retail",
            tags=["vip", "tiềm năng"],
            source="ads",
            assigned_staff="nv-01",
            at=START,
        ),
        "anh": ledger.register_customer(
            "Đặng Thị Ánh",
            ["0912 345 678", "0283 822 1111"],
            group="wholesale",
            tags=["vip"],
            at=START + timedelta(hours=1),
        ),
        "cuong": ledger.register_customer(
            "Lê Văn Cường",
            ["+84 903 111 222"],
            email="cuong@mail.vn",
            source="pos",
            at=START + timedelta(hours=2),
        ),
    }


def ids(rows: list[CustomerRow]) -> list[UUID]:
    return [row.customer_id for row in rows]


# --- search ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "term",
    ["0975500600", "0975 500 600", "+84 975 500 600", "84975500600", "975.500.600", "500600"],
)
def test_search_finds_a_phone_in_any_spelling_or_part(
    ledger: Ledger, shop: dict[str, UUID], term: str
) -> None:
    assert [shop["an"]] == ids(ledger.customers(search=term))
    assert 1 == ledger.count_customers(search=term)


def test_search_finds_any_of_a_customers_phones(ledger: Ledger, shop: dict[str, UUID]) -> None:
    assert [shop["anh"]] == ids(ledger.customers(search="028 3822 1111"))
    assert [shop["anh"]] == ids(ledger.customers(search="0912345678"))


@pytest.mark.parametrize(
    ("term", "who"),
    [
        ("nguyen", ["an"]),
        ("NGUYỄN văn", ["an"]),
        ("dang thi anh", ["anh"]),
        ("Đặng", ["anh"]),
        ("van", ["cuong", "an"]),  # sorted by name: Lê before Nguyễn
        ("cuong@MAIL", ["cuong"]),
        ("shop.vn", ["an"]),
        ("nobody", []),
        ("%", []),
        ("_", []),
    ],
)
def test_search_matches_the_name_without_accents_or_the_email(
    ledger: Ledger, shop: dict[str, UUID], term: str, who: list[str]
) -> None:
    assert [shop[w] for w in who] == ids(ledger.customers(search=term))
    assert len(who) == ledger.count_customers(search=term)


# --- rows, filters, sorting, paging --------------------------------------------------


def test_a_search_looked_up_by_its_digits_still_matches_the_whole_term(ledger: Ledger) -> None:
    """A phone is looked up by its last 7 digits, and a term with a number by
    the number (`directory_sql.narrower`); rows holding only that part are
    not matches."""
    same_tail = ledger.register_customer("Một", ["0975 500 600"], email="le12345@shop.vn")
    ledger.register_customer("Hai", ["0905 500 600"], email="khach12345@other.vn")
    three = ledger.register_customer("Ba", ["0912 000 003"], email="khach12345@shop.vn")
    ledger.register_customer("Nguyễn 12345", ["0912 000 004"])
    for term, expected in (
        ("0975500600", [same_tail]),
        ("+84 975 500 600", [same_tail]),
        ("khach12345@shop", [three]),
        ("nguyen 12345", [ledger.find_customer_by_phone("0912000004")]),
        ("12345@shop", [same_tail, three]),
    ):
        found = sorted(row.customer_id for row in ledger.customers(search=term))
        assert sorted(expected) == found, term  # type: ignore[type-var]
        assert len(expected) == ledger.count_customers(search=term), term


def test_a_row_shows_details_and_loyalty_standing(
    ledger: Ledger, shop: dict[str, UUID], clock: Clock
) -> None:
    an = shop["an"]
    ledger.record_purchase(an, "INV-1", Decimal(1_500_000))  # 150 points: gold
    ledger.redeem_points(an, 20, "R-1")
    ledger.record_purchase(an, "INV-2", Decimal(100_000))
    ledger.return_purchase(an, "INV-2")
    row = ledger.customers(search="0975500600")[0]
    customer = ledger.get_customer(an)
    assert (
        CustomerRow(
            customer_id=an,
            name="Nguyễn Văn An",
            phones=("+84975500600",),
            email="an@shop.vn",
            group="retail",
            # A default tag typed by its Vietnamese name is stored by its key.
            tags=frozenset({"vip", "potential"}),
            level="gold",
            source="ads",
            assigned_staff="nv-01",
            purchase_count=2,
            balance=ledger.balance(an),
            registered_at=customer.registered_at,
        )
        == row
    )
    assert (130, "gold", 2) == (row.balance, customer.level, customer.purchase_count)


def test_registered_at_is_the_registrations_business_time(ledger: Ledger) -> None:
    past = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)
    cid = ledger.register_customer("Khách Cũ", ["0904222333"], at=past)
    assert past == ledger.customers()[0].registered_at == ledger.get_customer(cid).registered_at


def test_an_edit_is_shown_at_the_next_query(ledger: Ledger, shop: dict[str, UUID]) -> None:
    assert 1 == ledger.count_customers(staff="nv-01")
    ledger.update_customer(shop["an"], email=None, assigned_staff="nv-02", tags=["mới"])
    ledger.update_customer(shop["cuong"], name="Phạm Cường", phones=["0977 100 200"])
    assert 0 == ledger.count_customers(staff="nv-01")
    assert [shop["an"]] == ids(ledger.customers(staff="nv-02", tag="mới"))
    assert [] == ledger.customers(search="an@shop")
    assert [shop["cuong"]] == ids(ledger.customers(search="pham"))
    assert [shop["cuong"]] == ids(ledger.customers(search="0977100200"))
    assert [] == ledger.customers(search="903111222")


@pytest.mark.parametrize(
    ("filters", "who"),
    [
        ({"tag": "vip"}, ["anh", "an"]),
        ({"tag": "tiềm năng"}, ["an"]),
        ({"tag": "vi"}, []),  # a whole tag, not part of one
        ({"group": "wholesale"}, ["anh"]),
        ({"staff": "nv-01"}, ["an"]),
        ({"source": "pos"}, ["cuong"]),
        ({"level": "gold"}, []),
        ({"tag": "vip", "group": "retail", "search": "an"}, ["an"]),
    ],
)
def test_filters_all_hold(
    ledger: Ledger, shop: dict[str, UUID], filters: dict[str, Any], who: list[str]
) -> None:
    assert [shop[w] for w in who] == ids(ledger.customers(**filters))
    assert len(who) == ledger.count_customers(**filters)


@pytest.mark.parametrize(
    ("sort_by", "descending", "who"),
    [
        ("name", False, ["anh", "cuong", "an"]),  # Đặng sorts with D
        ("name", True, ["an", "cuong", "anh"]),
        ("email", False, ["an", "cuong", "anh"]),  # no email: last either way
        ("email", True, ["cuong", "an", "anh"]),
        ("registered_at", True, ["cuong", "anh", "an"]),
        ("balance", True, ["cuong", "an", "anh"]),
    ],
)
def test_sorting_by_a_column(
    ledger: Ledger, shop: dict[str, UUID], sort_by: str, descending: bool, who: list[str]
) -> None:
    ledger.record_purchase(shop["cuong"], "INV-9", Decimal(500_000))
    ledger.record_purchase(shop["an"], "INV-8", Decimal(100_000))
    rows = ledger.customers(sort_by=sort_by, descending=descending)
    assert [shop[w] for w in who] == ids(rows)


def test_pages_never_overlap(ledger: Ledger) -> None:
    made = {ledger.register_customer("Cùng Tên", [f"09040000{n:02d}"]) for n in range(7)}
    pages = [ledger.customers(limit=3, offset=offset) for offset in (0, 3, 6, 9)]
    assert [3, 3, 1, 0] == [len(page) for page in pages]
    assert made == {row.customer_id for page in pages for row in page}
    assert 7 == ledger.count_customers()


@pytest.mark.parametrize(
    "arguments",
    [
        {"sort_by": "nope"},
        {"sort_by": "name_key"},
        {"descending": "yes"},
        {"limit": 0},
        {"limit": 1001},
        {"limit": True},
        {"offset": -1},
        {"offset": 2**63},
        {"search": 5},
        {"tag": ["vip"]},
    ],
)
def test_bad_arguments_are_refused_naming_the_value(
    ledger: Ledger, arguments: dict[str, Any]
) -> None:
    with pytest.raises(InvalidInput) as refused:
        ledger.customers(**arguments)
    assert repr(next(iter(arguments.values()))) in str(refused.value) or str(
        next(iter(arguments.values()))
    ) in str(refused.value)


# --- the lead table's pager and phone search ------------------------------------------


def test_count_leads_and_lead_search_by_phone(ledger: Ledger) -> None:
    ledger.configure_referrals(ReferralProgram(reward_by_plan={"pro": Decimal(500000)}))
    referrer = ledger.register_customer("Người giới thiệu", ["0911000000"])
    ledger.sign_contract(referrer, "C-1", "pro", START.date(), START.date() + timedelta(days=900))
    first = ledger.submit_referral(referrer, "Trần Bình", "0975 500 600", industry="retail")
    ledger.submit_referral(referrer, "Lê Cường", "0904 222 333", industry="retail")
    ledger.start_referral(first)
    for term in ("0975500600", "+84975500600", "975 500", "Trần"):
        assert [first] == [row.referral_id for row in ledger.lead_table(search=term)], term
        assert 1 == ledger.count_leads(search=term)
    assert 2 == ledger.count_leads()
    assert 1 == ledger.count_leads(status="in_progress")
    assert 0 == ledger.count_leads(program="other")
    with pytest.raises(InvalidInput, match="'sideways'"):
        ledger.count_leads(status="sideways")


# --- purchases ---------------------------------------------------------------------


def test_purchases_list_each_invoice_with_its_returns(
    ledger: Ledger, shop: dict[str, UUID]
) -> None:
    an = shop["an"]
    early = START - timedelta(days=3)
    ledger.record_purchase(an, "INV-2", Decimal(300_000))
    ledger.record_purchase(an, "INV-1", Decimal(250_000), at=early)  # a backfill
    ledger.return_purchase(an, "INV-2", Decimal(100_000))
    ledger.return_purchase(an, "INV-2", Decimal(50_000))
    [inv2_at] = [
        row.at for row in ledger.statement(an) if row.reference == "INV-2" and row.points > 0
    ]
    assert [
        PurchaseRow(
            invoice_id="INV-1",
            at=early,
            amount=Decimal(250_000),
            returned=Decimal(0),
            points=25,
            voucher=None,
            payable=Decimal(250_000),
        ),
        PurchaseRow(
            invoice_id="INV-2",
            at=inv2_at,
            amount=Decimal(300_000),
            returned=Decimal(150_000),
            points=30,
            voucher=None,
            payable=Decimal(300_000),
        ),
    ] == ledger.purchases(an)
    assert [] == ledger.purchases(shop["anh"])
    with pytest.raises(NotFound):
        ledger.purchases(UUID(int=5))


# --- the notes log -------------------------------------------------------------------


def test_notes_are_a_dated_log_beside_the_notes_field(
    ledger: Ledger, shop: dict[str, UUID], clock: Clock
) -> None:
    an = shop["an"]
    ledger.update_customer(an, notes="Tạp hoá, opens at 6")
    said = datetime(2026, 2, 1, 10, 0, tzinfo=UTC)
    ledger.add_note(an, "Gọi lại sau Tết", by="nv-01", at=said)
    clock.advance(minutes=60)
    ledger.add_note(an, "  Đã gọi:\nhẹn tuần sau  ")
    customer = ledger.get_customer(an)
    assert "Tạp hoá, opens at 6" == customer.notes
    assert (
        Note(at=said, text="Gọi lại sau Tết", by="nv-01"),
        Note(at=clock.now, text="Đã gọi:\nhẹn tuần sau", by=None),
    ) == customer.note_log
    # The log as it was: get_customer as of before the second note.
    assert 1 == len(ledger.get_customer(an, as_of=clock.now - timedelta(minutes=30)).note_log)


@pytest.mark.parametrize(
    ("arguments", "named"),
    [
        ({"text": "  "}, "'  '"),
        ({"text": 5}, "5"),
        ({"text": "ok", "by": 7}, "7"),
        ({"text": "ok", "at": "yesterday"}, "'yesterday'"),
    ],
)
def test_a_bad_note_is_refused_and_nothing_recorded(
    ledger: Ledger, shop: dict[str, UUID], arguments: dict[str, Any], named: str
) -> None:
    before = ledger.event_count()
    with pytest.raises(InvalidInput, match=named):
        ledger.add_note(shop["an"], **arguments)
    assert before == ledger.event_count()
    with pytest.raises(NotFound):
        ledger.add_note(UUID(int=9), "hello")
    assert before == ledger.event_count()


# --- conversion by department --------------------------------------------------------


def test_conversion_by_department_counts_its_members_only(ledger: Ledger) -> None:
    ledger.configure_referrals(ReferralProgram(reward_by_plan={"pro": Decimal(500000)}))
    referrer = ledger.register_customer("Người giới thiệu", ["0911000000"])
    ledger.sign_contract(referrer, "C-1", "pro", START.date(), START.date() + timedelta(days=900))
    for n, rep in enumerate(["nv-01", "nv-02", "nv-03", "nv-01"]):
        lead = ledger.submit_referral(referrer, f"Lead {n}", f"09750000{n:02d}", industry="x")
        ledger.assign_rep(lead, rep)
    ledger.add_staff("nv-01", "Hà", department="sales")
    ledger.add_staff("nv-02", "Minh", department="sales")
    ledger.add_staff("nv-03", "Lan", department="care")
    ledger.update_staff("nv-02", department="care")  # moved: counted in care now
    assert [("nv-01", 2)] == [
        (r.rep, r.leads) for r in ledger.conversion_by_rep(department="sales")
    ]
    assert ["nv-02", "nv-03"] == [r.rep for r in ledger.conversion_by_rep(department="care")]
    assert [] == ledger.conversion_by_rep(department="none")
    assert 3 == len(ledger.conversion_by_rep())
    with pytest.raises(InvalidInput, match="department"):
        ledger.conversion_by_rep(department=" ")


@pytest.mark.postgres
def test_postgres_finds_a_searchs_matches_before_ordering_them(
    fresh_pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The directory's search query cannot be planned as a walk of the name
    index testing each row (16 s over 1,000,000 customers): the matches are
    found first, then ordered (a Sort in the plan). Read from the plan of the
    query it sends, with bitmap and sequential scans off, so the planner is
    tempted to walk the index."""
    sent: list[tuple[str, tuple[Any, ...]]] = []
    original = dialects.PostgresViews.read

    def spy(self: dialects.PostgresViews, text: str, params: tuple[Any, ...] = ()) -> list[Any]:
        if "rl_customers" in text:
            sent.append((self.sql(text), params))
        return original(self, text, params)

    monkeypatch.setattr(dialects.PostgresViews, "read", spy)
    with Ledger.open(fresh_pg_url) as ledger:
        for n in range(30):
            ledger.register_customer(f"Nguyễn Văn {n}", [f"0912{n:06d}"])
        assert 30 == len(ledger.customers(search="nguyen", limit=50))
        query, params = sent[-1]
        with ledger._views.sql.datastore.transaction(commit=False) as cursor:
            cursor.execute("SET LOCAL enable_bitmapscan = off")
            cursor.execute("SET LOCAL enable_seqscan = off")
            cursor.execute("EXPLAIN " + query, params)
            plan = "\n".join(row["QUERY PLAN"] for row in cursor.fetchall())
    assert "Sort Key: hits.name_key" in plan, plan
