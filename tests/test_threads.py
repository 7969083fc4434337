"""One `Ledger` shared by many threads, as a web app's request threads share it.

docs/operations.md ("Threads") promises: a ledger opened once per process may
be called from any number of threads at once; commands that race on the same
records are retried from fresh state; the only errors a thread sees are the
documented refusals (and `ConcurrencyConflict`, which the host retries with
the same upstream id); and every answer, during and after, is the one a
model of the same successful commands gives. 40 threads, FastAPI's default
thread pool, more than either store's 15 pooled connections.
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any, TypeVar
from uuid import UUID

import pytest

from referral_ledger import (
    Campaign,
    ConcurrencyConflict,
    DuplicatePhone,
    InvalidInput,
    Ledger,
    LoyaltyProgram,
    RedemptionRefused,
    StoreError,
)
from support import Clock

#: FastAPI's (anyio's) default number of worker threads for `def` endpoints.
THREADS = 40
OPS_PER_THREAD = 12
SHOPS = 4
#: Phones new customers draw from: small enough that threads collide on them.
PHONE_POOL = 60
#: The documented host policy: retry a `ConcurrencyConflict` with the same ids.
HOST_RETRIES = 3

T = TypeVar("T")

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(
    params=[
        pytest.param("memory", id="memory"),
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
    ]
)
def url(request: pytest.FixtureRequest) -> str:
    if request.param == "memory":
        return "memory://"
    name = "sqlite_url" if request.param == "sqlite" else "fresh_pg_url"
    found: str = request.getfixturevalue(name)
    return found


class Model:
    """What the successful commands add up to; guarded by a lock (threads report into it)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.points: Counter[UUID] = Counter()
        self.customers = SHOPS
        self.leads = 0
        self.phones_taken: set[int] = set()


def with_host_retries(command: Callable[[], T]) -> T:
    """The documented policy: a `ConcurrencyConflict` recorded nothing, so the same
    command with the same upstream ids is sent again."""
    for attempt in range(HOST_RETRIES):
        try:
            return command()
        except ConcurrencyConflict:
            if attempt + 1 == HOST_RETRIES:
                raise
    raise AssertionError("unreachable")


def test_forty_threads_share_one_ledger_and_agree_with_a_model(url: str) -> None:
    start = Clock().now
    clock = Clock(start)
    with Ledger.open(url, clock=clock) as ledger:
        ledger.configure_loyalty(LoyaltyProgram(money_per_point=1000, point_value=100))
        shops = [
            ledger.register_customer(f"Cửa hàng {n}", [f"0903 100 00{n}"]) for n in range(SHOPS)
        ]
        ledger.sign_contract(shops[0], "C-1", "pro", date(2025, 1, 1), date(2099, 12, 31))
        # A campaign with a budget: on PostgreSQL, purchases queue for its turn
        # (an advisory lock on a connection of its own), so each purchase needs
        # two pooled connections while 40 threads share 15.
        ledger.add_campaign(
            Campaign(
                campaign_id="double",
                name="Double points",
                starts_at=start - timedelta(days=1),
                ends_at=start + timedelta(days=30),
                multiplier=2,
                budget_points=10**9,
            )
        )
        model = Model()
        errors: list[str] = []
        barrier = threading.Barrier(THREADS)

        def purchase(rng: random.Random, tag: str) -> None:
            shop = rng.choice(shops)
            amount = rng.randint(1, 50) * 1000
            points = with_host_retries(lambda: ledger.record_purchase(shop, tag, amount))
            assert 2 * (amount // 1000) == points, (tag, amount, points)
            with model.lock:
                model.points[shop] += points
            # Sent again (a retried webhook): the first answer, nothing recorded.
            assert points == ledger.record_purchase(shop, tag, amount)

        def redeem(rng: random.Random, tag: str) -> None:
            shop = rng.choice(shops)
            wanted = rng.randint(1, 40)
            try:
                with_host_retries(lambda: ledger.redeem_points(shop, wanted, tag))
            except RedemptionRefused:
                return  # documented: not enough points at that moment
            with model.lock:
                model.points[shop] -= wanted

        def register(rng: random.Random, tag: str) -> None:
            phone = rng.randrange(PHONE_POOL)
            try:
                with_host_retries(
                    lambda: ledger.register_customer(f"Khách {tag}", [f"0912 000 {phone:03d}"])
                )
            except DuplicatePhone:
                return  # documented: another customer has it (maybe being registered now)
            with model.lock:
                assert phone not in model.phones_taken, f"phone {phone} registered twice"
                model.phones_taken.add(phone)
                model.customers += 1

        def refer(rng: random.Random, tag: str) -> None:
            with_host_retries(
                lambda: ledger.submit_referral(
                    shops[0], f"Lead {tag}", f"0987 {rng.randrange(10**6):06d}", "spa"
                )
            )
            with model.lock:
                model.leads += 1

        def read(rng: random.Random, tag: str) -> None:
            shop = rng.choice(shops)
            assert ledger.balance(shop) >= 0
            rows = ledger.statement(shop)
            assert all(row.balance >= 0 for row in rows)
            # Customers and leads are only added: a later reading never has fewer.
            total = ledger.count_customers()
            assert len(ledger.customers(limit=500)) >= total
            leads = ledger.count_leads(search="lead")
            assert len(ledger.lead_table(search="lead", limit=500)) >= leads

        actions = [purchase, purchase, purchase, redeem, register, refer, read]

        def work(worker: int) -> None:
            rng = random.Random(worker)
            try:
                barrier.wait(timeout=60)
                for op in range(OPS_PER_THREAD):
                    rng.choice(actions)(rng, f"T{worker}-{op}")
            except BaseException as error:  # reported to the test below
                with model.lock:
                    errors.append(f"thread {worker}: {type(error).__name__}: {error}")

        threads = [threading.Thread(target=work, args=(n,)) for n in range(THREADS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=240)
        assert not any(thread.is_alive() for thread in threads), "a thread hung"
        assert [] == errors, "\n".join(errors)

        assert {shop: model.points[shop] for shop in shops} == {
            shop: ledger.balance(shop) for shop in shops
        }
        assert model.customers == ledger.count_customers()
        assert model.leads == ledger.count_leads()
        for shop in shops:
            rows = ledger.statement(shop)
            assert model.points[shop] == (rows[-1].balance if rows else 0)
        report = ledger.audit()
        assert report.ok, report.problems


def test_pools_hold_fewer_connections_than_the_thread_pool(url: str) -> None:
    """What docs/operations.md says about pools: 5 kept open, 10 more on demand (15)."""
    with Ledger.open(url) as ledger:
        app: Any = ledger._store.app
        pool = app.recorder.datastore.pool
        if url.startswith("postgresql"):
            assert (5, 15) == (pool.min_size, pool.max_size)
        else:
            assert (5, 10) == (pool.pool_size, pool.max_overflow)


@pytest.mark.postgres
def test_postgres_pool_size_comes_from_the_url(fresh_pg_url: str) -> None:
    """`?pool_size=&max_overflow=` size the pool, e.g. to FastAPI's 40 threads."""
    with Ledger.open(f"{fresh_pg_url}&pool_size=8&max_overflow=32") as ledger:
        app: Any = ledger._store.app
        pool = app.recorder.datastore.pool
        assert (8, 40) == (pool.min_size, pool.max_size)


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ("pool_size=0", "pool_size must be a whole number from 1 to 1000, not '0'"),
        ("pool_size=ten", "pool_size must be a whole number from 1 to 1000, not 'ten'"),
        ("max_overflow=-1", "max_overflow must be a whole number from 0 to 1000, not '-1'"),
        ("max_overflow=5000", "max_overflow must be a whole number from 0 to 1000, not '5000'"),
    ],
)
def test_bad_pool_sizes_are_refused(query: str, named: str) -> None:
    with pytest.raises(InvalidInput, match=named):
        Ledger.open(f"postgresql://postgres@127.0.0.1:5432/test?{query}")


