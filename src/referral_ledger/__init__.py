"""referral-ledger: customer referrals and loyalty points as an immutable,
replayable event log. Everything a host application needs is importable
from here."""

from referral_ledger.aggregates.customer_record import Contract
from referral_ledger.aggregates.referral import (
    EXPECTED_NEXT,
    Lead,
    Referral,
    ReferralStatus,
    TimelineEntry,
)
from referral_ledger.commands.campaigns import LeaderboardRow
from referral_ledger.commands.customer_import import ImportReport
from referral_ledger.commands.loyalty import PurchaseImportReport
from referral_ledger.errors import (
    ConcurrencyConflict,
    CorruptEvent,
    DuplicatePhone,
    InvalidInput,
    InvalidTransition,
    LedgerError,
    NotFound,
    ProgramNotConfigured,
    RedemptionRefused,
    ReferrerNotEligible,
    StoreError,
)
from referral_ledger.ledger import Ledger
from referral_ledger.policies.campaigns import Campaign, CampaignBonus
from referral_ledger.policies.customer_fields import UNCHANGED
from referral_ledger.policies.customers import (
    DUPLICATE_PHONE_POLICIES,
    KNOWN_TAGS,
    DuplicatePhonePolicy,
)
from referral_ledger.policies.loyalty import LoyaltyProgram, Tier
from referral_ledger.policies.referral import ReferralProgram
from referral_ledger.projections.customer import Customer
from referral_ledger.projections.leads import ConversionRow, HistoryRow, LeadRow
from referral_ledger.projections.statement import ExpiringPoints, PointsSummary, StatementRow

__all__ = [
    "DUPLICATE_PHONE_POLICIES",
    "EXPECTED_NEXT",
    "KNOWN_TAGS",
    "UNCHANGED",
    "Campaign",
    "CampaignBonus",
    "ConcurrencyConflict",
    "Contract",
    "ConversionRow",
    "CorruptEvent",
    "Customer",
    "DuplicatePhone",
    "DuplicatePhonePolicy",
    "ExpiringPoints",
    "HistoryRow",
    "ImportReport",
    "InvalidInput",
    "InvalidTransition",
    "Lead",
    "LeadRow",
    "LeaderboardRow",
    "Ledger",
    "LedgerError",
    "LoyaltyProgram",
    "NotFound",
    "PointsSummary",
    "ProgramNotConfigured",
    "PurchaseImportReport",
    "RedemptionRefused",
    "Referral",
    "ReferralProgram",
    "ReferralStatus",
    "ReferrerNotEligible",
    "StatementRow",
    "StoreError",
    "Tier",
    "TimelineEntry",
]
