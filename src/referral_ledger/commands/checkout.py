"""Checkout: one command for a sale, recorded in one transaction.

The points redeemed at the till and the purchase they pay for are decided
together and saved in one unit of work: a refused part (the redemption)
refuses the whole, recording nothing, and the same invoice again returns the
first result. The voucher's and the referral code's discounts
(`sale_steps`) come first, then the points, on what is left; points are
earned on the money paid: discounts and the points' value earn nothing.
Earning is `LoyaltyCommands._earn`, the step `record_purchase` and
`import_purchases` take too, so campaign bonuses, limits and budgets apply
to a checkout alike. The referrer's commission is on the payable amount.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import attrs

from referral_ledger.aggregates import loyalty, loyalty_account, loyalty_decisions
from referral_ledger.aggregates.base import Evolve
from referral_ledger.aggregates.loyalty_decisions import Purchase
from referral_ledger.commands import sale_steps
from referral_ledger.commands.loyalty import LoyaltyCommands, _earn_reads
from referral_ledger.errors import InvalidInput
from referral_ledger.store import UnitOfWork
from referral_ledger.values import EXACT, parse_id, parse_points


@attrs.frozen
class Checkout:
    """What a checkout recorded: the discounts, the points paid and earned, what is left to pay."""

    invoice_id: str
    amount: Decimal
    voucher_discount: Decimal
    referral_discount: Decimal
    points_redeemed: int
    points_value: Decimal
    #: amount - discounts - points value, never below 0.
    payable: Decimal
    points_earned: int
    #: Of `points_earned`, the campaigns' bonus points.
    bonus_points: int = 0


def redemption_id_of(invoice_id: str) -> str:
    """The redemption id a checkout's points are recorded under."""
    return f"checkout:{invoice_id}"


class CheckoutCommands(LoyaltyCommands):
    """`checkout`: a sale with the points paid and earned, in one transaction."""

    def checkout(
        self,
        customer_id: Any,
        invoice_id: str,
        amount: Decimal | int | str,
        discounted_amount: Decimal | int | str = Decimal(0),
        redeem_points: int = 0,
        voucher: str | None = None,
        referral_code: str | None = None,
        warehouse: str | None = None,
        at: datetime | None = None,
    ) -> Checkout:
        """Record a sale: points redeemed (the rules of `redeem_points`), then the purchase.

        Raises `VoucherRefused`, `ReferralCodeRefused` or `RedemptionRefused`
        (recording nothing) when that part is refused, and `InvalidInput` when
        the points are worth more than the amount left after the discounts.
        The same `invoice_id` with the same figures returns the same
        `Checkout`; with other figures it is refused.
        """
        customer = parse_id(customer_id, "customer_id")
        code, referral, where = sale_steps.parse_sale_codes(voucher, referral_code, warehouse)
        points = parse_points(redeem_points, "redeem_points")
        purchase = self._purchase(invoice_id, amount, discounted_amount, points, at)
        redemption_record = self._claim_id(
            loyalty.REDEMPTION, redemption_id_of(purchase.invoice_id)
        )
        reads: list[tuple[Any, Evolve[Any]]] = [
            *_earn_reads(customer, purchase, self._ids),
            (redemption_record, loyalty.evolve_redemption),
        ]

        def decide(unit: UnitOfWork) -> Checkout:
            unit.prefetch(reads)
            record = self._customer(unit, customer)
            invoice_record = self._claim_id(loyalty.INVOICE, purchase.invoice_id)
            invoice = unit.load(invoice_record, loyalty.evolve_invoice)
            if invoice is not None:
                loyalty_decisions.check_same_purchase(invoice, customer, purchase)
                if code is not None and invoice.voucher != code:
                    raise InvalidInput(
                        f"invoice_id {purchase.invoice_id!r} was already recorded with "
                        f"voucher {invoice.voucher!r}, not {code!r}"
                    )
                return _result(
                    invoice.invoice_id,
                    invoice.amount,
                    (invoice.voucher_discount, invoice.referral_discount),
                    points,
                    invoice.redeemed_value,
                    invoice.points,
                    invoice.bonus_points,
                )
            off = sale_steps.discounts(
                unit,
                self._ids,
                customer_id=customer,
                customer_tags=record.tags,
                invoice_id=purchase.invoice_id,
                amount=purchase.amount,
                voucher=code,
                referral_code=referral,
                warehouse=where,
                at=purchase.at,
            )
            left = max(Decimal(0), EXACT.subtract(purchase.amount, EXACT.add(*off)))
            value = self._redeem_at_till(unit, customer, purchase, points, left)
            # The same earning step as `record_purchase`: campaign bonuses, limits and
            # budgets apply to a checkout alike, on the money paid.
            earned = self._earn(
                unit, customer, purchase, redeemed=(points, value), discounts=(code, *off)
            )
            invoice_id = purchase.invoice_id
            result = _result(
                invoice_id, purchase.amount, off, points, value, earned.points, earned.bonus
            )
            sale_steps.after_purchase(
                unit,
                customer_id=customer,
                invoice_id=purchase.invoice_id,
                amount=purchase.amount,
                payable=result.payable,
                at=purchase.at,
            )
            return result

        return self._store.run(decide)

    def _redeem_at_till(
        self, unit: UnitOfWork, customer: UUID, purchase: Purchase, points: int, left: Decimal
    ) -> Decimal:
        """Record `points` redeemed towards the sale (the rules of `redeem_points`);
        returns their value, which may not exceed `left`, the amount after the discounts."""
        if not points:
            return Decimal(0)
        settings = self._loyalty_settings(unit)
        account = unit.load(loyalty.account_id(customer), loyalty_account.evolve_account)
        room, lots = self._room(account, purchase.at)
        events = loyalty_decisions.redeem(
            account,
            customer_id=customer,
            redemption_id=redemption_id_of(purchase.invoice_id),
            points=points,
            program=settings.program,
            program_version=settings.version,
            at=purchase.at,
            now=unit.now,
            redemption_record=self._claim_id(
                loyalty.REDEMPTION, redemption_id_of(purchase.invoice_id)
            ),
            room=room,
            lots=lots,
        )
        redeemed = events[0]
        assert isinstance(redeemed, loyalty.PointsRedeemed)
        if redeemed.value > left:
            raise InvalidInput(
                f"{points} points are worth {redeemed.value}: more than the amount {left}"
                + (" left after the discounts" if left != purchase.amount else "")
            )
        # Recorded now, so the earning step reads the account as the redemption left it.
        unit.record(events)
        return redeemed.value


def _result(
    invoice_id: str,
    amount: Decimal,
    discounts: tuple[Decimal, Decimal],
    points: int,
    value: Decimal,
    earned: int,
    bonus: int,
) -> Checkout:
    voucher_discount, referral_discount = discounts
    off = EXACT.add(EXACT.add(voucher_discount, referral_discount), value)
    return Checkout(
        invoice_id=invoice_id,
        amount=amount,
        voucher_discount=voucher_discount,
        referral_discount=referral_discount,
        points_redeemed=points,
        points_value=value,
        payable=max(Decimal(0), EXACT.subtract(amount, off)),
        points_earned=earned,
        bonus_points=bonus,
    )
