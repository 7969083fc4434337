"""The campaign leaderboard: each racer's points in a campaign, folded from its record.

Pure: every event that changes a race carries the customer's new total, so a
row is written from the event alone (no read), and a view kept live and one
rebuilt from the log are the same rows. `reached` is the campaign record's
version at which the total last changed: the tie-breaker (who reached the
figure first ranks first).
"""

from __future__ import annotations

from typing import Final, NamedTuple, Protocol

from referral_ledger.aggregates.campaign import CampaignPointsReturned, CampaignPurchaseCounted

#: The events the leaderboard is folded from.
LEADERBOARD_EVENTS: Final = (CampaignPurchaseCounted, CampaignPointsReturned)


class Standing(NamedTuple):
    """A leaderboard row as stored."""

    campaign_id: str
    customer: str  # the customer's id, as 32 lower-case hex digits
    points: int
    reached: int


def standing(event: CampaignPurchaseCounted | CampaignPointsReturned) -> Standing:
    """The row the event leaves behind."""
    return Standing(event.campaign_id, event.customer_id.hex, event.total, event.originator_version)


class LeaderboardRecords(Protocol):
    """Where the fold writes leaderboard rows."""

    def put_standing(self, row: Standing) -> None: ...
