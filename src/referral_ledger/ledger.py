"""The `Ledger`: what a host application calls.

Every command validates its arguments first, then runs as one unit of work:
load the records it needs, decide (pure functions in `aggregates/`), save the
resulting events in one transaction. A conflict with another writer re-runs
the unit from fresh state; nothing partial is ever stored. The commands live
in `commands/`, one module per area; this class opens the store and joins them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime, tzinfo
from types import TracebackType
from typing import Literal, Self

import phonenumbers

from referral_ledger.commands.base import VIETNAM, record_ids
from referral_ledger.commands.campaigns import CampaignCommands
from referral_ledger.commands.customers import CustomerCommands
from referral_ledger.commands.loyalty import LoyaltyCommands
from referral_ledger.commands.referrals import ReferralCommands
from referral_ledger.commands.views import ViewQueries
from referral_ledger.errors import InvalidInput
from referral_ledger.persistence.errors import store_errors
from referral_ledger.projections.storage import ViewStore
from referral_ledger.reactions import Context
from referral_ledger.reactions.due import process_due
from referral_ledger.reactions.follow import Reactions
from referral_ledger.store import (
    DEFAULT_CACHE_SIZE,
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_SNAPSHOT_INTERVAL,
    Store,
    environment_for,
    open_store,
)
from referral_ledger.store.environment import redacted
from referral_ledger.values import DEFAULT_REGION, now, parse_flag, parse_time


class Ledger(LoyaltyCommands, CustomerCommands, ReferralCommands, CampaignCommands, ViewQueries):
    """A referral and loyalty ledger kept as an immutable, replayable event log."""

    def __init__(
        self,
        store: Store,
        *,
        phone_region: str = DEFAULT_REGION,
        business_timezone: tzinfo = VIETNAM,
        react_inline: bool = True,
        views_in_memory: bool = False,
    ) -> None:
        """Use :meth:`Ledger.open`; this wires an already opened store."""
        self._store = store
        # Before anything else is recorded: a new encrypted store takes keyed ids.
        self._ids = record_ids(store)
        self._views = ViewStore(store, in_memory=views_in_memory)
        self.phone_region = phone_region
        self.business_timezone = business_timezone
        self.react_inline = react_inline
        self._context = Context(store, phone_region, business_timezone, self._ids)
        self._reactions = Reactions(self._context)
        if react_inline:
            # After each commit, the reactions that follow what it recorded.
            store.listeners.append(self._reactions.committed)
            # A process that died after a contract but before its reward left
            # the reaction behind; whoever opens the ledger next completes it.
            self.process_reactions()

    # --- opening -----------------------------------------------------------

    @classmethod
    def open(
        cls,
        url: str = "memory://",
        *,
        cipher_key: str | None = None,
        compress: bool = False,
        snapshot_interval: int = DEFAULT_SNAPSHOT_INTERVAL,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        cache_size: int = DEFAULT_CACHE_SIZE,
        phone_region: str = DEFAULT_REGION,
        clock: Callable[[], datetime] | None = None,
        business_timezone: tzinfo = VIETNAM,
        react_inline: bool = True,
        views: Literal["store", "memory"] | None = None,
    ) -> Ledger:
        """Open (creating if needed) the ledger stored at `url`.

        `memory://` keeps everything in this process; `sqlite:///PATH` is an
        embedded file; `postgresql://USER:PW@HOST:PORT/DB[?schema=NAME]` is the
        production store. `cipher_key` (from :meth:`create_cipher_key`)
        encrypts events at rest; `compress` zlib-compresses them. A snapshot is
        taken every `snapshot_interval` events of a record (0: never).
        The newest `cache_size` record states this process read or wrote are
        kept in memory, so loading one again reads only the events recorded
        after it (0: no cache); it never hides another process's writes.
        `business_timezone` decides which calendar day a time falls on (contracts
        are signed for days); Vietnam (UTC+7) by default. With
        `react_inline=False`, automatic rewards wait for :meth:`run_worker` or
        :meth:`process_reactions` instead of following each customer command.
        `views` says where the read models live: "store" (tables beside the
        events, shared by every process) or "memory" (this process only, built
        from the log when first queried, never written to disk). The default
        is "store", and "memory" with a `cipher_key`: the views hold lead
        contact details in clear so SQL can search them, and an encrypted
        store should not keep them at rest.
        """
        if isinstance(snapshot_interval, bool) or not isinstance(snapshot_interval, int):
            raise InvalidInput(f"snapshot_interval must be an int, not {snapshot_interval!r}")
        if snapshot_interval < 0:
            raise InvalidInput(f"snapshot_interval must not be negative: {snapshot_interval}")
        if isinstance(max_attempts, bool) or not isinstance(max_attempts, int) or max_attempts < 1:
            raise InvalidInput(f"max_attempts must be a positive int, not {max_attempts!r}")
        if isinstance(cache_size, bool) or not isinstance(cache_size, int) or cache_size < 0:
            raise InvalidInput(f"cache_size must be an int >= 0, not {cache_size!r}")
        if not isinstance(phone_region, str) or phone_region not in phonenumbers.SUPPORTED_REGIONS:
            raise InvalidInput(
                f"phone_region must be a two-letter region code such as 'VN': {phone_region!r}"
            )
        _check_cipher_key(cipher_key)
        if not isinstance(business_timezone, tzinfo):
            raise InvalidInput(f"business_timezone must be a tzinfo, not {business_timezone!r}")
        env = environment_for(url, cipher_key=cipher_key, compress=parse_flag(compress, "compress"))
        react = parse_flag(react_inline, "react_inline")
        in_memory = _views_in_memory(views, encrypted=cipher_key is not None)
        store = open_store(
            url,
            env,
            clock=clock or now,
            snapshot_interval=snapshot_interval,
            max_attempts=max_attempts,
            cache_size=cache_size,
        )
        try:
            # Setting up the views and finishing reactions also use the store.
            with store_errors(f"cannot open the ledger at {redacted(url)}"):
                return cls(
                    store,
                    phone_region=phone_region,
                    business_timezone=business_timezone,
                    react_inline=react,
                    views_in_memory=in_memory,
                )
        except BaseException:
            store.app.close()
            raise

    @staticmethod
    def create_cipher_key() -> str:
        """A new random AES-256 key for `Ledger.open(cipher_key=...)`. Keep it safe."""
        from eventsourcing.cryptography import AESCipher

        return AESCipher.create_key(num_bytes=32)

    def close(self) -> None:
        """Release the store's connections."""
        self._views.close()
        self._store.app.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def stats(self) -> object:
        """Command counts since opening: attempts, conflicts retried and surfaced."""
        return self._store.stats

    def event_count(self) -> int:
        """The position of the newest event in the log (0 for an empty ledger).

        It grows whenever anything is recorded, so "before == after" shows that
        a command recorded nothing. On PostgreSQL it is not a count: a save
        that lost a race leaves a gap in the positions.
        """
        return self._store.last_position()

    # --- what the ledger does by itself (see reactions/) ------------------------

    def process_reactions(self) -> int:
        """Run every reaction (the automatic rewards) over the triggers not yet handled.

        Returns how many triggers were handled. Runs by itself after the
        commands that record a trigger unless the ledger was opened with
        `react_inline=False`; then a worker calls this (see `run_worker`).
        """
        return self._reactions.process()

    def process_due(self, now: datetime | None = None) -> int:
        """Record every time-driven change due by `now` (None: the clock); returns how many.

        Each due item of each registered job is handled exactly once, however
        many processes call this at once; calling again records nothing more.
        `now` in the past handles only what was due by then; in the future,
        what will be due by then (recorded now, dated when it falls due).
        """
        when = self._store.clock() if now is None else parse_time(now, "now")
        return process_due(self._context, when)

    def run_worker(self, stop: threading.Event | None = None, poll_interval: float = 0.5) -> None:
        """Keep reactions, due jobs and views current until `stop` is set (or forever).

        For deployments that open the ledger with `react_inline=False` and run
        this in a process of its own; several workers may run at once, and
        each event and each due item is still handled exactly once.
        """
        stop = stop or threading.Event()
        while not stop.is_set():
            busy = self.process_reactions() + self.process_due() + self.catch_up_projections()
            if not busy:
                stop.wait(poll_interval)


def _check_cipher_key(key: object) -> None:
    """A key from `create_cipher_key`, or None; the message never shows the key."""
    if key is None:
        return
    if not isinstance(key, str) or not key:
        raise InvalidInput(
            f"cipher_key must be a key from Ledger.create_cipher_key(), not a {type(key).__name__}"
        )
    from eventsourcing.cryptography import AESCipher
    from eventsourcing.utils import Environment

    try:
        AESCipher(Environment(env={AESCipher.CIPHER_KEY: key}))
    except Exception as error:
        raise InvalidInput(
            f"cipher_key is not a key from Ledger.create_cipher_key(): {type(error).__name__}"
        ) from None


def _views_in_memory(views: object, *, encrypted: bool) -> bool:
    if views is None:
        return encrypted
    if views not in ("store", "memory"):
        raise InvalidInput(f'views must be "store" or "memory", not {views!r}')
    return views == "memory"
