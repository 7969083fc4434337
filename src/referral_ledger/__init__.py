"""referral-ledger: customer referrals and loyalty points as an immutable,
replayable event log. Everything a host application needs is importable
from here."""

from referral_ledger.aggregates.customer_record import Contract, Note
from referral_ledger.aggregates.referral import (
    EXPECTED_NEXT,
    Lead,
    Referral,
    ReferralStatus,
    TimelineEntry,
)
from referral_ledger.aggregates.staff import StaffMember
from referral_ledger.audit import AuditReport, Problem
from referral_ledger.chain import ChainHead
from referral_ledger.commands.campaigns import LeaderboardRow
from referral_ledger.commands.checkout import Checkout
from referral_ledger.commands.customer_import import ImportReport, RowOutcome
from referral_ledger.commands.purchase_import import PurchaseImportReport
from referral_ledger.commands.referral_codes import CommissionRow
from referral_ledger.commands.voucher_import import VoucherImportReport
from referral_ledger.errors import (
    ConcurrencyConflict,
    CorruptEvent,
    DuplicatePhone,
    DuplicateValue,
    InvalidInput,
    InvalidTransition,
    LedgerError,
    NotFound,
    ProgramNotConfigured,
    RedemptionRefused,
    ReferralCodeRefused,
    ReferrerNotEligible,
    StoreError,
    VoucherRefused,
)
from referral_ledger.ledger import Ledger
from referral_ledger.policies.assignment import AssignmentRule, Condition
from referral_ledger.policies.campaigns import Campaign, CampaignBonus
from referral_ledger.policies.commissions import ReferralCodeProgram
from referral_ledger.policies.customer_fields import UNCHANGED
from referral_ledger.policies.customers import (
    DUPLICATE_PHONE_POLICIES,
    KNOWN_TAGS,
    TAG_NAMES,
    DuplicatePhonePolicy,
)
from referral_ledger.policies.expiry import PointsExpiry
from referral_ledger.policies.field_settings import FieldSettings, Source
from referral_ledger.policies.loyalty import LoyaltyProgram, Tier
from referral_ledger.policies.referral import ReferralProgram
from referral_ledger.policies.vouchers import Voucher, VoucherState
from referral_ledger.projections.customer import Customer
from referral_ledger.projections.directory import CustomerRow
from referral_ledger.projections.leads import ConversionRow, HistoryRow, LeadRow
from referral_ledger.projections.purchases import PurchaseRow
from referral_ledger.projections.statement import ExpiringPoints, PointsSummary, StatementRow

__all__ = [
    "DUPLICATE_PHONE_POLICIES",
    "EXPECTED_NEXT",
    "KNOWN_TAGS",
    "TAG_NAMES",
    "UNCHANGED",
    "AssignmentRule",
    "AuditReport",
    "Campaign",
    "CampaignBonus",
    "ChainHead",
    "Checkout",
    "CommissionRow",
    "ConcurrencyConflict",
    "Condition",
    "Contract",
    "ConversionRow",
    "CorruptEvent",
    "Customer",
    "CustomerRow",
    "DuplicatePhone",
    "DuplicatePhonePolicy",
    "DuplicateValue",
    "ExpiringPoints",
    "FieldSettings",
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
    "Note",
    "PointsExpiry",
    "PointsSummary",
    "Problem",
    "ProgramNotConfigured",
    "PurchaseImportReport",
    "PurchaseRow",
    "RedemptionRefused",
    "Referral",
    "ReferralCodeProgram",
    "ReferralCodeRefused",
    "ReferralProgram",
    "ReferralStatus",
    "ReferrerNotEligible",
    "RowOutcome",
    "Source",
    "StaffMember",
    "StatementRow",
    "StoreError",
    "Tier",
    "TimelineEntry",
    "Voucher",
    "VoucherImportReport",
    "VoucherRefused",
    "VoucherState",
]
