"""The commune station's check-up in a real browser: Playwright driving Debian's Chromium against one
uvicorn server (real HTTP on a loopback port, its own process, ``checkup_web_support.build_checkup_app``).

A commune health worker signs in, opens the station's day, starts the check-up of a 55-year-old man from
today's list, fills the form with the keyboard's fields (BP 165/100, smoker, cholesterol 6.2, height and
weight, known hypertension) and saves it; the WHO risk appears with the patient's chart cell highlighted,
the patient is in the hypertension registry, the uncontrolled worklist lists him and the station's
coverage went up by one. Runs in the browser test process (``xdist_group("browser")``).

Playwright for Python: https://playwright.dev/python/docs/api/class-page
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import live_web_support as live_web
import pytest
from checkup_web_support import MINH, WORKER, seed_station
from playwright.sync_api import Browser, Page, expect
from web_dataset import PASSWORD, seed

WEB_TESTS = Path(__file__).resolve().parent
pytestmark = live_web.BROWSER_MARKS


@dataclass
class Live:
    url: str
    totp: str


@pytest.fixture(scope="module")
def live(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    data_dir = tmp_path_factory.mktemp("checkup-web")
    with live_web.scratch_platform(database_url, "test_checkup_web", data_dir) as settings:

        async def seeding(client: httpx.AsyncClient) -> str:
            await seed(client, settings, with_clinical=False)
            return await seed_station(client, settings)

        totp = live_web.seed_platform(settings, seeding)
        with live_web.serve("checkup_web_support:build_checkup_app", settings, [WEB_TESTS]) as base:
            yield Live(base, totp)


@pytest.fixture(scope="module")
def worker(browser: Browser, live: Live) -> Iterator[Page]:
    """The station's tablet, the commune health worker signed in."""
    with live_web.browser_page(browser, live.url, 1000, 900) as page:
        live_web.sign_in(page, WORKER, PASSWORD, totp_secret=live.totp, two_factor="if-asked")
        yield page


def test_commune_health_worker_completes_a_checkup(worker: Page) -> None:
    page = worker
    page.goto("/app/station")
    expect(page.locator("h1")).to_contain_text("Ngày làm việc của trạm")
    covered_before = int(page.locator("#coverage-covered").inner_text())
    row = page.locator(f'#todays tr[data-id="{MINH}"]')
    expect(row).to_contain_text("Đỗ Văn Minh")
    row.locator("a.start-checkup").click()
    page.wait_for_url(f"**/app/station/checkup/{MINH}")
    expect(page.locator("#checkup-patient")).to_contain_text("55")
    expect(page.locator("#q-age")).to_have_value("55")

    page.select_option("#q-known-hypertension", "true")
    page.select_option("#q-smoking", "77176002")
    page.focus("#q-bp-systolic")  # then the keyboard: type, Tab to the next field
    page.keyboard.type("165")
    page.keyboard.press("Tab")
    page.keyboard.type("100")
    expect(page.locator("#q-bp-diastolic")).to_have_value("100")
    page.fill("#q-height", "165")
    page.fill("#q-weight", "70")
    page.fill("#q-cholesterol", "6.2")
    page.click("#checkup-submit")
    page.wait_for_url(f"**/app/station/checkup/{MINH}/result?done=1")

    expect(page.locator("#notice")).to_be_visible()
    expect(page.locator("#risk-value")).to_contain_text("%")
    cell = page.locator("#risk-chart td.patient-cell")
    expect(cell).to_have_count(1)
    expect(cell).to_have_id("patient-cell")
    assert cell.evaluate("td => getComputedStyle(td).outlineStyle") == "solid"  # highlighted
    expect(page.locator("#bp-grade")).to_have_attribute("data-grade", "grade-2")
    expect(page.locator('#registries li[data-registry="hypertension"]')).to_have_count(1)

    page.goto("/app/station")
    page.click("#worklist-uncontrolled")
    page.wait_for_url("**/app/station/worklists?kind=uncontrolled")
    expect(page.locator(f'#worklist tr[data-id="{MINH}"]')).to_contain_text("Đỗ Văn Minh")

    page.goto("/app/station")
    expect(page.locator("#coverage-covered")).to_have_text(str(covered_before + 1))
