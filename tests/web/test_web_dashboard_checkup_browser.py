"""The province's check-up map in a real browser: Playwright driving Debian's Chromium against one uvicorn
server (real HTTP on a loopback port, its own process, ``test_web_dashboard_checkup.build_dashboard_app``)
over a small loaded province (two stations of Bắc Ninh, synthetic citizens).

The provincial officer signs in, opens ``/dashboards/checkup``: the commune with a known rate has its
title and its palette colour, the table beside the map has the same numbers, sorting by rate puts it
first, the hypertension map hatches the commune without a registry. Runs in the browser test process
(``xdist_group("browser")``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import live_web_support as live_web
import pytest
from playwright.sync_api import Browser, Page, expect
from test_web_dashboard_checkup import EAST, OFFICER, WEST, seed_dashboard
from web_dataset import PASSWORD, seed

WEB_TESTS = Path(__file__).resolve().parent
pytestmark = live_web.BROWSER_MARKS


@dataclass
class Live:
    url: str
    totp: str


@pytest.fixture(scope="module")
def live(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    data_dir = tmp_path_factory.mktemp("dashboard-web")
    with live_web.scratch_platform(database_url, "test_dashboard_web", data_dir) as settings:

        async def seeding(client: httpx.AsyncClient) -> str:
            await seed(client, settings, with_clinical=False)
            return (await seed_dashboard(client, settings))[OFFICER]

        totp = live_web.seed_platform(settings, seeding)
        factory = "test_web_dashboard_checkup:build_dashboard_app"
        with live_web.serve(factory, settings, [WEB_TESTS]) as base:
            yield Live(base, totp)


@pytest.fixture(scope="module")
def officer(browser: Browser, live: Live) -> Iterator[Page]:
    """The provincial health officer's desktop browser, signed in (password and TOTP)."""
    with live_web.browser_page(browser, live.url, 1280, 900) as page:
        live_web.sign_in(page, OFFICER, PASSWORD, totp_secret=live.totp)
        yield page


def test_the_province_map_shows_a_communes_rate_and_its_table(officer: Page) -> None:
    page = officer
    page.goto("/dashboards/checkup")
    expect(page.locator("h1")).to_have_text("Khám sức khỏe và quản lý bệnh mạn tính theo xã")
    east = page.locator(f'svg.choropleth path[data-code="{EAST[1]}"]')
    expect(east).to_have_class("area q1")
    expect(east.locator("title")).to_have_text(f"{EAST[2]}: 25,0 % (1/4)")
    assert east.evaluate("e => getComputedStyle(e).fill") == "rgb(161, 218, 180)"  # #a1dab4, 20–40 %
    west = page.locator(f'svg.choropleth path[data-code="{WEST[1]}"]')
    assert west.evaluate("e => getComputedStyle(e).fill") == "rgb(44, 127, 184)"  # #2c7fb8, 60–80 %
    assert page.locator("svg.choropleth path.area").count() == 99
    row = page.locator(f"#row-{EAST[1]}")
    expect(row.locator("th")).to_have_text(EAST[2])
    expect(row.locator("td")).to_have_text([EAST[1], "1", "4", "25,0 %"])
    expect(page.locator("#province-total .total-counts")).to_have_text("3/10")
    expect(page.locator(".legend li")).to_have_count(6)

    # keyboard: the commune is a link to its row
    east_link = page.locator(f'svg.choropleth a:has(path[data-code="{EAST[1]}"])')
    east_link.focus()
    page.keyboard.press("Enter")
    page.wait_for_url(f"**#row-{EAST[1]}")

    # sorting by rate, highest first: WEST (66.7 %) then EAST (25 %)
    page.locator("#commune-table thead a", has_text="Tỷ lệ").click()  # ascending
    page.locator("#commune-table thead a", has_text="Tỷ lệ").click()  # descending
    expect(page.locator("#commune-table thead th[aria-sort=descending]")).to_have_count(1)
    codes = page.locator("#commune-table tbody tr").evaluate_all("rows => rows.map(r => r.dataset.code)")
    assert codes[:2] == [WEST[1], EAST[1]]

    # the hypertension map, in English: WEST has no registry, hatched and said so
    page.select_option("select[name=indicator]", "htn-control")
    page.locator(".dashboard-filters button").click()
    page.goto(page.url + "&lang=en")
    west = page.locator(f'svg.choropleth path[data-code="{WEST[1]}"]')
    expect(west).to_have_class("area nodata")
    expect(west.locator("title")).to_have_text(f"{WEST[2]}: no data")
    assert "choropleth-nodata" in west.evaluate("e => getComputedStyle(e).fill")
    expect(page.locator(f"#row-{EAST[1]} td").last).to_have_text("50.0%")
