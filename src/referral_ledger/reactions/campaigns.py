"""The job that closes campaigns whose window is over (`process_due`).

Closing records `CampaignClosed` with the final ranking on the campaign's
record, so the result of the race is part of the log. An item per campaign,
due at its end (or its early end), keyed by the campaign id; `due.py`
handles it exactly once from any number of processes.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from referral_ledger.aggregates import campaign as campaigns
from referral_ledger.aggregates.campaign import CAMPAIGN_BOOK_ID, CampaignState
from referral_ledger.reactions.registry import Context, job
from referral_ledger.store import UnitOfWork


def campaigns_ending(context: Context, now: datetime) -> Iterable[tuple[datetime, str]]:
    """Each open campaign's end (its early end, if ended early)."""
    store = context.store
    book = store.load(CAMPAIGN_BOOK_ID, campaigns.evolve_book)
    if book is None:
        return []
    ids = {campaigns.campaign_record_id(c, context.ids): c for c in book.campaigns}
    states = store.load_many(dict.fromkeys(ids, campaigns.evolve_campaign))
    return [
        (campaigns.closes_at(state), state.campaign.campaign_id)
        for state in states.values()
        if isinstance(state, CampaignState) and not state.closed
    ]


def close_campaign(unit: UnitOfWork, key: str, due_at: datetime, context: Context) -> None:
    unit.take_turn(campaigns.turn_key(key))
    state = unit.load(campaigns.campaign_record_id(key, context.ids), campaigns.evolve_campaign)
    if state is None or campaigns.closes_at(state) != due_at:
        # Ended earlier since the item was listed: its own item (keyed the same,
        # due at the early end) was or will be handled instead.
        return
    unit.record(campaigns.close(state, due_at, unit.now))


job("close-campaigns", due=campaigns_ending, handle=close_campaign)
