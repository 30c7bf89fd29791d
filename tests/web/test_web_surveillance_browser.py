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

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import live_web_support as live_web
import pytest
from playwright.sync_api import Browser, Page, expect
from surveillance_web_support import EAST, LAN, PASSWORD, WEEK, seed_surveillance

WEB_TESTS = Path(__file__).resolve().parent
pytestmark = live_web.BROWSER_MARKS


@dataclass
class Live:
    url: str
    alert: str


@pytest.fixture(scope="module")
def live(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    data_dir = tmp_path_factory.mktemp("surveillance-web")
    with live_web.scratch_platform(database_url, "test_surveillance_web", data_dir) as settings:

        async def seeding(client: httpx.AsyncClient) -> str:
            return (await seed_surveillance(client, settings)).dengue_alert

        alert = live_web.seed_platform(settings, seeding)
        factory = "surveillance_web_support:build_surveillance_app"
        with live_web.serve(factory, settings, [WEB_TESTS]) as base:
            yield Live(base, alert)


@dataclass
class Officer:
    page: Page
    console: list[str]
    requests: list[str]


@pytest.fixture(scope="module")
def officer(browser: Browser, live: Live) -> Iterator[Officer]:
    """The CDC officer's desktop browser, signed in from the facility network (password only)."""
    with live_web.browser_page(browser, live.url, 1280, 900) as page:
        console: list[str] = []
        requests: list[str] = []
        page.on("console", lambda m: console.append(m.text))
        page.on("request", lambda r: requests.append(r.url))
        live_web.sign_in(
            page, LAN, PASSWORD, path="/app/login?next=/app/surveillance", landing="**/app/surveillance"
        )
        yield Officer(page, console, requests)


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
