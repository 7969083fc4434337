"""The campaign commands: `campaigns` (the list) and `leaderboard ID` (the race)."""

from __future__ import annotations

import argparse
from datetime import tzinfo

from referral_ledger.cli.base import open_ledger
from referral_ledger.cli.render import Column, _day, emit
from referral_ledger.commands.campaigns import LeaderboardRow
from referral_ledger.policies.campaigns import Campaign


def campaign_columns(zone: tzinfo) -> list[Column]:
    day = _day(zone)
    return [
        ("Campaign", lambda c: c.campaign_id, "left"),
        ("Name", lambda c: c.name, "left"),
        ("Starts", lambda c: day(c.starts_at), "left"),
        ("Ends", lambda c: day(c.ends_at), "left"),
        ("Multiplier", lambda c: c.multiplier, "right"),
        ("Bonus", lambda c: c.bonus_points, "right"),
        ("Every Nth", lambda c: c.every_nth_purchase, "right"),
        ("Min amount", lambda c: c.min_amount, "right"),
        ("Per customer", lambda c: c.per_customer_limit, "right"),
        ("Budget", lambda c: c.budget_points, "right"),
    ]


LEADERBOARD_COLUMNS: list[Column] = [
    ("Rank", lambda r: r.rank, "right"),
    ("Customer", lambda r: r.name, "left"),
    ("Points", lambda r: r.points, "right"),
    ("Customer id", lambda r: r.customer_id, "left"),
]


def run_campaigns(args: argparse.Namespace) -> int:
    with open_ledger(args.db) as ledger:
        rows: list[Campaign] = ledger.campaigns(active_at=args.active_at)
        zone = ledger.business_timezone
        title = "Campaigns" if args.active_at is None else f"Campaigns running at {args.active_at}"
        emit(args.format, rows, campaign_columns(zone), title, zone=zone)
    return 0


def run_leaderboard(args: argparse.Namespace) -> int:
    with open_ledger(args.db) as ledger:
        rows: list[LeaderboardRow] = ledger.campaign_leaderboard(args.campaign, limit=args.limit)
        zone = ledger.business_timezone
        emit(args.format, rows, LEADERBOARD_COLUMNS, f"Leaderboard of {args.campaign}", zone=zone)
    return 0
