"""The demo scenario behind `referral-ledger demo`: a Vietnamese retail story.

Two shops with contracts refer five businesses; the leads move through every
status (one stays submitted, one is in progress, one is rewarded by hand,
one is ineligible, and one is rewarded by itself when the referred café
registers and signs a contract). Customers buy, redeem and return; one
reaches the VIP tier. More scenes can follow the story (`run(scenes=...)`),
each in a module of its own: `demo_race.scene` is April's points race.

The story is played in the order of its dates. Given a `StoryClock` (the
clock of the ledger it plays on: `Ledger.open(url, clock=clock)`), each step
is also *recorded* at its story date, so recording time and business time
agree, and `replay --as-of 2025-03-15` or `balance(cid, as_of=...)` show the
story as it stood then.

Every step is idempotent: customers carry POS ids, purchases and redemptions
carry invoice and redemption ids, and everything else (programs, contracts,
referral moves, the return) is checked before it is recorded. Running the
scenario again on the same ledger records nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from functools import partial
from typing import Final, TypeAlias
from uuid import UUID

import attrs

from referral_ledger import demo_sales
from referral_ledger.errors import ProgramNotConfigured
from referral_ledger.ledger import Ledger
from referral_ledger.policies.loyalty import LoyaltyProgram, Tier
from referral_ledger.policies.referral import ReferralProgram
from referral_ledger.values import normalise_phone

#: Shop time (Indochina Time, UTC+7), in which the story's business times are given.
ICT: Final = timezone(timedelta(hours=7), "ICT")
#: Every contract of the story runs until then.
CONTRACT_END: Final = date(2027, 12, 31)

LOYALTY: Final = LoyaltyProgram(
    money_per_point=Decimal(10_000),
    point_value=Decimal(1_000),
    min_purchases_before_redeem=1,
    tiers=(Tier("Silver", min_points=200), Tier("VIP", min_points=500)),
)
REFERRALS: Final = ReferralProgram(
    reward_by_plan={"pro": Decimal(500_000), "basic": Decimal(200_000)},
    default_reward=Decimal(300_000),
)


def shop_time(month: int, day: int, hour: int = 9, minute: int = 0) -> datetime:
    """A moment in 2025, shop time."""
    return datetime(2025, month, day, hour, minute, tzinfo=ICT)


class StoryClock:
    """A ledger clock that shows the moment of the story's current step.

    Each reading is at least a microsecond after the one before, so the events of
    one step (and of steps at the same moment) keep their recording order.
    """

    def __init__(self, start: datetime = datetime(2025, 1, 1, tzinfo=ICT)) -> None:
        self._moment = start
        self._last: datetime | None = None

    def set(self, moment: datetime) -> None:
        """The story has reached `moment`."""
        self._moment = moment

    def __call__(self) -> datetime:
        now = self._moment
        if self._last is not None and now <= self._last:
            now = self._last + timedelta(microseconds=1)
        self._last = now
        return now


@attrs.frozen
class Person:
    external_id: str
    name: str
    phone: str
    email: str | None
    group: str
    joined: datetime  # registered then; a contract is signed an hour later, starting that day
    contract: tuple[str, str] | None = None  # (contract id, plan)


SHOPS: Final = (
    Person(
        "POS-C001",
        "Nguyễn Minh Anh",
        "0912 345 678",
        "minhanh@taphoaminhanh.vn",
        "shop",
        shop_time(1, 1, 9),
        ("HD-2025-001", "pro"),
    ),
    Person(
        "POS-C002",
        "Trần Hồng Nhung",
        "0987 654 321",
        "nhung@hongnhungfashion.vn",
        "shop",
        shop_time(1, 1, 10),
        ("HD-2025-002", "basic"),
    ),
)
SHOPPERS: Final = (
    Person(
        "POS-C003", "Lê Văn Cường", "0903 111 222", "cuong.le@gmail.com", "retail", shop_time(2, 10)
    ),
    Person("POS-C004", "Phạm Thị Dung", "0905 333 444", None, "retail", shop_time(2, 14)),
)
#: The café owner who was referred and later registers and signs a contract.
CAFE_OWNER: Final = Person(
    "POS-C005",
    "Ngô Thanh Hải",
    "0975 500 600",
    "hai@haiaucafe.vn",
    "shop",
    shop_time(3, 18),
    ("HD-2025-005", "pro"),
)


@attrs.frozen
class Step:
    """One move of a referral's lifecycle at a story moment, as a call on the ledger."""

    at: datetime
    apply: Callable[[Ledger, UUID, datetime], object]


@attrs.frozen
class LeadScript:
    referrer: str  # the referrer's POS id
    name: str
    phone: str
    industry: str
    business_name: str
    website: str | None
    program: str
    submitted: datetime
    steps: tuple[Step, ...] = ()


