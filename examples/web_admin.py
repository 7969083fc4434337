"""A small server-rendered admin for POS staff, mounted by examples/web_app.py.

    /admin/leads               leads: search, status and program filters, paging with a total
    /admin/customers           customers: search, tag, group and tier filters, paging
    /admin/customers/{id}      one customer: details, points statement, purchases
    /admin/campaigns           campaigns, each with a link to its leaderboard
    /admin/campaigns/{id}      a campaign's leaderboard

Plain HTML from Jinja2 templates (examples/templates/), no JavaScript and no
build step. Every template is autoescaped: a name such as
`<script>alert(1)</script>` is shown as text, never run
(tests/test_web_admin.py checks it in a real browser). The pages only read;
they call the same `Ledger` the JSON endpoints do, from FastAPI's thread pool.
"""

from __future__ import annotations

import math
from datetime import datetime, tzinfo
from decimal import Decimal
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlencode
from uuid import UUID

import jinja2
from fastapi import APIRouter
from fastapi.responses import HTMLResponse, RedirectResponse

from referral_ledger import InvalidInput, Ledger, LedgerError, ReferralStatus

#: Rows per page unless the query says otherwise (`?per_page=`), and the most allowed.
PER_PAGE: Final = 20
MAX_PER_PAGE: Final = 200


def templates(zone: tzinfo) -> jinja2.Environment:
    """The pages' templates, showing times on the shop's clock (`zone`)."""
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
        # Everything a page shows came from someone's input: escape it all.
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    environment.filters["when"] = lambda value: _when(value, zone)
    environment.filters["money"] = _money
    return environment


def error_page(ledger: Ledger, error: LedgerError, status_code: int) -> HTMLResponse:
    """A refusal of the ledger as a page (the JSON endpoints answer JSON)."""
    page = templates(ledger.business_timezone).get_template("error.html")
    name = type(error).__name__
    return HTMLResponse(page.render(title=name, kind=name, detail=str(error)), status_code)


class Pager:
    """Which slice of `total` rows a page shows, and the links to its neighbours."""

    def __init__(self, path: str, query: dict[str, str], page: int, per_page: int, total: int):
        if page < 1:
            raise InvalidInput(f"page must be 1 or more, not {page}")
        if not 1 <= per_page <= MAX_PER_PAGE:
            raise InvalidInput(f"per_page must be from 1 to {MAX_PER_PAGE}, not {per_page}")
        self.page, self.per_page, self.total = page, per_page, total
        self.pages = max(1, math.ceil(total / per_page))
        self.offset = (page - 1) * per_page
        self._path, self._query = path, {k: v for k, v in query.items() if v}

    def link(self, page: int) -> str:
        return f"{self._path}?{urlencode({**self._query, 'page': page, 'per_page': self.per_page})}"

    @property
    def previous(self) -> str | None:
        return self.link(self.page - 1) if self.page > 1 else None

    @property
    def next(self) -> str | None:
        return self.link(self.page + 1) if self.page < self.pages else None

    def showing(self, rows: int) -> str:
        if not rows:
            return f"0 of {self.total}"
        return f"{self.offset + 1} to {self.offset + rows} of {self.total}"


def admin_router(ledger: Ledger) -> APIRouter:
    """The admin pages on `ledger` (shared with the rest of the app)."""
    router = APIRouter(prefix="/admin", include_in_schema=False)
    pages = templates(ledger.business_timezone)

    def render(name: str, **context: Any) -> HTMLResponse:
        return HTMLResponse(pages.get_template(name).render(**context))

    @router.get("")
    def home() -> RedirectResponse:
        return RedirectResponse("/admin/leads")

    @router.get("/leads")
    def leads(
        search: str = "",
        status: str = "",
        program: str = "",
        page: int = 1,
        per_page: int = PER_PAGE,
    ) -> HTMLResponse:
        filters = {"search": search, "status": status, "program": program}
        # An empty box in the form means "any".
        which = (status or None, program or None, search or None)
        pager = Pager("/admin/leads", filters, page, per_page, ledger.count_leads(*which))
        rows = ledger.lead_table(*which, limit=pager.per_page, offset=pager.offset)
        return render(
            "leads.html", title="Leads", rows=rows, pager=pager, filters=filters,
            statuses=[s.value for s in ReferralStatus],
        )  # fmt: skip

    @router.get("/customers")
    def customers(
        search: str = "",
        tag: str = "",
        group: str = "",
        level: str = "",
        page: int = 1,
        per_page: int = PER_PAGE,
    ) -> HTMLResponse:
        filters = {"search": search, "tag": tag, "group": group, "level": level}
        which = (search or None, tag or None, group or None)
        total = ledger.count_customers(*which, level=level or None)
        pager = Pager("/admin/customers", filters, page, per_page, total)
        rows = ledger.customers(
            *which, level=level or None, limit=pager.per_page, offset=pager.offset
        )
        return render("customers.html", title="Customers", rows=rows, pager=pager, filters=filters)

    @router.get("/customers/{customer_id}")
    def customer(customer_id: UUID) -> HTMLResponse:
        found = ledger.get_customer(customer_id)
        return render(
            "customer.html", title=found.name, customer=found,
            summary=ledger.points_summary(customer_id),
            statement=ledger.statement(customer_id), purchases=ledger.purchases(customer_id),
        )  # fmt: skip

    @router.get("/campaigns")
    def campaigns() -> HTMLResponse:
        return render("campaigns.html", title="Campaigns", campaigns=ledger.campaigns())

    @router.get("/campaigns/{campaign_id}")
    def leaderboard(campaign_id: str, limit: int = 20) -> HTMLResponse:
        campaign = next((c for c in ledger.campaigns() if c.campaign_id == campaign_id), None)
        rows = ledger.campaign_leaderboard(campaign_id, limit)  # NotFound for an unknown id
        return render("leaderboard.html", title="Leaderboard", campaign=campaign, rows=rows)

    return router


def _when(value: datetime | None, zone: tzinfo) -> str:
    """A moment as the shop's clock shows it (the ledger's business time zone)."""
    return "" if value is None else value.astimezone(zone).strftime("%Y-%m-%d %H:%M")


def _money(value: Decimal | int | None) -> str:
    """1059000 -> "1,059,000" (exact: Decimals are never turned into floats)."""
    return "" if value is None else f"{value:,}"
