"""The errors a command or query can raise.

Every rejected command raises a subclass of :class:`LedgerError` and records
nothing; each message names the offending value so a host can show it as is.
"""

from __future__ import annotations

from eventsourcing.persistence import MapperDeserialisationError


class LedgerError(Exception):
    """Base class of every error the ledger raises on purpose."""


class InvalidInput(LedgerError, ValueError):
    """An argument is malformed, out of range, or contradicts what is stored."""


class NotFound(LedgerError, LookupError):
    """No customer, referral, invoice or redemption has that id."""


class DuplicateValue(LedgerError):
    """A value of a field configured unique already belongs to another customer."""


class DuplicatePhone(DuplicateValue):
    """The phone number already belongs to a customer or an open referral."""


class ReferrerNotEligible(LedgerError):
    """The referrer has no contract in force at the time of the referral."""


class InvalidTransition(LedgerError):
    """A referral cannot move from its current status to the requested one."""


class RedemptionRefused(LedgerError):
    """The loyalty program's rules do not allow this redemption."""


class ProgramNotConfigured(LedgerError):
    """A points command ran before any loyalty program was configured."""


class ConcurrencyConflict(LedgerError):
    """Other writers kept changing the same records; the command recorded nothing."""


class VoucherRefused(LedgerError):
    """The voucher does not apply to this sale; `reason` says why.

    Reasons: "unknown", "inactive", "not started", "ended", "below minimum",
    "other warehouse", "tags", "used up", "used up by this customer".
    """

    def __init__(self, message: str, reason: str = "") -> None:
        super().__init__(message)
        self.reason = reason

    def __reduce__(self) -> tuple[type, tuple[str, str]]:
        # Picklable with its reason (a worker process reports it to its parent).
        return type(self), (str(self), self.reason)


class ReferralCodeRefused(LedgerError):
    """The referral code cannot be used by this buyer; `reason` says why.

    Reasons: "unknown", "own code", "shares contact", "bought before",
    "already referred".
    """

    def __init__(self, message: str, reason: str = "") -> None:
        super().__init__(message)
        self.reason = reason

    def __reduce__(self) -> tuple[type, tuple[str, str]]:
        # Picklable with its reason (a worker process reports it to its parent).
        return type(self), (str(self), self.reason)


class StoreError(LedgerError):
    """The store cannot be opened or read (bad URL, wrong key, damaged event)."""


class CorruptEvent(StoreError, MapperDeserialisationError):
    """A stored event cannot be decoded: damaged bytes, a wrong key, an unknown class.

    Raised by whatever needed that event (loading its record, a view
    catch-up); nothing is skipped silently. `referral-ledger audit` lists every
    such event with its log position.
    """


__all__ = [
    "ConcurrencyConflict",
    "CorruptEvent",
    "DuplicatePhone",
    "DuplicateValue",
    "InvalidInput",
    "InvalidTransition",
    "LedgerError",
    "NotFound",
    "ProgramNotConfigured",
    "RedemptionRefused",
    "ReferralCodeRefused",
    "ReferrerNotEligible",
    "StoreError",
    "VoucherRefused",
]