LEADS: Final = (
    LeadScript(
        "POS-C001",
        "Đặng Quốc Bảo",
        "0977 100 200",
        "books",
        "Nhà sách Bảo An",
        "https://nhasachbaoan.vn",
        "pos",
        shop_time(3, 1),
    ),
    LeadScript(
        "POS-C001",
        "Võ Thị Thu",
        "0978 200 300",
        "bakery",
        "Tiệm bánh Thu Hà",
        None,
        "pos",
        shop_time(3, 2),
        (
            Step(shop_time(3, 3), lambda ledger, rid, at: ledger.assign_rep(rid, "rep-01", at=at)),
            Step(
                shop_time(3, 5),
                lambda ledger, rid, at: ledger.start_referral(
                    rid, note="Called, demo booked", at=at
                ),
            ),
        ),
    ),
    LeadScript(
        "POS-C002",
        "Hoàng Văn Em",
        "0979 300 400",
        "electronics",
        "Điện thoại Em Store",
        "https://emstore.vn",
        "plus",
        shop_time(3, 4),
        (
            Step(
                shop_time(3, 6),
                lambda ledger, rid, at: ledger.start_referral(rid, rep="rep-02", at=at),
            ),
            Step(
                shop_time(3, 20),
                lambda ledger, rid, at: ledger.reward_referral(
                    rid, plan="basic", note="Signed the basic plan", at=at
                ),
            ),
        ),
    ),
    LeadScript(
        "POS-C002",
        "Bùi Thị Giang",
        "0976 400 500",
        "cosmetics",
        "Mỹ phẩm Giang Beauty",
        None,
        "pos",
        shop_time(3, 7),
        (
            Step(
                shop_time(3, 9),
                lambda ledger, rid, at: ledger.mark_ineligible(
                    rid, reason="Already under contract with another vendor", at=at
                ),
            ),
        ),
    ),
    LeadScript(
        "POS-C001",
        CAFE_OWNER.name,
        CAFE_OWNER.phone,
        "cafe",
        "Quán cà phê Hải Âu",
        "https://haiaucafe.vn",
        "pos",
        shop_time(3, 8),
        (
            Step(
                shop_time(3, 10),
                lambda ledger, rid, at: ledger.start_referral(rid, rep="rep-01", at=at),
            ),
        ),
    ),
)

#: (customer POS id, invoice id, amount, discounted amount, business time)
PURCHASES: Final = (
    ("POS-C003", "INV-0001", Decimal(2_350_000), Decimal(350_000), shop_time(3, 3, 9, 15)),
    ("POS-C003", "INV-0002", Decimal(3_480_000), Decimal(0), shop_time(3, 10, 18, 40)),
    ("POS-C004", "INV-0003", Decimal(890_000), Decimal(0), shop_time(3, 11, 14, 5)),
    ("POS-C004", "INV-0004", Decimal(1_259_000), Decimal(0), shop_time(3, 14, 16, 20)),
    ("POS-C005", "INV-0005", Decimal(5_200_000), Decimal(0), shop_time(3, 22, 10, 0)),
    ("POS-C005", "INV-0006", Decimal(1_480_000), Decimal(0), shop_time(3, 24, 15, 45)),
)
#: (customer POS id, redemption id, points, business time)
REDEMPTIONS: Final = (
    ("POS-C003", "RDM-0001", 100, shop_time(3, 12, 11, 5)),
    ("POS-C005", "RDM-0002", 200, shop_time(3, 25, 8, 30)),
)
#: (customer POS id, invoice id, amount returned, business time)
RETURNS: Final = (("POS-C003", "INV-0001", Decimal(350_000), shop_time(3, 15, 10, 30)),)


@attrs.frozen
class DemoCast:
    """Who the demo's printout is about."""

    referrer_id: UUID  # the shop whose referral history is shown
    customer_id: UUID  # the shopper whose statement is shown
    customers: dict[str, UUID]  # every customer by POS id


#: When the shop sets up its loyalty and referral programs.
OPENING: Final = shop_time(1, 1, 8)

#: A step of the story: its business time, and the call that plays it.
Action: TypeAlias = tuple[datetime, Callable[[], object]]
#: A scene added to the story: its actions, given the ledger and the customers by POS id
#: (filled in as the story plays, so an action looks its customer up when it runs).
Scene: TypeAlias = Callable[[Ledger, dict[str, UUID]], list[Action]]


