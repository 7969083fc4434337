"""The fold's records during a catch-up: read once, written once, remembered.

`SqlRecords` is the `ViewRecords` the fold (`leads.apply`) reads and writes
within one catch-up transaction; `Known` keeps the rows a committed batch
left in the views, so the next batch need not read them back.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Final
from uuid import UUID

from referral_ledger.aggregates.base import Event
from referral_ledger.aggregates.customer import CustomerRegistered
from referral_ledger.aggregates.loyalty import PointsEarned, PointsTakenBack
from referral_ledger.aggregates.referral import ReferralSubmitted
from referral_ledger.projections import directory
from referral_ledger.projections import leads as fold
from referral_ledger.projections.dialects import ViewsSQL
from referral_ledger.projections.directory import CustomerRow
from referral_ledger.projections.leaderboard import Standing
from referral_ledger.projections.leads import LeadRow
from referral_ledger.projections.log import RevenueChange
from referral_ledger.projections.rows import (
    customer_from,
    customer_params,
    lead_from,
    lead_params,
)
from referral_ledger.values import EXACT

#: View rows a catch-up keeps in memory from one batch to the next (see
#: `Known`): leads (about 1.2 kB each, so up to ~60 MB) and customers'
#: revenue (about 0.2 kB each, up to ~100 MB).
CACHE_LEADS: Final = 50_000
CACHE_CUSTOMERS: Final = 500_000
#: Directory rows kept (about 1.5 kB each, up to ~150 MB).
CACHE_DIRECTORY: Final = 100_000


class Known:
    """View rows as one catch-up committed (or read) them, so its next batches
    need not read them back.

    The rows are those of the views at `position` only: a batch may use them
    when it moves the position on from there, which its compare-and-set
    proves (the views at a committed position are always the log folded up
    to it, whoever wrote them). Anything else is forgotten.

    `complete`: these are all the views' rows. A catch-up that starts at
    position 0 starts from empty views (position 0 is only ever set with the
    tables emptied or new), so while it keeps every row it writes, a row it
    does not have does not exist and nothing is read: a rebuild reads no view
    rows at all. At most `CACHE_LEADS` leads and `CACHE_CUSTOMERS` revenues
    are kept; past that the table's rows are dropped, and the rows not kept
    are read from the tables again, a query per table per batch.
    """

    def __init__(self) -> None:
        self.position = -1
        self.complete = False
        self.leads: dict[UUID, LeadRow] = {}
        #: By customer id in hex, as the table keys them.
        self.revenue: dict[str, Decimal] = {}
        self.customers: dict[UUID, CustomerRow] = {}

    def valid_at(self, position: int) -> None:
        """The views are at `position` now: forget rows of any other."""
        if position != self.position:
            self._forget()
            self.position = position
            self.complete = position == 0

    def committed(self, records: SqlRecords, upto: int) -> None:
        """A batch committed, moving the views to `upto`: keep its rows."""
        self.leads.update(records.leads_read_or_written())
        self.revenue.update(records.revenue_read_or_written())
        self.customers.update(records.customers_read_or_written())
        self.position = upto
        if len(self.leads) > CACHE_LEADS:
            self.leads.clear()
            self.complete = False
        if len(self.revenue) > CACHE_CUSTOMERS:
            self.revenue.clear()
            self.complete = False
        if len(self.customers) > CACHE_DIRECTORY:
            self.customers.clear()
            self.complete = False

    def _forget(self) -> None:
        self.leads.clear()
        self.revenue.clear()
        self.customers.clear()
        self.complete = False


class SqlRecords:
    """The fold's records within one catch-up transaction: read once, written once."""

    def __init__(self, sql: ViewsSQL, cursor: Any, known: Known | None = None) -> None:
        self._sql = sql
        self._cursor = cursor
        self._known = Known() if known is None else known
        self._leads: dict[UUID, LeadRow | None] = {}
        self._revenue: dict[str, Decimal] = {}  # by customer id in hex
        self._dirty_leads: set[UUID] = set()
        self._dirty_revenue: set[str] = set()
        #: Customers whose revenue row exists in the table (read, or known).
        self._stored_revenue: set[str] = set()
        #: Leaderboard rows to write, by (campaign, customer): never read back.
        self._standings: dict[tuple[str, str], Standing] = {}
        self._customers: dict[UUID, CustomerRow | None] = {}
        self._dirty_customers: set[UUID] = set()

    def prefetch(self, events: list[Event | RevenueChange]) -> None:
        """Read the rows a batch of events will touch, one query per table,
        except those known already.

        Without it the fold reads a row per new referral or customer, a round
        trip each: most of a rebuild's time on PostgreSQL.
        """
        known = self._known
        if known.complete:
            return  # what is not known does not exist: nothing to read
        submitted = {e.originator_id for e in events if isinstance(e, ReferralSubmitted)}
        leads = {e.originator_id for e in events if isinstance(e, fold.LEAD_CHANGES)} - submitted
        customers = {e.customer for e in events if isinstance(e, RevenueChange)}
        customers.update(
            e.customer_id.hex for e in events if isinstance(e, PointsEarned | PointsTakenBack)
        )
        for referral_id in leads:
            self._leads[referral_id] = known.leads.get(referral_id)
        for customer in customers:
            self._revenue[customer] = known.revenue.get(customer, Decimal(0))
        self._stored_revenue.update(c for c in customers if c in known.revenue)
        unknown_leads = [i.hex for i in leads if i not in known.leads]
        unknown_customers = [i for i in customers if i not in known.revenue]
        sql, cursor = self._sql, self._cursor
        for row in sql.select_many(cursor, "rl_leads", "referral_id", unknown_leads):
            self._leads[UUID(row["referral_id"])] = lead_from(row)
        for row in sql.select_many(cursor, "rl_revenue", "customer_id", unknown_customers):
            self._revenue[row["customer_id"]] = Decimal(row["revenue"])
            self._stored_revenue.add(row["customer_id"])
        listed = _directory_rows(events)
        for customer_id in listed:
            self._customers[customer_id] = known.customers.get(customer_id)
        unknown_rows = [i.hex for i in listed if i not in known.customers]
        for row in sql.select_many(cursor, "rl_customers", "customer_id", unknown_rows):
            self._customers[UUID(row["customer_id"])] = customer_from(row)

    def lead(self, referral_id: UUID) -> LeadRow | None:
        if referral_id not in self._leads:
            known = self._known
            if referral_id in known.leads or known.complete:
                self._leads[referral_id] = known.leads.get(referral_id)
            else:
                self._leads[referral_id] = self._select_lead(referral_id)
        return self._leads[referral_id]

    def put_lead(self, row: LeadRow) -> None:
        self._leads[row.referral_id] = row
        self._dirty_leads.add(row.referral_id)

    def revenue(self, customer_id: UUID) -> Decimal:
        return self._revenue_of(customer_id.hex)

    def customer(self, customer_id: UUID) -> CustomerRow | None:
        if customer_id not in self._customers:
            known = self._known
            if customer_id in known.customers or known.complete:
                self._customers[customer_id] = known.customers.get(customer_id)
            else:
                rows = self._sql.execute(
                    self._cursor,
                    "SELECT * FROM {p}rl_customers WHERE customer_id = ?",
                    (customer_id.hex,),
                )
                self._customers[customer_id] = customer_from(rows[0]) if rows else None
        return self._customers[customer_id]

    def put_customer(self, row: CustomerRow) -> None:
        self._customers[row.customer_id] = row
        self._dirty_customers.add(row.customer_id)

    def put_revenue(self, customer_id: UUID, revenue: Decimal) -> None:
        self._revenue[customer_id.hex] = revenue
        self._dirty_revenue.add(customer_id.hex)

    def add_revenue(self, customer: str, amount: Decimal) -> None:
        """The fold of a `RevenueChange` (`fold.apply` of the event it was read from)."""
        # EXACT: the caller's decimal context (a precision of 4, say) must not round it.
        self._revenue[customer] = EXACT.add(self._revenue_of(customer), amount)
        self._dirty_revenue.add(customer)

    def put_standing(self, row: Standing) -> None:
        """A leaderboard row (written from its event alone: see `leaderboard`)."""
        self._standings[row.campaign_id, row.customer] = row

    def _revenue_of(self, customer: str) -> Decimal:
        if customer not in self._revenue:
            known = self._known
            stored = known.revenue.get(customer)
            if stored is None and not known.complete:
                stored = self._select_revenue(customer)
            if stored is not None:
                self._stored_revenue.add(customer)
            self._revenue[customer] = Decimal(0) if stored is None else stored
        return self._revenue[customer]

    def _select_lead(self, referral_id: UUID) -> LeadRow | None:
        rows = self._sql.execute(
            self._cursor, "SELECT * FROM {p}rl_leads WHERE referral_id = ?", (referral_id.hex,)
        )
        return lead_from(rows[0]) if rows else None

    def _select_revenue(self, customer: str) -> Decimal | None:
        rows = self._sql.execute(
            self._cursor, "SELECT revenue FROM {p}rl_revenue WHERE customer_id = ?", (customer,)
        )
        return Decimal(rows[0]["revenue"]) if rows else None

    def leads_read_or_written(self) -> dict[UUID, LeadRow]:
        return {i: row for i, row in self._leads.items() if row is not None}

    def revenue_read_or_written(self) -> dict[str, Decimal]:
        return self._revenue

    def customers_read_or_written(self) -> dict[UUID, CustomerRow]:
        return {i: row for i, row in self._customers.items() if row is not None}

    def flush(self) -> None:
        """Write the rows the fold changed, a statement (or few) per table."""
        leads = [self._leads[i] for i in self._dirty_leads]
        if leads:
            self._sql.write_leads(
                self._cursor, [lead_params(lead) for lead in leads if lead is not None]
            )
        if self._standings:
            self._sql.write_standings(self._cursor, list(self._standings.values()))
        rows = [self._customers[i] for i in self._dirty_customers]
        if rows:
            self._sql.write_customers(
                self._cursor, [customer_params(row) for row in rows if row is not None]
            )
        if self._dirty_revenue:
            self._sql.write_revenue(
                self._cursor,
                {c: self._revenue[c] for c in self._dirty_revenue},
                self._stored_revenue,
            )


def _directory_rows(events: list[Event | RevenueChange]) -> set[UUID]:
    """The customers whose directory rows a batch changes and did not create."""
    changed: set[UUID] = set()
    registered: set[UUID] = set()
    for event in events:
        if isinstance(event, RevenueChange):
            changed.add(UUID(event.customer))
        elif isinstance(event, CustomerRegistered):
            registered.add(event.originator_id)
        elif isinstance(event, directory.DIRECTORY_EVENTS):
            changed.add(directory.customer_of(event))
    return changed - registered
