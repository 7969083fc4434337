"""A small web host app (FastAPI) on the ledger: submit a referral, record a
purchase, redeem points, and read the lead table over HTTP, with an admin for
staff at /admin (examples/web_admin.py).

    pip install fastapi uvicorn jinja2   # (the `dev` extra has them)
    python examples/web_app.py --db shop.db --port 8000
    curl -X POST localhost:8000/purchases -H 'content-type: application/json' \\
         -d '{"customer_id": "...", "invoice_id": "INV-1", "amount": "1059000"}'
    open http://localhost:8000/admin/leads

Every refusal of the ledger becomes a 4xx JSON error naming what was wrong:
`{"error": "RedemptionRefused", "detail": "cannot redeem 900 points: ..."}`.
Money travels as a string (or a whole number) and never as a float.

**The reference way to host the ledger** (docs/operations.md, "Threads"): one
`Ledger` per process, opened at start-up and shared by every request thread;
plain `def` endpoints, which FastAPI runs in its thread pool (40 threads);
never a ledger per request (each opens its own connection pool and store
checks). A `ConcurrencyConflict` recorded nothing and becomes a 409 the
client may retry with the same invoice or redemption id.
"""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any
from uuid import UUID

import uvicorn
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from web_admin import admin_router, error_page

from referral_ledger import (
    ConcurrencyConflict,
    DuplicatePhone,
    InvalidInput,
    InvalidTransition,
    Ledger,
    LedgerError,
    NotFound,
    ProgramNotConfigured,
    RedemptionRefused,
    ReferrerNotEligible,
)
from referral_ledger.cli import ledger_url, records

#: The HTTP status of each refusal; any other LedgerError is a 400.
STATUS: dict[type[LedgerError], int] = {
    InvalidInput: 422,
    NotFound: 404,
    DuplicatePhone: 409,
    ReferrerNotEligible: 403,
    InvalidTransition: 409,
    RedemptionRefused: 409,
    ProgramNotConfigured: 409,
    ConcurrencyConflict: 409,
}

#: The header carrying how many rows the filters match, whatever the page.
TOTAL_HEADER = "X-Total-Count"


class ReferralIn(BaseModel):
    referrer_id: UUID
    name: str
    phone: str
    industry: str
    email: str | None = None
    business_name: str | None = None
    website: str | None = None
    program: str = "pos"
    sales_assistance: bool = False


class PurchaseIn(BaseModel):
    customer_id: UUID
    invoice_id: str
    amount: str | int
    discounted_amount: str | int = 0
    points_used: int = 0


class RedemptionIn(BaseModel):
    customer_id: UUID
    points: int
    redemption_id: str


def create_app(url: str) -> FastAPI:
    """The app, on the ledger at `url` (opened at start-up, closed at shut-down)."""
    ledger = Ledger.open(url)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        ledger.close()

    app = FastAPI(title="referral-ledger host example", lifespan=lifespan)

    @app.exception_handler(LedgerError)
    async def refused(request: Request, error: Exception) -> Response:
        assert isinstance(error, LedgerError)
        status = next((s for cls, s in STATUS.items() if isinstance(error, cls)), 400)
        if request.url.path.startswith("/admin"):
            return error_page(ledger, error, status)
        return JSONResponse({"error": type(error).__name__, "detail": str(error)}, status)

    app.include_router(admin_router(ledger))

    # Plain `def` endpoints: FastAPI runs them in a thread pool, so the
    # ledger's blocking I/O never stalls the event loop.
    @app.post("/referrals", status_code=201)
    def submit_referral(body: ReferralIn) -> dict[str, Any]:
        referral_id = ledger.submit_referral(**body.model_dump())
        return {"referral_id": str(referral_id)}

    @app.post("/purchases", status_code=201)
    def record_purchase(body: PurchaseIn) -> dict[str, Any]:
        points = ledger.record_purchase(**body.model_dump())
        return {"points": points, "balance": ledger.balance(body.customer_id)}

    @app.post("/redemptions", status_code=201)
    def redeem_points(body: RedemptionIn) -> dict[str, Any]:
        value = ledger.redeem_points(**body.model_dump())
        return {"value": str(value), "balance": ledger.balance(body.customer_id)}

    @app.get("/leads")
    def leads(
        status: str | None = None,
        program: str | None = None,
        search: str | None = None,
        sort_by: str = "submitted_at",
        descending: bool = True,
        limit: int = 50,
        offset: int = 0,
        *,
        response: Response,
    ) -> list[dict[str, Any]]:
        rows = ledger.lead_table(status, program, search, sort_by, descending, limit, offset)
        # A pager needs the total under the same filters: in a header, so the
        # body stays the list it always was.
        response.headers[TOTAL_HEADER] = str(ledger.count_leads(status, program, search))
        return plain(rows)

    @app.get("/customers")
    def customers(
        search: str | None = None,
        tag: str | None = None,
        group: str | None = None,
        level: str | None = None,
        limit: int = 50,
        offset: int = 0,
        *,
        response: Response,
    ) -> list[dict[str, Any]]:
        rows = ledger.customers(search, tag, group, level=level, limit=limit, offset=offset)
        total = ledger.count_customers(search, tag, group, level=level)
        response.headers[TOTAL_HEADER] = str(total)
        return plain(rows)

    return app


def plain(rows: list[Any]) -> list[dict[str, Any]]:
    """Rows as JSON objects; money as a string: JSON numbers would go through a float."""
    return [
        {k: str(v) if isinstance(v, Decimal) else v for k, v in row.items()}
        for row in records(rows)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default="referral-ledger.db", help="a SQLite path or ledger URL")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    uvicorn.run(create_app(ledger_url(args.db)), host=args.host, port=args.port)


if __name__ == "__main__":
    main()
