"""The province's check-up map in a real browser: Playwright driving Debian's Chromium against one uvicorn
server (real HTTP on a loopback port, its own process, ``test_web_dashboard_checkup.build_dashboard_app``)
over a small loaded province (two stations of Bắc Ninh, synthetic citizens).

The provincial officer signs in, opens ``/dashboards/checkup``: the commune with a known rate has its
title and its palette colour, the table beside the map has the same numbers, sorting by rate puts it
first, the hypertension map hatches the commune without a registry. Runs in the browser test process
(``xdist_group("browser")``).
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
import pyotp
import pytest
from playwright.sync_api import Browser, Page, expect
from psycopg import sql
from psycopg.conninfo import make_conninfo
from test_web_dashboard_checkup import EAST, OFFICER, WEST, seed_dashboard
from web_dataset import PASSWORD, seed

from senhealth.app import build_app
from senhealth.core.config import Settings
from senhealth.core.migrate import migrate
from senhealth.fhir import access

CHROMIUM = "/usr/bin/chromium"
WEB_TESTS = Path(__file__).resolve().parent
pytestmark = [
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian's Chromium is not installed"),
    pytest.mark.xdist_group("browser"),
]


@dataclass
class Live:
    url: str
    totp: str


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def live(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    schema = f"test_dashboard_web_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(database_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    url = make_conninfo(database_url, options=f"-c search_path={schema}")
    migrate(url)
    data_dir = tmp_path_factory.mktemp("dashboard-web")
    settings = Settings(
        database_url=url, data_dir=data_dir, auth_required=True, facility_networks=["127.0.0.0/8"]
    )

    async def seeding() -> str:
        app = build_app(settings)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://seed") as client:
                await seed(client, settings, with_clinical=False)
                return (await seed_dashboard(client, settings))[OFFICER]

    totp = asyncio.run(seeding())
    access.install(policy=access.OPEN, sink=access.NO_AUDIT)  # build_app installed the platform's
    port = _free_port()
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(WEB_TESTS), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep),
        "SENHEALTH_DATABASE_URL": url,
        "SENHEALTH_DATA_DIR": str(data_dir),
        "SENHEALTH_AUTH_REQUIRED": "true",
        "SENHEALTH_FACILITY_NETWORKS": '["127.0.0.0/8"]',
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", "test_web_dashboard_checkup:build_dashboard_app",
         "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
        env=env,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    try:
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/fhir/metadata", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise RuntimeError("the server did not start")
            time.sleep(0.2)
        yield Live(f"http://127.0.0.1:{port}", totp)
    finally:
        server.terminate()
        server.wait(timeout=30)
        with psycopg.connect(database_url, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


@pytest.fixture(scope="module")
def officer(browser: Browser, live: Live) -> Iterator[Page]:
    """The provincial health officer's desktop browser, signed in (password and TOTP)."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="vi-VN", base_url=live.url)
    page = context.new_page()
    page.goto("/app/login")
    page.fill("#username", OFFICER)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/app/login/totp")
    page.fill("#code", pyotp.TOTP(live.totp).now())
    page.click("button[type=submit]")
    page.wait_for_url("**/app/patients")
    yield page
    context.close()


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