def run(
    ledger: Ledger, clock: StoryClock | None = None, *, scenes: Sequence[Scene] = ()
) -> DemoCast:
    """Play the scenario on `ledger` in the order of its dates; a second run records nothing.

    With `clock` (the ledger's own clock), each step is recorded at its story date.
    `scenes` are played with the story, every action in date order."""
    ids: dict[str, UUID] = {}
    # The referrals' phones already in the ledger, so leads are referred once.
    referred = {row.phone: row.referral_id for row in ledger.lead_table(limit=1000)}
    actions: list[Action] = [(OPENING, partial(_configure, ledger))]
    for person in (*SHOPS, *SHOPPERS, CAFE_OWNER):
        actions += _joining(ledger, person, ids)
    for script in LEADS:
        actions += _lead_actions(ledger, script, ids, referred)
    for pos_id, invoice, amount, discounted, at in PURCHASES:
        actions.append(
            (at, partial(purchase, ledger, ids, pos_id, invoice, amount, discounted, at))
        )
    for pos_id, redemption, points, at in REDEMPTIONS:
        actions.append((at, partial(_redeem, ledger, ids, pos_id, redemption, points, at)))
    for pos_id, invoice, amount, at in RETURNS:
        actions.append((at, partial(give_back, ledger, ids, pos_id, invoice, amount, at)))
    actions += demo_sales.actions(ledger, ids)  # a voucher and a referral code, 25 March
    for scene in scenes:
        actions += scene(ledger, ids)
    # A stable sort: steps at the same moment keep the order above.
    for moment, action in sorted(actions, key=lambda pair: pair[0]):
        if clock is not None:
            clock.set(moment)
        action()
    return DemoCast(referrer_id=ids["POS-C001"], customer_id=ids["POS-C003"], customers=ids)


def _configure(ledger: Ledger) -> None:
    try:
        configured: LoyaltyProgram | None = ledger.loyalty_program()
    except ProgramNotConfigured:
        configured = None
    if configured != LOYALTY:
        ledger.configure_loyalty(LOYALTY)
    if ledger.referral_program() != REFERRALS:
        ledger.configure_referrals(REFERRALS)


def _joining(ledger: Ledger, person: Person, ids: dict[str, UUID]) -> list[Action]:
    """The customer registers; one with a contract signs it an hour later."""

    def register() -> None:
        ids[person.external_id] = ledger.register_customer(
            name=person.name,
            phones=[person.phone],
            email=person.email,
            group=person.group,
            source="retailer",
            external_id=person.external_id,
        )

    actions: list[Action] = [(person.joined, register)]
    if person.contract is not None:
        contract_id, plan = person.contract

        def sign() -> None:
            cid = ids[person.external_id]
            signed = {c.contract_id for c in ledger.get_customer(cid).contracts}
            if contract_id not in signed:
                # The referred café signing is what rewards its open referral by itself.
                ledger.sign_contract(
                    cid, contract_id, plan, starts_on=person.joined.date(), ends_on=CONTRACT_END
                )

        actions.append((person.joined + timedelta(hours=1), sign))
    return actions


def _lead_actions(
    ledger: Ledger, script: LeadScript, ids: dict[str, UUID], referred: dict[str, UUID]
) -> list[Action]:
    phone = normalise_phone(script.phone, ledger.phone_region)

    def submit() -> None:
        if phone not in referred:
            referred[phone] = ledger.submit_referral(
                ids[script.referrer],
                name=script.name,
                phone=script.phone,
                industry=script.industry,
                business_name=script.business_name,
                website=script.website,
                program=script.program,
                at=script.submitted,
            )

    def move(index: int, step: Step) -> None:
        rid = referred[phone]
        # The timeline holds the submission and then one entry per move done.
        if len(ledger.get_referral(rid).timeline) - 1 <= index:
            step.apply(ledger, rid, step.at)

    actions: list[Action] = [(script.submitted, submit)]
    actions += [(step.at, partial(move, i, step)) for i, step in enumerate(script.steps)]
    return actions


def purchase(
    ledger: Ledger,
    ids: dict[str, UUID],
    pos_id: str,
    invoice: str,
    amount: Decimal,
    discounted: Decimal,
    at: datetime,
) -> None:
    """Record a purchase of the customer with POS id `pos_id` (again: records nothing)."""
    ledger.record_purchase(ids[pos_id], invoice, amount, discounted, at=at)


def _redeem(
    ledger: Ledger, ids: dict[str, UUID], pos_id: str, redemption: str, points: int, at: datetime
) -> None:
    ledger.redeem_points(ids[pos_id], points, redemption, at=at)


def give_back(
    ledger: Ledger, ids: dict[str, UUID], pos_id: str, invoice: str, amount: Decimal, at: datetime
) -> None:
    """Record the return of `amount` of `invoice`, unless its return is recorded already."""
    returned = {row.reference for row in ledger.statement(ids[pos_id]) if row.kind == "return"}
    if invoice not in returned:
        ledger.return_purchase(ids[pos_id], invoice, amount, at=at)
