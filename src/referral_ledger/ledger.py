"""The `Ledger`: what a host application calls.

Every command validates its arguments first, then runs as one unit of work:
load the records it needs, decide (pure functions in `aggregates/`), save the
resulting events in one transaction. A conflict with another writer re-runs
the unit from fresh state; nothing partial is ever stored.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime
from decimal import Decimal
from functools import partial
from types import TracebackType
from typing import Final, Literal, Self, TypeAlias
from uuid import UUID, uuid4

import attrs
import phonenumbers

from referral_ledger.aggregates import customer as customers
from referral_ledger.aggregates import loyalty, phones
from referral_ledger.aggregates import program as programs
from referral_ledger.aggregates.base import Event, Evolve
from referral_ledger.aggregates.customer import (
    UNCHANGED,
    Customer,
    CustomerDetails,
    CustomerEdit,
    CustomerRecord,
    DuplicatePhonePolicy,
    ImportReport,
    Unchanged,
)
from referral_ledger.aggregates.loyalty import LoyaltyAccount, Purchase
from referral_ledger.aggregates.phones import evolve_phone, phone_record_id
from referral_ledger.aggregates.program import LOYALTY_PROGRAM_ID, ProgramSettings
from referral_ledger.errors import (
    ConcurrencyConflict,
    DuplicatePhone,
    InvalidInput,
    LedgerError,
    NotFound,
    ProgramNotConfigured,
)
from referral_ledger.policies.loyalty import LoyaltyProgram
from referral_ledger.projections.statement import StatementRow, statement_rows
from referral_ledger.store import (
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_SNAPSHOT_INTERVAL,
    EventLog,
    S,
    Store,
    UnitOfWork,
    ensure_postgres_schema,
    environment_for,
)
from referral_ledger.values import (
    DEFAULT_REGION,
    normalise_phone,
    now,
    parse_date,
    parse_id,
    parse_money,
    parse_optional_time,
    parse_points,
    parse_reference,
    parse_time,
)

#: What a registration or an edit did to the ledger.
Outcome: TypeAlias = Literal["created", "updated", "unchanged", "skipped"]

_ROW_COLUMNS: Final = frozenset(
    {
        "name",
        "phones",
        "phone",
        "email",
        "group",
        "source",
        "tags",
        "external_id",
        "notes",
        "addresses",
        "assigned_staff",
    }
)
_LIST_SEPARATORS: Final = re.compile(r"[,;\n]")


@attrs.frozen
class _Upsert:
    """A validated create-or-edit: the details, and which of them an edit sets."""

    details: CustomerDetails
    fields: tuple[str, ...]


class Ledger:
    """A referral and loyalty ledger kept as an immutable, replayable event log."""

    def __init__(self, store: Store, *, phone_region: str = DEFAULT_REGION) -> None:
        """Use :meth:`Ledger.open`; this wires an already opened store."""
        self._store = store
        self.phone_region = phone_region

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
        phone_region: str = DEFAULT_REGION,
        clock: Callable[[], datetime] | None = None,
    ) -> Ledger:
        """Open (creating if needed) the ledger stored at `url`.

        `memory://` keeps everything in this process; `sqlite:///PATH` is an
        embedded file; `postgresql://USER:PW@HOST:PORT/DB[?schema=NAME]` is the
        production store. `cipher_key` (from :meth:`create_cipher_key`)
        encrypts events at rest; `compress` zlib-compresses them. A snapshot is
        taken every `snapshot_interval` events of a record (0: never).
        """
        if isinstance(snapshot_interval, bool) or not isinstance(snapshot_interval, int):
            raise InvalidInput(f"snapshot_interval must be an int, not {snapshot_interval!r}")
        if snapshot_interval < 0:
            raise InvalidInput(f"snapshot_interval must not be negative: {snapshot_interval}")
        if isinstance(max_attempts, bool) or not isinstance(max_attempts, int) or max_attempts < 1:
            raise InvalidInput(f"max_attempts must be a positive int, not {max_attempts!r}")
        if not isinstance(phone_region, str) or phone_region not in phonenumbers.SUPPORTED_REGIONS:
            raise InvalidInput(
                f"phone_region must be a two-letter region code such as 'VN': {phone_region!r}"
            )
        env = environment_for(url, cipher_key=cipher_key, compress=compress)
        ensure_postgres_schema(env)
        store = Store(
            EventLog(env=env),
            clock=clock or now,
            snapshot_interval=snapshot_interval,
            max_attempts=max_attempts,
        )
        store.verify_readable()
        return cls(store, phone_region=phone_region)

    @staticmethod
    def create_cipher_key() -> str:
        """A new random AES-256 key for `Ledger.open(cipher_key=...)`. Keep it safe."""
        from eventsourcing.cryptography import AESCipher

        return AESCipher.create_key(num_bytes=32)

    def close(self) -> None:
        """Release the store's connections."""
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
        """The position of the newest event in the log (0 for an empty ledger)."""
        return self._store.last_position()

    # --- loyalty program ---------------------------------------------------

    def configure_loyalty(self, program: LoyaltyProgram) -> int:
        """Apply `program` from now on; returns its version number."""
        if not isinstance(program, LoyaltyProgram):
            raise InvalidInput(f"program must be a LoyaltyProgram, not {program!r}")

        def decide(unit: UnitOfWork) -> int:
            settings = unit.load(LOYALTY_PROGRAM_ID, programs.evolve_loyalty_settings)
            unit.record(programs.configure_loyalty(settings, program, unit.now))
            return 1 if settings is None else settings.version + 1

        return self._store.run(decide)

    def loyalty_program(self, as_of: datetime | None = None) -> LoyaltyProgram:
        """The loyalty rules in force now, or at `as_of`."""
        settings = self._load_as_of(LOYALTY_PROGRAM_ID, programs.evolve_loyalty_settings, as_of)
        if settings is None:
            raise ProgramNotConfigured("no loyalty program has been configured yet")
        return settings.program

    def _loyalty_settings(self, unit: UnitOfWork) -> ProgramSettings[LoyaltyProgram]:
        settings = unit.load(LOYALTY_PROGRAM_ID, programs.evolve_loyalty_settings)
        if settings is None:
            raise ProgramNotConfigured(
                "configure a loyalty program (Ledger.configure_loyalty) before recording points"
            )
        return settings

    # --- customers ---------------------------------------------------------

    def register_customer(
        self,
        name: str,
        phones: Iterable[str],
        email: str | None = None,
        group: str | None = None,
        source: str | None = None,
        tags: Iterable[str] = (),
        external_id: str | None = None,
        on_duplicate_phone: DuplicatePhonePolicy = "reject",
        *,
        notes: str | None = None,
        addresses: Iterable[str] = (),
        assigned_staff: str | None = None,
    ) -> UUID:
        """Register a customer; returns its id.

        Phones are normalised to E.164. When one already belongs to a customer,
        `on_duplicate_phone` decides: "reject" raises `DuplicatePhone`, "skip"
        records nothing and returns that customer's id, "update" adds these
        details to that customer and returns its id, "create" registers a
        second customer with the phone. A known `external_id` returns the
        customer it stands for and records nothing.
        """
        details = customers.parse_details(
            name=name,
            phones=phones,
            region=self.phone_region,
            email=email,
            group=group,
            source=source,
            tags=tags,
            external_id=external_id,
            notes=notes,
            addresses=addresses,
            assigned_staff=assigned_staff,
        )
        policy = customers.parse_policy(on_duplicate_phone)
        return self._store.run(lambda unit: self._register(unit, details, policy)[0])

    def update_customer(
        self,
        customer_id: UUID,
        name: str | Unchanged = UNCHANGED,
        phones: Iterable[str] | Unchanged = UNCHANGED,
        email: str | Unchanged | None = UNCHANGED,
        group: str | Unchanged | None = UNCHANGED,
        tags: Iterable[str] | Unchanged | None = UNCHANGED,
        *,
        source: str | Unchanged | None = UNCHANGED,
        notes: str | Unchanged | None = UNCHANGED,
        addresses: Iterable[str] | Unchanged | None = UNCHANGED,
        assigned_staff: str | Unchanged | None = UNCHANGED,
    ) -> None:
        """Change the given fields of a customer; the others stay as they are.

        `None` clears an optional field (email, group, source, notes,
        assigned_staff; tags and addresses become empty). `phones` replaces the
        list: numbers left out are freed, and a new number that belongs to
        another customer raises `DuplicatePhone`. Nothing is recorded when
        nothing changes.
        """
        customer = parse_id(customer_id, "customer_id")
        edit = customers.parse_edit(
            {
                "name": name,
                "phones": phones,
                "email": email,
                "group": group,
                "tags": tags,
                "source": source,
                "notes": notes,
                "addresses": addresses,
                "assigned_staff": assigned_staff,
            },
            self.phone_region,
        )

        def decide(unit: UnitOfWork) -> None:
            self._edit(unit, self._customer(unit, customer), edit, "reject")

        self._store.run(decide)

    def sync_customer_from_pos(
        self,
        external_id: str,
        name: str,
        phones: Iterable[str],
        email: str | None = None,
        group: str | None = None,
        source: str | Unchanged | None = UNCHANGED,
        tags: Iterable[str] | Unchanged | None = UNCHANGED,
        on_duplicate_phone: DuplicatePhonePolicy = "reject",
        *,
        notes: str | Unchanged | None = UNCHANGED,
        addresses: Iterable[str] | Unchanged | None = UNCHANGED,
        assigned_staff: str | Unchanged | None = UNCHANGED,
    ) -> UUID:
        """Apply a POS create/import/edit webhook for the customer `external_id`.

        Creates the customer when the POS id is new (`source` defaults to
        "retailer"), else sets the fields the POS owns (name, phones, email,
        group) and any other field given. The same payload twice records one
        change. On an edit, a new phone that belongs to another customer is
        handled by `on_duplicate_phone`: "reject" raises `DuplicatePhone`,
        "skip" leaves the customer unchanged, "update" and "create" let the
        two customers share the number.
        """
        fields: dict[str, object] = {
            "external_id": external_id,
            "name": name,
            "phones": phones,
            "email": email,
            "group": group,
            "source": source,
            "tags": tags,
            "notes": notes,
            "addresses": addresses,
            "assigned_staff": assigned_staff,
        }
        upsert = self._parse_upsert(fields, default_source="retailer")
        policy = customers.parse_policy(on_duplicate_phone)
        return self._store.run(lambda unit: self._upsert(unit, upsert, policy)[0])

    def import_customers(
        self,
        rows: Iterable[Mapping[str, object]],
        on_duplicate_phone: DuplicatePhonePolicy = "reject",
        batch_size: int = 500,
    ) -> ImportReport:
        """Register many customers, `batch_size` to a transaction; never stops on a bad row.

        Each row is a mapping with the keys of `register_customer` (`name`,
        `phones` or `phone`, `email`, `group`, `source`, `tags`, `external_id`,
        `notes`, `addresses`, `assigned_staff`); `phones`, `tags` and
        `addresses` may be one string separated by "," or ";". A row with an
        `external_id` is applied like `sync_customer_from_pos` (created, or
        updated with the columns it has), so importing the same rows again
        changes nothing. A bad row is reported in `rejected` with its number
        (counting from 1) and the reason, and the other rows go in.
        """
        policy = customers.parse_policy(on_duplicate_phone)
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise InvalidInput(f"batch_size must be a positive int, not {batch_size!r}")
        if isinstance(rows, Mapping | str | bytes) or not isinstance(rows, Iterable):
            raise InvalidInput(f"rows must be an iterable of mappings, not {rows!r}")
        counts: dict[str, int] = dict.fromkeys(("created", "updated", "unchanged", "skipped"), 0)
        rejected: list[tuple[int, str]] = []
        numbered = enumerate(rows, start=1)
        while batch := list(itertools.islice(numbered, batch_size)):
            parsed: list[tuple[int, _Upsert]] = []
            for number, row in batch:
                try:
                    parsed.append((number, self._parse_row(row)))
                except LedgerError as error:
                    rejected.append((number, str(error)))
            try:
                outcomes = self._store.run(partial(self._import_batch, rows=parsed, policy=policy))
            except ConcurrencyConflict as error:
                rejected += [(number, str(error)) for number, _ in parsed]
                continue
            for number, outcome, reason in outcomes:
                if outcome is None:
                    rejected.append((number, reason))
                else:
                    counts[outcome] += 1
        rejected.sort()
        return ImportReport(rejected=rejected, **counts)

    def sign_contract(
        self,
        customer_id: UUID,
        contract_id: str,
        plan: str,
        starts_on: date,
        ends_on: date,
    ) -> None:
        """Record a contract the customer signed, in force from `starts_on` to `ends_on`.

        `ends_on` before `starts_on`, or a `contract_id` the customer already
        has, raises `InvalidInput`.
        """
        customer = parse_id(customer_id, "customer_id")
        contract = customers.parse_contract(contract_id, plan, starts_on, ends_on)

        def decide(unit: UnitOfWork) -> None:
            record = self._customer(unit, customer)
            unit.record(customers.sign_contract(record, contract, unit.now))

        self._store.run(decide)

    def get_customer(self, customer_id: UUID, as_of: datetime | None = None) -> Customer:
        """The customer now, or as it stood at `as_of`, with its loyalty standing."""
        customer = parse_id(customer_id, "customer_id")
        record = self._load_as_of(customer, customers.evolve_customer, as_of)
        if record is None:
            raise NotFound(f"no customer with id {customer}")
        account = self._load_as_of(loyalty.account_id(customer), loyalty.evolve_account, as_of)
        return Customer(
            id=record.id,
            name=record.name,
            phones=record.phones,
            email=record.email,
            group=record.group,
            source=record.source,
            tags=record.tags,
            external_id=record.external_id,
            notes=record.notes,
            addresses=record.addresses,
            assigned_staff=record.assigned_staff,
            contracts=record.contracts,
            registered_at=record.registered_at,
            level=account.tier if account else None,
            purchase_count=account.purchase_count if account else 0,
            lifetime_points=account.lifetime_points if account else 0,
        )

    def find_customer_by_phone(self, phone: str) -> UUID | None:
        """The first registered customer with this phone number, if any."""
        found = self.find_customers_by_phone(phone)
        return found[0] if found else None

    def find_customers_by_phone(self, phone: str) -> list[UUID]:
        """Every customer with this phone number, first registered first."""
        number = normalise_phone(phone, self.phone_region)
        index = self._store.load(phone_record_id(number), evolve_phone)
        return list(index.owners) if index else []

    def find_customer_by_external_id(self, external_id: str) -> UUID | None:
        """The customer an upstream (POS) id stands for, if any."""
        reference = parse_reference(external_id, "external_id")
        link = self._store.load(customers.external_link_id(reference), customers.evolve_link)
        return link.customer_id if link else None

    def contract_in_force(self, customer_id: UUID, day: date | datetime) -> bool:
        """Whether the customer has a contract in force on `day`.

        A datetime counts by its date in its own time zone, so a Vietnamese
        host's 00:30 (+07:00) on 1 January is 1 January.
        """
        customer = parse_id(customer_id, "customer_id")
        if isinstance(day, datetime):
            on = parse_time(day, "day").astimezone(day.tzinfo).date()
        else:
            on = parse_date(day, "day")
        record = self._store.load(customer, customers.evolve_customer)
        if record is None:
            raise NotFound(f"no customer with id {customer}")
        return customers.contract_in_force(record, on)

    # --- customers: the shared steps --------------------------------------

    def _customer(self, unit: UnitOfWork, customer_id: UUID) -> CustomerRecord:
        record = unit.load(customer_id, customers.evolve_customer)
        if record is None:
            raise NotFound(f"no customer with id {customer_id}")
        return record

    def _known_customer(self, customer_id: object) -> UUID:
        customer = parse_id(customer_id, "customer_id")
        if self._store.load(customer, customers.evolve_customer) is None:
            raise NotFound(f"no customer with id {customer}")
        return customer

    def _register(
        self, unit: UnitOfWork, details: CustomerDetails, policy: DuplicatePhonePolicy
    ) -> tuple[UUID, Outcome]:
        """Register `details` under `policy`; returns the customer's id and what happened."""
        external_id = details.external_id
        if external_id is not None:
            link = unit.load(customers.external_link_id(external_id), customers.evolve_link)
            if link is not None:
                return link.customer_id, "unchanged"
        indexes = {p: unit.load(phone_record_id(p), evolve_phone) for p in details.phones}
        clash = next(
            ((p, i.owner) for p, i in indexes.items() if i is not None and i.owner is not None),
            None,
        )
        if clash is not None and policy != "create":
            phone, owner = clash
            if policy == "reject":
                raise DuplicatePhone(f"phone {phone} already belongs to customer {owner}")
            if policy == "skip":
                return owner, "skipped"
            record = self._customer(unit, owner)
            # The phones this registration adds may belong to others still: the
            # host asked to update, not to be refused, so they are shared.
            events = self._edit_events(
                unit, record, customers.merge_edit(record, details), "create"
            )
            assert events is not None
            if external_id is not None:
                events += customers.link_external_id(None, external_id, owner, unit.now)
            unit.record(events)
            return owner, "updated" if events else "unchanged"
        customer_id = uuid4()
        unit.load(customer_id, customers.evolve_customer)  # a new record: nothing to read
        events = customers.register(customer_id, details, unit.now)
        for phone, index in indexes.items():
            events += phones.claim(index, phone, customer_id, unit.now)
        if external_id is not None:
            events += customers.link_external_id(None, external_id, customer_id, unit.now)
        unit.record(events)
        return customer_id, "created"

    def _edit_events(
        self,
        unit: UnitOfWork,
        record: CustomerRecord,
        edit: CustomerEdit,
        policy: DuplicatePhonePolicy,
    ) -> list[Event] | None:
        """The events of an edit, with its phones claimed and freed; None: skip it."""
        events = customers.update(record, edit, unit.now)
        if isinstance(edit.phones, Unchanged):
            return events
        for phone in edit.phones:
            if phone in record.phones:
                continue
            index = unit.load(phone_record_id(phone), evolve_phone)
            others = [o for o in index.owners if o != record.id] if index else []
            if others:
                if policy == "reject":
                    raise DuplicatePhone(f"phone {phone} already belongs to customer {others[0]}")
                if policy == "skip":
                    return None
            events += phones.claim(index, phone, record.id, unit.now)
        for phone in record.phones:
            if phone not in edit.phones:
                index = unit.load(phone_record_id(phone), evolve_phone)
                events += phones.release(index, phone, record.id, unit.now)
        return events

    def _edit(
        self,
        unit: UnitOfWork,
        record: CustomerRecord,
        edit: CustomerEdit,
        policy: DuplicatePhonePolicy,
    ) -> Outcome:
        events = self._edit_events(unit, record, edit, policy)
        if events is None:
            return "skipped"
        unit.record(events)
        return "updated" if events else "unchanged"

    def _upsert(
        self, unit: UnitOfWork, upsert: _Upsert, policy: DuplicatePhonePolicy
    ) -> tuple[UUID, Outcome]:
        """Create the customer, or edit the one its external id stands for."""
        external_id = upsert.details.external_id
        if external_id is None:
            return self._register(unit, upsert.details, policy)
        link = unit.load(customers.external_link_id(external_id), customers.evolve_link)
        if link is None:
            return self._register(unit, upsert.details, policy)
        record = self._customer(unit, link.customer_id)
        edit = customers.edit_of(upsert.details, upsert.fields)
        return record.id, self._edit(unit, record, edit, policy)

    def _parse_upsert(self, fields: Mapping[str, object], *, default_source: str | None) -> _Upsert:
        """Validate a create-or-edit; fields left UNCHANGED get defaults on creation."""
        defaults: dict[str, object] = {
            "email": None,
            "group": None,
            "source": default_source,
            "tags": (),
            "external_id": None,
            "notes": None,
            "addresses": (),
            "assigned_staff": None,
        }
        given = {k: v for k, v in fields.items() if v is not UNCHANGED}
        missing = [k for k in ("name", "phones") if k not in given]
        if missing:
            raise InvalidInput(f"{' and '.join(missing)} must be given")
        details = customers.parse_details(region=self.phone_region, **{**defaults, **given})
        edited = tuple(k for k in given if k != "external_id")
        return _Upsert(details, edited)

    def _parse_row(self, row: object) -> _Upsert:
        """Validate one import row (see `import_customers`)."""
        if not isinstance(row, Mapping):
            raise InvalidInput(f"a row must be a mapping of column names to values, not {row!r}")
        unknown = sorted(str(k) for k in row if k not in _ROW_COLUMNS)
        if unknown:
            raise InvalidInput(f"unknown column(s) {', '.join(map(repr, unknown))}")
        fields: dict[str, object] = {}
        for key, value in row.items():
            if key in ("phones", "phone", "tags", "addresses") and isinstance(value, str):
                value = [part for part in _LIST_SEPARATORS.split(value) if part.strip()]
            if key == "phone":
                key = "phones"
                value = [*fields.get("phones", []), *value]  # type: ignore[misc]
            elif key == "phones" and "phones" in fields:
                value = [*value, *fields["phones"]]  # type: ignore[misc]
            fields[key] = value
        external_id = fields.get("external_id")
        if external_id is None or (isinstance(external_id, str) and not external_id.strip()):
            fields.pop("external_id", None)
        return self._parse_upsert(fields, default_source=None)

    def _import_batch(
        self,
        unit: UnitOfWork,
        rows: list[tuple[int, _Upsert]],
        policy: DuplicatePhonePolicy,
    ) -> list[tuple[int, Outcome | None, str]]:
        """Apply a batch of rows in one unit; a row that fails records nothing."""
        outcomes: list[tuple[int, Outcome | None, str]] = []
        for number, upsert in rows:
            try:
                _, outcome = self._upsert(unit, upsert, policy)
            except LedgerError as error:
                outcomes.append((number, None, str(error)))
            else:
                outcomes.append((number, outcome, ""))
        return outcomes

    # --- points ------------------------------------------------------------

    def record_purchase(
        self,
        customer_id: UUID,
        invoice_id: str,
        amount: Decimal | int | str,
        discounted_amount: Decimal | int | str = Decimal(0),
        points_used: int = 0,
        at: datetime | None = None,
    ) -> int:
        """Record a purchase and earn its points; returns the points earned.

        The same `invoice_id` again with the same figures returns the first
        result and records nothing. The program's `eligible_groups` are matched
        against the customer's group as it stands when the purchase is recorded.
        """
        customer = parse_id(customer_id, "customer_id")
        purchase = Purchase(
            invoice_id=parse_reference(invoice_id, "invoice_id"),
            amount=parse_money(amount, "amount"),
            discounted_amount=parse_money(discounted_amount, "discounted_amount"),
            points_used=parse_points(points_used, "points_used"),
            at=self._business_time(at),
        )
        if purchase.discounted_amount > purchase.amount:
            raise InvalidInput(
                f"discounted_amount {purchase.discounted_amount} is more than the amount "
                f"{purchase.amount}"
            )

        def decide(unit: UnitOfWork) -> int:
            record = self._customer(unit, customer)
            invoice = unit.load(
                loyalty.invoice_record_id(purchase.invoice_id), loyalty.evolve_invoice
            )
            if invoice is not None:
                loyalty.check_same_purchase(invoice, customer, purchase)
                return invoice.points
            settings = self._loyalty_settings(unit)
            account = unit.load(loyalty.account_id(customer), loyalty.evolve_account)
            events = loyalty.earn(
                account,
                customer_id=customer,
                purchase=purchase,
                program=settings.program,
                program_version=settings.version,
                group=record.group,
                now=unit.now,
            )
            unit.record(events)
            return _points_of(events, loyalty.PointsEarned)

        return self._store.run(decide)

    def redeem_points(
        self, customer_id: UUID, points: int, redemption_id: str, at: datetime | None = None
    ) -> Decimal:
        """Spend points; returns the money they are worth.

        Raises `RedemptionRefused` when the program's rules forbid it. The same
        `redemption_id` again with the same figures returns the first result.
        """
        customer = parse_id(customer_id, "customer_id")
        wanted = parse_points(points, "points", positive=True)
        reference = parse_reference(redemption_id, "redemption_id")
        when = self._business_time(at)

        def decide(unit: UnitOfWork) -> Decimal:
            self._customer(unit, customer)
            record = unit.load(loyalty.redemption_record_id(reference), loyalty.evolve_redemption)
            if record is not None:
                loyalty.check_same_redemption(record, customer, wanted)
                return record.value
            settings = self._loyalty_settings(unit)
            account = unit.load(loyalty.account_id(customer), loyalty.evolve_account)
            events = loyalty.redeem(
                account,
                customer_id=customer,
                redemption_id=reference,
                points=wanted,
                program=settings.program,
                program_version=settings.version,
                at=when,
                now=unit.now,
            )
            unit.record(events)
            redeemed = events[0]
            assert isinstance(redeemed, loyalty.PointsRedeemed)
            return redeemed.value

        return self._store.run(decide)

    def return_purchase(
        self,
        customer_id: UUID,
        invoice_id: str,
        amount: Decimal | int | str | None = None,
        at: datetime | None = None,
    ) -> int:
        """Record a (partial) return and take back its points; returns the points taken.

        Points are taken in proportion to the amount returned (`None`: all that
        is left), rounded down, never more than the invoice earned, and never
        below a zero balance: what the balance cannot cover is recorded as the
        event's `shortfall`.
        """
        customer = parse_id(customer_id, "customer_id")
        reference = parse_reference(invoice_id, "invoice_id")
        returned = None if amount is None else parse_money(amount, "amount")
        when = self._business_time(at)

        def decide(unit: UnitOfWork) -> int:
            self._customer(unit, customer)
            invoice = unit.load(loyalty.invoice_record_id(reference), loyalty.evolve_invoice)
            settings = self._loyalty_settings(unit)
            account = unit.load(loyalty.account_id(customer), loyalty.evolve_account)
            events = loyalty.take_back(
                account,
                invoice,
                customer_id=customer,
                invoice_id=reference,
                amount=returned,
                program=settings.program,
                at=when,
                now=unit.now,
            )
            unit.record(events)
            return _points_of(events, loyalty.PointsTakenBack)

        return self._store.run(decide)

    def balance(self, customer_id: UUID, as_of: datetime | None = None) -> int:
        """The customer's points balance now, or as it stood at `as_of`."""
        account = self.loyalty_account(customer_id, as_of=as_of)
        return account.balance if account else 0

    def loyalty_account(
        self, customer_id: UUID, as_of: datetime | None = None
    ) -> LoyaltyAccount | None:
        """The customer's points account (balance, purchase count, lifetime points, tier).

        None when the customer has no points movement (yet, or by `as_of`).
        """
        customer = self._known_customer(customer_id)
        return self._load_as_of(loyalty.account_id(customer), loyalty.evolve_account, as_of)

    def statement(self, customer_id: UUID) -> list[StatementRow]:
        """Every points movement of the customer, oldest first, with the running balance."""
        customer = self._known_customer(customer_id)
        return statement_rows(self._store.events_of(loyalty.account_id(customer)))

    # --- helpers -----------------------------------------------------------

    def _business_time(self, at: datetime | None) -> datetime:
        return self._store.clock() if at is None else parse_time(at, "at")

    def _load_as_of(
        self, aggregate_id: UUID, evolve: Evolve[S], as_of: datetime | None
    ) -> S | None:
        when = parse_optional_time(as_of, "as_of")
        if when is None:
            return self._store.load(aggregate_id, evolve)
        return self._store.load_as_of(aggregate_id, evolve, when)


def _points_of(
    events: list[Event], kind: type[loyalty.PointsEarned | loyalty.PointsTakenBack]
) -> int:
    for event in events:
        if isinstance(event, kind):
            return event.points
    raise AssertionError(f"no {kind.__name__} among {events}")
