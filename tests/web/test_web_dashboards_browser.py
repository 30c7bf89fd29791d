"""The province's dashboards in a real browser: Playwright driving Debian's Chromium against one uvicorn server
(real HTTP on a loopback port, its own process, ``test_web_dashboards.build_dashboards_app``) over a
generated demo province (150 citizens of Bắc Ninh, with a signed record, a referral and a telemedicine
visit: ``test_web_dashboards.dashboard_province``).

The provincial officer signs in (password and TOTP) and opens ``/dashboards/``: the eleven indicators
with their sparklines, the map's commune of the signed record with its title (the rate computed here from
the resources) and palette colour; a click on that commune opens its page, a click on its station opens
the facility page, the period kept all the way; the facility's table downloads as CSV with the numbers
shown. Runs in the browser test process (``xdist_group("browser")``).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path

import live_web_support as live_web
import pytest
from analytics.province_support import PROVINCE
from playwright.sync_api import Browser, Page, expect
from test_web_dashboards import (
    OFFICER,
    SCHEMA_ENV,
    DashboardProvince,
    dashboard_province,
    facilities_of,
    month_encounters,
    unit_of,
)
from web_dataset import PASSWORD

from senhealth.core.geo import province_map

WEB_TESTS = Path(__file__).resolve().parent
TESTS = WEB_TESTS.parent
pytestmark = live_web.BROWSER_MARKS


class Live:
    def __init__(self, url: str, demo: DashboardProvince) -> None:
        self.url, self.demo = url, demo


@pytest.fixture(scope="module")
def live(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    data_dir = tmp_path_factory.mktemp("dashboards-browser")
    with dashboard_province(database_url, data_dir, sessions=False) as demo:
        settings = live_web.live_settings(demo.province.url, data_dir)
        env = {SCHEMA_ENV: demo.province.schema}
        factory = "test_web_dashboards:build_dashboards_app"
        timeout_s = 120  # a loaded machine imports slowly
        with live_web.serve(factory, settings, [WEB_TESTS, TESTS], env=env, timeout_s=timeout_s) as base:
            yield Live(base, demo)


@pytest.fixture(scope="module")
def officer(browser: Browser, live: Live) -> Iterator[Page]:
    """The provincial health officer's desktop browser, signed in (password and TOTP)."""
    with live_web.browser_page(browser, live.url, 1280, 900, accept_downloads=True) as page:
        live_web.sign_in(page, OFFICER, PASSWORD, totp_secret=live.demo.secrets[OFFICER])
        yield page


def test_overview_map_drill_down_and_csv(officer: Page, live: Live) -> None:
    page, demo = officer, live.demo
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(f"/dashboards/?period={demo.period}&province={PROVINCE}")
    expect(page.locator("h1")).to_have_text("Tổng quan y tế toàn tỉnh")
    expect(page.locator("li.indicator-card")).to_have_count(11)
    expect(page.locator("li.indicator-card svg.sparkline")).to_have_count(11)

    # the station's commune on the map: EMR adoption of its facilities, computed here from the resources
    station = demo.station
    commune = unit_of(station, "commune")
    orgs = facilities_of(demo.province.resources)
    in_commune = {o["id"] for o in orgs.values() if unit_of(o, "commune") == commune}
    seen = [
        e
        for e in month_encounters(demo.province)
        if e["serviceProvider"]["reference"].split("/")[1] in in_commune
    ]
    name = next(c.name for c in province_map(PROVINCE).communes if c.code == commune)
    rate = 1 / len(seen)
    title = f"{name}: {100 * rate:.1f}".replace(".", ",") + f" % (1/{len(seen)})"
    area = page.locator(f'svg.choropleth path[data-code="{commune}"]')
    expect(area.locator("title")).to_have_text(title)
    css = "q0" if rate < 0.2 else "q1" if rate < 0.4 else "q2" if rate < 0.6 else "q3" if rate < 0.8 else "q4"
    expect(area).to_have_class(f"area {css}")
    fills = {"q0": "rgb(255, 255, 204)", "q1": "rgb(161, 218, 180)", "q2": "rgb(65, 182, 196)",
             "q3": "rgb(44, 127, 184)", "q4": "rgb(37, 52, 148)"}  # fmt: skip
    assert area.evaluate("e => getComputedStyle(e).fill") == fills[css]
    assert page.locator("svg.choropleth path.area").count() == 99

    # drill down: the commune, then its station; the period stays in every link
    page.locator(f'svg.choropleth a:has(path[data-code="{commune}"])').click()
    page.wait_for_url(f"**/dashboards/communes/{commune}?period={demo.period}*")
    expect(page.locator("h1")).to_have_text(f"Xã, phường {name}")
    code = station["identifier"][0]["value"]
    page.locator("#table-facilities a", has_text=code).click()
    page.wait_for_url(f"**/dashboards/facility/{station['id']}?period={demo.period}*")
    expect(page.locator("h1")).to_have_text(station["name"])
    visits = page.locator("#measure-visits td[data-key=numerator]")
    expect(visits).to_have_text(
        str(len([e for e in seen if e["serviceProvider"]["reference"].endswith(station["id"])]))
    )

    # the facility's table as CSV, downloaded by the browser
    with page.expect_download() as info:
        page.locator("#table-summary ~ .downloads a", has_text="CSV").click()
    body = Path(info.value.path()).read_bytes().decode("utf-8-sig")
    rows = {r["measure"]: r for r in csv.DictReader(io.StringIO(body))}
    assert rows["visits"]["numerator"] == visits.inner_text()
    assert rows["referrals-out"]["numerator"] == "1"
    assert info.value.suggested_filename == f"facility-{code}-{demo.period}-summary.csv"
    assert not [e for e in errors if "Content Security Policy" in e], errors
