"""The reaction registry: a registered reaction runs once per event of its
trigger types, right after whichever command recorded one (react_inline=True)
or when a worker calls `process_reactions` (react_inline=False). No command
calls it: a points purchase triggers a reaction to points as a customer
command triggers the automatic reward.

The reactions are toys from `toy_jobs.py`; the ledger's own (the automatic
reward) is pinned end to end in test_referral_reactions.py.
"""

from __future__ import annotations

from decimal import Decimal
from uuid import UUID

from eventsourcing.persistence import Tracking

import toy_jobs
from referral_ledger import Ledger, LoyaltyProgram
from referral_ledger.aggregates import loyalty
from referral_ledger.aggregates.customer import CustomerRegistered
from referral_ledger.aggregates.loyalty import PointsEarned
from referral_ledger.reactions import REACTIONS, Reaction
from referral_ledger.reactions.referrals import AUTOMATIC_REWARDS


def notes(ledger: Ledger, record: UUID) -> toy_jobs.Notes:
    found = toy_jobs.notes_of(ledger, record)
    return found or toy_jobs.Notes(toy_jobs.notes_id(record), 0)


def test_the_automatic_reward_is_the_first_entry_under_its_01_tracking_name() -> None:
    # Stores written by 0.1 keep their position under this name.
    assert "automatic-rewards" == AUTOMATIC_REWARDS
    assert AUTOMATIC_REWARDS == next(iter(REACTIONS)).name


def test_a_registered_reaction_runs_once_right_after_the_command(store_url: str) -> None:
    with toy_jobs.registered(toy_jobs.WELCOME), Ledger.open(store_url) as ledger:
        cid = ledger.register_customer("An", ["0912 345 678"])
        assert 1 == notes(ledger, cid).welcomes
        assert 0 == ledger.process_reactions()
        ledger.update_customer(cid, name="Bình")  # not a trigger
        assert 1 == notes(ledger, cid).welcomes


def test_with_react_inline_false_only_process_reactions_runs_it(store_url: str) -> None:
    with toy_jobs.registered(toy_jobs.WELCOME), Ledger.open(store_url, react_inline=False) as web:
        cid = web.register_customer("An", ["0912 345 678"])
        assert 0 == notes(web, cid).welcomes
        handled = web.process_reactions()
        assert 1 == notes(web, cid).welcomes
        assert 2 <= handled  # the automatic reward saw the phone claim, the toy the registration
        assert 0 == web.process_reactions()
        assert 1 == notes(web, cid).welcomes


def test_a_reaction_to_points_runs_after_a_purchase(store_url: str) -> None:
    """Any command recording a trigger type runs the reaction: no hook to call."""
    follow_points = Reaction("toy-points", (PointsEarned,), toy_jobs.note)
    with toy_jobs.registered(follow_points), Ledger.open(store_url) as ledger:
        ledger.configure_loyalty(LoyaltyProgram(money_per_point=10000, point_value=1000))
        cid = ledger.register_customer("An", ["0912 345 678"])
        ledger.record_purchase(cid, invoice_id="INV-1", amount=Decimal(250_000))
        assert 1 == notes(ledger, loyalty.account_id(cid)).noted


def test_a_reaction_to_another_reactions_events_runs_in_the_same_command(
    store_url: str,
) -> None:
    """The follower is registered first, so only the loop over what reactions
    record (not the registry's order) can run it before the command returns."""
    follow_welcomes = Reaction("toy-follow-welcomes", (toy_jobs.Welcomed,), toy_jobs.note)
    with (
        toy_jobs.registered(follow_welcomes, toy_jobs.WELCOME),
        Ledger.open(store_url) as ledger,
    ):
        cid = ledger.register_customer("An", ["0912 345 678"])
        welcomed = notes(ledger, cid)
        assert 1 == welcomed.welcomes
        assert 1 == notes(ledger, toy_jobs.notes_id(cid)).noted
        assert 0 == ledger.process_reactions()


def test_a_reaction_that_already_handled_an_event_does_not_handle_it_again(
    sqlite_url: str,
) -> None:
    """The tracking row is the promise: a position saved by another process is
    never handled again here."""
    with toy_jobs.registered(toy_jobs.WELCOME):
        with Ledger.open(sqlite_url, react_inline=False) as web:
            cid = web.register_customer("An", ["0912 345 678"])
            position = web.event_count()
            # Another process handled everything up to here (and recorded its welcome elsewhere).
            web._store.recorder.insert_tracking(Tracking("toy-welcome", position))
        with Ledger.open(sqlite_url) as ledger:
            assert 0 == notes(ledger, cid).welcomes
            assert [] == [
                e for e in ledger._store.events_of(cid) if not isinstance(e, CustomerRegistered)
            ]
