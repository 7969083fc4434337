"""The `Ledger`: what a host application calls.

Every command validates its arguments first, then runs as one unit of work:
load the records it needs, decide (pure functions in `aggregates/`), save the
resulting events in one transaction. A conflict with another writer re-runs
the unit from fresh state; nothing partial is ever stored. The commands live
in `commands/`, one group object per area, each built with the one context
they share; this class opens the store, builds the groups, and shows each
group's public methods as its own (`commands/delegate.py`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import datetime, tzinfo
from types import TracebackType
from typing import Any, Literal, Self

from referral_ledger.audit import AuditReport, audit
from referral_ledger.chain import ChainHead
from referral_ledger.commands.base import VIETNAM, record_ids
from referral_ledger.commands.campaigns import CampaignCommands
from referral_ledger.commands.context import LedgerContext
from referral_ledger.commands.crm import CrmCommands
from referral_ledger.commands.customers import CustomerCommands
from referral_ledger.commands.delegate import Delegate
from referral_ledger.commands.directory import DirectoryQueries
from referral_ledger.commands.import_workers import reopen_settings
from referral_ledger.commands.referral_codes import ReferralCodeCommands
from referral_ledger.commands.referrals import ReferralCommands
from referral_ledger.commands.sales import SalesCommands
from referral_ledger.commands.voucher_import import VoucherImportCommands
from referral_ledger.commands.vouchers import VoucherCommands
from referral_ledger.commands.worker import Worker
from referral_ledger.errors import InvalidInput
from referral_ledger.options import checked_options, open_store_with
from referral_ledger.persistence.errors import store_errors
from referral_ledger.projections.background import BackgroundCatchUp
from referral_ledger.projections.storage import ViewStore
from referral_ledger.store import (
    DEFAULT_CACHE_SIZE,
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_SNAPSHOT_INTERVAL,
    Store,
)
from referral_ledger.store.environment import redacted
from referral_ledger.values import DEFAULT_REGION


class Ledger:
    """A referral and loyalty ledger kept as an immutable, replayable event log."""

    def __init__(
        self,
        store: Store,
        *,
        phone_region: str = DEFAULT_REGION,
        business_timezone: tzinfo = VIETNAM,
        react_inline: bool = True,
        views_in_memory: bool = False,
        background_views: bool = False,
    ) -> None:
        """Use :meth:`Ledger.open`; this wires an already opened store."""
        self._store = store
        # Before anything else is recorded: a new encrypted store takes keyed ids.
        self._ids = record_ids(store)
        self._views = ViewStore(store, in_memory=views_in_memory)
        context = LedgerContext(
            store, self._views, self._ids, phone_region, business_timezone, react_inline
        )
        context.reopen = self._reopener
        self._context = context
        # One object per area; a group that needs another is given it.
        self._customers = CustomerCommands(context)
        self._loyalty = SalesCommands(context)
        self._referrals = ReferralCommands(context)
        self._crm = CrmCommands(context)
        self._vouchers = VoucherCommands(context)
        self._voucher_import = VoucherImportCommands(context)
        self._referral_codes = ReferralCodeCommands(context)
        self._campaigns = CampaignCommands(context)
        self._lead_views = DirectoryQueries(context, crm=self._crm)
        self._worker = Worker(context, views=self._lead_views)
        self._worker.start()
        #: Folds the views behind this process's commits (None: only queries do).
        self._background: BackgroundCatchUp | None = None
        if background_views:
            views = self._views
            self._background = BackgroundCatchUp(views.catch_up_behind)
            store.listeners.append(self._background.committed)

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
        group_commit: bool = True,
        background_views: bool = True,
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
        With `group_commit` (the default), commands that threads of this process
        run at once are saved together in one transaction, each returning once
        it is committed (see docs/performance.md); False saves each alone.
        With `background_views` (the default), a thread of the ledger folds
        this process's commits into the views as they happen, so a query after
        a burst of commands has little left to catch up (queries still catch
        up first: they see every command that returned before them); False
        leaves the folding to the queries. :meth:`close` stops the thread.
        A memory:// store never starts it: its one shared-cache database
        locks whole tables, so a fold there would refuse the commands' writes.
        """
        options = checked_options(
            url,
            cipher_key=cipher_key,
            compress=compress,
            snapshot_interval=snapshot_interval,
            max_attempts=max_attempts,
            cache_size=cache_size,
            phone_region=phone_region,
            clock=clock,
            business_timezone=business_timezone,
            react_inline=react_inline,
            views=views,
            group_commit=group_commit,
            background_views=background_views,
        )
        store = open_store_with(options.store)
        try:
            # Setting up the views and finishing reactions also use the store.
            with store_errors(f"cannot open the ledger at {redacted(url)}"):
                return cls(store, **options.ledger)
        except BaseException:
            store.app.close()
            raise

    def _reopener(self) -> Callable[[], Ledger]:
        """How a worker process opens this ledger: its store and settings, picklable."""
        return functools.partial(
            _reopened,
            reopen_settings(self._store),
            {
                "phone_region": self.phone_region,
                "business_timezone": self.business_timezone,
                "react_inline": self.react_inline,
                "views_in_memory": self._views.in_memory(),
            },
        )

    @staticmethod
    def create_cipher_key() -> str:
        """A new random AES-256 key for `Ledger.open(cipher_key=...)`. Keep it safe."""
        from eventsourcing.cryptography import AESCipher

        return AESCipher.create_key(num_bytes=32)

    def close(self) -> None:
        """Stop the background catch-up and release the store's connections."""
        background, self._background = self._background, None
        if background is not None:
            # First: its round uses the connections about to be closed.
            self._store.listeners.remove(background.committed)
            background.close()
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

    def audit(
        self,
        progress: Callable[[int, int], None] | None = None,
        *,
        anchor: ChainHead | str | None = None,
    ) -> AuditReport:
        """Check the whole store: the log's integrity (its hash chain and every
        record's versions), the ledger's invariants, and the views against a rebuild.

        `anchor` is the `chain_head` of an earlier report (or its text,
        `POSITION:HEX`), kept outside the store: the chain must still hold it.
        See docs/audits.md.
        """
        if isinstance(anchor, str):
            try:
                anchor = ChainHead.parse(anchor)
            except ValueError:
                raise InvalidInput(f"anchor must be POSITION:HEX: {anchor!r}") from None
        elif anchor is not None and not isinstance(anchor, ChainHead):
            raise InvalidInput(f"anchor must be a ChainHead or POSITION:HEX: {anchor!r}")
        if progress is not None and not callable(progress):
            raise InvalidInput(f"progress must be callable: {progress!r}")
        return audit(self, progress, anchor=anchor)

    # --- settings (read by every group through the shared context) ------------

    @property
    def phone_region(self) -> str:
        """The region phone numbers without a country code are read in ("VN")."""
        return self._context.phone_region

    @phone_region.setter
    def phone_region(self, region: str) -> None:
        self._context.phone_region = region

    @property
    def business_timezone(self) -> tzinfo:
        """The time zone that decides which calendar day a moment falls on."""
        return self._context.business_timezone

    @business_timezone.setter
    def business_timezone(self, zone: tzinfo) -> None:
        self._context.business_timezone = zone

    @property
    def react_inline(self) -> bool:
        """Whether reactions run right after the commands that trigger them."""
        return self._context.react_inline

    @react_inline.setter
    def react_inline(self, inline: bool) -> None:
        self._context.react_inline = inline

    # --- customers (commands/customers.py) ------------------------------------

    register_customer = Delegate("_customers", CustomerCommands.register_customer)
    update_customer = Delegate("_customers", CustomerCommands.update_customer)
    sync_customer_from_pos = Delegate("_customers", CustomerCommands.sync_customer_from_pos)
    import_customers = Delegate("_customers", CustomerCommands.import_customers)
    sign_contract = Delegate("_customers", CustomerCommands.sign_contract)
    get_customer = Delegate("_customers", CustomerCommands.get_customer)
    find_customer_by_phone = Delegate("_customers", CustomerCommands.find_customer_by_phone)
    find_customers_by_phone = Delegate("_customers", CustomerCommands.find_customers_by_phone)
    find_customer_by_external_id = Delegate(
        "_customers", CustomerCommands.find_customer_by_external_id
    )
    contract_in_force = Delegate("_customers", CustomerCommands.contract_in_force)

    # --- referrals (commands/referrals.py) ------------------------------------

    configure_referrals = Delegate("_referrals", ReferralCommands.configure_referrals)
    referral_program = Delegate("_referrals", ReferralCommands.referral_program)
    submit_referral = Delegate("_referrals", ReferralCommands.submit_referral)
    assign_rep = Delegate("_referrals", ReferralCommands.assign_rep)
    start_referral = Delegate("_referrals", ReferralCommands.start_referral)
    reward_referral = Delegate("_referrals", ReferralCommands.reward_referral)
    mark_ineligible = Delegate("_referrals", ReferralCommands.mark_ineligible)
    get_referral = Delegate("_referrals", ReferralCommands.get_referral)

    # --- staff, owner assignment, customer fields, origins (commands/crm.py) ----

    add_staff = Delegate("_crm", CrmCommands.add_staff)
    update_staff = Delegate("_crm", CrmCommands.update_staff)
    staff = Delegate("_crm", CrmCommands.staff)
    departments = Delegate("_crm", CrmCommands.departments)
    set_assignment_rule = Delegate("_crm", CrmCommands.set_assignment_rule)
    remove_assignment_rule = Delegate("_crm", CrmCommands.remove_assignment_rule)
    assignment_rules = Delegate("_crm", CrmCommands.assignment_rules)
    configure_customer_fields = Delegate("_crm", CrmCommands.configure_customer_fields)
    customer_field_settings = Delegate("_crm", CrmCommands.customer_field_settings)
    add_source = Delegate("_crm", CrmCommands.add_source)
    sources = Delegate("_crm", CrmCommands.sources)

    # --- loyalty points (commands/loyalty.py, readings in commands/points.py) ---

    configure_loyalty = Delegate("_loyalty", SalesCommands.configure_loyalty)
    loyalty_program = Delegate("_loyalty", SalesCommands.loyalty_program)
    record_purchase = Delegate("_loyalty", SalesCommands.record_purchase)
    import_purchases = Delegate("_loyalty", SalesCommands.import_purchases)
    redeem_points = Delegate("_loyalty", SalesCommands.redeem_points)
    return_purchase = Delegate("_loyalty", SalesCommands.return_purchase)
    balance = Delegate("_loyalty", SalesCommands.balance)
    statement = Delegate("_loyalty", SalesCommands.statement)
    points_summary = Delegate("_loyalty", SalesCommands.points_summary)
    loyalty_account = Delegate("_loyalty", SalesCommands.loyalty_account)
    expiring_points = Delegate("_loyalty", SalesCommands.expiring_points)
    checkout = Delegate("_loyalty", SalesCommands.checkout)

    # --- campaigns (commands/campaigns.py) ------------------------------------

    add_campaign = Delegate("_campaigns", CampaignCommands.add_campaign)
    end_campaign = Delegate("_campaigns", CampaignCommands.end_campaign)
    campaigns = Delegate("_campaigns", CampaignCommands.campaigns)
    campaign_leaderboard = Delegate("_campaigns", CampaignCommands.campaign_leaderboard)

    # --- vouchers (commands/vouchers.py) --------------------------------------

    create_voucher = Delegate("_vouchers", VoucherCommands.create_voucher)
    update_voucher = Delegate("_vouchers", VoucherCommands.update_voucher)
    get_voucher = Delegate("_vouchers", VoucherCommands.get_voucher)
    check_voucher = Delegate("_vouchers", VoucherCommands.check_voucher)
    voucher_audience = Delegate("_vouchers", VoucherCommands.voucher_audience)
    vouchers = Delegate("_vouchers", VoucherCommands.vouchers)
    import_vouchers = Delegate("_voucher_import", VoucherImportCommands.import_vouchers)

    # --- referral codes and commissions (commands/referral_codes.py) ---------

    configure_referral_codes = Delegate(
        "_referral_codes", ReferralCodeCommands.configure_referral_codes
    )
    referral_code_program = Delegate("_referral_codes", ReferralCodeCommands.referral_code_program)
    referral_code = Delegate("_referral_codes", ReferralCodeCommands.referral_code)
    referral_code_owner = Delegate("_referral_codes", ReferralCodeCommands.referral_code_owner)
    referred_by = Delegate("_referral_codes", ReferralCodeCommands.referred_by)
    commissions = Delegate("_referral_codes", ReferralCodeCommands.commissions)
    pay_commissions = Delegate("_referral_codes", ReferralCodeCommands.pay_commissions)

    # --- read models (commands/views.py) --------------------------------------

    lead_table = Delegate("_lead_views", DirectoryQueries.lead_table)
    count_leads = Delegate("_lead_views", DirectoryQueries.count_leads)
    referral_history = Delegate("_lead_views", DirectoryQueries.referral_history)
    conversion_by_rep = Delegate("_lead_views", DirectoryQueries.conversion_by_rep)
    department_members = Delegate("_lead_views", DirectoryQueries.department_members)
    customers = Delegate("_lead_views", DirectoryQueries.customers)
    count_customers = Delegate("_lead_views", DirectoryQueries.count_customers)
    purchases = Delegate("_lead_views", DirectoryQueries.purchases)
    add_note = Delegate("_lead_views", DirectoryQueries.add_note)
    rebuild_projections = Delegate("_lead_views", DirectoryQueries.rebuild_projections)
    catch_up_projections = Delegate("_lead_views", DirectoryQueries.catch_up_projections)

    # --- what the ledger does by itself (commands/worker.py, reactions/) ------

    process_reactions = Delegate("_worker", Worker.process_reactions)
    process_due = Delegate("_worker", Worker.process_due)
    run_worker = Delegate("_worker", Worker.run_worker)


def _reopened(store: dict[str, Any], settings: dict[str, Any]) -> Ledger:
    """The ledger `Ledger._reopener` describes, opened in this process."""
    opened = open_store_with(store)
    try:
        return Ledger(opened, **settings)
    except BaseException:
        opened.app.close()
        raise
