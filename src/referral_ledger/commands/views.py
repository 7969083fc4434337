"""Queries answered by the read models, and keeping them current."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from uuid import UUID

from referral_ledger.aggregates.referral import ReferralStatus
from referral_ledger.commands.base import LedgerBase
from referral_ledger.errors import InvalidInput
from referral_ledger.projections.leads import ConversionRow, HistoryRow, LeadRow
from referral_ledger.projections.queries import MAX_OFFSET
from referral_ledger.projections.storage import SORTABLE
from referral_ledger.reactions import JOBS
from referral_ledger.values import parse_id, parse_optional_text, parse_optional_time

MAX_PAGE = 1000


class ViewQueries(LedgerBase):
    """The lead table, referral history and conversion per sales rep."""

    def lead_table(
        self,
        status: ReferralStatus | str | None = None,
        program: str | None = None,
        search: str | None = None,
        sort_by: str = "submitted_at",
        descending: bool = True,
        limit: int = 50,
        offset: int = 0,
    ) -> list[LeadRow]:
        """Referrals as rows: filter by status and program, search, sort, page.

        `search` matches contact name, email, business name or website, ignoring
        case and accents (`nguyen` finds `Nguyễn`, `dang` finds `Đặng`), or the
        phone in any spelling or part of one (`0975 500 600`, `500600`).
        """
        wanted = parse_status(status)
        program_name = parse_optional_text(program, "program")
        term = parse_optional_text(search, "search")
        if not isinstance(sort_by, str) or sort_by not in SORTABLE:
            raise InvalidInput(f"sort_by must be one of {sorted(SORTABLE)}, not {sort_by!r}")
        if not isinstance(descending, bool):
            raise InvalidInput(f"descending must be True or False, not {descending!r}")
        for name, value, low in (("limit", limit, 1), ("offset", offset, 0)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise InvalidInput(f"{name} must be an int >= {low}, not {value!r}")
        if limit > MAX_PAGE:
            raise InvalidInput(f"limit must be at most {MAX_PAGE}, not {limit}")
        if offset > MAX_OFFSET:  # the store's own error would be a driver's
            raise InvalidInput(
                f"offset must be at most {MAX_OFFSET} (the store's largest), not {offset}"
            )
        self.catch_up_projections()
        return self._views.lead_table(
            status=wanted,
            program=program_name,
            search=term,
            sort_by=sort_by,
            descending=descending,
            limit=limit,
            offset=offset,
            region=self.phone_region,
        )

    def referral_history(self, referrer_id: UUID) -> list[HistoryRow]:
        """The referrer's rewarded referrals: date, plan, reward, and the revenue
        of the referred customer (purchases minus returns), oldest first."""
        referrer = parse_id(referrer_id, "referrer_id")
        self.catch_up_projections()
        return self._views.referral_history(referrer)

    def conversion_by_rep(
        self, since: datetime | None = None, until: datetime | None = None
    ) -> list[ConversionRow]:
        """Leads → contacts → customers per sales rep, for referrals submitted
        from `since` (inclusive) to `until` (exclusive)."""
        start = parse_optional_time(since, "since")
        end = parse_optional_time(until, "until")
        self.catch_up_projections()
        return self._views.conversion_by_rep(start, end)

    def rebuild_projections(self, progress: Callable[[int, int], None] | None = None) -> int:
        """Drop every view and replay it from the log; returns the events replayed.

        `progress(position, last_position)` is called after each batch. The
        due index is folded again too (its events are not counted).
        """
        if progress is not None and not callable(progress):
            raise InvalidInput(f"progress must be a function or None, not {progress!r}")
        replayed = self._views.rebuild(progress=progress)
        for job in JOBS:
            if job.schedule is not None:
                self._context.due_index.rebuild(job)
        return replayed

    def catch_up_projections(self) -> int:
        """Bring the views up to the newest event (queries do this by themselves)."""
        return self._views.catch_up()


def parse_status(status: ReferralStatus | str | None) -> ReferralStatus | None:
    """A lead status as given (enum or its value), or `InvalidInput` naming it."""
    if status is None or isinstance(status, ReferralStatus):
        return status
    try:
        return ReferralStatus(status)
    except ValueError:
        raise InvalidInput(
            f"status must be one of {[s.value for s in ReferralStatus]}, not {status!r}"
        ) from None
