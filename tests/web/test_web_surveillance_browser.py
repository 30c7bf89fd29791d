"""The CDC's verification workflow in a real browser: Playwright driving Debian's Chromium against one uvicorn
server (real HTTP on a loopback port, its own process, ``surveillance_web_support.build_surveillance_app``)
over the small synthetic surveillance province of ``surveillance_web_support``.

A CDC officer signs in, sees the commune with the dengue signal on the Leaflet map (outlined, marked, its
incidence class's colour; no tile requested, no CSP violation), opens the signal from the inbox, triages it
to verification, assigns herself with a due time, verifies it as an event, adds a response action,
completes it and closes the event; every step appears in the alert's history. Runs in the browser test
process (``xdist_group("browser")``).
"""

from __future__ import annotations

import asyncio
import datetime as dt
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
import pytest
from playwright.sync_api import Browser, Page, expect
from psycopg import sql
from psycopg.conninfo import make_conninfo
from surveillance_web_support import EAST, LAN, PASSWORD, WEEK, seed_surveillance

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
    alert: str


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def live(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    schema = f"test_surveillance_web_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(database_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    url = make_conninfo(database_url, options=f"-c search_path={schema}")
    migrate(url)
    data_dir = tmp_path_factory.mktemp("surveillance-web")
    settings = Settings(
        database_url=url, data_dir=data_dir, auth_required=True, facility_networks=["127.0.0.0/8"]
    )

    async def seeding() -> str:
        app = build_app(settings)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://seed") as client:
                return (await seed_surveillance(client, settings)).dengue_alert

    alert = asyncio.run(seeding())
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
        [sys.executable, "-m", "uvicorn", "--factory", "surveillance_web_support:build_surveillance_app",
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
        yield Live(f"http://127.0.0.1:{port}", alert)
    finally:
        server.terminate()
        server.wait(timeout=30)
        with psycopg.connect(database_url, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


@dataclass
class Officer:
    page: Page
    console: list[str]
    requests: list[str]


@pytest.fixture(scope="module")
def officer(browser: Browser, live: Live) -> Iterator[Officer]:
    """The CDC officer's desktop browser, signed in from the facility network (password only)."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="vi-VN", base_url=live.url)
    page = context.new_page()
    console: list[str] = []
    requests: list[str] = []
    page.on("console", lambda m: console.append(m.text))
    page.on("request", lambda r: requests.append(r.url))
    page.goto("/app/login?next=/app/surveillance")
    page.fill("#username", LAN)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/app/surveillance")
    yield Officer(page, console, requests)
    context.close()


def test_the_map_shows_the_commune_with_the_signal(officer: Officer, live: Live) -> None:
    page = officer.page
    page.goto(f"/app/surveillance/map?disease=dengue&weeks=4&end={WEEK}")
    expect(page.locator("#surveillance-map")).to_have_attribute("data-ready", "true")
    east = page.locator(f'#surveillance-map path.leaflet-interactive.area[data-code="{EAST[0]}"]')
    expect(east).to_have_count(1)
    assert "signal" in (east.get_attribute("class") or "") and "q2" in (east.get_attribute("class") or "")
    assert east.evaluate("e => getComputedStyle(e).fill") == "rgb(65, 182, 196)"  # #41b6c4: 10–50 / 100,000
    marker = page.locator(f'#surveillance-map path.signal-marker[data-code="{EAST[0]}"]')
    expect(marker).to_have_count(1)
    assert page.locator("#surveillance-map path.leaflet-interactive.area").count() == 99
    marker.hover(force=True)
    expect(page.locator(".leaflet-tooltip")).to_contain_text(
        f"{EAST[1]}: Sốt xuất huyết Dengue · {WEEK} · ears-c2: 3"
    )
    expect(page.locator(f"#row-{EAST[0]} td.cases")).to_have_text("4")
    assert page.locator("#surveillance-map").get_attribute("data-ready") == "true", officer.console
    assert not [m for m in officer.console if "Content Security Policy" in m or "Refused" in m], (
        officer.console
    )
    assert all(u.startswith(live.url) for u in officer.requests), "a request left the server (tiles?)"
    marker.click(force=True)
    page.wait_for_url(f"**/app/surveillance/alerts/{live.alert}")


def test_the_verification_workflow(officer: Officer, live: Live) -> None:
    page = officer.page
    page.goto("/app/surveillance")
    card = page.locator(f'#col-signal li[data-alert="{live.alert}"]')
    expect(card).to_contain_text("Sốt xuất huyết Dengue · Phường Bắc Giang")
    card.locator("a.alert-link").click()
    page.wait_for_url(f"**/app/surveillance/alerts/{live.alert}")
    expect(page.locator("#det-observed")).to_have_text("3")
    expect(page.locator("svg.epi-curve rect.alert-week")).to_have_attribute("data-cases", "3")
    history = page.locator("#history tbody tr")
    expect(history).to_have_count(1)

    page.select_option("#triage-decision", "verify")
    page.fill("#triage-note", "Cụm ca sốt ở tổ dân phố 3")
    page.locator("#form-triage button[type=submit]").click()
    expect(page.locator("#alert-step")).to_have_text("Đã sàng lọc, chờ phân công")
    expect(history).to_have_count(2)

    due = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).astimezone(dt.timezone(dt.timedelta(hours=7)))
    expect(page.locator("#assign-owner")).to_have_value("Practitioner/cdc-lan")  # herself, preselected
    page.fill("#assign-due", due.strftime("%Y-%m-%dT%H:%M"))
    page.fill("#assign-note", "Tôi đi xác minh")
    page.locator("#form-assign button[type=submit]").click()
    expect(page.locator("#alert-step")).to_have_text("Đang xác minh")
    expect(page.locator("#det-owner")).to_have_text("Trần Thị Lan")
    expect(page.locator("#det-due")).to_contain_text(due.strftime("%d/%m/%Y"))
    expect(history).to_have_count(3)

    page.select_option("#verify-outcome", "confirmed")
    page.fill("#verify-note", "3 ca NS1 dương tính, cùng tổ dân phố")
    page.locator("#form-verify button[type=submit]").click()
    expect(page.locator("#alert-step")).to_have_text("Sự kiện (đã xác minh)")

    page.fill("#respond-action", "Phun hóa chất diệt muỗi tổ dân phố 3")
    page.locator("#form-respond button[type=submit]").click()
    expect(page.locator("#alert-step")).to_have_text("Đang đáp ứng")
    row = page.locator("#actions-table tr", has_text="Phun hóa chất diệt muỗi tổ dân phố 3")
    expect(row.locator(".action-status")).to_have_text("Đã giao")
    row.locator("select[name=status]").select_option("completed")
    row.locator("button[type=submit]").click()
    expect(
        page.locator("#actions-table tr", has_text="Phun hóa chất").locator(".action-status")
    ).to_have_text("Hoàn thành")

    page.select_option("#close-reason", "event-over")
    page.fill("#close-note", "Hai tuần không có ca mới")
    page.locator("#form-close button[type=submit]").click()
    expect(page.locator("#alert-step")).to_have_text("Đã đóng")
    expect(page.locator("#alert-closure")).to_contain_text("Sự kiện đã kết thúc")
    steps = history.evaluate_all("rows => rows.map(r => r.dataset.step)")
    assert steps == ["signal", "triaged", "verification", "event", "response", "response", "closed"]
    notes = page.locator("#history .history-note").all_inner_texts()
    assert notes[1] == "[triage: verify] Cụm ca sốt ở tổ dân phố 3"
    assert notes[3] == "[verify: confirmed] 3 ca NS1 dương tính, cùng tổ dân phố"
    assert notes[-1] == "[close: event-over] Hai tuần không có ca mới"
    expect(page.locator("#history tbody tr").nth(3).locator("td").nth(3)).to_have_text("Trần Thị Lan")
    expect(page.locator("form.step-form")).to_have_count(0)
    page.goto("/app/surveillance")
    expect(page.locator(f'li[data-alert="{live.alert}"]')).to_have_count(0)
