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
from checkup_web_support import MINH, WORKER, seed_station
from playwright.sync_api import Browser, Page, expect
from psycopg import sql
from psycopg.conninfo import make_conninfo
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
    schema = f"test_checkup_web_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(database_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    url = make_conninfo(database_url, options=f"-c search_path={schema}")
    migrate(url)
    data_dir = tmp_path_factory.mktemp("checkup-web")
    settings = Settings(
        database_url=url, data_dir=data_dir, auth_required=True, facility_networks=["127.0.0.0/8"]
    )

    async def seeding() -> str:
        app = build_app(settings)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://seed") as client:
                await seed(client, settings, with_clinical=False)
                return await seed_station(client, settings)

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
        [sys.executable, "-m", "uvicorn", "--factory", "checkup_web_support:build_checkup_app",
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
def worker(browser: Browser, live: Live) -> Iterator[Page]:
    """The station's tablet, the commune health worker signed in."""
    context = browser.new_context(viewport={"width": 1000, "height": 900}, locale="vi-VN", base_url=live.url)
    page = context.new_page()
    page.goto("/app/login")
    page.fill("#username", WORKER)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state()
    if "/app/login/totp" in page.url:
        page.fill("#code", pyotp.TOTP(live.totp).now())
        page.click("button[type=submit]")
    page.wait_for_url("**/app/patients")
    yield page
    context.close()


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
