"""examples/web_admin.py: the admin pages, over HTTP and in a real headless browser.

The browser is Debian's chromium driven by selenium through Debian's
chromedriver (`apt-get install chromium chromium-driver`; .ci/run installs
them when missing). Without them the browser tests are skipped saying so;
under CI they fail instead, as the PostgreSQL tests do.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID

import attrs
import httpx
import pytest

from referral_ledger import Campaign, Ledger, LoyaltyProgram
from stores import in_ci
from support import Clock
from test_examples import load_web_app, serving

CHROMIUM = os.environ.get("REFERRAL_LEDGER_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("REFERRAL_LEDGER_CHROMEDRIVER", "/usr/bin/chromedriver")

#: Text that runs if a page forgets to escape it (it sets `window.pwned`).
HOSTILE = '<script>window.pwned=1</script><img src=x onerror="window.pwned=2">'
LEADS = 45  # three pages of 20, the last one short

pytestmark = pytest.mark.timeout(300)


@attrs.frozen
class Shop:
    url: str
    shop: UUID
    hostile: UUID
    buyer: UUID


@pytest.fixture
def shop(tmp_path: Path) -> Shop:
    """A SQLite ledger with a page's worth of everything, and hostile names."""
    url = f"sqlite:///{tmp_path / 'shop.db'}"
    clock = Clock(tick=timedelta(seconds=1))
    start = clock.now
    with Ledger.open(url, clock=clock) as ledger:
        ledger.configure_loyalty(LoyaltyProgram(money_per_point=10000, point_value=1000))
        shop = ledger.register_customer("Cửa hàng Minh Anh", ["0912 345 678"])
        ledger.sign_contract(shop, "C-1", "pro", date(2025, 1, 1), date(2099, 12, 31))
        for n in range(LEADS):
            ledger.submit_referral(shop, f"Lead {n:02d}", f"0987 000 {n:03d}", "spa")
        ledger.submit_referral(shop, HOSTILE, "0987 999 999", "spa", business_name=HOSTILE)
        hostile = ledger.register_customer(HOSTILE, ["0903 666 666"], email="x@example.vn")
        buyer = ledger.register_customer("Lê Văn Cường", ["0903 111 222"])
        ledger.add_campaign(
            Campaign(
                campaign_id="tet",
                name=f"Tết {HOSTILE}",
                starts_at=start - timedelta(days=1),
                ends_at=start + timedelta(days=30),
                multiplier=2,
            )
        )
        assert 210 == ledger.record_purchase(buyer, "HD-1", Decimal(1_059_000))
        assert 40 == ledger.record_purchase(hostile, "HD-2", Decimal(200_000))
        ledger.redeem_points(buyer, 50, "DT-1")
    return Shop(url, shop, hostile, buyer)


@pytest.fixture
def base(shop: Shop) -> Iterator[str]:
    with serving(load_web_app().create_app(shop.url)) as started:
        yield started


# --- over HTTP (no browser needed) -----------------------------------------------------


def test_pages_escape_what_they_show(shop: Shop, base: str) -> None:
    """Names, business names, campaign names and the search box's echo are text."""
    pages = [
        "/admin/leads?search=%3Cscript",
        f"/admin/customers/{shop.hostile}",
        "/admin/customers?search=" + HOSTILE,
        "/admin/campaigns",
        "/admin/campaigns/tet",
    ]
    with httpx.Client(base_url=base, timeout=10) as http:
        for page in pages:
            answer = http.get(page)
            assert 200 == answer.status_code, page
            assert "<script>window" not in answer.text, page
            assert "onerror=" not in answer.text.replace("onerror=&#34;", ""), page
            assert "&lt;script&gt;window.pwned=1&lt;/script&gt;" in answer.text, page


def test_json_pagers_carry_the_total(shop: Shop, base: str) -> None:
    with httpx.Client(base_url=base, timeout=10) as http:
        leads = http.get("/leads", params={"search": "lead", "limit": 20, "offset": 40})
        assert (200, str(LEADS), 5) == (
            leads.status_code,
            leads.headers["x-total-count"],
            len(leads.json()),
        )
        customers = http.get("/customers", params={"limit": 2})
        assert ("3", 2) == (customers.headers["x-total-count"], len(customers.json()))


def test_a_refusal_is_a_page_naming_it(base: str) -> None:
    with httpx.Client(base_url=base, timeout=10) as http:
        missing = http.get("/admin/customers/00000000-0000-0000-0000-000000000001")
        assert (404, "text/html; charset=utf-8") == (
            missing.status_code,
            missing.headers["content-type"],
        )
        assert "NotFound" in missing.text
        bad = http.get("/admin/leads", params={"page": 0})
        assert 422 == bad.status_code
        assert "page must be 1 or more, not 0" in bad.text
        status = http.get("/admin/leads", params={"status": "<b>won</b>"})
        assert 422 == status.status_code
        assert "<b>won</b>" not in status.text
        assert "&lt;b&gt;won&lt;/b&gt;" in status.text


# --- in a real browser -----------------------------------------------------------------


def _browser_missing() -> str | None:
    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not shutil.which(path)]
    if missing:
        return (
            f"no headless browser: {', '.join(missing)} not found; "
            "install it with `apt-get install chromium chromium-driver` (.ci/run does)"
        )
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed: `make .venv` installs the dev extra"
    return None