@pytest.mark.postgres
def test_a_thread_that_finds_no_free_connection_gets_a_store_error(fresh_pg_url: str) -> None:
    """Past `connect_timeout` without a free pooled connection: `StoreError`, nothing recorded."""
    small = f"{fresh_pg_url}&pool_size=1&max_overflow=0&connect_timeout=1"
    with Ledger.open(small) as ledger:
        ledger.configure_loyalty(LoyaltyProgram(money_per_point=1000, point_value=100))
        customer = ledger.register_customer("Lê Văn Cường", ["0903 111 222"])
        before = ledger.event_count()
        app: Any = ledger._store.app
        with app.recorder.datastore.get_connection(), pytest.raises(StoreError):
            ledger.record_purchase(customer, "HD-1", 5000)  # the only connection is taken
        assert before == ledger.event_count()
        assert 5 == ledger.record_purchase(customer, "HD-1", 5000)  # free again: it goes


def test_fastapi_runs_endpoints_on_forty_threads() -> None:
    """The figure the docs and the test above use: anyio's default thread limiter."""
    import anyio
    import anyio.to_thread

    async def tokens() -> float:
        return anyio.to_thread.current_default_thread_limiter().total_tokens

    assert THREADS == anyio.run(tokens)


def test_the_web_example_serves_forty_concurrent_requests_from_one_ledger(
    sqlite_url: str,
) -> None:
    """examples/web_app.py, the reference host: 40 client threads post purchases (each
    twice) to one server process; every answer is right and the balance adds up."""
    import httpx

    from test_examples import load_web_app, serving

    with Ledger.open(sqlite_url) as ledger:
        ledger.configure_loyalty(LoyaltyProgram(money_per_point=1000, point_value=100))
        customer = str(ledger.register_customer("Lê Văn Cường", ["0903 111 222"]))
    answers: list[tuple[int, int]] = []
    lock = threading.Lock()
    barrier = threading.Barrier(THREADS)

    def client(base: str, worker: int) -> None:
        body = {"customer_id": customer, "invoice_id": f"HD-{worker}", "amount": "7000"}
        with httpx.Client(base_url=base, timeout=60) as http:
            barrier.wait(timeout=60)
            for _ in range(2):
                answer = http.post("/purchases", json=body)
                with lock:
                    answers.append((answer.status_code, answer.json()["points"]))

    with serving(load_web_app().create_app(sqlite_url)) as base:
        threads = [threading.Thread(target=client, args=(base, n)) for n in range(THREADS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
    assert [(201, 7)] * (2 * THREADS) == answers
    with Ledger.open(sqlite_url) as ledger:
        assert 7 * THREADS == ledger.balance(UUID(customer))
