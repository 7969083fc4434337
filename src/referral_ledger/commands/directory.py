"""The customer directory, purchase history, the notes log, and pager counts."""

from __future__ import annotations

from datetime import datetime
from typing import Final
from uuid import UUID

from referral_ledger.aggregates import customer_record as customers
from referral_ledger.aggregates import loyalty
from referral_ledger.aggregates.customer_record import Note
from referral_ledger.aggregates.referral import ReferralStatus
from referral_ledger.commands.context import LedgerContext
from referral_ledger.commands.crm import CrmCommands
from referral_ledger.commands.views import ViewQueries, parse_status
from referral_ledger.errors import InvalidInput
from referral_ledger.policies.customer_fields import parse_notes
from referral_ledger.policies.customers import tag_key
from referral_ledger.projections.directory import CustomerRow
from referral_ledger.projections.directory_queries import SORTABLE, CustomerFilter
from referral_ledger.projections.leads import ConversionRow
from referral_ledger.projections.purchases import PurchaseRow, purchase_rows
from referral_ledger.projections.queries import MAX_OFFSET
from referral_ledger.store import UnitOfWork
from referral_ledger.values import parse_id, parse_optional_text, parse_optional_time

MAX_PAGE: Final = 1000


class DirectoryQueries(ViewQueries):
    """The customer directory, what a customer's page shows besides its
    details, and the lead table's pager and conversion by department."""

    def __init__(self, context: LedgerContext, crm: CrmCommands) -> None:
        super().__init__(context)
        #: Departments are the staff's (`add_staff`): who is a member of one.
        self._crm = crm

    def conversion_by_rep(
        self,
        since: datetime | None = None,
        until: datetime | None = None,
        department: str | None = None,
    ) -> list[ConversionRow]:
        """Leads → contacts → customers per sales rep, for referrals submitted
        from `since` (inclusive) to `until` (exclusive); with `department`,
        only the reps who are its members."""
        reps = None if department is None else self.department_members(department)
        rows = super().conversion_by_rep(since, until)
        return rows if reps is None else [row for row in rows if row.rep in reps]

    def customers(
        self,
        search: str | None = None,
        tag: str | None = None,
        group: str | None = None,
        staff: str | None = None,
        level: str | None = None,
        source: str | None = None,
        sort_by: str = "name",
        descending: bool = False,
        limit: int = 50,
        offset: int = 0,
    ) -> list[CustomerRow]:
        """Customers as rows: filter, search, sort, page.

        `search` matches the name ignoring case and accents (`nguyen` finds
        `Nguyễn`), any phone in any spelling or part of one (`0975 500 600`,
        `+84975500600`, `500600`), or the email. Every filter given must hold.
        """
        which = self._customer_filter(search, tag, group, staff, level, source)
        if not isinstance(sort_by, str) or sort_by not in SORTABLE:
            raise InvalidInput(f"sort_by must be one of {sorted(SORTABLE)}, not {sort_by!r}")
        if not isinstance(descending, bool):
            raise InvalidInput(f"descending must be True or False, not {descending!r}")
        check_page(limit, offset)
        self.catch_up_projections()
        return self._views.customers(
            which, sort_by=sort_by, descending=descending, limit=limit, offset=offset
        )

    def count_customers(
        self,
        search: str | None = None,
        tag: str | None = None,
        group: str | None = None,
        staff: str | None = None,
        level: str | None = None,
        source: str | None = None,
    ) -> int:
        """How many customers `customers` pages through with these filters."""
        which = self._customer_filter(search, tag, group, staff, level, source)
        self.catch_up_projections()
        return self._views.count_customers(which)

    def count_leads(
        self,
        status: ReferralStatus | str | None = None,
        program: str | None = None,
        search: str | None = None,
    ) -> int:
        """How many leads `lead_table` pages through with these filters."""
        wanted = parse_status(status)
        program_name = parse_optional_text(program, "program")
        term = parse_optional_text(search, "search")
        self.catch_up_projections()
        return self._views.count_leads(
            status=wanted, program=program_name, search=term, region=self.phone_region
        )

    def purchases(self, customer_id: UUID) -> list[PurchaseRow]:
        """The customer's purchases, oldest first: invoice, when, amount,
        amount returned, points earned, voucher and what was payable."""
        customer = self._known_customer(customer_id)
        events = self._store.events_of(loyalty.account_id(customer))
        # The invoice records hold what a checkout took off: one bulk read.
        ids = {
            e.invoice_id: self._claim_id(loyalty.INVOICE, e.invoice_id)
            for e in events
            if isinstance(e, loyalty.PointsEarned)
        }
        found = self._store.load_many(dict.fromkeys(ids.values(), loyalty.evolve_invoice))
        return purchase_rows(events, {i: found[record] for i, record in ids.items()})

    def add_note(
        self,
        customer_id: UUID,
        text: str,
        by: str | None = None,
        at: datetime | None = None,
    ) -> None:
        """Add a dated note to the customer's log (`get_customer().note_log`).

        `by` is who wrote it; `at` when, in business time (None: now).
        """
        customer = parse_id(customer_id, "customer_id")
        body = parse_notes(text)
        if body is None:
            raise InvalidInput(f"text must not be empty: {text!r}")
        author = parse_optional_text(by, "by")
        when = parse_optional_time(at, "at")

        def decide(unit: UnitOfWork) -> None:
            record = self._customer(unit, customer)
            note = Note(at=when or unit.now, text=body, by=author)
            unit.record(customers.add_note(record, note, unit.now))

        self._store.run(decide)

    def department_members(self, department: str) -> set[str]:
        """The staff ids of `department`'s members (as `add_staff` and
        `update_staff` last set them)."""
        name = parse_optional_text(department, "department")
        if name is None:
            raise InvalidInput(f"department must be a name, not {department!r}")
        return {member.staff_id for member in self._crm.staff(name)}

    def _customer_filter(
        self,
        search: object,
        tag: object,
        group: object,
        staff: object,
        level: object,
        source: object,
    ) -> CustomerFilter:
        return CustomerFilter(
            search=parse_optional_text(search, "search"),
            tag=_tag(parse_optional_text(tag, "tag")),
            group=parse_optional_text(group, "group"),
            staff=parse_optional_text(staff, "staff"),
            level=parse_optional_text(level, "level"),
            source=parse_optional_text(source, "source"),
            region=self.phone_region,
        )


def check_page(limit: object, offset: object) -> None:
    """A page's `limit` and `offset` as the stores take them."""
    for name, value, low in (("limit", limit, 1), ("offset", offset, 0)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise InvalidInput(f"{name} must be an int >= {low}, not {value!r}")
    assert isinstance(limit, int) and isinstance(offset, int)
    if limit > MAX_PAGE:
        raise InvalidInput(f"limit must be at most {MAX_PAGE}, not {limit}")
    if offset > MAX_OFFSET:  # the store's own error would be a driver's
        raise InvalidInput(
            f"offset must be at most {MAX_OFFSET} (the store's largest), not {offset}"
        )


def _tag(tag: str | None) -> str | None:
    # A default tag is stored by its key: "Tiềm năng" finds the customers tagged "potential".
    return None if tag is None else tag_key(tag)