@pytest.fixture
def browser() -> Iterator[Any]:
    """Headless chromium; skipped with the reason when missing, failed under CI."""
    reason = _browser_missing()
    if reason is not None:
        if in_ci():
            pytest.fail(f"{reason}; the browser tests are mandatory in CI", pytrace=False)
        pytest.skip(reason)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage"):
        options.add_argument(argument)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    driver.implicitly_wait(5)
    try:
        yield driver
    finally:
        driver.quit()


@contextmanager
def new_page(browser: Any) -> Iterator[None]:
    """Wait, after the block's click or submit, until the browser shows the next page.

    A click returns before the navigation it starts has finished; reading the
    page straight after can read the old one, whose elements then go stale
    under the reader (StaleElementReferenceException, seen in CI).
    """
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.expected_conditions import staleness_of
    from selenium.webdriver.support.ui import WebDriverWait

    old = browser.find_element(By.TAG_NAME, "html")
    yield
    wait = WebDriverWait(browser, 10)
    wait.until(staleness_of(old))
    wait.until(lambda driver: driver.execute_script("return document.readyState") == "complete")


def texts(browser: Any, selector: str) -> list[str]:
    from selenium.webdriver.common.by import By

    return [element.text for element in browser.find_elements(By.CSS_SELECTOR, selector)]


def test_staff_search_page_and_open_a_customer_in_a_browser(
    shop: Shop, base: str, browser: Any
) -> None:
    from selenium.webdriver.common.by import By

    browser.get(f"{base}/admin/leads")
    assert "Leads · referral-ledger admin" == browser.title
    assert f"1 to 20 of {LEADS + 1}" == texts(browser, "#showing")[0]

    # Search from the form, as staff do: type and submit.
    box = browser.find_element(By.NAME, "search")
    box.send_keys("lead")
    with new_page(browser):
        box.submit()
    assert f"1 to 20 of {LEADS}" == texts(browser, "#showing")[0]
    assert [f"Lead {n:02d}" for n in range(44, 24, -1)] == texts(browser, "#leads td.name")

    # Page on, to the short last page, and back.
    with new_page(browser):
        browser.find_element(By.ID, "next").click()
    with new_page(browser):
        browser.find_element(By.ID, "next").click()
    assert f"41 to {LEADS} of {LEADS}" == texts(browser, "#showing")[0]
    assert [] == browser.find_elements(By.ID, "next")
    assert ["Lead 04", "Lead 03", "Lead 02", "Lead 01", "Lead 00"] == texts(
        browser, "#leads td.name"
    )
    assert "search=lead" in browser.current_url
    with new_page(browser):
        browser.find_element(By.ID, "previous").click()
    assert f"21 to 40 of {LEADS}" == texts(browser, "#showing")[0]

    # A status filter from the select: every lead is still submitted.
    browser.get(f"{base}/admin/leads?status=rewarded")
    assert "0 of 0" == texts(browser, "#showing")[0]

    # The customers page: search by phone in another spelling, follow the link.
    browser.get(f"{base}/admin/customers")
    box = browser.find_element(By.NAME, "search")
    box.send_keys("+84903111222")
    with new_page(browser):
        box.submit()
    assert ["Lê Văn Cường"] == texts(browser, "#customers td.name")
    with new_page(browser):
        browser.find_element(By.LINK_TEXT, "Lê Văn Cường").click()
    assert f"/admin/customers/{shop.buyer}" in browser.current_url
    assert "160" == texts(browser, "#available")[0]
    assert ["HD-1", "DT-1"] == texts(browser, "#statement td.reference")
    assert ["210", "160"] == texts(browser, "#statement td.balance")
    assert ["HD-1"] == texts(browser, "#purchases td.invoice")

    # From a lead to the customer who referred it.
    browser.get(f"{base}/admin/leads?search=Lead+07")
    with new_page(browser):
        browser.find_element(By.CSS_SELECTOR, "#leads a.referrer").click()
    assert "Cửa hàng Minh Anh" == browser.find_element(By.TAG_NAME, "h1").text

    # The campaign's leaderboard.
    browser.get(f"{base}/admin/campaigns")
    with new_page(browser):
        browser.find_element(By.CSS_SELECTOR, "#campaigns td.name a").click()
    assert ["Lê Văn Cường", HOSTILE] == texts(browser, "#leaderboard td.name")
    assert ["210", "40"] == texts(browser, "#leaderboard td.points")


def test_hostile_names_show_as_text_and_never_run_in_a_browser(
    shop: Shop, base: str, browser: Any
) -> None:
    for page in (
        "/admin/leads",
        f"/admin/leads?search={HOSTILE}",
        "/admin/customers",
        f"/admin/customers/{shop.hostile}",
        "/admin/campaigns",
        "/admin/campaigns/tet",
    ):
        browser.get(base + page)
        assert browser.execute_script("return window.pwned === undefined"), page
        assert HOSTILE in browser.find_element("tag name", "body").text, page
    browser.get(f"{base}/admin/customers/{shop.hostile}")
    assert HOSTILE == browser.find_element("tag name", "h1").text
